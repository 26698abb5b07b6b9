//! Frames between the hub's form and WebRTC's, as pure functions.
//!
//! Out (WHEP): the hub's H.264 frames carry 4-byte length-prefixed NAL units
//! and the parameter sets in the track's `avcC`; RTP packetizers take Annex B
//! access units, with SPS and PPS in front of each keyframe so a viewer can
//! start at any keyframe. VP8 frames and Opus packets pass through (RTP
//! packetizers take whole VP8 frames). The server converts each frame
//! once per stream and hands every session the same `Arc<[u8]>`.
//!
//! In (WHIP): depacketized Annex B access units become length-prefixed
//! frames; the first SPS/PPS pair seen becomes the track's `avcC`. VP8
//! frames arrive whole and are kept as they are; the first key frame gives
//! the track's size.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use media::h264::AvcConfig;
use media::{Codec, Frame, Timestamp, Track, VideoInfo};
use str0m::unversioned::{H264Packetizer, Packetizer as _, Vp8Packetizer};

/// RTP clock of video.
pub const VIDEO_CLOCK: u32 = 90_000;
/// RTP clock of Opus.
pub const OPUS_CLOCK: u32 = 48_000;

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Media kind of an outgoing frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Video, H.264 or VP8 (see [`Outgoing::codec`]).
    Video,
    /// Opus audio.
    Audio,
}

/// A frame ready for an RTP writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Video or audio.
    pub kind: Kind,
    /// Codec of the payload: H.264, VP8 or Opus.
    pub codec: Codec,
    /// Whether it starts a group of pictures.
    pub keyframe: bool,
    /// Presentation time in the RTP clock of its kind.
    pub rtp_time: u64,
    /// The payload (Annex B for H.264, a whole frame for VP8), shared by all sessions.
    pub data: Arc<[u8]>,
}

/// Which of a stream's tracks go out over WebRTC, and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Egress {
    /// The video track, its codec (H.264 or VP8) and, for H.264, its
    /// parameter sets as Annex B.
    video: Option<(u32, Codec, Bytes)>,
    /// The Opus track.
    audio: Option<u32>,
    /// What could not be sent, for the session's status.
    pub note: Option<String>,
}

impl Egress {
    /// Chooses the first H.264 or VP8 track and the first Opus track of `tracks`.
    pub fn new(tracks: &[Track]) -> Self {
        let mut out = Self::default();
        let mut skipped = Vec::new();
        for t in tracks {
            match t.codec {
                Codec::H264 if out.video.is_none() => {
                    let mut sets = BytesMut::new();
                    if let Ok(cfg) = AvcConfig::parse(&t.init) {
                        for unit in cfg.sps.iter().chain(&cfg.pps) {
                            sets.put_slice(&START_CODE);
                            sets.put_slice(unit);
                        }
                    }
                    out.video = Some((t.id, Codec::H264, sets.freeze()));
                }
                Codec::Vp8 if out.video.is_none() => out.video = Some((t.id, Codec::Vp8, Bytes::new())),
                Codec::Opus if out.audio.is_none() => out.audio = Some(t.id),
                Codec::Aac => {
                    skipped.push("AAC audio (WebRTC plays Opus; add an ffmpeg process that makes Opus)")
                }
                Codec::H265 => skipped.push("H.265 video (browsers' WebRTC takes H.264 or VP8)"),
                _ => {}
            }
        }
        if !skipped.is_empty() {
            out.note = Some(format!("not sent: {}", skipped.join("; ")));
        }
        out
    }

    /// Whether anything can be sent.
    pub fn is_empty(&self) -> bool {
        self.video.is_none() && self.audio.is_none()
    }

