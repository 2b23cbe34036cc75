//! The client side of an RTMP connection, as a state machine: what the browser client and the
//! gateway's test client speak.
//!
//! Run loop: call the request methods (`connect`, `create_stream`, `play`, ...), then
//! [`ClientSession::drain_output`] and send the bytes; feed what arrives to
//! [`ClientSession::handle_input`] and read [`ClientSession::poll_event`] until `None`.
//! Requests made before the handshake completes are sent right after it.
//!
//! Remote shared objects: [`ClientSession::shared_object_use`] subscribes and keeps a local
//! copy ([`ClientSession::shared_object`]); `shared_object_request_change`,
//! `shared_object_request_remove`, `shared_object_send` and `shared_object_release` are
//! AS3's `setProperty`, `delete so.data[slot]`, `send` and `close`. What the server sends
//! arrives as [`ClientEvent::SharedObject`]: a [`SharedObjectEvent::Sync`] with AS3's
//! changeList (codes clear, success, reject, change, delete), a handler call, or a status.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use crate::amf::{DecodeLimits, Value};
use crate::chunk::DecoderLimits;
use crate::command::CommandName;
use crate::handshake::Handshake;
use crate::link::{Link, LinkError};
use crate::message::{Command, Envelope, Message, UserControl};
use crate::shared_object::{SharedObjectMessage, SoEvent};
use crate::types::{MediaKind, StreamId, Timestamp};

/// Settings of a client session.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub chunk_limits: DecoderLimits,
    pub amf_limits: DecodeLimits,
    /// Outgoing chunk size, announced after the handshake.
    pub chunk_size: u32,
    /// Fills the random part of the handshake's C1 (see [`Handshake::client`]).
    pub handshake_seed: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            chunk_limits: DecoderLimits::default(),
            amf_limits: DecodeLimits::default(),
            chunk_size: 4096,
            handshake_seed: 0x5254_4d50_7773,
        }
    }
}

/// What the server said or sent.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// `_result` of connect: the server's properties and the info object (Connect.Success).
    Connected {
        properties: Value,
        info: Value,
    },
    /// `_error` of connect: the info object (Connect.Rejected, InvalidApp, ...).
    ConnectRejected {
        info: Value,
    },
    /// `_result` of createStream.
    StreamCreated {
        transaction_id: f64,
        stream_id: StreamId,
    },
    /// `_result` of any other call.
    CallResult {
        transaction_id: f64,
        command_object: Value,
        args: Vec<Value>,
    },
    /// `_error` of any other call (NetConnection.Call.Failed, ...).
    CallError {
        transaction_id: f64,
        command_object: Value,
        args: Vec<Value>,
    },
    /// An `onStatus` command: NetStream codes on a stream, NetConnection codes on stream 0.
    Status {
        stream_id: StreamId,
        info: Value,
    },
    /// An `onPlayStatus` data message.
    PlayStatus {
        stream_id: StreamId,
        timestamp: Timestamp,
        info: Value,
    },
    /// Any other data message: onMetaData, onCuePoint, `|RtmpSampleAccess`, onStatus data
    /// (Data.Start), NetStream.send handlers.
    Data {
        stream_id: StreamId,
        timestamp: Timestamp,
        values: Vec<Value>,
    },
    Media {
        stream_id: StreamId,
        timestamp: Timestamp,
        kind: MediaKind,
        payload: Bytes,
    },
    UserControl(UserControl),
    /// A command the server called on the client (onBWDone, onFCPublish, close, ...). With a
    /// non-zero `transaction_id` the server waits for
    /// [`ClientSession::answer_server_call`] or [`ClientSession::answer_server_call_error`].
    ServerCall {
        stream_id: StreamId,
        transaction_id: f64,
        name: String,
        args: Vec<Value>,
    },
    /// Something about a remote shared object this client uses.
    SharedObject {
        name: String,
        event: SharedObjectEvent,
    },
}

