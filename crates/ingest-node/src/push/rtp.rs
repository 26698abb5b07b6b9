//! RTP described by an SDP file: `rtp://HOST:PORT?sdp=/path/out.sdp`.
//!
//! One RTP stream per track, on even ports as ffmpeg assigns them: the
//! tracks, video first then audio, get `PORT`, `PORT + 2`, ... (so video on
//! `PORT` and audio on `PORT + 2` for the usual pair; RTCP would take the odd
//! ports). Payload types are dynamic from 96. Packetizers come from
//! [`media::rtp`]: H.264 (RFC 6184, packetization-mode 1), H.265 (RFC 7798),
//! AAC (RFC 3640 AAC-hbr, timestamps at the sample rate) and Opus (RFC 7587,
//! 48 kHz); tracks of other codecs are left out. Payloads are at most
//! [`MAX_PAYLOAD`] bytes.
//!
//! The SDP file (written by [`media::sdp`]) describes the streams and the
//! destination (`c=` with the TTL for IPv4 multicast). It is written before
//! the first packet, and again when the tracks change, atomically (a
//! temporary file in the same directory, then a rename), as soon as the
//! stream's tracks are known: a receiver can read it and bind its ports
//! before the first frame is sent. A path that cannot be written is a
//! [`PushError::BadTarget`] naming it.
//!
//! Options: `sdp=PATH` (required), `ttl=N` (multicast TTL, default 1),
//! `iface=ADDR` (as for `tsudp://`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use hub::Event;
use media::rtp::{AacPacketizer, H264Packetizer, H265Packetizer, OpusPacketizer, Packet, Sequencer};
use media::sdp::{Address, Attribute, Connection, Origin, SessionDescription};
use media::{Codec, Frame, Track};
use tokio::net::UdpSocket;

use super::tsudp::{UdpTarget, next_event, parse_target, random_u32, send};
use super::{Job, PushError};

/// Largest RTP payload sent (a 1500-byte MTU less IP, UDP and RTP headers, with room to spare).
pub const MAX_PAYLOAD: usize = 1400;
/// First dynamic payload type used.
pub const FIRST_PAYLOAD_TYPE: u8 = 96;
/// Opus RTP clock (RFC 7587 §4.1).
const OPUS_CLOCK_RATE: u32 = 48_000;

/// One track's RTP stream.
struct Stream {
    track: u32,
    dest: SocketAddr,
    clock_rate: u32,
    /// Added to every timestamp (random start, RFC 3550 §5.1).
    ts_offset: u32,
    packetizer: Packetizer,
}

enum Packetizer {
    H264(H264Packetizer),
    H265(H265Packetizer),
    Aac(AacPacketizer),
    Opus(OpusPacketizer),
}

/// The session being sent: the tracks described by the SDP file.
struct Session<'a> {
    job: &'a Job,
    target: UdpTarget,
    dest: SocketAddr,
    sdp_path: PathBuf,
    socket: UdpSocket,
    /// The tracks the SDP file describes, in port order.
    tracks: Vec<Track>,
    streams: Vec<Stream>,
    /// Numbering by port, kept across track changes so that a receiver sees one stream per port.
    sequencers: HashMap<u16, (Sequencer, u32)>,
    session_id: u32,
    version: u32,
    wire: BytesMut,
}

// === impl Packetizer ===

impl Packetizer {
    fn sequencer(&self) -> &Sequencer {
        match self {
            Self::H264(p) => p.sequencer(),
            Self::H265(p) => p.sequencer(),
            Self::Aac(p) => p.sequencer(),
            Self::Opus(p) => p.sequencer(),
        }
    }

    fn packetize(&mut self, data: &[u8], timestamp: u32) -> media::rtp::Result<Vec<Packet>> {
        match self {
            Self::H264(p) => p.packetize(data, timestamp),
            Self::H265(p) => p.packetize(data, timestamp),
            Self::Aac(p) => p.packetize(&[data], timestamp),
            Self::Opus(p) => p.packetize(data, timestamp).map(|p| vec![p]),
        }
    }
}

