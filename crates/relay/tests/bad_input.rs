//! Misbehaving peers: each is refused with a logged reason, nothing panics,
//! and other streams on the same server keep flowing.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use proto::relay as pb;
use relay::tls::{self, ClientTls, SelfSigned};
use relay::wire;
use relay::{Client, ClientConfig, Ended, Metrics, RelayError, Upstream};
use support::*;

/// A raw QUIC connection to `up` (pinning its certificate).
async fn raw_connect(up: &Upstream) -> quinn::Connection {
    let cfg = ClientTls::pinned_only()
        .config_for(up.pinned_cert.as_ref())
        .unwrap();
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(cfg).unwrap();
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
    ep.connect(up.addr, &up.server_name).unwrap().await.unwrap()
}

fn subscribe(stream: &str) -> Bytes {
    let mut b = BytesMut::new();
    wire::encode(
        &pb::ClientMessage {
            msg: Some(pb::client_message::Msg::Subscribe(pb::Subscribe {
                stream: stream.into(),
                from_live_edge: true,
            })),
        },
        &mut b,
    );
    b.freeze()
}

/// An edge subscribed to `cam` on `ing`, to check that it keeps flowing.
async fn watcher(ing: &Ingest) -> (Edge, relay::Subscription, hub::Subscriber) {
    let e = edge();
    let s = e.client.subscribe("cam", &ing.upstream).await.unwrap();
    let r = e.hub.get("cam").unwrap().subscribe();
    (e, s, r)
}