/// What happened to a remote shared object, in AS3's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum SharedObjectEvent {
    /// The local copy changed (AS3's `SyncEvent.SYNC`): `version` is the server's version
    /// now; `first` is true for the sync that completes a use (its use success).
    Sync {
        version: u32,
        first: bool,
        changes: Vec<SyncChange>,
    },
    /// `send(handler, ...args)` by a subscriber or the server: a call on AS3's `so.client`.
    Message { handler: String, args: Vec<Value> },
    /// A status event (AS3's `NetStatusEvent` on the object): SharedObject.NoReadAccess,
    /// SharedObject.NoWriteAccess, SharedObject.BadPersistence,
    /// SharedObject.ObjectCreationFailed, ...
    Status { code: String, level: String },
}

/// One entry of AS3's `changeList`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncChange {
    pub code: SyncCode,
    /// The slot; empty for [`SyncCode::Clear`].
    pub name: String,
    /// For reject, the value this client had set (now replaced by the server's); for change
    /// and delete, the value before (`None` when the slot was new).
    pub old_value: Option<Value>,
}

/// `changeList[i].code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncCode {
    /// The local copy was emptied (a fresh or stale copy, before the server's slots).
    Clear,
    /// This client's change was accepted.
    Success,
    /// This client's change lost to another one, or was refused; the slot holds the server's
    /// value (or none).
    Reject,
    /// Another client (or the server) changed the slot.
    Change,
    /// The slot was deleted.
    Delete,
}

impl SyncCode {
    /// The code string AS3 uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncCode::Clear => "clear",
            SyncCode::Success => "success",
            SyncCode::Reject => "reject",
            SyncCode::Change => "change",
            SyncCode::Delete => "delete",
        }
    }
}

/// The local copy of a remote shared object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteSharedObject {
    version: u32,
    persistent: bool,
    /// Between use and release.
    in_use: bool,
    connected: bool,
    /// Slots in the order they were first set.
    data: Vec<(String, Value)>,
    /// Slots changed here, with how many of those changes await their success or reject.
    pending: HashMap<String, u32>,
}

impl RemoteSharedObject {
    /// The server's version this copy reflects (0 before the first sync).
    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// Whether this client uses the object (between use and release).
    pub fn is_in_use(&self) -> bool {
        self.in_use
    }

    /// Whether the server answered the use (use success).
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Every slot (AS3's `so.data`), in the order they were first set.
    pub fn data(&self) -> &[(String, Value)] {
        &self.data
    }

    pub fn get(&self, slot: &str) -> Option<&Value> {
        self.data.iter().find(|(k, _)| k == slot).map(|(_, v)| v)
    }

    fn set(&mut self, slot: &str, value: Value) -> Option<Value> {
        if matches!(value, Value::Null | Value::Undefined) {
            return self.remove(slot);
        }
        match self.data.iter_mut().find(|(k, _)| k == slot) {
            Some((_, old)) => Some(std::mem::replace(old, value)),
            None => {
                self.data.push((slot.to_owned(), value));
                None
            }
        }
    }

    fn remove(&mut self, slot: &str) -> Option<Value> {
        let at = self.data.iter().position(|(k, _)| k == slot)?;
        Some(self.data.remove(at).1)
    }

    /// One more change of `slot` awaits its answer.
    fn expect_answer(&mut self, slot: &str) {
        *self.pending.entry(slot.to_owned()).or_default() += 1;
    }

    /// The answer to one change of `slot` arrived: whether one was awaited.
    fn answered(&mut self, slot: &str) -> bool {
        match self.pending.get_mut(slot) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                self.pending.remove(slot);
                true
            }
            None => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Connect,
    CreateStream,
    Call,
}

/// One client-side RTMP connection (see the module docs for the run loop).
pub struct ClientSession {
    config: ClientConfig,
    handshake: Option<Handshake>,
    link: Link,
    /// Messages requested before the handshake completed.
    deferred: Vec<(StreamId, Timestamp, Message)>,
    events: VecDeque<ClientEvent>,
    transactions: HashMap<u64, Pending>,
    next_transaction: f64,
    shared_objects: HashMap<String, RemoteSharedObject>,
}

impl ClientSession {
    /// A session whose C0+C1 is already queued for sending.
    pub fn new(config: ClientConfig) -> Self {
        let (handshake, c0c1) = Handshake::client(config.handshake_seed);
        let mut link = Link::new(config.chunk_limits, config.amf_limits);
        link.send_raw(&c0c1);
        ClientSession {
            config,
            handshake: Some(handshake),
            link,
            deferred: Vec::new(),
            events: VecDeque::new(),
            transactions: HashMap::new(),
            next_transaction: 1.0,
            shared_objects: HashMap::new(),
        }
    }

