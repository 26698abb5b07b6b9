//! H.264 over RTP (RFC 6184), non-interleaved mode.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::nal_unit::{NalAssembler, NalPacketizer, NalSyntax};
use super::{AccessUnit, Error, Packet, Result, Sequencer};
use crate::h264::{AvcConfig, NAL_IDR, NAL_PPS, NAL_SPS, nal_type};

/// Most parameter sets of one kind kept (SPS ids go to 31, PPS ids to 255).
const MAX_PARAMETER_SETS: usize = 32;

/// Reassembles H.264 access units from RTP payloads (RFC 6184 §5.6–§5.8).
///
/// - Single NAL unit packets (types 1–23), STAP-A (24) and FU-A (28) are
///   read; the interleaved-mode types STAP-B, MTAP16/24 and FU-B are
///   [`Error::Unsupported`].
/// - An access unit ends at the marker bit or when the timestamp changes; it
///   keeps every NAL unit as sent, as 4-byte length-prefixed units.
/// - A lost FU-A fragment drops that NAL unit (reported as
///   [`Error::FragmentDropped`]); the rest of the access unit is kept.
/// - Keyframe: the access unit has an IDR slice.
/// - In-band SPS/PPS that differ from the known ones rebuild the `avcC`
///   record, attached to the access unit as [`AccessUnit::config`] and
///   available from [`H264Depacketizer::config`].
#[derive(Debug)]
pub struct H264Depacketizer {
    asm: NalAssembler,
    sps: BTreeMap<u32, Bytes>,
    pps: BTreeMap<u32, Bytes>,
    config: Option<Bytes>,
}

/// Splits H.264 access units into RTP packets (RFC 6184 non-interleaved
/// mode, `packetization-mode=1`): single NAL unit packets, STAP-A for runs
/// of small units (unless disabled) and FU-A for units over the payload size.
#[derive(Debug, Clone)]
pub struct H264Packetizer(NalPacketizer);

// === impl H264Depacketizer ===

impl H264Depacketizer {
    /// A depacketizer starting from an `avcC` body (empty when unknown).
    pub fn new(init: &[u8]) -> Self {
        let mut d = Self {
            asm: NalAssembler::default(),
            sps: BTreeMap::new(),
            pps: BTreeMap::new(),
            config: None,
        };
        if let Ok(config) = AvcConfig::parse(init) {
            for s in &config.sps {
                d.store(NAL_SPS, s);
            }
            for p in &config.pps {
                d.store(NAL_PPS, p);
            }
            d.config = Some(Bytes::copy_from_slice(init));
        }
        d
    }

    /// The current `avcC` body: the initial one, or the one rebuilt from the
    /// latest in-band parameter sets.
    pub fn config(&self) -> Option<&Bytes> {
        self.config.as_ref()
    }

    /// Feeds one packet, in sequence order.
    pub fn push(&mut self, packet: &Packet) -> Result<()> {
        self.asm.begin_packet(packet);
        if let Err(e) = self.payload(packet) {
            self.asm.note(e);
        }
        self.asm.end_packet(packet);
        self.asm.take_error().map_or(Ok(()), Err)
    }

    /// The next completed access unit.
    pub fn poll(&mut self) -> Option<AccessUnit> {
        self.asm.poll()
    }

    /// Completes the access unit in progress (end of stream).
    pub fn flush(&mut self) {
        self.asm.finish();
    }

