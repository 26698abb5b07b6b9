//! RTP tracks from a session description: the `sdp:` input.
//!
//! Per media description, [`Source::from_session`] picks the first payload
//! type with a codec this crate reads (else the first one with a known
//! encoding, passed through as [`Codec::Other`]) and builds its decoder
//! configuration from `a=fmtp`:
//!
//! | encoding | codec | decoder configuration (`Track::init`) |
//! |---|---|---|
//! | `H264` (RFC 6184 §8.1) | H.264 | `avcC` from `sprop-parameter-sets` (base64 SPS, PPS); empty without it. `packetization-mode=2` is refused. |
//! | `H265` (RFC 7798 §7.1) | H.265 | `hvcC` from `sprop-vps`, `sprop-sps`, `sprop-pps`; empty without them. `sprop-max-don-diff` > 0 is refused. |
//! | `mpeg4-generic` (RFC 3640 §4.1), `mode=AAC-hbr`/`AAC-lbr` | AAC | AudioSpecificConfig from `config` (hex, required); AU-header layout from `sizeLength`, `indexLength`, ... (mode defaults) |
//! | `opus` (RFC 7587 §7) | Opus | a `dOps` body: version 0, channels 2 (1 with `sprop-stereo=0`), pre-skip [`OPUS_PRE_SKIP`], 48000 Hz, gain 0, mapping family 0 |
//! | anything else | [`Codec::Other`] (lower-case encoding name) | empty; payloads passed through |
//!
//! Media with port 0 (disabled, RFC 8866 §5.14) are left out; media whose
//! transport is not RTP are refused.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Connection, Error, Fmtp, MediaDescription, MediaKind, Result, RtpMap, SessionDescription};
use crate::rtp::{AuHeaderConfig, Event, PayloadFormat, Receiver, ReceiverOptions};
use crate::{Codec, Track};

/// Pre-skip written into Opus `dOps` bodies: RTP does not signal it, and
/// 312 samples is what libopus reports at 48 kHz.
pub const OPUS_PRE_SKIP: u16 = 312;
/// Most parameter sets taken from one `sprop-*` parameter.
const MAX_SPROP_UNITS: usize = 32;

/// One RTP track of a session description: where it arrives and how to decode it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpTrackConfig {
    /// Index of its media description in [`SessionDescription::media`].
    pub media: usize,
    /// Media kind.
    pub kind: MediaKind,
    /// Address to receive on (multicast group and TTL included): the media's
    /// `c=` line, else the session's.
    pub connection: Option<Connection>,
    /// UDP port of RTP (RTCP on `port + 1`).
    pub port: u16,
    /// The payload type to accept.
    pub payload_type: u8,
    /// Encoding name as written in the rtpmap (or the static payload type's name).
    pub encoding: String,
    /// Codec of the frames.
    pub codec: Codec,
    /// RTP clock rate: the track's timescale.
    pub clock_rate: u32,
    /// Channel count from the rtpmap, for audio.
    pub channels: Option<u16>,
    /// Decoder configuration in MP4 form (see the module docs); may be empty.
    pub init: Bytes,
    /// Depacketizer to use.
    pub format: PayloadFormat,
    /// `a=control` of the media (RTSP).
    pub control: Option<String>,
}

/// The `sdp:` input: one [`Receiver`] per track of a session description.
///
/// Track ids are 1, 2, ... in the order of [`Source::from_session`].
#[derive(Debug)]
pub struct Source {
    configs: Vec<RtpTrackConfig>,
    receivers: Vec<Receiver>,
}

// === impl RtpTrackConfig ===

impl RtpTrackConfig {
    /// The track (codec, timescale, init, described) under id `id`.
    pub fn track(&self, id: u32) -> Track {
        let mut track = Track::new(id, self.codec.clone(), self.clock_rate);
        track.init = self.init.clone();
        track.describe();
        track
    }
}

// === impl Source ===

impl Source {
    /// The RTP tracks of a session description (see the module docs).
    pub fn from_session(sd: &SessionDescription) -> Result<Vec<RtpTrackConfig>> {
        let mut out = Vec::new();
        for (index, m) in sd.media.iter().enumerate() {
            if m.port == 0 {
                continue;
            }
            let fail = |reason: String| Error::Media {
                media: index,
                kind: m.kind.name().to_string(),
                port: m.port,
                reason,
            };
            if !m.is_rtp() {
                return Err(fail(format!("transport {} is not rtp", m.proto)));
            }
            let (pt, map) = choose_payload_type(m).map_err(&fail)?;
            let fmtp = m.fmtp.get(&pt).cloned().unwrap_or_default();
            if map.clock_rate == 0 {
                return Err(fail(format!("payload type {pt} has clock rate 0")));
            }
            let (codec, format, init) =
                decoder_config(&map, &fmtp).map_err(|r| fail(format!("payload type {pt}: {r}")))?;
            out.push(RtpTrackConfig {
                media: index,
                kind: m.kind.clone(),
                connection: sd.connection_of(index).cloned(),
                port: m.port,
                payload_type: pt,
                encoding: map.encoding.clone(),
                codec,
                clock_rate: map.clock_rate,
                channels: map.channels,
                init,
                format,
                control: m.control.clone(),
            });
        }
        Ok(out)
    }