    /// True once the handshake is over.
    pub fn is_handshake_done(&self) -> bool {
        self.handshake.is_none()
    }

    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        if let Some(handshake) = &mut self.handshake {
            if !self.link.handshake_input(handshake, bytes)? {
                return Ok(());
            }
            self.handshake = None;
            self.link.set_chunk_size(self.config.chunk_size);
            for (stream_id, timestamp, message) in std::mem::take(&mut self.deferred) {
                self.link.send(stream_id, timestamp, &message);
            }
        } else {
            self.link.push_input(bytes);
        }
        while let Some(envelope) = self.link.next_message()? {
            self.handle_message(envelope);
        }
        Ok(())
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    pub fn drain_output(&mut self, into: &mut Vec<Bytes>) {
        self.link.drain_output(into);
    }

    /// All queued output as one buffer (for transports that send one message at a time).
    pub fn take_output(&mut self) -> Vec<u8> {
        let mut segments = Vec::new();
        self.link.drain_output(&mut segments);
        segments.concat()
    }

    /// `connect` with the given command object (app, tcUrl, objectEncoding, ...).
    pub fn connect(&mut self, command_object: Value, args: Vec<Value>) -> f64 {
        if command_object.get_f64("objectEncoding") == Some(3.0) {
            // Commands keep AMF0 values but travel in the AMF3 envelope, as Flash's do.
            self.link.amf3_envelope = true;
        }
        self.command(
            StreamId::CONTROL,
            CommandName::Connect.as_str(),
            Pending::Connect,
            command_object,
            args,
        )
    }

    /// `createStream`; the answer is [`ClientEvent::StreamCreated`] with this transaction id.
    pub fn create_stream(&mut self) -> f64 {
        self.command(
            StreamId::CONTROL,
            CommandName::CreateStream.as_str(),
            Pending::CreateStream,
            Value::Null,
            Vec::new(),
        )
    }

    /// `NetConnection.call(name, responder, ...args)`.
    pub fn call(&mut self, name: &str, args: Vec<Value>) -> f64 {
        self.command(StreamId::CONTROL, name, Pending::Call, Value::Null, args)
    }

    /// A stream command that expects no answer but status events (play, pause, seek, ...).
    pub fn stream_command(&mut self, stream_id: StreamId, name: &str, args: Vec<Value>) {
        let command = Command {
            name: name.into(),
            transaction_id: 0.0,
            command_object: Value::Null,
            args,
        };
        self.send(stream_id, Timestamp::ZERO, Message::Command(command));
    }

    pub fn play(&mut self, stream_id: StreamId, name: &str, start: f64, len: f64, reset: bool) {
        self.stream_command(
            stream_id,
            CommandName::Play.as_str(),
            vec![name.into(), start.into(), len.into(), reset.into()],
        );
    }

    pub fn publish(&mut self, stream_id: StreamId, name: &str, mode: &str) {
        let args = vec![name.into(), mode.into()];
        self.stream_command(stream_id, CommandName::Publish.as_str(), args);
    }

    pub fn close_stream(&mut self, stream_id: StreamId) {
        self.stream_command(stream_id, CommandName::CloseStream.as_str(), Vec::new());
    }

    pub fn delete_stream(&mut self, stream_id: StreamId) {
        let args = vec![Value::Number(f64::from(stream_id.0))];
        self.stream_command(StreamId::CONTROL, CommandName::DeleteStream.as_str(), args);
    }