    /// The hub track ids that go out.
    pub fn track_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.video.iter().map(|(id, ..)| *id).chain(self.audio)
    }

    /// Whether there is a video track.
    pub fn has_video(&self) -> bool {
        self.video.is_some()
    }

    /// The codec of the video track, if there is one.
    pub fn video_codec(&self) -> Option<&Codec> {
        self.video.as_ref().map(|(_, codec, _)| codec)
    }

    /// Whether there is an audio track.
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// The frame in WebRTC form, or `None` for a track that is not sent (or
    /// a malformed H.264 payload).
    pub fn convert(&self, frame: &Frame) -> Option<Outgoing> {
        if let Some((id, codec, sets)) = &self.video
            && frame.track == *id
        {
            let data = match codec {
                Codec::Vp8 if !frame.data.is_empty() => Arc::from(&frame.data[..]),
                Codec::Vp8 => return None,
                _ => annexb(&frame.data, frame.keyframe.then_some(&sets[..]))?,
            };
            return Some(Outgoing {
                kind: Kind::Video,
                codec: codec.clone(),
                keyframe: frame.keyframe,
                rtp_time: rtp_time(frame.pts, VIDEO_CLOCK),
                data,
            });
        }
        if self.audio == Some(frame.track) {
            return Some(Outgoing {
                kind: Kind::Audio,
                codec: Codec::Opus,
                keyframe: true,
                rtp_time: rtp_time(frame.pts, OPUS_CLOCK),
                data: Arc::from(&frame.data[..]),
            });
        }
        None
    }
}

/// Payload size of the RTP packets frames are cut into: datagrams stay
/// under 1150 bytes with the RTP header, its extensions and SRTP.
pub const RTP_PAYLOAD_MTU: usize = 1100;

/// A frame's RTP payloads, cut once per stream and shared by every session.
pub type Payloads = Arc<[Arc<[u8]>]>;

/// Cuts a stream's outgoing frames into RTP payloads (RFC 6184 single NAL
/// units, STAP-A and FU-A for H.264; RFC 7741 descriptors for VP8; one
/// packet per Opus frame). One per stream: VP8 picture ids run on across
/// frames.
#[derive(Debug, Default)]
pub struct Packetizer {
    h264: H264Packetizer,
    vp8: Vp8Packetizer,
}

impl Packetizer {
    /// The RTP payloads of `out` in order (the last ends the frame); empty
    /// when the frame cannot be cut (e.g. an H.264 frame with no NAL unit).
    pub fn packetize(&mut self, out: &Outgoing) -> Payloads {
        let chunks = match out.codec {
            Codec::H264 => self.h264.packetize(RTP_PAYLOAD_MTU, &out.data),
            Codec::Vp8 => self.vp8.packetize(RTP_PAYLOAD_MTU, &out.data),
            _ => return Arc::from([out.data.clone()]),
        };
        chunks
            .map(|c| c.into_iter().map(Arc::from).collect())
            .unwrap_or_else(|_| Arc::from([]))
    }
}

fn rtp_time(t: Timestamp, clock: u32) -> u64 {
    // RTP times are 32-bit on the wire; negative media times wrap like them.
    t.rescale(clock).ticks() as u64
}

/// Length-prefixed NAL units as an Annex B access unit, with `sets` (Annex B
/// SPS/PPS) in front when the frame does not carry its own.
pub fn annexb(data: &[u8], sets: Option<&[u8]>) -> Option<Arc<[u8]>> {
    let mut out = Vec::with_capacity(data.len() + sets.map_or(0, <[u8]>::len));
    let mut has_sps = false;
    let mut rest = data;
    let mut units = Vec::new();
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let unit = rest.get(4..4 + len)?;
        if unit.is_empty() {
            return None;
        }
        has_sps |= media::h264::nal_type(unit) == 7;
        units.push(unit);
        rest = &rest[4 + len..];
    }
    if let Some(sets) = sets
        && !has_sps
    {
        out.extend_from_slice(sets);
    }
    for unit in units {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(unit);
    }
    Some(out.into())
}

/// Builds a publisher's tracks and frames from what a WHIP session receives.
#[derive(Debug, Default)]
pub struct Ingress {
    video: Option<VideoIn>,
    audio: Option<AudioIn>,
}

#[derive(Debug)]
struct VideoIn {
    config: Option<VideoConfig>,
    base: i64,
    first: Option<u64>,
}

/// What a received video track is known by.
#[derive(Debug, PartialEq)]
enum VideoConfig {
    /// H.264 with its parameter sets.
    H264(AvcConfig),
    /// VP8 with the size of its last key frame.
    Vp8(VideoInfo),
}

