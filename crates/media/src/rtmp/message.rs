//! Typed RTMP messages: protocol control (RTMP 1.0 §5.4), user control
//! (§6.2, §7.1.7) and AMF0 commands (§7.1.1, §7.2).

use bytes::{BufMut, Bytes, BytesMut};

use super::amf0::{self, Value};
use super::{Error, Message, Result};

/// Message type ids (RTMP 1.0 §5.4, §7.1).
pub mod type_id {
    /// Set Chunk Size (§5.4.1).
    pub const SET_CHUNK_SIZE: u8 = 1;
    /// Abort Message (§5.4.2).
    pub const ABORT: u8 = 2;
    /// Acknowledgement (§5.4.3).
    pub const ACKNOWLEDGEMENT: u8 = 3;
    /// User Control Message (§6.2).
    pub const USER_CONTROL: u8 = 4;
    /// Window Acknowledgement Size (§5.4.4).
    pub const WINDOW_ACK_SIZE: u8 = 5;
    /// Set Peer Bandwidth (§5.4.5).
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    /// Audio: an FLV audio tag body (§7.1.4).
    pub const AUDIO: u8 = 8;
    /// Video: an FLV video tag body (§7.1.5).
    pub const VIDEO: u8 = 9;
    /// Data message in AMF3 (§7.1.2).
    pub const DATA_AMF3: u8 = 15;
    /// Shared object message in AMF3 (§7.1.3).
    pub const SHARED_OBJECT_AMF3: u8 = 16;
    /// Command message in AMF3 (§7.1.1).
    pub const COMMAND_AMF3: u8 = 17;
    /// Data message in AMF0, e.g. `@setDataFrame` (§7.1.2).
    pub const DATA_AMF0: u8 = 18;
    /// Shared object message in AMF0 (§7.1.3).
    pub const SHARED_OBJECT_AMF0: u8 = 19;
    /// Command message in AMF0 (§7.1.1).
    pub const COMMAND_AMF0: u8 = 20;
    /// Aggregate message: FLV tags back to back (§7.1.6).
    pub const AGGREGATE: u8 = 22;
}

/// Chunk stream of protocol control messages (§5.4).
pub const CONTROL_CSID: u32 = 2;

/// A protocol control or user control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Set Chunk Size (§5.4.1).
    SetChunkSize(u32),
    /// Abort Message: drop the incomplete message of a chunk stream (§5.4.2).
    Abort(u32),
    /// Acknowledgement: bytes received so far (§5.4.3).
    Acknowledgement(u32),
    /// Window Acknowledgement Size (§5.4.4).
    WindowAckSize(u32),
    /// Set Peer Bandwidth (§5.4.5): window size and limit type (0 hard, 1 soft, 2 dynamic).
    SetPeerBandwidth {
        /// Window size in bytes.
        size: u32,
        /// Limit type.
        limit: u8,
    },
    /// User Control Message (§6.2).
    UserControl(UserControl),
}

/// User control events (§7.1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserControl {
    /// Stream Begin (0) with the message stream id.
    StreamBegin(u32),
    /// Stream EOF (1).
    StreamEof(u32),
    /// Stream Dry (2).
    StreamDry(u32),
    /// Set Buffer Length (3).
    SetBufferLength {
        /// Message stream id.
        stream_id: u32,
        /// Buffer length in milliseconds.
        millis: u32,
    },
    /// Stream Is Recorded (4).
    StreamIsRecorded(u32),
    /// Ping Request (6) with a timestamp.
    PingRequest(u32),
    /// Ping Response (7) echoing the request's timestamp.
    PingResponse(u32),
    /// Any other event type, with its data.
    Other {
        /// Event type.
        event: u16,
        /// Event data.
        data: Bytes,
    },
}

/// A command message (§7.1.1): name, transaction id, command object, arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Command name (`connect`, `createStream`, `publish`, `_result`, `onStatus`, ...).
    pub name: String,
    /// Transaction id; 0 when no answer is expected.
    pub transaction_id: f64,
    /// Command object ([`Value::Null`] when there is none).
    pub object: Value,
    /// Further arguments.
    pub args: Vec<Value>,
}

