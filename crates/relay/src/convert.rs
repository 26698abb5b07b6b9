//! Media types <-> relay wire types. The payload is never looked at.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use media::hls::cutter::CutConfig;
use media::{Codec, Frame, Mark, SegmentMark, Timestamp, Track};
use proto::relay as pb;

/// Wall clock in microseconds since the Unix epoch.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn codec_from_name(name: &str) -> Codec {
    match name {
        "h264" => Codec::H264,
        "h265" => Codec::H265,
        "vp8" => Codec::Vp8,
        "aac" => Codec::Aac,
        "opus" => Codec::Opus,
        other => Codec::Other(other.to_owned()),
    }
}

pub(crate) fn track_to_wire(t: &Track) -> pb::Track {
    pb::Track {
        id: t.id,
        codec: t.codec.name().to_owned(),
        timescale: t.timescale,
        init: t.init.to_vec(),
    }
}

pub(crate) fn track_from_wire(t: pb::Track) -> Track {
    let mut track = Track::new(t.id, codec_from_name(&t.codec), t.timescale);
    track.init = Bytes::from(t.init);
    track.describe();
    track
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The catalog of a subscription at `epoch`.
pub(crate) fn catalog(stream: &hub::LiveStream, tracks: &[Track], epoch: u64) -> pb::Catalog {
    let cut = stream.cut_config();
    pb::Catalog {
        stream: stream.name().to_owned(),
        tracks: tracks.iter().map(track_to_wire).collect(),
        epoch,
        cut: Some(pb::CutConfig {
            target_duration_ms: millis(cut.target_duration),
            part_duration_ms: millis(cut.part_duration),
        }),
        window_ms: millis(stream.window()),
    }
}

/// The cut configuration a catalog carries, if any (zero durations are refused).
pub(crate) fn cut_from_wire(c: &pb::CutConfig) -> Option<CutConfig> {
    (c.target_duration_ms > 0 && c.part_duration_ms > 0).then(|| CutConfig {
        target_duration: Duration::from_millis(c.target_duration_ms),
        part_duration: Duration::from_millis(c.part_duration_ms),
    })
}

fn mark_to_wire(m: &Mark) -> pb::Mark {
    pb::Mark {
        segment: m.segment.map(|s| pb::SegmentMark {
            msn: s.msn,
            discontinuity: s.discontinuity,
            discontinuity_sequence: s.discontinuity_sequence,
            program_date_time_ms: s.program_date_time_ms,
        }),
        part: m.part,
        part_end: m.part_end,
    }
}

fn mark_from_wire(m: &pb::Mark) -> Mark {
    Mark {
        segment: m.segment.as_ref().map(|s| SegmentMark {
            msn: s.msn,
            discontinuity: s.discontinuity,
            discontinuity_sequence: s.discontinuity_sequence,
            program_date_time_ms: s.program_date_time_ms,
        }),
        part: m.part,
        part_end: m.part_end,
    }
}

/// The header that precedes `f`'s payload.
pub(crate) fn frame_header(f: &Frame, ingest_time_us: u64) -> pb::FrameHeader {
    let ts = f.dts.timescale();
    pb::FrameHeader {
        track: f.track,
        dts: f.dts.ticks(),
        pts: f.pts.rescale(ts).ticks(),
        keyframe: f.keyframe,
        size: u32::try_from(f.data.len()).unwrap_or(u32::MAX),
        mark: f.mark.as_ref().map(mark_to_wire),
        ingest_time_us,
        timescale: ts,
    }
}

/// The frame a header and its payload describe; `track_timescale` is used
/// when the header leaves the timescale out.
pub(crate) fn frame_from_wire(h: &pb::FrameHeader, payload: Bytes, track_timescale: u32) -> Frame {
    let ts = if h.timescale == 0 {
        track_timescale
    } else {
        h.timescale
    };
    Frame {
        track: h.track,
        dts: Timestamp::new(h.dts, ts),
        pts: Timestamp::new(h.pts, ts),
        keyframe: h.keyframe,
        data: payload,
        mark: h.mark.as_ref().map(mark_from_wire),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip_keeps_marks() {
        let mut f = Frame::new(
            2,
            Timestamp::new(900, 90_000),
            Timestamp::new(1800, 90_000),
            true,
            vec![1u8, 2, 3],
        );
        f.mark = Some(Mark {
            segment: Some(SegmentMark {
                msn: 7,
                discontinuity: true,
                discontinuity_sequence: 2,
                program_date_time_ms: 1_700_000_000_000,
            }),
            part: Some(40),
            part_end: Some(4500),
        });
        let h = frame_header(&f, 5);
        assert_eq!(frame_from_wire(&h, f.data.clone(), 1000), f);
    }
}
