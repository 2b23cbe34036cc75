//! Chunk stream encoder: messages in, chunk bytes out.
//!
//! # Header compression
//!
//! The first chunk of a message is compressed against the previous message on the same chunk
//! stream: fmt 0 on first use, when the message stream id changed or when the timestamp went
//! backwards; fmt 1 when the length or type changed; fmt 2 when only the timestamp delta changed;
//! fmt 3 when everything, the delta included, is equal. Continuation chunks are fmt 3.
//!
//! Decoders disagree on the delta a fmt 3 new message reuses right after a fmt 0 header (ffmpeg
//! and librtmp reuse the absolute timestamp, nginx-rtmp reuses 0), so this encoder only considers
//! the delta known after a fmt 1/2 header, or after a fmt 0 header at timestamp 0 where all
//! interpretations agree. Otherwise it sends a fmt 2 header instead of fmt 3.
//!
//! Extended timestamps: a header whose timestamp (fmt 0) or delta (fmt 1/2) is >= 0xFFFFFF
//! carries it in a 4-byte extended field, and every fmt 3 chunk that follows on that chunk
//! stream repeats it (continuation chunks and fmt 3 new messages alike).

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};

use super::{ChunkError, MessageHeader, DEFAULT_CHUNK_SIZE};
use crate::types::{ChunkStreamId, MessageType, StreamId, Timestamp};

const TIMESTAMP_EXTENDED: u32 = 0x00FF_FFFF;
/// The largest message length the 24-bit length field can express.
const MAX_PAYLOAD: usize = 0x00FF_FFFF;
/// The largest chunk size RTMP allows (31 bits).
const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;
/// Chunk streams below this id use a fixed table instead of the map (one-byte basic headers).
const TABLE_LEN: usize = 64;

/// The previous header sent on one chunk stream, as the peer's decoder will remember it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Previous {
    timestamp: u32,
    /// The delta every decoder reuses for a fmt 3 new message, when unambiguous.
    delta: Option<u32>,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// Whether the last fmt 0/1/2 header carried an extended timestamp.
    extended: bool,
}

impl Previous {
    fn after_fmt0(timestamp: u32, length: u32, type_id: u8, stream_id: u32) -> Self {
        Previous {
            timestamp,
            delta: (timestamp == 0).then_some(0),
            length,
            type_id,
            stream_id,
            extended: timestamp >= TIMESTAMP_EXTENDED,
        }
    }
}

/// Splits messages into chunks for one connection, compressing headers against the previous
/// message on the same chunk stream.
pub struct ChunkEncoder {
    chunk_size: u32,
    /// Previous headers of chunk streams 2..64 (the common ones), indexed by csid.
    low: [Option<Previous>; TABLE_LEN],
    /// Previous headers of chunk streams 64..=65599.
    high: HashMap<u32, Option<Previous>>,
}

impl ChunkEncoder {
    /// An encoder using the default chunk size of 128.
    pub fn new() -> Self {
        ChunkEncoder {
            chunk_size: DEFAULT_CHUNK_SIZE,
            low: [None; TABLE_LEN],
            high: HashMap::new(),
        }
    }