    /// Receivers for `configs`, track ids 1, 2, ...
    pub fn new(configs: Vec<RtpTrackConfig>, options: ReceiverOptions) -> Self {
        let receivers = configs
            .iter()
            .zip(1u32..)
            .map(|(c, id)| Receiver::new(c, id, options))
            .collect();
        Self { configs, receivers }
    }

    /// Receivers for every track of `sd`.
    pub fn from_sdp(sd: &SessionDescription, options: ReceiverOptions) -> Result<Self> {
        Ok(Self::new(Self::from_session(sd)?, options))
    }

    /// The track configurations, in track order.
    pub fn configs(&self) -> &[RtpTrackConfig] {
        &self.configs
    }

    /// The tracks as known now.
    pub fn tracks(&self) -> Vec<Track> {
        self.receivers.iter().map(|r| r.track().clone()).collect()
    }

    /// Handles a datagram that arrived for track index `index` (its port);
    /// an index with no track is ignored.
    pub fn handle_datagram(&mut self, index: usize, datagram: &[u8]) {
        if let Some(r) = self.receivers.get_mut(index) {
            r.handle_datagram(datagram);
        }
    }

    /// [`Receiver::skip_gap`] on every track.
    pub fn skip_gaps(&mut self) {
        self.receivers.iter_mut().for_each(Receiver::skip_gap);
    }

    /// [`Receiver::finish`] on every track.
    pub fn finish(&mut self) {
        self.receivers.iter_mut().for_each(Receiver::finish);
    }

    /// The next event of any track (tracks are drained in order).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.receivers.iter_mut().find_map(Receiver::poll_event)
    }
}

/// The payload type to use and its rtpmap (written, or static per RFC 3551 §6).
fn choose_payload_type(m: &MediaDescription) -> Result<(u8, RtpMap), String> {
    let known: Vec<(u8, RtpMap)> = m
        .payload_types()
        .into_iter()
        .filter_map(|pt| {
            m.rtpmap
                .get(&pt)
                .cloned()
                .or_else(|| static_rtpmap(pt))
                .map(|r| (pt, r))
        })
        .collect();
    let supported = |r: &RtpMap| {
        ["h264", "h265", "opus"]
            .iter()
            .any(|n| r.encoding.eq_ignore_ascii_case(n))
            || r.encoding.eq_ignore_ascii_case("mpeg4-generic")
    };
    known
        .iter()
        .find(|(_, r)| supported(r))
        .or(known.first())
        .cloned()
        .ok_or_else(|| format!("no rtpmap for payload types {:?}", m.formats))
}

/// The static payload types of RFC 3551 §6 (Tables 4 and 5).
fn static_rtpmap(pt: u8) -> Option<RtpMap> {
    let (encoding, clock_rate, channels) = match pt {
        0 => ("PCMU", 8000, Some(1)),
        3 => ("GSM", 8000, Some(1)),
        4 => ("G723", 8000, Some(1)),
        8 => ("PCMA", 8000, Some(1)),
        9 => ("G722", 8000, Some(1)),
        10 => ("L16", 44100, Some(2)),
        11 => ("L16", 44100, Some(1)),
        14 => ("MPA", 90000, None),
        18 => ("G729", 8000, Some(1)),
        26 => ("JPEG", 90000, None),
        31 => ("H261", 90000, None),
        32 => ("MPV", 90000, None),
        33 => ("MP2T", 90000, None),
        34 => ("H263", 90000, None),
        _ => return None,
    };
    Some(RtpMap {
        encoding: encoding.to_string(),
        clock_rate,
        channels,
    })
}

