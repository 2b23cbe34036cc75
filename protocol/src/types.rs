//! Newtypes that carry the protocol's meaning instead of bare integers.

use std::fmt;

/// A chunk stream id (RTMP spec 5.3.1.1): 2..=65599; 2 is reserved for protocol control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkStreamId(pub u32);

impl ChunkStreamId {
    /// Protocol control messages and user control events.
    pub const CONTROL: ChunkStreamId = ChunkStreamId(2);
    /// NetConnection commands (connect, createStream, ...).
    pub const COMMAND: ChunkStreamId = ChunkStreamId(3);
    /// NetStream commands and data messages (onStatus, onMetaData, ...).
    pub const STREAM_COMMAND: ChunkStreamId = ChunkStreamId(5);
    /// Audio messages.
    pub const AUDIO: ChunkStreamId = ChunkStreamId(6);
    /// Video messages.
    pub const VIDEO: ChunkStreamId = ChunkStreamId(7);
    /// The largest id the three-byte basic header can express.
    pub const MAX: u32 = 65599;
}

/// A message stream id: 0 for the NetConnection, ids from createStream for NetStreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamId(pub u32);

impl StreamId {
    /// The NetConnection's own message stream.
    pub const CONTROL: StreamId = StreamId(0);
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An RTMP timestamp in milliseconds. RTMP timestamps are 32-bit and wrap around, so all
/// arithmetic on them is modular.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(pub u32);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);

    /// `self + delta`, wrapping as RTMP timestamps do.
    pub fn wrapping_add(self, delta: u32) -> Timestamp {
        Timestamp(self.0.wrapping_add(delta))
    }

    /// `self - earlier`, wrapping as RTMP timestamps do.
    pub fn wrapping_sub(self, earlier: Timestamp) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// RTMP message type ids (RTMP spec 5.4, 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageType(pub u8);

impl MessageType {
    pub const SET_CHUNK_SIZE: MessageType = MessageType(1);
    pub const ABORT: MessageType = MessageType(2);
    pub const ACKNOWLEDGEMENT: MessageType = MessageType(3);
    pub const USER_CONTROL: MessageType = MessageType(4);
    pub const WINDOW_ACK_SIZE: MessageType = MessageType(5);
    pub const SET_PEER_BANDWIDTH: MessageType = MessageType(6);
    pub const AUDIO: MessageType = MessageType(8);
    pub const VIDEO: MessageType = MessageType(9);
    pub const DATA_AMF3: MessageType = MessageType(15);
    pub const SHARED_OBJECT_AMF3: MessageType = MessageType(16);
    pub const COMMAND_AMF3: MessageType = MessageType(17);
    pub const DATA_AMF0: MessageType = MessageType(18);
    pub const SHARED_OBJECT_AMF0: MessageType = MessageType(19);
    pub const COMMAND_AMF0: MessageType = MessageType(20);
    pub const AGGREGATE: MessageType = MessageType(22);
}

/// Audio or video: the two kinds of media message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
}