// === impl Control ===

impl Control {
    /// Parses a message of type 1 to 6; `Ok(None)` for other types.
    pub fn parse(type_id: u8, payload: &[u8]) -> Result<Option<Self>> {
        let bad = |what: &'static str| Error::BadMessage {
            what,
            offset: payload.len(),
        };
        let u32_at = |at: usize, what: &'static str| {
            payload
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or(bad(what))
        };
        Ok(Some(match type_id {
            type_id::SET_CHUNK_SIZE => Self::SetChunkSize(u32_at(0, "set chunk size")?),
            type_id::ABORT => Self::Abort(u32_at(0, "abort")?),
            type_id::ACKNOWLEDGEMENT => Self::Acknowledgement(u32_at(0, "acknowledgement")?),
            type_id::WINDOW_ACK_SIZE => Self::WindowAckSize(u32_at(0, "window acknowledgement size")?),
            type_id::SET_PEER_BANDWIDTH => Self::SetPeerBandwidth {
                size: u32_at(0, "set peer bandwidth")?,
                limit: *payload.get(4).ok_or(bad("set peer bandwidth"))?,
            },
            type_id::USER_CONTROL => {
                let event = payload.get(..2).ok_or(bad("user control"))?;
                let event = u16::from_be_bytes([event[0], event[1]]);
                let arg = || u32_at(2, "user control");
                Self::UserControl(match event {
                    0 => UserControl::StreamBegin(arg()?),
                    1 => UserControl::StreamEof(arg()?),
                    2 => UserControl::StreamDry(arg()?),
                    3 => UserControl::SetBufferLength {
                        stream_id: arg()?,
                        millis: u32_at(6, "user control")?,
                    },
                    4 => UserControl::StreamIsRecorded(arg()?),
                    6 => UserControl::PingRequest(arg()?),
                    7 => UserControl::PingResponse(arg()?),
                    _ => UserControl::Other {
                        event,
                        data: Bytes::copy_from_slice(&payload[2..]),
                    },
                })
            }
            _ => return Ok(None),
        }))
    }

    /// The message type id.
    pub fn type_id(&self) -> u8 {
        match self {
            Self::SetChunkSize(_) => type_id::SET_CHUNK_SIZE,
            Self::Abort(_) => type_id::ABORT,
            Self::Acknowledgement(_) => type_id::ACKNOWLEDGEMENT,
            Self::WindowAckSize(_) => type_id::WINDOW_ACK_SIZE,
            Self::SetPeerBandwidth { .. } => type_id::SET_PEER_BANDWIDTH,
            Self::UserControl(_) => type_id::USER_CONTROL,
        }
    }

    /// Writes the message payload.
    pub fn encode(&self, out: &mut impl BufMut) {
        match self {
            Self::SetChunkSize(v) | Self::Abort(v) | Self::Acknowledgement(v) | Self::WindowAckSize(v) => {
                out.put_u32(*v);
            }
            Self::SetPeerBandwidth { size, limit } => {
                out.put_u32(*size);
                out.put_u8(*limit);
            }
            Self::UserControl(u) => {
                let (event, a, b) = match u {
                    UserControl::StreamBegin(s) => (0, *s, None),
                    UserControl::StreamEof(s) => (1, *s, None),
                    UserControl::StreamDry(s) => (2, *s, None),
                    UserControl::SetBufferLength { stream_id, millis } => (3, *stream_id, Some(*millis)),
                    UserControl::StreamIsRecorded(s) => (4, *s, None),
                    UserControl::PingRequest(t) => (6, *t, None),
                    UserControl::PingResponse(t) => (7, *t, None),
                    UserControl::Other { event, data } => {
                        out.put_u16(*event);
                        out.put_slice(data);
                        return;
                    }
                };
                out.put_u16(event);
                out.put_u32(a);
                if let Some(b) = b {
                    out.put_u32(b);
                }
            }
        }
    }

    /// The message on chunk stream 2, message stream 0, timestamp 0 (§5.4).
    pub fn to_message(&self) -> Message {
        let mut payload = BytesMut::with_capacity(10);
        self.encode(&mut payload);
        Message {
            csid: CONTROL_CSID,
            timestamp: 0,
            type_id: self.type_id(),
            stream_id: 0,
            payload: payload.freeze(),
        }
    }
}

