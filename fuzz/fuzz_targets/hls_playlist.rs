#![no_main]
use libfuzzer_sys::fuzz_target;
use media::hls::{self, Playlist};

fuzz_target!(|data: &[u8]| {
    let Ok(playlist) = hls::parse_bytes(data) else {
        return;
    };
    // what we read, we write; reading that back gives the same model
    let written = playlist.to_string();
    let back = hls::parse(&written).expect("our own output parses");
    match (&playlist, &back) {
        // a map cannot be removed once given, and a segment may repeat the
        // previous map: compare what the writer can express
        (Playlist::Media(a), Playlist::Media(b)) => {
            assert_eq!(a.segments.len(), b.segments.len());
            for (x, y) in a.segments.iter().zip(&b.segments) {
                assert_eq!((x.sequence, x.duration, &x.uri), (y.sequence, y.duration, &y.uri));
                assert_eq!(x.byte_range, y.byte_range);
            }
            assert_eq!(a.is_live(), b.is_live());
        }
        (Playlist::Multivariant(a), Playlist::Multivariant(b)) => assert_eq!(a, b),
        _ => panic!("kind changed on re-parse:\n{written}"),
    }
    // relative URIs resolve against any absolute base without panicking
    if let Playlist::Media(p) = &playlist {
        for s in &p.segments {
            let _ = hls::resolve("http://host/a/b/index.m3u8?x=1", &s.uri);
        }
    }
});
