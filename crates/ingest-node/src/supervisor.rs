//! Runs the input of every defined stream whose source this node pulls or
//! listens for, following spec changes: a new or changed source (re)starts
//! its input, a removed stream stops it.
//!
//! Listening inputs (`tsudp://`, `tsrtp://`, `sdp:`, `srt://:PORT`,
//! `rist://@:PORT`) run as long as the stream is defined. Pulling inputs
//! (files, HLS, SRT and RIST callers)
//! run always when the spec says `alwaysOn`,
//! restarting with backoff after failures; otherwise they start when a viewer
//! asks for the stream ([`hub::LiveStream::request`]), keep trying for
//! [`ON_DEMAND_RETRY`] when they fail, and stop when nobody has watched for
//! [`ON_DEMAND_IDLE`].

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

/// An on-demand input that fails keeps trying this long after a viewer asked;
/// then it waits for the next request.
pub const ON_DEMAND_RETRY: Duration = Duration::from_secs(20);

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
            stream.set_window(Duration::from_secs(spec.dvr_window_seconds.into()));
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
        Source::Rist(rist) if rist.mode == spec::source::RistMode::Listener => {
            Some(tokio::spawn(async move {
                // a listener waits for senders as long as the stream is defined
                let mut backoff = BACKOFF.0;
                loop {
                    if let Err(e) = crate::rist::run(rist.clone(), stream.clone()).await {
                        tracing::warn!(stream = stream.name(), %e, "rist listener failed");
                        stream.set_error(e);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }))
        }
        Source::Rist(rist) => Some(tokio::spawn(run_pull(
            spec.always_on,
            stream,
            "rist",
            move |stream| crate::rist::run(rist.clone(), stream),
        ))),
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
/// when `always_on`; otherwise from a viewer's request, retrying failures for
/// up to [`ON_DEMAND_RETRY`], until nobody watches.
async fn run_pull<F, Fut>(always_on: bool, stream: Arc<LiveStream>, what: &'static str, mut input: F)
where
    F: FnMut(Arc<LiveStream>) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut backoff = BACKOFF.0;
    let mut give_up = tokio::time::Instant::now();
    loop {
        if !always_on && tokio::time::Instant::now() >= give_up {
            stream.requested().await;
            give_up = tokio::time::Instant::now() + ON_DEMAND_RETRY;
            backoff = BACKOFF.0;
        }
        let run = input(stream.clone());
        let result = if always_on {
            run.await
        } else {
            until_idle(run, &stream).await
        };
        match result {
            Ok(()) => {
                backoff = BACKOFF.0;
                give_up = tokio::time::Instant::now();
            }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn on_demand_input_retries_for_a_while_after_a_request_then_waits() {
        let hub = Hub::default();
        let stream = hub.stream("s");
        let attempts = Arc::new(AtomicU32::new(0));
        let counter = attempts.clone();
        let task = tokio::spawn(run_pull(false, stream.clone(), "test", move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), String>("unreachable source".into()) }
        }));
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            0,
            "nothing runs before a viewer asks"
        );
        stream.request();
        tokio::time::sleep(Duration::from_secs(60)).await;
        let after_first = attempts.load(Ordering::SeqCst);
        // backoff 0.5, 1, 2, 4, 8 s fits in the 20 s window: a handful of attempts, then waiting
        assert!((4..=7).contains(&after_first), "{after_first} attempts");
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            after_first,
            "no attempts without a new request"
        );
        assert_eq!(stream.last_error().as_deref(), Some("unreachable source"));
        stream.request();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            attempts.load(Ordering::SeqCst) > after_first,
            "a new request starts it again"
        );
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn always_on_input_keeps_retrying_with_backoff() {
        let hub = Hub::default();
        let stream = hub.stream("s");
        let attempts = Arc::new(AtomicU32::new(0));
        let counter = attempts.clone();
        let task = tokio::spawn(run_pull(true, stream, "test", move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), String>("down".into()) }
        }));
        tokio::time::sleep(Duration::from_secs(300)).await;
        let n = attempts.load(Ordering::SeqCst);
        // 0.5+1+2+4+8+16 = 31.5 s, then every 30 s: about 15 attempts in 300 s
        assert!((12..=18).contains(&n), "{n} attempts");
        task.abort();
    }
}