    /// Tells the server how much the player buffers (Flash sends it on play and on bufferTime
    /// changes).
    pub fn set_buffer_length(&mut self, stream_id: StreamId, buffer_ms: u32) {
        self.send(
            StreamId::CONTROL,
            Timestamp::ZERO,
            Message::UserControl(UserControl::SetBufferLength {
                stream_id,
                buffer_ms,
            }),
        );
    }

    /// A data message on a stream (`@setDataFrame`, `NetStream.send`).
    pub fn send_data(&mut self, stream_id: StreamId, timestamp: Timestamp, values: Vec<Value>) {
        self.send(stream_id, timestamp, Message::Data(values));
    }

    /// Audio or video from a publisher.
    pub fn send_media(
        &mut self,
        stream_id: StreamId,
        timestamp: Timestamp,
        kind: MediaKind,
        payload: Bytes,
    ) {
        let message = match kind {
            MediaKind::Audio => Message::Audio(payload),
            MediaKind::Video => Message::Video(payload),
        };
        self.send(stream_id, timestamp, message);
    }

    /// Answers a [`ClientEvent::ServerCall`] with `_result` and the handler's return value.
    pub fn answer_server_call(&mut self, transaction_id: f64, value: Value) {
        self.reply(CommandName::Result, transaction_id, value);
    }

    /// Answers a [`ClientEvent::ServerCall`] with `_error` and an info object.
    pub fn answer_server_call_error(&mut self, transaction_id: f64, info: Value) {
        self.reply(CommandName::Error, transaction_id, info);
    }

    fn reply(&mut self, name: CommandName, transaction_id: f64, value: Value) {
        let command = Command {
            name: name.as_str().into(),
            transaction_id,
            command_object: Value::Null,
            args: vec![value],
        };
        self.send(
            StreamId::CONTROL,
            Timestamp::ZERO,
            Message::Command(command),
        );
    }

    /// Subscribes to the remote shared object `name` (AS3's `SharedObject.getRemote(name, uri,
    /// persistent)` then `connect`): sends use with the version of the local copy (0 for a
    /// new one). The answer is a [`SharedObjectEvent::Sync`] with `first` set, or a status.
    pub fn shared_object_use(&mut self, name: &str, persistent: bool) {
        let copy = self.shared_objects.entry(name.to_owned()).or_default();
        if copy.persistent != persistent {
            copy.version = 0;
        }
        copy.persistent = persistent;
        copy.in_use = true;
        let message = SharedObjectMessage::new(name, copy.version, persistent).with(SoEvent::Use);
        self.send(
            StreamId::CONTROL,
            Timestamp::ZERO,
            Message::SharedObject(message),
        );
    }

    /// Sets `slot` (AS3's `setProperty`; a null or undefined value deletes it). The local copy
    /// changes at once; the server answers success or reject in a later sync. False when the
    /// object is not in use.
    pub fn shared_object_request_change(&mut self, name: &str, slot: &str, value: Value) -> bool {
        self.shared_object_request_changes(name, vec![(slot.to_owned(), value)])
    }

    /// Several slots in one message, which the server applies as one batch (one new version).
    pub fn shared_object_request_changes(
        &mut self,
        name: &str,
        changes: Vec<(String, Value)>,
    ) -> bool {
        let Some(copy) = self.shared_objects.get_mut(name).filter(|c| c.in_use) else {
            return false;
        };
        let mut message = SharedObjectMessage::new(name, copy.version, copy.persistent);
        for (slot, value) in changes {
            copy.set(&slot, value.clone());
            copy.expect_answer(&slot);
            message.events.push(SoEvent::RequestChange { slot, value });
        }
        self.send(
            StreamId::CONTROL,
            Timestamp::ZERO,
            Message::SharedObject(message),
        );
        true
    }

    /// Deletes `slot` (AS3's `delete so.data[slot]`), as a request remove event.
    pub fn shared_object_request_remove(&mut self, name: &str, slot: &str) -> bool {
        let Some(copy) = self.shared_objects.get_mut(name).filter(|c| c.in_use) else {
            return false;
        };
        copy.remove(slot);
        copy.expect_answer(slot);
        let message = SharedObjectMessage::new(name, copy.version, copy.persistent)
            .with(SoEvent::RequestRemove { slot: slot.into() });
        self.send(
            StreamId::CONTROL,
            Timestamp::ZERO,
            Message::SharedObject(message),
        );
        true
    }