    /// Changes the chunk size for subsequent messages. The caller must have sent the peer a Set
    /// Chunk Size message (encoded with this encoder before the call).
    ///
    /// `size` is clamped to 1..=2^31-1, the range RTMP allows; callers should only pass sizes
    /// in that range, since the peer rejects others.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = clamp_chunk_size(size);
    }

    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Forgets the previous headers of every chunk stream, so the next message on each starts
    /// with a fmt 0 header.
    pub fn reset_headers(&mut self) {
        self.low = [None; TABLE_LEN];
        self.high.clear();
    }

    /// Appends the chunks of one message to `out`.
    ///
    /// Fails, leaving `out` and the encoder unchanged, if the chunk stream id is outside
    /// 2..=65599 or the payload is longer than 16777215 bytes.
    pub fn encode(
        &mut self,
        header: &MessageHeader,
        payload: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), ChunkError> {
        let csid = check_csid(header.csid)?;
        let length = check_length(csid, payload.len())?;
        let timestamp = header.timestamp.0;
        let type_id = header.type_id.0;
        let stream_id = header.stream_id.0;
        let slot = self.slot(csid);

        // Pick the header format and the value of its timestamp field.
        let (fmt, field, next) = match *slot {
            Some(prev) if prev.stream_id == stream_id && timestamp >= prev.timestamp => {
                let delta = timestamp - prev.timestamp;
                if prev.length != length || prev.type_id != type_id {
                    let next = Previous {
                        timestamp,
                        delta: Some(delta),
                        length,
                        type_id,
                        stream_id,
                        extended: delta >= TIMESTAMP_EXTENDED,
                    };
                    (1u8, delta, next)
                } else if prev.delta != Some(delta) {
                    let next = Previous {
                        timestamp,
                        delta: Some(delta),
                        extended: delta >= TIMESTAMP_EXTENDED,
                        ..prev
                    };
                    (2, delta, next)
                } else {
                    // fmt 3: the extended field (if any) repeats the delta.
                    (3, delta, Previous { timestamp, ..prev })
                }
            }
            _ => (
                0,
                timestamp,
                Previous::after_fmt0(timestamp, length, type_id, stream_id),
            ),
        };
        let extended = next.extended;
        *slot = Some(next);

        let chunk_size = self.chunk_size as usize;
        let basic = basic_header_len(csid);
        let ext_len = if extended { 4 } else { 0 };
        let first_len = basic + [11, 7, 3, 0][fmt as usize] + ext_len;
        let more_chunks = payload.len().saturating_sub(1) / chunk_size;
        out.reserve(first_len + payload.len() + more_chunks * (basic + ext_len));

        put_basic_header(out, fmt, csid);
        if fmt < 3 {
            put_u24(out, field.min(TIMESTAMP_EXTENDED));
        }
        if fmt < 2 {
            put_u24(out, length);
            out.put_u8(type_id);
        }
        if fmt == 0 {
            out.put_u32_le(stream_id);
        }
        if extended {
            out.put_u32(field);
        }
        let mut chunks = payload.chunks(chunk_size);
        if let Some(first) = chunks.next() {
            out.put_slice(first);
        }
        for chunk in chunks {
            put_basic_header(out, 3, csid);
            if extended {
                out.put_u32(field);
            }
            out.put_slice(chunk);
        }
        Ok(())
    }

    /// The whole of a shared message, when it was prebuilt for `stream_id`
    /// ([`SharedChunks::PREBUILT_STREAM`], the stream nearly every player plays on): send those
    /// bytes as they are, one buffer shared by every connection. `Ok(None)` when the message was
    /// not prebuilt for this stream id; use [`encode_shared_header`](Self::encode_shared_header)
    /// and [`SharedChunks::body`] then. Fails like `encode_shared_header`.
    ///
    /// Afterwards this encoder remembers the header, as `encode_shared_header` does.
    pub fn shared_message<'a>(
        &mut self,
        shared: &'a SharedChunks,
        stream_id: StreamId,
    ) -> Result<Option<&'a Bytes>, ChunkError> {
        if stream_id != SharedChunks::PREBUILT_STREAM || shared.message.is_empty() {
            return Ok(None);
        }
        self.remember_shared(shared, stream_id)?;
        Ok(Some(&shared.message))
    }

    /// Checks that `shared` can go on this connection and remembers its fmt 0 header.
    fn remember_shared(
        &mut self,
        shared: &SharedChunks,
        stream_id: StreamId,
    ) -> Result<Previous, ChunkError> {
        let csid = check_csid(shared.csid)?;
        let length = check_length(csid, shared.length)?;
        if shared.chunk_size != self.chunk_size {
            return Err(ChunkError::ChunkSizeMismatch {
                shared: shared.chunk_size,
                encoder: self.chunk_size,
            });
        }
        let next = Previous::after_fmt0(shared.timestamp.0, length, shared.type_id.0, stream_id.0);
        *self.slot(csid) = Some(next);
        Ok(next)
    }

    /// Appends the per-connection part of a shared message (its first chunk header, fmt 0, with
    /// this connection's `stream_id`); the caller then sends `shared.body()` unchanged.
    /// Panics never; `shared` must have been made with this encoder's chunk size, otherwise this
    /// returns [`ChunkError::ChunkSizeMismatch`] and writes nothing. Also fails (writing nothing)
    /// if `shared` was made from an invalid chunk stream id or an over-long payload.
    ///
    /// Afterwards this encoder remembers the header, so later [`encode`](Self::encode) calls on
    /// the same chunk stream compress against it.
    pub fn encode_shared_header(
        &mut self,
        shared: &SharedChunks,
        stream_id: StreamId,
        out: &mut BytesMut,
    ) -> Result<(), ChunkError> {
        let next = self.remember_shared(shared, stream_id)?;
        out.reserve(shared_header_len(shared.csid.0, next.extended));
        put_shared_header(out, shared.csid.0, next);
        Ok(())
    }

    fn slot(&mut self, csid: u32) -> &mut Option<Previous> {
        match self.low.get_mut(csid as usize) {
            Some(slot) => slot,
            None => self.high.entry(csid).or_insert(None),
        }
    }
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

