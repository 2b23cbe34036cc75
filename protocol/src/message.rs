//! RTMP messages: what a chunk payload means, by message type (RTMP spec 5.4, 6.2, 7.1).

use bytes::Bytes;
use thiserror::Error;

use crate::amf::{self, AmfError, DecodeLimits, Value};
use crate::shared_object::{SharedObjectError, SharedObjectMessage, SoEncoding};
use crate::types::{ChunkStreamId, MessageType, StreamId, Timestamp};

/// User control events (RTMP spec 7.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserControl {
    StreamBegin(StreamId),
    StreamEof(StreamId),
    StreamDry(StreamId),
    SetBufferLength {
        stream_id: StreamId,
        buffer_ms: u32,
    },
    StreamIsRecorded(StreamId),
    PingRequest(u32),
    PingResponse(u32),
    /// An event type this implementation does not act on (kept for logging).
    Other {
        event_type: u16,
    },
}

/// Peer bandwidth limit types (RTMP spec 5.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandwidthLimit {
    Hard,
    Soft,
    Dynamic,
}

/// A command message: `name`, transaction id, command object, then arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: String,
    pub transaction_id: f64,
    pub command_object: Value,
    pub args: Vec<Value>,
}

/// One RTMP message, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    SetChunkSize(u32),
    Abort(ChunkStreamId),
    Acknowledgement(u32),
    UserControl(UserControl),
    WindowAckSize(u32),
    SetPeerBandwidth {
        size: u32,
        limit: BandwidthLimit,
    },
    Audio(Bytes),
    Video(Bytes),
    /// A data message (type 18, or 15 for AMF3 clients): `@setDataFrame`, `onMetaData`, ...
    Data(Vec<Value>),
    Command(Command),
    /// A shared object message (type 19, or 16 for AMF3 clients).
    SharedObject(SharedObjectMessage),
    /// Aggregate and unknown types: passed up untouched.
    Other {
        type_id: MessageType,
        payload: Bytes,
    },
}

/// Why a message payload could not be understood.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum MessageError {
    #[error("{what} message is {len} bytes, too short")]
    TooShort { what: &'static str, len: usize },
    #[error("command message without a name and transaction id")]
    MalformedCommand,
    #[error("type {type_id} message of {len} bytes exceeds the {max}-byte AMF limit")]
    AmfTooLarge { type_id: u8, len: usize, max: usize },
    #[error("AMF in a type {type_id} message: {source}")]
    Amf { type_id: u8, source: AmfError },
    #[error("shared object message (type {type_id}): {source}")]
    SharedObject {
        type_id: u8,
        source: SharedObjectError,
    },
}

fn be_u32(payload: &[u8], what: &'static str) -> Result<u32, MessageError> {
    payload
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(MessageError::TooShort {
            what,
            len: payload.len(),
        })
}