/// The tracks that can be sent and described now, video first: H.264 and
/// H.265 with their `avcC`/`hvcC`, AAC with its AudioSpecificConfig, Opus.
fn sendable(tracks: &[Track]) -> Vec<Track> {
    let ok = |t: &&Track| match t.codec {
        Codec::H264 | Codec::H265 | Codec::Aac => !t.init.is_empty(),
        Codec::Opus => true,
        // no VP8 packetizer here
        Codec::Vp8 | Codec::Other(_) => false,
    };
    let video = tracks.iter().filter(ok).filter(|t| t.codec.is_video());
    let other = tracks.iter().filter(ok).filter(|t| !t.codec.is_video());
    video.chain(other).cloned().collect()
}

/// The RTP clock of a sendable track.
fn clock_rate(track: &Track) -> u32 {
    match track.codec {
        Codec::Aac => {
            media::aac::AudioSpecificConfig::parse(&track.init).map_or(track.timescale, |c| c.sample_rate)
        }
        Codec::Opus => OPUS_CLOCK_RATE,
        _ => media::sdp::VIDEO_CLOCK_RATE,
    }
}

// === impl Session ===

impl Session<'_> {
    /// Starts sending `tracks` (from [`sendable`]): new packetizers, the SDP file rewritten.
    async fn setup(&mut self, tracks: Vec<Track>) -> Result<(), PushError> {
        for s in self.streams.drain(..) {
            let seq = s.packetizer.sequencer().clone();
            self.sequencers.insert(s.dest.port(), (seq, s.ts_offset));
        }
        let mut sdp = SessionDescription::new(
            Origin {
                username: "-".into(),
                session_id: self.session_id.to_string(),
                session_version: self.version.to_string(),
                address: Address::Ip(self.dest.ip()),
            },
            format!("Tributary {}", self.job.stream.name()),
        );
        self.version += 1;
        let mut connection = Connection::new(self.dest.ip());
        if self.dest.ip().is_multicast() && self.dest.is_ipv4() {
            connection.ttl = Some(self.target.ttl as u8);
        }
        sdp.connection = Some(connection);
        sdp.attributes.push(Attribute {
            name: "tool".into(),
            value: Some("tributary".into()),
        });
        for (i, track) in tracks.iter().enumerate() {
            let port = u16::try_from(u32::from(self.target.port) + 2 * i as u32).map_err(|_| {
                PushError::BadTarget(format!(
                    "{}: port {} leaves no room for {} tracks",
                    self.job.target,
                    self.target.port,
                    tracks.len()
                ))
            })?;
            let pt = FIRST_PAYLOAD_TYPE + i as u8;
            let media = media::sdp::media_for_track(track, port, pt)
                .map_err(|e| PushError::Failed(format!("track {}: {e}", track.id)))?;
            sdp.media.push(media);
            let (mut sequencer, ts_offset) = self.sequencers.remove(&port).unwrap_or_else(|| {
                (
                    Sequencer::new(random_u32(), pt, random_u32() as u16),
                    random_u32(),
                )
            });
            sequencer.payload_type = pt;
            let clock = clock_rate(track);
            let bad = |e: media::rtp::Error| PushError::Failed(format!("track {}: {e}", track.id));
            let packetizer = match track.codec {
                Codec::H264 => Packetizer::H264(H264Packetizer::new(sequencer, MAX_PAYLOAD).map_err(bad)?),
                Codec::H265 => Packetizer::H265(H265Packetizer::new(sequencer, MAX_PAYLOAD).map_err(bad)?),
                Codec::Aac => Packetizer::Aac(
                    AacPacketizer::new(sequencer, MAX_PAYLOAD, media::aac::SAMPLES_PER_FRAME).map_err(bad)?,
                ),
                _ => Packetizer::Opus(OpusPacketizer::new(sequencer, MAX_PAYLOAD).map_err(bad)?),
            };
            self.streams.push(Stream {
                track: track.id,
                dest: SocketAddr::new(self.dest.ip(), port),
                clock_rate: clock,
                ts_offset,
                packetizer,
            });
        }
        write_atomically(&self.sdp_path, sdp.to_string().as_bytes())
            .await
            .map_err(|e| {
                PushError::BadTarget(format!(
                    "cannot write the sdp file {}: {e}",
                    self.sdp_path.display()
                ))
            })?;
        tracing::info!(
            push = self.job.name,
            sdp = %self.sdp_path.display(),
            tracks = tracks.len(),
            "rtp push: sdp written"
        );
        self.tracks = tracks;
        Ok(())
    }

    /// Follows a track change: a new session when the sendable tracks differ.
    async fn tracks(&mut self, tracks: &[Track]) -> Result<(), PushError> {
        let tracks = sendable(tracks);
        if tracks != self.tracks && !tracks.is_empty() {
            self.setup(tracks).await?;
        }
        Ok(())
    }

    async fn frame(&mut self, frame: &Frame) -> Result<(), PushError> {
        let Some(s) = self.streams.iter_mut().find(|s| s.track == frame.track) else {
            return Ok(());
        };
        let ts = (frame.pts.rescale(s.clock_rate).ticks() as u32).wrapping_add(s.ts_offset);
        let packets = match s.packetizer.packetize(&frame.data, ts) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(push = self.job.name, track = frame.track, %e, "frame skipped");
                return Ok(());
            }
        };
        for p in &packets {
            self.wire.clear();
            p.write(&mut self.wire)
                .map_err(|e| PushError::Failed(e.to_string()))?;
            send(&self.socket, s.dest, &self.wire, self.job).await?;
        }
        Ok(())
    }
}

