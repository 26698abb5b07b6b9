#![no_main]
use libfuzzer_sys::fuzz_target;
use media::rtmp::client::{ClientConfig, ClientEvent, ClientSession};
use media::rtmp::handshake::{HANDSHAKE_SIZE, RTMP_VERSION};

fuzz_target!(|data: &[u8]| {
    // the server's bytes, in two pieces split where the first byte says,
    // to a client still in the handshake and to one past it
    let split = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let (a, b) = data.split_at(split);
    let mut handshake = vec![RTMP_VERSION];
    handshake.resize(1 + 2 * HANDSHAKE_SIZE, 0);
    for skip_handshake in [false, true] {
        let mut client = ClientSession::new(ClientConfig::new("rtmp://h/live", "live", "key"));
        if skip_handshake {
            client.handle_input(&handshake).expect("valid handshake");
        }
        for piece in [a, b] {
            let failed = client.handle_input(piece).is_err();
            while let Some(e) = client.poll_event() {
                // the session may have failed later in the same input
                if let ClientEvent::Publishing { .. } = e {
                    let _ = client.send_video(0, Default::default());
                }
            }
            while client.poll_output().is_some() {}
            if failed {
                assert!(client.is_closed());
                break;
            }
        }
        let _ = client.handle_eof();
        assert!(client.is_closed());
    }
});
