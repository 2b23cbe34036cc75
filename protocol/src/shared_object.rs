//! Remote shared objects: RTMP message types 19 (AMF0) and 16 (AMF3), both directions.
//!
//! A message names one object and carries the version the sender last saw, the persistence
//! flag and a list of events:
//!
//! ```text
//! name (u16 length, UTF-8) | version (u32) | flags (u32, 2 = persistent) | 4 reserved bytes
//! then events: type (u8) | length (u32) | data (length bytes)
//! ```
//!
//! | type | event | direction | data |
//! |---|---|---|---|
//! | 1 | use | client → server | none |
//! | 2 | release | client → server | none |
//! | 3 | request change | client → server | slot (u16 string), one AMF value |
//! | 4 | change | server → client | slot (u16 string), one AMF value |
//! | 5 | success | server → client | slot (u16 string) |
//! | 6 | send message | both | handler (AMF string), then the arguments (AMF values) |
//! | 7 | status | server → client | code (u16 string), level (u16 string) |
//! | 8 | clear | server → client | none |
//! | 9 | remove | server → client | slot (u16 string) |
//! | 10 | request remove | client → server | slot (u16 string) |
//! | 11 | use success | server → client | none |
//!
//! Decisions a caller should know:
//! - Type 16 bodies are read with or without a leading format byte, as implementations differ
//!   (Red5's decoder takes 0 = AMF0 values, 3 = AMF3 values; others send none): a first byte
//!   of 0 or 3 is tried as a format byte first, and when the rest does not parse as a whole
//!   message the payload is read again without one (AMF0 values).
//! - In AMF0 values an AVM+ marker (0x11) switches one value to AMF3, as in commands.
//! - Type 16 is written as FluorineFx and Red5 write it: format byte 0, then the type-19 body
//!   with AMF0 values (byte arrays as AVM+ switches); this crate's decoder reads both.
//! - A change or request-change event may carry several slot/value pairs back to back (Red5
//!   reads them so); each becomes its own [`SoEvent`]. One whose value is missing reads as
//!   [`Value::Undefined`]. Data of use, release, clear and use success is ignored; events of
//!   unknown types are skipped (their length says how far).
//! - Hostile input: every length is checked against what is left before anything is read;
//!   nothing is reserved from a count (events are pushed one by one and each costs at least
//!   5 input bytes); AMF values are decoded under [`DecodeLimits`] (depth, output budget).
//!   Bound the payload before decoding, as [`crate::message::Message::decode`] does with
//!   `max_input`.

use bytes::Bytes;
use thiserror::Error;

use crate::amf::{amf0, amf3, AmfError, DecodeLimits, Value};
use crate::types::MessageType;

/// The persistence flag's value in the flags field.
pub const FLAG_PERSISTENT: u32 = 2;

/// Which of the two shared object message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoEncoding {
    /// Type 19: AMF0 values.
    Amf0,
    /// Type 16, for objectEncoding-3 peers.
    Amf3,
}

impl SoEncoding {
    pub fn type_id(self) -> MessageType {
        match self {
            SoEncoding::Amf0 => MessageType::SHARED_OBJECT_AMF0,
            SoEncoding::Amf3 => MessageType::SHARED_OBJECT_AMF3,
        }
    }

    /// The encoding a message type stands for, if it is a shared object type.
    pub fn from_type_id(type_id: MessageType) -> Option<SoEncoding> {
        match type_id {
            MessageType::SHARED_OBJECT_AMF0 => Some(SoEncoding::Amf0),
            MessageType::SHARED_OBJECT_AMF3 => Some(SoEncoding::Amf3),
            _ => None,
        }
    }
}

/// One event of a shared object message (see the module docs for who sends which).
#[derive(Debug, Clone, PartialEq)]
pub enum SoEvent {
    Use,
    Release,
    RequestChange { slot: String, value: Value },
    Change { slot: String, value: Value },
    Success { slot: String },
    SendMessage { handler: String, args: Vec<Value> },
    Status { code: String, level: String },
    Clear,
    Remove { slot: String },
    RequestRemove { slot: String },
    UseSuccess,
}

impl SoEvent {
    /// The event type byte.
    pub fn type_code(&self) -> u8 {
        match self {
            SoEvent::Use => 1,
            SoEvent::Release => 2,
            SoEvent::RequestChange { .. } => 3,
            SoEvent::Change { .. } => 4,
            SoEvent::Success { .. } => 5,
            SoEvent::SendMessage { .. } => 6,
            SoEvent::Status { .. } => 7,
            SoEvent::Clear => 8,
            SoEvent::Remove { .. } => 9,
            SoEvent::RequestRemove { .. } => 10,
            SoEvent::UseSuccess => 11,
        }
    }
}