    fn payload(&mut self, packet: &Packet) -> Result<()> {
        let data = &packet.payload[..];
        let seq = packet.sequence;
        let bad = |offset, reason| Error::BadPayload { seq, offset, reason };
        let Some(&indicator) = data.first() else {
            return Err(bad(0, "empty payload"));
        };
        match indicator & 0x1f {
            1..=23 => {
                self.whole(data, seq);
                Ok(())
            }
            24 => {
                let mut pos = 1;
                while pos < data.len() {
                    let Some(size) = data.get(pos..pos + 2) else {
                        return Err(bad(pos, "stap-a unit size cut off"));
                    };
                    let size = usize::from(u16::from_be_bytes([size[0], size[1]]));
                    let Some(unit) = data.get(pos + 2..pos + 2 + size).filter(|u| !u.is_empty()) else {
                        return Err(bad(pos, "stap-a unit size is zero or past the payload"));
                    };
                    self.whole(unit, seq);
                    pos += 2 + size;
                }
                Ok(())
            }
            28 => {
                let Some(&fu) = data.get(1) else {
                    return Err(bad(1, "fu-a header missing"));
                };
                let header = [(indicator & 0xe0) | (fu & 0x1f)];
                let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
                if let Some(range) = self.asm.fragment(&header, &data[2..], start, end, seq) {
                    let nal = Bytes::copy_from_slice(self.asm.bytes(range));
                    self.inspect(nal_type(&nal), nal);
                }
                Ok(())
            }
            t @ (25 | 26 | 27 | 29) => Err(Error::Unsupported {
                seq,
                what: "interleaved-mode packet type",
                value: u32::from(t),
            }),
            t => Err(Error::Unsupported {
                seq,
                what: "nal unit type",
                value: u32::from(t),
            }),
        }
    }

    fn whole(&mut self, nal: &[u8], seq: u16) {
        self.asm.push_nal(nal, seq);
        let t = nal_type(nal);
        if matches!(t, NAL_IDR | NAL_SPS | NAL_PPS) {
            self.inspect(t, Bytes::copy_from_slice(nal));
        }
    }

    /// Notes keyframes and parameter set changes of a complete NAL unit.
    fn inspect(&mut self, t: u8, nal: Bytes) {
        match t {
            NAL_IDR => self.asm.mark_keyframe(),
            NAL_SPS | NAL_PPS if self.store(t, &nal) => {
                let sps: Vec<&[u8]> = self.sps.values().map(|s| &s[..]).collect();
                let pps: Vec<&[u8]> = self.pps.values().map(|p| &p[..]).collect();
                if let Ok(config) = AvcConfig::from_parameter_sets(&sps, &pps) {
                    let config = config.encode();
                    self.config = Some(config.clone());
                    self.asm.set_config(config);
                }
            }
            _ => {}
        }
    }

    /// Stores a parameter set by its id; true when it is new or changed.
    fn store(&mut self, t: u8, nal: &Bytes) -> bool {
        let rbsp = crate::nal::unescape_rbsp(nal.get(1..).unwrap_or_default());
        let mut r = crate::bits::BitReader::new(&rbsp);
        let (map, id) = if t == NAL_SPS {
            (&mut self.sps, r.skip(24).and_then(|()| r.ue()))
        } else {
            (&mut self.pps, r.ue())
        };
        let Ok(id) = id else {
            return false;
        };
        if map.get(&id) == Some(nal) || (map.len() >= MAX_PARAMETER_SETS && !map.contains_key(&id)) {
            return false;
        }
        map.insert(id, nal.clone());
        true
    }
}

// === impl H264Packetizer ===

impl H264Packetizer {
    /// A packetizer writing payloads of at most `max_payload` bytes (e.g.
    /// 1400 for a 1500-byte MTU), numbered by `sequencer`.
    pub fn new(sequencer: Sequencer, max_payload: usize) -> Result<Self> {
        NalPacketizer::new(NalSyntax::H264, sequencer, max_payload).map(Self)
    }

    /// Turns STAP-A aggregation on (the default) or off.
    pub fn with_aggregation(mut self, aggregate: bool) -> Self {
        self.0.set_aggregation(aggregate);
        self
    }

    /// The sequencer (next sequence number, SSRC, payload type).
    pub fn sequencer(&self) -> &Sequencer {
        self.0.sequencer()
    }

    /// The packets of one access unit (canonical payload), all with
    /// `timestamp`; the last has the marker bit.
    pub fn packetize(&mut self, au: &[u8], timestamp: u32) -> Result<Vec<Packet>> {
        self.0.packetize(au, timestamp)
    }
}
