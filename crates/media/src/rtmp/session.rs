//! The server session: handshake, chunk streams and the publish command flow
//! (RTMP 1.0 §7.2.1 NetConnection commands, §7.2.2 NetStream commands).
//!
//! A publisher's conversation, as ffmpeg and OBS have it:
//!
//! | client | server |
//! |---|---|
//! | C0 C1, C2 | S0 S1 S2 |
//! | `connect(app, tcUrl)` | Window Ack Size, Set Peer Bandwidth, Set Chunk Size, `_result(NetConnection.Connect.Success)` |
//! | `releaseStream(name)`, `FCPublish(name)` | `_result`, `onFCPublish` |
//! | `createStream()` | `_result(stream id)` |
//! | `publish(name, "live")` on that stream | (the application decides) Stream Begin, `onStatus(NetStream.Publish.Start)` or `onStatus(NetStream.Publish.BadName)` |
//! | `@setDataFrame(onMetaData)`, audio, video | |
//! | `FCUnpublish(name)`, `deleteStream(id)` | |

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::amf0::Value;
use super::event::{ServerConfig, SessionEvent};
use super::handshake::ServerHandshake;
use super::message::{Command, Control, UserControl, type_id};
use super::{
    ChunkDecoder, ChunkEncoder, Error, MAX_CHUNK_SIZE, Message, Result, StreamPath, parse_stream_path,
};
use crate::flv::Metadata;

/// Largest command message the session parses.
pub const MAX_COMMAND_SIZE: usize = 64 << 10;
/// Most message streams one connection may create.
pub const MAX_STREAMS: usize = 8;

/// Chunk stream of the server's command answers on stream 0.
const COMMAND_CSID: u32 = 3;
/// Chunk stream of `onStatus` on a message stream.
const STATUS_CSID: u32 = 5;

/// Sans-IO RTMP server session for publishers.
///
/// Feed received bytes to [`Self::handle_input`], send what
/// [`Self::poll_output`] returns, and drain [`Self::poll_event`] after each
/// input. Call [`Self::handle_eof`] when the peer closes the connection.
/// An error from `handle_input` is fatal: the session emits
/// [`SessionEvent::Closed`] and refuses further input.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    handshake: ServerHandshake,
    input: BytesMut,
    output: BytesMut,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    events: VecDeque<SessionEvent>,
    /// `connect`'s app (with any query) and tcUrl.
    connect: Option<(String, Option<String>)>,
    /// Message streams made by `createStream`.
    streams: Vec<u32>,
    next_stream_id: u32,
    publish: Option<Publish>,
    /// Bytes received, and at the last Acknowledgement.
    received: u64,
    acked: u64,
    /// The client's Window Acknowledgement Size (0: none yet).
    peer_window: u32,
    closed: bool,
}

/// A publish request, answered or not.
#[derive(Debug)]
struct Publish {
    stream_id: u32,
    path: StreamPath,
    accepted: bool,
}

// === impl ServerSession ===

impl ServerSession {
    /// A session waiting for the client's C0 and C1.
    pub fn new(mut config: ServerConfig) -> Self {
        config.chunk_size = config.chunk_size.clamp(1, MAX_CHUNK_SIZE);
        Self {
            handshake: ServerHandshake::new(config.epoch, config.seed),
            config,
            input: BytesMut::new(),
            output: BytesMut::new(),
            decoder: ChunkDecoder::new(),
            encoder: ChunkEncoder::new(),
            events: VecDeque::new(),
            connect: None,
            streams: Vec::new(),
            next_stream_id: 1,
            publish: None,
            received: 0,
            acked: 0,
            peer_window: 0,
            closed: false,
        }
    }

