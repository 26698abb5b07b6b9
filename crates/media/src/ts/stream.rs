//! One elementary stream of the demuxer: PES reassembly (ISO/IEC 13818-1
//! §2.4.3.6) and turning PES payloads into [`Frame`]s and track `init`.

use std::collections::VecDeque;

use bytes::Bytes;

use super::event::{Event, Warning};
use super::packet::Packet;
use super::pes::{Pes, unwrap_ts};
use super::{MAX_PES_SIZE, TIMESCALE};
use crate::aac::{AdtsHeader, AudioSpecificConfig, SAMPLES_PER_FRAME};
use crate::{Codec, Frame, Track, h264, h265, nal};

/// State of one elementary PID listed in the PMT.
#[derive(Debug)]
pub(crate) struct Stream {
    /// The track this PID feeds (`id` = PID).
    pub(crate) track: Track,
    /// `stream_type` from the PMT.
    pub(crate) stream_type: u8,
    /// Bytes of the PES in progress, if one is.
    pes: Option<PesBuf>,
    /// Unwrapped DTS of the last PES: the reference for unwrapping the next.
    last_dts: Option<i64>,
    /// Timestamp for a PES without PTS: the last DTS (video) or the end of
    /// the last audio frame.
    next_pts: Option<i64>,
    /// Parameter set NAL units the current `init` was built from.
    param_sets: Vec<Vec<u8>>,
    /// AAC configuration the current `init` was built from.
    aac: Option<AudioSpecificConfig>,
}

#[derive(Debug)]
struct PesBuf {
    data: Vec<u8>,
    offset: u64,
    random_access: bool,
}

/// Frames completed by one call, and whether the track's `init` changed
/// (so the demuxer reports the tracks before these frames).
#[derive(Debug, Default)]
pub(crate) struct Completed {
    pub(crate) frames: Vec<Frame>,
    pub(crate) init_changed: bool,
}

/// The codec of a `stream_type` (ISO/IEC 13818-1 Table 2-34), or a name for
/// the warning when it is not supported.
pub(crate) fn codec_of(stream_type: u8) -> Result<Codec, &'static str> {
    match stream_type {
        0x1b => Ok(Codec::H264),
        0x24 => Ok(Codec::H265),
        0x0f => Ok(Codec::Aac),
        0x11 => Err("aac latm"),
        0x01 | 0x02 => Err("mpeg-1/2 video"),
        0x03 | 0x04 => Err("mpeg-1/2 audio"),
        0x06 => Err("private pes data"),
        0x10 => Err("mpeg-4 visual"),
        0x15 => Err("metadata"),
        0x81 | 0x87 => Err("ac-3/e-ac-3"),
        0x86 => Err("scte-35"),
        _ => Err("unknown"),
    }
}

// === impl Stream ===

impl Stream {
    /// A stream for `pid` of `codec`.
    pub(crate) fn new(pid: u16, stream_type: u8, codec: Codec) -> Self {
        Self {
            track: Track::new(u32::from(pid), codec, TIMESCALE),
            stream_type,
            pes: None,
            last_dts: None,
            next_pts: None,
            param_sets: Vec::new(),
            aac: None,
        }
    }

    fn pid(&self) -> u16 {
        self.track.id as u16
    }

    /// Drops the PES in progress (after a continuity gap).
    pub(crate) fn drop_pes(&mut self) {
        self.pes = None;
    }

    /// Takes one packet of this PID.
    pub(crate) fn push(
        &mut self,
        pkt: &Packet<'_>,
        offset: u64,
        events: &mut VecDeque<Event>,
        out: &mut Completed,
    ) {
        if pkt.pusi {
            self.flush(events, out);
            self.pes = Some(PesBuf {
                data: Vec::with_capacity(pkt.payload.len().max(4096)),
                offset,
                random_access: pkt.af.random_access,
            });
        }
        let Some(pes) = &mut self.pes else {
            return; // joined mid-PES: wait for the next start
        };
        if pes.data.len() + pkt.payload.len() > MAX_PES_SIZE {
            events.push_back(Event::Warning(Warning::BadPes {
                offset: pes.offset,
                pid: self.pid(),
                reason: "pes larger than 16 MiB",
            }));
            self.pes = None;
            return;
        }
        pes.data.extend_from_slice(pkt.payload);
        // a PES with a PES_packet_length completes as soon as it is all there
        if let Some(h) = pes.data.get(..6) {
            let declared = usize::from(u16::from_be_bytes([h[4], h[5]]));
            if declared != 0 && pes.data.len() >= 6 + declared {
                self.flush(events, out);
            }
        }
    }