fn live_cam(ing: &Ingest) -> tokio::task::JoinHandle<()> {
    let p = ing.hub.stream("cam").publish().unwrap();
    p.set_tracks(tracks());
    push_frames(&p, 0, 1);
    live(p, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_broken_clients_are_refused_others_keep_flowing() {
    logs();
    let ing = ingest();
    let feeder = live_cam(&ing);
    let (_e, _s, mut reader) = watcher(&ing).await;
    next_frame(&mut reader).await;

    // random datagrams at the QUIC port
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..500usize {
        let len = 1 + (i * 37) % 1400;
        let d: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        udp.send_to(&d, ing.upstream.addr).await.unwrap();
    }

    // a length prefix above the control limit
    let c = raw_connect(&ing.upstream).await;
    let (mut send, _recv) = c.open_bi().await.unwrap();
    let mut b = BytesMut::new();
    prost::encoding::encode_varint(1 << 20, &mut b);
    b.put_slice(&[0; 16]);
    send.write_all(&b).await.unwrap();
    let why = tokio::time::timeout(Duration::from_secs(5), c.closed())
        .await
        .unwrap();
    assert!(why.to_string().contains("exceeds the limit"), "{why}");

    // a truncated message, then the stream finished
    let c = raw_connect(&ing.upstream).await;
    let (mut send, _recv) = c.open_bi().await.unwrap();
    let whole = subscribe("cam");
    send.write_all(&whole[..whole.len() - 2]).await.unwrap();
    send.finish().unwrap();
    let why = tokio::time::timeout(Duration::from_secs(5), c.closed())
        .await
        .unwrap();
    assert!(
        why.to_string().contains("stream ended inside client message"),
        "{why}"
    );

    // undecodable message bytes
    let c = raw_connect(&ing.upstream).await;
    let (mut send, _recv) = c.open_bi().await.unwrap();
    send.write_all(&[3, 0xff, 0xff, 0xff]).await.unwrap();
    let why = tokio::time::timeout(Duration::from_secs(5), c.closed())
        .await
        .unwrap();
    assert!(why.to_string().contains("client message"), "{why}");

    // the honest edge still gets frames
    for _ in 0..10 {
        next_frame(&mut reader).await;
    }
    feeder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_never_reads_gets_groups_reset() {
    logs();
    let ing = ingest_with(relay::ServerConfig {
        max_lag: Duration::from_millis(300),
        ..Default::default()
    });
    let p = ing.hub.stream("big").publish().unwrap();
    p.set_tracks(tracks());
    let feeder_cam = live_cam(&ing);
    let (_e, _s, mut reader) = watcher(&ing).await;

    // subscribes to "big" and never reads the media streams
    let c = raw_connect(&ing.upstream).await;
    let (mut send, _recv) = c.open_bi().await.unwrap();
    send.write_all(&subscribe("big")).await.unwrap();
    let big = tokio::spawn(async move {
        // 200 kB frames at 25 fps, a keyframe every 25: 40 Mbit/s, groups
        // larger than a QUIC stream's receive window
        let mut tick = tokio::time::interval(Duration::from_millis(40));
        for i in 0..100i64 {
            tick.tick().await;
            p.push(media::Frame::new(
                1,
                media::Timestamp::new(i * 3600, 90_000),
                media::Timestamp::new(i * 3600, 90_000),
                i % 25 == 0,
                vec![0u8; 200_000],
            ));
        }
        p
    });
    for _ in 0..50 {
        next_frame(&mut reader).await;
    }
    let _p = big.await.unwrap();
    let dropped = ing.metrics.dropped("big");
    assert!(dropped > 0, "groups of the unread stream were reset");
    assert_eq!(ing.metrics.dropped("cam"), 0);
    // bounded: far less than the 20 MB pushed was accepted by QUIC for it
    let sent = ing.metrics.bytes_sent.get();
    assert!(
        sent < 15_000_000,
        "sent {sent} bytes to a reader that reads nothing"
    );
    drop(c);
    feeder_cam.abort();
}

/// A fake ingest that answers a subscription with a catalog and one media
/// stream built by `media`.
async fn fake_server(media: fn(&mut BytesMut)) -> (Upstream, tokio::task::JoinHandle<()>) {
    let cert = SelfSigned::generate(&["fake".into()]).unwrap();
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(cert.server_config(None).unwrap()).unwrap();
    let ep = quinn::Endpoint::server(
        quinn::ServerConfig::with_crypto(Arc::new(quic)),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let up = Upstream {
        addr: ep.local_addr().unwrap(),
        server_name: "fake".into(),
        pinned_cert: Some(cert.cert_der),
    };
    let task = tokio::spawn(async move {
        let conn = ep.accept().await.unwrap().await.unwrap();
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        let _ = recv.read_chunk(1024, true).await;
        let mut b = BytesMut::new();
        wire::encode(
            &pb::ServerMessage {
                msg: Some(pb::server_message::Msg::Catalog(pb::Catalog {
                    stream: "cam".into(),
                    tracks: vec![pb::Track {
                        id: 1,
                        codec: "h264".into(),
                        timescale: 90_000,
                        init: vec![],
                    }],
                    epoch: 1,
                    cut: None,
                    window_ms: 0,
                })),
            },
            &mut b,
        );
        send.write_all(&b).await.unwrap();
        let mut uni = conn.open_uni().await.unwrap();
        let mut m = BytesMut::new();
        wire::encode(
            &pb::GroupHeader {
                stream: "cam".into(),
                sequence: 1,
                epoch: 1,
            },
            &mut m,
        );
        media(&mut m);
        let _ = uni.write_all(&m).await;
        let _ = uni.finish();
        conn.closed().await;
    });
    (up, task)
}

fn frame_header(size: u32) -> pb::FrameHeader {
    pb::FrameHeader {
        track: 1,
        dts: 0,
        pts: 0,
        keyframe: true,
        size,
        mark: None,
        ingest_time_us: 0,
        timescale: 90_000,
    }
}

/// Why a subscription to `up` ended, before or after its catalog.
async fn ended(e: &Edge, up: &Upstream) -> Ended {
    match e.client.subscribe("cam", up).await {
        Ok(mut sub) => tokio::time::timeout(Duration::from_secs(5), sub.ended())
            .await
            .unwrap(),
        Err(RelayError::Ended { why, .. }) => why,
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_lying_about_sizes_is_refused() {
    logs();
    // announces 1000 payload bytes, sends 10
    let (up, _t) = fake_server(|m| {
        wire::encode(&frame_header(1000), m);
        m.put_slice(&[0; 10]);
    })
    .await;
    let e = edge();
    let why = ended(&e, &up).await;
    assert!(
        matches!(&why, Ended::Protocol(r) if r.contains("stream ended inside frame payload (10 of 1000 bytes)")),
        "{why}"
    );
    assert_eq!(e.hub.get("cam").unwrap().state(), hub::State::Offline);

    // announces a payload above the limit
    let (up, _t) = fake_server(|m| {
        wire::encode(&frame_header(u32::MAX), m);
    })
    .await;
    let e = edge();
    let why = ended(&e, &up).await;
    assert!(
        matches!(&why, Ended::Protocol(r) if r.contains("exceeds the limit")),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_certificates_are_refused() {
    logs();
    let ing = ingest();
    let _f = live_cam(&ing);
    // pinning another certificate
    let other = SelfSigned::generate(&["ingest.test".into()]).unwrap();
    let up = Upstream {
        pinned_cert: Some(other.cert_der),
        ..ing.upstream.clone()
    };
    let err = edge().client.subscribe("cam", &up).await.unwrap_err();
    assert!(matches!(err, RelayError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("not the pinned one"), "{err}");

    // mutual TLS: a cluster CA issues the server's and the clients' certificates
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let issue = |name: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = issue("ingest.cluster");
    let hub = Arc::new(hub::Hub::default());
    let p = hub.stream("cam").publish().unwrap();
    p.set_tracks(tracks());
    push_frames(&p, 0, 1);
    let server = relay::Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        tls::server_config(
            server_cert.as_bytes(),
            server_key.as_bytes(),
            Some(ca_cert.pem().as_bytes()),
        )
        .unwrap(),
        hub,
        Arc::new(Metrics::default()),
        relay::ServerConfig::default(),
    )
    .unwrap();
    let up = Upstream {
        addr: server.local_addr().unwrap(),
        server_name: "ingest.cluster".into(),
        pinned_cert: None,
    };
    let client = |identity: Option<(&[u8], &[u8])>| {
        Client::new(
            Arc::new(hub::Hub::default()),
            ClientTls::new(Some(ca_cert.pem().as_bytes()), identity).unwrap(),
            Arc::new(Metrics::default()),
            ClientConfig::default(),
        )
    };
    // without a client certificate
    let err = client(None).subscribe("cam", &up).await.unwrap_err();
    assert!(
        matches!(err, RelayError::Connect { .. } | RelayError::Ended { .. }),
        "{err}"
    );
    // with a certificate from another CA
    let stranger = SelfSigned::generate(&["edge".into()]).unwrap();
    let err = client(Some((stranger.cert_pem.as_bytes(), stranger.key_pem.as_bytes())))
        .subscribe("cam", &up)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RelayError::Connect { .. } | RelayError::Ended { .. }),
        "{err}"
    );
    // with one from the cluster CA
    let (edge_cert, edge_key) = issue("edge.cluster");
    let _sub = client(Some((edge_cert.as_bytes(), edge_key.as_bytes())))
        .subscribe("cam", &up)
        .await
        .unwrap();
}
