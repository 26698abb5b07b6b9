//! The RTMP publishing client against this crate's server session, and
//! arbitrary server bytes.

use bytes::Bytes;
use media::flv::{self, AudioPacket, Metadata, VideoPacket};
use media::rtmp::client::{ClientConfig, ClientEvent, ClientSession, Error};
use media::rtmp::handshake::{HANDSHAKE_SIZE, RTMP_VERSION};
use media::rtmp::message::{Command, Control, UserControl};
use media::rtmp::{ServerConfig, ServerSession, SessionEvent};
use media::{Codec, rtmp};
use proptest::prelude::*;

fn config() -> ClientConfig {
    ClientConfig::new("rtmp://127.0.0.1/live", "live", "cam1?key=k")
}

/// Moves bytes both ways until neither side has output; returns the server's events.
fn pump(client: &mut ClientSession, server: &mut ServerSession, accept: bool) -> Vec<SessionEvent> {
    let mut events = Vec::new();
    loop {
        let mut moved = false;
        while let Some(out) = client.poll_output() {
            moved = true;
            server.handle_input(&out).unwrap();
        }
        while let Some(e) = server.poll_event() {
            if matches!(e, SessionEvent::Publish { .. }) {
                if accept {
                    server.accept_publish().unwrap();
                } else {
                    server.reject_publish("no such stream").unwrap();
                }
            }
            events.push(e);
        }
        while let Some(out) = server.poll_output() {
            moved = true;
            if client.handle_input(&out).is_err() {
                return events;
            }
        }
        if !moved {
            return events;
        }
    }
}

#[test]
fn publishes_to_the_server_session() {
    let mut client = ClientSession::new(config());
    let mut server = ServerSession::new(ServerConfig::default());
    let events = pump(&mut client, &mut server, true);
    assert!(
        matches!(&events[0], SessionEvent::Connect { app, tc_url } if app == "live"
        && tc_url.as_deref() == Some("rtmp://127.0.0.1/live"))
    );
    assert!(events.iter().any(
        |e| matches!(e, SessionEvent::Publish { stream_name, key, publishing_type, .. }
        if stream_name == "cam1" && key.as_deref() == Some("k") && publishing_type == "live")
    ));
    assert_eq!(client.poll_event(), Some(ClientEvent::Connected));
    assert_eq!(
        client.poll_event(),
        Some(ClientEvent::Publishing { stream_id: 1 })
    );
    assert_eq!(client.publishing(), Some(1));

    let meta = Metadata {
        width: Some(320.0),
        height: Some(240.0),
        videocodecid: Some(7.0),
        ..Metadata::default()
    };
    client.send_metadata(&meta).unwrap();
    let mut body = Vec::new();
    flv::audio_body(
        AudioPacket::SequenceHeader(Bytes::from_static(&[0x11, 0x90])),
        &mut body,
    );
    client.send_audio(0, body.into()).unwrap();
    // a video frame bigger than the chunk size, with a timestamp past 24 bits
    let data = Bytes::from(vec![7u8; 10_000]);
    let mut body = Vec::new();
    let packet = VideoPacket::Frame {
        keyframe: true,
        cts: 40,
        data: data.clone(),
    };
    flv::video_body(&Codec::H265, packet, &mut body).unwrap();
    client.send_video(0x0100_0000, body.clone().into()).unwrap();
    let events = pump(&mut client, &mut server, true);
    assert_eq!(events[0], SessionEvent::Metadata(meta));
    assert!(
        matches!(&events[1], SessionEvent::Audio { timestamp_ms: 0, body } if body[..] == [0xaf, 0, 0x11, 0x90])
    );
    match &events[2] {
        SessionEvent::Video {
            timestamp_ms,
            body: got,
        } => {
            assert_eq!(*timestamp_ms, 0x0100_0000);
            assert_eq!(got[..], body[..]);
            let tag = flv::parse_video_body(got).unwrap();
            assert_eq!((tag.codec, tag.enhanced), (Codec::H265, true));
        }
        other => panic!("expected video, got {other:?}"),
    }

    client.close();
    let events = pump(&mut client, &mut server, true);
    assert!(events.iter().any(|e| matches!(e, SessionEvent::Unpublish { .. })));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SessionEvent::DeleteStream { stream_id: 1 }))
    );
    assert!(client.is_closed());
    assert_eq!(client.handle_input(&[0]), Err(Error::Closed));
}

#[test]
fn refused_publish_reports_the_description() {
    let mut client = ClientSession::new(config());
    let mut server = ServerSession::new(ServerConfig::default());
    pump(&mut client, &mut server, false);
    assert!(client.is_closed());
    // replay to get the error itself
    let mut client = ClientSession::new(config());
    let mut server = ServerSession::new(ServerConfig::default());
    let mut err = None;
    'outer: for _ in 0..10 {
        while let Some(out) = client.poll_output() {
            server.handle_input(&out).unwrap();
        }
        while let Some(e) = server.poll_event() {
            if matches!(e, SessionEvent::Publish { .. }) {
                server.reject_publish("no such stream").unwrap();
            }
        }
        while let Some(out) = server.poll_output() {
            if let Err(e) = client.handle_input(&out) {
                err = Some(e);
                break 'outer;
            }
        }
    }
    let err = err.expect("an error");
    assert_eq!(
        err,
        Error::Refused {
            command: "publish",
            code: "NetStream.Publish.BadName".into(),
            description: "no such stream".into(),
        }
    );
    assert!(err.to_string().contains("no such stream"), "{err}");
    assert_eq!(client.send_video(0, Bytes::new()), Err(Error::NotPublishing));
}