    /// AS3's `send(handler, ...args)`: every subscriber, this one included, gets a
    /// [`SharedObjectEvent::Message`].
    pub fn shared_object_send(&mut self, name: &str, handler: &str, args: Vec<Value>) -> bool {
        let Some(copy) = self.shared_objects.get(name).filter(|c| c.in_use) else {
            return false;
        };
        let message = SharedObjectMessage::new(name, copy.version, copy.persistent).with(
            SoEvent::SendMessage {
                handler: handler.into(),
                args,
            },
        );
        self.send(
            StreamId::CONTROL,
            Timestamp::ZERO,
            Message::SharedObject(message),
        );
        true
    }

    /// Unsubscribes (AS3's `close`). The local copy of a non-persistent object is dropped;
    /// a persistent one's stays (readable with [`shared_object`](Self::shared_object)), so
    /// that a later use sends its version and, if nothing changed, gets use success alone.
    pub fn shared_object_release(&mut self, name: &str) -> bool {
        let Some(copy) = self.shared_objects.get_mut(name).filter(|c| c.in_use) else {
            return false;
        };
        copy.in_use = false;
        copy.connected = false;
        copy.pending.clear();
        let message =
            SharedObjectMessage::new(name, copy.version, copy.persistent).with(SoEvent::Release);
        if !copy.persistent {
            self.shared_objects.remove(name);
        }
        self.send(
            StreamId::CONTROL,
            Timestamp::ZERO,
            Message::SharedObject(message),
        );
        true
    }

    /// The local copy of a shared object (in use, or persistent and released).
    pub fn shared_object(&self, name: &str) -> Option<&RemoteSharedObject> {
        self.shared_objects.get(name)
    }

    /// A shared object message from the server, applied to the local copy; events for an
    /// object not in use are dropped.
    fn shared_object_message(&mut self, message: SharedObjectMessage) {
        let Some(copy) = self
            .shared_objects
            .get_mut(&message.name)
            .filter(|c| c.in_use)
        else {
            return;
        };
        let mut changes = Vec::new();
        let mut first = false;
        let mut others = Vec::new();
        for event in message.events {
            match event {
                SoEvent::UseSuccess => {
                    copy.connected = true;
                    first = true;
                }
                SoEvent::Clear => {
                    copy.data.clear();
                    changes.push(SyncChange {
                        code: SyncCode::Clear,
                        name: String::new(),
                        old_value: None,
                    });
                }
                SoEvent::Change { slot, value } => {
                    let rejected = copy.answered(&slot);
                    let old_value = copy.set(&slot, value);
                    let code = if rejected {
                        SyncCode::Reject
                    } else {
                        SyncCode::Change
                    };
                    changes.push(SyncChange {
                        code,
                        name: slot,
                        old_value,
                    });
                }
                SoEvent::Success { slot } => {
                    copy.answered(&slot);
                    changes.push(SyncChange {
                        code: SyncCode::Success,
                        name: slot,
                        old_value: None,
                    });
                }
                SoEvent::Remove { slot } => {
                    // A remove answering this client's change of the slot: it was refused.
                    let rejected = copy.answered(&slot);
                    let old_value = copy.remove(&slot);
                    let code = if rejected {
                        SyncCode::Reject
                    } else {
                        SyncCode::Delete
                    };
                    changes.push(SyncChange {
                        code,
                        name: slot,
                        old_value,
                    });
                }
                SoEvent::SendMessage { handler, args } => {
                    others.push(SharedObjectEvent::Message { handler, args })
                }
                SoEvent::Status { code, level } => {
                    others.push(SharedObjectEvent::Status { code, level })
                }
                // Client-to-server events have no meaning here.
                SoEvent::Use
                | SoEvent::Release
                | SoEvent::RequestChange { .. }
                | SoEvent::RequestRemove { .. } => {}
            }
        }
        if first || !changes.is_empty() {
            copy.version = message.version;
            self.events.push_back(ClientEvent::SharedObject {
                name: message.name.clone(),
                event: SharedObjectEvent::Sync {
                    version: message.version,
                    first,
                    changes,
                },
            });
        }
        for event in others {
            self.events.push_back(ClientEvent::SharedObject {
                name: message.name.clone(),
                event,
            });
        }
    }

