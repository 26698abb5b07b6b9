use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

use super::amf0::Value;
use super::handshake::HANDSHAKE_SIZE;
use super::message::{Command, Control, UserControl, type_id};
use super::*;
use crate::flv;

fn msg(csid: u32, timestamp: u32, type_id: u8, stream_id: u32, payload: &[u8]) -> Message {
    Message {
        csid,
        timestamp,
        type_id,
        stream_id,
        payload: Bytes::copy_from_slice(payload),
    }
}

fn encode(enc: &mut ChunkEncoder, m: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    enc.encode(m, &mut out).unwrap();
    out
}

/// Decodes everything in `data`, which must end on a message boundary.
fn decode_all(dec: &mut ChunkDecoder, data: &[u8]) -> Result<Vec<Message>> {
    let mut buf = BytesMut::from(data);
    let mut out = Vec::new();
    while let Some(m) = dec.decode(&mut buf)? {
        out.push(m);
    }
    assert!(buf.is_empty(), "{} bytes left", buf.len());
    Ok(out)
}

// --- chunk stream ---

#[derive(Debug, Clone)]
enum Op {
    Send(Message),
    ChunkSize(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let csid = prop_oneof![
        2u32..8,
        Just(63u32),
        Just(64u32),
        Just(319u32),
        Just(320u32),
        Just(65599u32)
    ];
    let ts = prop_oneof![0u32..100, 0xff_fff0u32..0x100_0010, any::<u32>()];
    let send = (
        csid,
        ts,
        prop_oneof![Just(8u8), Just(9u8), Just(18u8), Just(20u8)],
        0u32..3,
        prop::collection::vec(any::<u8>(), 0..600),
    )
        .prop_map(|(c, t, ty, s, p)| Op::Send(msg(c, t, ty, s, &p)));
    prop_oneof![8 => send, 1 => (1u32..700).prop_map(Op::ChunkSize)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn chunk_round_trip(ops in prop::collection::vec(op(), 1..24), size in 1u32..400, piece in 1usize..300) {
        let mut enc = ChunkEncoder::new();
        let mut dec = ChunkDecoder::new();
        enc.set_chunk_size(size).unwrap();
        dec.set_chunk_size(size).unwrap();
        let mut wire = Vec::new();
        let mut sent = Vec::new();
        for op in ops {
            let m = match op {
                Op::Send(m) => m,
                Op::ChunkSize(n) => Control::SetChunkSize(n).to_message(),
            };
            enc.encode(&m, &mut wire).unwrap();
            sent.push(m);
        }
        // fed in pieces: only whole chunks are consumed
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for p in wire.chunks(piece) {
            buf.extend_from_slice(p);
            while let Some(m) = dec.decode(&mut buf).unwrap() {
                got.push(m);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(dec.offset(), wire.len() as u64);
        prop_assert_eq!(dec.buffered_bytes(), 0);
        prop_assert_eq!(got, sent);
    }

    #[test]
    fn garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..2048), size in 1u32..300) {
        let mut dec = ChunkDecoder::new();
        dec.set_chunk_size(size).unwrap();
        let mut buf = BytesMut::from(&data[..]);
        // every Ok(Some) consumes at least one byte, so this ends
        while let Ok(Some(_)) = dec.decode(&mut buf) {}
        prop_assert!(dec.buffered_bytes() <= MAX_BUFFERED_BYTES);
        prop_assert!(buf.len() <= data.len());
    }

    #[test]
    fn session_garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut s = ServerSession::new(ServerConfig::default());
        s.handle_input(&client_handshake()).unwrap();
        let _ = s.handle_input(&data);
        while s.poll_event().is_some() {}
        while s.poll_output().is_some() {}
    }
}

#[test]
fn basic_header_forms() {
    // (csid, expected basic header bytes of the first chunk, fmt 0)
    let cases: [(u32, &[u8]); 6] = [
        (2, &[0x02]),
        (63, &[0x3f]),
        (64, &[0x00, 0x00]),
        (319, &[0x00, 0xff]),
        (320, &[0x01, 0x00, 0x01]),
        (65599, &[0x01, 0xff, 0xff]),
    ];
    for (csid, basic) in cases {
        let mut enc = ChunkEncoder::new();
        let m = msg(csid, 1, 9, 1, &[7; 200]);
        let wire = encode(&mut enc, &m);
        assert_eq!(&wire[..basic.len()], basic, "csid {csid}");
        // the continuation chunk: fmt 3, same id form
        let cont = basic.len() + 11 + 128;
        assert_eq!(wire[cont], 0xc0 | basic[0], "csid {csid}");
        assert_eq!(&wire[cont + 1..cont + basic.len()], &basic[1..]);
        assert_eq!(decode_all(&mut ChunkDecoder::new(), &wire).unwrap(), vec![m]);
    }
    // a 3-byte form may name an id of the 2-byte range
    let mut wire = vec![0x01, 0x05, 0x00];
    wire.extend_from_slice(&[0, 0, 10, 0, 0, 1, 20, 0, 0, 0, 0, 0xaa]);
    let got = decode_all(&mut ChunkDecoder::new(), &wire).unwrap();
    assert_eq!(got, vec![msg(69, 10, 20, 0, &[0xaa])]);
    // writing outside 2..=65599 is refused
    let mut enc = ChunkEncoder::new();
    for csid in [0, 1, 65600] {
        assert_eq!(
            enc.encode(&msg(csid, 0, 9, 0, &[]), &mut Vec::new()),
            Err(Error::BadChunkStreamId(csid))
        );
    }
}

#[test]
fn message_header_types() {
    let mut enc = ChunkEncoder::new();
    let wires: Vec<Vec<u8>> = [
        msg(4, 1000, 9, 1, &[1, 2, 3]), // fmt 0: new chunk stream
        msg(4, 1040, 9, 1, &[1, 2]),    // fmt 1: other length
        msg(4, 1100, 9, 1, &[4, 5]),    // fmt 2: same length, delta 60
        msg(4, 1160, 9, 1, &[6, 7]),    // fmt 3: same delta
        msg(4, 1160, 9, 2, &[6, 7]),    // fmt 0: other stream id
        msg(4, 1000, 9, 2, &[6, 7]),    // fmt 0: timestamp going back
    ]
    .iter()
    .map(|m| encode(&mut enc, m))
    .collect();
    let fmts: Vec<u8> = wires.iter().map(|w| w[0] >> 6).collect();
    assert_eq!(fmts, [0, 1, 2, 3, 0, 0]);
    assert_eq!(&wires[2][..4], &[0x84, 0, 0, 60]);
    assert_eq!(wires[3], [0xc4, 6, 7]);
    let mut dec = ChunkDecoder::new();
    let all: Vec<u8> = wires.concat();
    let got = decode_all(&mut dec, &all).unwrap();
    assert_eq!(
        got.iter().map(|m| m.timestamp).collect::<Vec<_>>(),
        [1000, 1040, 1100, 1160, 1160, 1000]
    );
    // fmt 3 starting a message right after fmt 0 adds the fmt 0 timestamp (ffmpeg, SRS)
    let mut wire = vec![0x04, 0, 0, 100, 0, 0, 1, 9, 1, 0, 0, 0, 0xaa];
    wire.extend_from_slice(&[0xc4, 0xbb]);
    let got = decode_all(&mut ChunkDecoder::new(), &wire).unwrap();
    assert_eq!((got[0].timestamp, got[1].timestamp), (100, 200));
    assert_eq!(got[1].payload, Bytes::from_static(&[0xbb]));
}

#[test]
fn extended_timestamps() {
    let mut enc = ChunkEncoder::new();
    let m = msg(6, 0x0100_0000, 9, 1, &[0x55; 300]);
    let wire = encode(&mut enc, &m);
    // fmt 0 with timestamp field 0xffffff, then the extended timestamp
    assert_eq!(&wire[1..4], &[0xff, 0xff, 0xff]);
    assert_eq!(&wire[12..16], &[0x01, 0, 0, 0]);
    // continuation chunks repeat it (§5.3.1.3)
    let c1 = 16 + 128;
    assert_eq!(&wire[c1..c1 + 5], &[0xc6, 0x01, 0, 0, 0]);
    let c2 = c1 + 5 + 128;
    assert_eq!(&wire[c2..c2 + 5], &[0xc6, 0x01, 0, 0, 0]);
    assert_eq!(wire.len(), c2 + 5 + 44);
    // exactly 0xffffff is extended too; deltas too
    let m2 = msg(6, 0x0100_0000 + 0xff_ffff, 9, 1, &[0x66; 300]);
    let wire2 = encode(&mut enc, &m2);
    assert_eq!(wire2[0] >> 6, 2);
    assert_eq!(&wire2[1..8], &[0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff]);
    let mut dec = ChunkDecoder::new();
    assert_eq!(
        decode_all(&mut dec, &[wire, wire2].concat()).unwrap(),
        vec![m.clone(), m2]
    );

    // an old encoder that does not repeat the extended timestamp in continuation chunks
    let mut old = vec![0x06, 0xff, 0xff, 0xff, 0, 1, 44, 9, 1, 0, 0, 0, 1, 0, 0, 0];
    old.extend_from_slice(&[0x55; 128]);
    old.push(0xc6);
    old.extend_from_slice(&[0x55; 128]);
    old.push(0xc6);
    old.extend_from_slice(&[0x55; 44]);
    assert_eq!(decode_all(&mut ChunkDecoder::new(), &old).unwrap(), vec![m]);
}

#[test]
fn interleaved_chunk_streams() {
    // video on csid 6 and audio on csid 4, chunks alternating (chunk size 128)
    let video = msg(6, 40, 9, 1, &[0x17; 300]);
    let audio = msg(4, 42, 8, 1, &[0xaf; 200]);
    let mut wire = vec![0x06, 0, 0, 40, 0, 1, 44, 9, 1, 0, 0, 0];
    wire.extend_from_slice(&[0x17; 128]);
    wire.extend_from_slice(&[0x04, 0, 0, 42, 0, 0, 200, 8, 1, 0, 0, 0]);
    wire.extend_from_slice(&[0xaf; 128]);
    wire.push(0xc6);
    wire.extend_from_slice(&[0x17; 128]);
    wire.push(0xc4);
    wire.extend_from_slice(&[0xaf; 72]);
    wire.push(0xc6);
    wire.extend_from_slice(&[0x17; 44]);
    let mut dec = ChunkDecoder::new();
    assert_eq!(decode_all(&mut dec, &wire).unwrap(), vec![audio, video]);
}

#[test]
fn set_chunk_size_and_abort() {
    for bad in [0x7fff_ffffu32, 0x8000_0000, 0x0100_0000, 0] {
        let mut wire = vec![0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
        wire.extend_from_slice(&bad.to_be_bytes());
        let m = msg(2, 0, 1, 0, &bad.to_be_bytes());
        assert_eq!(
            ChunkEncoder::new().encode(&m, &mut Vec::new()),
            Err(Error::ChunkSizeOutOfRange { size: bad, offset: 0 })
        );
        assert_eq!(
            decode_all(&mut ChunkDecoder::new(), &wire),
            Err(Error::ChunkSizeOutOfRange { size: bad, offset: 0 })
        );
    }
    assert!(ChunkDecoder::new().set_chunk_size(0x7fff_ffff).is_err());
    assert!(ChunkEncoder::new().set_chunk_size(0).is_err());
    // a good one applies to the chunks after it
    let mut enc = ChunkEncoder::new();
    let mut wire = encode(&mut enc, &Control::SetChunkSize(4096).to_message());
    assert_eq!(enc.chunk_size(), 4096);
    let big = msg(6, 0, 9, 1, &[1; 4000]);
    let before = wire.len();
    wire.extend(encode(&mut enc, &big));
    assert_eq!(wire.len() - before, 12 + 4000, "one chunk");
    let mut dec = ChunkDecoder::new();
    assert_eq!(decode_all(&mut dec, &wire).unwrap().len(), 2);
    assert_eq!(dec.chunk_size(), 4096);
    // a truncated set chunk size
    let wire = encode(&mut ChunkEncoder::new(), &msg(2, 0, 1, 0, &[0, 1]));
    assert!(matches!(
        decode_all(&mut ChunkDecoder::new(), &wire),
        Err(Error::BadMessage { .. })
    ));

    // abort: half a message on csid 6, abort, then a new message there
    let mut wire = vec![0x06, 0, 0, 1, 0, 1, 0, 9, 1, 0, 0, 0];
    wire.extend_from_slice(&[9; 128]);
    wire.extend(encode(&mut ChunkEncoder::new(), &Control::Abort(6).to_message()));
    wire.extend_from_slice(&[0x06, 0, 0, 2, 0, 0, 1, 9, 1, 0, 0, 0, 0x42]);
    let mut dec = ChunkDecoder::new();
    let got = decode_all(&mut dec, &wire).unwrap();
    assert_eq!(got[1], msg(6, 2, 9, 1, &[0x42]));
    assert_eq!(dec.buffered_bytes(), 0);
}

#[test]
fn hostile_headers_are_errors() {
    let err = |wire: &[u8]| {
        let mut buf = BytesMut::from(wire);
        let mut dec = ChunkDecoder::new();
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => return Some(e),
            }
        }
    };
    // a message of 16 MiB - 1
    assert_eq!(
        err(&[0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0]),
        Some(Error::MessageTooLarge {
            size: 0xff_ffff,
            offset: 0
        })
    );
    // fmt 1 and fmt 3 without a previous header
    assert!(matches!(
        err(&[0x46, 0, 0, 0, 0, 0, 1, 9, 5]),
        Some(Error::NoPreviousHeader { fmt: 1, .. })
    ));
    assert!(matches!(
        err(&[0xc6, 5]),
        Some(Error::NoPreviousHeader { fmt: 3, .. })
    ));
    // a new header in the middle of a message
    let mut wire = vec![0x06, 0, 0, 0, 0, 1, 0, 9, 1, 0, 0, 0];
    wire.extend_from_slice(&[0; 128]);
    wire.extend_from_slice(&[0x86, 0, 0, 1]);
    assert_eq!(err(&wire), Some(Error::HeaderMidMessage { csid: 6, offset: 140 }));
    // too many incomplete messages
    let mut wire = Vec::new();
    for csid in 3..3 + MAX_IN_FLIGHT as u8 + 1 {
        wire.extend_from_slice(&[csid, 0, 0, 0, 0, 1, 0, 9, 1, 0, 0, 0]);
        wire.extend_from_slice(&[0; 128]);
    }
    assert!(matches!(
        err(&wire),
        Some(Error::TooManyStreams {
            max: MAX_IN_FLIGHT,
            ..
        })
    ));
    // too many chunk streams (empty messages, each complete)
    let mut wire = Vec::new();
    for id in 0..=MAX_CHUNK_STREAMS as u8 {
        wire.extend_from_slice(&[0, id, 0, 0, 0, 0, 0, 0, 9, 1, 0, 0, 0]);
    }
    assert!(matches!(
        err(&wire),
        Some(Error::TooManyStreams {
            max: MAX_CHUNK_STREAMS,
            ..
        })
    ));
    // incomplete messages holding too much: 8 MiB messages in 4 MiB chunks
    let len = MAX_MESSAGE_SIZE.to_be_bytes();
    let mut dec = ChunkDecoder::new();
    dec.set_chunk_size(4 << 20).unwrap();
    let mut buf = BytesMut::new();
    for csid in 3..9u8 {
        buf.extend_from_slice(&[csid, 0, 0, 0, len[1], len[2], len[3], 9, 1, 0, 0, 0]);
        buf.extend_from_slice(&vec![0; 4 << 20]);
    }
    assert!(matches!(dec.decode(&mut buf), Err(Error::TooMuchBuffered { .. })));
    assert!(dec.buffered_bytes() <= MAX_BUFFERED_BYTES);
}

