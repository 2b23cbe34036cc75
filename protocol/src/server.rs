//! The server side of an RTMP connection, as a state machine.
//!
//! Run loop, the same in the gateway's tokio task and in tests:
//! 1. [`ServerSession::handle_input`] with the bytes that arrived;
//! 2. [`ServerSession::poll_event`] until `None`, answering requests with the `accept_*`,
//!    `reject_*`, `send_*` and `begin_*` methods;
//! 3. [`ServerSession::drain_output`] and write the segments, in order.
//!
//! The session knows the protocol (what a command means, which messages a reply consists of,
//! in FMS's order); the gateway decides (which apps exist, which names are published).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::amf::{DecodeLimits, Value};
use crate::chunk::{ChunkError, DecoderLimits, SharedChunks};
use crate::command::CommandName;
use crate::enhanced::{self, EnhancedCaps};
use crate::handshake::Handshake;
use crate::link::{Link, LinkError};
use crate::message::{BandwidthLimit, Command, Envelope, Message, UserControl};
use crate::shared_object::{SharedObjectMessage, SoEncoding, SoEvent};
use crate::status::{Info, Status};
use crate::types::{ChunkStreamId, MediaKind, MessageType, StreamId, Timestamp};

/// Settings of a server session.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub chunk_limits: DecoderLimits,
    pub amf_limits: DecodeLimits,
    /// Outgoing chunk size, announced right after the handshake. Every connection of a gateway
    /// must use the same one so media can be chunked once for all subscribers.
    pub chunk_size: u32,
    pub window_ack_size: u32,
    pub peer_bandwidth: u32,
    /// `fmsVer` in the connect reply; many clients check that it starts with "FMS/".
    pub fms_version: String,
    /// Most NetStreams one connection may have at once (deleteStream gives one back); a
    /// createStream past it is answered `_error` NetConnection.Call.Failed and the connection
    /// goes on.
    pub max_streams: usize,
    /// Longest stream name, in bytes, that publish, play, play2, getStreamLength,
    /// releaseStream and the FC calls accept (see [`StreamNameError`] for the answers).
    pub max_stream_name_bytes: usize,
    /// Most bytes of output that may wait to be drained. Past it the session stops: input
    /// being read fails with [`LinkError::OutputTooLarge`], and [`ServerSession::poll_event`]
    /// hands out no more events and closes the session (see [`ServerSession::close_reason`]).
    /// It is checked after each incoming message and before each event, i.e. each time the
    /// peer's requests could add to the output; what the application sends on its own
    /// between drains (media) is not refused.
    pub max_queued_output_bytes: usize,
    /// Most calls to the client ([`ServerSession::call_client`]) awaiting an answer at once.
    pub max_client_calls: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            chunk_limits: DecoderLimits::default(),
            amf_limits: DecodeLimits::default(),
            chunk_size: 4096,
            window_ack_size: 2_500_000,
            peer_bandwidth: 2_500_000,
            fms_version: "FMS/3,5,7,7009".into(),
            max_streams: 16,
            max_stream_name_bytes: 1024,
            max_queued_output_bytes: 64 << 20,
            max_client_calls: 64,
        }
    }
}

/// A data message (onMetaData, onCuePoint, a NetStream.send handler) encoded and chunked
/// once for every connection it goes to, as [`SharedChunks`] are for media.
///
/// Connections differ in the envelope: AMF0 data (type 18) for most, the AMF3 envelope
/// (type 15, a 0 format byte before the same AMF0 values) for objectEncoding-3 ones, exactly
/// as [`ServerSession::send_data`] encodes for each. Each form is made the first time a
/// connection needs it, and then shared.
#[derive(Debug)]
pub struct SharedData {
    timestamp: Timestamp,
    values: Arc<Vec<Value>>,
    chunk_size: u32,
    amf0: OnceLock<SharedChunks>,
    amf3: OnceLock<SharedChunks>,
}

impl SharedData {
    /// `values` at `timestamp`, for connections whose outgoing chunk size is `chunk_size`
    /// ([`ServerSession::chunk_size`]).
    pub fn new(timestamp: Timestamp, values: Arc<Vec<Value>>, chunk_size: u32) -> Self {
        SharedData {
            timestamp,
            values,
            chunk_size,
            amf0: OnceLock::new(),
            amf3: OnceLock::new(),
        }
    }

    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    pub fn values(&self) -> &Arc<Vec<Value>> {
        &self.values
    }

    /// The chunk size the shared forms are cut for.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The length of the AMF0 payload (the AMF3 envelope adds a byte), encoding it now if no
    /// connection needed it yet.
    pub fn payload_len(&self) -> usize {
        self.chunks(false).payload_len()
    }

    /// The form for a connection that does (or does not) use the AMF3 envelope, made now if
    /// no connection needed it before.
    fn chunks(&self, amf3_envelope: bool) -> &SharedChunks {
        let form = if amf3_envelope {
            &self.amf3
        } else {
            &self.amf0
        };
        form.get_or_init(|| {
            let message = Message::Data(Vec::new());
            let mut payload = Vec::new();
            crate::message::encode_data(&self.values, amf3_envelope, &mut payload);
            SharedChunks::new(
                ChunkStreamId::STREAM_COMMAND,
                self.timestamp,
                message.type_id(amf3_envelope),
                &payload,
                self.chunk_size,
            )
        })
    }
}

/// Why the session refused a stream name before the application saw it.
///
/// A name longer than [`ServerConfig::max_stream_name_bytes`] is answered where it arrives,
/// never echoed back, and never reaches the application, so no registry key, playlist entry,
/// file name or status description can be made of it:
/// - `publish`: NetStream.Publish.BadName, the answer FMS gives a name it will not publish.
/// - `play`, `play2`: NetStream.Play.StreamNotFound. No publisher can have used the name
///   (publish refuses it) and no file in a media folder has it, so it names nothing, and
///   FMS answers a name that names nothing with StreamNotFound (Play.Failed is for a stream
///   that exists but cannot be played).
/// - `getStreamLength`, `releaseStream`, `FCPublish`, `FCUnpublish`, `FCSubscribe`,
///   `FCUnsubscribe`: `_error` NetConnection.Call.Failed. getStreamLength's usual answer for
///   an unknown name, 0, also means "live", which would be a lie.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamNameError {
    #[error("the stream name is {len} bytes long; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
}