    /// Handles bytes received from the client.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        self.received += bytes.len() as u64;
        self.input.extend_from_slice(bytes);
        let r = self.process();
        if r.is_err() {
            self.close();
        }
        r
    }

    /// The peer closed the connection (or the application ends the session):
    /// emits [`SessionEvent::Unpublish`] if publishing, then [`SessionEvent::Closed`].
    pub fn handle_eof(&mut self) {
        if !self.closed {
            self.close();
        }
    }

    /// Bytes to send to the client, if any.
    pub fn poll_output(&mut self) -> Option<Bytes> {
        (!self.output.is_empty()).then(|| self.output.split().freeze())
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The accepted publish, if any.
    pub fn published(&self) -> Option<&StreamPath> {
        self.publish.as_ref().filter(|p| p.accepted).map(|p| &p.path)
    }

    /// Accepts the pending publish: queues Stream Begin and
    /// `onStatus(NetStream.Publish.Start)`; audio, video and metadata events follow.
    pub fn accept_publish(&mut self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        let p = match &mut self.publish {
            Some(p) if !p.accepted => p,
            _ => return Err(Error::NoPendingPublish),
        };
        p.accepted = true;
        let (id, desc) = (p.stream_id, format!("{} is now published", p.path.stream_name));
        self.send(Control::UserControl(UserControl::StreamBegin(id)).to_message())?;
        self.send_status(id, "status", "NetStream.Publish.Start", &desc)
    }

    /// Rejects the pending publish with `onStatus(NetStream.Publish.BadName)`
    /// (level `error`, description `reason`); clients give up on it.
    pub fn reject_publish(&mut self, reason: &str) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        match self.publish.take() {
            Some(p) if !p.accepted => {
                self.send_status(p.stream_id, "error", "NetStream.Publish.BadName", reason)
            }
            other => {
                self.publish = other;
                Err(Error::NoPendingPublish)
            }
        }
    }

    fn process(&mut self) -> Result<()> {
        if !self.handshake.is_done() && !self.handshake.handle(&mut self.input, &mut self.output)? {
            return Ok(());
        }
        while let Some(msg) = self.decoder.decode(&mut self.input)? {
            self.handle_message(msg)?;
        }
        if self.peer_window > 0 && self.received - self.acked >= u64::from(self.peer_window) {
            // §5.4.3: the sequence number is the byte count, wrapping at 32 bits
            self.acked = self.received;
            self.send(Control::Acknowledgement(self.received as u32).to_message())?;
        }
        Ok(())
    }

    fn close(&mut self) {
        self.closed = true;
        self.end_publish(None, false);
        self.events.push_back(SessionEvent::Closed);
    }

    fn handle_message(&mut self, msg: Message) -> Result<()> {
        // AMF3 data and commands: a format byte 0 then AMF0 (what clients send in practice)
        let amf3_body = || msg.payload.strip_prefix(&[0u8]);
        match msg.type_id {
            type_id::AUDIO | type_id::VIDEO => {
                self.handle_media(msg.type_id, msg.stream_id, msg.timestamp, msg.payload);
            }
            type_id::DATA_AMF0 => self.handle_data(msg.stream_id, &msg.payload),
            type_id::DATA_AMF3 => {
                if let Some(body) = amf3_body() {
                    self.handle_data(msg.stream_id, body);
                }
            }
            type_id::COMMAND_AMF0 => self.handle_command(msg.stream_id, &msg.payload)?,
            type_id::COMMAND_AMF3 => {
                if let Some(body) = amf3_body() {
                    self.handle_command(msg.stream_id, body)?;
                }
            }
            type_id::AGGREGATE => self.handle_aggregate(&msg),
            t => match Control::parse(t, &msg.payload)? {
                Some(Control::UserControl(UserControl::PingRequest(t))) => {
                    self.send(Control::UserControl(UserControl::PingResponse(t)).to_message())?;
                }
                Some(Control::WindowAckSize(w)) => self.peer_window = w,
                // Set Chunk Size and Abort were applied by the decoder; the rest needs nothing
                _ => {}
            },
        }
        Ok(())
    }

    /// Audio and video of the accepted publish; anything else is dropped.
    fn handle_media(&mut self, kind: u8, stream_id: u32, timestamp_ms: u32, body: Bytes) {
        if !self.is_publishing(stream_id) || body.is_empty() {
            return;
        }
        self.events.push_back(if kind == type_id::VIDEO {
            SessionEvent::Video { timestamp_ms, body }
        } else {
            SessionEvent::Audio { timestamp_ms, body }
        });
    }

    /// `@setDataFrame onMetaData` (or plain `onMetaData`); other data and bad AMF0 are ignored.
    fn handle_data(&mut self, stream_id: u32, body: &[u8]) {
        if !self.is_publishing(stream_id) {
            return;
        }
        if let Ok(Some(m)) = Metadata::parse(body) {
            self.events.push_back(SessionEvent::Metadata(m));
        }
    }

    /// Aggregate message (§7.1.6): FLV tags (11-byte header, body, 4-byte
    /// back pointer) whose timestamps are relative to the first one.
    fn handle_aggregate(&mut self, msg: &Message) {
        let mut rest = &msg.payload[..];
        let mut first_ts = None;
        while let Some(h) = rest.get(..11) {
            let size = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
            let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
            let Some(end) = 11usize.checked_add(size).filter(|e| *e <= rest.len()) else {
                return;
            };
            let body = msg.payload.slice_ref(&rest[11..end]);
            let ts = msg
                .timestamp
                .wrapping_add(ts.wrapping_sub(*first_ts.get_or_insert(ts)));
            match h[0] {
                type_id::AUDIO | type_id::VIDEO => self.handle_media(h[0], msg.stream_id, ts, body),
                type_id::DATA_AMF0 => self.handle_data(msg.stream_id, &body),
                _ => {}
            }
            rest = rest.get(end + 4..).unwrap_or_default();
        }
    }

    fn is_publishing(&self, stream_id: u32) -> bool {
        self.publish
            .as_ref()
            .is_some_and(|p| p.accepted && p.stream_id == stream_id)
    }

    fn handle_command(&mut self, stream_id: u32, body: &[u8]) -> Result<()> {
        if body.len() > MAX_COMMAND_SIZE {
            return Err(Error::CommandTooLarge(body.len()));
        }
        let cmd = Command::parse(body)?;
        let txn = cmd.transaction_id;
        let first_arg = cmd.args.first().and_then(Value::as_str).unwrap_or_default();
        let Some((app, tc_url)) = self.connect.clone() else {
            return match cmd.name.as_str() {
                "connect" => self.handle_connect(&cmd),
                _ => self.send_error(txn, "NetConnection.Call.Failed", "not connected"),
            };
        };
        match cmd.name.as_str() {
            "connect" => self.send_error(txn, "NetConnection.Connect.Rejected", "already connected"),
            "releaseStream" => self.send_result(txn, vec![Value::Undefined]),
            "FCPublish" => {
                self.send_result(txn, vec![Value::Undefined])?;
                let info = Value::object([
                    ("code", Value::string("NetStream.Publish.Start")),
                    ("description", Value::string(first_arg)),
                ]);
                self.send(
                    Command::new("onFCPublish", 0.0, Value::Null, vec![info]).to_message(COMMAND_CSID, 0),
                )
            }
            "createStream" => {
                if self.streams.len() >= MAX_STREAMS {
                    return self.send_error(txn, "NetConnection.Call.Failed", "too many streams");
                }
                let id = self.next_stream_id;
                self.next_stream_id = id.saturating_add(1);
                self.streams.push(id);
                self.send_result(txn, vec![Value::Number(f64::from(id))])
            }
            "publish" => {
                let path = parse_stream_path(&app, tc_url.as_deref(), first_arg);
                let kind = cmd.args.get(1).and_then(Value::as_str).unwrap_or("live");
                self.handle_publish(stream_id, path, kind.to_owned())
            }
            "play" => {
                let p = parse_stream_path(&app, tc_url.as_deref(), first_arg);
                self.events.push_back(SessionEvent::Play {
                    app: p.app,
                    stream_name: p.stream_name,
                    key: p.key,
                });
                let desc = "playback over rtmp is not supported by this server";
                self.send_status(stream_id, "error", "NetStream.Play.Failed", desc)
            }
            // No answer to FCUnpublish and deleteStream: ffmpeg and librtmp
            // close the socket right after sending them, and unread data makes
            // their kernel answer with a reset, which can lose what they sent last.
            "FCUnpublish" => {
                let name = parse_stream_path(&app, None, first_arg).stream_name;
                if self.publish.as_ref().is_some_and(|p| p.path.stream_name == name) {
                    self.end_publish(None, false);
                }
                Ok(())
            }
            "closeStream" => {
                self.end_publish(Some(stream_id), true);
                Ok(())
            }
            "deleteStream" => {
                let id = cmd.args.first().and_then(Value::as_number).unwrap_or(-1.0);
                if let Some(i) = self.streams.iter().position(|s| f64::from(*s) == id) {
                    let id = self.streams.swap_remove(i);
                    self.end_publish(Some(id), false);
                    self.events
                        .push_back(SessionEvent::DeleteStream { stream_id: id });
                }
                Ok(())
            }
            // answers to calls we never make, and notifications
            "_result" | "_error" | "onStatus" | "onBWDone" => Ok(()),
            other => {
                let desc = format!("unknown command {}", other.chars().take(64).collect::<String>());
                self.send_error(txn, "NetConnection.Call.Failed", &desc)
            }
        }
    }

    /// `connect` (§7.2.1.1): window, bandwidth and chunk size, then `_result`.
    fn handle_connect(&mut self, cmd: &Command) -> Result<()> {
        let prop = |k: &str| cmd.object.property(k);
        let app = prop("app").and_then(Value::as_str).unwrap_or_default().to_owned();
        let tc_url = prop("tcUrl").and_then(Value::as_str).map(str::to_owned);
        let encoding = prop("objectEncoding").and_then(Value::as_number).unwrap_or(0.0);
        self.send(Control::WindowAckSize(self.config.window_ack_size).to_message())?;
        let bandwidth = Control::SetPeerBandwidth {
            size: self.config.peer_bandwidth,
            limit: 2,
        };
        self.send(bandwidth.to_message())?;
        self.send(Control::SetChunkSize(self.config.chunk_size).to_message())?;
        let props = Value::object([
            ("fmsVer", Value::string("FMS/3,0,1,123")),
            ("capabilities", Value::Number(31.0)),
        ]);
        let mut info = status("status", "NetConnection.Connect.Success", "Connection succeeded.");
        if let Value::Object(p) = &mut info {
            p.push(("objectEncoding".into(), Value::Number(encoding)));
        }
        let result = Command::new("_result", cmd.transaction_id, props, vec![info]);
        self.send(result.to_message(COMMAND_CSID, 0))?;
        let plain_app = app.split('?').next().unwrap_or_default().to_owned();
        self.connect = Some((app, tc_url.clone()));
        self.events.push_back(SessionEvent::Connect {
            app: plain_app,
            tc_url,
        });
        Ok(())
    }

    /// `publish` (§7.2.2.6): checked here, then left to the application.
    fn handle_publish(&mut self, stream_id: u32, path: StreamPath, publishing_type: String) -> Result<()> {
        let refuse = if !self.streams.contains(&stream_id) {
            Some("publish on a stream that createStream did not create")
        } else if self.publish.is_some() {
            Some("this connection is already publishing")
        } else if path.stream_name.is_empty() {
            Some("empty stream name")
        } else {
            None
        };
        if let Some(reason) = refuse {
            return self.send_status(stream_id, "error", "NetStream.Publish.BadName", reason);
        }
        self.events.push_back(SessionEvent::Publish {
            app: path.app.clone(),
            stream_name: path.stream_name.clone(),
            key: path.key.clone(),
            publishing_type,
        });
        self.publish = Some(Publish {
            stream_id,
            path,
            accepted: false,
        });
        Ok(())
    }

    /// Ends the publish (on `stream_id`, or whichever): Unpublish event, and
    /// `onStatus(NetStream.Unpublish.Success)` if it was accepted and `notify`.
    fn end_publish(&mut self, stream_id: Option<u32>, notify: bool) {
        let Some(p) = self
            .publish
            .take_if(|p| stream_id.is_none_or(|s| s == p.stream_id))
        else {
            return;
        };
        if p.accepted && notify {
            let desc = format!("{} is now unpublished", p.path.stream_name);
            // a failure here only loses a courtesy message to a client that is leaving
            let _ = self.send_status(p.stream_id, "status", "NetStream.Unpublish.Success", &desc);
        }
        self.events.push_back(SessionEvent::Unpublish {
            stream_name: p.path.stream_name,
        });
    }

    fn send(&mut self, msg: Message) -> Result<()> {
        self.encoder.encode(&msg, &mut self.output)
    }

    fn send_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) -> Result<()> {
        let cmd = Command::new(
            "onStatus",
            0.0,
            Value::Null,
            vec![status(level, code, description)],
        );
        self.send(cmd.to_message(STATUS_CSID, stream_id))
    }

    /// `_result(txn, null, args...)`, unless no answer is expected (transaction id 0).
    fn send_result(&mut self, txn: f64, args: Vec<Value>) -> Result<()> {
        if txn == 0.0 {
            return Ok(());
        }
        self.send(Command::new("_result", txn, Value::Null, args).to_message(COMMAND_CSID, 0))
    }

    /// `_error(txn, null, info)`, unless no answer is expected (transaction id 0).
    fn send_error(&mut self, txn: f64, code: &str, description: &str) -> Result<()> {
        if txn == 0.0 {
            return Ok(());
        }
        let info = status("error", code, description);
        self.send(Command::new("_error", txn, Value::Null, vec![info]).to_message(COMMAND_CSID, 0))
    }
}

/// An info object of `onStatus` / `_result` / `_error` (§7.2.2).
fn status(level: &str, code: &str, description: &str) -> Value {
    Value::object([
        ("level", Value::string(level)),
        ("code", Value::string(code)),
        ("description", Value::string(description)),
    ])
}
