//! RTP described by an SDP file (`sdp:/path/file.sdp`): the multicast
//! intranet case, no RTSP/SIP handshake. One UDP socket per media line
//! (joining its multicast group when the SDP says so), depacketized by
//! [`media::sdp::Source`]. Like the TS/UDP input, the first packet takes the
//! stream's publisher slot and [`crate::SOURCE_IDLE_TIMEOUT`] of silence
//! releases it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hub::{LiveStream, Publisher};
use media::rtp::{Event, ReceiverOptions};
use media::sdp::{Address, SessionDescription, Source};
use tokio::sync::mpsc;

/// How often lost packets stop holding frames back (the reorder window
/// would otherwise wait for 64 packets).
const GAP_TICK: Duration = Duration::from_millis(50);

/// Largest SDP file read.
const MAX_SDP_FILE: u64 = 64 * 1024;

/// Reads the SDP file, binds a socket per media, and feeds `stream` until a
/// socket fails.
pub async fn run(path: &str, stream: Arc<LiveStream>) -> Result<(), String> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    if meta.len() > MAX_SDP_FILE {
        return Err(format!(
            "{path}: an sdp file of {} bytes is too large",
            meta.len()
        ));
    }
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let sd = SessionDescription::parse(&text).map_err(|e| format!("{path}: {e}"))?;
    let configs = Source::from_session(&sd).map_err(|e| format!("{path}: {e}"))?;
    if configs.is_empty() {
        return Err(format!("{path}: no rtp media this server can receive"));
    }
    // datagrams of every socket, tagged with their media index, into one queue
    let (tx, mut rx) = mpsc::channel::<(usize, Vec<u8>)>(1024);
    let mut sockets = Vec::new();
    for (index, config) in configs.iter().enumerate() {
        let group = config.connection.as_ref().and_then(|c| match c.address {
            Address::Ip(ip) if ip.is_multicast() => Some(ip),
            _ => None,
        });
        let bind = SocketAddr::new(
            match group {
                Some(IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            },
            config.port,
        );
        let socket = crate::tsudp::bind(&crate::tsudp::Config {
            bind,
            group,
            iface: None,
            rtp: false,
        })
        .map_err(|e| format!("binding rtp port {}: {e}", config.port))?;
        let tx = tx.clone();
        sockets.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok(n) = socket.recv(&mut buf).await {
                if tx.send((index, buf[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    let result = receive(&mut rx, configs, &stream).await;
    for s in sockets {
        s.abort();
    }
    result
}

async fn receive(
    rx: &mut mpsc::Receiver<(usize, Vec<u8>)>,
    configs: Vec<media::sdp::RtpTrackConfig>,
    stream: &Arc<LiveStream>,
) -> Result<(), String> {
    let mut live: Option<(Publisher, Source)> = None;
    let mut tick = tokio::time::interval(GAP_TICK);
    let mut last_packet = tokio::time::Instant::now();
    loop {
        tokio::select! {
            packet = rx.recv() => {
                let Some((index, data)) = packet else { return Err("rtp sockets closed".into()) };
                last_packet = tokio::time::Instant::now();
                if live.is_none() {
                    match stream.publish() {
                        Ok(p) => {
                            tracing::info!(stream = stream.name(), "rtp source started");
                            let source = Source::new(configs.clone(), ReceiverOptions::default());
                            p.set_tracks(source.tracks());
                            live = Some((p, source));
                        }
                        Err(e) => {
                            tracing::debug!(stream = stream.name(), %e, "rtp packet dropped");
                            continue;
                        }
                    }
                }
                if let Some((publisher, source)) = live.as_mut() {
                    source.handle_datagram(index, &data);
                    drain(source, publisher);
                }
            }
            _ = tick.tick() => {
                if let Some((publisher, source)) = live.as_mut() {
                    source.skip_gaps();
                    drain(source, publisher);
                }
                if last_packet.elapsed() >= crate::SOURCE_IDLE_TIMEOUT
                    && let Some((publisher, mut source)) = live.take()
                {
                    source.finish();
                    drain(&mut source, &publisher);
                    tracing::info!(stream = stream.name(), "rtp source went silent");
                }
            }
        }
    }
}

fn drain(source: &mut Source, publisher: &Publisher) {
    while let Some(event) = source.poll_event() {
        match event {
            Event::Track(_) => publisher.set_tracks(source.tracks()),
            Event::Frame(frame) => publisher.push(frame),
            Event::Warning(w) => {
                tracing::debug!(stream = publisher.stream().name(), %w, "rtp input");
                publisher.stream().set_error(w.to_string());
            }
        }
    }
}
