#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // as SPS and VPS NAL units (forcing the type so the parsers get past the header)
    if data.len() >= 2 {
        let mut nal = vec![0x42, 0x01];
        nal.extend_from_slice(&data[2..]);
        if let Ok(sps) = media::h265::Sps::parse(&nal) {
            assert!(sps.width > 0 && sps.height > 0);
            let _ = sps.video_info();
        }
        let _ = media::h265::sps_format(&nal);
        nal[0] = 0x40;
        let _ = media::h265::Vps::parse(&nal);
    }
    let _ = media::h265::Sps::parse(data);
    // as an hvcC record
    let _ = media::h265::video_info(data);
});
