//! Whole-file writing: init segment plus one fragment per GOP.

use std::cmp::Ordering;

use super::{Error, FragmentWriter, Result};
use crate::{Frame, Timestamp, Track};

/// Fragment length when there is no video track to cut at keyframes.
const AUDIO_FRAGMENT_SECONDS: i64 = 1;

/// Writes a fragmented MP4 file: the init segment, then one fragment per GOP
/// of the first video track (a new fragment at each of its keyframes), or per
/// second of the first track when there is no video.
///
/// `frames` are in file (decode) order per track; tracks may be interleaved in
/// any way. Frames of the cutting track go into fragments in decode order;
/// frames of other tracks go into the fragment whose keyframe presentation
/// time their dts has reached. Tracks whose decode times start below zero are
/// shifted up, with an edit list putting presentation times back (see
/// [`FragmentWriter::set_decode_shift`]).
///
/// The result is exactly what [`FragmentWriter::write_init`] followed by
/// [`FragmentWriter::write_fragment`] for each fragment (sequence numbers from
/// 1, `next_dts` from the following fragment) writes.
pub fn write_all(tracks: &[Track], frames: &[Frame]) -> Result<Vec<u8>> {
    let mut writer = FragmentWriter::new(tracks)?;
    let n = tracks.len();

    // Per frame: its track index; per track: decode order and lowest dts.
    let mut track_of = Vec::with_capacity(frames.len());
    let mut last_dts: Vec<Option<i64>> = vec![None; n];
    let mut min_dts = vec![0i64; n];
    for (i, f) in frames.iter().enumerate() {
        let t = writer.index(f.track).ok_or(Error::UnknownTrack {
            track: f.track,
            frame: i,
        })?;
        let dts = f.dts.rescale(writer.timescale(t)).ticks();
        if let Some(last) = last_dts.get_mut(t) {
            if last.is_some_and(|l| dts < l) {
                return Err(Error::DtsOutOfOrder {
                    track: f.track,
                    frame: i,
                });
            }
            *last = Some(dts);
        }
        if let Some(m) = min_dts.get_mut(t) {
            *m = (*m).min(dts);
        }
        track_of.push(t);
    }
    for (track, min) in tracks.iter().zip(&min_dts) {
        if *min < 0 {
            writer.set_decode_shift(track.id, min.unsigned_abs())?;
        }
    }

    let fragment_of = assign_fragments(tracks, frames, &track_of, &writer);
    let fragments = fragment_of.iter().max().map_or(0, |m| m + 1);

    // Frame indices grouped by fragment (counting sort, file order kept).
    let mut starts = vec![0usize; fragments + 1];
    for &k in &fragment_of {
        starts[k + 1] += 1;
    }
    for k in 0..fragments {
        starts[k + 1] += starts[k];
    }
    let mut order = vec![0usize; frames.len()];
    let mut fill = starts.clone();
    for (i, &k) in fragment_of.iter().enumerate() {
        order[fill[k]] = i;
        fill[k] += 1;
    }

    // The next frame of the same track, for each frame.
    let mut next_in_track = vec![None; frames.len()];
    let mut seen: Vec<Option<usize>> = vec![None; n];
    for i in (0..frames.len()).rev() {
        next_in_track[i] = seen[track_of[i]];
        seen[track_of[i]] = Some(i);
    }

    let payload: usize = frames.iter().map(|f| f.data.len()).sum();
    let mut out = Vec::with_capacity(payload + 16 * frames.len() + 200 * fragments + 1024 * (n + 1));
    writer.write_init(&mut out);
    let mut batch: Vec<&Frame> = Vec::new();
    let mut next: Vec<(u32, Timestamp)> = Vec::with_capacity(n);
    for k in 0..fragments {
        let indices = &order[starts[k]..starts[k + 1]];
        batch.clear();
        batch.extend(indices.iter().map(|&i| &frames[i]));
        next.clear();
        for (t, track) in tracks.iter().enumerate() {
            let last = indices.iter().rev().find(|&&i| track_of[i] == t);
            if let Some(j) = last.and_then(|&i| next_in_track[i]) {
                next.push((track.id, frames[j].dts));
            }
        }
        // Sequence numbers count from 1; more than 2^32 fragments wrap.
        let seq = (k as u32).wrapping_add(1);
        writer.write_fragment(seq, &batch, &next, &mut out)?;
    }
    Ok(out)
}

/// Fragment index of every frame (see [`write_all`]).
fn assign_fragments(
    tracks: &[Track],
    frames: &[Frame],
    track_of: &[usize],
    w: &FragmentWriter,
) -> Vec<usize> {
    let cutter = tracks.iter().position(|t| t.codec.is_video()).unwrap_or(0);
    let video = tracks.get(cutter).is_some_and(|t| t.codec.is_video());
    let timescale = w.timescale(cutter);
    // Presentation times at which fragments 1, 2, ... start.
    let mut bounds: Vec<Timestamp> = Vec::new();
    let mut fragment_of = vec![0usize; frames.len()];
    let mut start: Option<i64> = None;
    for (i, f) in frames.iter().enumerate() {
        if track_of[i] != cutter {
            continue;
        }
        let dts = f.dts.rescale(timescale).ticks();
        let cut = match start {
            None => false,
            Some(_) if video => f.keyframe,
            Some(s) => dts.saturating_sub(s) >= AUDIO_FRAGMENT_SECONDS * i64::from(timescale),
        };
        if cut {
            bounds.push(if video { f.pts } else { f.dts });
        }
        if cut || start.is_none() {
            start = Some(dts);
        }
        fragment_of[i] = bounds.len();
    }
    for (i, f) in frames.iter().enumerate() {
        if track_of[i] != cutter {
            fragment_of[i] = bounds.partition_point(|b| cmp(*b, f.dts) != Ordering::Greater);
        }
    }
    // Keep each track's fragments in decode order even where a later frame's
    // dts sorts before an earlier keyframe's presentation time.
    let mut floor = vec![0usize; tracks.len()];
    for (i, k) in fragment_of.iter_mut().enumerate() {
        if let Some(m) = floor.get_mut(track_of[i]) {
            *k = (*k).max(*m);
            *m = *k;
        }
    }
    fragment_of
}

/// Orders two instants of possibly different timescales exactly.
fn cmp(a: Timestamp, b: Timestamp) -> Ordering {
    let l = i128::from(a.ticks()) * i128::from(b.timescale());
    let r = i128::from(b.ticks()) * i128::from(a.timescale());
    l.cmp(&r)
}
