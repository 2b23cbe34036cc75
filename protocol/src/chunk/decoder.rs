//! Chunk stream decoder: bytes in, whole messages out.
//!
//! # Interpretation choices
//!
//! - **fmt 3 starting a new message** takes the previous timestamp plus the previous *delta*. After
//!   a fmt 1/2 header the delta is the one that header carried; after a fmt 0 header the delta is
//!   that header's absolute timestamp (as ffmpeg and librtmp do). So fmt 0 at 40 followed by a fmt 3
//!   new message gives 80. (Our [`ChunkEncoder`](super::ChunkEncoder) never relies on this: it
//!   only emits fmt 3 for a new message when the delta is unambiguous.)
//! - **Extended timestamps on fmt 3 chunks** are present iff the last fmt 0/1/2 header of that chunk
//!   stream had one. Their value is read and ignored: continuation chunks keep the message's
//!   timestamp and a fmt 3 new message uses the stored delta.
//! - **A fmt 0/1/2 header on a chunk stream with a partial message** starts a new message: the
//!   partial one is discarded. Only fmt 3 continues a message.
//! - Set Chunk Size and Abort are honoured on any chunk stream and any message stream.
//!
//! # Memory
//!
//! Chunk payload bytes are moved into the message being reassembled as they arrive, so the input
//! buffer only ever holds bytes that were pushed and not yet parsed (at most a partial chunk
//! header once [`ChunkDecoder::next_message`] has returned `Ok(None)`). A message's buffer grows
//! with the bytes received for it and is never reserved from the announced length.
//!
//! Partial messages are bounded twice: each by [`DecoderLimits::max_message_size`], and all of
//! them together by [`DecoderLimits::max_reassembly_bytes`], so a peer that opens many chunk
//! streams and leaves a large message unfinished on each cannot make the decoder hold
//! `max_chunk_streams` times the message limit.

use std::collections::HashMap;

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

use super::{MessageHeader, RawMessage, DEFAULT_CHUNK_SIZE};
use crate::types::{ChunkStreamId, MessageType, StreamId, Timestamp};

/// Bounds on what a peer may make the decoder hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderLimits {
    /// Largest chunk size a Set Chunk Size message may announce (RTMP allows up to 2^31-1).
    pub max_chunk_size: u32,
    /// Largest message length a chunk header may announce.
    pub max_message_size: u32,
    /// Most chunk streams that may have a message in progress at once.
    pub max_chunk_streams: usize,
    /// Most payload bytes the partial messages of all chunk streams may hold together.
    pub max_reassembly_bytes: usize,
}

impl Default for DecoderLimits {
    fn default() -> Self {
        DecoderLimits {
            max_chunk_size: 1 << 24,
            max_message_size: 8 << 20,
            max_chunk_streams: 64,
            max_reassembly_bytes: 16 << 20,
        }
    }
}

/// Why a chunk stream cannot be decoded (the connection must be closed) or a message cannot be
/// encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ChunkError {
    #[error("Set Chunk Size of {size} is outside 1..={max}")]
    BadChunkSize { size: u32, max: u32 },
    #[error("message of {length} bytes on chunk stream {csid} exceeds the {max}-byte limit")]
    MessageTooLarge { csid: u32, length: u32, max: u32 },
    #[error("chunk stream {csid} starts with a fmt {fmt} header but has no previous header")]
    NoPreviousHeader { csid: u32, fmt: u8 },
    #[error("more than {max} chunk streams in progress at once")]
    TooManyChunkStreams { max: usize },
    /// The partial messages of all chunk streams would hold more than
    /// [`DecoderLimits::max_reassembly_bytes`].
    #[error(
        "a chunk on chunk stream {csid} would make partial messages hold {bytes} bytes, over \
         the {max}-byte reassembly limit"
    )]
    ReassemblyTooLarge { csid: u32, bytes: usize, max: usize },
    #[error("malformed {what} protocol control message")]
    BadControlMessage { what: &'static str },
    /// Encoder: a payload longer than the 24-bit message length field (16777215 bytes).
    #[error("payload of {length} bytes on chunk stream {csid} does not fit a chunk header")]
    PayloadTooLong { csid: u32, length: usize },
    /// Encoder: a chunk stream id outside 2..=65599.
    #[error("chunk stream id {csid} is outside 2..=65599")]
    InvalidChunkStreamId { csid: u32 },
    /// Encoder: shared chunks made for another chunk size than the encoder's.
    #[error("shared chunks were made for chunk size {shared}, the connection uses {encoder}")]
    ChunkSizeMismatch { shared: u32, encoder: u32 },
}

/// The longest chunk header: 3-byte basic header, 11-byte fmt 0 header, extended timestamp.
const MAX_HEADER_LEN: usize = 3 + 11 + 4;
const TIMESTAMP_EXTENDED: u32 = 0x00FF_FFFF;

/// What the decoder remembers about one chunk stream.
#[derive(Debug)]
struct StreamState {
    timestamp: u32,
    /// The delta a fmt 3 new message adds (the absolute timestamp after a fmt 0 header).
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// Whether the last fmt 0/1/2 header had an extended timestamp (so fmt 3 chunks carry one).
    extended: bool,
    /// The message being reassembled; its length is `length`.
    partial: Option<BytesMut>,
}

