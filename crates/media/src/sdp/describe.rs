//! Media descriptions for sending a track over RTP: the inverse of
//! [`Source::from_session`](super::Source::from_session).

use super::{Error, Fmtp, MediaDescription, MediaKind, Result, RtpMap};
use crate::{Codec, Track};

/// RTP clock of H.264 and H.265 (RFC 6184 §8.2.1, RFC 7798 §7.1).
pub const VIDEO_CLOCK_RATE: u32 = 90_000;

/// The media description (`m=`, `a=rtpmap`, `a=fmtp`) that sends `track`
/// over RTP/AVP on `port` with dynamic payload type `payload_type`, in the
/// form [`Source::from_session`](super::Source::from_session) reads back:
///
/// - H.264: `H264/90000`, `packetization-mode=1`, `sprop-parameter-sets`
///   and `profile-level-id` from the `avcC` record;
/// - H.265: `H265/90000`, `sprop-vps`, `sprop-sps`, `sprop-pps`;
/// - AAC: `mpeg4-generic/<rate>/<channels>`, AAC-hbr with `config`;
/// - Opus: `opus/48000/2`, `sprop-stereo`.
///
/// Video timestamps must be sent in the 90 kHz clock; AAC at its sample rate.
pub fn media_for_track(track: &Track, port: u16, payload_type: u8) -> Result<MediaDescription> {
    let fail = |reason: String| Error::Media {
        media: 0,
        kind: track.codec.name().to_string(),
        port,
        reason,
    };
    if payload_type > 127 {
        return Err(fail(format!("payload type {payload_type} is above 127")));
    }
    let param = |k: &str, v: String| (k.to_string(), v);
    let (kind, rtpmap, params) = match &track.codec {
        Codec::H264 => {
            let c = crate::h264::AvcConfig::parse(&track.init).map_err(|e| fail(format!("avcC: {e}")))?;
            let sets: Vec<String> = c
                .sps
                .iter()
                .chain(&c.pps)
                .map(|u| super::base64::encode(u))
                .collect();
            let mut params = vec![param("packetization-mode", "1".into())];
            if let Some(sps) = c.sps.first().filter(|s| s.len() >= 4) {
                params.push(param(
                    "profile-level-id",
                    format!("{:02X}{:02X}{:02X}", sps[1], sps[2], sps[3]),
                ));
            }
            params.push(param("sprop-parameter-sets", sets.join(",")));
            (MediaKind::Video, rtpmap("H264", VIDEO_CLOCK_RATE, None), params)
        }
        Codec::H265 => {
            let c = crate::h265::HevcConfig::parse(&track.init).map_err(|e| fail(format!("hvcC: {e}")))?;
            let sets = |t| {
                c.units(t)
                    .map(|u| super::base64::encode(u))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let params = vec![
                param("sprop-vps", sets(crate::h265::NAL_VPS)),
                param("sprop-sps", sets(crate::h265::NAL_SPS)),
                param("sprop-pps", sets(crate::h265::NAL_PPS)),
            ];
            (MediaKind::Video, rtpmap("H265", VIDEO_CLOCK_RATE, None), params)
        }
        Codec::Aac => {
            let c = crate::aac::AudioSpecificConfig::parse(&track.init)
                .map_err(|e| fail(format!("AudioSpecificConfig: {e}")))?;
            let config: String = track.init.iter().map(|b| format!("{b:02X}")).collect();
            let params = vec![
                param("streamtype", "5".into()),
                param("profile-level-id", "1".into()),
                param("mode", "AAC-hbr".into()),
                param("sizelength", "13".into()),
                param("indexlength", "3".into()),
                param("indexdeltalength", "3".into()),
                param("config", config),
            ];
            let map = rtpmap("MPEG4-GENERIC", c.sample_rate, Some(u16::from(c.channels)));
            (MediaKind::Audio, map, params)
        }
        Codec::Opus => {
            let stereo = track.init.get(1).is_none_or(|&channels| channels >= 2);
            let params = vec![param("sprop-stereo", if stereo { "1" } else { "0" }.into())];
            (MediaKind::Audio, rtpmap("opus", 48_000, Some(2)), params)
        }
        Codec::Vp8 | Codec::Other(_) => {
            return Err(fail(format!(
                "codec {} has no rtp payload format here",
                track.codec
            )));
        }
    };
    let mut m = MediaDescription::new(kind, port, "RTP/AVP", vec![payload_type.to_string()]);
    m.rtpmap.insert(payload_type, rtpmap);
    m.fmtp.insert(payload_type, Fmtp { params });
    Ok(m)
}

fn rtpmap(encoding: &str, clock_rate: u32, channels: Option<u16>) -> RtpMap {
    RtpMap {
        encoding: encoding.to_string(),
        clock_rate,
        channels,
    }
}
