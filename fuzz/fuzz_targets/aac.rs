#![no_main]
use libfuzzer_sys::fuzz_target;
use media::aac::{AdtsHeader, AudioSpecificConfig};

fuzz_target!(|data: &[u8]| {
    if let Ok(asc) = AudioSpecificConfig::parse(data) {
        let _ = asc.encode();
    }
    if let Ok(h) = AdtsHeader::parse(data, 0) {
        assert!(h.frame_len >= h.header_len);
    }
    // whole file, and the incremental reader fed in two pieces
    let whole = media::adts::read_all(data);
    if let Ok(demuxed) = &whole {
        // what we read, we can write, and reading that back gives the same frames
        let written =
            media::adts::write_all(&demuxed.tracks, &demuxed.frames).expect("adts we read is writable");
        assert_eq!(
            media::adts::read_all(&written)
                .expect("our own output parses")
                .frames,
            demuxed.frames
        );
    }
    let mut reader = media::adts::Reader::new();
    let split = data.len() / 2;
    let mut frames = 0;
    for part in [&data[..split], &data[split..]] {
        reader.push(part);
        while let Ok(Some(event)) = reader.poll() {
            if let media::adts::Event::Frame(_) = event {
                frames += 1;
            }
        }
    }
    if let Ok(demuxed) = whole {
        assert_eq!(frames, demuxed.frames.len());
    }
});
