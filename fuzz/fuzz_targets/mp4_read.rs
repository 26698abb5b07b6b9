//! Fuzzes the MP4 reader: whole files, and an init segment followed by
//! fragments, on arbitrary bytes. Must never panic or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = media::mp4::read_all(data);
    // the same bytes as an init segment, then as a media segment
    if let Ok(mut movie) = media::mp4::Movie::parse(data) {
        let _ = movie.read_fragment(data);
    }
});