/// A message chunked once for many connections that share one chunk size: everything but the
/// first chunk's header, which differs per connection only by message stream id; and, in the
/// same allocation, that header for [`PREBUILT_STREAM`](Self::PREBUILT_STREAM), so most
/// connections send the whole message as one shared buffer (one I/O slice, no per-connection
/// bytes at all).
#[derive(Debug, Clone)]
pub struct SharedChunks {
    /// The fmt 0 first-chunk header for `PREBUILT_STREAM`, then the body; empty if invalid.
    message: Bytes,
    /// `message` without the header.
    body: Bytes,
    csid: ChunkStreamId,
    timestamp: Timestamp,
    type_id: MessageType,
    length: usize,
    chunk_size: u32,
}

impl SharedChunks {
    /// The message stream id the whole message is prebuilt for: the first stream a client
    /// creates, on which nearly every player plays.
    pub const PREBUILT_STREAM: StreamId = StreamId(1);

    /// Chunks `payload` for connections using `chunk_size` (clamped to 1..=2^31-1 as
    /// [`ChunkEncoder::set_chunk_size`] does). One allocation, of exactly the size of the body
    /// and the prebuilt header.
    ///
    /// This never fails: if `csid` is outside 2..=65599 or `payload` is longer than 16777215
    /// bytes, the body is left empty and [`ChunkEncoder::encode_shared_header`] reports the
    /// error. Use [`try_new`](Self::try_new) to learn it here.
    pub fn new(
        csid: ChunkStreamId,
        timestamp: Timestamp,
        type_id: MessageType,
        payload: &[u8],
        chunk_size: u32,
    ) -> Self {
        let chunk_size = clamp_chunk_size(chunk_size);
        let valid = check_csid(csid)
            .and_then(|id| check_length(id, payload.len()))
            .is_ok();
        let (message, body) = if valid {
            let header = Previous::after_fmt0(
                timestamp.0,
                payload.len() as u32,
                type_id.0,
                Self::PREBUILT_STREAM.0,
            );
            let message = build_message(csid.0, header, payload, chunk_size as usize);
            let body = message.slice(shared_header_len(csid.0, header.extended)..);
            (message, body)
        } else {
            (Bytes::new(), Bytes::new())
        };
        SharedChunks {
            message,
            body,
            csid,
            timestamp,
            type_id,
            length: payload.len(),
            chunk_size,
        }
    }

    /// Like [`new`](Self::new), but reports an invalid chunk stream id or over-long payload.
    pub fn try_new(
        csid: ChunkStreamId,
        timestamp: Timestamp,
        type_id: MessageType,
        payload: &[u8],
        chunk_size: u32,
    ) -> Result<Self, ChunkError> {
        let id = check_csid(csid)?;
        check_length(id, payload.len())?;
        Ok(Self::new(csid, timestamp, type_id, payload, chunk_size))
    }

    /// The bytes to send after the per-connection header.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    pub fn csid(&self) -> ChunkStreamId {
        self.csid
    }

    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    pub fn type_id(&self) -> MessageType {
        self.type_id
    }

    /// The message's payload length.
    pub fn payload_len(&self) -> usize {
        self.length
    }

    /// The chunk size the body was cut for.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }
}

/// The fmt 0 header `header` describes, then `payload` cut into chunks.
fn build_message(csid: u32, header: Previous, payload: &[u8], chunk_size: usize) -> Bytes {
    let timestamp = header.timestamp;
    let extended = header.extended;
    let continuation_len = basic_header_len(csid) + if extended { 4 } else { 0 };
    let more_chunks = payload.len().saturating_sub(1) / chunk_size;
    let mut message = Vec::with_capacity(
        shared_header_len(csid, extended) + payload.len() + more_chunks * continuation_len,
    );
    put_shared_header(&mut message, csid, header);
    let mut chunks = payload.chunks(chunk_size);
    if let Some(first) = chunks.next() {
        message.extend_from_slice(first);
    }
    for chunk in chunks {
        put_basic_header(&mut message, 3, csid);
        if extended {
            message.put_u32(timestamp);
        }
        message.extend_from_slice(chunk);
    }
    debug_assert_eq!(message.len(), message.capacity());
    // len == capacity, so this takes the allocation over without reallocating.
    Bytes::from(message)
}