/// Codec, payload format and `init` of one payload type.
fn decoder_config(map: &RtpMap, fmtp: &Fmtp) -> Result<(Codec, PayloadFormat, Bytes), String> {
    let name = map.encoding.to_ascii_lowercase();
    Ok(match name.as_str() {
        "h264" => {
            if fmtp.get("packetization-mode").is_some_and(|m| m.trim() == "2") {
                return Err("interleaved packetization-mode 2 is not supported".into());
            }
            let units = sprop(fmtp, "sprop-parameter-sets")?;
            let sps: Vec<&[u8]> = units
                .iter()
                .filter(|u| crate::h264::nal_type(u) == 7)
                .map(|u| &u[..])
                .collect();
            let pps: Vec<&[u8]> = units
                .iter()
                .filter(|u| crate::h264::nal_type(u) == 8)
                .map(|u| &u[..])
                .collect();
            let init = if sps.is_empty() || pps.is_empty() {
                Bytes::new()
            } else {
                crate::h264::AvcConfig::from_parameter_sets(&sps, &pps)
                    .map_err(|e| format!("sprop-parameter-sets: {e}"))?
                    .encode()
            };
            (Codec::H264, PayloadFormat::H264, init)
        }
        "h265" => {
            let don_diff = fmtp.get("sprop-max-don-diff").unwrap_or("0");
            if don_diff.trim() != "0" {
                return Err(format!(
                    "sprop-max-don-diff {don_diff} (decoding order numbers) is not supported"
                ));
            }
            let vps = sprop(fmtp, "sprop-vps")?;
            let sps = sprop(fmtp, "sprop-sps")?;
            let pps = sprop(fmtp, "sprop-pps")?;
            fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
                v.iter().map(|u| &u[..]).collect()
            }
            let init = if vps.is_empty() || sps.is_empty() || pps.is_empty() {
                Bytes::new()
            } else {
                crate::h265::HevcConfig::from_parameter_sets(&refs(&vps), &refs(&sps), &refs(&pps))
                    .map_err(|e| format!("sprop-vps/sps/pps: {e}"))?
                    .encode()
            };
            (Codec::H265, PayloadFormat::H265, init)
        }
        "mpeg4-generic" => match aac_headers(fmtp)? {
            Some(headers) => {
                let config = fmtp.get("config").ok_or("mpeg4-generic aac without config")?;
                let config = hex(config).ok_or_else(|| format!("config {config:?} is not hex"))?;
                crate::aac::AudioSpecificConfig::parse(&config).map_err(|e| format!("config: {e}"))?;
                (Codec::Aac, PayloadFormat::Aac(headers), Bytes::from(config))
            }
            None => (Codec::Other(name), PayloadFormat::Raw, Bytes::new()),
        },
        "opus" => {
            let channels = match fmtp.get("sprop-stereo").map(str::trim) {
                Some("0") => 1,
                Some("1") => 2,
                _ => map.channels.unwrap_or(2).clamp(1, 2) as u8,
            };
            (Codec::Opus, PayloadFormat::Opus, opus_head(channels))
        }
        _ => (Codec::Other(name), PayloadFormat::Raw, Bytes::new()),
    })
}

/// The NAL units of a comma-separated base64 `sprop-*` parameter.
fn sprop(fmtp: &Fmtp, key: &str) -> Result<Vec<Vec<u8>>, String> {
    let Some(value) = fmtp.get(key) else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .take(MAX_SPROP_UNITS)
        .map(|u| super::base64::decode(u.as_bytes()).map_err(|e| format!("{key}: {e}")))
        .filter(|u| u.as_ref().map_or(true, |u| !u.is_empty()))
        .collect()
}

/// The AU-header layout of an AAC `mpeg4-generic` stream; `None` for other modes.
fn aac_headers(fmtp: &Fmtp) -> Result<Option<AuHeaderConfig>, String> {
    let mode = fmtp.get("mode").unwrap_or_default();
    let mut h = if mode.eq_ignore_ascii_case("AAC-hbr") {
        AuHeaderConfig::AAC_HBR
    } else if mode.eq_ignore_ascii_case("AAC-lbr") {
        AuHeaderConfig::AAC_LBR
    } else {
        return Ok(None);
    };
    let bits = |key: &str, default: u8| -> Result<u8, String> {
        match fmtp.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= crate::rtp::MAX_AU_FIELD_BITS)
                .ok_or_else(|| format!("{key}={v} is not a field width up to 32 bits")),
        }
    };
    let number = |key: &str| -> Result<Option<u32>, String> {
        fmtp.get(key)
            .map(|v| {
                v.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("{key}={v} is not a number"))
            })
            .transpose()
    };
    h.size_length = bits("sizelength", h.size_length)?;
    h.index_length = bits("indexlength", h.index_length)?;
    h.index_delta_length = bits("indexdeltalength", h.index_delta_length)?;
    h.cts_delta_length = bits("ctsdeltalength", 0)?;
    h.dts_delta_length = bits("dtsdeltalength", 0)?;
    h.random_access_indication = bits("randomaccessindication", 0)? != 0;
    h.stream_state_indication = bits("streamstateindication", 0)?;
    h.auxiliary_data_size_length = bits("auxiliarydatasizelength", 0)?;
    h.constant_size = number("constantsize")?;
    h.constant_duration = number("constantduration")?.filter(|d| *d > 0);
    Ok(Some(h))
}

/// Hex digits to bytes.
fn hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().as_bytes();
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| {
            let digit = |c: u8| char::from(c).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

/// An Opus `dOps` body (Opus in ISO BMFF §4.3.2) for mapping family 0.
pub fn opus_head(channels: u8) -> Bytes {
    let mut out = BytesMut::with_capacity(11);
    out.put_u8(0); // Version
    out.put_u8(channels);
    out.put_u16(OPUS_PRE_SKIP);
    out.put_u32(48_000); // InputSampleRate
    out.put_i16(0); // OutputGain
    out.put_u8(0); // ChannelMappingFamily
    out.freeze()
}
