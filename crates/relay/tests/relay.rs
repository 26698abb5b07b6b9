//! Ingest hub -> QUIC on loopback -> edge hub.

mod support;

use std::sync::Arc;
use std::time::Duration;

use hub::{Event, State};
use media::hls::cutter::CutConfig;
use relay::edge::StaticResolver;
use relay::{Puller, PullerConfig, RelayError};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_tracks_frames_and_marks() {
    logs();
    let ing = ingest();
    let stream = ing.hub.stream("cam");
    let p = stream.publish().unwrap();
    p.set_tracks(tracks());
    let cut = CutConfig {
        target_duration: Duration::from_secs(4),
        part_duration: Duration::from_millis(333),
    };
    p.set_cut_config(cut);
    stream.set_window(Duration::from_secs(12));
    // two GOPs in the DVR window before the edge subscribes
    let mut sent = push_frames(&p, 0, 50);

    let edge = edge();
    let sub = edge.client.subscribe("cam", &ing.upstream).await.unwrap();
    let local = edge.hub.get("cam").unwrap();
    assert_eq!(local.cut_config(), cut);
    assert_eq!(local.window(), Duration::from_secs(12));
    let got_tracks = local.tracks();
    assert_eq!(got_tracks.len(), 2);
    for (a, b) in got_tracks.iter().zip(tracks()) {
        assert_eq!(
            (a.id, &a.codec, a.timescale, &a.init),
            (b.id, &b.codec, b.timescale, &b.init)
        );
    }
    assert_eq!(got_tracks[1].audio.as_ref().map(|a| a.sample_rate), Some(48_000));

    let mut reader = local.subscribe_from_oldest();
    // then live frames
    sent.extend(push_frames(&p, 50, 30));
    let mut got = Vec::new();
    while got.len() < sent.len() {
        got.push(next_frame(&mut reader).await);
    }
    assert_eq!(got, sent, "frames (timestamps, flags, marks, payloads) equal");
    assert_eq!(local.state(), State::Live);
    assert!(ing.metrics.frames_sent.get() >= sent.len() as u64);
    eventually("frames counted", Duration::from_secs(1), || {
        edge.metrics.frames_received.get() >= sent.len() as u64
    })
    .await;

    // the source going away ends the edge's copy too
    drop(p);
    let mut sub = sub;
    let why = tokio::time::timeout(Duration::from_secs(5), sub.ended())
        .await
        .unwrap();
    assert!(matches!(why, relay::Ended::StreamEnded(_)), "{why}");
    assert_eq!(local.state(), State::Offline);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_edges_share_one_ingest() {
    logs();
    let ing = ingest();
    let p = ing.hub.stream("cam").publish().unwrap();
    p.set_tracks(tracks());
    push_frames(&p, 0, 1);
    let feeder = live(p, 1);
    let (e1, e2) = (edge(), edge());
    let _s1 = e1.client.subscribe("cam", &ing.upstream).await.unwrap();
    let _s2 = e2.client.subscribe("cam", &ing.upstream).await.unwrap();
    let mut r1 = e1.hub.get("cam").unwrap().subscribe();
    let mut r2 = e2.hub.get("cam").unwrap().subscribe();
    let f1 = next_frame(&mut r1).await;
    let f2 = next_frame(&mut r2).await;
    assert!(f1.keyframe && f2.keyframe, "edge readers start at keyframes");
    for _ in 0..20 {
        next_frame(&mut r1).await;
        next_frame(&mut r2).await;
    }
    assert_eq!(ing.metrics.downstream_subscriptions.get(), 2);
    assert_eq!(ing.metrics.connections.get(), 2);
    feeder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_stream_is_refused() {
    logs();
    let ing = ingest_with(relay::ServerConfig {
        start_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    let edge = edge();
    let err = edge.client.subscribe("nope", &ing.upstream).await.unwrap_err();
    assert!(
        matches!(&err, RelayError::Refused { reason, .. } if reason.contains("unknown stream")),
        "{err}"
    );
    // an existing but offline stream: requested, then refused after the wait
    let offline = ing.hub.stream("later");
    let err = edge.client.subscribe("later", &ing.upstream).await.unwrap_err();
    assert!(
        matches!(&err, RelayError::Refused { reason, .. } if reason.contains("offline")),
        "{err}"
    );
    // the request reached the on-demand side
    tokio::time::timeout(Duration::from_millis(100), offline.requested())
        .await
        .expect("stream requested");
    // the local stream is free again
    assert_eq!(edge.hub.get("nope").unwrap().state(), State::Offline);
    assert!(edge.hub.get("nope").unwrap().publish().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_source_started_by_subscription() {
    logs();
    let ing = ingest();
    let stream = ing.hub.stream("od");
    let s2 = stream.clone();
    let source = tokio::spawn(async move {
        s2.requested().await;
        let p = s2.publish().unwrap();
        p.set_tracks(tracks());
        push_frames(&p, 0, 1);
        live(p, 1).await.unwrap();
    });
    let edge = edge();
    let _sub = edge.client.subscribe("od", &ing.upstream).await.unwrap();
    let mut r = edge.hub.get("od").unwrap().subscribe();
    next_frame(&mut r).await;
    source.abort();
}

fn puller(e: &Edge, resolver: Arc<StaticResolver>, idle: Duration) -> Puller<Arc<StaticResolver>> {
    Puller::new(
        e.client.clone(),
        resolver,
        PullerConfig {
            idle_timeout: idle,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
            give_up: Duration::from_secs(3),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_upstream_subscription_for_many_viewers_then_idle_unsubscribe() {
    logs();
    let ing = ingest();
    let p = ing.hub.stream("cam").publish().unwrap();
    p.set_tracks(tracks());
    push_frames(&p, 0, 1);
    let feeder = live(p, 1);
    let e = edge();
    let resolver = Arc::new(StaticResolver::default());
    resolver.set("cam", Some(ing.upstream.clone()));
    let puller = puller(&e, resolver, Duration::from_millis(500));
    puller.watch("cam");
    let local = e.hub.stream("cam");
    let mut viewers: Vec<_> = (0..5).map(|_| local.subscribe()).collect();
    for _ in 0..5 {
        local.request();
    }
    for v in &mut viewers {
        next_frame(v).await;
    }
    eventually("the upstream subscription", Duration::from_secs(2), || {
        puller.active() == 1
    })
    .await;
    assert_eq!(ing.metrics.downstream_subscriptions.get(), 1);
    assert_eq!(e.metrics.upstream_subscriptions.get(), 1);
    drop(viewers);
    eventually("idle unsubscribe", Duration::from_secs(5), || {
        puller.active() == 0
    })
    .await;
    eventually("ingest sees the unsubscribe", Duration::from_secs(5), || {
        ing.metrics.downstream_subscriptions.get() == 0
    })
    .await;
    assert_eq!(local.state(), State::Offline);
    // a new viewer brings it back
    let mut v = local.subscribe();
    local.request();
    next_frame(&mut v).await;
    eventually("a new upstream subscription", Duration::from_secs(5), || {
        puller.active() == 1
    })
    .await;
    feeder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_another_ingest() {
    logs();
    let first = ingest();
    let p1 = first.hub.stream("cam").publish().unwrap();
    p1.set_tracks(tracks());
    push_frames(&p1, 0, 1);
    let f1 = live(p1, 1);
    let e = edge();
    let resolver = Arc::new(StaticResolver::default());
    resolver.set("cam", Some(first.upstream.clone()));
    let puller = puller(&e, resolver.clone(), Duration::from_secs(30));
    puller.watch("cam");
    let local = e.hub.stream("cam");
    let mut viewer = local.subscribe();
    local.request();
    next_frame(&mut viewer).await;

    // the first ingest dies; the stream moves to a second one
    f1.abort();
    drop(first);
    let second = ingest();
    resolver.set("cam", Some(second.upstream.clone()));
    let p2 = second.hub.stream("cam").publish().unwrap();
    p2.set_tracks(tracks());
    push_frames(&p2, 10_000, 1);
    let f2 = live(p2, 10_001);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        assert!(tokio::time::Instant::now() < deadline, "edge did not fail over");
        let e = tokio::time::timeout(Duration::from_secs(15), viewer.next())
            .await
            .unwrap();
        if let Event::Frame(f) = e
            && f.dts.ticks() >= 10_000 * 3600
        {
            break;
        }
    }
    assert_eq!(local.state(), State::Live);
    eventually("one upstream subscription", Duration::from_secs(2), || {
        puller.active() == 1
    })
    .await;
    f2.abort();
}

/// A source announcing its audio config late: the tracks are declared again
/// inside the first GOP (same video track, the AAC track gains its init). The
/// edge gets every frame, in order, and ends with the complete tracks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracks_reannounced_mid_gop_lose_no_frame() {
    logs();
    let ing = ingest();
    let p = ing.hub.stream("late").publish().unwrap();
    let full = tracks();
    let mut partial = full.clone();
    partial[1] = media::Track::new(2, media::Codec::Aac, 48_000);
    p.set_tracks(partial);
    let mut sent = push_frames(&p, 0, 1);

    let edge = edge();
    let _sub = edge.client.subscribe("late", &ing.upstream).await.unwrap();
    let local = edge.hub.get("late").unwrap();
    let mut reader = local.subscribe_from_oldest();
    // live: a few frames, the re-announcement mid-GOP, then past two keyframes
    for i in 1..8 {
        sent.extend(push_frames(&p, i, 1));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.set_tracks(full.clone());
    sent.extend(push_frames(&p, 8, 20));
    // and a burst, with a second change mid-GOP
    let mut again = full.clone();
    again[1].init = bytes::Bytes::from_static(&[0x11, 0x88]);
    p.set_tracks(again.clone());
    sent.extend(push_frames(&p, 28, 40));

    let mut got = Vec::new();
    while got.len() < sent.len() {
        match tokio::time::timeout(Duration::from_secs(3), reader.next()).await {
            Ok(Event::Frame(f)) => got.push(f),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let key = |f: &media::Frame| (f.track, f.dts.ticks(), f.keyframe);
    assert_eq!(
        got.iter().map(key).collect::<Vec<_>>(),
        sent.iter().map(key).collect::<Vec<_>>(),
        "every frame, in order"
    );
    assert_eq!(got, sent);
    for track in [1, 2] {
        let dts: Vec<i64> = got
            .iter()
            .filter(|f| f.track == track)
            .map(|f| f.dts.ticks())
            .collect();
        assert!(
            dts.windows(2).all(|w| w[0] < w[1]),
            "dts increasing on track {track}"
        );
    }
    let inits: Vec<_> = local.tracks().iter().map(|t| t.init.clone()).collect();
    assert_eq!(inits, again.iter().map(|t| t.init.clone()).collect::<Vec<_>>());
    assert_eq!(ing.metrics.dropped("late"), 0);
}
