//! The muxer: frames to PES packets (ISO/IEC 13818-1 §2.4.3.6) in transport
//! packets, with PAT/PMT (§2.4.4) and PCR (§2.4.3.5).

use bytes::{BufMut, Bytes};

use super::packet::Header;
use super::pes::{self, TS_MASK};
use super::psi::{Pat, Pmt, write_section_packet};
use super::{Error, PACKET_SIZE, Result, TIMESCALE};
use crate::aac::{ADTS_HEADER_LEN, AdtsHeader, AudioSpecificConfig};
use crate::{Codec, Frame, Track, h264, h265, nal};

/// PID of the PMT the muxer writes.
pub const PMT_PID: u16 = 0x1000;
/// PID of the first track; the others follow in track order.
pub const FIRST_PID: u16 = 0x100;
/// Most tracks one muxer takes (the PMT must fit one packet).
pub const MAX_TRACKS: usize = 32;
/// PAT and PMT are repeated at least this often (100 ms at 90 kHz) of DTS.
const PSI_INTERVAL: i64 = 9_000;
/// A PCR is written at least this often (100 ms at 90 kHz, §2.7.2) of DTS.
const PCR_INTERVAL: i64 = 9_000;
/// ... and at least every this many packets.
const PSI_MAX_PACKETS: u64 = 1_000;
/// `program_number` of the one program.
const PROGRAM_NUMBER: u16 = 1;
/// Largest raw AAC frame an ADTS header can describe (13-bit frame length).
const MAX_AAC_FRAME: usize = 0x1fff - ADTS_HEADER_LEN;

/// Incremental MPEG-TS muxer of one program.
///
/// - PAT, and PMT on PID [`PMT_PID`]; tracks get PIDs from [`FIRST_PID`] in
///   the order given, stream types 0x1b (H.264), 0x24 (H.265), 0x0f (AAC).
///   PAT and PMT come before the first frame, before every video keyframe,
///   and again once 100 ms of DTS or 1000 packets have passed.
/// - PCR on the first video track (else the first track): in the first
///   packet of each of its PES, equal to that frame's DTS (wrapped to 33
///   bits), so there is no T-STD buffering delay (shift the timestamps for
///   one). When frames of other tracks come 100 ms of DTS or more after the
///   last PCR (or before the first), an adaptation-field-only packet with a
///   PCR is sent on the PCR PID. PCR never goes backwards.
/// - One PES per frame, PTS always, DTS only when it differs;
///   `PES_packet_length` 0 for video PES over 65535 bytes.
///   `random_access_indicator` on keyframes (every audio frame).
///   Timestamps are rescaled to 90 kHz and wrapped to 33 bits.
/// - Video: length-prefixed NAL units become Annex-B with 4-byte start codes
///   (same size). A keyframe without an in-band SPS gets the parameter sets
///   of the track's `init` inserted (after an AUD, if it starts with one).
///   No AUD is ever added.
/// - AAC: a 7-byte ADTS header (from the track's `init`) before each frame.
/// - Stuffing is done in the adaptation field; continuity counters per PID.
#[derive(Debug)]
pub struct Muxer {
    tracks: Vec<MuxTrack>,
    pcr_track: usize,
    pat_cc: u8,
    pmt_cc: u8,
    /// PAT then PMT section, built once.
    pat: Vec<u8>,
    pmt: Vec<u8>,
    last_psi_dts: Option<i64>,
    packets_since_psi: u64,
    /// Last PCR written (unwrapped 90 kHz).
    last_pcr: Option<i64>,
    /// Scratch PES bytes, reused between frames.
    buf: Vec<u8>,
}

#[derive(Debug)]
struct MuxTrack {
    id: u32,
    pid: u16,
    cc: u8,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Parameter set NAL units from `init`, in decoding order.
    Video {
        h265: bool,
        param_sets: Vec<Bytes>,
    },
    Aac(AudioSpecificConfig),
}

// === impl Muxer ===