/// One shared object message: an object's name, version, persistence, and its events.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedObjectMessage {
    pub name: String,
    /// The version the sender last saw (client) or the object's current one (server).
    pub version: u32,
    pub persistent: bool,
    pub events: Vec<SoEvent>,
}

/// Why a shared object message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SharedObjectError {
    #[error("shared object message ends early at byte {offset}")]
    Truncated { offset: usize },
    #[error("shared object string at byte {offset} is not valid UTF-8")]
    InvalidUtf8 { offset: usize },
    #[error("send message event at byte {offset} has no handler name")]
    MissingHandler { offset: usize },
    #[error("{extra} bytes after the status strings at byte {offset}")]
    TrailingData { extra: usize, offset: usize },
    #[error("AMF value in a shared object event at byte {offset}: {source}")]
    Amf { offset: usize, source: AmfError },
}

/// How the values of a body are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Values {
    Amf0,
    Amf3,
}

impl SharedObjectMessage {
    /// A message with no events yet.
    pub fn new(name: impl Into<String>, version: u32, persistent: bool) -> Self {
        SharedObjectMessage {
            name: name.into(),
            version,
            persistent,
            events: Vec::new(),
        }
    }

    /// Adds an event (builder style).
    pub fn with(mut self, event: SoEvent) -> Self {
        self.events.push(event);
        self
    }

    /// Reads the payload of a type 19 or type 16 message (see the module docs for type 16's
    /// format byte).
    ///
    /// # Errors
    ///
    /// Any [`SharedObjectError`]: the header or an event running past the end, a string that
    /// is not UTF-8, a bad AMF value, a send message without a handler.
    pub fn decode(
        encoding: SoEncoding,
        payload: &[u8],
        limits: DecodeLimits,
    ) -> Result<SharedObjectMessage, SharedObjectError> {
        match encoding {
            SoEncoding::Amf0 => decode_body(payload, Values::Amf0, limits),
            SoEncoding::Amf3 => {
                let values = match payload.first() {
                    Some(0) => Some(Values::Amf0),
                    Some(3) => Some(Values::Amf3),
                    _ => None,
                };
                match values {
                    Some(values) => {
                        let rest = payload.get(1..).unwrap_or_default();
                        decode_body(rest, values, limits).or_else(|with_format| {
                            decode_body(payload, Values::Amf0, limits).map_err(|_| with_format)
                        })
                    }
                    None => decode_body(payload, Values::Amf0, limits),
                }
            }
        }
    }

    /// This message encoded once and chunked once for every connection with `chunk_size` (see
    /// [`crate::server::ServerSession::send_shared_chunks`]), on the command chunk stream.
    #[cfg(feature = "server")]
    pub fn shared_chunks(
        &self,
        encoding: SoEncoding,
        chunk_size: u32,
    ) -> crate::chunk::SharedChunks {
        crate::chunk::SharedChunks::new(
            crate::types::ChunkStreamId::COMMAND,
            crate::types::Timestamp::ZERO,
            encoding.type_id(),
            &self.encode(encoding),
            chunk_size,
        )
    }

    /// The payload of this message as `encoding`'s message type. Strings past 65535 bytes are
    /// cut at a char boundary, as AMF0's encoder does.
    pub fn encode(&self, encoding: SoEncoding) -> Bytes {
        let mut out = Vec::with_capacity(32 + self.name.len());
        if encoding == SoEncoding::Amf3 {
            out.push(0);
        }
        write_u16_str(&self.name, &mut out);
        out.extend_from_slice(&self.version.to_be_bytes());
        let flags = if self.persistent { FLAG_PERSISTENT } else { 0 };
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        let mut data = Vec::new();
        for event in &self.events {
            data.clear();
            encode_event_data(event, &mut data);
            out.push(event.type_code());
            // Event data is bounded by the message (16 MiB at most on the wire).
            out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(&data);
        }
        Bytes::from(out)
    }
}