/// A chunk header as read from the wire, before it is applied to the stream state.
#[derive(Debug, Clone, Copy)]
struct WireHeader {
    fmt: u8,
    csid: u32,
    /// Timestamp field (resolved from the extended field when present); unused for fmt 3.
    timestamp: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    extended: bool,
}

#[derive(Debug, Clone, Copy)]
enum ReadState {
    /// Waiting for a chunk header.
    Header,
    /// Inside a chunk's payload: `remaining` more bytes belong to chunk stream `csid`.
    Payload { csid: u32, remaining: u32 },
}

/// Reassembles messages from an RTMP chunk stream (see the module docs of `chunk`).
pub struct ChunkDecoder {
    limits: DecoderLimits,
    chunk_size: u32,
    input: BytesMut,
    streams: HashMap<u32, StreamState>,
    /// How many streams have `partial` set.
    in_progress: usize,
    /// Payload bytes held by every `partial` together.
    partial_bytes: usize,
    read: ReadState,
    bytes_received: u64,
    /// Once decoding failed, every later call reports the same error.
    failed: Option<ChunkError>,
}

impl ChunkDecoder {
    pub fn new(limits: DecoderLimits) -> Self {
        ChunkDecoder {
            limits,
            chunk_size: DEFAULT_CHUNK_SIZE,
            input: BytesMut::new(),
            streams: HashMap::new(),
            in_progress: 0,
            partial_bytes: 0,
            read: ReadState::Header,
            bytes_received: 0,
            failed: None,
        }
    }

