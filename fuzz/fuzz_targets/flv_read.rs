#![no_main]
use libfuzzer_sys::fuzz_target;
use media::flv;

fuzz_target!(|data: &[u8]| {
    // whole-file reading; what we read we must be able to write and read back the same
    if let Ok(demuxed) = flv::read_all(data) {
        if let Ok(file) = flv::write_all(&demuxed.tracks, &demuxed.frames) {
            let again = flv::read_all(&file).expect("our own output reads back");
            assert_eq!(again.frames, demuxed.frames);
        }
    }

    // incremental reading in chunks whose size comes from the first byte
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut reader = flv::TagReader::new();
    let mut demuxer = flv::Demuxer::new();
    // BytesMut, inferred from `decode` (fuzz/Cargo.toml does not depend on `bytes`)
    let mut buf = Default::default();
    let _ = reader.decode(&mut buf);
    'outer: for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match reader.decode(&mut buf) {
                Ok(Some(tag)) => {
                    let _ = demuxer.handle_tag(&tag);
                }
                Ok(None) => break,
                Err(_) => break 'outer,
            }
        }
    }
    let _ = reader.finish(&buf);

    // the body parsers on their own, as RTMP uses them
    let body = data.to_vec().into();
    let _ = flv::parse_video_body(&body);
    let _ = flv::parse_audio_body(&body);
    let _ = flv::Metadata::parse(data);
    let mut d = flv::Demuxer::new();
    let _ = d.handle_video(0, &body);
    let _ = d.handle_audio(0, &body);
});