#[test]
fn handshake_checks_the_version_and_eof_says_when() {
    let mut client = ClientSession::new(config());
    client.poll_output();
    assert_eq!(client.handle_input(b"HTTP/1.1 400"), Err(Error::BadVersion(b'H')));
    let mut client = ClientSession::new(config());
    client.handle_input(&[RTMP_VERSION; 100]).unwrap();
    let err = client.handle_eof().unwrap_err();
    assert_eq!(
        err.to_string(),
        "server closed the connection during the handshake"
    );
}

#[test]
fn connect_then_acknowledgements_and_ping_responses() {
    let mut client = ClientSession::new(config());
    client.poll_output();
    let mut hs = vec![RTMP_VERSION];
    hs.resize(1 + 2 * HANDSHAKE_SIZE, 0);
    client.handle_input(&hs).unwrap();
    // C2 echoes S1 (zeros here), then Set Chunk Size and connect
    let mut wire = bytes::BytesMut::from(&client.poll_output().unwrap()[..]);
    assert_eq!(wire.split_to(HANDSHAKE_SIZE)[..], [0u8; HANDSHAKE_SIZE]);
    let mut dec = rtmp::ChunkDecoder::new();
    let m = dec.decode(&mut wire).unwrap().unwrap();
    assert_eq!(m.type_id, rtmp::message::type_id::SET_CHUNK_SIZE);
    assert_eq!(m.payload[..], 4096u32.to_be_bytes());
    let m = dec.decode(&mut wire).unwrap().unwrap();
    let cmd = Command::parse(&m.payload).unwrap();
    assert_eq!((cmd.name.as_str(), cmd.transaction_id), ("connect", 1.0));
    let prop = |k: &str| cmd.object.property(k).and_then(|v| v.as_str()).map(str::to_owned);
    assert_eq!(prop("app").as_deref(), Some("live"));
    assert_eq!(prop("tcUrl").as_deref(), Some("rtmp://127.0.0.1/live"));
    assert_eq!(
        prop("flashVer").as_deref(),
        Some("FMLE/3.0 (compatible; Tributary)")
    );

    // the server sets a window of 100 bytes and pings
    let mut enc = rtmp::ChunkEncoder::new();
    let mut input = Vec::new();
    enc.encode(&Control::WindowAckSize(100).to_message(), &mut input)
        .unwrap();
    enc.encode(
        &Control::UserControl(UserControl::PingRequest(77)).to_message(),
        &mut input,
    )
    .unwrap();
    let filler = rtmp::Message {
        csid: 4,
        timestamp: 0,
        type_id: 8,
        stream_id: 0,
        payload: vec![0u8; 120].into(),
    };
    enc.encode(&filler, &mut input).unwrap();
    client.handle_input(&input).unwrap();
    wire.extend_from_slice(&client.poll_output().unwrap());
    let mut got = Vec::new();
    while let Some(m) = dec.decode(&mut wire).unwrap() {
        got.push(Control::parse(m.type_id, &m.payload).unwrap());
    }
    let received = (1 + 2 * HANDSHAKE_SIZE + input.len()) as u32;
    assert_eq!(
        got,
        vec![
            Some(Control::UserControl(UserControl::PingResponse(77))),
            Some(Control::Acknowledgement(received)),
        ]
    );
}

fn after_handshake() -> ClientSession {
    let mut client = ClientSession::new(config());
    client.poll_output();
    let mut hs = vec![RTMP_VERSION];
    hs.resize(1 + 2 * HANDSHAKE_SIZE, 0);
    client.handle_input(&hs).unwrap();
    client.poll_output();
    client
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_server_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096), split in 0usize..4096) {
        let split = split.min(data.len());
        for mut client in [ClientSession::new(config()), after_handshake()] {
            for piece in [&data[..split], &data[split..]] {
                if client.handle_input(piece).is_err() {
                    prop_assert!(client.is_closed());
                    break;
                }
                while client.poll_event().is_some() {}
                while client.poll_output().is_some() {}
            }
            let _ = client.handle_eof();
            prop_assert!(client.is_closed());
        }
    }

    #[test]
    fn arbitrary_chunks_from_a_real_encoder_never_panic(
        msgs in proptest::collection::vec((0u8..24, 0u32..3, proptest::collection::vec(any::<u8>(), 0..600)), 0..12)
    ) {
        let mut client = after_handshake();
        let mut enc = rtmp::ChunkEncoder::new();
        for (type_id, stream_id, payload) in msgs {
            let mut out = Vec::new();
            let msg = rtmp::Message { csid: 3, timestamp: 0, type_id, stream_id, payload: payload.into() };
            if enc.encode(&msg, &mut out).is_err() {
                continue;
            }
            if client.handle_input(&out).is_err() {
                break;
            }
            while client.poll_event().is_some() {}
            while client.poll_output().is_some() {}
        }
    }
}
