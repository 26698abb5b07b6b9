#![no_main]
//! The VP8 key frame header parser on arbitrary bytes: never a panic, and
//! an accepted header is a key frame with a size inside 14 bits.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = media::vp8::KeyframeHeader::parse(data) {
        assert!(media::vp8::is_keyframe(data));
        assert!(header.width > 0 && header.width < 1 << 14);
        assert!(header.height > 0 && header.height < 1 << 14);
        let info = header.video_info();
        assert_eq!(media::vp8::video_info(data), Ok(info));
    }
});
