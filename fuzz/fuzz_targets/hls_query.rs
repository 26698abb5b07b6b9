#![no_main]
//! LL-HLS delivery directives from arbitrary query strings: a value or an error, never a panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = std::str::from_utf8(data) {
        let _ = media::hls::request::Directives::parse(q);
    }
});