impl Message {
    /// Interprets a message payload by its type id.
    pub fn decode(
        type_id: MessageType,
        payload: Bytes,
        limits: DecodeLimits,
    ) -> Result<Message, MessageError> {
        let amf_err = |source| MessageError::Amf {
            type_id: type_id.0,
            source,
        };
        let is_amf = matches!(
            type_id,
            MessageType::DATA_AMF0
                | MessageType::DATA_AMF3
                | MessageType::COMMAND_AMF0
                | MessageType::COMMAND_AMF3
                | MessageType::SHARED_OBJECT_AMF0
                | MessageType::SHARED_OBJECT_AMF3
        );
        if is_amf && payload.len() > limits.max_input {
            return Err(MessageError::AmfTooLarge {
                type_id: type_id.0,
                len: payload.len(),
                max: limits.max_input,
            });
        }
        Ok(match type_id {
            MessageType::SET_CHUNK_SIZE => {
                Message::SetChunkSize(be_u32(&payload, "Set Chunk Size")? & 0x7FFF_FFFF)
            }
            MessageType::ABORT => Message::Abort(ChunkStreamId(be_u32(&payload, "Abort")?)),
            MessageType::ACKNOWLEDGEMENT => {
                Message::Acknowledgement(be_u32(&payload, "Acknowledgement")?)
            }
            MessageType::WINDOW_ACK_SIZE => {
                Message::WindowAckSize(be_u32(&payload, "Window Acknowledgement Size")?)
            }
            MessageType::SET_PEER_BANDWIDTH => {
                let size = be_u32(&payload, "Set Peer Bandwidth")?;
                let limit = match payload.get(4) {
                    Some(0) => BandwidthLimit::Hard,
                    Some(1) => BandwidthLimit::Soft,
                    Some(_) => BandwidthLimit::Dynamic,
                    None => {
                        return Err(MessageError::TooShort {
                            what: "Set Peer Bandwidth",
                            len: payload.len(),
                        })
                    }
                };
                Message::SetPeerBandwidth { size, limit }
            }
            MessageType::USER_CONTROL => Message::UserControl(decode_user_control(&payload)?),
            MessageType::AUDIO => Message::Audio(payload),
            MessageType::VIDEO => Message::Video(payload),
            MessageType::DATA_AMF0 => {
                Message::Data(amf::amf0::decode_all(&payload, limits).map_err(amf_err)?)
            }
            MessageType::DATA_AMF3 => {
                // AMF3 data messages start with a format byte (0), then AMF0 with AVM+ switches.
                let body = payload.get(1..).unwrap_or_default();
                Message::Data(amf::amf0::decode_all(body, limits).map_err(amf_err)?)
            }
            MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3 => {
                let body = if type_id == MessageType::COMMAND_AMF3 {
                    payload.get(1..).unwrap_or_default()
                } else {
                    &payload[..]
                };
                let mut values = amf::amf0::decode_all(body, limits)
                    .map_err(amf_err)?
                    .into_iter();
                let name = match values.next() {
                    Some(Value::String(name)) => name,
                    _ => return Err(MessageError::MalformedCommand),
                };
                // Some peers omit the transaction id or the command object on notifications;
                // missing ones read as 0 and null rather than failing the message.
                let transaction_id = match values.next() {
                    Some(Value::Number(n)) => n,
                    Some(_) | None => 0.0,
                };
                let command_object = values.next().unwrap_or(Value::Null);
                Message::Command(Command {
                    name,
                    transaction_id,
                    command_object,
                    args: values.collect(),
                })
            }
            MessageType::SHARED_OBJECT_AMF0 | MessageType::SHARED_OBJECT_AMF3 => {
                let encoding = if type_id == MessageType::SHARED_OBJECT_AMF3 {
                    SoEncoding::Amf3
                } else {
                    SoEncoding::Amf0
                };
                Message::SharedObject(
                    SharedObjectMessage::decode(encoding, &payload, limits).map_err(|source| {
                        MessageError::SharedObject {
                            type_id: type_id.0,
                            source,
                        }
                    })?,
                )
            }
            other => Message::Other {
                type_id: other,
                payload,
            },
        })
    }

    /// The message type id this message travels with. Commands and data go as AMF0 (types 20
    /// and 18) unless `amf3_envelope` asks for the AMF3 envelope (types 17 and 15).
    pub fn type_id(&self, amf3_envelope: bool) -> MessageType {
        match self {
            Message::SetChunkSize(_) => MessageType::SET_CHUNK_SIZE,
            Message::Abort(_) => MessageType::ABORT,
            Message::Acknowledgement(_) => MessageType::ACKNOWLEDGEMENT,
            Message::UserControl(_) => MessageType::USER_CONTROL,
            Message::WindowAckSize(_) => MessageType::WINDOW_ACK_SIZE,
            Message::SetPeerBandwidth { .. } => MessageType::SET_PEER_BANDWIDTH,
            Message::Audio(_) => MessageType::AUDIO,
            Message::Video(_) => MessageType::VIDEO,
            Message::Data(_) if amf3_envelope => MessageType::DATA_AMF3,
            Message::Data(_) => MessageType::DATA_AMF0,
            Message::Command(_) if amf3_envelope => MessageType::COMMAND_AMF3,
            Message::Command(_) => MessageType::COMMAND_AMF0,
            Message::SharedObject(_) if amf3_envelope => MessageType::SHARED_OBJECT_AMF3,
            Message::SharedObject(_) => MessageType::SHARED_OBJECT_AMF0,
            Message::Other { type_id, .. } => *type_id,
        }
    }