/// A client's `connect` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRequest {
    /// Application name, without instance or query: "live" for `rtmp://host/live/inst?x=1`.
    pub app: String,
    /// Application instance, if the app path had a second part.
    pub instance: Option<String>,
    /// The query string (after `?`) of the app or tcUrl, without the `?`.
    pub query: Option<String>,
    pub tc_url: String,
    pub object_encoding: f64,
    /// The whole command object, for anything else the application wants to read.
    pub command_object: Value,
    /// Extra arguments passed to `NetConnection.connect()`.
    pub args: Vec<Value>,
    /// What the client announced about Enhanced RTMP; `None` for a legacy client.
    pub enhanced: Option<EnhancedCaps>,
}

/// How a publisher wants its stream treated (`NetStream.publish(name, type)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishMode {
    Live,
    Record,
    Append,
    AppendWithGap,
}

impl PublishMode {
    fn parse(value: Option<&Value>) -> PublishMode {
        match value.and_then(Value::as_str) {
            Some("record") => PublishMode::Record,
            Some("append") => PublishMode::Append,
            Some("appendWithGap") => PublishMode::AppendWithGap,
            _ => PublishMode::Live,
        }
    }
}

/// `NetStream.play(name, start, len, reset)` with Flash's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayRequest {
    pub name: String,
    /// -2: live or recorded; -1: live only; >= 0: recorded from this many seconds.
    pub start: f64,
    /// -1: to the end; 0: a single frame; > 0: that many seconds.
    pub len: f64,
    /// Flush the playlist (true) or queue after the current item (false).
    pub reset: bool,
}

/// What a client asks of a remote shared object ([`crate::shared_object`] has the wire
/// format). The session only reads; the application keeps the objects and answers with
/// [`ServerSession::send_shared_object`].
#[derive(Debug, Clone, PartialEq)]
pub enum SharedObjectRequest {
    /// Subscribe (`SharedObject.connect`): answer use success, clear when the client's copy is
    /// stale, then every slot as change.
    Use,
    /// Unsubscribe (`SharedObject.close`).
    Release,
    /// `setProperty(slot, value)`. A null or undefined value deletes the slot, as AS3's
    /// `delete so.data[slot]` does.
    Change { slot: String, value: Value },
    /// Request remove (sent by some clients instead of a change to undefined).
    Remove { slot: String },
    /// `SharedObject.send(handler, ...args)`: a call on every subscriber's `so.client`.
    Send { handler: String, args: Vec<Value> },
}

/// What the session needs the application to know or decide.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// Answer with [`ServerSession::accept_connect`] or [`ServerSession::reject_connect`].
    ConnectRequested(ConnectRequest),
    /// Answer with [`ServerSession::begin_publish`] or a status such as Publish.BadName.
    PublishRequested {
        stream_id: StreamId,
        name: String,
        mode: PublishMode,
    },
    PlayRequested {
        stream_id: StreamId,
        request: PlayRequest,
    },
    /// `play2(NetStreamPlayOptions)`: the options object as sent.
    Play2Requested {
        stream_id: StreamId,
        options: Value,
    },
    PauseRequested {
        stream_id: StreamId,
        pause: bool,
        position_ms: f64,
    },
    SeekRequested {
        stream_id: StreamId,
        position_ms: f64,
    },
    ReceiveAudio {
        stream_id: StreamId,
        enabled: bool,
    },
    ReceiveVideo {
        stream_id: StreamId,
        enabled: bool,
    },
    /// The stream stopped playing or publishing (closeStream, deleteStream or FCUnpublish).
    StreamClosed {
        stream_id: StreamId,
    },
    /// Audio or video from a publisher.
    Media {
        stream_id: StreamId,
        timestamp: Timestamp,
        kind: MediaKind,
        payload: Bytes,
    },
    /// A data message from a publisher, `@setDataFrame` already removed: `["onMetaData", {...}]`,
    /// `["onCuePoint", ...]`, or a `NetStream.send()` handler and its arguments.
    Data {
        stream_id: StreamId,
        timestamp: Timestamp,
        values: Vec<Value>,
    },
    /// `getStreamLength(name)`: answer with [`ServerSession::answer_stream_length`].
    StreamLengthRequested {
        transaction_id: f64,
        name: String,
    },
    /// A shared object message: the object's name, the version the client's copy has, the
    /// persistence it asks for, and its requests in order (one batch: all of them make one
    /// new version).
    SharedObject {
        name: String,
        version: u32,
        persistent: bool,
        requests: Vec<SharedObjectRequest>,
    },
    /// `NetConnection.call(method, responder, ...args)` for a method the session does not
    /// know itself. With a non-zero `transaction_id` the client waits for
    /// [`ServerSession::answer_call`], [`ServerSession::answer_call_error`] or
    /// [`ServerSession::fail_call`]; 0 means no responder, no answer.
    Call {
        transaction_id: f64,
        method: String,
        command_object: Value,
        args: Vec<Value>,
    },
    /// The client's `_result` (`ok`) or `_error` to [`ServerSession::call_client`]: the
    /// handler's return value, or the error's info object, in `args`.
    ClientAnswered {
        transaction_id: f64,
        ok: bool,
        args: Vec<Value>,
    },
    /// A message the session ignored and why, for the application's logs.
    Ignored {
        reason: IgnoreReason,
    },
}