/// Length of a shared message's first-chunk header (fmt 0).
fn shared_header_len(csid: u32, extended: bool) -> usize {
    basic_header_len(csid) + 11 + if extended { 4 } else { 0 }
}

/// Writes the fmt 0 header of a shared message.
fn put_shared_header(out: &mut impl BufMut, csid: u32, header: Previous) {
    put_basic_header(out, 0, csid);
    put_u24(out, header.timestamp.min(TIMESTAMP_EXTENDED));
    put_u24(out, header.length);
    out.put_u8(header.type_id);
    out.put_u32_le(header.stream_id);
    if header.extended {
        out.put_u32(header.timestamp);
    }
}

fn clamp_chunk_size(size: u32) -> u32 {
    size.clamp(1, MAX_CHUNK_SIZE)
}

fn check_csid(csid: ChunkStreamId) -> Result<u32, ChunkError> {
    if (2..=ChunkStreamId::MAX).contains(&csid.0) {
        Ok(csid.0)
    } else {
        Err(ChunkError::InvalidChunkStreamId { csid: csid.0 })
    }
}

fn check_length(csid: u32, length: usize) -> Result<u32, ChunkError> {
    if length <= MAX_PAYLOAD {
        Ok(length as u32)
    } else {
        Err(ChunkError::PayloadTooLong { csid, length })
    }
}

fn basic_header_len(csid: u32) -> usize {
    match csid {
        0..=63 => 1,
        64..=319 => 2,
        _ => 3,
    }
}

/// Writes a basic header; `csid` must be in 2..=65599.
fn put_basic_header(out: &mut impl BufMut, fmt: u8, csid: u32) {
    let fmt = fmt << 6;
    match csid {
        0..=63 => out.put_u8(fmt | csid as u8),
        64..=319 => {
            out.put_u8(fmt);
            out.put_u8((csid - 64) as u8);
        }
        _ => {
            let id = csid.saturating_sub(64);
            out.put_u8(fmt | 1);
            out.put_u8(id as u8);
            out.put_u8((id >> 8) as u8);
        }
    }
}