// --- session, driven by a scripted client ---

/// C0 + C1 + C2 (C2 need not echo S1: the server does not check it).
fn client_handshake() -> Vec<u8> {
    let mut hs = vec![3u8];
    hs.extend(std::iter::repeat_n(0x11, 2 * HANDSHAKE_SIZE));
    hs
}

/// The client side: our own chunk codec and AMF0 commands.
struct Client {
    server: ServerSession,
    enc: ChunkEncoder,
    dec: ChunkDecoder,
    received: BytesMut,
    handshake_left: usize,
    txn: f64,
}

impl Client {
    fn connect(app: &str, tc_url: &str) -> Self {
        let mut c = Self {
            server: ServerSession::new(ServerConfig::default()),
            enc: ChunkEncoder::new(),
            dec: ChunkDecoder::new(),
            received: BytesMut::new(),
            handshake_left: 1 + 2 * HANDSHAKE_SIZE,
            txn: 0.0,
        };
        c.server.handle_input(&client_handshake()).unwrap();
        let obj = Value::object([
            ("app", Value::string(app)),
            ("type", Value::string("nonprivate")),
            ("tcUrl", Value::string(tc_url)),
        ]);
        c.call("connect", 0, obj, vec![]);
        c
    }

    fn send(&mut self, m: &Message) {
        let mut out = Vec::new();
        self.enc.encode(m, &mut out).unwrap();
        self.server.handle_input(&out).unwrap();
    }

