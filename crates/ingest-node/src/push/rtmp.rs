//! RTMP and RTMPS pushes: `rtmp://HOST[:PORT]/APP/KEY` (port 1935) and
//! `rtmps://HOST[:PORT]/APP/KEY` (TLS, port 443), driving the sans-IO
//! [`media::rtmp::client::ClientSession`].
//!
//! The stream is read from its newest keyframe: `onMetaData`, the sequence
//! headers, then the frames as FLV tag bodies, timestamps in milliseconds
//! from the first frame and monotonic per track (a source restart continues
//! the clock). With `audioOverride` the stream's AAC track is replaced by the
//! frames of an ADTS file, looped, frame `n` at `start + n * 1024 /
//! sample_rate`, sent at most [`AUDIO_LEAD`] ahead of the stream's clock.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use hub::{Event, Subscriber};
use media::flv::{self, AudioPacket, Metadata, VideoPacket};
use media::rtmp::client::{ClientConfig, ClientEvent, ClientSession};
use media::{Codec, Frame, Track};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::rustls;

use super::{Job, PushError};

/// Port of `rtmp://` targets without one.
pub const DEFAULT_PORT: u16 = 1935;
/// Port of `rtmps://` targets without one.
pub const DEFAULT_TLS_PORT: u16 = 443;
/// Longest wait for name resolution and the TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait from the TCP connection to `NetStream.Publish.Start`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a write to the target may block before the push fails.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// How far override audio may run ahead of the stream's clock.
pub const AUDIO_LEAD: Duration = Duration::from_millis(100);
/// Largest `audioOverride` file read.
pub const MAX_OVERRIDE_SIZE: u64 = 64 << 20;

/// A parsed `rtmp://` or `rtmps://` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `rtmps://`: TLS.
    pub tls: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Application: the first path element.
    pub app: String,
    /// Stream key: the rest of the path, with any query (a secret: not logged).
    pub key: String,
}

// === impl Target ===

impl Target {
    /// Parses `rtmp://HOST[:PORT]/APP/KEY` or `rtmps://...`.
    pub fn parse(url: &str) -> Result<Self, PushError> {
        let bad = |why: &str| PushError::BadTarget(format!("rtmp target: {why}"));
        let (tls, rest) = if let Some(r) = url.strip_prefix("rtmp://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("rtmps://") {
            (true, r)
        } else {
            return Err(bad("the url must start with rtmp:// or rtmps://"));
        };
        let (authority, path) = rest.split_once('/').ok_or_else(|| bad("no /APP/KEY path"))?;
        let (host, port) = split_host_port(authority).ok_or_else(|| bad("bad host or port"))?;
        let (app, key) = path
            .split_once('/')
            .ok_or_else(|| bad("no stream key after /APP"))?;
        if app.is_empty() || key.is_empty() {
            return Err(bad("empty application or stream key"));
        }
        Ok(Self {
            tls,
            host: host.to_owned(),
            port: port.unwrap_or(if tls { DEFAULT_TLS_PORT } else { DEFAULT_PORT }),
            app: app.to_owned(),
            key: key.to_owned(),
        })
    }

    /// `tcUrl`: `rtmp[s]://HOST[:PORT]/APP`.
    pub fn tc_url(&self) -> String {
        let scheme = if self.tls { "rtmps" } else { "rtmp" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}/{}", self.port, self.app)
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => None,
    };
    Some((host, port))
}

/// Pushes the job's stream to its RTMP or RTMPS target until the stream
/// ends (`Ok`) or the target fails (`Err`).
pub async fn run(job: &Job) -> Result<(), PushError> {
    let target = Target::parse(&job.target)?;
    let audio = match &job.audio_override {
        Some(path) => Some(Override::load(path).await?),
        None => None,
    };
    let tcp = connect(&target).await?;
    let _ = tcp.set_nodelay(true);
    let mut config = ClientConfig::new(&target.tc_url(), &target.app, &target.key);
    if job.stream.tracks().iter().any(|t| t.codec == Codec::H265) {
        config.fourcc_list = vec!["hvc1".to_owned()];
    }
    let session = ClientSession::new(config);
    let where_ = format!("{}:{}", target.host, target.port);
    if target.tls {
        let tls = tls_connect(&target, tcp).await?;
        Pusher::new(tls, session, job, where_).run(audio).await
    } else {
        Pusher::new(tcp, session, job, where_).run(audio).await
    }
}