impl VideoIn {
    /// Sets the configuration; true when it changed.
    fn configure(&mut self, config: VideoConfig) -> bool {
        if self.config.as_ref() == Some(&config) {
            return false;
        }
        self.config = Some(config);
        true
    }

    /// The media time of RTP time `rtp` (90 kHz, extended): the first frame
    /// starts at its arrival offset, the others follow the RTP clock.
    fn time(&mut self, rtp: u64, since_start: std::time::Duration) -> Timestamp {
        let first = *self.first.get_or_insert_with(|| {
            self.base = i64::try_from(since_start.as_micros() * 9 / 100).unwrap_or(0);
            rtp
        });
        Timestamp::new(self.base + rtp.wrapping_sub(first) as i64, VIDEO_CLOCK)
    }
}

#[derive(Debug)]
struct AudioIn {
    channels: u8,
    base: i64,
    first: Option<u64>,
}

/// What a received frame changes.
#[derive(Debug, PartialEq)]
pub enum Received {
    /// The track list changed (first parameter sets, or new ones): set these
    /// tracks, then push the frame.
    Tracks(Vec<Track>, Frame),
    /// A frame of the current tracks.
    Frame(Frame),
    /// Nothing to publish yet (video before its first keyframe, with
    /// parameter sets for H.264) or a malformed access unit.
    Nothing,
}

/// Track id of received video.
pub const VIDEO_TRACK: u32 = 1;
/// Track id of received audio.
pub const AUDIO_TRACK: u32 = 2;

impl Ingress {
    /// An ingress expecting the kinds the session negotiated.
    pub fn new(video: bool, audio: Option<u8>) -> Self {
        Self {
            video: video.then_some(VideoIn {
                config: None,
                base: 0,
                first: None,
            }),
            audio: audio.map(|channels| AudioIn {
                channels,
                base: 0,
                first: None,
            }),
        }
    }

    /// The tracks known so far.
    pub fn tracks(&self) -> Vec<Track> {
        let mut out = Vec::new();
        match self.video.as_ref().and_then(|v| v.config.as_ref()) {
            Some(VideoConfig::H264(cfg)) => {
                let mut t = Track::new(VIDEO_TRACK, Codec::H264, VIDEO_CLOCK);
                t.init = cfg.encode();
                t.describe();
                out.push(t);
            }
            Some(VideoConfig::Vp8(info)) => {
                let mut t = Track::new(VIDEO_TRACK, Codec::Vp8, VIDEO_CLOCK);
                t.video = Some(info.clone());
                out.push(t);
            }
            None => {}
        }
        if let Some(a) = &self.audio {
            let mut t = Track::new(AUDIO_TRACK, Codec::Opus, OPUS_CLOCK);
            t.init = dops(a.channels);
            t.describe();
            out.push(t);
        }
        out
    }

    /// A depacketized H.264 access unit (Annex B) at RTP time `rtp` (90 kHz,
    /// extended), received `since_start` after the session began.
    pub fn video(&mut self, annexb: &[u8], rtp: u64, since_start: std::time::Duration) -> Received {
        let Some(v) = self.video.as_mut() else {
            return Received::Nothing;
        };
        let mut sps = Vec::new();
        let mut pps = Vec::new();
        let mut idr = false;
        let mut units = Vec::new();
        for unit in media::nal::split_annexb(annexb) {
            if unit.is_empty() {
                continue;
            }
            match media::h264::nal_type(unit) {
                7 => sps.push(unit),
                8 => pps.push(unit),
                5 => idr = true,
                _ => {}
            }
            units.push(unit);
        }
        if units.is_empty() {
            return Received::Nothing;
        }
        let mut changed = false;
        if !sps.is_empty() && !pps.is_empty() {
            match AvcConfig::from_parameter_sets(&sps, &pps) {
                Ok(cfg) => changed = v.configure(VideoConfig::H264(cfg)),
                Err(e) => tracing::debug!(error = %e, "ignoring parameter sets that do not parse"),
            }
        }
        if !matches!(v.config, Some(VideoConfig::H264(_))) {
            return Received::Nothing;
        }
        let t = v.time(rtp, since_start);
        let frame = Frame::new(VIDEO_TRACK, t, t, idr, media::nal::join_length_prefixed(units));
        if changed {
            Received::Tracks(self.tracks(), frame)
        } else {
            Received::Frame(frame)
        }
    }

