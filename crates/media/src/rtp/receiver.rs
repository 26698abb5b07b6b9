//! One RTP track end to end: datagrams in, frames out.

use std::collections::VecDeque;

use super::{
    Depacketizer, DtsEstimator, Error, Packet, PayloadFormat, Reordered, Reorderer, TimestampUnwrapper,
};
use crate::sdp::RtpTrackConfig;
use crate::{Codec, Frame, Timestamp, Track};

/// Reorder depth assumed for video other than H.264 Baseline (enough for
/// x264's and x265's B-pyramids).
pub const DEFAULT_REORDER_DEPTH: usize = 4;
/// Default reorder window, in packets.
pub const DEFAULT_REORDER_WINDOW: usize = 64;

/// Settings of a [`Receiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverOptions {
    /// Packets held back waiting for a missing one (see [`Reorderer`]);
    /// 0 turns reordering off.
    pub reorder_window: usize,
    /// Video frames a decoder may hold before output, for decode timestamps
    /// (see [`DtsEstimator`]); `None`: 0 for H.264 Baseline profile,
    /// [`DEFAULT_REORDER_DEPTH`] otherwise.
    pub reorder_depth: Option<usize>,
}

/// One output of a [`Receiver`], drained with [`Receiver::poll_event`].
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The track, first at creation, then whenever in-band parameter sets
    /// changed its `init`; it comes before the first frame that needs it.
    Track(Track),
    /// A frame (see [`Receiver`] for timestamps).
    Frame(Frame),
    /// Something was lost or skipped; receiving goes on.
    Warning(Warning),
}

/// A non-fatal problem of an RTP stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Warning {
    /// A datagram that is not an RTP packet.
    #[error("bad rtp packet: {0}")]
    BadPacket(Error),
    /// A packet of another payload type than the track's was dropped.
    #[error("seq {seq}: dropped packet of payload type {payload_type}")]
    PayloadType {
        /// Its sequence number.
        seq: u16,
        /// Its payload type.
        payload_type: u8,
    },
    /// The SSRC changed: a new sender. Everything held was released first.
    #[error("ssrc changed from {from:#010x} to {to:#010x}")]
    SsrcChanged {
        /// The old SSRC.
        from: u32,
        /// The new SSRC.
        to: u32,
    },
    /// Packets never came (or too late).
    #[error("{count} packets lost from seq {first}")]
    Lost {
        /// First missing sequence number.
        first: u16,
        /// How many.
        count: u64,
    },
    /// A late or duplicate packet was dropped.
    #[error("seq {seq}: dropped {} packet", if *late { "late" } else { "duplicate" })]
    Dropped {
        /// Its sequence number.
        seq: u16,
        /// Late (true) or duplicate (false).
        late: bool,
    },
    /// A packet far from the current sequence was held on probation.
    #[error("seq {seq}: sequence number jump")]
    Jump {
        /// Its sequence number.
        seq: u16,
    },
    /// The sequence restarted (two consecutive packets after a jump).
    #[error("sequence restarted at seq {seq}")]
    Restart {
        /// The new first sequence number.
        seq: u16,
    },
    /// The depacketizer dropped something.
    #[error(transparent)]
    Depacketize(Error),
}

/// Receives one RTP track: parses datagrams, drops other payload types,
/// reorders ([`Reorderer`]), depacketizes ([`Depacketizer`]) and stamps
/// frames.
///
/// - **Timestamps** are in the RTP clock (the track's timescale), unwrapped
///   ([`TimestampUnwrapper`]) and counted from the track's first access unit,
///   so each track starts at 0 (no RTCP sender-report synchronisation
///   between tracks). After an SSRC change the new sender's timestamps
///   continue one frame step after the last frame.
/// - **Decode timestamps**: equal to the presentation time for audio; for
///   video derived with a [`DtsEstimator`], since RTP carries only the
///   presentation time.
/// - RTCP packets multiplexed on the port (RFC 5761: payload types 72–76
///   as parsed) are ignored silently.
///
/// Call [`Receiver::skip_gap`] from a timer so that a lost packet does not
/// hold frames back until the window fills, and [`Receiver::finish`] at
/// the end.
#[derive(Debug)]
pub struct Receiver {
    track: Track,
    payload_type: u8,
    format: PayloadFormat,
    options: ReceiverOptions,
    ssrc: Option<u32>,
    reorder: Reorderer<Packet>,
    depacketizer: Depacketizer,
    clock: TimestampUnwrapper,
    /// Unwrapped timestamp that maps to `base`.
    origin: Option<i64>,
    base: i64,
    last_pts: Option<i64>,
    step: i64,
    dts: Option<DtsEstimator>,
    events: VecDeque<Event>,
}

// === impl ReceiverOptions ===

impl Default for ReceiverOptions {
    fn default() -> Self {
        Self {
            reorder_window: DEFAULT_REORDER_WINDOW,
            reorder_depth: None,
        }
    }
}

// === impl Receiver ===

