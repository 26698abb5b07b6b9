//! Video on demand: a file (TS, FLV, MP4, ADTS) played as a live stream in
//! real time, optionally looped.

use std::sync::Arc;
use std::time::Duration;

use hub::LiveStream;
use media::container::{Demuxed, Format};
use media::{Frame, Timestamp};
use spec::source::{FileFormat, FileSource};

/// Largest file read into memory.
pub const MAX_FILE_SIZE: u64 = 2 << 30;

/// Reads and demuxes the whole file.
pub async fn load(source: &FileSource) -> Result<Demuxed, String> {
    let size = tokio::fs::metadata(&source.path)
        .await
        .map_err(|e| format!("{}: {e}", source.path))?
        .len();
    if size > MAX_FILE_SIZE {
        return Err(format!(
            "{}: {size} bytes is more than the {MAX_FILE_SIZE} bytes a file source may have",
            source.path
        ));
    }
    let data = tokio::fs::read(&source.path)
        .await
        .map_err(|e| format!("{}: {e}", source.path))?;
    let format = match source.format {
        FileFormat::Ts => Format::Ts,
        FileFormat::Flv => Format::Flv,
        FileFormat::Mp4 => Format::Mp4,
        FileFormat::Aac => Format::Adts,
    };
    tokio::task::spawn_blocking(move || media::container::demux(format, &data))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{}: {e}", source.path))
}

/// Plays `file` into `stream` at real time: each frame leaves when its decode
/// time is due. With `looping`, starts over with timestamps continuing.
/// Returns when the file ends (not looping), or an error if the stream has
/// another publisher.
pub async fn play(file: Demuxed, looping: bool, stream: Arc<LiveStream>) -> Result<(), String> {
    if file.frames.is_empty() {
        return Err("the file has no frames".into());
    }
    let publisher = stream.publish().map_err(|e| e.to_string())?;
    publisher.set_tracks(file.tracks.clone());
    let first = file
        .frames
        .iter()
        .map(|f| f.dts.as_secs_f64())
        .fold(f64::INFINITY, f64::min);
    let last = file
        .frames
        .iter()
        .map(|f| f.dts.as_secs_f64())
        .fold(f64::NEG_INFINITY, f64::max);
    // one loop lasts the span of the file plus one typical frame gap
    let period = (last - first) + period_tail(&file.frames);
    let start = tokio::time::Instant::now();
    let mut round = 0u32;
    loop {
        let offset = period * f64::from(round);
        for frame in &file.frames {
            let due = frame.dts.as_secs_f64() - first + offset;
            tokio::time::sleep_until(start + Duration::from_secs_f64(due.max(0.0))).await;
            publisher.push(shifted(frame, offset));
        }
        if !looping {
            return Ok(());
        }
        round += 1;
    }
}

/// A frame with `secs` added to its timestamps (in its own timescale).
fn shifted(frame: &Frame, secs: f64) -> Frame {
    if secs == 0.0 {
        return frame.clone();
    }
    let shift = |t: Timestamp| t.add_ticks((secs * f64::from(t.timescale())).round() as i64);
    Frame {
        dts: shift(frame.dts),
        pts: shift(frame.pts),
        ..frame.clone()
    }
}

/// The gap after the last frame: the smallest positive dts step of its track.
fn period_tail(frames: &[Frame]) -> f64 {
    let Some(last) = frames.last() else { return 0.0 };
    let times: Vec<f64> = frames
        .iter()
        .filter(|f| f.track == last.track)
        .map(|f| f.dts.as_secs_f64())
        .collect();
    let step = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .fold(f64::INFINITY, f64::min);
    if step.is_finite() { step } else { 0.0 }
}