/// Writes `data` to a temporary file next to `path`, then renames it over `path`.
async fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    if let Err(e) = tokio::fs::write(&tmp, data).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    if let Err(e) = tokio::fs::rename(&tmp, path).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    Ok(())
}

/// Runs an `rtp://` push (see the module docs).
pub async fn run(job: &Job) -> Result<(), PushError> {
    let target = parse_target(&job.target, "rtp", &["sdp"])?;
    let sdp_path = match target.param("sdp") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            return Err(PushError::BadTarget(format!(
                "{}: needs ?sdp=PATH, the session description receivers read",
                job.target
            )));
        }
    };
    let dest = target.resolve().await?;
    let socket = target.socket(dest)?;
    let mut session = Session {
        job,
        target,
        dest,
        sdp_path,
        socket,
        tracks: Vec::new(),
        streams: Vec::new(),
        sequencers: HashMap::new(),
        session_id: random_u32(),
        version: 1,
        wire: BytesMut::with_capacity(2048),
    };
    tracing::info!(push = job.name, stream = job.stream.name(), %dest, "rtp push started");
    let mut sub = job.stream.subscribe();
    // describe the tracks known already, so receivers can start before the first frame
    session.tracks(&job.stream.tracks()).await?;
    while let Some(event) = next_event(&mut sub).await {
        match event {
            Event::Tracks(tracks) => session.tracks(&tracks).await?,
            Event::Frame(frame) => session.frame(&frame).await?,
            Event::Skipped { lost } => tracing::debug!(push = job.name, lost, "push skipped ahead"),
            Event::Offline | Event::Closed => {}
        }
    }
    tracing::info!(
        push = job.name,
        stream = job.stream.name(),
        "rtp push: the stream ended"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendable_puts_video_first_and_skips_what_it_cannot_describe() {
        let mut aac = Track::new(1, Codec::Aac, 48_000);
        aac.init = bytes::Bytes::from_static(&[0x11, 0x90]);
        let h264_unknown = Track::new(2, Codec::H264, 90_000);
        let mut h264 = Track::new(3, Codec::H264, 90_000);
        h264.init = bytes::Bytes::from_static(&[1]);
        let other = Track::new(4, Codec::Other("vp8".into()), 90_000);
        let opus = Track::new(5, Codec::Opus, 48_000);
        let out = sendable(&[aac, h264_unknown, h264, other, opus]);
        let ids: Vec<u32> = out.iter().map(|t| t.id).collect();
        assert_eq!(ids, [3, 1, 5]);
        assert_eq!(clock_rate(&out[1]), 48_000);
        assert_eq!(clock_rate(&out[2]), 48_000);
        assert_eq!(clock_rate(&out[0]), 90_000);
    }
}
