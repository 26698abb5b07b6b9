//! Runs the input of every defined stream whose source this node pulls or
//! listens for, following spec changes: a new or changed source (re)starts
//! its input, a removed stream stops it.
//!
//! Listening inputs (`tsudp://`, `tsrtp://`, `sdp:`, `srt://:PORT`) run as
//! long as the stream is defined. Pulling inputs (files, HLS, SRT callers)
//! run always when the spec says `alwaysOn`,
//! restarting with backoff after failures; otherwise they start when a viewer
//! asks for the stream ([`hub::LiveStream::request`]) and stop when nobody
//! has watched for [`ON_DEMAND_IDLE`].

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hub::{Hub, LiveStream};
use spec::{Source, StreamSpec};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// An on-demand input stops after this long without viewers.
pub const ON_DEMAND_IDLE: Duration = Duration::from_secs(20);

/// First and longest wait between attempts of an always-on input.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// Follows `specs` until the sender is dropped, running inputs into `hub`.
pub async fn run(mut specs: watch::Receiver<Arc<BTreeMap<String, StreamSpec>>>, hub: Arc<Hub>) {
    let mut running: HashMap<String, (StreamSpec, JoinHandle<()>)> = HashMap::new();
    loop {
        let current = specs.borrow_and_update().clone();
        running.retain(|name, (spec, task)| {
            let keep = current.get(name) == Some(spec) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for (name, spec) in current.iter() {
            if running.contains_key(name) {
                continue;
            }
            let stream = hub.stream(name);
            if let Some(task) = start(spec, stream) {
                running.insert(name.clone(), (spec.clone(), task));
            }
        }
        if specs.changed().await.is_err() {
            break;
        }
    }
    for (_, (_, task)) in running {
        task.abort();
    }
}

/// Starts the input task of a spec, if its source is one this node runs.
fn start(spec: &StreamSpec, stream: Arc<LiveStream>) -> Option<JoinHandle<()>> {
    let source = match spec.parsed_source() {
        Ok(s) => s,
        Err(e) => {
            stream.set_error(e.to_string());
            return None;
        }
    };
    let is_rtp = matches!(source, Source::TsRtp(_));
    match source {
        Source::Push(_) => None,
        Source::TsUdp(udp) | Source::TsRtp(udp) => {
            let config = crate::tsudp::Config {
                bind: SocketAddr::new(
                    match udp.host {
                        Some(IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                        Some(IpAddr::V4(h)) if !h.is_multicast() => IpAddr::V4(h),
                        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    },
                    udp.port,
                ),
                group: udp.host.filter(IpAddr::is_multicast),
                iface: udp.iface.as_deref().and_then(|i| i.parse().ok()),
                rtp: is_rtp,
            };
            Some(tokio::spawn(async move {
                let name = stream.name().to_owned();
                let result = match crate::tsudp::bind(&config) {
                    Ok(socket) => crate::tsudp::run(socket, stream.clone(), config.rtp).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    tracing::warn!(stream = %name, bind = %config.bind, %e, "ts/udp input failed");
                    stream.set_error(format!("ts/udp input on {}: {e}", config.bind));
                }
            }))
        }
        Source::Sdp(sdp) => Some(tokio::spawn(async move {
            if let Err(e) = crate::rtp::run(&sdp.path, stream.clone()).await {
                tracing::warn!(stream = stream.name(), %e, "rtp input failed");
                stream.set_error(e);
            }
        })),
        Source::File(file) => Some(tokio::spawn(run_pull(
            spec.always_on,
            stream,
            "file",
            move |stream| {
                let file = file.clone();
                async move {
                    let demuxed = crate::file::load(&file).await?;
                    crate::file::play(demuxed, file.looping, stream).await
                }
            },
        ))),
        Source::Srt(srt) if srt.mode == spec::source::SrtMode::Listener => Some(tokio::spawn(async move {
            // a listener waits for callers as long as the stream is defined
            let mut backoff = BACKOFF.0;
            loop {
                let result = match crate::srt::SourceListener::bind(&srt).await {
                    Ok(listener) => listener.run(stream.clone()).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    tracing::warn!(stream = stream.name(), %e, "srt listener failed");
                    stream.set_error(e);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF.1);
            }
        })),
        Source::Srt(srt) if spec.always_on => Some(tokio::spawn(crate::srt::run_source_forever(srt, stream))),
        Source::Srt(srt) => Some(tokio::spawn(run_pull(false, stream, "srt", move |stream| {
            crate::srt::run_source(srt.clone(), stream)
        }))),
        Source::Hls(hls) => Some(tokio::spawn(run_pull(
            spec.always_on,
            stream,
            "hls pull",
            move |stream| crate::hls_pull::run(hls.url.clone(), stream),
        ))),
        other => {
            stream.set_error(format!(
                "{} sources are not supported by this node yet",
                kind(&other)
            ));
            None
        }
    }
}

/// Runs a pulling input: always (restarting with backoff after failures)
/// when `always_on`, otherwise once per viewer request until nobody watches.
async fn run_pull<F, Fut>(always_on: bool, stream: Arc<LiveStream>, what: &'static str, mut input: F)
where
    F: FnMut(Arc<LiveStream>) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut backoff = BACKOFF.0;
    loop {
        if !always_on {
            stream.requested().await;
        }
        let run = input(stream.clone());
        let result = if always_on {
            run.await
        } else {
            until_idle(run, &stream).await
        };
        match result {
            Ok(()) => backoff = BACKOFF.0,
            Err(e) => {
                tracing::warn!(stream = stream.name(), %e, "{what} input failed");
                stream.set_error(e);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF.1);
            }
        }
    }
}

/// Runs `input` until it ends or the stream has had no viewers for [`ON_DEMAND_IDLE`].
async fn until_idle(
    input: impl Future<Output = Result<(), String>>,
    stream: &LiveStream,
) -> Result<(), String> {
    let idle = async {
        let mut unwatched = Duration::ZERO;
        let tick = Duration::from_secs(1);
        loop {
            tokio::time::sleep(tick).await;
            unwatched = if stream.viewers() == 0 {
                unwatched + tick
            } else {
                Duration::ZERO
            };
            if unwatched >= ON_DEMAND_IDLE {
                return;
            }
        }
    };
    tokio::select! {
        r = input => r,
        () = idle => Ok(()),
    }
}

fn kind(source: &Source) -> &'static str {
    match source {
        Source::Push(_) => "push://",
        Source::Srt(_) => "srt://",
        Source::TsUdp(_) => "tsudp://",
        Source::TsRtp(_) => "tsrtp://",
        Source::Sdp(_) => "sdp:",
        Source::Rtmp(_) => "rtmp://",
        Source::Hls(_) => "hls",
        Source::Rist(_) => "rist://",
        Source::File(_) => "file",
    }
}
