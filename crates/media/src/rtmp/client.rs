//! The publishing client: a sans-IO session that connects to an RTMP server
//! and publishes one stream (RTMP 1.0 §5.2, §7.2.1.1, §7.2.1.3, §7.2.2.6).
//!
//! The conversation, as ffmpeg and OBS have it (see [`super::ServerSession`]
//! for the server side):
//!
//! | client | server |
//! |---|---|
//! | C0 C1 | S0 S1 S2 |
//! | C2, Set Chunk Size, `connect(app, tcUrl, flashVer)` | Window Ack Size, Set Peer Bandwidth, Set Chunk Size, `_result` |
//! | `releaseStream(key)`, `FCPublish(key)`, `createStream()` | `_result`s (`releaseStream` and `FCPublish` answers are optional) |
//! | `publish(key, "live")` on the new stream | `onStatus(NetStream.Publish.Start)` |
//! | `@setDataFrame(onMetaData)`, audio, video | Acknowledgements, pings |
//! | `FCUnpublish(key)`, `deleteStream(id)` | |
//!
//! The handshake is the plain one (§5.2): C1 carries zero version bytes, so
//! servers answer without a digest. S2 is not checked (servers differ in
//! what they echo); C2 echoes S1.
//!
//! Audio and video messages carry FLV tag bodies, as built by
//! [`crate::flv::video_body`] and [`crate::flv::audio_body`]: H.264 as legacy
//! AVC, H.265 as Enhanced RTMP `hvc1`. Set [`ClientConfig::fourcc_list`] to
//! announce Enhanced RTMP codecs in `connect`.
//!
//! ```
//! use media::rtmp::client::{ClientConfig, ClientSession};
//! let mut client = ClientSession::new(ClientConfig::new("rtmp://host/live", "live", "key"));
//! let c0c1 = client.poll_output().unwrap();
//! assert_eq!(c0c1.len(), 1 + 1536);
//! assert_eq!(c0c1[0], 3);
//! ```

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use super::amf0::Value;
use super::handshake::{HANDSHAKE_SIZE, RTMP_VERSION};
use super::message::{Command, Control, UserControl, type_id};
use super::{ChunkDecoder, ChunkEncoder, MAX_CHUNK_SIZE, MAX_COMMAND_SIZE, Message};
use crate::flv::Metadata;

/// Chunk stream of commands on message stream 0 (as ffmpeg's system channel).
const COMMAND_CSID: u32 = 3;
/// Chunk stream of audio messages.
const AUDIO_CSID: u32 = 4;
/// Chunk stream of video messages.
const VIDEO_CSID: u32 = 6;
/// Chunk stream of commands and data on the published stream.
const STREAM_CSID: u32 = 8;

/// Transaction ids of the commands this client sends.
mod txn {
    pub(super) const CONNECT: f64 = 1.0;
    pub(super) const RELEASE_STREAM: f64 = 2.0;
    pub(super) const FC_PUBLISH: f64 = 3.0;
    pub(super) const CREATE_STREAM: f64 = 4.0;
    pub(super) const PUBLISH: f64 = 5.0;
}

/// Errors of a [`ClientSession`]; all are fatal for the connection.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The chunk stream, a message or the AMF0 data from the server is malformed.
    #[error(transparent)]
    Protocol(#[from] super::Error),
    /// S0 names a version other than 3.
    #[error("server answered the handshake with rtmp version {0} at byte 0, expected 3")]
    BadVersion(u8),
    /// The server refused a command (`_error`) or reported an error status
    /// (`onStatus` level `error`, e.g. `NetStream.Publish.BadName`).
    #[error("server refused {command}: {code}: {description}")]
    Refused {
        /// The command refused (`connect`, `createStream`, `publish`, ...).
        command: &'static str,
        /// The status code (`NetConnection.Connect.Rejected`, ...), or empty.
        code: String,
        /// The server's description, or empty.
        description: String,
    },
    /// `createStream`'s `_result` carries no stream id.
    #[error("createStream result without a stream id")]
    NoStreamId,
    /// The server closed the connection.
    #[error("server closed the connection {0}")]
    Eof(&'static str),
    /// Media or metadata before `NetStream.Publish.Start`.
    #[error("not publishing yet")]
    NotPublishing,
    /// Input or output after the session was closed.
    #[error("the session is closed")]
    Closed,
}

/// Result of the client session.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of a [`ClientSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// `tcUrl` of `connect`: `rtmp://HOST[:PORT]/APP`.
    pub tc_url: String,
    /// `app` of `connect`.
    pub app: String,
    /// The stream name (stream key) given to `releaseStream`, `FCPublish` and `publish`.
    pub stream_key: String,
    /// `flashVer` of `connect`.
    pub flash_ver: String,
    /// Chunk size announced and written after the handshake (default 4096;
    /// clamped to 128..=[`MAX_CHUNK_SIZE`]).
    pub chunk_size: u32,
    /// Window Acknowledgement Size sent after `connect` (default 2 500 000 bytes).
    pub window_ack_size: u32,
    /// Enhanced RTMP `fourCcList` of `connect` (e.g. `hvc1`); not sent when empty.
    pub fourcc_list: Vec<String>,
    /// Time field of C1 in milliseconds.
    pub epoch: u32,
    /// Seed of the random bytes of C1 (they need not be secret).
    pub seed: u64,
}