fn encode_event_data(event: &SoEvent, out: &mut Vec<u8>) {
    match event {
        SoEvent::Use | SoEvent::Release | SoEvent::Clear | SoEvent::UseSuccess => {}
        SoEvent::RequestChange { slot, value } | SoEvent::Change { slot, value } => {
            write_u16_str(slot, out);
            amf0::encode(value, out);
        }
        SoEvent::Success { slot } | SoEvent::Remove { slot } | SoEvent::RequestRemove { slot } => {
            write_u16_str(slot, out)
        }
        SoEvent::SendMessage { handler, args } => {
            amf0::encode(&Value::String(handler.clone()), out);
            amf0::encode_all(args, out);
        }
        SoEvent::Status { code, level } => {
            write_u16_str(code, out);
            write_u16_str(level, out);
        }
    }
}

fn write_u16_str(s: &str, out: &mut Vec<u8>) {
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let s = s.get(..end).unwrap_or_default();
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A bounds-checked cursor; `base` makes offsets in errors absolute.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Cursor { buf, pos: 0, base }
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], SharedObjectError> {
        let truncated = SharedObjectError::Truncated {
            offset: self.offset(),
        };
        let end = self.pos.checked_add(n).ok_or(truncated.clone())?;
        let bytes = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, SharedObjectError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, SharedObjectError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u16_str(&mut self) -> Result<String, SharedObjectError> {
        let b = self.take(2)?;
        let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
        let at = self.offset();
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| SharedObjectError::InvalidUtf8 { offset: at })
    }

    /// One AMF value at the cursor.
    fn value(&mut self, values: Values, limits: DecodeLimits) -> Result<Value, SharedObjectError> {
        let at = self.offset();
        let decoded = match values {
            Values::Amf0 => amf0::decode_one(self.rest(), limits),
            Values::Amf3 => amf3::decode_one(self.rest(), limits),
        };
        let (value, used) =
            decoded.map_err(|source| SharedObjectError::Amf { offset: at, source })?;
        self.take(used)?;
        Ok(value)
    }
}

fn decode_body(
    payload: &[u8],
    values: Values,
    limits: DecodeLimits,
) -> Result<SharedObjectMessage, SharedObjectError> {
    let mut r = Cursor::new(payload, 0);
    let name = r.u16_str()?;
    let version = r.u32()?;
    let persistent = r.u32()? & FLAG_PERSISTENT != 0;
    r.take(4)?;
    let mut events = Vec::new();
    while r.remaining() > 0 {
        let event_type = r.u8()?;
        let len = r.u32()? as usize;
        let base = r.offset();
        let data = r.take(len)?;
        decode_event(
            event_type,
            Cursor::new(data, base),
            values,
            limits,
            &mut events,
        )?;
    }
    Ok(SharedObjectMessage {
        name,
        version,
        persistent,
        events,
    })
}

