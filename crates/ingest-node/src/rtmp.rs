//! RTMP publishing (`rtmp://HOST:1935/live/NAME`, key as `?key=`), as OBS and
//! ffmpeg send it: one task per connection driving the sans-IO
//! [`media::rtmp::ServerSession`]; the FLV bodies it yields become frames
//! through [`media::flv::Demuxer`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hub::{Hub, Publisher};
use media::flv;
use media::rtmp::{ServerConfig, ServerSession, SessionEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::Instrument;

use crate::admission::{Admission, PublishRefusal};

/// A connection that sends nothing for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// Accepts connections until the listener fails.
pub async fn serve(listener: TcpListener, hub: Arc<Hub>, admission: Admission) -> std::io::Result<()> {
    loop {
        let (socket, peer) = listener.accept().await?;
        let (hub, admission) = (hub.clone(), admission.clone());
        let span = tracing::info_span!("conn", proto = "rtmp", %peer);
        tokio::spawn(
            async move {
                if let Err(e) = Connection::new(peer, hub, admission).run(socket).await {
                    tracing::info!(%e, "rtmp connection ended");
                }
            }
            .instrument(span),
        );
    }
}

/// One publisher connection.
struct Connection {
    peer: SocketAddr,
    hub: Arc<Hub>,
    admission: Admission,
    session: ServerSession,
    publishing: Option<(Publisher, flv::Demuxer)>,
}

impl Connection {
    fn new(peer: SocketAddr, hub: Arc<Hub>, admission: Admission) -> Self {
        Self {
            peer,
            hub,
            admission,
            session: ServerSession::new(ServerConfig::default()),
            publishing: None,
        }
    }

    async fn run(mut self, mut socket: TcpStream) -> Result<(), String> {
        let _ = socket.set_nodelay(true);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match tokio::time::timeout(IDLE_TIMEOUT, socket.read(&mut buf)).await {
                Err(_) => return Err("idle timeout".into()),
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok(0)) => {
                    self.session.handle_eof();
                    0
                }
                Ok(Ok(n)) => n,
            };
            let input = if n > 0 {
                self.session.handle_input(&buf[..n])
            } else {
                Ok(())
            };
            // drain events before failing so a refusal is still answered
            while let Some(event) = self.session.poll_event() {
                self.handle(event);
            }
            while let Some(out) = self.session.poll_output() {
                socket.write_all(&out).await.map_err(|e| e.to_string())?;
            }
            input.map_err(|e| {
                if let Some((p, _)) = &self.publishing {
                    p.stream().set_error(format!("rtmp from {}: {e}", self.peer));
                }
                e.to_string()
            })?;
            if n == 0 || self.session.is_closed() {
                return Ok(());
            }
        }
    }

    fn handle(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::Publish { stream_name, key, .. } => {
                match self.admit(&stream_name, key.as_deref()) {
                    Ok(publisher) => {
                        tracing::info!(stream = publisher.stream().name(), "rtmp publish accepted");
                        let _ = self.session.accept_publish();
                        self.publishing = Some((publisher, flv::Demuxer::new()));
                    }
                    Err(refusal) => {
                        tracing::warn!(stream = %stream_name, reason = %refusal, "rtmp publish refused");
                        if let Some(s) = self.hub.get(&stream_name) {
                            s.set_error(format!("publish from {} refused: {refusal}", self.peer.ip()));
                        }
                        let _ = self.session.reject_publish(&refusal.to_string());
                    }
                }
            }
            SessionEvent::Video { timestamp_ms, body } => self.media(timestamp_ms, &body, true),
            SessionEvent::Audio { timestamp_ms, body } => self.media(timestamp_ms, &body, false),
            SessionEvent::Unpublish { .. } | SessionEvent::DeleteStream { .. } | SessionEvent::Closed => {
                if let Some((p, _)) = self.publishing.take() {
                    tracing::info!(stream = p.stream().name(), "rtmp publisher left");
                }
            }
            SessionEvent::Play { stream_name, .. } => {
                tracing::debug!(stream = %stream_name, "rtmp play refused: rtmp playback is not offered");
            }
            SessionEvent::Connect { .. } | SessionEvent::Metadata(_) => {}
        }
    }

    fn admit(&self, name: &str, key: Option<&str>) -> Result<Publisher, PublishRefusal> {
        let name = self.admission.check(name, self.peer.ip(), key)?;
        self.hub
            .stream(name.as_str())
            .publish()
            .map_err(|_| PublishRefusal::Busy(name.as_str().to_owned()))
    }

    fn media(&mut self, ts: u32, body: &Bytes, video: bool) {
        let Some((publisher, demux)) = self.publishing.as_mut() else {
            return;
        };
        let result = if video {
            demux.handle_video(ts, body)
        } else {
            demux.handle_audio(ts, body)
        };
        match result {
            Ok(Some(flv::Event::Track(_))) => {
                let tracks = [demux.video_track(), demux.audio_track()]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect();
                publisher.set_tracks(tracks);
            }
            Ok(Some(flv::Event::Frame(frame))) => publisher.push(frame),
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(%e, "rtmp media message skipped");
                publisher
                    .stream()
                    .set_error(format!("rtmp from {}: {e}", self.peer.ip()));
            }
        }
    }
}