/// What happened on the connection, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// `connect` succeeded.
    Connected,
    /// `NetStream.Publish.Start`: media may flow on this message stream.
    Publishing {
        /// The message stream id from `createStream`.
        stream_id: u32,
    },
    /// Another `onStatus` from the server (level `status` or `warning`).
    Status {
        /// The status code.
        code: String,
        /// The description.
        description: String,
    },
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// C0 and C1 sent; waiting for S0, S1 and S2.
    Handshake,
    /// `connect` sent.
    Connecting,
    /// `createStream` sent.
    CreatingStream,
    /// `publish` sent on the stream.
    PublishSent(u32),
    /// Publishing on the stream.
    Publishing(u32),
    /// Over.
    Closed,
}

/// Sans-IO RTMP publishing client.
///
/// Send what [`Self::poll_output`] returns (C0 and C1 first), feed received
/// bytes to [`Self::handle_input`] and drain [`Self::poll_event`]. Once
/// [`ClientEvent::Publishing`] arrives, send [`Self::send_metadata`],
/// [`Self::send_video`] and [`Self::send_audio`]; end with [`Self::close`].
/// An error from `handle_input` is fatal: the session refuses further use.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    state: State,
    input: BytesMut,
    output: BytesMut,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    events: VecDeque<ClientEvent>,
    /// Bytes received, and at the last Acknowledgement.
    received: u64,
    acked: u64,
    /// The server's Window Acknowledgement Size (0: none yet).
    peer_window: u32,
}

// === impl ClientConfig ===

impl ClientConfig {
    /// Settings for publishing `stream_key` to `app` at `tc_url`, with the defaults.
    pub fn new(tc_url: &str, app: &str, stream_key: &str) -> Self {
        Self {
            tc_url: tc_url.to_owned(),
            app: app.to_owned(),
            stream_key: stream_key.to_owned(),
            flash_ver: "FMLE/3.0 (compatible; Tributary)".to_owned(),
            chunk_size: 4096,
            window_ack_size: 2_500_000,
            fourcc_list: Vec::new(),
            epoch: 0,
            seed: 0x00c1_1e47,
        }
    }
}

// === impl ClientSession ===

impl ClientSession {
    /// A session whose C0 and C1 wait in the output.
    pub fn new(mut config: ClientConfig) -> Self {
        config.chunk_size = config.chunk_size.clamp(128, MAX_CHUNK_SIZE);
        let mut output = BytesMut::with_capacity(1 + HANDSHAKE_SIZE);
        output.put_u8(RTMP_VERSION);
        put_random_block(&mut output, config.epoch, config.seed);
        Self {
            config,
            state: State::Handshake,
            input: BytesMut::new(),
            output,
            decoder: ChunkDecoder::new(),
            encoder: ChunkEncoder::new(),
            events: VecDeque::new(),
            received: 0,
            acked: 0,
            peer_window: 0,
        }
    }

