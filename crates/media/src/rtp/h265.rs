//! H.265 over RTP (RFC 7798), without DONL fields (`sprop-max-don-diff` 0).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::nal_unit::{NalAssembler, NalPacketizer, NalSyntax};
use super::{AccessUnit, Error, Packet, Result, Sequencer};
use crate::h265::{HevcConfig, NAL_PPS, NAL_SPS, NAL_VPS, is_irap, nal_type};

/// Most parameter sets of one kind kept.
const MAX_PARAMETER_SETS: usize = 16;

/// Reassembles H.265 access units from RTP payloads (RFC 7798 §4.4).
///
/// - Single NAL unit packets (types 0–47), aggregation packets (48) and
///   fragmentation units (49) are read, all with the 2-byte payload header
///   and without DONL fields; PACI packets (50) are [`Error::Unsupported`].
/// - An access unit ends at the marker bit or when the timestamp changes; it
///   keeps every NAL unit as sent, as 4-byte length-prefixed units.
/// - A lost fragment drops that NAL unit (reported as [`Error::FragmentDropped`]).
/// - Keyframe: the access unit has an IRAP slice (types 16–23).
/// - In-band VPS/SPS/PPS that differ from the known ones rebuild the `hvcC`
///   record, attached as [`AccessUnit::config`] and available from
///   [`H265Depacketizer::config`].
#[derive(Debug)]
pub struct H265Depacketizer {
    asm: NalAssembler,
    /// Parameter sets by NAL type (VPS, SPS, PPS), then by id.
    sets: [BTreeMap<u32, Bytes>; 3],
    config: Option<Bytes>,
}

/// Splits H.265 access units into RTP packets (RFC 7798): single NAL unit
/// packets, aggregation packets for runs of small units (unless disabled) and
/// fragmentation units for units over the payload size.
#[derive(Debug, Clone)]
pub struct H265Packetizer(NalPacketizer);

// === impl H265Depacketizer ===

impl H265Depacketizer {
    /// A depacketizer starting from an `hvcC` body (empty when unknown).
    pub fn new(init: &[u8]) -> Self {
        let mut d = Self {
            asm: NalAssembler::default(),
            sets: Default::default(),
            config: None,
        };
        if let Ok(config) = HevcConfig::parse(init) {
            for t in [NAL_VPS, NAL_SPS, NAL_PPS] {
                for u in config.units(t) {
                    d.store(t, u.clone());
                }
            }
            d.config = Some(Bytes::copy_from_slice(init));
        }
        d
    }

    /// The current `hvcC` body: the initial one, or the one rebuilt from the
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
        let (Some(&h0), Some(&h1)) = (data.first(), data.get(1)) else {
            return Err(bad(0, "payload header cut off"));
        };
        match (h0 >> 1) & 0x3f {
            0..=47 => self.whole(data, seq),
            48 => {
                let mut pos = 2;
                while pos < data.len() {
                    let Some(size) = data.get(pos..pos + 2) else {
                        return Err(bad(pos, "aggregation unit size cut off"));
                    };
                    let size = usize::from(u16::from_be_bytes([size[0], size[1]]));
                    let Some(unit) = data.get(pos + 2..pos + 2 + size).filter(|u| u.len() >= 2) else {
                        return Err(bad(pos, "aggregation unit size is below 2 or past the payload"));
                    };
                    self.whole(unit, seq);
                    pos += 2 + size;
                }
            }
            49 => {
                let Some(&fu) = data.get(2) else {
                    return Err(bad(2, "fu header missing"));
                };
                let header = [(h0 & 0x81) | ((fu & 0x3f) << 1), h1];
                let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
                if let Some(range) = self.asm.fragment(&header, &data[3..], start, end, seq) {
                    let nal = Bytes::copy_from_slice(self.asm.bytes(range));
                    self.inspect(nal);
                }
            }
            t => {
                return Err(Error::Unsupported {
                    seq,
                    what: if t == 50 {
                        "paci packet type"
                    } else {
                        "nal unit type"
                    },
                    value: u32::from(t),
                });
            }
        }
        Ok(())
    }

    fn whole(&mut self, nal: &[u8], seq: u16) {
        self.asm.push_nal(nal, seq);
        let t = nal_type(nal);
        if is_irap(t) || matches!(t, NAL_VPS | NAL_SPS | NAL_PPS) {
            self.inspect(Bytes::copy_from_slice(nal));
        }
    }

    /// Notes keyframes and parameter set changes of a complete NAL unit.
    fn inspect(&mut self, nal: Bytes) {
        let t = nal_type(&nal);
        if is_irap(t) {
            self.asm.mark_keyframe();
        } else if matches!(t, NAL_VPS | NAL_SPS | NAL_PPS) && self.store(t, nal) {
            let [vps, sps, pps] = self
                .sets
                .each_ref()
                .map(|m| m.values().map(|u| &u[..]).collect::<Vec<_>>());
            if let Ok(config) = HevcConfig::from_parameter_sets(&vps, &sps, &pps) {
                let config = config.encode();
                self.config = Some(config.clone());
                self.asm.set_config(config);
            }
        }
    }

    /// Stores a parameter set by its id; true when it is new or changed.
    fn store(&mut self, t: u8, nal: Bytes) -> bool {
        let id = match t {
            NAL_VPS => nal.get(2).map(|b| u32::from(b >> 4)),
            NAL_SPS => crate::h265::Sps::parse(&nal)
                .ok()
                .map(|s| s.sps_seq_parameter_set_id),
            _ => {
                let rbsp = crate::nal::unescape_rbsp(nal.get(2..).unwrap_or_default());
                crate::bits::BitReader::new(&rbsp).ue().ok()
            }
        };
        let index = usize::from(t - NAL_VPS).min(2);
        let map = &mut self.sets[index];
        let Some(id) = id else {
            return false;
        };
        if map.get(&id) == Some(&nal) || (map.len() >= MAX_PARAMETER_SETS && !map.contains_key(&id)) {
            return false;
        }
        map.insert(id, nal);
        true
    }
}

// === impl H265Packetizer ===

impl H265Packetizer {
    /// A packetizer writing payloads of at most `max_payload` bytes, numbered by `sequencer`.
    pub fn new(sequencer: Sequencer, max_payload: usize) -> Result<Self> {
        NalPacketizer::new(NalSyntax::H265, sequencer, max_payload).map(Self)
    }

    /// Turns aggregation packets on (the default) or off.
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
