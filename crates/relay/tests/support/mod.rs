//! Shared helpers of the relay tests: an ingest with a self-signed
//! certificate, edges pinning it, synthetic frames.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hub::{Event, Hub, Publisher, Subscriber};
use media::{Codec, Frame, Mark, SegmentMark, Timestamp, Track};
use relay::tls::{ClientTls, SelfSigned};
use relay::{Client, ClientConfig, Metrics, Server, ServerConfig, Upstream};

pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "relay=debug".into()),
        )
        .with_test_writer()
        .try_init();
}

pub struct Ingest {
    pub hub: Arc<Hub>,
    pub server: Server,
    pub metrics: Arc<Metrics>,
    pub upstream: Upstream,
}

pub fn ingest_with(config: ServerConfig) -> Ingest {
    let hub = Arc::new(Hub::default());
    let cert = SelfSigned::generate(&["ingest.test".into()]).unwrap();
    let metrics = Arc::new(Metrics::default());
    let server = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        cert.server_config(None).unwrap(),
        hub.clone(),
        metrics.clone(),
        config,
    )
    .unwrap();
    let upstream = Upstream {
        addr: server.local_addr().unwrap(),
        server_name: "ingest.test".into(),
        pinned_cert: Some(cert.cert_der.clone()),
    };
    Ingest {
        hub,
        server,
        metrics,
        upstream,
    }
}

pub fn ingest() -> Ingest {
    ingest_with(ServerConfig::default())
}

pub struct Edge {
    pub hub: Arc<Hub>,
    pub client: Client,
    pub metrics: Arc<Metrics>,
}

pub fn edge() -> Edge {
    let hub = Arc::new(Hub::default());
    let metrics = Arc::new(Metrics::default());
    let client = Client::new(
        hub.clone(),
        ClientTls::pinned_only(),
        metrics.clone(),
        ClientConfig::default(),
    );
    Edge { hub, client, metrics }
}

pub fn tracks() -> Vec<Track> {
    let mut v = Track::new(1, Codec::H264, 90_000);
    v.init = Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff, 0xe0, 0]);
    let mut a = Track::new(2, Codec::Aac, 48_000);
    a.init = Bytes::from_static(&[0x11, 0x90]);
    a.describe();
    vec![v, a]
}

/// Video frame `i` (25 fps, a keyframe every `gop` frames) with a mark on
/// keyframes and part starts.
pub fn video(i: i64, gop: i64, size: usize) -> Frame {
    let t = Timestamp::new(i * 3600, 90_000);
    let mut f = Frame::new(1, t, t.add_ticks(3600), i % gop == 0, vec![(i % 251) as u8; size]);
    if i % 5 == 0 {
        f.mark = Some(Mark {
            segment: (i % gop == 0).then_some(SegmentMark {
                msn: (i / gop) as u64,
                discontinuity: false,
                discontinuity_sequence: 0,
                program_date_time_ms: 1_700_000_000_000 + i as u64 * 40,
            }),
            part: Some((i / 5) as u64),
            part_end: Some(i * 3600 + 5 * 3600),
        });
    }
    f
}

/// Audio frame `i` (48 kHz AAC, 50 fps).
pub fn audio(i: i64) -> Frame {
    let t = Timestamp::new(i * 960, 48_000);
    Frame::new(2, t, t, true, vec![0xa0; 200])
}

/// Pushes `n` video frames (and two audio frames each) starting at `from`.
pub fn push_frames(p: &Publisher, from: i64, n: i64) -> Vec<Frame> {
    let mut out = Vec::new();
    for i in from..from + n {
        let v = video(i, 25, 1000 + (i as usize % 7) * 100);
        p.push_marked(v.clone());
        out.push(v);
        for k in 0..2 {
            let a = audio(i * 2 + k);
            p.push_marked(a.clone());
            out.push(a);
        }
    }
    out
}

/// Feeds `p` in real time (25 fps) until aborted.
pub fn live(p: Publisher, from: i64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut i = from;
        let mut tick = tokio::time::interval(Duration::from_millis(40));
        loop {
            tick.tick().await;
            push_frames(&p, i, 1);
            i += 1;
        }
    })
}

pub async fn next(sub: &mut Subscriber) -> Event {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("an event within 5 s")
}

/// The next frame of `sub`, skipping other events.
pub async fn next_frame(sub: &mut Subscriber) -> Frame {
    loop {
        if let Event::Frame(f) = next(sub).await {
            return f;
        }
    }
}

pub async fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
