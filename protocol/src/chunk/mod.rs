//! The RTMP chunk stream (RTMP spec section 5.3): messages split into chunks on interleaved
//! chunk streams, with header compression.
//!
//! Interpretation choices (details in the decoder and encoder sources):
//! - A fmt 3 header that starts a new message adds the previous delta to the previous timestamp;
//!   right after a fmt 0 header that delta is the fmt 0 absolute timestamp (ffmpeg/librtmp).
//!   [`ChunkEncoder`] never emits fmt 3 where decoders disagree on this.
//! - fmt 3 chunks carry an extended timestamp iff the chunk stream's last fmt 0/1/2 header did.
//! - A fmt 0/1/2 header on a chunk stream with a partial message discards the partial message
//!   and starts a new one.
//! - The decoder buffers only bytes that arrived; announced lengths are never reserved.

mod decoder;
mod encoder;

pub use decoder::{ChunkDecoder, ChunkError, DecoderLimits};
pub use encoder::{ChunkEncoder, SharedChunks};

use bytes::Bytes;

use crate::types::{ChunkStreamId, MessageType, StreamId, Timestamp};

/// The header fields every RTMP message has, once chunk header compression is undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    pub csid: ChunkStreamId,
    pub timestamp: Timestamp,
    pub type_id: MessageType,
    pub stream_id: StreamId,
}

/// A whole message as reassembled from its chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    pub header: MessageHeader,
    pub payload: Bytes,
}

/// Chunk size of a fresh connection (RTMP spec 5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