impl Muxer {
    /// A muxer for `tracks`. Fails on unsupported codecs, duplicate ids, more
    /// than [`MAX_TRACKS`] tracks, an AAC track without a valid
    /// AudioSpecificConfig, or a video `init` that does not parse.
    pub fn new(tracks: &[Track]) -> Result<Self> {
        if tracks.len() > MAX_TRACKS {
            return Err(Error::TooManyTracks(tracks.len()));
        }
        let mut out = Vec::with_capacity(tracks.len());
        let mut streams = Vec::with_capacity(tracks.len());
        for (i, t) in tracks.iter().enumerate() {
            if tracks[..i].iter().any(|o| o.id == t.id) {
                return Err(Error::DuplicateTrack(t.id));
            }
            let bad_init = |reason: String| Error::BadInit { track: t.id, reason };
            let (stream_type, kind) = match t.codec {
                Codec::H264 => (
                    0x1b,
                    Kind::Video {
                        h265: false,
                        param_sets: avc_param_sets(&t.init).map_err(bad_init)?,
                    },
                ),
                Codec::H265 => (
                    0x24,
                    Kind::Video {
                        h265: true,
                        param_sets: hevc_param_sets(&t.init).map_err(bad_init)?,
                    },
                ),
                Codec::Aac => {
                    let config = AudioSpecificConfig::parse(&t.init).map_err(|e| bad_init(e.to_string()))?;
                    if config.frequency_index().is_none() || !(1..=4).contains(&config.object_type) {
                        return Err(bad_init(format!(
                            "object type {} at {} Hz cannot be described by adts",
                            config.object_type, config.sample_rate
                        )));
                    }
                    (0x0f, Kind::Aac(config))
                }
                _ => {
                    return Err(Error::UnsupportedCodec {
                        track: t.id,
                        codec: t.codec.to_string(),
                    });
                }
            };
            let pid = FIRST_PID + i as u16;
            streams.push((stream_type, pid));
            out.push(MuxTrack {
                id: t.id,
                pid,
                cc: 0,
                kind,
            });
        }
        let pcr_track = out
            .iter()
            .position(|t| matches!(t.kind, Kind::Video { .. }))
            .unwrap_or(0);
        let mut pat = Vec::new();
        Pat {
            program_number: PROGRAM_NUMBER,
            pmt_pid: PMT_PID,
        }
        .write(&mut pat);
        let mut pmt = Vec::new();
        Pmt {
            pcr_pid: out.get(pcr_track).map_or(0x1fff, |t| t.pid),
            streams,
        }
        .write(PROGRAM_NUMBER, &mut pmt);
        Ok(Self {
            tracks: out,
            pcr_track,
            pat_cc: 0,
            pmt_cc: 0,
            pat,
            pmt,
            last_psi_dts: None,
            packets_since_psi: 0,
            last_pcr: None,
            buf: Vec::new(),
        })
    }

    /// Writes a PAT and a PMT packet now.
    pub fn write_psi(&mut self, out: &mut impl BufMut) {
        write_section_packet(0, self.pat_cc, &self.pat, out);
        write_section_packet(PMT_PID, self.pmt_cc, &self.pmt, out);
        self.pat_cc = (self.pat_cc + 1) & 0x0f;
        self.pmt_cc = (self.pmt_cc + 1) & 0x0f;
        self.packets_since_psi = 0;
    }

    /// Writes one frame (and PAT/PMT when due) as whole packets to `out`.
    /// Frames must come in decode order. Nothing is written on error.
    pub fn mux_frame(&mut self, frame: &Frame, out: &mut impl BufMut) -> Result<()> {
        let dts = frame.dts.rescale(TIMESCALE).ticks();
        let pts = frame.pts.rescale(TIMESCALE).ticks();
        let index = self
            .tracks
            .iter()
            .position(|t| t.id == frame.track)
            .ok_or(Error::UnknownTrack {
                track: frame.track,
                dts: frame.dts.ticks(),
            })?;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let result = self.tracks[index].pes(frame, pts, dts, &mut buf);
        if result.is_ok() {
            let video = matches!(self.tracks[index].kind, Kind::Video { .. });
            let psi_due = match self.last_psi_dts {
                None => true,
                Some(last) => {
                    (video && frame.keyframe)
                        || !(0..PSI_INTERVAL).contains(&(dts.saturating_sub(last)))
                        || self.packets_since_psi >= PSI_MAX_PACKETS
                }
            };
            if psi_due {
                self.write_psi(out);
                self.last_psi_dts = Some(dts);
            }
            let pcr_due = self
                .last_pcr
                .is_none_or(|last| dts.saturating_sub(last) >= PCR_INTERVAL);
            let mut pcr = None;
            if index == self.pcr_track {
                pcr = Some(self.next_pcr(dts));
            } else if pcr_due {
                let value = self.next_pcr(dts);
                let t = &self.tracks[self.pcr_track];
                Header::write_pcr_only(t.pid, t.cc.wrapping_sub(1), value, out);
                self.packets_since_psi += 1;
            }
            let packets = self.tracks[index].packetize(&buf, frame.keyframe, pcr, out);
            self.packets_since_psi += packets;
        }
        self.buf = buf;
        result
    }
}

impl Muxer {
    /// The PCR base for a packet sent at `dts`: never below the last one.
    fn next_pcr(&mut self, dts: i64) -> u64 {
        let pcr = self.last_pcr.map_or(dts, |last| last.max(dts));
        self.last_pcr = Some(pcr);
        pcr.rem_euclid(1 << 33) as u64
    }
}