fn put_u24(out: &mut impl BufMut, value: u32) {
    out.put_u8((value >> 16) as u8);
    out.put_u8((value >> 8) as u8);
    out.put_u8(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::decoder::tests::{decode, decode_all, header, payload, XorShift};
    use crate::chunk::{ChunkDecoder, DecoderLimits, RawMessage};

    fn set_chunk_size(enc: &mut ChunkEncoder, size: u32, out: &mut BytesMut) {
        enc.encode(&header(2, 0, 1, 0), &size.to_be_bytes(), out)
            .unwrap();
        enc.set_chunk_size(size);
    }

    fn encode_one(enc: &mut ChunkEncoder, h: MessageHeader, p: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        enc.encode(&h, p, &mut out).unwrap();
        out
    }

    #[test]
    fn round_trips() {
        for chunk_size in [1u32, 128, 4096] {
            for len in [0usize, 1, 127, 128, 129, 100_000] {
                for csid in [3u32, 63, 64, 319, 320, 65599] {
                    let mut enc = ChunkEncoder::new();
                    let mut out = BytesMut::new();
                    set_chunk_size(&mut enc, chunk_size, &mut out);
                    let mut expected = Vec::new();
                    for (i, ts) in [0u32, 0, 40, 80, 120, 0x0100_0000, 0x0100_0010]
                        .into_iter()
                        .enumerate()
                    {
                        let h = header(csid, ts, 9, 1);
                        let p = payload(len, i as u8);
                        enc.encode(&h, &p, &mut out).unwrap();
                        expected.push(RawMessage {
                            header: h,
                            payload: Bytes::from(p),
                        });
                    }
                    let msgs = decode(&out).unwrap();
                    assert_eq!(&msgs[1..], &expected[..], "chunk {chunk_size} len {len}");
                }
            }
        }
    }

    #[test]
    fn header_compression() {
        let mut enc = ChunkEncoder::new();
        let fmt = |b: &BytesMut| b[0] >> 6;
        let p = [1u8; 10];
        let steps: [(MessageHeader, &[u8], u8, usize); 9] = [
            (header(6, 1000, 8, 1), &p, 0, 1 + 11 + 10),
            // same length/type, delta 20 (delta after fmt 0 at 1000 is ambiguous): fmt 2
            (header(6, 1020, 8, 1), &p, 2, 1 + 3 + 10),
            // same delta: fmt 3
            (header(6, 1040, 8, 1), &p, 3, 1 + 10),
            (header(6, 1060, 8, 1), &p, 3, 1 + 10),
            // delta changed: fmt 2
            (header(6, 1070, 8, 1), &p, 2, 1 + 3 + 10),
            // length changed: fmt 1
            (header(6, 1080, 8, 1), &p[..5], 1, 1 + 7 + 5),
            // type changed: fmt 1
            (header(6, 1090, 9, 1), &p[..5], 1, 1 + 7 + 5),
            // timestamp backwards: fmt 0
            (header(6, 500, 9, 1), &p[..5], 0, 1 + 11 + 5),
            // stream id changed: fmt 0
            (header(6, 510, 9, 2), &p[..5], 0, 1 + 11 + 5),
        ];
        let mut all = BytesMut::new();
        for (h, body, want_fmt, want_len) in steps {
            let out = encode_one(&mut enc, h, body);
            assert_eq!((fmt(&out), out.len()), (want_fmt, want_len), "{h:?}");
            all.extend_from_slice(&out);
        }
        let msgs = decode(&all).unwrap();
        let headers: Vec<MessageHeader> = msgs.iter().map(|m| m.header).collect();
        let want: Vec<MessageHeader> = steps.iter().map(|s| s.0).collect();
        assert_eq!(headers, want);

        // At timestamp 0 the delta is unambiguous: identical messages go fmt 3.
        let mut enc = ChunkEncoder::new();
        assert_eq!(fmt(&encode_one(&mut enc, header(2, 0, 5, 0), &p)), 0);
        assert_eq!(encode_one(&mut enc, header(2, 0, 5, 0), &p).len(), 11);
    }

    #[test]
    fn extended_timestamps_encode() {
        let mut enc = ChunkEncoder::new();
        let p = payload(300, 9);
        // fmt 0 at 0x01000000, 3 chunks: each fmt 3 chunk repeats the extended timestamp.
        let out = encode_one(&mut enc, header(4, 0x0100_0000, 9, 1), &p);
        assert_eq!(&out[1..4], &[0xFF, 0xFF, 0xFF]);
        assert_eq!(&out[12..16], &[1, 0, 0, 0]);
        assert_eq!(&out[16 + 128..16 + 128 + 5], &[0xC4, 1, 0, 0, 0]);
        assert_eq!(out.len(), 16 + 300 + 2 * 5);
        // fmt 2 with delta 0xFFFFFF (extended), then fmt 3 with the same delta.
        let out2 = encode_one(&mut enc, header(4, 0x01FF_FFFF, 9, 1), &p);
        assert_eq!(&out2[..8], &[0x84, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0xFF]);
        let out3 = encode_one(&mut enc, header(4, 0x02FF_FFFE, 9, 1), &p);
        assert_eq!(&out3[..5], &[0xC4, 0, 0xFF, 0xFF, 0xFF]);
        assert_eq!(out3.len(), 300 + 3 * 5);
        // a small delta afterwards drops the extended field
        let out4 = encode_one(&mut enc, header(4, 0x02FF_FFFF, 9, 1), &p[..1]);
        assert_eq!(&out4[..], &[0x44, 0, 0, 1, 0, 0, 1, 9, p[0]]);

        let mut all = out;
        all.extend_from_slice(&out2);
        all.extend_from_slice(&out3);
        all.extend_from_slice(&out4);
        let ts: Vec<u32> = decode(&all)
            .unwrap()
            .iter()
            .map(|m| m.header.timestamp.0)
            .collect();
        assert_eq!(ts, [0x0100_0000, 0x01FF_FFFF, 0x02FF_FFFE, 0x02FF_FFFF]);
    }

    #[test]
    fn encode_errors_leave_state_unchanged() {
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        assert_eq!(
            enc.encode(&header(1, 0, 9, 1), b"x", &mut out),
            Err(ChunkError::InvalidChunkStreamId { csid: 1 })
        );
        assert_eq!(
            enc.encode(&header(65600, 0, 9, 1), b"x", &mut out),
            Err(ChunkError::InvalidChunkStreamId { csid: 65600 })
        );
        let big = vec![0u8; 0x100_0000];
        assert_eq!(
            enc.encode(&header(6, 0, 9, 1), &big, &mut out),
            Err(ChunkError::PayloadTooLong {
                csid: 6,
                length: 0x100_0000
            })
        );
        assert!(out.is_empty());
        assert!(
            SharedChunks::try_new(ChunkStreamId(6), Timestamp(0), MessageType(9), &big, 128)
                .is_err()
        );
        let shared = SharedChunks::new(ChunkStreamId(6), Timestamp(0), MessageType(9), &big, 128);
        assert!(shared.body().is_empty());
        assert!(enc
            .encode_shared_header(&shared, StreamId(1), &mut out)
            .is_err());
        assert!(out.is_empty());
        // the chunk stream was never used: the next message is fmt 0
        assert_eq!(encode_one(&mut enc, header(6, 5, 9, 1), b"x")[0] >> 6, 0);
        enc.set_chunk_size(0);
        assert_eq!(enc.chunk_size(), 1);
    }

    #[test]
    fn shared_chunks_fan_out() {
        for (chunk_size, len, ts, csid) in [
            (128u32, 1000usize, 40u32, 6u32),
            (4096, 100_000, 0x0100_0000, 7),
            (1, 5, 7, 400),
            (128, 0, 0, 6),
            (128, 128, 1, 6),
        ] {
            let p = payload(len, 11);
            let shared = SharedChunks::new(
                ChunkStreamId(csid),
                Timestamp(ts),
                MessageType::VIDEO,
                &p,
                chunk_size,
            );
            // Exactly the chunked size: payload plus one fmt 3 header per further chunk.
            let chunks = len.div_ceil(chunk_size as usize).max(1);
            let per = basic_header_len(csid) + if ts >= 0xFF_FFFF { 4 } else { 0 };
            assert_eq!(shared.body().len(), len + (chunks - 1) * per);

            for stream_id in [1u32, 2, 77] {
                let mut enc = ChunkEncoder::new();
                let mut out = BytesMut::new();
                set_chunk_size(&mut enc, chunk_size, &mut out);
                // an earlier message on the csid, so the shared header must reset it
                enc.encode(&header(csid, 3, 8, 9), b"abc", &mut out)
                    .unwrap();
                let before = out.len();
                enc.encode_shared_header(&shared, StreamId(stream_id), &mut out)
                    .unwrap();
                assert_eq!(out[before] >> 6, 0);
                out.extend_from_slice(shared.body());
                // a following encode on the same csid compresses against the shared header
                let next = header(csid, ts.wrapping_add(40), 9, stream_id);
                let np = payload(len, 12);
                enc.encode(&next, &np, &mut out).unwrap();
                let after = header(csid, ts.wrapping_add(80), 9, stream_id);
                enc.encode(&after, &np, &mut out).unwrap();

                let msgs = decode(&out).unwrap();
                assert_eq!(msgs.len(), 5);
                assert_eq!(msgs[2].header, header(csid, ts, 9, stream_id));
                assert_eq!(&msgs[2].payload[..], &p[..]);
                assert_eq!(msgs[3].header, next);
                assert_eq!(&msgs[3].payload[..], &np[..]);
                assert_eq!(msgs[4].header, after);
            }

            let mut other = ChunkEncoder::new();
            other.set_chunk_size(chunk_size + 1);
            let mut out = BytesMut::new();
            assert_eq!(
                other.encode_shared_header(&shared, StreamId(1), &mut out),
                Err(ChunkError::ChunkSizeMismatch {
                    shared: chunk_size,
                    encoder: chunk_size + 1
                })
            );
            assert!(out.is_empty());
        }
    }

    #[test]
    fn a_prebuilt_shared_message_equals_header_plus_body() {
        for (chunk_size, len, ts, csid) in [
            (128u32, 1000usize, 40u32, 6u32),
            (4096, 100_000, 0x0100_0000, 7),
            (1, 5, 7, 400),
            (128, 0, 0, 6),
        ] {
            let p = payload(len, 13);
            let shared = SharedChunks::new(
                ChunkStreamId(csid),
                Timestamp(ts),
                MessageType::VIDEO,
                &p,
                chunk_size,
            );
            let mut enc = ChunkEncoder::new();
            enc.set_chunk_size(chunk_size);
            let mut expected = BytesMut::new();
            enc.encode_shared_header(&shared, SharedChunks::PREBUILT_STREAM, &mut expected)
                .unwrap();
            expected.extend_from_slice(shared.body());

            let mut enc = ChunkEncoder::new();
            enc.set_chunk_size(chunk_size);
            assert_eq!(enc.shared_message(&shared, StreamId(2)).unwrap(), None);
            let message = enc
                .shared_message(&shared, SharedChunks::PREBUILT_STREAM)
                .unwrap()
                .unwrap()
                .clone();
            assert_eq!(&message[..], &expected[..]);
            // The encoder remembers the header: the next message on the csid compresses
            // against it and decodes with the right timestamp.
            let mut out = BytesMut::from(&message[..]);
            let next = header(csid, ts.wrapping_add(40), 9, 1);
            enc.encode(&next, b"next", &mut out).unwrap();
            assert_ne!(out[message.len()] >> 6, 0);
            let mut d = ChunkDecoder::new(DecoderLimits::default());
            let mut with_size = BytesMut::new();
            ChunkEncoder::new()
                .encode(
                    &header(2, 0, 1, 0),
                    &chunk_size.to_be_bytes(),
                    &mut with_size,
                )
                .unwrap();
            with_size.extend_from_slice(&out);
            let msgs = decode_all(&mut d, &with_size).unwrap();
            assert_eq!(msgs[1].header, header(csid, ts, 9, 1));
            assert_eq!(&msgs[1].payload[..], &p[..]);
            assert_eq!(msgs[2].header, next);
        }
        // Invalid shared chunks are never prebuilt, and still refused.
        let big = vec![0u8; 0x0100_0000];
        let shared = SharedChunks::new(ChunkStreamId(6), Timestamp(0), MessageType(9), &big, 128);
        let mut enc = ChunkEncoder::new();
        assert_eq!(enc.shared_message(&shared, StreamId(1)).unwrap(), None);
        // A chunk size mismatch is reported, not hidden by the prebuilt bytes.
        let shared = SharedChunks::new(ChunkStreamId(6), Timestamp(0), MessageType(9), b"x", 4096);
        assert!(enc.shared_message(&shared, StreamId(1)).is_err());
    }

    #[test]
    fn random_round_trips_in_random_splits() {
        let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
        for _ in 0..200 {
            let mut enc = ChunkEncoder::new();
            let mut out = BytesMut::new();
            let mut expected = Vec::new();
            let mut ts = [0u32; 3];
            for _ in 0..20 {
                if rng.below(10) == 0 {
                    set_chunk_size(&mut enc, 1 + rng.below(500) as u32, &mut out);
                    expected.push(None);
                }
                let k = rng.below(3);
                ts[k] = match rng.below(6) {
                    0 => rng.next() as u32,
                    1 => ts[k].wrapping_add(0xFF_FFFF + rng.below(3) as u32),
                    _ => ts[k].wrapping_add(rng.below(3) as u32 * 20),
                };
                let h = header(
                    [3, 6, 1000][k],
                    ts[k],
                    8 + rng.below(2) as u8,
                    rng.below(2) as u32,
                );
                let p = payload([0, 1, 10, 10, 700][rng.below(5)], rng.next() as u8);
                enc.encode(&h, &p, &mut out).unwrap();
                expected.push(Some(RawMessage {
                    header: h,
                    payload: Bytes::from(p),
                }));
            }
            let mut d = ChunkDecoder::new(DecoderLimits::default());
            let mut got = Vec::new();
            let mut rest = &out[..];
            while !rest.is_empty() {
                let n = rest.len().min(1 + rng.below(300));
                got.extend(decode_all(&mut d, &rest[..n]).unwrap());
                rest = &rest[n..];
            }
            let got: Vec<RawMessage> = got
                .into_iter()
                .filter(|m| m.header.type_id != MessageType::SET_CHUNK_SIZE)
                .collect();
            let expected: Vec<RawMessage> = expected.into_iter().flatten().collect();
            assert_eq!(got, expected);
        }
    }
}
