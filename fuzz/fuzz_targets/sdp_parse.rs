#![no_main]
//! SDP parsing, writing and RTP track derivation on arbitrary bytes.
use libfuzzer_sys::fuzz_target;
use media::sdp::{MAX_LINES, MAX_SDP_LEN, SessionDescription, Source};

fuzz_target!(|data: &[u8]| {
    let Ok(sd) = SessionDescription::parse_bytes(data) else {
        return;
    };
    // what we parse, we write, and read back the same (within the input limits:
    // CRLF endings and the default t= line can make the text longer)
    let written = sd.to_string();
    if written.len() <= MAX_SDP_LEN && written.split('\n').count() <= MAX_LINES {
        assert_eq!(SessionDescription::parse(&written).as_ref(), Ok(&sd));
    }
    if let Ok(tracks) = Source::from_session(&sd) {
        for (id, t) in (1u32..).zip(&tracks) {
            let _ = t.track(id);
        }
    }
});
