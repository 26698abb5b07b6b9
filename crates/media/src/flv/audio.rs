//! Audio tag bodies: AUDIODATA (FLV 10.1 §E.4.2.1) with the AAC extension
//! AACAUDIODATA (§E.4.2.2).

use bytes::{BufMut, Bytes};

use super::{Error, Result};

/// SoundFormat of AAC.
pub const SOUND_FORMAT_AAC: u8 = 10;
/// The first byte of every AAC audio tag: SoundFormat 10, and SoundRate 3
/// (44 kHz), SoundSize 1 (16-bit), SoundType 1 (stereo), which FLV 10.1
/// §E.4.2.1 prescribes for AAC whatever the real parameters (those come from
/// the AudioSpecificConfig).
pub const AAC_SOUND_HEADER: u8 = (SOUND_FORMAT_AAC << 4) | (3 << 2) | (1 << 1) | 1;

/// What an AAC audio tag body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioPacket {
    /// AACPacketType 0: the AudioSpecificConfig.
    SequenceHeader(Bytes),
    /// AACPacketType 1: one raw AAC frame.
    Frame(Bytes),
}

/// A parsed AAC audio tag body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTag {
    /// The first byte (SoundFormat, SoundRate, SoundSize, SoundType), kept verbatim.
    pub sound_header: u8,
    /// The payload.
    pub packet: AudioPacket,
}

/// Parses an audio tag body (the payload of an RTMP audio message as well).
/// Sound formats other than AAC are [`Error::UnsupportedSoundFormat`].
pub fn parse_audio_body(body: &Bytes) -> Result<AudioTag> {
    let sound_header = *body.first().ok_or(Error::TruncatedBody {
        what: "audio header",
        offset: 0,
    })?;
    let format = sound_header >> 4;
    if format != SOUND_FORMAT_AAC {
        return Err(Error::UnsupportedSoundFormat(format));
    }
    let packet_type = *body.get(1).ok_or(Error::TruncatedBody {
        what: "aac packet type",
        offset: 1,
    })?;
    let data = body.slice(2..);
    let packet = match packet_type {
        0 => AudioPacket::SequenceHeader(data),
        1 => AudioPacket::Frame(data),
        value => return Err(Error::UnsupportedPacketType { what: "audio", value }),
    };
    Ok(AudioTag { sound_header, packet })
}

// === impl AudioTag ===

impl AudioTag {
    /// Writes the body.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(self.sound_header);
        let (packet_type, data) = match &self.packet {
            AudioPacket::SequenceHeader(d) => (0, d),
            AudioPacket::Frame(d) => (1, d),
        };
        out.put_u8(packet_type);
        out.put_slice(data);
    }
}

/// Writes an AAC audio tag body with [`AAC_SOUND_HEADER`]. For RTMP audio messages too.
pub fn audio_body(packet: AudioPacket, out: &mut impl BufMut) {
    AudioTag {
        sound_header: AAC_SOUND_HEADER,
        packet,
    }
    .encode(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_header_byte_is_0xaf() {
        assert_eq!(AAC_SOUND_HEADER, 0xaf);
        let mut out = Vec::new();
        audio_body(
            AudioPacket::SequenceHeader(Bytes::from_static(&[0x11, 0x90])),
            &mut out,
        );
        assert_eq!(out, [0xaf, 0, 0x11, 0x90]);
        let tag = parse_audio_body(&Bytes::from(out)).unwrap();
        assert_eq!(
            tag.packet,
            AudioPacket::SequenceHeader(Bytes::from_static(&[0x11, 0x90]))
        );
    }

    #[test]
    fn other_formats_and_truncation_are_errors() {
        let mp3 = Bytes::from_static(&[0x2f, 0xff, 0xfb]);
        assert_eq!(
            parse_audio_body(&mp3).unwrap_err(),
            Error::UnsupportedSoundFormat(2)
        );
        assert!(parse_audio_body(&Bytes::from_static(&[0xaf])).is_err());
        assert!(parse_audio_body(&Bytes::new()).is_err());
        assert!(parse_audio_body(&Bytes::from_static(&[0xaf, 7])).is_err());
    }
}