    fn call(&mut self, name: &str, stream_id: u32, object: Value, args: Vec<Value>) {
        self.txn += 1.0;
        let m = Command::new(name, self.txn, object, args).to_message(3, stream_id);
        self.send(&m);
    }

    /// Messages the server sent since the last call.
    fn replies(&mut self) -> Vec<Message> {
        while let Some(b) = self.server.poll_output() {
            self.received.extend_from_slice(&b);
        }
        let skip = self.handshake_left.min(self.received.len());
        let _ = self.received.split_to(skip);
        self.handshake_left -= skip;
        let mut out = Vec::new();
        while let Some(m) = self.dec.decode(&mut self.received).unwrap() {
            out.push(m);
        }
        out
    }

    fn commands(&mut self) -> Vec<Command> {
        self.replies()
            .into_iter()
            .filter(|m| m.type_id == type_id::COMMAND_AMF0)
            .map(|m| Command::parse(&m.payload).unwrap())
            .collect()
    }

    fn events(&mut self) -> Vec<SessionEvent> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }
}

fn code(c: &Command) -> &str {
    c.args
        .first()
        .and_then(|i| i.property("code"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A client connected, with stream 1 created and `publish(name)` sent.
fn publishing(name: &str) -> Client {
    let mut c = Client::connect("live", "rtmp://127.0.0.1:1935/live");
    c.call("releaseStream", 0, Value::Null, vec![Value::string(name)]);
    c.call("FCPublish", 0, Value::Null, vec![Value::string(name)]);
    c.call("createStream", 0, Value::Null, vec![]);
    c.call(
        "publish",
        1,
        Value::Null,
        vec![Value::string(name), Value::string("live")],
    );
    c
}

#[test]
fn connect_answers() {
    let mut c = Client::connect("live?key=k", "rtmp://h/live?key=k");
    let replies = c.replies();
    let controls: Vec<_> = replies
        .iter()
        .filter_map(|m| Control::parse(m.type_id, &m.payload).unwrap())
        .collect();
    assert_eq!(
        controls,
        [
            Control::WindowAckSize(2_500_000),
            Control::SetPeerBandwidth {
                size: 2_500_000,
                limit: 2
            },
            Control::SetChunkSize(4096)
        ]
    );
    assert_eq!(c.dec.chunk_size(), 4096);
    let result = Command::parse(&replies[3].payload).unwrap();
    assert_eq!((result.name.as_str(), result.transaction_id), ("_result", 1.0));
    assert_eq!(code(&result), "NetConnection.Connect.Success");
    assert_eq!(
        c.events(),
        [SessionEvent::Connect {
            app: "live".into(),
            tc_url: Some("rtmp://h/live?key=k".into())
        }]
    );
}

#[test]
fn publish_flow_gives_flv_frames() {
    let mut c = publishing("cam1?key=secret");
    let cmds = c.commands();
    let names: Vec<_> = cmds.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["_result", "_result", "_result", "onFCPublish", "_result"]);
    assert_eq!(cmds[4].args, [Value::Number(1.0)], "createStream gives stream 1");
    let events = c.events();
    assert_eq!(
        events[1],
        SessionEvent::Publish {
            app: "live".into(),
            stream_name: "cam1".into(),
            key: Some("secret".into()),
            publishing_type: "live".into()
        }
    );
    // media before the answer is dropped
    c.send(&msg(6, 0, 9, 1, &[0x17, 1, 0, 0, 0]));
    assert!(c.events().is_empty());
    c.server.accept_publish().unwrap();
    assert_eq!(c.server.accept_publish(), Err(Error::NoPendingPublish));
    let replies = c.replies();
    assert_eq!(
        Control::parse(replies[0].type_id, &replies[0].payload).unwrap(),
        Some(Control::UserControl(UserControl::StreamBegin(1)))
    );
    let status = Command::parse(&replies[1].payload).unwrap();
    assert_eq!(
        (status.name.as_str(), code(&status)),
        ("onStatus", "NetStream.Publish.Start")
    );
    assert_eq!(replies[1].stream_id, 1);

    // metadata, sequence headers and frames, as ffmpeg sends them
    let meta = flv::Metadata {
        width: Some(320.0),
        height: Some(240.0),
        ..Default::default()
    };
    let mut data = Vec::new();
    Value::string("@setDataFrame").encode(&mut data);
    meta.encode(&mut data);
    c.send(&msg(4, 0, type_id::DATA_AMF0, 1, &data));
    let sps = [0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
    let pps = [0x68, 0xeb, 0xe3, 0xcb];
    let avcc = crate::h264::AvcConfig::from_parameter_sets(&[&sps], &[&pps])
        .unwrap()
        .encode();
    let mut body = Vec::new();
    flv::video_body(
        &crate::Codec::H264,
        flv::VideoPacket::SequenceHeader(avcc),
        &mut body,
    )
    .unwrap();
    c.send(&msg(6, 0, type_id::VIDEO, 1, &body));
    let mut body = Vec::new();
    flv::audio_body(
        flv::AudioPacket::SequenceHeader(Bytes::from_static(&[0x11, 0x90])),
        &mut body,
    );
    c.send(&msg(4, 0, type_id::AUDIO, 1, &body));
    for i in 0..10u32 {
        let mut frame = BytesMut::new();
        frame.put_u32(3);
        frame.put_slice(&[if i == 0 { 0x65 } else { 0x41 }, 0x88, i as u8]);
        let packet = flv::VideoPacket::Frame {
            keyframe: i == 0,
            cts: 0,
            data: frame.freeze(),
        };
        let mut body = Vec::new();
        flv::video_body(&crate::Codec::H264, packet, &mut body).unwrap();
        c.send(&msg(6, i * 40, type_id::VIDEO, 1, &body));
        let mut body = Vec::new();
        flv::audio_body(flv::AudioPacket::Frame(Bytes::from(vec![0x21; 300])), &mut body);
        c.send(&msg(4, i * 21, type_id::AUDIO, 1, &body));
    }
    let mut demuxer = flv::Demuxer::new();
    let (mut tracks, mut frames, mut metadata) = (Vec::new(), Vec::new(), None);
    for e in c.events() {
        let out = match e {
            SessionEvent::Video { timestamp_ms, body } => demuxer.handle_video(timestamp_ms, &body),
            SessionEvent::Audio { timestamp_ms, body } => demuxer.handle_audio(timestamp_ms, &body),
            SessionEvent::Metadata(m) => {
                metadata = Some(m);
                continue;
            }
            other => panic!("unexpected {other:?}"),
        };
        match out.unwrap() {
            Some(flv::Event::Track(t)) => tracks.push(t),
            Some(flv::Event::Frame(f)) => frames.push(f),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(metadata, Some(meta));
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].codec, crate::Codec::H264);
    assert_eq!(tracks[1].codec, crate::Codec::Aac);
    assert_eq!(frames.len(), 20);
    assert!(frames[0].keyframe);
    assert_eq!(frames[2].dts.ticks(), 40);

    // end: FCUnpublish, deleteStream, then the client closes
    c.call(
        "FCUnpublish",
        0,
        Value::Null,
        vec![Value::string("cam1?key=secret")],
    );
    c.call("deleteStream", 0, Value::Null, vec![Value::Number(1.0)]);
    c.server.handle_eof();
    assert_eq!(
        c.events(),
        [
            SessionEvent::Unpublish {
                stream_name: "cam1".into()
            },
            SessionEvent::DeleteStream { stream_id: 1 },
            SessionEvent::Closed
        ]
    );
    assert!(c.server.is_closed());
    assert_eq!(c.server.handle_input(&[0]), Err(Error::Closed));
}

#[test]
fn reject_publish_sends_bad_name() {
    let mut c = publishing("cam1?key=wrong");
    c.replies();
    c.server.reject_publish("bad key").unwrap();
    assert_eq!(c.server.reject_publish("again"), Err(Error::NoPendingPublish));
    let cmds = c.commands();
    assert_eq!(cmds.len(), 1);
    assert_eq!(code(&cmds[0]), "NetStream.Publish.BadName");
    assert_eq!(cmds[0].args[0].property("level"), Some(&Value::string("error")));
    assert_eq!(
        cmds[0].args[0].property("description"),
        Some(&Value::string("bad key"))
    );
    c.events();
    c.send(&msg(6, 0, 9, 1, &[0x17, 1, 0, 0, 0]));
    c.server.handle_eof();
    assert_eq!(c.events(), [SessionEvent::Closed], "no media, no unpublish");
}

#[test]
fn publish_checks() {
    // publish on a stream that was never created, an empty name, a second publish
    let mut c = Client::connect("live", "rtmp://h/live");
    c.call("publish", 7, Value::Null, vec![Value::string("cam")]);
    c.call("createStream", 0, Value::Null, vec![]);
    c.call("publish", 1, Value::Null, vec![Value::string("")]);
    c.call("publish", 1, Value::Null, vec![Value::string("a")]);
    c.call("publish", 1, Value::Null, vec![Value::string("b")]);
    let codes: Vec<_> = c.commands().iter().skip(1).map(|c| code(c).to_owned()).collect();
    assert_eq!(
        codes,
        [
            "NetStream.Publish.BadName",
            "",
            "NetStream.Publish.BadName",
            "NetStream.Publish.BadName"
        ]
    );
    let publishes = c
        .events()
        .into_iter()
        .filter(|e| matches!(e, SessionEvent::Publish { .. }))
        .count();
    assert_eq!(publishes, 1);
}

#[test]
fn play_unknown_ping_and_acks() {
    let mut c = Client::connect("live", "rtmp://h/live");
    c.replies();
    c.call("createStream", 0, Value::Null, vec![]);
    c.call("play", 1, Value::Null, vec![Value::string("cam1?key=x")]);
    c.call("getStreamLength", 0, Value::Null, vec![]);
    let cmds = c.commands();
    assert_eq!(code(&cmds[1]), "NetStream.Play.Failed");
    assert_eq!(
        (cmds[2].name.as_str(), code(&cmds[2])),
        ("_error", "NetConnection.Call.Failed")
    );
    assert!(c.events().contains(&SessionEvent::Play {
        app: "live".into(),
        stream_name: "cam1".into(),
        key: Some("x".into())
    }));
    // ping
    c.send(&Control::UserControl(UserControl::PingRequest(1234)).to_message());
    let r = c.replies();
    assert_eq!(
        Control::parse(r[0].type_id, &r[0].payload).unwrap(),
        Some(Control::UserControl(UserControl::PingResponse(1234)))
    );
    // acknowledgements after the client's window
    c.send(&Control::WindowAckSize(1000).to_message());
    c.replies();
    c.send(&msg(6, 0, 9, 1, &[0; 2000]));
    let r = c.replies();
    assert_eq!(r.len(), 1);
    match Control::parse(r[0].type_id, &r[0].payload).unwrap() {
        Some(Control::Acknowledgement(n)) => assert!(n > 3000, "{n}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn commands_before_connect_and_oversized() {
    let mut s = ServerSession::new(ServerConfig::default());
    s.handle_input(&client_handshake()).unwrap();
    let mut enc = ChunkEncoder::new();
    let mut out = Vec::new();
    enc.encode(
        &Command::new("createStream", 2.0, Value::Null, vec![]).to_message(3, 0),
        &mut out,
    )
    .unwrap();
    s.handle_input(&out).unwrap();
    assert!(s.poll_output().is_some(), "an _error");
    let big = Command::new("x", 0.0, Value::string("y".repeat(MAX_COMMAND_SIZE)), vec![]);
    let mut out = Vec::new();
    enc.encode(&big.to_message(3, 0), &mut out).unwrap();
    assert!(matches!(s.handle_input(&out), Err(Error::CommandTooLarge(_))));
    assert_eq!(s.poll_event(), Some(SessionEvent::Closed));
}

#[test]
fn aggregate_messages() {
    let mut c = publishing("cam1");
    c.server.accept_publish().unwrap();
    c.events();
    let mut agg = Vec::new();
    for (ty, ts, body) in [(9u8, 1000u32, &[0x17u8, 2][..]), (8, 1020, &[0xaf, 1, 5][..])] {
        agg.push(ty);
        agg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        agg.extend_from_slice(&ts.to_be_bytes()[1..]);
        agg.push((ts >> 24) as u8);
        agg.extend_from_slice(&[0, 0, 0]);
        agg.extend_from_slice(body);
        agg.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
    }
    c.send(&msg(6, 500, type_id::AGGREGATE, 1, &agg));
    assert_eq!(
        c.events(),
        [
            SessionEvent::Video {
                timestamp_ms: 500,
                body: Bytes::from_static(&[0x17, 2])
            },
            SessionEvent::Audio {
                timestamp_ms: 520,
                body: Bytes::from_static(&[0xaf, 1, 5])
            }
        ]
    );
}

#[test]
fn byte_by_byte_input() {
    // the whole client side of a publish, fed one byte at a time
    let mut wire = client_handshake();
    let mut enc = ChunkEncoder::new();
    let obj = Value::object([
        ("app", Value::string("live")),
        ("tcUrl", Value::string("rtmp://h/live")),
    ]);
    let cmds = [
        (Command::new("connect", 1.0, obj, vec![]), 0),
        (Command::new("createStream", 2.0, Value::Null, vec![]), 0),
        (
            Command::new("publish", 3.0, Value::Null, vec![Value::string("cam1?key=k")]),
            1,
        ),
    ];
    for (c, stream) in cmds {
        enc.encode(&c.to_message(3, stream), &mut wire).unwrap();
    }
    let mut s = ServerSession::new(ServerConfig::default());
    let mut out = 0;
    for b in &wire {
        s.handle_input(std::slice::from_ref(b)).unwrap();
        while let Some(o) = s.poll_output() {
            out += o.len();
        }
    }
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert_eq!(events.len(), 2);
    assert!(
        matches!(&events[1], SessionEvent::Publish { stream_name, key: Some(k), .. }
        if stream_name == "cam1" && k == "k")
    );
    assert!(out > 1 + 2 * HANDSHAKE_SIZE);
}