    /// The payload bytes. With `amf3_envelope`, commands and data get the AMF3 format byte (0)
    /// followed by AMF0 values, which AMF3 peers accept; shared objects go as type 16 (see
    /// [`crate::shared_object`]).
    pub fn encode_payload(&self, amf3_envelope: bool) -> Bytes {
        let mut out = Vec::new();
        match self {
            Message::SetChunkSize(n) | Message::Acknowledgement(n) | Message::WindowAckSize(n) => {
                out.extend_from_slice(&n.to_be_bytes())
            }
            Message::Abort(csid) => out.extend_from_slice(&csid.0.to_be_bytes()),
            Message::SetPeerBandwidth { size, limit } => {
                out.extend_from_slice(&size.to_be_bytes());
                out.push(match limit {
                    BandwidthLimit::Hard => 0,
                    BandwidthLimit::Soft => 1,
                    BandwidthLimit::Dynamic => 2,
                });
            }
            Message::UserControl(event) => encode_user_control(event, &mut out),
            Message::Audio(b) | Message::Video(b) | Message::Other { payload: b, .. } => {
                return b.clone()
            }
            Message::Data(values) => encode_data(values, amf3_envelope, &mut out),
            Message::SharedObject(so) => {
                return so.encode(if amf3_envelope {
                    SoEncoding::Amf3
                } else {
                    SoEncoding::Amf0
                })
            }
            Message::Command(c) => {
                if amf3_envelope {
                    out.push(0);
                }
                amf::amf0::encode(&Value::String(c.name.clone()), &mut out);
                amf::amf0::encode(&Value::Number(c.transaction_id), &mut out);
                amf::amf0::encode(&c.command_object, &mut out);
                amf::amf0::encode_all(&c.args, &mut out);
            }
        }
        Bytes::from(out)
    }

    /// The chunk stream a message of this kind conventionally travels on.
    pub fn default_csid(&self, stream_id: StreamId) -> ChunkStreamId {
        match self {
            Message::Audio(_) => ChunkStreamId::AUDIO,
            Message::Video(_) => ChunkStreamId::VIDEO,
            Message::Command(_) | Message::Data(_) if stream_id != StreamId::CONTROL => {
                ChunkStreamId::STREAM_COMMAND
            }
            Message::Command(_) | Message::SharedObject(_) => ChunkStreamId::COMMAND,
            _ => ChunkStreamId::CONTROL,
        }
    }
}

/// A data message's payload: AMF0 values, after the AMF3 format byte (0) in the AMF3
/// envelope.
pub(crate) fn encode_data(values: &[Value], amf3_envelope: bool, out: &mut Vec<u8>) {
    if amf3_envelope {
        out.push(0);
    }
    amf::amf0::encode_all(values, out);
}

