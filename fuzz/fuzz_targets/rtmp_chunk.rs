#![no_main]
use libfuzzer_sys::fuzz_target;
use media::rtmp::{self, ChunkDecoder, ServerConfig, ServerSession, SessionEvent};

fuzz_target!(|data: &[u8]| {
    // the chunk decoder, fed in two pieces split where the first byte says
    let split = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let (a, b) = data.split_at(split);
    let mut dec = ChunkDecoder::new();
    // BytesMut, inferred from `decode` (fuzz/Cargo.toml does not depend on `bytes`)
    let mut buf = Default::default();
    let _ = dec.decode(&mut buf);
    'outer: for piece in [a, b] {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(msg)) => {
                    assert!(msg.payload.len() <= rtmp::MAX_MESSAGE_SIZE as usize);
                    // the typed layers on every message
                    let _ = rtmp::message::Control::parse(msg.type_id, &msg.payload);
                    let _ = rtmp::message::Command::parse(&msg.payload);
                }
                Ok(None) => break,
                Err(_) => break 'outer,
            }
        }
        assert!(dec.buffered_bytes() <= rtmp::MAX_BUFFERED_BYTES);
    }

    // a server session after a valid handshake, in the same two pieces
    let mut session = ServerSession::new(ServerConfig::default());
    let mut handshake = vec![rtmp::handshake::RTMP_VERSION];
    handshake.resize(1 + 2 * rtmp::handshake::HANDSHAKE_SIZE, 0);
    session.handle_input(&handshake).expect("valid handshake");
    for piece in [a, b] {
        let failed = session.handle_input(piece).is_err();
        while let Some(e) = session.poll_event() {
            if matches!(e, SessionEvent::Publish { .. }) {
                // alternate answers to reach both paths; the publish may have
                // ended already later in the same input, so errors are fine
                let _ = if data.len() % 2 == 0 {
                    session.accept_publish()
                } else {
                    session.reject_publish("fuzz")
                };
            }
        }
        while session.poll_output().is_some() {}
        if failed {
            assert!(session.is_closed());
            break;
        }
    }
    session.handle_eof();
    while session.poll_event().is_some() {}
});