// === impl Command ===

impl Command {
    /// A command with the given name, transaction id, command object and arguments.
    pub fn new(name: &str, transaction_id: f64, object: Value, args: Vec<Value>) -> Self {
        Self {
            name: name.to_owned(),
            transaction_id,
            object,
            args,
        }
    }

    /// Parses an AMF0 command body (type 20). The name must be a string; a
    /// missing or non-number transaction id reads as 0, a missing command
    /// object as null.
    pub fn parse(payload: &[u8]) -> Result<Self> {
        let mut values = amf0::decode_all(payload)?.into_iter();
        let name = match values.next() {
            Some(Value::String(s)) => s,
            _ => {
                return Err(Error::BadMessage {
                    what: "command name",
                    offset: 0,
                });
            }
        };
        let transaction_id = values.next().and_then(|v| v.as_number()).unwrap_or(0.0);
        let object = values.next().unwrap_or(Value::Null);
        Ok(Self {
            name,
            transaction_id,
            object,
            args: values.collect(),
        })
    }

    /// Writes the AMF0 command body.
    pub fn encode(&self, out: &mut impl BufMut) {
        Value::String(self.name.clone()).encode(out);
        Value::Number(self.transaction_id).encode(out);
        self.object.encode(out);
        amf0::encode_all(&self.args, out);
    }

    /// The command as a type 20 message on chunk stream `csid`, message stream `stream_id`.
    pub fn to_message(&self, csid: u32, stream_id: u32) -> Message {
        let mut payload = BytesMut::new();
        self.encode(&mut payload);
        Message {
            csid,
            timestamp: 0,
            type_id: type_id::COMMAND_AMF0,
            stream_id,
            payload: payload.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_round_trip() {
        let all = [
            Control::SetChunkSize(4096),
            Control::Abort(5),
            Control::Acknowledgement(123_456),
            Control::WindowAckSize(2_500_000),
            Control::SetPeerBandwidth {
                size: 2_500_000,
                limit: 2,
            },
            Control::UserControl(UserControl::StreamBegin(1)),
            Control::UserControl(UserControl::StreamEof(1)),
            Control::UserControl(UserControl::StreamDry(1)),
            Control::UserControl(UserControl::SetBufferLength {
                stream_id: 1,
                millis: 3000,
            }),
            Control::UserControl(UserControl::StreamIsRecorded(1)),
            Control::UserControl(UserControl::PingRequest(99)),
            Control::UserControl(UserControl::PingResponse(99)),
            Control::UserControl(UserControl::Other {
                event: 31,
                data: Bytes::from_static(&[1, 2, 3]),
            }),
        ];
        for c in all {
            let m = c.to_message();
            assert_eq!((m.csid, m.stream_id), (2, 0));
            assert_eq!(Control::parse(m.type_id, &m.payload).unwrap(), Some(c));
        }
        assert_eq!(Control::parse(type_id::VIDEO, &[]).unwrap(), None);
        assert!(Control::parse(type_id::SET_CHUNK_SIZE, &[0, 0, 1]).is_err());
        assert!(Control::parse(type_id::USER_CONTROL, &[0]).is_err());
        assert!(Control::parse(type_id::USER_CONTROL, &[0, 3, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn command_round_trip_and_lenient_parse() {
        let c = Command::new(
            "publish",
            5.0,
            Value::Null,
            vec![Value::string("cam1?key=secret"), Value::string("live")],
        );
        let m = c.to_message(8, 1);
        assert_eq!(m.type_id, type_id::COMMAND_AMF0);
        assert_eq!(Command::parse(&m.payload).unwrap(), c);
        let mut short = Vec::new();
        Value::string("onBWDone").encode(&mut short);
        let c = Command::parse(&short).unwrap();
        assert_eq!((c.transaction_id, c.object, c.args.len()), (0.0, Value::Null, 0));
        let mut bad = Vec::new();
        Value::Number(1.0).encode(&mut bad);
        assert!(Command::parse(&bad).is_err());
    }
}