    /// Handles bytes received from the server.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<()> {
        if self.state == State::Closed {
            return Err(Error::Closed);
        }
        self.received += bytes.len() as u64;
        self.input.extend_from_slice(bytes);
        let r = self.process();
        if r.is_err() {
            self.state = State::Closed;
        }
        r
    }

    /// The server closed the connection: an error unless the session was closed already.
    pub fn handle_eof(&mut self) -> Result<()> {
        let when = match self.state {
            State::Closed => return Ok(()),
            State::Handshake => "during the handshake",
            State::Connecting => "before answering connect",
            State::CreatingStream => "before answering createStream",
            State::PublishSent(_) => "before answering publish",
            State::Publishing(_) => "while publishing",
        };
        self.state = State::Closed;
        Err(Error::Eof(when))
    }

    /// Bytes to send to the server, if any.
    pub fn poll_output(&mut self) -> Option<Bytes> {
        (!self.output.is_empty()).then(|| self.output.split().freeze())
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// The message stream being published, once `NetStream.Publish.Start` arrived.
    pub fn publishing(&self) -> Option<u32> {
        match self.state {
            State::Publishing(id) => Some(id),
            _ => None,
        }
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Sends `@setDataFrame(onMetaData, ...)` (§7.1.2) on the published stream.
    pub fn send_metadata(&mut self, meta: &Metadata) -> Result<()> {
        let id = self.publishing().ok_or(Error::NotPublishing)?;
        let mut payload = BytesMut::with_capacity(256);
        Value::string("@setDataFrame").encode(&mut payload);
        meta.encode(&mut payload);
        self.send(Message {
            csid: STREAM_CSID,
            timestamp: 0,
            type_id: type_id::DATA_AMF0,
            stream_id: id,
            payload: payload.freeze(),
        })
    }

    /// Sends a video message: an FLV video tag body (FLV 10.1 §E.4.3, Enhanced RTMP).
    pub fn send_video(&mut self, timestamp_ms: u32, body: Bytes) -> Result<()> {
        self.send_media(VIDEO_CSID, type_id::VIDEO, timestamp_ms, body)
    }

    /// Sends an audio message: an FLV audio tag body (FLV 10.1 §E.4.2).
    pub fn send_audio(&mut self, timestamp_ms: u32, body: Bytes) -> Result<()> {
        self.send_media(AUDIO_CSID, type_id::AUDIO, timestamp_ms, body)
    }

    /// Ends publishing: queues `FCUnpublish` and `deleteStream` (when
    /// publishing) and closes the session. The caller sends the output, then
    /// closes the connection.
    pub fn close(&mut self) {
        if let State::Publishing(id) | State::PublishSent(id) = self.state {
            let key = Value::string(self.config.stream_key.clone());
            let unpublish = Command::new("FCUnpublish", 6.0, Value::Null, vec![key]);
            let delete = Command::new(
                "deleteStream",
                7.0,
                Value::Null,
                vec![Value::Number(f64::from(id))],
            );
            // the messages are small and on valid chunk streams: encoding cannot fail
            let _ = self.send(unpublish.to_message(COMMAND_CSID, 0));
            let _ = self.send(delete.to_message(COMMAND_CSID, 0));
        }
        self.state = State::Closed;
    }

    fn send_media(&mut self, csid: u32, type_id: u8, timestamp: u32, payload: Bytes) -> Result<()> {
        let stream_id = self.publishing().ok_or(Error::NotPublishing)?;
        self.send(Message {
            csid,
            timestamp,
            type_id,
            stream_id,
            payload,
        })
    }

    fn send(&mut self, msg: Message) -> Result<()> {
        Ok(self.encoder.encode(&msg, &mut self.output)?)
    }

    fn send_command(&mut self, name: &str, txn: f64, args: Vec<Value>, stream_id: u32) -> Result<()> {
        let csid = if stream_id == 0 { COMMAND_CSID } else { STREAM_CSID };
        self.send(Command::new(name, txn, Value::Null, args).to_message(csid, stream_id))
    }

    fn process(&mut self) -> Result<()> {
        if self.state == State::Handshake {
            if let Some(&v) = self.input.first()
                && v != RTMP_VERSION
            {
                return Err(Error::BadVersion(v));
            }
            if self.input.len() < 1 + 2 * HANDSHAKE_SIZE {
                return Ok(());
            }
            let s0s1s2 = self.input.split_to(1 + 2 * HANDSHAKE_SIZE);
            // C2: S1 echoed
            self.output.put_slice(&s0s1s2[1..1 + HANDSHAKE_SIZE]);
            self.start_connect()?;
        }
        while let Some(msg) = self.decoder.decode(&mut self.input)? {
            self.handle_message(msg)?;
            if self.state == State::Closed {
                return Ok(());
            }
        }
        if self.peer_window > 0 && self.received - self.acked >= u64::from(self.peer_window) {
            // §5.4.3: the sequence number is the byte count, wrapping at 32 bits
            self.acked = self.received;
            self.send(Control::Acknowledgement(self.received as u32).to_message())?;
        }
        Ok(())
    }

    /// After the handshake: Set Chunk Size, then `connect` (§7.2.1.1).
    fn start_connect(&mut self) -> Result<()> {
        self.send(Control::SetChunkSize(self.config.chunk_size).to_message())?;
        let c = &self.config;
        let mut props = vec![
            ("app", Value::string(c.app.clone())),
            ("type", Value::string("nonprivate")),
            ("flashVer", Value::string(c.flash_ver.clone())),
            ("tcUrl", Value::string(c.tc_url.clone())),
        ];
        if !c.fourcc_list.is_empty() {
            let list = c.fourcc_list.iter().map(|f| Value::string(f.clone())).collect();
            props.push(("fourCcList", Value::StrictArray(list)));
        }
        let connect = Command::new("connect", txn::CONNECT, Value::object(props), Vec::new());
        self.send(connect.to_message(COMMAND_CSID, 0))?;
        self.state = State::Connecting;
        Ok(())
    }

    fn handle_message(&mut self, msg: Message) -> Result<()> {
        match msg.type_id {
            type_id::COMMAND_AMF0 => self.handle_command(&msg.payload),
            type_id::COMMAND_AMF3 => match msg.payload.strip_prefix(&[0u8]) {
                Some(body) => self.handle_command(body),
                None => Ok(()),
            },
            t => match Control::parse(t, &msg.payload)? {
                Some(Control::UserControl(UserControl::PingRequest(t))) => {
                    self.send(Control::UserControl(UserControl::PingResponse(t)).to_message())
                }
                Some(Control::WindowAckSize(w)) => {
                    self.peer_window = w;
                    Ok(())
                }
                // Set Chunk Size and Abort were applied by the decoder; media and data are ignored
                _ => Ok(()),
            },
        }
    }

    fn handle_command(&mut self, body: &[u8]) -> Result<()> {
        if body.len() > MAX_COMMAND_SIZE {
            return Err(super::Error::CommandTooLarge(body.len()).into());
        }
        let cmd = Command::parse(body)?;
        let info = cmd.args.first();
        let text = |k: &str| {
            info.and_then(|i| i.property(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match cmd.name.as_str() {
            "_result" => self.handle_result(cmd.transaction_id, &cmd.args),
            "_error" => {
                let command = match cmd.transaction_id {
                    t if t == txn::CONNECT => "connect",
                    t if t == txn::CREATE_STREAM => "createStream",
                    t if t == txn::PUBLISH => "publish",
                    // refusals of releaseStream and FCPublish do not stop the publish
                    _ => return Ok(()),
                };
                Err(Error::Refused {
                    command,
                    code: text("code"),
                    description: text("description"),
                })
            }
            "onStatus" => {
                let (level, code, description) = (text("level"), text("code"), text("description"));
                if level == "error" {
                    let command = match self.state {
                        State::Connecting => "connect",
                        State::CreatingStream => "createStream",
                        _ => "publish",
                    };
                    return Err(Error::Refused {
                        command,
                        code,
                        description,
                    });
                }
                match self.state {
                    State::PublishSent(id) if code == "NetStream.Publish.Start" => {
                        self.state = State::Publishing(id);
                        self.events.push_back(ClientEvent::Publishing { stream_id: id });
                    }
                    _ => self.events.push_back(ClientEvent::Status { code, description }),
                }
                Ok(())
            }
            // onBWDone, onFCPublish, _checkbw, ...: notifications that need no answer
            _ => Ok(()),
        }
    }

    fn handle_result(&mut self, txn: f64, args: &[Value]) -> Result<()> {
        match self.state {
            State::Connecting if txn == txn::CONNECT => {
                self.events.push_back(ClientEvent::Connected);
                self.send(Control::WindowAckSize(self.config.window_ack_size).to_message())?;
                let key = vec![Value::string(self.config.stream_key.clone())];
                self.send_command("releaseStream", txn::RELEASE_STREAM, key.clone(), 0)?;
                self.send_command("FCPublish", txn::FC_PUBLISH, key, 0)?;
                self.send_command("createStream", txn::CREATE_STREAM, Vec::new(), 0)?;
                self.state = State::CreatingStream;
                Ok(())
            }
            State::CreatingStream if txn == txn::CREATE_STREAM => {
                let id = args
                    .iter()
                    .find_map(Value::as_number)
                    .filter(|n| n.is_finite() && *n >= 0.0 && *n <= f64::from(u32::MAX))
                    .ok_or(Error::NoStreamId)? as u32;
                let args = vec![
                    Value::string(self.config.stream_key.clone()),
                    Value::string("live"),
                ];
                self.send_command("publish", txn::PUBLISH, args, id)?;
                self.state = State::PublishSent(id);
                Ok(())
            }
            // answers to releaseStream, FCPublish, or stale ones
            _ => Ok(()),
        }
    }
}

/// A C1 block: time, four zero bytes (plain handshake), random bytes (xorshift64*).
fn put_random_block(out: &mut impl BufMut, epoch: u32, seed: u64) {
    out.put_u32(epoch);
    out.put_u32(0);
    let mut x = seed | 1;
    for _ in 0..(HANDSHAKE_SIZE - 8) / 8 {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.put_u64(x.wrapping_mul(0x2545_f491_4f6c_dd1d));
    }
}