/// Resolves the host and connects to the first address that answers.
async fn connect(target: &Target) -> Result<TcpStream, PushError> {
    let fail = PushError::Failed;
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    let addrs = timeout(CONNECT_TIMEOUT, lookup)
        .await
        .map_err(|_| fail(format!("resolving {} timed out", target.host)))?
        .map_err(|e| fail(format!("cannot resolve {}: {e}", target.host)))?;
    let mut last = format!("{} resolves to no address", target.host);
    for addr in addrs {
        match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = format!("connecting to {addr}: {e}"),
            Err(_) => last = format!("connecting to {addr}: no answer within {CONNECT_TIMEOUT:?}"),
        }
    }
    Err(fail(last))
}

/// The TLS client configuration: the ring provider (what reqwest uses in
/// this workspace) and the webpki root certificates.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, PushError> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| PushError::Failed(format!("tls configuration: {e}")))
}

async fn tls_connect(
    target: &Target,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, PushError> {
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|e| PushError::BadTarget(format!("rtmps host {}: {e}", target.host)))?;
    let connector = tokio_rustls::TlsConnector::from(tls_config()?);
    timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| {
            PushError::Failed(format!(
                "tls handshake with {}:{} timed out after {HANDSHAKE_TIMEOUT:?}",
                target.host, target.port
            ))
        })?
        .map_err(|e| PushError::Failed(format!("tls handshake with {}:{}: {e}", target.host, target.port)))
}

