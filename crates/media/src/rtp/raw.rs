//! One packet, one frame: Opus (RFC 7587) and payloads passed through as they are.

use std::collections::VecDeque;

use bytes::Bytes;

use super::{AccessUnit, Error, MAX_PAYLOAD_SIZE, MIN_PAYLOAD_SIZE, Packet, Result, Sequencer};

/// Turns each packet's payload into one access unit: Opus (RFC 7587 §4.2:
/// one Opus packet per RTP packet) and formats this crate does not
/// interpret. Empty payloads are skipped. Every unit is a keyframe.
#[derive(Debug, Default)]
pub struct RawDepacketizer {
    ready: VecDeque<AccessUnit>,
}

/// Puts each Opus packet into one RTP packet (RFC 7587 §4.2).
#[derive(Debug, Clone)]
pub struct OpusPacketizer {
    sequencer: Sequencer,
    max_payload: usize,
}

// === impl RawDepacketizer ===

impl RawDepacketizer {
    /// A depacketizer with nothing queued.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one packet. Never fails; the `Result` matches the other depacketizers.
    pub fn push(&mut self, packet: &Packet) -> Result<()> {
        if !packet.payload.is_empty() {
            self.ready.push_back(AccessUnit {
                timestamp: packet.timestamp,
                data: packet.payload.clone(),
                keyframe: true,
                config: None,
            });
        }
        Ok(())
    }

    /// The next access unit.
    pub fn poll(&mut self) -> Option<AccessUnit> {
        self.ready.pop_front()
    }
}

// === impl OpusPacketizer ===

impl OpusPacketizer {
    /// A packetizer refusing Opus packets over `max_payload` bytes.
    pub fn new(sequencer: Sequencer, max_payload: usize) -> Result<Self> {
        if max_payload < MIN_PAYLOAD_SIZE {
            return Err(Error::PayloadSizeTooSmall(max_payload));
        }
        Ok(Self {
            sequencer,
            max_payload: max_payload.min(MAX_PAYLOAD_SIZE),
        })
    }

    /// The sequencer (next sequence number, SSRC, payload type).
    pub fn sequencer(&self) -> &Sequencer {
        &self.sequencer
    }

    /// The packet of one Opus packet (timestamps at 48 kHz, RFC 7587 §4.1).
    pub fn packetize(&mut self, frame: &[u8], timestamp: u32) -> Result<Packet> {
        if frame.is_empty() || frame.len() > self.max_payload {
            return Err(Error::BadInput(format!(
                "opus packet of {} bytes (1 to {} allowed)",
                frame.len(),
                self.max_payload
            )));
        }
        Ok(self
            .sequencer
            .packet(timestamp, false, Bytes::copy_from_slice(frame)))
    }
}