/// Why the session ignored a message. Kept as data and put into words only when displayed,
/// so a client sending floods of messages the session drops costs no formatting unless the
/// application logs them; and no payload is ever printed.
#[derive(Debug, Clone, PartialEq)]
pub enum IgnoreReason {
    /// A message of a type the session does not act on.
    Message {
        stream_id: StreamId,
        type_id: MessageType,
    },
    MediaOnUnknownStream {
        stream_id: StreamId,
        kind: MediaKind,
    },
    DataOnUnknownStream {
        stream_id: StreamId,
    },
    DataWithoutHandler {
        stream_id: StreamId,
    },
    BeforeConnect {
        command: CommandName,
    },
    CommandOnUnknownStream {
        command: CommandName,
        stream_id: StreamId,
    },
    CloseUnknownStream {
        stream_id: Option<StreamId>,
    },
    SecondConnect,
    /// `_result` or `_error` for a transaction no call to the client awaits.
    UnawaitedAnswer {
        command: CommandName,
        transaction_id: f64,
    },
    /// Events of a shared object message that only a server sends, from the client.
    ServerSharedObjectEvents {
        count: usize,
        name: String,
    },
    /// A command refused for its stream name (and answered with an error).
    Refused {
        command: CommandName,
        why: StreamNameError,
    },
}

impl std::fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IgnoreReason::Message { stream_id, type_id } => {
                write!(f, "message of type {} on stream {stream_id}", type_id.0)
            }
            IgnoreReason::MediaOnUnknownStream { stream_id, kind } => {
                write!(f, "{kind:?} on stream {stream_id}, which was not created")
            }
            IgnoreReason::DataOnUnknownStream { stream_id } => {
                write!(f, "data on stream {stream_id}, which was not created")
            }
            IgnoreReason::DataWithoutHandler { stream_id } => {
                write!(
                    f,
                    "data message without a handler name on stream {stream_id}"
                )
            }
            IgnoreReason::BeforeConnect { command } => {
                write!(f, "{command} before connect was accepted")
            }
            IgnoreReason::CommandOnUnknownStream { command, stream_id } => {
                write!(f, "{command} on stream {stream_id}, which was not created")
            }
            IgnoreReason::CloseUnknownStream { stream_id } => {
                write!(f, "closeStream for unknown stream {stream_id:?}")
            }
            IgnoreReason::SecondConnect => f.write_str("a second connect on one connection"),
            IgnoreReason::Refused { command, why } => write!(f, "{command} refused: {why}"),
            IgnoreReason::UnawaitedAnswer {
                command,
                transaction_id,
            } => write!(
                f,
                "{command} for transaction {transaction_id}, which no call awaits"
            ),
            IgnoreReason::ServerSharedObjectEvents { count, name } => write!(
                f,
                "{count} server-to-client events in shared object {name:?} from the client"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    AwaitingConnect,
    ConnectPending,
    Connected,
    /// Rejected or closed: nothing more is read.
    Closing,
}

/// One server-side RTMP connection (see the module docs for the run loop).
pub struct ServerSession {
    config: ServerConfig,
    handshake: Handshake,
    link: Link,
    phase: Phase,
    events: VecDeque<ServerEvent>,
    connect_transaction: f64,
    object_encoding: f64,
    /// The client's Enhanced RTMP announcement in `connect`; `None` for a legacy client.
    enhanced: Option<EnhancedCaps>,
    /// Streams created with createStream; ids are never reused on one connection.
    streams: BTreeMap<StreamId, ()>,
    next_stream_id: u32,
    /// Why the session closed itself, when it did.
    close_reason: Option<String>,
    /// Calls made on the client and not answered yet, by transaction id.
    client_calls: HashSet<u64>,
    next_client_call: u64,
}

impl ServerSession {
    pub fn new(config: ServerConfig) -> Self {
        let link = Link::new(config.chunk_limits, config.amf_limits);
        ServerSession {
            config,
            handshake: Handshake::server(),
            link,
            phase: Phase::Handshake,
            events: VecDeque::new(),
            connect_transaction: 1.0,
            object_encoding: 0.0,
            enhanced: None,
            streams: BTreeMap::new(),
            next_stream_id: 1,
            close_reason: None,
            client_calls: HashSet::new(),
            next_client_call: 1,
        }
    }