/// One connection to the target and the session on it.
struct Pusher<'a, S> {
    io: S,
    session: ClientSession,
    job: &'a Job,
    /// `host:port`, for messages.
    peer: String,
    buf: Vec<u8>,
    /// `connect` succeeded.
    connected: bool,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Pusher<'a, S> {
    fn new(io: S, session: ClientSession, job: &'a Job, peer: String) -> Self {
        Self {
            io,
            session,
            job,
            peer,
            buf: vec![0; 16 * 1024],
            connected: false,
        }
    }

    async fn run(mut self, audio: Option<Override>) -> Result<(), PushError> {
        let stream_id = match timeout(HANDSHAKE_TIMEOUT, self.negotiate()).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(PushError::Failed(format!(
                    "{}: no rtmp {} within {HANDSHAKE_TIMEOUT:?}",
                    self.peer,
                    self.waiting_for()
                )));
            }
        };
        tracing::info!(push = %self.job.name, target = %self.peer, stream_id, "rtmp publish started");
        let mut sub = self.job.stream.subscribe();
        let mut mux = Mux::new(audio);
        let ended = self.publish(&mut sub, &mut mux).await;
        if ended.is_ok() {
            // leave politely; the stream is over whatever the target says now
            self.session.close();
            let _ = timeout(Duration::from_secs(2), async {
                let _ = self.flush().await;
                let _ = self.io.shutdown().await;
            })
            .await;
        }
        ended
    }

    fn waiting_for(&self) -> &'static str {
        if self.session.is_closed() {
            "answer"
        } else if self.connected {
            "publish answer"
        } else {
            "handshake answer"
        }
    }

    /// Handshake, connect, createStream, publish: the stream id.
    async fn negotiate(&mut self) -> Result<u32, PushError> {
        loop {
            self.flush().await?;
            while let Some(e) = self.session.poll_event() {
                match e {
                    ClientEvent::Connected => self.connected = true,
                    ClientEvent::Publishing { stream_id } => return Ok(stream_id),
                    ClientEvent::Status { .. } => {}
                }
            }
            self.read().await?;
        }
    }

    /// Sends frames until the stream ends: it is removed, or goes offline after frames were sent.
    async fn publish(&mut self, sub: &mut Subscriber, mux: &mut Mux) -> Result<(), PushError> {
        loop {
            tokio::select! {
                event = sub.next() => match event {
                    Event::Closed => return Ok(()),
                    // a stream that is not live yet has not ended: wait for it
                    Event::Offline if mux.last_any.is_some() => return Ok(()),
                    event => mux.handle(event, &mut self.session)?,
                },
                r = self.io.read(&mut self.buf) => self.input(r)?,
            }
            while self.session.poll_event().is_some() {}
            self.flush().await?;
        }
    }

    async fn read(&mut self) -> Result<(), PushError> {
        let r = self.io.read(&mut self.buf).await;
        self.input(r)
    }

    fn input(&mut self, r: std::io::Result<usize>) -> Result<(), PushError> {
        let fail = |e: String| PushError::Failed(format!("{}: {e}", self.peer));
        match r {
            Ok(0) => self.session.handle_eof().map_err(|e| fail(e.to_string())),
            Ok(n) => self
                .session
                .handle_input(&self.buf[..n])
                .map_err(|e| fail(e.to_string())),
            Err(e) => Err(fail(format!("read: {e}"))),
        }
    }

    async fn flush(&mut self) -> Result<(), PushError> {
        while let Some(out) = self.session.poll_output() {
            match timeout(WRITE_TIMEOUT, self.io.write_all(&out)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(PushError::Failed(format!("{}: write: {e}", self.peer))),
                Err(_) => {
                    return Err(PushError::Failed(format!(
                        "{}: target stalled: a write blocked for {WRITE_TIMEOUT:?}",
                        self.peer
                    )));
                }
            }
            self.job.bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Turns subscriber events into RTMP messages: clock, sequence headers, metadata, audio override.
#[derive(Debug)]
struct Mux {
    video: Option<Track>,
    /// The stream's AAC track (unused with an override).
    audio: Option<Track>,
    over: Option<Override>,
    /// Input time (ms) that maps to `offset`, set by the first frame of an epoch.
    origin: Option<i64>,
    offset: i64,
    /// Sequence headers of the current tracks sent.
    headers_sent: bool,
    metadata_sent: bool,
    /// Last timestamps sent, per kind, and of anything.
    last_video: i64,
    last_audio: i64,
    last_any: Option<i64>,
}

/// `audioOverride`: ADTS frames looped on the stream's clock.
#[derive(Debug)]
struct Override {
    track: Track,
    frames: Vec<Frame>,
    sample_rate: u64,
    /// Output time of frame 0 of the current run, and frames sent in it.
    start: Option<i64>,
    count: u64,
    /// Next frame of the file.
    next: usize,
}

// === impl Override ===

impl Override {
    /// Reads and parses the ADTS file.
    async fn load(path: &Path) -> Result<Self, PushError> {
        let name = path.display();
        let bad = |e: String| PushError::BadTarget(format!("audioOverride {name}: {e}"));
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| bad(e.to_string()))?
            .len();
        if size > MAX_OVERRIDE_SIZE {
            return Err(bad(format!("{size} bytes is more than {MAX_OVERRIDE_SIZE}")));
        }
        let data = tokio::fs::read(path).await.map_err(|e| bad(e.to_string()))?;
        let demuxed = media::adts::read_all(&data).map_err(|e| bad(format!("not an ADTS AAC file ({e})")))?;
        let track = demuxed.tracks.into_iter().next();
        let (Some(track), false) = (track, demuxed.frames.is_empty()) else {
            return Err(bad("not an ADTS AAC file (no frames)".into()));
        };
        let sample_rate = track.audio.as_ref().map_or(track.timescale, |a| a.sample_rate);
        if sample_rate == 0 {
            return Err(bad("not an ADTS AAC file (sample rate 0)".into()));
        }
        Ok(Self {
            track,
            frames: demuxed.frames,
            sample_rate: u64::from(sample_rate),
            start: None,
            count: 0,
            next: 0,
        })
    }

    /// Output time of the next frame.
    fn next_ts(&self, start: i64) -> i64 {
        let samples = self
            .count
            .saturating_mul(u64::from(media::aac::SAMPLES_PER_FRAME));
        start.saturating_add((samples.saturating_mul(1000) / self.sample_rate) as i64)
    }
}

// === impl Mux ===

impl Mux {
    fn new(over: Option<Override>) -> Self {
        Self {
            video: None,
            audio: None,
            over,
            origin: None,
            offset: 0,
            headers_sent: false,
            metadata_sent: false,
            last_video: 0,
            last_audio: 0,
            last_any: None,
        }
    }

    fn handle(&mut self, event: Event, session: &mut ClientSession) -> Result<(), PushError> {
        match event {
            Event::Tracks(tracks) => {
                self.video = tracks
                    .iter()
                    .find(|t| matches!(t.codec, Codec::H264 | Codec::H265))
                    .cloned();
                self.audio = tracks.iter().find(|t| t.codec == Codec::Aac).cloned();
                self.headers_sent = false;
                // a new source: its clock starts again after what was sent
                self.origin = None;
                self.offset = self.last_any.map_or(0, |t| t + 1);
                Ok(())
            }
            Event::Frame(frame) => self.frame(&frame, session),
            Event::Skipped { lost } => {
                tracing::debug!(lost, "rtmp push skipped to the live edge");
                Ok(())
            }
            Event::Offline | Event::Closed => Ok(()),
        }
    }

    fn frame(&mut self, frame: &Frame, session: &mut ClientSession) -> Result<(), PushError> {
        let dts = frame.dts.rescale(1000).ticks();
        let is_video = self.video.as_ref().is_some_and(|t| t.id == frame.track);
        let is_audio = self.audio.as_ref().is_some_and(|t| t.id == frame.track);
        // the clock follows the video, or the stream's audio when there is no video
        let is_clock = is_video || (is_audio && self.video.is_none());
        if !is_video && !is_audio {
            return Ok(());
        }
        let origin = match self.origin {
            Some(o) => o,
            None if is_clock && (frame.keyframe || !is_video) => *self.origin.insert(dts),
            // before the first keyframe
            None => return Ok(()),
        };
        let ts = dts - origin + self.offset;
        if ts < self.offset {
            // audio from before the first keyframe
            return Ok(());
        }
        if !self.headers_sent {
            self.send_headers(ts, session)?;
        }
        if is_video {
            let ts = ts.max(self.last_video);
            let cts = frame.pts.rescale(1000).ticks() - dts;
            let codec = self
                .video
                .as_ref()
                .map(|t| t.codec.clone())
                .unwrap_or(Codec::H264);
            let header = VideoPacket::Frame {
                keyframe: frame.keyframe,
                cts: i32::try_from(cts).unwrap_or(0),
                data: Bytes::new(),
            };
            let mut body = BytesMut::with_capacity(8 + frame.data.len());
            if let Err(e) = flv::video_body(&codec, header, &mut body) {
                tracing::debug!(%e, "rtmp push: video frame skipped");
                return Ok(());
            }
            body.put_slice(&frame.data);
            session.send_video(ms(ts), body.freeze()).map_err(failed)?;
            self.last_video = ts;
            self.sent(ts);
        } else if self.over.is_none() {
            let ts = ts.max(self.last_audio);
            self.send_aac(ts, &frame.data, session)?;
        }
        if is_clock {
            self.pump_override(ts, session)?;
        }
        Ok(())
    }

    /// Override frames up to `clock` + [`AUDIO_LEAD`].
    fn pump_override(&mut self, clock: i64, session: &mut ClientSession) -> Result<(), PushError> {
        let lead = AUDIO_LEAD.as_millis() as i64;
        loop {
            let Some(o) = self.over.as_mut() else {
                return Ok(());
            };
            let start = *o.start.get_or_insert(clock);
            let mut ts = o.next_ts(start);
            if ts < clock - 10 * lead {
                // far behind (the stream skipped ahead): start a new run at the clock
                o.start = Some(clock);
                o.count = 0;
                ts = clock;
            }
            if ts > clock + lead {
                return Ok(());
            }
            let data = o.frames[o.next % o.frames.len()].data.clone();
            o.next = (o.next + 1) % o.frames.len();
            o.count += 1;
            let ts = ts.max(self.last_audio);
            self.send_aac(ts, &data, session)?;
        }
    }

    fn send_aac(&mut self, ts: i64, data: &Bytes, session: &mut ClientSession) -> Result<(), PushError> {
        let mut body = BytesMut::with_capacity(2 + data.len());
        flv::audio_body(AudioPacket::Frame(Bytes::new()), &mut body);
        body.put_slice(data);
        session.send_audio(ms(ts), body.freeze()).map_err(failed)?;
        self.last_audio = ts;
        self.sent(ts);
        Ok(())
    }

    fn sent(&mut self, ts: i64) {
        self.last_any = Some(self.last_any.map_or(ts, |l| l.max(ts)));
    }

    /// `onMetaData` (once) and the sequence headers of the current tracks.
    fn send_headers(&mut self, ts: i64, session: &mut ClientSession) -> Result<(), PushError> {
        let audio = self.over.as_ref().map(|o| &o.track).or(self.audio.as_ref());
        if !self.metadata_sent {
            let mut meta = Metadata {
                encoder: Some("Tributary".into()),
                ..Metadata::default()
            };
            if let Some(v) = &self.video {
                meta.videocodecid = Some(match v.codec {
                    Codec::H265 => f64::from(u32::from_be_bytes(flv::FOURCC_HEVC)),
                    _ => f64::from(flv::CODEC_ID_AVC),
                });
                if let Some(info) = &v.video {
                    meta.width = Some(f64::from(info.width));
                    meta.height = Some(f64::from(info.height));
                    meta.framerate = info.fps;
                }
            }
            if let Some(a) = audio {
                meta.audiocodecid = Some(f64::from(flv::SOUND_FORMAT_AAC));
                if let Some(info) = &a.audio {
                    meta.audiosamplerate = Some(f64::from(info.sample_rate));
                    meta.stereo = Some(info.channels >= 2);
                }
            }
            session.send_metadata(&meta).map_err(failed)?;
            self.metadata_sent = true;
        }
        for (track, video) in [(self.video.as_ref(), true), (audio, false)] {
            let Some(track) = track else { continue };
            let mut tag = Vec::with_capacity(track.init.len() + 32);
            flv::write_sequence_header(track, ms(ts), &mut tag)
                .map_err(|e| PushError::Failed(format!("track {} ({}): {e}", track.id, track.codec)))?;
            // the tag body, without the tag header and PreviousTagSize
            let body = Bytes::copy_from_slice(&tag[flv::TAG_HEADER_SIZE..tag.len() - 4]);
            if video {
                session.send_video(ms(ts), body)
            } else {
                session.send_audio(ms(ts), body)
            }
            .map_err(failed)?;
        }
        self.headers_sent = true;
        Ok(())
    }
}

/// Milliseconds as RTMP's 32-bit wrapping timestamp.
fn ms(ts: i64) -> u32 {
    (ts.max(0) as u64 & 0xffff_ffff) as u32
}

fn failed(e: media::rtmp::client::Error) -> PushError {
    PushError::Failed(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = Target::parse("rtmp://a.rtmp.youtube.com/live2/abcd-efgh").unwrap();
        assert_eq!(
            t,
            Target {
                tls: false,
                host: "a.rtmp.youtube.com".into(),
                port: 1935,
                app: "live2".into(),
                key: "abcd-efgh".into(),
            }
        );
        assert_eq!(t.tc_url(), "rtmp://a.rtmp.youtube.com:1935/live2");
        let t = Target::parse("rtmps://[::1]:8443/app/inst/key?secret=1").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (true, "::1", 8443));
        assert_eq!((t.app.as_str(), t.key.as_str()), ("app", "inst/key?secret=1"));
        assert_eq!(t.tc_url(), "rtmps://[::1]:8443/app");
        assert_eq!(Target::parse("rtmps://h/app/k").unwrap().port, 443);
        for bad in [
            "srt://h/app/k",
            "rtmp://h/app",
            "rtmp://h/app/",
            "rtmp:///app/k",
            "rtmp://h:0/app/k",
            "rtmp://h:x/app/k",
            "rtmp://[::1/app/k",
            "rtmp://h",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(PushError::BadTarget(_))),
                "{bad}"
            );
        }
    }
}