fn decode_user_control(payload: &[u8]) -> Result<UserControl, MessageError> {
    let too_short = || MessageError::TooShort {
        what: "User Control",
        len: payload.len(),
    };
    let event_type = payload
        .get(..2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(too_short)?;
    let data = &payload[2..];
    let first = || be_u32(data, "User Control").map_err(|_| too_short());
    Ok(match event_type {
        0 => UserControl::StreamBegin(StreamId(first()?)),
        1 => UserControl::StreamEof(StreamId(first()?)),
        2 => UserControl::StreamDry(StreamId(first()?)),
        3 => UserControl::SetBufferLength {
            stream_id: StreamId(first()?),
            buffer_ms: be_u32(data.get(4..).unwrap_or_default(), "User Control")
                .map_err(|_| too_short())?,
        },
        4 => UserControl::StreamIsRecorded(StreamId(first()?)),
        6 => UserControl::PingRequest(first()?),
        7 => UserControl::PingResponse(first()?),
        other => UserControl::Other { event_type: other },
    })
}

fn encode_user_control(event: &UserControl, out: &mut Vec<u8>) {
    let (event_type, a, b): (u16, u32, Option<u32>) = match *event {
        UserControl::StreamBegin(id) => (0, id.0, None),
        UserControl::StreamEof(id) => (1, id.0, None),
        UserControl::StreamDry(id) => (2, id.0, None),
        UserControl::SetBufferLength {
            stream_id,
            buffer_ms,
        } => (3, stream_id.0, Some(buffer_ms)),
        UserControl::StreamIsRecorded(id) => (4, id.0, None),
        UserControl::PingRequest(t) => (6, t, None),
        UserControl::PingResponse(t) => (7, t, None),
        UserControl::Other { event_type } => (event_type, 0, None),
    };
    out.extend_from_slice(&event_type.to_be_bytes());
    out.extend_from_slice(&a.to_be_bytes());
    if let Some(b) = b {
        out.extend_from_slice(&b.to_be_bytes());
    }
}

/// A message with the header fields a session needs to route it.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub stream_id: StreamId,
    pub timestamp: Timestamp,
    pub message: Message,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(message: Message, amf3: bool) {
        let type_id = message.type_id(amf3);
        let payload = message.encode_payload(amf3);
        assert_eq!(
            Message::decode(type_id, payload, DecodeLimits::default()).unwrap(),
            message
        );
    }

    #[test]
    fn control_messages_round_trip() {
        round_trip(Message::SetChunkSize(4096), false);
        round_trip(Message::Abort(ChunkStreamId(6)), false);
        round_trip(Message::Acknowledgement(123_456), false);
        round_trip(Message::WindowAckSize(2_500_000), false);
        round_trip(
            Message::SetPeerBandwidth {
                size: 2_500_000,
                limit: BandwidthLimit::Dynamic,
            },
            false,
        );
        for event in [
            UserControl::StreamBegin(StreamId(1)),
            UserControl::StreamEof(StreamId(1)),
            UserControl::StreamDry(StreamId(1)),
            UserControl::SetBufferLength {
                stream_id: StreamId(1),
                buffer_ms: 3000,
            },
            UserControl::StreamIsRecorded(StreamId(1)),
            UserControl::PingRequest(42),
            UserControl::PingResponse(42),
        ] {
            round_trip(Message::UserControl(event), false);
        }
    }

    #[test]
    fn commands_round_trip_in_both_envelopes() {
        let command = Message::Command(Command {
            name: "play".into(),
            transaction_id: 4.0,
            command_object: Value::Null,
            args: vec!["cam".into(), Value::Number(-2.0)],
        });
        round_trip(command.clone(), false);
        round_trip(command, true);
        round_trip(
            Message::Data(vec!["onMetaData".into(), Value::EcmaArray(vec![])]),
            true,
        );
    }

    #[test]
    fn shared_objects_round_trip_as_type_19_and_16() {
        use crate::shared_object::SoEvent;
        let so = Message::SharedObject(SharedObjectMessage::new("chat", 2, false).with(
            SoEvent::RequestChange {
                slot: "n".into(),
                value: Value::Number(1.0),
            },
        ));
        assert_eq!(so.type_id(false), MessageType::SHARED_OBJECT_AMF0);
        assert_eq!(so.type_id(true), MessageType::SHARED_OBJECT_AMF3);
        round_trip(so.clone(), false);
        round_trip(so, true);
        // Bounded like the other AMF messages.
        let limits = DecodeLimits {
            max_input: 10,
            ..DecodeLimits::default()
        };
        assert!(matches!(
            Message::decode(
                MessageType::SHARED_OBJECT_AMF0,
                Bytes::from(vec![0; 11]),
                limits
            ),
            Err(MessageError::AmfTooLarge { .. })
        ));
    }

    #[test]
    fn amf_payloads_over_the_limit_are_refused_before_decoding() {
        let limits = DecodeLimits {
            max_input: 1000,
            ..DecodeLimits::default()
        };
        let nulls = Bytes::from(vec![0x05u8; 1001]);
        assert!(matches!(
            Message::decode(MessageType::DATA_AMF0, nulls.clone(), limits),
            Err(MessageError::AmfTooLarge {
                len: 1001,
                max: 1000,
                ..
            })
        ));
        // Media is not AMF and is not held to it.
        assert!(Message::decode(MessageType::VIDEO, nulls, limits).is_ok());
    }

    #[test]
    fn short_and_odd_payloads_are_errors_not_panics() {
        let limits = DecodeLimits::default();
        for type_id in 0..=30u8 {
            for len in 0..6 {
                let payload = Bytes::from(vec![0x02; len]);
                let _ = Message::decode(MessageType(type_id), payload, limits);
            }
        }
        // The rml_rtmp crash: a command with fewer than three values.
        let mut body = Vec::new();
        amf::amf0::encode(&"connect".into(), &mut body);
        let decoded = Message::decode(MessageType::COMMAND_AMF0, body.into(), limits).unwrap();
        assert!(
            matches!(decoded, Message::Command(Command { transaction_id, .. }) if transaction_id == 0.0)
        );
        // A command whose first value is not a name.
        let mut body = Vec::new();
        amf::amf0::encode(&Value::Number(1.0), &mut body);
        assert_eq!(
            Message::decode(MessageType::COMMAND_AMF0, body.into(), limits),
            Err(MessageError::MalformedCommand)
        );
    }
}
