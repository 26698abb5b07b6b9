//! Demuxing one downloaded segment: MPEG-TS, or fragmented MP4 with its
//! initialization section.

use std::sync::Arc;

use bytes::Bytes;
use media::{Frame, Track, mp4, ts};

/// A downloaded initialization section (`EXT-X-MAP`).
#[derive(Debug)]
pub(crate) struct Init {
    /// Resolved URL and byte range: a different key is a different section.
    pub(crate) key: String,
    pub(crate) data: Bytes,
}

/// A downloaded media segment, handed from the fetcher to the player.
#[derive(Debug)]
pub(crate) struct Downloaded {
    pub(crate) sequence: u64,
    /// `EXT-X-DISCONTINUITY`, or segments were skipped before this one.
    pub(crate) discontinuity: bool,
    pub(crate) data: Bytes,
    pub(crate) init: Option<Arc<Init>>,
}

/// The tracks and frames of one segment.
#[derive(Debug, Default)]
pub(crate) struct Demuxed {
    pub(crate) tracks: Vec<Track>,
    pub(crate) frames: Vec<Frame>,
    /// Non-fatal problems (count, first one).
    pub(crate) warnings: (usize, Option<String>),
}

/// The fMP4 reader of the current initialization section.
#[derive(Debug, Default)]
pub(crate) struct Fmp4State {
    movie: Option<(String, mp4::Movie)>,
}

/// Demuxes a segment: fMP4 when it has an initialization section or starts
/// with an MP4 box that holds one (`ftyp`/`moov`: self-initializing), MPEG-TS
/// when it starts with a sync byte. Blocking (CPU) work.
pub(crate) fn demux(segment: &Downloaded, fmp4: &mut Fmp4State) -> Result<Demuxed, String> {
    let data = &segment.data;
    if data.is_empty() {
        return Err("empty segment".into());
    }
    if let Some(init) = &segment.init {
        return read_fmp4(fmp4, &init.key, &init.data, data);
    }
    if data.first() == Some(&ts::SYNC_BYTE) {
        return read_ts(data);
    }
    match data.get(4..8) {
        Some(b"ftyp" | b"moov" | b"styp") => read_fmp4(fmp4, "self-initializing segment", data, data),
        _ => Err(format!(
            "segment is neither mpeg-ts nor fragmented mp4 (starts with {:02x?})",
            data.get(..8.min(data.len())).unwrap_or_default()
        )),
    }
}

fn read_ts(data: &[u8]) -> Result<Demuxed, String> {
    let mut demuxer = ts::Demuxer::new();
    demuxer.feed(data);
    demuxer.finish();
    let mut out = Demuxed::default();
    while let Some(event) = demuxer.poll_event() {
        match event {
            ts::Event::Tracks(_) => {}
            ts::Event::Frame(f) => out.frames.push(f),
            // timed metadata (ID3) and other streams: expected in HLS, not a problem
            ts::Event::Warning(ts::Warning::UnsupportedStream { .. }) => {}
            ts::Event::Warning(w) => {
                out.warnings.0 += 1;
                out.warnings.1.get_or_insert_with(|| w.to_string());
            }
        }
    }
    if !demuxer.has_program() {
        return Err("no program (PAT and PMT) in the mpeg-ts segment".into());
    }
    out.tracks = demuxer.tracks();
    unwrap_across_tracks(&mut out.frames);
    Ok(out)
}

/// The TS demuxer unwraps 33-bit timestamps per track, taking each track's
/// first as is: when a segment straddles the wrap, one track may start just
/// before 2^33 and another just after 0. Lift the tracks that started after
/// the wrap by 2^33 so that all tracks of the segment share one timeline.
fn unwrap_across_tracks(frames: &mut [Frame]) {
    const WRAP: i64 = 1 << 33;
    let mut first: Vec<(u32, i64)> = Vec::new();
    for f in frames.iter() {
        if !first.iter().any(|(t, _)| *t == f.track) {
            first.push((f.track, f.dts.ticks()));
        }
    }
    let Some(max) = first.iter().map(|(_, d)| *d).max() else {
        return;
    };
    let lifted: Vec<u32> = first
        .iter()
        .filter(|(_, d)| max - d > WRAP / 2)
        .map(|(t, _)| *t)
        .collect();
    for f in frames.iter_mut().filter(|f| lifted.contains(&f.track)) {
        f.dts = f.dts.add_ticks(WRAP);
        f.pts = f.pts.add_ticks(WRAP);
    }
}

fn read_fmp4(state: &mut Fmp4State, key: &str, init: &[u8], data: &[u8]) -> Result<Demuxed, String> {
    if state.movie.as_ref().is_none_or(|(k, _)| k != key) {
        let movie = mp4::Movie::parse(init).map_err(|e| format!("initialization section {key}: {e}"))?;
        state.movie = Some((key.to_owned(), movie));
    }
    let Some((_, movie)) = state.movie.as_mut() else {
        return Err("no initialization section".into());
    };
    let frames = movie.read_fragment(data).map_err(|e| format!("fragment: {e}"))?;
    Ok(Demuxed {
        tracks: movie.tracks(),
        frames,
        warnings: (0, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::Timestamp;

    #[test]
    fn tracks_straddling_the_33_bit_wrap_share_a_timeline() {
        let f = |track, ticks| {
            let t = Timestamp::new(ticks, 90_000);
            Frame::new(track, t, t, true, vec![0u8])
        };
        let mut frames = vec![f(1, (1 << 33) - 900), f(2, 100), f(1, (1 << 33) + 2700)];
        unwrap_across_tracks(&mut frames);
        assert_eq!(frames[1].dts.ticks(), (1 << 33) + 100);
        assert_eq!(frames[0].dts.ticks(), (1 << 33) - 900);
    }

    #[test]
    fn garbage_is_an_error() {
        let seg = |data: &'static [u8]| Downloaded {
            sequence: 0,
            discontinuity: false,
            data: Bytes::from_static(data),
            init: None,
        };
        let mut state = Fmp4State::default();
        assert!(demux(&seg(b""), &mut state).is_err());
        assert!(
            demux(&seg(b"<html>not found</html>"), &mut state)
                .unwrap_err()
                .contains("neither")
        );
        assert!(demux(&seg(&[0x47; 400]), &mut state).is_err());
        assert!(demux(&seg(b"\0\0\0\x10ftypisom\0\0\0\0"), &mut state).is_err());
    }
}
