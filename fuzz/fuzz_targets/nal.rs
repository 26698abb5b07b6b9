#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let canon = media::nal::annexb_to_length_prefixed(data);
    let mut back = Vec::new();
    media::nal::length_prefixed_to_annexb(&canon, &mut back).expect("our own output is well-formed");
    assert_eq!(media::nal::annexb_to_length_prefixed(&back), canon);
    for ls in [1, 2, 4] {
        let _ = media::nal::to_canonical(data, ls);
    }
    let _ = media::h264::AvcConfig::parse(data).map(|c| c.encode());
    let _ = media::h265::HevcConfig::parse(data).map(|c| c.encode());
});