    /// A depacketized VP8 frame at RTP time `rtp` (90 kHz, extended),
    /// received `since_start` after the session began. Frames before the
    /// first key frame are not published.
    pub fn vp8(&mut self, frame: &[u8], rtp: u64, since_start: std::time::Duration) -> Received {
        let Some(v) = self.video.as_mut() else {
            return Received::Nothing;
        };
        let keyframe = media::vp8::is_keyframe(frame);
        let mut changed = false;
        if keyframe {
            match media::vp8::video_info(frame) {
                Ok(info) => changed = v.configure(VideoConfig::Vp8(info)),
                Err(e) => {
                    tracing::debug!(error = %e, "ignoring a vp8 key frame that does not parse");
                    return Received::Nothing;
                }
            }
        }
        if frame.is_empty() || !matches!(v.config, Some(VideoConfig::Vp8(_))) {
            return Received::Nothing;
        }
        let t = v.time(rtp, since_start);
        let frame = Frame::new(VIDEO_TRACK, t, t, keyframe, Bytes::copy_from_slice(frame));
        if changed {
            Received::Tracks(self.tracks(), frame)
        } else {
            Received::Frame(frame)
        }
    }

    /// An Opus packet at RTP time `rtp` (48 kHz, extended).
    pub fn audio(&mut self, packet: &[u8], rtp: u64, since_start: std::time::Duration) -> Received {
        let Some(a) = self.audio.as_mut() else {
            return Received::Nothing;
        };
        if packet.is_empty() {
            return Received::Nothing;
        }
        let first = *a.first.get_or_insert_with(|| {
            a.base = i64::try_from(since_start.as_micros() * 48 / 1000).unwrap_or(0);
            rtp
        });
        let ticks = a.base + rtp.wrapping_sub(first) as i64;
        let t = Timestamp::new(ticks, OPUS_CLOCK);
        Received::Frame(Frame::new(
            AUDIO_TRACK,
            t,
            t,
            true,
            Bytes::copy_from_slice(packet),
        ))
    }
}

