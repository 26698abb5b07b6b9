#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // as an SPS NAL unit (forcing the type so the parser gets past the header)
    if let Some((_, rest)) = data.split_first() {
        let mut nal = vec![0x67];
        nal.extend_from_slice(rest);
        if let Ok(sps) = media::h264::Sps::parse(&nal) {
            assert!(sps.width > 0 && sps.height > 0);
            let _ = sps.video_info();
        }
    }
    let _ = media::h264::Sps::parse(data);
    // as an avcC record
    let _ = media::h264::video_info(data);
});