    /// Feeds bytes from the client. An error means the connection must be closed (after
    /// draining output).
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        match self.phase {
            Phase::Handshake => {
                if !self.link.handshake_input(&mut self.handshake, bytes)? {
                    return Ok(());
                }
                self.phase = Phase::AwaitingConnect;
            }
            Phase::Closing => return Ok(()),
            _ => self.link.push_input(bytes),
        }
        while let Some(envelope) = self.link.next_message()? {
            self.handle_message(envelope);
            if self.phase == Phase::Closing {
                break;
            }
            self.check_output()?;
        }
        Ok(())
    }

    /// The next event. `None` also once the output is over
    /// [`ServerConfig::max_queued_output_bytes`]: the session then closes (flush what is
    /// queued, then close the connection), and [`ServerSession::close_reason`] says why.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        if self.phase != Phase::Closing {
            if let Err(e) = self.check_output() {
                self.phase = Phase::Closing;
                self.events.clear();
                self.close_reason = Some(e.to_string());
                return None;
            }
        }
        self.events.pop_front()
    }

    /// Why the session closed itself (its output over budget), if it did.
    pub fn close_reason(&self) -> Option<&str> {
        self.close_reason.as_deref()
    }

    fn check_output(&self) -> Result<(), LinkError> {
        let queued = self.link.queued_bytes();
        let max = self.config.max_queued_output_bytes;
        if queued > max {
            return Err(LinkError::OutputTooLarge { queued, max });
        }
        Ok(())
    }

    /// Moves the bytes to send, in order, to `into`.
    pub fn drain_output(&mut self, into: &mut Vec<Bytes>) {
        self.link.drain_output(into);
    }

    /// Bytes queued and not yet drained.
    pub fn queued_bytes(&self) -> usize {
        self.link.queued_bytes()
    }

    /// True once the connection was rejected: flush the output, then close.
    pub fn is_closing(&self) -> bool {
        self.phase == Phase::Closing
    }

    /// The outgoing chunk size media must be chunked with for this connection.
    pub fn chunk_size(&self) -> u32 {
        self.link.chunk_size()
    }

    /// Accepts the pending connect: Window Ack Size, Set Peer Bandwidth, StreamBegin(0), Set
    /// Chunk Size, then `_result` shaped like FMS's.
    pub fn accept_connect(&mut self, client_id: &str) {
        if self.phase != Phase::ConnectPending {
            return;
        }
        self.phase = Phase::Connected;
        self.send_control(Message::WindowAckSize(self.config.window_ack_size));
        self.send_control(Message::SetPeerBandwidth {
            size: self.config.peer_bandwidth,
            limit: BandwidthLimit::Dynamic,
        });
        self.send_control(Message::UserControl(UserControl::StreamBegin(
            StreamId::CONTROL,
        )));
        self.link.set_chunk_size(self.config.chunk_size);
        let version = self
            .config
            .fms_version
            .trim_start_matches("FMS/")
            .to_owned();
        let mut properties = vec![
            ("fmsVer", Value::from(self.config.fms_version.as_str())),
            ("capabilities", Value::Number(31.0)),
            ("mode", Value::Number(1.0)),
        ];
        if self.enhanced.is_some() {
            // An enhanced client hears what the server forwards; a legacy one nothing new.
            properties.extend(enhanced::forwarding_reply());
        }
        let properties = Value::object(properties);
        let info = Info::new(
            Status::NetConnectionConnectSuccess,
            Status::NetConnectionConnectSuccess.template(),
        )
        .field("objectEncoding", self.object_encoding)
        .field(
            "data",
            Value::EcmaArray(vec![("version".into(), version.into())]),
        )
        .field("clientid", client_id)
        .into_value();
        self.send_command(
            StreamId::CONTROL,
            CommandName::Result.as_str(),
            self.connect_transaction,
            properties,
            vec![info],
        );
    }

    /// What the client announced about Enhanced RTMP in `connect`; `None` for a legacy client,
    /// which must only be sent legacy FLV tags.
    pub fn enhanced_caps(&self) -> Option<&EnhancedCaps> {
        self.enhanced.as_ref()
    }

    /// Asks the client to reconnect (NetConnection.Connect.ReconnectRequest, Enhanced RTMP), to
    /// `tc_url` if given, else to the URL it used. The connection carries on until the client
    /// leaves or the server closes it.
    pub fn send_reconnect_request(&mut self, tc_url: Option<&str>, description: &str) {
        let mut info = Info::new(Status::NetConnectionConnectReconnectRequest, description);
        if let Some(url) = tc_url {
            info = info.field("tcUrl", url);
        }
        self.send_status(StreamId::CONTROL, info);
    }

    /// Rejects the pending connect with NetConnection.Connect.Rejected; the connection is to be
    /// closed once the output is flushed.
    pub fn reject_connect(&mut self, description: &str) {
        let info = Info::new(Status::NetConnectionConnectRejected, description);
        self.reply_error(StreamId::CONTROL, self.connect_transaction, info);
        self.phase = Phase::Closing;
    }

    /// Starts a publish: StreamBegin, NetStream.Publish.Start.
    pub fn begin_publish(&mut self, stream_id: StreamId, name: &str) {
        self.send_control(Message::UserControl(UserControl::StreamBegin(stream_id)));
        self.send_status(stream_id, Status::NetStreamPublishStart.info(name));
    }

    /// Starts (or restarts) playback on `stream_id`: for recorded items StreamIsRecorded first,
    /// then StreamBegin, Play.Reset (when `reset`), Play.Start, `|RtmpSampleAccess`, and the
    /// Data.Start data message, as FMS does.
    pub fn begin_play(&mut self, stream_id: StreamId, name: &str, reset: bool, recorded: bool) {
        if recorded {
            self.send_control(Message::UserControl(UserControl::StreamIsRecorded(
                stream_id,
            )));
        }
        self.send_control(Message::UserControl(UserControl::StreamBegin(stream_id)));
        if reset {
            self.send_status(stream_id, Status::NetStreamPlayReset.info(name));
        }
        self.send_status(stream_id, Status::NetStreamPlayStart.info(name));
        self.send_sample_access(stream_id);
    }

    /// `|RtmpSampleAccess` (lets Flash read pixels and samples) and the Data.Start data message.
    pub fn send_sample_access(&mut self, stream_id: StreamId) {
        self.send_data(
            stream_id,
            Timestamp::ZERO,
            vec!["|RtmpSampleAccess".into(), true.into(), true.into()],
        );
        self.send_data(
            stream_id,
            Timestamp::ZERO,
            vec![
                CommandName::OnStatus.as_str().into(),
                Value::object([("code", Value::from(Status::NetStreamDataStart.code()))]),
            ],
        );
    }

    /// An `onStatus` command on a stream.
    pub fn send_status(&mut self, stream_id: StreamId, info: Info) {
        self.send_command(
            stream_id,
            CommandName::OnStatus.as_str(),
            0.0,
            Value::Null,
            vec![info.into_value()],
        );
    }

    /// An `onPlayStatus` data message on a stream (Play.Complete, Play.Switch,
    /// Play.TransitionComplete).
    pub fn send_play_status(&mut self, stream_id: StreamId, timestamp: Timestamp, info: Info) {
        self.send_data(
            stream_id,
            timestamp,
            vec!["onPlayStatus".into(), info.into_value()],
        );
    }

    /// A data message (onMetaData, onCuePoint, ...).
    pub fn send_data(&mut self, stream_id: StreamId, timestamp: Timestamp, values: Vec<Value>) {
        self.link.send(stream_id, timestamp, &Message::Data(values));
    }

    /// A data message encoded once for many connections, in this connection's envelope. It
    /// goes out exactly as [`ServerSession::send_data`] would send it; on the control stream,
    /// or made for another chunk size, it is encoded for this connection alone.
    pub fn send_shared_data(
        &mut self,
        stream_id: StreamId,
        data: &SharedData,
    ) -> Result<(), ChunkError> {
        if stream_id == StreamId::CONTROL || data.chunk_size != self.link.chunk_size() {
            self.send_data(stream_id, data.timestamp, data.values.to_vec());
            return Ok(());
        }
        let chunks = data.chunks(self.link.amf3_envelope);
        self.link.send_shared(stream_id, chunks)
    }

    /// A user control event (StreamEOF, StreamDry, ...).
    pub fn send_user_control(&mut self, event: UserControl) {
        self.send_control(Message::UserControl(event));
    }

    /// A media message chunked once for all subscribers ([`SharedChunks`] made with
    /// [`ServerSession::chunk_size`]).
    pub fn send_media(
        &mut self,
        stream_id: StreamId,
        shared: &SharedChunks,
    ) -> Result<(), ChunkError> {
        self.link.send_shared(stream_id, shared)
    }

    /// The message type shared object messages take to this client: 16 for objectEncoding 3,
    /// else 19.
    pub fn shared_object_encoding(&self) -> SoEncoding {
        if self.link.amf3_envelope {
            SoEncoding::Amf3
        } else {
            SoEncoding::Amf0
        }
    }

    /// A shared object message, encoded for this connection alone (on stream 0).
    pub fn send_shared_object(&mut self, message: &SharedObjectMessage) {
        let payload = message.encode(self.shared_object_encoding());
        self.link.send_payload(
            StreamId::CONTROL,
            Timestamp::ZERO,
            crate::types::ChunkStreamId::COMMAND,
            self.shared_object_encoding().type_id(),
            &payload,
        );
    }

    /// A shared object message encoded and chunked once for many connections: build it with
    /// [`SharedObjectMessage::shared_chunks`] for this connection's
    /// [`shared_object_encoding`](Self::shared_object_encoding) and
    /// [`chunk_size`](Self::chunk_size).
    pub fn send_shared_chunks(&mut self, shared: &SharedChunks) -> Result<(), ChunkError> {
        self.link.send_shared(StreamId::CONTROL, shared)
    }

    /// Answers a [`ServerEvent::Call`] with `_result` and the method's return value.
    pub fn answer_call(&mut self, transaction_id: f64, value: Value) {
        self.reply_result(transaction_id, vec![value]);
    }

    /// Answers a [`ServerEvent::Call`] with `_error` and an info object (`{level, code,
    /// description, ...}`).
    pub fn answer_call_error(&mut self, transaction_id: f64, info: Value) {
        self.send_command(
            StreamId::CONTROL,
            CommandName::Error.as_str(),
            transaction_id,
            Value::Null,
            vec![info],
        );
    }

    /// Calls `method` on the client (its NetConnection's `client` object) and returns the
    /// transaction id its `_result` or `_error` will carry
    /// ([`ServerEvent::ClientAnswered`]); `None` when
    /// [`ServerConfig::max_client_calls`] calls already wait.
    pub fn call_client(&mut self, method: &str, args: Vec<Value>) -> Option<f64> {
        if self.phase != Phase::Connected || self.client_calls.len() >= self.config.max_client_calls
        {
            return None;
        }
        let id = self.next_client_call;
        self.next_client_call += 1;
        self.client_calls.insert(id);
        let transaction_id = id as f64;
        self.send_command(StreamId::CONTROL, method, transaction_id, Value::Null, args);
        Some(transaction_id)
    }

    /// Stops waiting for the answer to a [`call_client`](Self::call_client) (it timed out);
    /// a late answer is then ignored.
    pub fn forget_client_call(&mut self, transaction_id: f64) {
        self.client_calls.remove(&(transaction_id as u64));
    }

    /// Any message, encoded for this connection alone.
    pub fn send_message(&mut self, stream_id: StreamId, timestamp: Timestamp, message: &Message) {
        self.link.send(stream_id, timestamp, message);
    }

    fn send_control(&mut self, message: Message) {
        self.link.send(StreamId::CONTROL, Timestamp::ZERO, &message);
    }

    fn send_command(
        &mut self,
        stream_id: StreamId,
        name: &str,
        transaction_id: f64,
        command_object: Value,
        args: Vec<Value>,
    ) {
        let command = Command {
            name: name.into(),
            transaction_id,
            command_object,
            args,
        };
        self.link
            .send(stream_id, Timestamp::ZERO, &Message::Command(command));
    }

    fn ignore(&mut self, reason: IgnoreReason) {
        self.events.push_back(ServerEvent::Ignored { reason });
    }

    fn handle_message(&mut self, envelope: Envelope) {
        let Envelope {
            stream_id,
            timestamp,
            message,
        } = envelope;
        match message {
            Message::Command(command) => self.handle_command(stream_id, command),
            Message::Audio(payload) => self.media(stream_id, timestamp, MediaKind::Audio, payload),
            Message::Video(payload) => self.media(stream_id, timestamp, MediaKind::Video, payload),
            Message::Data(values) => self.data(stream_id, timestamp, values),
            Message::SharedObject(message) if self.phase == Phase::Connected => {
                self.shared_object(message)
            }
            Message::UserControl(
                UserControl::SetBufferLength { .. } | UserControl::PingResponse(_),
            ) => {}
            other => self.ignore(IgnoreReason::Message {
                stream_id,
                type_id: other.type_id(self.link.amf3_envelope),
            }),
        }
    }

    fn media(
        &mut self,
        stream_id: StreamId,
        timestamp: Timestamp,
        kind: MediaKind,
        payload: Bytes,
    ) {
        if self.streams.contains_key(&stream_id) {
            self.events.push_back(ServerEvent::Media {
                stream_id,
                timestamp,
                kind,
                payload,
            });
        } else {
            self.ignore(IgnoreReason::MediaOnUnknownStream { stream_id, kind });
        }
    }

    fn data(&mut self, stream_id: StreamId, timestamp: Timestamp, mut values: Vec<Value>) {
        if !self.streams.contains_key(&stream_id) {
            return self.ignore(IgnoreReason::DataOnUnknownStream { stream_id });
        }
        // Encoders wrap metadata as ["@setDataFrame", "onMetaData", {...}]: the gateway keeps
        // and forwards the inner message. A bare "@setDataFrame" (an rml_rtmp crash) is dropped.
        if values.first().and_then(Value::as_str) == Some("@setDataFrame") {
            values.remove(0);
        }
        match values.first() {
            Some(Value::String(_)) => self.events.push_back(ServerEvent::Data {
                stream_id,
                timestamp,
                values,
            }),
            _ => self.ignore(IgnoreReason::DataWithoutHandler { stream_id }),
        }
    }

    fn handle_command(&mut self, message_stream: StreamId, command: Command) {
        let Command {
            name,
            transaction_id,
            command_object,
            args,
        } = command;
        let name = CommandName::parse(&name);
        let arg = |i: usize| args.get(i);
        let name_arg = || arg(0).and_then(Value::as_str).map(str::to_owned);
        match &name {
            CommandName::Connect => self.connect(transaction_id, command_object, args),
            _ if self.phase != Phase::Connected => {
                self.ignore(IgnoreReason::BeforeConnect { command: name })
            }
            _ if name.is_stream_command() && !self.streams.contains_key(&message_stream) => self
                .ignore(IgnoreReason::CommandOnUnknownStream {
                    command: name,
                    stream_id: message_stream,
                }),
            CommandName::CreateStream => self.create_stream(transaction_id),
            CommandName::ReleaseStream => {
                if !self.refuse_call_name(&name, transaction_id, name_arg().as_deref()) {
                    self.reply_result(transaction_id, vec![Value::Undefined]);
                }
            }
            // The FMLE publish calls, and the CDN-style subscribe calls that ffmpeg makes
            // before every play: acknowledged the way FMS and its CDNs do.
            CommandName::FcPublish => self.answer_fc(
                &name,
                transaction_id,
                Status::NetStreamPublishStart,
                name_arg(),
            ),
            CommandName::FcUnpublish => self.answer_fc(
                &name,
                transaction_id,
                Status::NetStreamUnpublishSuccess,
                name_arg(),
            ),
            CommandName::FcSubscribe => self.answer_fc(
                &name,
                transaction_id,
                Status::NetStreamPlayStart,
                name_arg(),
            ),
            CommandName::FcUnsubscribe => {
                self.answer_fc(&name, transaction_id, Status::NetStreamPlayStop, name_arg())
            }
            CommandName::GetStreamLength => {
                let stream_name = name_arg();
                if self.refuse_call_name(&name, transaction_id, stream_name.as_deref()) {
                    return;
                }
                let name = stream_name.unwrap_or_default();
                self.events.push_back(ServerEvent::StreamLengthRequested {
                    transaction_id,
                    name,
                });
            }
            CommandName::DeleteStream => {
                if let Some(id) = arg(0).and_then(Value::as_f64).and_then(stream_id_from) {
                    if self.streams.remove(&id).is_some() {
                        self.events
                            .push_back(ServerEvent::StreamClosed { stream_id: id });
                    }
                }
            }
            // Flash sends closeStream on the stream itself without arguments; some clients send
            // it on stream 0 with the id as argument.
            CommandName::CloseStream => {
                let id = if message_stream != StreamId::CONTROL {
                    Some(message_stream)
                } else {
                    arg(0).and_then(Value::as_f64).and_then(stream_id_from)
                };
                match id {
                    Some(id) if self.streams.contains_key(&id) => self
                        .events
                        .push_back(ServerEvent::StreamClosed { stream_id: id }),
                    _ => self.ignore(IgnoreReason::CloseUnknownStream { stream_id: id }),
                }
            }
            CommandName::Publish => self.publish(message_stream, &args),
            CommandName::Play => self.play(message_stream, &args),
            CommandName::Play2 => self.play2(message_stream, &args),
            CommandName::Pause | CommandName::PauseRaw => self.pause(message_stream, &name, &args),
            CommandName::Seek => self.seek(message_stream, &args),
            CommandName::ReceiveAudio => {
                self.receive(message_stream, &name, &args, |stream_id, enabled| {
                    ServerEvent::ReceiveAudio { stream_id, enabled }
                })
            }
            CommandName::ReceiveVideo => {
                self.receive(message_stream, &name, &args, |stream_id, enabled| {
                    ServerEvent::ReceiveVideo { stream_id, enabled }
                })
            }
            CommandName::Result | CommandName::Error => {
                let pending = transaction_id >= 1.0
                    && transaction_id.fract() == 0.0
                    && self.client_calls.remove(&(transaction_id as u64));
                if pending {
                    self.events.push_back(ServerEvent::ClientAnswered {
                        transaction_id,
                        ok: name == CommandName::Result,
                        args,
                    });
                } else {
                    self.ignore(IgnoreReason::UnawaitedAnswer {
                        command: name,
                        transaction_id,
                    });
                }
            }
            CommandName::Other(method) => {
                let method = method.clone();
                self.events.push_back(ServerEvent::Call {
                    transaction_id,
                    method,
                    command_object,
                    args,
                });
            }
            CommandName::OnStatus => {
                let failed = Status::NetConnectionCallFailed;
                let info = Info::new(failed, failed.describe(name.as_str()));
                self.reply_error(message_stream, transaction_id, info);
            }
        }
    }

    /// A shared object message: the client-to-server events become requests; the others
    /// (which only a server sends) are ignored.
    fn shared_object(&mut self, message: SharedObjectMessage) {
        let SharedObjectMessage {
            name,
            version,
            persistent,
            events,
        } = message;
        let mut requests = Vec::new();
        let mut ignored = 0usize;
        for event in events {
            requests.push(match event {
                SoEvent::Use => SharedObjectRequest::Use,
                SoEvent::Release => SharedObjectRequest::Release,
                SoEvent::RequestChange { slot, value } => {
                    SharedObjectRequest::Change { slot, value }
                }
                SoEvent::RequestRemove { slot } => SharedObjectRequest::Remove { slot },
                SoEvent::SendMessage { handler, args } => {
                    SharedObjectRequest::Send { handler, args }
                }
                _ => {
                    ignored += 1;
                    continue;
                }
            });
        }
        if ignored > 0 {
            self.ignore(IgnoreReason::ServerSharedObjectEvents {
                count: ignored,
                name: name.clone(),
            });
        }
        if !requests.is_empty() {
            self.events.push_back(ServerEvent::SharedObject {
                name,
                version,
                persistent,
                requests,
            });
        }
    }

    /// Acknowledges an FC call: FMS calls the client back with `on` and the call's name
    /// (`onFCPublish`, ...), then answers the call itself.
    fn answer_fc(
        &mut self,
        name: &CommandName,
        transaction_id: f64,
        status: Status,
        stream_name: Option<String>,
    ) {
        if self.refuse_call_name(name, transaction_id, stream_name.as_deref()) {
            return;
        }
        let handler = format!("on{name}");
        let info = Info::new(status, stream_name.unwrap_or_default()).into_value();
        self.send_command(StreamId::CONTROL, &handler, 0.0, Value::Null, vec![info]);
        self.reply_result(transaction_id, vec![Value::Undefined]);
    }

    /// Answers a NetStream command whose arguments make no sense, on its stream.
    fn invalid_arg(&mut self, stream_id: StreamId, name: &CommandName, why: &str) {
        self.send_status(
            stream_id,
            Info::new(Status::NetStreamInvalidArg, format!("{name}: {why}")).details(name.as_str()),
        );
    }

    /// Checks a stream name against [`ServerConfig::max_stream_name_bytes`].
    pub fn check_name(&self, name: &str) -> Result<(), StreamNameError> {
        let max = self.config.max_stream_name_bytes;
        if name.len() > max {
            return Err(StreamNameError::TooLong {
                len: name.len(),
                max,
            });
        }
        Ok(())
    }

    /// Refuses a call's stream name (see [`StreamNameError`]) with `_error`
    /// NetConnection.Call.Failed; false if the name is fine or there is none.
    fn refuse_call_name(
        &mut self,
        call: &CommandName,
        transaction_id: f64,
        name: Option<&str>,
    ) -> bool {
        let Some(Err(e)) = name.map(|name| self.check_name(name)) else {
            return false;
        };
        self.ignore(IgnoreReason::Refused {
            command: call.clone(),
            why: e.clone(),
        });
        self.fail_call(transaction_id, &format!("{call}: {e}"));
        true
    }

    /// Refuses a NetStream command's name (see [`StreamNameError`]) with `status` on its
    /// stream; false if the name is fine.
    fn refuse_name(
        &mut self,
        stream_id: StreamId,
        command: &CommandName,
        name: &str,
        status: Status,
    ) -> bool {
        let Err(e) = self.check_name(name) else {
            return false;
        };
        self.ignore(IgnoreReason::Refused {
            command: command.clone(),
            why: e.clone(),
        });
        self.send_status(stream_id, Info::new(status, format!("{command}: {e}")));
        true
    }

    fn publish(&mut self, stream_id: StreamId, args: &[Value]) {
        if let Some(stream_name) = args.first().and_then(Value::as_str) {
            let status = Status::NetStreamPublishBadName;
            if self.refuse_name(stream_id, &CommandName::Publish, stream_name, status) {
                return;
            }
        }
        match args.first().and_then(Value::as_str) {
            Some(stream_name) if !stream_name.is_empty() => {
                let event = ServerEvent::PublishRequested {
                    stream_id,
                    name: stream_name.to_owned(),
                    mode: PublishMode::parse(args.get(1)),
                };
                self.events.push_back(event);
            }
            // publish(null) or publish(false) stops publishing, as in Flash.
            Some(_) | None => self
                .events
                .push_back(ServerEvent::StreamClosed { stream_id }),
        }
    }

    fn play(&mut self, stream_id: StreamId, args: &[Value]) {
        let arg = |i: usize| args.get(i);
        if let Some(Value::String(stream_name)) = arg(0) {
            let status = Status::NetStreamPlayStreamNotFound;
            if self.refuse_name(stream_id, &CommandName::Play, stream_name, status) {
                return;
            }
        }
        match arg(0) {
            Some(Value::String(stream_name)) if !stream_name.is_empty() => {
                let number = |i: usize, default: f64| match arg(i) {
                    Some(Value::Number(n)) if n.is_finite() => Some(*n),
                    None | Some(Value::Null | Value::Undefined) => Some(default),
                    Some(_) => None,
                };
                // reset was a number (flags) before Flash Player 9; 0 meant false.
                let reset = match arg(3) {
                    None | Some(Value::Null | Value::Undefined) => Some(true),
                    Some(Value::Boolean(b)) => Some(*b),
                    Some(Value::Number(n)) => Some(*n != 0.0),
                    Some(_) => None,
                };
                match (number(1, -2.0), number(2, -1.0), reset) {
                    (Some(start), Some(len), Some(reset)) => {
                        let request = PlayRequest {
                            name: stream_name.clone(),
                            start,
                            len,
                            reset,
                        };
                        self.events
                            .push_back(ServerEvent::PlayRequested { stream_id, request });
                    }
                    _ => self.invalid_arg(
                        stream_id,
                        &CommandName::Play,
                        "start, len and reset must be numbers and a boolean",
                    ),
                }
            }
            // play(false) / play(null) stops playback.
            Some(Value::Boolean(false) | Value::Null) => self
                .events
                .push_back(ServerEvent::StreamClosed { stream_id }),
            _ => self.invalid_arg(
                stream_id,
                &CommandName::Play,
                "the stream name must be a non-empty string",
            ),
        }
    }

    fn play2(&mut self, stream_id: StreamId, args: &[Value]) {
        match args.first() {
            Some(
                options @ (Value::Object(_) | Value::TypedObject { .. } | Value::EcmaArray(_)),
            ) => {
                for key in ["streamName", "oldStreamName"] {
                    if let Some(name) = options.get_str(key) {
                        if self.refuse_name(
                            stream_id,
                            &CommandName::Play2,
                            name,
                            Status::NetStreamPlayStreamNotFound,
                        ) {
                            return;
                        }
                    }
                }
                let options = options.clone();
                self.events
                    .push_back(ServerEvent::Play2Requested { stream_id, options });
            }
            _ => self.invalid_arg(
                stream_id,
                &CommandName::Play2,
                "play2 needs a NetStreamPlayOptions object",
            ),
        }
    }

    /// `pause` and `pauseRaw`, which take the same arguments.
    fn pause(&mut self, stream_id: StreamId, name: &CommandName, args: &[Value]) {
        let position_ms = match args.get(1) {
            Some(Value::Number(n)) if n.is_finite() => Some(*n),
            None | Some(Value::Null | Value::Undefined) => Some(0.0),
            Some(_) => None,
        };
        match (args.first(), position_ms) {
            (Some(Value::Boolean(pause)), Some(position_ms)) => {
                let pause = *pause;
                self.events.push_back(ServerEvent::PauseRequested {
                    stream_id,
                    pause,
                    position_ms,
                })
            }
            _ => self.invalid_arg(
                stream_id,
                name,
                "pause needs a boolean and a time in milliseconds",
            ),
        }
    }

    fn seek(&mut self, stream_id: StreamId, args: &[Value]) {
        match args.first() {
            Some(Value::Number(ms)) if ms.is_finite() && *ms >= 0.0 => {
                let position_ms = *ms;
                self.events.push_back(ServerEvent::SeekRequested {
                    stream_id,
                    position_ms,
                })
            }
            _ => self.invalid_arg(
                stream_id,
                &CommandName::Seek,
                "seek needs a time in milliseconds, 0 or more",
            ),
        }
    }

    /// `receiveAudio` and `receiveVideo`; `event` makes the event of the one received.
    fn receive(
        &mut self,
        stream_id: StreamId,
        name: &CommandName,
        args: &[Value],
        event: fn(StreamId, bool) -> ServerEvent,
    ) {
        match args.first() {
            Some(Value::Boolean(enabled)) => self.events.push_back(event(stream_id, *enabled)),
            _ => self.invalid_arg(stream_id, name, "needs a boolean"),
        }
    }

    fn connect(&mut self, transaction_id: f64, command_object: Value, args: Vec<Value>) {
        if self.phase != Phase::AwaitingConnect {
            return self.ignore(IgnoreReason::SecondConnect);
        }
        self.connect_transaction = transaction_id;
        self.object_encoding = command_object.get_f64("objectEncoding").unwrap_or(0.0);
        self.link.amf3_envelope = self.object_encoding == 3.0;
        let tc_url = command_object
            .get_str("tcUrl")
            .unwrap_or_default()
            .to_owned();
        let raw_app = command_object.get_str("app").unwrap_or_default();
        let (app_path, app_query) = split_query(raw_app);
        let (app, instance) = match app_path.trim_matches('/').split_once('/') {
            Some((app, instance)) if !instance.is_empty() => {
                (app.to_owned(), Some(instance.to_owned()))
            }
            Some((app, _)) => (app.to_owned(), None),
            None => (app_path.trim_matches('/').to_owned(), None),
        };
        let query = app_query
            .or_else(|| split_query(&tc_url).1)
            .map(str::to_owned);
        self.phase = Phase::ConnectPending;
        self.enhanced = EnhancedCaps::from_connect(&command_object, &args);
        self.events
            .push_back(ServerEvent::ConnectRequested(ConnectRequest {
                enhanced: self.enhanced.clone(),
                app,
                instance,
                query,
                tc_url,
                object_encoding: self.object_encoding,
                command_object,
                args,
            }));
    }

    fn create_stream(&mut self, transaction_id: f64) {
        if self.streams.len() >= self.config.max_streams {
            let description = format!(
                "createStream: this connection already has {} streams, the most it may have; \
                 delete one first",
                self.streams.len()
            );
            return self.fail_call(transaction_id, &description);
        }
        // Ids are never reused, so after 2^32-1 createStream calls there are none left.
        let Some(next) = self.next_stream_id.checked_add(1) else {
            return self.fail_call(
                transaction_id,
                "createStream: this connection has used up every stream id",
            );
        };
        let id = StreamId(self.next_stream_id);
        self.next_stream_id = next;
        self.streams.insert(id, ());
        self.reply_result(transaction_id, vec![Value::Number(f64::from(id.0))]);
    }

    /// Answers `getStreamLength`: the item's duration in seconds (0 for a live stream or an
    /// unknown name, as FMS answers).
    pub fn answer_stream_length(&mut self, transaction_id: f64, seconds: f64) {
        self.reply_result(transaction_id, vec![Value::Number(seconds)]);
    }

    /// Answers a call with `_error` NetConnection.Call.Failed, `description` saying why.
    pub fn fail_call(&mut self, transaction_id: f64, description: &str) {
        let info = Info::new(Status::NetConnectionCallFailed, description);
        self.reply_error(StreamId::CONTROL, transaction_id, info);
    }

    fn reply_result(&mut self, transaction_id: f64, args: Vec<Value>) {
        self.send_command(
            StreamId::CONTROL,
            CommandName::Result.as_str(),
            transaction_id,
            Value::Null,
            args,
        );
    }

    /// `_error` with the info object saying why, on `stream_id` (the one the call came on).
    fn reply_error(&mut self, stream_id: StreamId, transaction_id: f64, info: Info) {
        self.send_command(
            stream_id,
            CommandName::Error.as_str(),
            transaction_id,
            Value::Null,
            vec![info.into_value()],
        );
    }
}

/// A stream id from an AMF number, if it is a whole number in range.
fn stream_id_from(n: f64) -> Option<StreamId> {
    (n >= 1.0 && n <= f64::from(u32::MAX) && n.fract() == 0.0).then_some(StreamId(n as u32))
}

/// Splits "path?query" into its parts.
fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (s, None),
    }
}