/// The `dOps` body of an Opus track: version 0, `channels`, pre-skip 312
/// samples, input rate 48 kHz, gain 0, mapping family 0.
pub fn dops(channels: u8) -> Bytes {
    let mut b = BytesMut::with_capacity(11);
    b.put_u8(0);
    b.put_u8(channels);
    b.put_u16(312);
    b.put_u32(48_000);
    b.put_i16(0);
    b.put_u8(0);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use media::sample;
    use proptest::prelude::*;

    fn length_prefixed(units: &[&[u8]]) -> Bytes {
        media::nal::join_length_prefixed(units.iter().copied())
    }

    #[test]
    fn frames_are_cut_into_packets_under_the_mtu_once_for_all() {
        let egress = Egress::new(&[sample::h264_track(1)]);
        let key = egress.convert(&sample::h264_frame(1, 0, true, 20_000)).unwrap();
        let mut cut = Packetizer::default();
        let payloads = cut.packetize(&key);
        assert!(payloads.len() >= 18, "{} packets", payloads.len());
        assert!(payloads.iter().all(|p| p.len() <= RTP_PAYLOAD_MTU));
        // SPS and PPS go together (STAP-A, type 24), the slice in fragments
        // (FU-A, type 28).
        assert_eq!(payloads[0][0] & 0x1f, 24);
        assert!(payloads[1..].iter().all(|p| p[0] & 0x1f == 28));
        let opus = Outgoing {
            kind: Kind::Audio,
            codec: Codec::Opus,
            keyframe: true,
            rtp_time: 0,
            data: Arc::from(&[1u8, 2, 3][..]),
        };
        let one = cut.packetize(&opus);
        assert_eq!(one.len(), 1);
        assert!(
            Arc::ptr_eq(&one[0], &opus.data),
            "Opus goes out as it is, not copied"
        );
    }

    proptest! {
        #[test]
        fn cut_h264_reassembles_to_the_same_nal_units(
            sizes in proptest::collection::vec(1usize..4000, 1..6),
            fill in any::<u8>(),
        ) {
            let nals: Vec<Vec<u8>> = sizes
                .iter()
                .map(|n| {
                    let mut v = vec![fill | 1; *n];
                    v[0] = 0x41;
                    v
                })
                .collect();
            let data: Vec<u8> = nals.iter().flat_map(|n| START_CODE.iter().chain(n).copied()).collect();
            let out = Outgoing {
                kind: Kind::Video,
                codec: Codec::H264,
                keyframe: false,
                rtp_time: 0,
                data: Arc::from(data),
            };
            let payloads = Packetizer::default().packetize(&out);
            prop_assert!(payloads.iter().all(|p| p.len() <= RTP_PAYLOAD_MTU));
            let mut depack = str0m::unversioned::H264Depacketizer::default();
            let mut joined = Vec::new();
            let mut extra = str0m::format::CodecExtra::None;
            for p in payloads.iter() {
                use str0m::unversioned::Depacketizer as _;
                prop_assert!(depack.depacketize(p, &mut joined, &mut extra).is_ok());
            }
            prop_assert_eq!(
                media::nal::split_annexb(&joined).map(<[u8]>::to_vec).collect::<Vec<_>>(),
                nals
            );
        }

        #[test]
        fn cutting_never_panics(data in proptest::collection::vec(any::<u8>(), 0..5000), vp8 in any::<bool>()) {
            let out = Outgoing {
                kind: Kind::Video,
                codec: if vp8 { Codec::Vp8 } else { Codec::H264 },
                keyframe: false,
                rtp_time: 0,
                data: Arc::from(data),
            };
            let payloads = Packetizer::default().packetize(&out);
            prop_assert!(payloads.iter().all(|p| p.len() <= RTP_PAYLOAD_MTU));
        }
    }

    #[test]
    fn keyframes_get_parameter_sets_in_front_and_other_frames_do_not() {
        let track = sample::h264_track(1);
        let cfg = AvcConfig::parse(&track.init).unwrap();
        let egress = Egress::new(&[track]);
        assert!(egress.has_video() && !egress.has_audio() && egress.note.is_none());

        let idr = length_prefixed(&[&[0x65, 1, 2, 3]]);
        let frame = Frame::new(
            1,
            Timestamp::new(1000, 1000),
            Timestamp::new(1040, 1000),
            true,
            idr,
        );
        let out = egress.convert(&frame).unwrap();
        let mut expected = Vec::new();
        for u in cfg.sps.iter().chain(&cfg.pps) {
            expected.extend_from_slice(&START_CODE);
            expected.extend_from_slice(u);
        }
        expected.extend_from_slice(&[0, 0, 0, 1, 0x65, 1, 2, 3]);
        assert_eq!(&out.data[..], &expected[..]);
        assert_eq!(out.rtp_time, 93_600, "pts in 90 kHz");
        assert_eq!(out.kind, Kind::Video);

        let p = length_prefixed(&[&[0x41, 9], &[0x41, 8, 7]]);
        let frame = Frame::new(1, Timestamp::new(0, 90_000), Timestamp::new(0, 90_000), false, p);
        assert_eq!(
            &egress.convert(&frame).unwrap().data[..],
            &[0, 0, 0, 1, 0x41, 9, 0, 0, 0, 1, 0x41, 8, 7]
        );

        // In-band parameter sets are not doubled.
        let inband = length_prefixed(&[&cfg.sps[0], &cfg.pps[0], &[0x65, 4]]);
        let frame = Frame::new(
            1,
            Timestamp::new(0, 90_000),
            Timestamp::new(0, 90_000),
            true,
            inband,
        );
        let out = egress.convert(&frame).unwrap();
        assert_eq!(
            out.data
                .windows(cfg.sps[0].len())
                .filter(|w| *w == &cfg.sps[0][..])
                .count(),
            1
        );
    }

    #[test]
    fn aac_is_noted_and_opus_passes_through() {
        let egress = Egress::new(&[sample::h264_track(1), Track::new(2, Codec::Aac, 48_000)]);
        assert!(egress.note.as_deref().unwrap().contains("AAC"));
        let aac = Frame::new(
            2,
            Timestamp::new(0, 48_000),
            Timestamp::new(0, 48_000),
            true,
            vec![1, 2],
        );
        assert_eq!(egress.convert(&aac), None);

        let egress = Egress::new(&[Track::new(3, Codec::Opus, 48_000)]);
        let f = Frame::new(
            3,
            Timestamp::new(960, 48_000),
            Timestamp::new(960, 48_000),
            true,
            vec![7, 8, 9],
        );
        let out = egress.convert(&f).unwrap();
        assert_eq!(
            (out.kind, out.rtp_time, &out.data[..]),
            (Kind::Audio, 960, &[7u8, 8, 9][..])
        );
        assert!(Egress::new(&[Track::new(1, Codec::H265, 90_000)]).is_empty());
    }

    #[test]
    fn received_video_waits_for_parameter_sets_and_builds_the_track() {
        let track = sample::h264_track(1);
        let cfg = AvcConfig::parse(&track.init).unwrap();
        let mut ingress = Ingress::new(true, Some(2));
        let p_frame = [0, 0, 0, 1, 0x41, 5, 6];
        assert_eq!(ingress.video(&p_frame, 1000, Duration::ZERO), Received::Nothing);

        let mut key = Vec::new();
        for u in [&cfg.sps[0], &cfg.pps[0]] {
            key.extend_from_slice(&[0, 0, 1]);
            key.extend_from_slice(u);
        }
        key.extend_from_slice(&[0, 0, 0, 1, 0x65, 1, 2]);
        let Received::Tracks(tracks, frame) = ingress.video(&key, 3000, Duration::from_millis(100)) else {
            panic!("the first keyframe sets the tracks");
        };
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[0].codec, Codec::H264);
        assert_eq!(AvcConfig::parse(&tracks[0].init).unwrap().sps, cfg.sps);
        assert_eq!(tracks[1].audio.as_ref().unwrap().channels, 2);
        assert!(frame.keyframe);
        assert_eq!(
            frame.pts,
            Timestamp::new(9000, 90_000),
            "starts at the arrival offset"
        );
        let Received::Frame(next) = ingress.video(&p_frame, 6600, Duration::from_millis(140)) else {
            panic!("a frame");
        };
        assert_eq!(next.pts.ticks(), 9000 + 3600, "then follows the RTP clock");
        assert!(!next.keyframe);
        assert_eq!(&next.data[..], &[0, 0, 0, 3, 0x41, 5, 6]);
        let Received::Frame(a) = ingress.audio(&[1, 2, 3], 500, Duration::from_millis(100)) else {
            panic!("audio");
        };
        assert_eq!(a.pts, Timestamp::new(4800, 48_000));
    }

    #[test]
    fn vp8_frames_pass_through_as_video() {
        let egress = Egress::new(&[
            sample::vp8_track(1, 640, 360),
            sample::h264_track(2),
            Track::new(3, Codec::Opus, 48_000),
        ]);
        assert_eq!(
            egress.video_codec(),
            Some(&Codec::Vp8),
            "the first video track is sent"
        );
        assert!(egress.has_audio() && egress.note.is_none());
        let key = sample::vp8_frame(1, 25, true, (640, 360), 300);
        let out = egress.convert(&key).unwrap();
        assert_eq!(
            (out.kind, &out.codec, out.keyframe, out.rtp_time),
            (Kind::Video, &Codec::Vp8, true, 90_000)
        );
        assert_eq!(&out.data[..], &key.data[..], "no start codes, no parameter sets");
        let inter = sample::vp8_frame(1, 26, false, (640, 360), 80);
        let out = egress.convert(&inter).unwrap();
        assert!(!out.keyframe);
        assert_eq!(&out.data[..], &inter.data[..]);
        let empty = Frame::new(1, inter.dts, inter.pts, false, Bytes::new());
        assert_eq!(egress.convert(&empty), None);
        assert_eq!(egress.convert(&sample::h264_frame(2, 0, true, 10)), None);

        let h264 = Egress::new(&[sample::h264_track(1)]);
        assert_eq!(h264.video_codec(), Some(&Codec::H264));
        assert_eq!(
            h264.convert(&sample::h264_frame(1, 0, true, 10)).unwrap().codec,
            Codec::H264
        );
    }

    #[test]
    fn received_vp8_waits_for_a_key_frame_and_takes_its_size() {
        let mut ingress = Ingress::new(true, Some(2));
        let inter = sample::vp8_frame(1, 0, false, (0, 0), 40);
        assert_eq!(ingress.vp8(&inter.data, 1000, Duration::ZERO), Received::Nothing);
        assert_eq!(ingress.vp8(&[], 1000, Duration::ZERO), Received::Nothing);
        let mut broken = sample::vp8_frame(1, 0, true, (640, 480), 40).data.to_vec();
        broken[3] = 0;
        assert_eq!(ingress.vp8(&broken, 1000, Duration::ZERO), Received::Nothing);

        let key = sample::vp8_frame(1, 0, true, (640, 480), 500);
        let Received::Tracks(tracks, frame) = ingress.vp8(&key.data, 3000, Duration::from_millis(100)) else {
            panic!("the first key frame sets the tracks");
        };
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[0].codec, Codec::Vp8);
        assert!(tracks[0].init.is_empty());
        let info = tracks[0].video.as_ref().unwrap();
        assert_eq!((info.width, info.height), (640, 480));
        assert_eq!(tracks[1].codec, Codec::Opus);
        assert!(frame.keyframe);
        assert_eq!(frame.pts, Timestamp::new(9000, 90_000));
        assert_eq!(&frame.data[..], &key.data[..], "the frame is kept as it came");

        let Received::Frame(next) = ingress.vp8(&inter.data, 6600, Duration::from_millis(140)) else {
            panic!("a frame");
        };
        assert_eq!(next.pts.ticks(), 9000 + 3600);
        assert!(!next.keyframe);
        let Received::Frame(same) = ingress.vp8(&key.data, 10_200, Duration::from_millis(180)) else {
            panic!("a key frame of the same size changes nothing");
        };
        assert!(same.keyframe);

        let bigger = sample::vp8_frame(1, 0, true, (1280, 720), 500);
        let Received::Tracks(tracks, _) = ingress.vp8(&bigger.data, 13_800, Duration::from_millis(220))
        else {
            panic!("a new size is a new track list");
        };
        assert_eq!(tracks[0].video.as_ref().unwrap().width, 1280);
        assert_eq!(ingress.tracks(), tracks);

        // H.264 from the same section afterwards waits for its parameter sets.
        assert_eq!(
            ingress.video(&[0, 0, 0, 1, 0x41, 5, 6], 17_400, Duration::from_millis(260)),
            Received::Nothing
        );
    }

    proptest! {
        #[test]
        fn annexb_never_panics_and_keeps_every_unit(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Some(out) = annexb(&data, None) {
                let units: Vec<_> = media::nal::iter_length_prefixed(&data, 4).collect::<Result<_, _>>().unwrap();
                prop_assert_eq!(out.len(), data.len());
                let split: Vec<&[u8]> = media::nal::split_annexb(&out).collect();
                prop_assert_eq!(split.len(), units.len());
            }
        }

        #[test]
        fn received_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300), rtp in any::<u64>()) {
            let mut ingress = Ingress::new(true, Some(2));
            let _ = ingress.video(&data, rtp, Duration::from_millis(5));
            let _ = ingress.audio(&data, rtp, Duration::from_millis(5));
            if let Received::Tracks(tracks, frame) = ingress.vp8(&data, rtp, Duration::from_millis(5)) {
                prop_assert_eq!(tracks[0].codec.clone(), Codec::Vp8);
                prop_assert!(frame.keyframe);
            }
        }
    }
}