    /// Completes the PES in progress, if any (at the next unit start, on
    /// declared length, or at the end of the input).
    pub(crate) fn flush(&mut self, events: &mut VecDeque<Event>, out: &mut Completed) {
        let Some(buf) = self.pes.take() else {
            return;
        };
        let data = Bytes::from(buf.data);
        let pes = match Pes::parse(&data) {
            Ok(p) => p,
            Err(reason) => {
                events.push_back(Event::Warning(Warning::BadPes {
                    offset: buf.offset,
                    pid: self.pid(),
                    reason,
                }));
                return;
            }
        };
        let Some((pts, dts)) = self.timestamps(&pes) else {
            events.push_back(Event::Warning(Warning::BadPes {
                offset: buf.offset,
                pid: self.pid(),
                reason: "first pes of the stream has no pts",
            }));
            return;
        };
        let payload = data.slice_ref(pes.payload);
        match self.track.codec {
            Codec::Aac => self.audio_frames(&payload, pts, buf.offset, events, out),
            _ => self.video_frame(&payload, pts, dts, buf.offset, buf.random_access, events, out),
        }
    }

    /// Unwrapped (pts, dts) of a PES; a PES without PTS continues from the last one.
    fn timestamps(&mut self, pes: &Pes<'_>) -> Option<(i64, i64)> {
        let Some(raw_pts) = pes.pts else {
            let t = self.next_pts?;
            return Some((t, t));
        };
        let dts = unwrap_ts(pes.dts.unwrap_or(raw_pts), self.last_dts);
        let pts = unwrap_ts(raw_pts, Some(dts));
        self.last_dts = Some(dts);
        self.next_pts = Some(dts);
        Some((pts, dts))
    }

    #[allow(clippy::too_many_arguments)]
    fn video_frame(
        &mut self,
        payload: &[u8],
        pts: i64,
        dts: i64,
        offset: u64,
        random_access: bool,
        events: &mut VecDeque<Event>,
        out: &mut Completed,
    ) {
        let data = nal::annexb_to_length_prefixed(payload);
        if data.is_empty() {
            events.push_back(Event::Warning(Warning::BadPes {
                offset,
                pid: self.pid(),
                reason: "video pes without nal units",
            }));
            return;
        }
        self.update_video_init(&data, offset, events, out);
        let keyframe = random_access
            || match self.track.codec {
                Codec::H265 => h265::is_keyframe(&data),
                _ => h264::is_keyframe(&data),
            };
        out.frames.push(Frame::new(
            self.track.id,
            crate::Timestamp::new(dts, TIMESCALE),
            crate::Timestamp::new(pts, TIMESCALE),
            keyframe,
            data,
        ));
    }