    fn command(
        &mut self,
        stream_id: StreamId,
        name: &str,
        pending: Pending,
        command_object: Value,
        args: Vec<Value>,
    ) -> f64 {
        let transaction_id = self.next_transaction;
        self.next_transaction += 1.0;
        self.transactions.insert(transaction_id as u64, pending);
        let command = Command {
            name: name.into(),
            transaction_id,
            command_object,
            args,
        };
        self.send(stream_id, Timestamp::ZERO, Message::Command(command));
        transaction_id
    }

    fn send(&mut self, stream_id: StreamId, timestamp: Timestamp, message: Message) {
        if self.handshake.is_some() {
            self.deferred.push((stream_id, timestamp, message));
        } else {
            self.link.send(stream_id, timestamp, &message);
        }
    }

    fn handle_message(&mut self, envelope: Envelope) {
        let Envelope {
            stream_id,
            timestamp,
            message,
        } = envelope;
        let event = match message {
            Message::Audio(payload) => ClientEvent::Media {
                stream_id,
                timestamp,
                kind: MediaKind::Audio,
                payload,
            },
            Message::Video(payload) => ClientEvent::Media {
                stream_id,
                timestamp,
                kind: MediaKind::Video,
                payload,
            },
            Message::UserControl(event) => ClientEvent::UserControl(event),
            Message::Data(mut values) => match values.first().and_then(Value::as_str) {
                Some("onPlayStatus") if values.len() >= 2 => ClientEvent::PlayStatus {
                    stream_id,
                    timestamp,
                    info: values.swap_remove(1),
                },
                _ => ClientEvent::Data {
                    stream_id,
                    timestamp,
                    values,
                },
            },
            Message::Command(command) => self.command_event(stream_id, command),
            Message::SharedObject(message) => return self.shared_object_message(message),
            _ => return,
        };
        self.events.push_back(event);
    }

    fn command_event(&mut self, stream_id: StreamId, command: Command) -> ClientEvent {
        let Command {
            name,
            transaction_id,
            command_object,
            mut args,
        } = command;
        match CommandName::parse(&name) {
            CommandName::Result => self.answer(transaction_id, true, command_object, args),
            CommandName::Error => self.answer(transaction_id, false, command_object, args),
            CommandName::OnStatus if !args.is_empty() => ClientEvent::Status {
                stream_id,
                info: args.swap_remove(0),
            },
            _ => ClientEvent::ServerCall {
                stream_id,
                transaction_id,
                name,
                args,
            },
        }
    }

    /// A `_result` (`is_result`) or `_error`, told apart by the call it answers.
    fn answer(
        &mut self,
        transaction_id: f64,
        is_result: bool,
        command_object: Value,
        args: Vec<Value>,
    ) -> ClientEvent {
        let pending = self.transactions.remove(&(transaction_id as u64));
        let first = args.first().cloned().unwrap_or(Value::Null);
        match (pending, is_result) {
            (Some(Pending::Connect), true) => ClientEvent::Connected {
                properties: command_object,
                info: first,
            },
            (Some(Pending::Connect), false) => ClientEvent::ConnectRejected { info: first },
            (Some(Pending::CreateStream), true) => match first.as_f64() {
                Some(id) if id >= 0.0 && id <= f64::from(u32::MAX) => ClientEvent::StreamCreated {
                    transaction_id,
                    stream_id: StreamId(id as u32),
                },
                _ => ClientEvent::CallError {
                    transaction_id,
                    command_object,
                    args,
                },
            },
            (_, true) => ClientEvent::CallResult {
                transaction_id,
                command_object,
                args,
            },
            (_, false) => ClientEvent::CallError {
                transaction_id,
                command_object,
                args,
            },
        }
    }
}
