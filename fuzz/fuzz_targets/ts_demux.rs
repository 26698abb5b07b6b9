#![no_main]
use libfuzzer_sys::fuzz_target;
use media::ts::{Demuxer, Event};

fuzz_target!(|data: &[u8]| {
    // the first byte picks where the input is split into two chunks
    let split = data.first().map_or(0, |&b| usize::from(b) * data.len() / 256);
    let (a, b) = data.split_at(split.min(data.len()));
    let mut demuxer = Demuxer::new();
    demuxer.feed(a);
    demuxer.feed(b);
    demuxer.finish();
    let mut frames = Vec::new();
    while let Some(event) = demuxer.poll_event() {
        if let Event::Frame(f) = event {
            frames.push(f);
        }
    }
    if let Ok(whole) = media::ts::read_all(data) {
        // chunking must not change what is read
        assert_eq!(whole.frames, frames);
        // whatever we read, our muxer can write and read back
        if let Ok(out) = media::ts::write_all(&whole.tracks, &whole.frames) {
            let _ = media::ts::read_all(&out);
        }
    }
});