impl Receiver {
    /// A receiver for one track of an SDP, as track `track_id`. The first
    /// event is [`Event::Track`].
    pub fn new(config: &RtpTrackConfig, track_id: u32, options: ReceiverOptions) -> Self {
        let track = config.track(track_id);
        Self {
            payload_type: config.payload_type,
            format: config.format.clone(),
            options,
            ssrc: None,
            reorder: Reorderer::new(options.reorder_window),
            depacketizer: Depacketizer::new(&config.format, &track.init, track.timescale),
            clock: TimestampUnwrapper::new(),
            origin: None,
            base: 0,
            last_pts: None,
            step: 1,
            dts: None,
            events: VecDeque::from([Event::Track(track.clone())]),
            track,
        }
    }

    /// The track as known now.
    pub fn track(&self) -> &Track {
        &self.track
    }

    /// Handles one UDP datagram.
    pub fn handle_datagram(&mut self, datagram: &[u8]) {
        match Packet::parse(datagram) {
            Ok(p) => self.handle_packet(p),
            Err(e) => self.warn(Warning::BadPacket(e)),
        }
    }

    /// Handles one parsed packet.
    pub fn handle_packet(&mut self, packet: Packet) {
        if (72..=76).contains(&packet.payload_type) {
            return; // RTCP multiplexed with RTP (RFC 5761 §4)
        }
        if packet.payload_type != self.payload_type {
            self.warn(Warning::PayloadType {
                seq: packet.sequence,
                payload_type: packet.payload_type,
            });
            return;
        }
        match self.ssrc {
            None => self.ssrc = Some(packet.ssrc),
            Some(from) if from != packet.ssrc => {
                self.finish();
                self.warn(Warning::SsrcChanged {
                    from,
                    to: packet.ssrc,
                });
                self.ssrc = Some(packet.ssrc);
                self.restart_clock();
            }
            Some(_) => {}
        }
        self.reorder.push(packet.sequence, packet);
        self.drain();
    }

    /// Gives up waiting for the oldest missing packet (call from a timer,
    /// e.g. 100–500 ms after [`Receiver::held`] became non-zero).
    pub fn skip_gap(&mut self) {
        self.reorder.skip_gap();
        self.drain();
    }

    /// Packets held back by the reorderer.
    pub fn held(&self) -> usize {
        self.reorder.held()
    }

    /// Releases everything held and completes the access unit in progress (end of stream).
    pub fn finish(&mut self) {
        self.reorder.flush();
        self.drain();
        self.depacketizer.flush();
        self.drain_units();
    }

    /// The next output.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn warn(&mut self, w: Warning) {
        self.events.push_back(Event::Warning(w));
    }

    /// A new sender: fresh sequence and timestamp state, continuing the timeline.
    fn restart_clock(&mut self) {
        self.reorder = Reorderer::new(self.options.reorder_window);
        self.depacketizer = Depacketizer::new(&self.format, &self.track.init, self.track.timescale);
        self.clock = TimestampUnwrapper::new();
        self.origin = None;
        self.base = self.last_pts.map_or(0, |p| p.saturating_add(self.step));
        if let Some(d) = &mut self.dts {
            d.reset();
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.reorder.poll() {
            let warning = match out {
                Reordered::Packet(p) => {
                    if let Err(e) = self.depacketizer.push(&p) {
                        self.warn(Warning::Depacketize(e));
                    }
                    self.drain_units();
                    continue;
                }
                Reordered::Lost { first, count } => Warning::Lost { first, count },
                Reordered::Dropped { seq, late } => Warning::Dropped { seq, late },
                Reordered::Jump { seq } => Warning::Jump { seq },
                Reordered::Restart { seq } => Warning::Restart { seq },
            };
            self.warn(warning);
        }
    }

    fn drain_units(&mut self) {
        while let Some(au) = self.depacketizer.poll() {
            if let Some(config) = au.config {
                self.track.init = config;
                self.track.describe();
                self.events.push_back(Event::Track(self.track.clone()));
            }
            let unwrapped = self.clock.extend(au.timestamp);
            let origin = *self.origin.get_or_insert(unwrapped);
            let pts = unwrapped.saturating_sub(origin).saturating_add(self.base);
            if let Some(last) = self.last_pts.filter(|&l| pts > l) {
                self.step = pts - last;
            }
            self.last_pts = Some(pts);
            let dts = if self.track.codec.is_video() {
                if self.dts.is_none() {
                    self.dts = Some(self.estimator());
                }
                self.dts.as_mut().map_or(pts, |d| d.dts(pts))
            } else {
                pts
            };
            let scale = self.track.timescale;
            self.events.push_back(Event::Frame(Frame::new(
                self.track.id,
                Timestamp::new(dts, scale),
                Timestamp::new(pts, scale),
                au.keyframe,
                au.data,
            )));
        }
    }

    fn estimator(&self) -> DtsEstimator {
        let baseline = self.track.codec == Codec::H264
            && crate::h264::AvcConfig::parse(&self.track.init).is_ok_and(|c| c.profile == 66);
        let depth = self
            .options
            .reorder_depth
            .unwrap_or(if baseline { 0 } else { DEFAULT_REORDER_DEPTH });
        let fps = self
            .track
            .video
            .as_ref()
            .and_then(|v| v.fps)
            .filter(|f| *f >= 1.0);
        let duration = f64::from(self.track.timescale) / fps.unwrap_or(25.0);
        DtsEstimator::new(depth, duration.round() as i64)
    }
}