    /// Appends bytes received from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.bytes_received = self.bytes_received.saturating_add(bytes.len() as u64);
        if self.failed.is_none() {
            self.input.extend_from_slice(bytes);
        }
    }

    /// The next complete message, or `Ok(None)` until more bytes arrive.
    ///
    /// Set Chunk Size (type 1) and Abort (type 2) take effect here, before the next chunk is read,
    /// and are still returned so the session can see them.
    ///
    /// After an error the decoder is dead: every later call returns the same error.
    pub fn next_message(&mut self) -> Result<Option<RawMessage>, ChunkError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match self.step_until_message() {
            Ok(Some(message)) => match self.apply_control(&message) {
                Ok(()) => Ok(Some(message)),
                Err(err) => Err(self.fail(err)),
            },
            Ok(None) => Ok(None),
            Err(err) => Err(self.fail(err)),
        }
    }

    /// The peer's current chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Total bytes pushed so far (for acknowledgements).
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &DecoderLimits {
        &self.limits
    }

    /// Bytes of buffer capacity currently held: unparsed input plus partial messages. It grows
    /// with the bytes received, never with lengths a header merely announces.
    pub fn buffered_capacity(&self) -> usize {
        self.streams
            .values()
            .filter_map(|s| s.partial.as_ref())
            .fold(self.input.capacity(), |sum, p| {
                sum.saturating_add(p.capacity())
            })
    }

    fn fail(&mut self, err: ChunkError) -> ChunkError {
        self.failed = Some(err.clone());
        self.input = BytesMut::new();
        self.streams.clear();
        self.in_progress = 0;
        self.partial_bytes = 0;
        err
    }

    /// Parses chunks until a message completes or the input runs out.
    fn step_until_message(&mut self) -> Result<Option<RawMessage>, ChunkError> {
        loop {
            match self.read {
                ReadState::Header => {
                    let Some((header, used)) = self.parse_header()? else {
                        return Ok(None);
                    };
                    self.input.advance(used);
                    if let Some(message) = self.apply_header(header)? {
                        return Ok(Some(message));
                    }
                }
                ReadState::Payload { csid, remaining } => {
                    if self.input.is_empty() {
                        return Ok(None);
                    }
                    let take = self.input.len().min(remaining as usize);
                    let left = remaining.saturating_sub(take as u32); // take <= remaining
                    let Some(stream) = self.streams.get_mut(&csid) else {
                        // Unreachable by construction; recover by reading headers again.
                        self.read = ReadState::Header;
                        continue;
                    };
                    let Some(partial) = stream.partial.as_mut() else {
                        self.read = ReadState::Header;
                        continue;
                    };
                    let held = self.partial_bytes.saturating_add(take);
                    if held > self.limits.max_reassembly_bytes {
                        return Err(ChunkError::ReassemblyTooLarge {
                            csid,
                            bytes: held,
                            max: self.limits.max_reassembly_bytes,
                        });
                    }
                    partial.extend_from_slice(&self.input[..take]);
                    self.partial_bytes = held;
                    self.input.advance(take);
                    self.read = if left == 0 {
                        ReadState::Header
                    } else {
                        ReadState::Payload {
                            csid,
                            remaining: left,
                        }
                    };
                    if partial.len() as u64 >= u64::from(stream.length) {
                        let payload = stream.partial.take().unwrap_or_default().freeze();
                        self.in_progress = self.in_progress.saturating_sub(1);
                        self.partial_bytes = self.partial_bytes.saturating_sub(payload.len());
                        return Ok(Some(RawMessage {
                            header: message_header(csid, stream),
                            payload,
                        }));
                    }
                }
            }
        }
    }

    /// Reads one chunk header from the front of the input without consuming it; `None` until the
    /// whole header has arrived.
    fn parse_header(&self) -> Result<Option<(WireHeader, usize)>, ChunkError> {
        let buf = &self.input[..self.input.len().min(MAX_HEADER_LEN)];
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let fmt = first >> 6;
        let (csid, mut pos) = match first & 0x3F {
            0 => match buf.get(1) {
                Some(&b) => (u32::from(b) + 64, 2),
                None => return Ok(None),
            },
            1 => match (buf.get(1), buf.get(2)) {
                (Some(&lo), Some(&hi)) => (u32::from(hi) * 256 + u32::from(lo) + 64, 3),
                _ => return Ok(None),
            },
            id => (u32::from(id), 1),
        };
        let previous = self.streams.get(&csid);
        if fmt != 0 && previous.is_none() {
            return Err(ChunkError::NoPreviousHeader { csid, fmt });
        }
        let header_len = match fmt {
            0 => 11,
            1 => 7,
            2 => 3,
            _ => 0,
        };
        let Some(fields) = buf.get(pos..pos + header_len) else {
            return Ok(None);
        };
        pos += header_len;
        let mut header = WireHeader {
            fmt,
            csid,
            timestamp: 0,
            length: 0,
            type_id: 0,
            stream_id: 0,
            extended: false,
        };
        if fmt < 3 {
            header.timestamp = be24(&fields[0..3]);
            header.extended = header.timestamp == TIMESTAMP_EXTENDED;
        } else {
            header.extended = previous.is_some_and(|s| s.extended);
        }
        if fmt < 2 {
            header.length = be24(&fields[3..6]);
            header.type_id = fields[6];
        }
        if fmt == 0 {
            header.stream_id = u32::from_le_bytes([fields[7], fields[8], fields[9], fields[10]]);
        }
        if header.extended {
            let Some(ext) = buf.get(pos..pos + 4) else {
                return Ok(None);
            };
            pos += 4;
            if fmt < 3 {
                header.timestamp = u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]]);
            }
        }
        Ok(Some((header, pos)))
    }

    /// Applies a parsed header to its chunk stream and sets up reading the chunk's payload.
    /// Returns a message at once if the header starts a zero-length message.
    fn apply_header(&mut self, h: WireHeader) -> Result<Option<RawMessage>, ChunkError> {
        if h.fmt < 2 && h.length > self.limits.max_message_size {
            return Err(ChunkError::MessageTooLarge {
                csid: h.csid,
                length: h.length,
                max: self.limits.max_message_size,
            });
        }
        let stream = match self.streams.entry(h.csid) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                if h.fmt != 0 {
                    return Err(ChunkError::NoPreviousHeader {
                        csid: h.csid,
                        fmt: h.fmt,
                    });
                }
                e.insert(StreamState {
                    timestamp: 0,
                    delta: 0,
                    length: 0,
                    type_id: 0,
                    stream_id: 0,
                    extended: false,
                    partial: None,
                })
            }
        };

        if h.fmt == 3 {
            if let Some(partial) = &stream.partial {
                // Continuation chunk of the message in progress.
                let remaining = u64::from(stream.length).saturating_sub(partial.len() as u64);
                let chunk = remaining.min(u64::from(self.chunk_size)) as u32;
                self.read = if chunk == 0 {
                    ReadState::Header
                } else {
                    ReadState::Payload {
                        csid: h.csid,
                        remaining: chunk,
                    }
                };
                return Ok(None);
            }
            stream.timestamp = stream.timestamp.wrapping_add(stream.delta);
        } else {
            // A new header mid-message starts a new message: drop the partial one.
            if let Some(partial) = stream.partial.take() {
                self.in_progress = self.in_progress.saturating_sub(1);
                self.partial_bytes = self.partial_bytes.saturating_sub(partial.len());
            }
            stream.extended = h.extended;
            match h.fmt {
                0 => {
                    stream.timestamp = h.timestamp;
                    stream.delta = h.timestamp;
                    stream.length = h.length;
                    stream.type_id = h.type_id;
                    stream.stream_id = h.stream_id;
                }
                1 => {
                    stream.timestamp = stream.timestamp.wrapping_add(h.timestamp);
                    stream.delta = h.timestamp;
                    stream.length = h.length;
                    stream.type_id = h.type_id;
                }
                _ => {
                    stream.timestamp = stream.timestamp.wrapping_add(h.timestamp);
                    stream.delta = h.timestamp;
                }
            }
        }

        // A new message starts with this chunk.
        if stream.length == 0 {
            self.read = ReadState::Header;
            return Ok(Some(RawMessage {
                header: message_header(h.csid, stream),
                payload: Bytes::new(),
            }));
        }
        if self.in_progress >= self.limits.max_chunk_streams {
            return Err(ChunkError::TooManyChunkStreams {
                max: self.limits.max_chunk_streams,
            });
        }
        stream.partial = Some(BytesMut::new());
        self.in_progress += 1;
        self.read = ReadState::Payload {
            csid: h.csid,
            remaining: stream.length.min(self.chunk_size),
        };
        Ok(None)
    }

    /// Set Chunk Size and Abort take effect as soon as they are reassembled.
    fn apply_control(&mut self, message: &RawMessage) -> Result<(), ChunkError> {
        match message.header.type_id {
            MessageType::SET_CHUNK_SIZE => {
                let size = read_u32(&message.payload, "Set Chunk Size")?;
                if size == 0 || size & 0x8000_0000 != 0 || size > self.limits.max_chunk_size {
                    return Err(ChunkError::BadChunkSize {
                        size,
                        max: self.limits.max_chunk_size,
                    });
                }
                self.chunk_size = size;
            }
            MessageType::ABORT => {
                let csid = read_u32(&message.payload, "Abort")?;
                if let Some(stream) = self.streams.get_mut(&csid) {
                    if let Some(partial) = stream.partial.take() {
                        self.in_progress = self.in_progress.saturating_sub(1);
                        self.partial_bytes = self.partial_bytes.saturating_sub(partial.len());
                        if let ReadState::Payload { csid: reading, .. } = self.read {
                            if reading == csid {
                                // Cannot happen (the Abort's own chunk just ended), but never
                                // leave the reader pointing at a discarded message.
                                self.read = ReadState::Header;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn message_header(csid: u32, stream: &StreamState) -> MessageHeader {
    MessageHeader {
        csid: ChunkStreamId(csid),
        timestamp: Timestamp(stream.timestamp),
        type_id: MessageType(stream.type_id),
        stream_id: StreamId(stream.stream_id),
    }
}

fn be24(b: &[u8]) -> u32 {
    (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2])
}

fn read_u32(payload: &[u8], what: &'static str) -> Result<u32, ChunkError> {
    match payload.get(..4) {
        Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(ChunkError::BadControlMessage { what }),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::chunk::ChunkEncoder;

    pub(crate) fn header(csid: u32, timestamp: u32, type_id: u8, stream_id: u32) -> MessageHeader {
        MessageHeader {
            csid: ChunkStreamId(csid),
            timestamp: Timestamp(timestamp),
            type_id: MessageType(type_id),
            stream_id: StreamId(stream_id),
        }
    }

    /// Deterministic pseudo-random payload.
    pub(crate) fn payload(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// Pushes `bytes` whole and drains every message.
    pub(crate) fn decode_all(
        decoder: &mut ChunkDecoder,
        bytes: &[u8],
    ) -> Result<Vec<RawMessage>, ChunkError> {
        decoder.push(bytes);
        let mut out = Vec::new();
        while let Some(m) = decoder.next_message()? {
            out.push(m);
        }
        Ok(out)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<RawMessage>, ChunkError> {
        decode_all(&mut ChunkDecoder::new(DecoderLimits::default()), bytes)
    }

    pub(crate) struct XorShift(pub u64);

    impl XorShift {
        pub(crate) fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn fmt0(csid: u8, ts: u32, len: u32, type_id: u8, sid: u32) -> Vec<u8> {
        let mut v = vec![csid];
        v.extend_from_slice(&ts.min(0xFF_FFFF).to_be_bytes()[1..]);
        v.extend_from_slice(&len.to_be_bytes()[1..]);
        v.push(type_id);
        v.extend_from_slice(&sid.to_le_bytes());
        if ts >= 0xFF_FFFF {
            v.extend_from_slice(&ts.to_be_bytes());
        }
        v
    }

    fn set_chunk_size_msg(size: u32) -> Vec<u8> {
        let mut v = fmt0(2, 0, 4, 1, 0);
        v.extend_from_slice(&size.to_be_bytes());
        v
    }

    #[test]
    fn single_chunk_message() {
        let mut bytes = fmt0(3, 1000, 5, 20, 1);
        bytes.extend_from_slice(b"hello");
        let msgs = decode(&bytes).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].header, header(3, 1000, 20, 1));
        assert_eq!(&msgs[0].payload[..], b"hello");
    }

    #[test]
    fn basic_header_sizes() {
        for (basic, csid) in [
            (vec![0x00, 0], 64),
            (vec![0x00, 255], 319),
            (vec![0x01, 0, 1], 320),
            (vec![0x01, 255, 255], 65599),
            (vec![0x01, 5, 0], 69),
        ] {
            let mut bytes = basic;
            bytes.extend_from_slice(&fmt0(0, 7, 1, 9, 1)[1..]);
            bytes.push(0xAB);
            let msgs = decode(&bytes).unwrap();
            assert_eq!(msgs[0].header.csid, ChunkStreamId(csid));
            assert_eq!(&msgs[0].payload[..], &[0xAB]);
        }
    }

    #[test]
    fn zero_length_message_is_returned_at_once() {
        let bytes = fmt0(3, 5, 0, 20, 0);
        let msgs = decode(&bytes).unwrap();
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].payload.is_empty());
        // fmt 3 new messages of length 0, each advancing by the delta (5 after fmt 0 at 5).
        let mut bytes = bytes;
        bytes.extend_from_slice(&[0xC3, 0xC3]);
        let msgs = decode(&bytes).unwrap();
        let ts: Vec<u32> = msgs.iter().map(|m| m.header.timestamp.0).collect();
        assert_eq!(ts, [5, 10, 15]);
    }

    #[test]
    fn interleaved_chunk_streams() {
        // csid 6: 200 bytes (128 + 72), csid 4: 10 bytes, interleaved between the two chunks.
        let a = payload(200, 1);
        let b = payload(10, 2);
        let mut bytes = fmt0(6, 100, 200, 8, 1);
        bytes.extend_from_slice(&a[..128]);
        bytes.extend(fmt0(4, 50, 10, 9, 1));
        bytes.extend_from_slice(&b);
        bytes.push(0xC6);
        bytes.extend_from_slice(&a[128..]);
        let msgs = decode(&bytes).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].header, header(4, 50, 9, 1));
        assert_eq!(&msgs[0].payload[..], &b[..]);
        assert_eq!(msgs[1].header, header(6, 100, 8, 1));
        assert_eq!(&msgs[1].payload[..], &a[..]);
    }

    #[test]
    fn header_formats_decode() {
        // fmt 0 @1000 len 3, fmt 1 delta 20 len 2 type 9, fmt 2 delta 30, fmt 3 (delta 30),
        // fmt 3 again.
        let mut bytes = fmt0(5, 1000, 3, 8, 7);
        bytes.extend_from_slice(b"abc");
        bytes.extend_from_slice(&[0x45, 0, 0, 20, 0, 0, 2, 9]);
        bytes.extend_from_slice(b"de");
        bytes.extend_from_slice(&[0x85, 0, 0, 30]);
        bytes.extend_from_slice(b"fg");
        bytes.extend_from_slice(&[0xC5]);
        bytes.extend_from_slice(b"hi");
        bytes.extend_from_slice(&[0xC5]);
        bytes.extend_from_slice(b"jk");
        let msgs = decode(&bytes).unwrap();
        let got: Vec<(MessageHeader, &[u8])> =
            msgs.iter().map(|m| (m.header, &m.payload[..])).collect();
        assert_eq!(
            got,
            [
                (header(5, 1000, 8, 7), &b"abc"[..]),
                (header(5, 1020, 9, 7), &b"de"[..]),
                (header(5, 1050, 9, 7), &b"fg"[..]),
                (header(5, 1080, 9, 7), &b"hi"[..]),
                (header(5, 1110, 9, 7), &b"jk"[..]),
            ]
        );
    }

    #[test]
    fn fmt3_after_fmt0_reuses_absolute_timestamp_as_delta() {
        let mut bytes = fmt0(3, 40, 1, 8, 1);
        bytes.push(1);
        bytes.extend_from_slice(&[0xC3, 2]);
        let msgs = decode(&bytes).unwrap();
        assert_eq!(msgs[1].header.timestamp, Timestamp(80));
    }

    #[test]
    fn extended_timestamps_decode() {
        // fmt 0 at 0x01000000, 3 bytes over chunks of 1 byte: continuation chunks repeat it.
        let mut bytes = set_chunk_size_msg(1);
        bytes.extend(fmt0(3, 0x0100_0000, 3, 9, 1));
        bytes.push(b'a');
        for c in [b'b', b'c'] {
            bytes.push(0xC3);
            bytes.extend_from_slice(&0x0100_0000u32.to_be_bytes());
            bytes.push(c);
        }
        // fmt 2 with delta 0x01000000 (extended), then a fmt 3 new message that repeats it.
        bytes.extend_from_slice(&[0x83, 0xFF, 0xFF, 0xFF, 0x01, 0, 0, 0, b'x']);
        bytes.extend_from_slice(&[0xC3, 0x01, 0, 0, 0, b'y']);
        bytes.extend_from_slice(&[0xC3, 0x01, 0, 0, 0, b'z']);
        bytes.extend_from_slice(&[0xC3, 0x01, 0, 0, 0, b'w']);
        let msgs = decode(&bytes).unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[1].header, header(3, 0x0100_0000, 9, 1));
        assert_eq!(&msgs[1].payload[..], b"abc");
        assert_eq!(msgs[2].header, header(3, 0x0200_0000, 9, 1));
        assert_eq!(&msgs[2].payload[..], b"xyz");
        // the trailing fmt 3 chunk started a new message at 0x03000000
        let mut d = ChunkDecoder::new(DecoderLimits::default());
        let mut all = bytes.clone();
        all.extend_from_slice(&[0xC3, 0x01, 0, 0, 0, b'v', 0xC3, 0x01, 0, 0, 0, b'u']);
        let msgs = decode_all(&mut d, &all).unwrap();
        assert_eq!(msgs[3].header.timestamp, Timestamp(0x0300_0000));
        assert_eq!(&msgs[3].payload[..], b"wvu");
    }

    #[test]
    fn set_chunk_size_validation() {
        for bad in [0u32, 0x7FFF_FFFF, 0x8000_0000, (1 << 24) + 1] {
            let err = decode(&set_chunk_size_msg(bad)).unwrap_err();
            assert_eq!(
                err,
                ChunkError::BadChunkSize {
                    size: bad,
                    max: 1 << 24
                }
            );
        }
        // A short Set Chunk Size payload.
        let mut bytes = fmt0(2, 0, 3, 1, 0);
        bytes.extend_from_slice(&[0, 0, 1]);
        assert_eq!(
            decode(&bytes).unwrap_err(),
            ChunkError::BadControlMessage {
                what: "Set Chunk Size"
            }
        );
        // A larger limit accepts 2^31-1.
        let mut d = ChunkDecoder::new(DecoderLimits {
            max_chunk_size: 0x7FFF_FFFF,
            ..DecoderLimits::default()
        });
        decode_all(&mut d, &set_chunk_size_msg(0x7FFF_FFFF)).unwrap();
        assert_eq!(d.chunk_size(), 0x7FFF_FFFF);
    }

    #[test]
    fn errors_are_sticky() {
        let mut d = ChunkDecoder::new(DecoderLimits::default());
        let err = decode_all(&mut d, &set_chunk_size_msg(0)).unwrap_err();
        d.push(&[1, 2, 3]);
        assert_eq!(d.next_message().unwrap_err(), err);
        assert_eq!(d.bytes_received(), 16 + 3);
    }

    #[test]
    fn set_chunk_size_applies_to_the_next_chunk() {
        let p = payload(300, 3);
        let mut bytes = set_chunk_size_msg(300);
        bytes.extend(fmt0(3, 0, 300, 8, 1));
        bytes.extend_from_slice(&p);
        let mut d = ChunkDecoder::new(DecoderLimits::default());
        let msgs = decode_all(&mut d, &bytes).unwrap();
        assert_eq!(d.chunk_size(), 300);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].header.type_id, MessageType::SET_CHUNK_SIZE);
        assert_eq!(&msgs[1].payload[..], &p[..]);
    }

    #[test]
    fn set_chunk_size_mid_message_of_other_stream() {
        // csid 6 first chunk at 128, then chunk size 64, then the rest in 64-byte chunks.
        let p = payload(256, 4);
        let mut bytes = fmt0(6, 0, 256, 9, 1);
        bytes.extend_from_slice(&p[..128]);
        bytes.extend(set_chunk_size_msg(64));
        for c in p[128..].chunks(64) {
            bytes.push(0xC6);
            bytes.extend_from_slice(c);
        }
        let msgs = decode(&bytes).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(&msgs[1].payload[..], &p[..]);
    }

    #[test]
    fn abort_discards_partial_message() {
        let p = payload(200, 5);
        let mut bytes = fmt0(6, 0, 200, 9, 1);
        bytes.extend_from_slice(&p[..128]);
        bytes.extend(fmt0(2, 0, 4, 2, 0));
        bytes.extend_from_slice(&6u32.to_be_bytes());
        // fmt 3 on csid 6 now starts a new 200-byte message
        let q = payload(200, 6);
        bytes.push(0xC6);
        bytes.extend_from_slice(&q[..128]);
        bytes.push(0xC6);
        bytes.extend_from_slice(&q[128..]);
        let mut d = ChunkDecoder::new(DecoderLimits::default());
        let msgs = decode_all(&mut d, &bytes).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].header.type_id, MessageType::ABORT);
        assert_eq!(&msgs[1].payload[..], &q[..]);
        assert_eq!(d.in_progress, 0);

        let mut short = fmt0(2, 0, 2, 2, 0);
        short.extend_from_slice(&[0, 6]);
        assert_eq!(
            decode(&short).unwrap_err(),
            ChunkError::BadControlMessage { what: "Abort" }
        );
    }

    #[test]
    fn huge_announced_message_does_not_allocate() {
        let limits = DecoderLimits {
            max_message_size: 32 << 20,
            max_chunk_size: 1 << 24,
            ..DecoderLimits::default()
        };
        let mut d = ChunkDecoder::new(limits);
        let mut bytes = set_chunk_size_msg(1 << 24);
        bytes.extend(fmt0(3, 0, 0xFF_FFFF, 9, 1));
        bytes.extend_from_slice(&[1, 2, 3, 4, 5]);
        assert_eq!(decode_all(&mut d, &bytes).unwrap().len(), 1);
        assert!(
            d.buffered_capacity() < 4096,
            "capacity {}",
            d.buffered_capacity()
        );
        // More bytes grow the buffer only with what arrived.
        d.push(&[0; 10_000]);
        assert!(d.next_message().unwrap().is_none());
        assert!(d.buffered_capacity() < 64 * 1024);

        // Over the default 8 MiB limit: rejected.
        let mut bytes = fmt0(3, 0, 0xFF_FFFF, 9, 1);
        bytes.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            decode(&bytes).unwrap_err(),
            ChunkError::MessageTooLarge {
                csid: 3,
                length: 0xFF_FFFF,
                max: 8 << 20
            }
        );
    }

    #[test]
    fn shrinking_length_mid_message_does_not_panic() {
        let mut bytes = fmt0(3, 0, 200, 20, 0);
        bytes.extend_from_slice(&payload(128, 7));
        bytes.extend_from_slice(&[0x43, 0, 0, 0, 0, 0, 10, 20]);
        bytes.extend_from_slice(&payload(10, 8));
        let mut d = ChunkDecoder::new(DecoderLimits::default());
        let msgs = decode_all(&mut d, &bytes).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(&msgs[0].payload[..], &payload(10, 8)[..]);
        assert_eq!(d.in_progress, 0);
        // fmt 2 mid-message also restarts (same length 130).
        let mut more = fmt0(4, 0, 130, 8, 0);
        more.extend_from_slice(&[1; 128]);
        more.extend_from_slice(&[0x84, 0, 0, 1]);
        more.extend_from_slice(&[2; 128]);
        more.extend_from_slice(&[0xC4, 2, 2]);
        let msgs = decode_all(&mut d, &more).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(&msgs[0].payload[..], &[2; 130]);
        assert_eq!(msgs[0].header.timestamp, Timestamp(1));
        // A growing length mid-message likewise.
        let mut grow = fmt0(5, 0, 130, 8, 0);
        grow.extend_from_slice(&[1; 128]);
        grow.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0, 8]);
        grow.extend_from_slice(&[3; 128]);
        grow.extend_from_slice(&[0xC5; 1]);
        grow.extend_from_slice(&[3; 128]);
        let msgs = decode_all(&mut d, &grow).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(&msgs[0].payload[..], &[3; 256]);
    }

    #[test]
    fn fmt123_on_fresh_csid_is_rejected() {
        for (first, fmt) in [(0x43u8, 1u8), (0x83, 2), (0xC3, 3)] {
            let bytes = [first, 0, 0, 0, 0, 0, 1, 8, 0];
            assert_eq!(
                decode(&bytes).unwrap_err(),
                ChunkError::NoPreviousHeader { csid: 3, fmt }
            );
        }
    }

    #[test]
    fn too_many_chunk_streams() {
        let mut d = ChunkDecoder::new(DecoderLimits {
            max_chunk_streams: 3,
            ..DecoderLimits::default()
        });
        let mut bytes = Vec::new();
        for csid in 3..6 {
            bytes.extend(fmt0(csid, 0, 200, 9, 1));
            bytes.extend_from_slice(&[0; 128]);
        }
        // finished messages and zero-length ones do not count
        bytes.extend(fmt0(7, 0, 0, 9, 1));
        assert_eq!(decode_all(&mut d, &bytes).unwrap().len(), 1);
        d.push(&fmt0(8, 0, 200, 9, 1));
        assert_eq!(
            d.next_message().unwrap_err(),
            ChunkError::TooManyChunkStreams { max: 3 }
        );
    }

    #[test]
    fn partial_messages_share_one_reassembly_budget() {
        let limits = DecoderLimits {
            max_message_size: 800,
            max_reassembly_bytes: 1000,
            ..DecoderLimits::default()
        };
        // Seven 600-byte messages, each with its first 128-byte chunk: 896 bytes held.
        let mut d = ChunkDecoder::new(limits);
        let mut bytes = Vec::new();
        for csid in 3..10 {
            bytes.extend(fmt0(csid, 0, 600, 9, 1));
            bytes.extend_from_slice(&[0; 128]);
        }
        assert!(decode_all(&mut d, &bytes).unwrap().is_empty());
        assert_eq!(d.partial_bytes, 896);
        // The eighth chunk stream's first chunk would make it 1024.
        let mut more = fmt0(10, 0, 600, 9, 1);
        more.extend_from_slice(&[0; 128]);
        assert_eq!(
            decode_all(&mut d, &more).unwrap_err(),
            ChunkError::ReassemblyTooLarge {
                csid: 10,
                bytes: 1024,
                max: 1000
            }
        );
        // The error is final, like every decode error.
        assert!(d.next_message().is_err());
    }

    #[test]
    fn finished_restarted_and_aborted_messages_give_their_bytes_back() {
        let limits = DecoderLimits {
            max_message_size: 800,
            max_reassembly_bytes: 1000,
            ..DecoderLimits::default()
        };
        let mut d = ChunkDecoder::new(limits);
        // Many whole 700-byte messages in a row: each frees its bytes when it completes.
        for i in 0..20u8 {
            let p = payload(700, i);
            let mut bytes = fmt0(3 + i % 4, 0, 700, 9, 1);
            for (n, c) in p.chunks(128).enumerate() {
                if n > 0 {
                    bytes.push(0xC0 | (3 + i % 4));
                }
                bytes.extend_from_slice(c);
            }
            let msgs = decode_all(&mut d, &bytes).unwrap();
            assert_eq!(&msgs[0].payload[..], &p[..]);
            assert_eq!(d.partial_bytes, 0);
        }
        // A partial message replaced by a new header, and one aborted, hold nothing after.
        let mut bytes = fmt0(4, 0, 700, 9, 1);
        bytes.extend_from_slice(&[1; 128]);
        bytes.extend(fmt0(4, 0, 700, 9, 1));
        bytes.extend_from_slice(&[2; 128]);
        bytes.extend(fmt0(5, 0, 700, 9, 1));
        bytes.extend_from_slice(&[3; 128]);
        assert!(decode_all(&mut d, &bytes).unwrap().is_empty());
        assert_eq!(d.partial_bytes, 256);
        let mut abort = fmt0(2, 0, 4, 2, 0);
        abort.extend_from_slice(&4u32.to_be_bytes());
        assert_eq!(decode_all(&mut d, &abort).unwrap().len(), 1);
        assert_eq!(d.partial_bytes, 128);
    }

    #[test]
    fn byte_at_a_time_matches_whole() {
        let mut enc = ChunkEncoder::new();
        let mut bytes = BytesMut::new();
        let mut ts = 0;
        for i in 0..40u32 {
            let len = [0usize, 1, 127, 128, 129, 1000, 5][i as usize % 7];
            let csid = [3, 4, 6, 70, 400][i as usize % 5];
            ts += [0, 10, 33][i as usize % 3];
            if i == 20 {
                let h = header(2, 0, 1, 0);
                enc.encode(&h, &300u32.to_be_bytes(), &mut bytes).unwrap();
                enc.set_chunk_size(300);
            }
            let h = header(csid, ts, 9, 1);
            enc.encode(&h, &payload(len, i as u8), &mut bytes).unwrap();
        }
        let whole = decode(&bytes).unwrap();
        assert_eq!(whole.len(), 41);
        let mut d = ChunkDecoder::new(DecoderLimits::default());
        let mut split = Vec::new();
        for b in bytes.iter() {
            d.push(&[*b]);
            while let Some(m) = d.next_message().unwrap() {
                split.push(m);
            }
            assert!(d.buffered_capacity() < 8 * 1024);
        }
        assert_eq!(split, whole);
        assert_eq!(d.bytes_received(), bytes.len() as u64);
    }

    /// A valid stream of random messages, for the fuzz loop.
    fn valid_stream(rng: &mut XorShift) -> Vec<u8> {
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        let mut ts = [0u32; 4];
        for _ in 0..1 + rng.below(6) {
            if rng.below(8) == 0 {
                let size = 1 + rng.below(300) as u32;
                enc.encode(&header(2, 0, 1, 0), &size.to_be_bytes(), &mut out)
                    .unwrap();
                enc.set_chunk_size(size);
            }
            let k = rng.below(4);
            let csid = [3, 6, 64, 500][k];
            ts[k] = if rng.below(10) == 0 {
                rng.next() as u32
            } else {
                ts[k].wrapping_add(rng.below(50) as u32)
            };
            let len = rng.below(600);
            let h = header(csid, ts[k], 8 + rng.below(2) as u8, rng.below(2) as u32);
            enc.encode(&h, &payload(len, rng.next() as u8), &mut out)
                .unwrap();
        }
        out.to_vec()
    }

    #[test]
    fn fuzz_no_panic_bounded_memory() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let limits = DecoderLimits {
            max_chunk_size: 4096,
            max_message_size: 64 * 1024,
            max_chunk_streams: 8,
            max_reassembly_bytes: 128 * 1024,
        };
        let (mut messages, mut errors) = (0usize, 0usize);
        for round in 0..20_000 {
            let mut input = if round % 4 == 0 {
                let n = rng.below(256);
                (0..n).map(|_| rng.next() as u8).collect::<Vec<u8>>()
            } else {
                valid_stream(&mut rng)
            };
            if round % 4 != 1 && !input.is_empty() {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(input.len());
                    match rng.below(4) {
                        0 => input[i] = rng.next() as u8,
                        1 => input[i] ^= 1 << rng.below(8),
                        2 => {
                            input.remove(i);
                        }
                        _ => input.insert(i, rng.next() as u8),
                    }
                    if input.is_empty() {
                        break;
                    }
                }
            }
            let mut d = ChunkDecoder::new(limits);
            let mut pos = 0;
            let mut payload_total = 0usize;
            let mut failed = false;
            while pos < input.len() {
                let n = 1 + rng.below(64);
                let end = input.len().min(pos + n);
                d.push(&input[pos..end]);
                pos = end;
                loop {
                    match d.next_message() {
                        Ok(Some(m)) => {
                            messages += 1;
                            payload_total += m.payload.len();
                            assert!(m.payload.len() <= limits.max_message_size as usize);
                        }
                        Ok(None) => break,
                        Err(_) => {
                            failed = true;
                            break;
                        }
                    }
                }
                assert!(
                    d.buffered_capacity() <= 2 * pos + 256,
                    "round {round}: capacity {} after {pos} bytes",
                    d.buffered_capacity()
                );
            }
            assert!(payload_total <= input.len() + 1, "round {round}");
            assert_eq!(d.bytes_received(), input.len() as u64);
            errors += usize::from(failed);
        }
        eprintln!("fuzz: {messages} messages, {errors} errors");
        assert!(messages > 20_000 && errors > 2_000, "{messages} {errors}");
    }
}