// === impl MuxTrack ===

impl MuxTrack {
    /// Builds the PES (header and payload) of a frame into `buf`.
    fn pes(&self, frame: &Frame, pts: i64, dts: i64, buf: &mut Vec<u8>) -> Result<()> {
        let pts = pts.rem_euclid(1 << 33) as u64;
        let dts = dts.rem_euclid(1 << 33) as u64;
        let dts_field = (dts != pts).then_some(dts);
        let header = pes::header_len(dts_field.is_some());
        buf.resize(header, 0);
        let stream_id = match &self.kind {
            Kind::Video { h265, param_sets } => {
                self.video_payload(frame, *h265, param_sets, buf)
                    .map_err(|source| Error::BadPayload {
                        track: self.id,
                        dts: frame.dts.ticks(),
                        source,
                    })?;
                0xe0
            }
            Kind::Aac(config) => {
                if frame.data.len() > MAX_AAC_FRAME {
                    return Err(Error::AacFrameTooLarge {
                        track: self.id,
                        dts: frame.dts.ticks(),
                        len: frame.data.len(),
                    });
                }
                AdtsHeader::write(config, frame.data.len(), buf);
                buf.extend_from_slice(&frame.data);
                0xc0
            }
        };
        let payload_len = buf.len() - header;
        let mut head = &mut buf[..header];
        pes::write_header(stream_id, pts & TS_MASK, dts_field, payload_len, &mut head);
        Ok(())
    }

    /// Appends the Annex-B form of a video frame, with parameter sets
    /// inserted into keyframes that lack an SPS.
    fn video_payload(
        &self,
        frame: &Frame,
        h265: bool,
        param_sets: &[Bytes],
        buf: &mut Vec<u8>,
    ) -> Result<(), nal::Error> {
        let data = &frame.data;
        let is = |u: &[u8], h264_type: u8, h265_type: u8| {
            if h265 {
                h265::nal_type(u) == h265_type
            } else {
                h264::nal_type(u) == h264_type
            }
        };
        let lacks_sps = frame.keyframe
            && !param_sets.is_empty()
            && !nal::iter_length_prefixed(data, nal::LENGTH_SIZE)
                .map_while(Result::ok)
                .any(|u| is(u, h264::NAL_SPS, h265::NAL_SPS));
        if !lacks_sps {
            return nal::length_prefixed_to_annexb(data, buf);
        }
        let mut inserted = false;
        for unit in nal::iter_length_prefixed(data, nal::LENGTH_SIZE) {
            let unit = unit?;
            if !inserted && !is(unit, h264::NAL_AUD, h265::NAL_AUD) {
                for ps in param_sets {
                    buf.put_slice(&[0, 0, 0, 1]);
                    buf.put_slice(ps);
                }
                inserted = true;
            }
            buf.put_slice(&[0, 0, 0, 1]);
            buf.put_slice(unit);
        }
        Ok(())
    }

    /// Splits a PES into packets; returns how many were written.
    fn packetize(&mut self, pes: &[u8], keyframe: bool, pcr: Option<u64>, out: &mut impl BufMut) -> u64 {
        let mut rest = pes;
        let mut first = true;
        let mut n = 0;
        while first || !rest.is_empty() {
            let header = Header {
                pid: self.pid,
                pusi: first,
                cc: self.cc,
                random_access: first && keyframe,
                pcr: if first { pcr } else { None },
            };
            let take = rest.len().min(header.capacity());
            header.write(&rest[..take], out);
            rest = &rest[take..];
            self.cc = (self.cc + 1) & 0x0f;
            first = false;
            n += 1;
        }
        debug_assert!(n as usize * PACKET_SIZE >= pes.len());
        n
    }
}

/// SPS then PPS NAL units of an `avcC` body (none when empty).
fn avc_param_sets(init: &[u8]) -> Result<Vec<Bytes>, String> {
    if init.is_empty() {
        return Ok(Vec::new());
    }
    let c = h264::AvcConfig::parse(init).map_err(|e| e.to_string())?;
    Ok(c.sps.into_iter().chain(c.pps).collect())
}

/// VPS, SPS then PPS NAL units of an `hvcC` body (none when empty).
fn hevc_param_sets(init: &[u8]) -> Result<Vec<Bytes>, String> {
    if init.is_empty() {
        return Ok(Vec::new());
    }
    let c = h265::HevcConfig::parse(init).map_err(|e| e.to_string())?;
    Ok([h265::NAL_VPS, h265::NAL_SPS, h265::NAL_PPS]
        .iter()
        .flat_map(|&t| c.units(t).cloned().collect::<Vec<_>>())
        .collect())
}