    /// Rebuilds `init` when the access unit carries a complete set of
    /// parameter sets different from the current one.
    fn update_video_init(
        &mut self,
        data: &[u8],
        offset: u64,
        events: &mut VecDeque<Event>,
        out: &mut Completed,
    ) {
        let h265 = self.track.codec == Codec::H265;
        let units: Vec<&[u8]> = nal::iter_length_prefixed(data, nal::LENGTH_SIZE)
            .map_while(Result::ok)
            .collect();
        let of_type = |t: u8| -> Vec<&[u8]> {
            units
                .iter()
                .copied()
                .filter(|u| {
                    if h265 {
                        h265::nal_type(u) == t
                    } else {
                        h264::nal_type(u) == t
                    }
                })
                .collect()
        };
        let (vps, sps, pps) = if h265 {
            (
                of_type(h265::NAL_VPS),
                of_type(h265::NAL_SPS),
                of_type(h265::NAL_PPS),
            )
        } else {
            (Vec::new(), of_type(h264::NAL_SPS), of_type(h264::NAL_PPS))
        };
        if sps.is_empty() || pps.is_empty() || (h265 && vps.is_empty()) {
            return;
        }
        let sets: Vec<&[u8]> = vps.iter().chain(&sps).chain(&pps).copied().collect();
        if sets.len() == self.param_sets.len()
            && sets.iter().zip(&self.param_sets).all(|(a, b)| *a == b.as_slice())
        {
            return;
        }
        self.param_sets = sets.iter().map(|s| s.to_vec()).collect();
        let init = if h265 {
            h265::HevcConfig::from_parameter_sets(&vps, &sps, &pps)
                .map(|c| c.encode())
                .map_err(|e| e.to_string())
        } else {
            h264::AvcConfig::from_parameter_sets(&sps, &pps)
                .map(|c| c.encode())
                .map_err(|e| e.to_string())
        };
        match init {
            Ok(init) => {
                self.track.init = init;
                self.track.describe();
                out.init_changed = true;
            }
            Err(reason) => events.push_back(Event::Warning(Warning::BadParameterSets {
                offset,
                pid: self.pid(),
                reason,
            })),
        }
    }

    /// One frame per ADTS frame of the PES; the i-th is stamped
    /// `pts + round(i * 1024 * 90000 / sample_rate)`.
    fn audio_frames(
        &mut self,
        payload: &Bytes,
        pts: i64,
        offset: u64,
        events: &mut VecDeque<Event>,
        out: &mut Completed,
    ) {
        let mut pos = 0usize;
        let mut i = 0i64;
        let mut sample_rate = self.aac.map_or(0, |c| c.sample_rate);
        while pos < payload.len() {
            let rest = &payload[pos..];
            let header = AdtsHeader::parse(rest, pos).and_then(|h| {
                if h.frame_len > rest.len() {
                    Err(crate::aac::Error::Truncated {
                        offset: pos,
                        needed: h.frame_len,
                        available: rest.len(),
                    })
                } else {
                    Ok(h)
                }
            });
            let header = match header {
                Ok(h) => h,
                Err(error) => {
                    events.push_back(Event::Warning(Warning::BadAdts {
                        offset,
                        pid: self.pid(),
                        error,
                    }));
                    break;
                }
            };
            if self.aac != Some(header.config) {
                self.aac = Some(header.config);
                self.track.init = header.config.encode();
                self.track.describe();
                out.init_changed = true;
            }
            sample_rate = header.config.sample_rate;
            let t = pts.saturating_add(frame_offset(i, sample_rate));
            out.frames.push(Frame::new(
                self.track.id,
                crate::Timestamp::new(t, TIMESCALE),
                crate::Timestamp::new(t, TIMESCALE),
                true,
                payload.slice(pos + header.header_len..pos + header.frame_len),
            ));
            pos += header.frame_len;
            i += 1;
        }
        if sample_rate > 0 {
            self.next_pts = Some(pts.saturating_add(frame_offset(i, sample_rate)));
        }
    }
}

/// 90 kHz ticks from the start of a PES to its `i`-th AAC frame, rounded to nearest.
fn frame_offset(i: i64, sample_rate: u32) -> i64 {
    let sr = i64::from(sample_rate.max(1));
    let num = i.saturating_mul(i64::from(SAMPLES_PER_FRAME) * i64::from(TIMESCALE));
    num.saturating_add(sr / 2) / sr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_frame_offsets_round_to_nearest() {
        assert_eq!(frame_offset(1, 48_000), 1920);
        assert_eq!(frame_offset(1, 44_100), 2090); // 2089.795...
        assert_eq!(frame_offset(3, 44_100), 6269); // 6269.387...
        assert_eq!(frame_offset(0, 0), 0);
    }
}