fn decode_event(
    event_type: u8,
    mut d: Cursor<'_>,
    values: Values,
    limits: DecodeLimits,
    events: &mut Vec<SoEvent>,
) -> Result<(), SharedObjectError> {
    match event_type {
        1 => events.push(SoEvent::Use),
        2 => events.push(SoEvent::Release),
        8 => events.push(SoEvent::Clear),
        11 => events.push(SoEvent::UseSuccess),
        3 | 4 => loop {
            let slot = d.u16_str()?;
            let value = if d.remaining() == 0 {
                Value::Undefined
            } else {
                d.value(values, limits)?
            };
            events.push(if event_type == 3 {
                SoEvent::RequestChange { slot, value }
            } else {
                SoEvent::Change { slot, value }
            });
            if d.remaining() == 0 {
                break;
            }
        },
        5 | 9 | 10 => {
            let slot = if d.remaining() == 0 {
                String::new()
            } else {
                d.u16_str()?
            };
            events.push(match event_type {
                5 => SoEvent::Success { slot },
                9 => SoEvent::Remove { slot },
                _ => SoEvent::RequestRemove { slot },
            });
        }
        6 => {
            let at = d.offset();
            let handler = match d.value(values, limits)? {
                Value::String(handler) => handler,
                _ => return Err(SharedObjectError::MissingHandler { offset: at }),
            };
            let mut args = Vec::new();
            while d.remaining() > 0 {
                args.push(d.value(values, limits)?);
            }
            events.push(SoEvent::SendMessage { handler, args });
        }
        7 => {
            let code = d.u16_str()?;
            let level = d.u16_str()?;
            if d.remaining() > 0 {
                return Err(SharedObjectError::TrailingData {
                    extra: d.remaining(),
                    offset: d.offset(),
                });
            }
            events.push(SoEvent::Status { code, level });
        }
        // Unknown types are skipped: their length said how far.
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_event() -> Vec<SoEvent> {
        vec![
            SoEvent::Use,
            SoEvent::Release,
            SoEvent::RequestChange {
                slot: "x".into(),
                value: Value::Number(1.5),
            },
            SoEvent::Change {
                slot: "obj".into(),
                value: Value::object([
                    ("a", Value::from("b")),
                    ("bytes", Value::ByteArray(vec![1, 2, 3])),
                ]),
            },
            SoEvent::Success { slot: "x".into() },
            SoEvent::SendMessage {
                handler: "onChat".into(),
                args: vec!["hi".into(), Value::Date(1.0e12), Value::Null],
            },
            SoEvent::Status {
                code: "SharedObject.NoWriteAccess".into(),
                level: "error".into(),
            },
            SoEvent::Clear,
            SoEvent::Remove {
                slot: "gone".into(),
            },
            SoEvent::RequestRemove {
                slot: "gone".into(),
            },
            SoEvent::UseSuccess,
        ]
    }

    fn sample() -> SharedObjectMessage {
        SharedObjectMessage {
            name: "room/chat".into(),
            version: 7,
            persistent: true,
            events: every_event(),
        }
    }

    #[test]
    fn every_event_round_trips_in_both_types() {
        let message = sample();
        for encoding in [SoEncoding::Amf0, SoEncoding::Amf3] {
            let payload = message.encode(encoding);
            let decoded =
                SharedObjectMessage::decode(encoding, &payload, DecodeLimits::default()).unwrap();
            assert_eq!(decoded, message, "{encoding:?}");
        }
        let codes: Vec<u8> = every_event().iter().map(SoEvent::type_code).collect();
        assert_eq!(codes, (1..=11).collect::<Vec<u8>>());
    }

    #[test]
    fn the_header_is_laid_out_as_on_the_wire() {
        let payload = SharedObjectMessage::new("so", 258, true)
            .with(SoEvent::Use)
            .encode(SoEncoding::Amf0);
        assert_eq!(
            &payload[..],
            &[0, 2, b's', b'o', 0, 0, 1, 2, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0]
        );
        let amf3 = SharedObjectMessage::new("so", 258, true)
            .with(SoEvent::Use)
            .encode(SoEncoding::Amf3);
        assert_eq!(amf3[0], 0);
        assert_eq!(&amf3[1..], &payload[..]);
    }

    #[test]
    fn type_16_is_read_with_and_without_a_format_byte_and_with_amf3_values() {
        let message = SharedObjectMessage::new("chat", 3, false).with(SoEvent::RequestChange {
            slot: "n".into(),
            value: Value::from("v"),
        });
        let limits = DecodeLimits::default();
        let body = message.encode(SoEncoding::Amf0);
        // Without a format byte.
        assert_eq!(
            SharedObjectMessage::decode(SoEncoding::Amf3, &body, limits).unwrap(),
            message
        );
        // A long name, whose length's first byte is not 0, without a format byte.
        let long = SharedObjectMessage::new("n".repeat(300), 1, false).with(SoEvent::Use);
        let body = long.encode(SoEncoding::Amf0);
        assert_eq!(
            SharedObjectMessage::decode(SoEncoding::Amf3, &body, limits).unwrap(),
            long
        );
        // Format byte 3: AMF3 values (string "v": marker 6, length 1 << 1 | 1).
        let mut amf3 = vec![3, 0, 4];
        amf3.extend_from_slice(b"chat");
        amf3.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]);
        amf3.extend_from_slice(&[3, 0, 0, 0, 6, 0, 1, b'n', 0x06, 0x03, b'v']);
        assert_eq!(
            SharedObjectMessage::decode(SoEncoding::Amf3, &amf3, limits).unwrap(),
            message
        );
        // AMF3 send message: handler and an AMF3 integer.
        let mut send = vec![3, 0, 1, b's', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        send.extend_from_slice(&[6, 0, 0, 0, 6, 0x06, 0x05, b'h', b'i', 0x04, 0x05]);
        let decoded = SharedObjectMessage::decode(SoEncoding::Amf3, &send, limits).unwrap();
        assert_eq!(
            decoded.events,
            [SoEvent::SendMessage {
                handler: "hi".into(),
                args: vec![Value::Number(5.0)]
            }]
        );
    }

    #[test]
    fn several_pairs_in_one_change_event_become_several_events() {
        let mut data = Vec::new();
        for (slot, n) in [("a", 1.0), ("b", 2.0)] {
            write_u16_str(slot, &mut data);
            amf0::encode(&Value::Number(n), &mut data);
        }
        write_u16_str("c", &mut data);
        let mut payload = SharedObjectMessage::new("o", 1, false)
            .encode(SoEncoding::Amf0)
            .to_vec();
        payload.push(4);
        payload.extend_from_slice(&(data.len() as u32).to_be_bytes());
        payload.extend_from_slice(&data);
        // An unknown event type, skipped.
        payload.extend_from_slice(&[99, 0, 0, 0, 2, 0xFF, 0xFF]);
        let decoded =
            SharedObjectMessage::decode(SoEncoding::Amf0, &payload, DecodeLimits::default())
                .unwrap();
        let slots: Vec<(String, Value)> = decoded
            .events
            .into_iter()
            .map(|e| match e {
                SoEvent::Change { slot, value } => (slot, value),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            slots,
            [
                ("a".into(), Value::Number(1.0)),
                ("b".into(), Value::Number(2.0)),
                ("c".into(), Value::Undefined)
            ]
        );
    }

    #[test]
    fn hostile_payloads_are_errors_not_panics_or_allocations() {
        let limits = DecodeLimits::default();
        let good = sample().encode(SoEncoding::Amf0);
        // Every truncation of a valid message fails cleanly (or parses a prefix of events).
        for cut in 0..good.len() {
            for encoding in [SoEncoding::Amf0, SoEncoding::Amf3] {
                let _ = SharedObjectMessage::decode(encoding, &good[..cut], limits);
            }
        }
        // Every single-byte corruption.
        for i in 0..good.len() {
            for b in [0x00, 0x01, 0x7F, 0x80, 0xFF] {
                let mut bad = good.to_vec();
                bad[i] = b;
                let _ = SharedObjectMessage::decode(SoEncoding::Amf0, &bad, limits);
                let _ = SharedObjectMessage::decode(SoEncoding::Amf3, &bad, limits);
            }
        }
        // An event claiming 4 GiB of data.
        let mut huge = SharedObjectMessage::new("o", 1, false)
            .encode(SoEncoding::Amf0)
            .to_vec();
        huge.extend_from_slice(&[4, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1, b'x']);
        assert!(matches!(
            SharedObjectMessage::decode(SoEncoding::Amf0, &huge, limits),
            Err(SharedObjectError::Truncated { .. })
        ));
        // A name longer than the payload.
        assert!(matches!(
            SharedObjectMessage::decode(SoEncoding::Amf0, &[0xFF, 0xFF, b'a'], limits),
            Err(SharedObjectError::Truncated { offset: 2 })
        ));
        // Invalid UTF-8 in the name.
        let mut bad_name = vec![0, 1, 0xC3];
        bad_name.extend_from_slice(&[0; 12]);
        assert!(matches!(
            SharedObjectMessage::decode(SoEncoding::Amf0, &bad_name, limits),
            Err(SharedObjectError::InvalidUtf8 { offset: 2 })
        ));
        // A send message whose first value is not a string.
        let mut no_handler = SharedObjectMessage::new("o", 1, false)
            .encode(SoEncoding::Amf0)
            .to_vec();
        no_handler.extend_from_slice(&[6, 0, 0, 0, 1, 0x05]);
        assert!(matches!(
            SharedObjectMessage::decode(SoEncoding::Amf0, &no_handler, limits),
            Err(SharedObjectError::MissingHandler { .. })
        ));
        // Deep nesting is refused by the AMF limits.
        let mut deep = SharedObjectMessage::new("o", 1, false)
            .encode(SoEncoding::Amf0)
            .to_vec();
        let mut data = vec![0, 1, b'x'];
        data.extend(
            std::iter::repeat_n(0x0A_u8, 1)
                .chain([0, 0, 0, 1])
                .cycle()
                .take(5 * 200),
        );
        deep.push(3);
        deep.extend_from_slice(&(data.len() as u32).to_be_bytes());
        deep.extend_from_slice(&data);
        assert!(matches!(
            SharedObjectMessage::decode(SoEncoding::Amf0, &deep, limits),
            Err(SharedObjectError::Amf {
                source: AmfError::TooDeep { .. },
                ..
            })
        ));
        // Many empty events cost their bytes, not more: 5 bytes each.
        let mut many = SharedObjectMessage::new("o", 1, false)
            .encode(SoEncoding::Amf0)
            .to_vec();
        for _ in 0..10_000 {
            many.extend_from_slice(&[1, 0, 0, 0, 0]);
        }
        let decoded = SharedObjectMessage::decode(SoEncoding::Amf0, &many, limits).unwrap();
        assert_eq!(decoded.events.len(), 10_000);
    }
}
