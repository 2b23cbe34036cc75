//! The RTMP connection as JS sees it: bytes from the WebSocket in, a batch of events out,
//! bytes for the WebSocket out.
//!
//! Run loop (driven by `js/netconnection.js`): after any request method or [`Connection::receive`],
//! call [`Connection::take_output`] and send what it returns as one binary WebSocket message.
//! Media of a stream with media enabled never reaches JS as RTMP messages: it goes through that
//! stream's remuxer inside the same `receive` call, and comes out as `init`/`media` segment
//! events, so one WebSocket message costs one crossing of the JS/wasm boundary.
//!
//! What the server sends is trusted no further than it must be: a data message (which may be a
//! publisher's, relayed) is never a status, and the stream ids it names are bounded.

use std::collections::HashMap;

use bytes::Bytes;
use js_sys::{Array, Uint8Array};
use rtmpws_media::tag::{
    self, AudioCodec, AudioPacketType, VideoCodec, VideoPacketType, VideoTagHeader,
};
use rtmpws_protocol::amf::Value;
use rtmpws_protocol::client::{
    ClientConfig, ClientEvent, ClientSession, SharedObjectEvent, SyncChange,
};
use rtmpws_protocol::message::UserControl;
use rtmpws_protocol::status::Status;
use rtmpws_protocol::MediaKind;
use rtmpws_protocol::{StreamId, Timestamp};
use wasm_bindgen::prelude::*;

use crate::convert::{from_js, object, to_js};
use crate::events::{data_event, media_error_event};
use crate::pipeline::{Pipeline, Track};
use crate::status::info_with;

/// What the connection keeps per NetStream.
#[derive(Default)]
struct StreamState {
    /// The name given to play/publish, for the `details` of client-made events.
    name: String,
    /// Present while a media element wants this stream's audio and video.
    pipeline: Option<Pipeline>,
    /// Audio, video and data payload bytes received (NetStream.bytesLoaded).
    bytes: f64,
    /// The server said StreamIsRecorded: an unpause restarts from the playhead, like a seek,
    /// and onPlayStatus data can be the server's (see [`is_server_play_status`]).
    recorded: bool,
}

/// At most this many NetStreams per connection. Stream ids are named by the server, so the
/// table must not grow with whatever it answers; Flash pages use a handful of streams.
pub const MAX_STREAMS: usize = 256;

/// Why a stream id the server named was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Another NetStream of this connection has that id: taking it would mix two streams.
    InUse,
    /// [`MAX_STREAMS`] are open already.
    TooMany,
}

/// The connection's NetStreams by message stream id, bounded by [`MAX_STREAMS`]. Entries are
/// made only for ids the page was given (createStream answers) or uses; anything else the
/// server names (a StreamIsRecorded for an unknown id...) finds no entry and changes nothing.
#[derive(Default)]
struct Streams(HashMap<u32, StreamState>);

impl Streams {
    /// Takes the id of a createStream answer.
    fn admit(&mut self, id: u32) -> Result<(), Refusal> {
        if self.0.contains_key(&id) {
            return Err(Refusal::InUse);
        }
        if self.0.len() >= MAX_STREAMS {
            return Err(Refusal::TooMany);
        }
        self.0.insert(id, StreamState::default());
        Ok(())
    }

    /// The state of an id the page uses, made if there is room (the page normally uses only
    /// ids it was given, which have an entry already).
    fn get_or_admit(&mut self, id: u32) -> Option<&mut StreamState> {
        if !self.0.contains_key(&id) && self.0.len() >= MAX_STREAMS {
            return None;
        }
        Some(self.0.entry(id).or_default())
    }

    fn get(&self, id: u32) -> Option<&StreamState> {
        self.0.get(&id)
    }

    fn get_mut(&mut self, id: u32) -> Option<&mut StreamState> {
        self.0.get_mut(&id)
    }

    fn remove(&mut self, id: u32) {
        self.0.remove(&id);
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (&u32, &mut StreamState)> {
        self.0.iter_mut()
    }
}

/// Whether an `onPlayStatus` data message is taken as the server's play status.
///
/// onPlayStatus travels as a data message, like everything a publisher sends with
/// NetStream.send, so by name alone the server's cannot be told from a publisher's. The
/// gateway sends only Play.Complete, Play.Switch and Play.TransitionComplete this way, and
/// only while a recorded item plays (after StreamIsRecorded). Anything else is dropped: it
/// would otherwise end or restart a viewer's playback, or reach the page as a status.
fn is_server_play_status(info: &Value, recorded: bool) -> bool {
    recorded
        && matches!(
            info.get_str("code").and_then(Status::from_code),
            Some(
                Status::NetStreamPlayComplete
                    | Status::NetStreamPlaySwitch
                    | Status::NetStreamPlayTransitionComplete
            )
        )
}

/// One RTMP connection over a WebSocket (see the module docs for the run loop).
#[wasm_bindgen]
pub struct Connection {
    session: ClientSession,
    streams: Streams,
    /// Set after a protocol error: the byte stream cannot be trusted any more, so further input
    /// is ignored until the page closes the socket.
    failed: bool,
    /// The FourCCs the page's MSE plays (from `setPlayable`), for new pipelines.
    playable: Option<Vec<[u8; 4]>>,
}

fn values_to_array(values: &[Value]) -> Array {
    values.iter().map(to_js).collect()
}

fn array_to_values(args: &Array) -> Vec<Value> {
    args.iter().map(|v| from_js(&v)).collect()
}

fn sync_change(change: &SyncChange) -> JsValue {
    object(&[
        ("code", change.code.as_str().into()),
        ("name", change.name.as_str().into()),
        (
            "oldValue",
            change.old_value.as_ref().map_or(JsValue::UNDEFINED, to_js),
        ),
    ])
}

/// `soSync {name, version, first, changeList}`, `soMessage {name, handler, args}` or
/// `soStatus {name, info: {code, level}}`.
fn shared_object_event(name: String, event: SharedObjectEvent) -> JsValue {
    match event {
        SharedObjectEvent::Sync {
            version,
            first,
            changes,
        } => object(&[
            ("type", "soSync".into()),
            ("name", name.into()),
            ("version", version.into()),
            ("first", first.into()),
            (
                "changeList",
                changes.iter().map(sync_change).collect::<Array>().into(),
            ),
        ]),
        SharedObjectEvent::Message { handler, args } => object(&[
            ("type", "soMessage".into()),
            ("name", name.into()),
            ("handler", handler.into()),
            ("args", values_to_array(&args).into()),
        ]),
        SharedObjectEvent::Status { code, level } => object(&[
            ("type", "soStatus".into()),
            ("name", name.into()),
            (
                "info",
                object(&[("code", code.into()), ("level", level.into())]),
            ),
        ]),
    }
}

fn user_control_event(event: UserControl) -> JsValue {
    let (name, stream_id, value) = match event {
        UserControl::StreamBegin(id) => ("streamBegin", id.0, None),
        UserControl::StreamEof(id) => ("streamEOF", id.0, None),
        UserControl::StreamDry(id) => ("streamDry", id.0, None),
        UserControl::StreamIsRecorded(id) => ("streamIsRecorded", id.0, None),
        UserControl::SetBufferLength {
            stream_id,
            buffer_ms,
        } => ("setBufferLength", stream_id.0, Some(buffer_ms)),
        UserControl::PingRequest(t) => ("pingRequest", 0, Some(t)),
        UserControl::PingResponse(t) => ("pingResponse", 0, Some(t)),
        UserControl::Other { event_type } => ("other", 0, Some(u32::from(event_type))),
    };
    object(&[
        ("type", "userControl".into()),
        ("event", name.into()),
        ("streamId", stream_id.into()),
        ("value", value.map_or(JsValue::UNDEFINED, JsValue::from)),
    ])
}

impl Default for Connection {
    fn default() -> Self {
        Connection::new()
    }
}

#[wasm_bindgen]
impl Connection {
    /// A session whose handshake (C0+C1) is already waiting in [`Connection::take_output`].
    #[wasm_bindgen(constructor)]
    pub fn new() -> Connection {
        let config = ClientConfig {
            // The handshake's random filler; it needs no cryptographic quality.
            handshake_seed: (js_sys::Math::random() * 2f64.powi(53)) as u64,
            ..ClientConfig::default()
        };
        Connection {
            session: ClientSession::new(config),
            streams: Streams::default(),
            failed: false,
            playable: None,
        }
    }

    /// The FourCCs (`avc1`, `av01`, `Opus`...) the page can play; tracks in other codecs are
    /// left out (NetStream.Play.NoSupportedTrackFound naming the codec) and the rest plays.
    /// Entries that are not 4-byte strings are ignored.
    #[wasm_bindgen(js_name = setPlayable)]
    pub fn set_playable(&mut self, fourccs: Array) {
        let list: Vec<[u8; 4]> = fourccs
            .iter()
            .take(64)
            .filter_map(|v| v.as_string())
            .filter_map(|s| s.as_bytes().try_into().ok())
            .collect();
        self.playable = Some(list);
    }

    /// Sends `connect` with the command object (app, tcUrl, objectEncoding, ...) and the extra
    /// arguments of `NetConnection.connect`. Returns the transaction id.
    pub fn connect(&mut self, command_object: JsValue, args: Array) -> f64 {
        self.session
            .connect(from_js(&command_object), array_to_values(&args))
    }

    /// Sends `createStream`; the answer is a `streamCreated` event with this transaction id.
    #[wasm_bindgen(js_name = createStream)]
    pub fn create_stream(&mut self) -> f64 {
        self.session.create_stream()
    }

    /// `NetConnection.call`: returns the transaction id its `result`/`callError` will carry.
    pub fn call(&mut self, name: &str, args: Array) -> f64 {
        self.session.call(name, array_to_values(&args))
    }

    /// Answers a server call (a `call` event with a non-zero `transactionId`) with `_result`.
    #[wasm_bindgen(js_name = answerCall)]
    pub fn answer_call(&mut self, transaction_id: f64, value: JsValue) {
        self.session
            .answer_server_call(transaction_id, from_js(&value));
    }

    /// Answers a server call with `_error` and an info object.
    #[wasm_bindgen(js_name = answerCallError)]
    pub fn answer_call_error(&mut self, transaction_id: f64, info: JsValue) {
        self.session
            .answer_server_call_error(transaction_id, from_js(&info));
    }

    /// Subscribes to a remote shared object; the answer is a first `soSync`, or `soStatus`.
    #[wasm_bindgen(js_name = soUse)]
    pub fn so_use(&mut self, name: &str, persistent: bool) {
        self.session.shared_object_use(name, persistent);
    }

    /// Sets slots in one request: `changes` is `[[slot, value], ...]` (null or undefined
    /// deletes). False when the object is not in use.
    #[wasm_bindgen(js_name = soSetProperties)]
    pub fn so_set_properties(&mut self, name: &str, changes: Array) -> bool {
        let changes: Vec<(String, Value)> = changes
            .iter()
            .filter_map(|entry| {
                let pair = entry.dyn_into::<Array>().ok()?;
                Some((pair.get(0).as_string()?, from_js(&pair.get(1))))
            })
            .collect();
        if changes.is_empty() {
            return self
                .session
                .shared_object(name)
                .is_some_and(|so| so.is_in_use());
        }
        self.session.shared_object_request_changes(name, changes)
    }

    /// Deletes one slot (a request remove).
    #[wasm_bindgen(js_name = soRemove)]
    pub fn so_remove(&mut self, name: &str, slot: &str) -> bool {
        self.session.shared_object_request_remove(name, slot)
    }

    /// `so.send(handler, ...args)`.
    #[wasm_bindgen(js_name = soSend)]
    pub fn so_send(&mut self, name: &str, handler: &str, args: Array) -> bool {
        self.session
            .shared_object_send(name, handler, array_to_values(&args))
    }

    /// Unsubscribes (`so.close()`).
    #[wasm_bindgen(js_name = soRelease)]
    pub fn so_release(&mut self, name: &str) -> bool {
        self.session.shared_object_release(name)
    }

    /// The local copy's slots as `[[slot, value], ...]` in the order they were first set, or
    /// undefined if there is no copy.
    #[wasm_bindgen(js_name = soData)]
    pub fn so_data(&self, name: &str) -> JsValue {
        let Some(so) = self.session.shared_object(name) else {
            return JsValue::UNDEFINED;
        };
        so.data()
            .iter()
            .map(|(slot, value)| Array::of2(&slot.as_str().into(), &to_js(value)))
            .collect::<Array>()
            .into()
    }

    /// Any stream command (pause, seek, receiveAudio, receiveVideo, play2, closeStream...).
    #[wasm_bindgen(js_name = streamCommand)]
    pub fn stream_command(&mut self, stream_id: u32, name: &str, args: Array) {
        self.session
            .stream_command(StreamId(stream_id), name, array_to_values(&args));
    }

    /// `play`; with `reset` the stream's media starts a new timeline. Without it the item is
    /// queued behind the one playing, which keeps its name and timeline until Play.Switch.
    pub fn play(&mut self, stream_id: u32, name: &str, start: f64, len: f64, reset: bool) {
        if let Some(state) = self.streams.get_or_admit(stream_id) {
            if reset || state.name.is_empty() {
                state.name = name.to_owned();
            }
            if reset {
                state.recorded = false;
                if let Some(pipeline) = &mut state.pipeline {
                    pipeline.reset();
                }
            }
        }
        self.session
            .play(StreamId(stream_id), name, start, len, reset);
    }

    pub fn publish(&mut self, stream_id: u32, name: &str, mode: &str) {
        if let Some(state) = self.streams.get_or_admit(stream_id) {
            state.name = name.to_owned();
        }
        self.session.publish(StreamId(stream_id), name, mode);
    }

    #[wasm_bindgen(js_name = closeStream)]
    pub fn close_stream(&mut self, stream_id: u32) {
        self.session.close_stream(StreamId(stream_id));
    }

    /// `deleteStream`, and forgets the stream.
    #[wasm_bindgen(js_name = deleteStream)]
    pub fn delete_stream(&mut self, stream_id: u32) {
        self.streams.remove(stream_id);
        self.session.delete_stream(StreamId(stream_id));
    }

    /// User control Set Buffer Length, as Flash sends on play and on bufferTime changes.
    #[wasm_bindgen(js_name = setBufferLength)]
    pub fn set_buffer_length(&mut self, stream_id: u32, buffer_ms: u32) {
        self.session
            .set_buffer_length(StreamId(stream_id), buffer_ms);
    }

    /// A data message: `NetStream.send(handler, ...args)` passes `[handler, ...args]`.
    #[wasm_bindgen(js_name = sendData)]
    pub fn send_data(&mut self, stream_id: u32, timestamp: u32, values: Array) {
        self.session.send_data(
            StreamId(stream_id),
            Timestamp(timestamp),
            array_to_values(&values),
        );
    }

    /// An audio or video message (FLV tag body) from a publishing stream.
    #[wasm_bindgen(js_name = sendMedia)]
    pub fn send_media(&mut self, stream_id: u32, timestamp: u32, video: bool, payload: &[u8]) {
        let kind = if video {
            MediaKind::Video
        } else {
            MediaKind::Audio
        };
        self.session.send_media(
            StreamId(stream_id),
            Timestamp(timestamp),
            kind,
            Bytes::copy_from_slice(payload),
        );
    }

    /// A video message built from a codec payload: `codec` a FourCC (`av01`, `vp09`, `hvc1`;
    /// `avc1` is sent with the legacy AVC header every player reads), `packet` 0 sequence
    /// start (configuration record), 1 coded frames, 2 sequence end. False if no such tag can
    /// be written (nothing is sent).
    #[wasm_bindgen(js_name = sendVideoTag)]
    #[allow(clippy::too_many_arguments)]
    pub fn send_video_tag(
        &mut self,
        stream_id: u32,
        timestamp: u32,
        codec: &str,
        packet: u8,
        keyframe: bool,
        composition_time: i32,
        payload: &[u8],
    ) -> bool {
        let Some(header) = video_header(codec, packet, keyframe, composition_time) else {
            return false;
        };
        let mut body = Vec::new();
        if tag::write_video_tag(&header, payload, &mut body).is_err() {
            return false;
        }
        self.session.send_media(
            StreamId(stream_id),
            Timestamp(timestamp),
            MediaKind::Video,
            Bytes::from(body),
        );
        true
    }

    /// An audio message: `codec` a FourCC (`Opus`, `fLaC`; `mp4a` as legacy AAC), `packet`
    /// 0 sequence start (OpusHead...), 1 coded frames, 2 sequence end.
    #[wasm_bindgen(js_name = sendAudioTag)]
    pub fn send_audio_tag(
        &mut self,
        stream_id: u32,
        timestamp: u32,
        codec: &str,
        packet: u8,
        payload: &[u8],
    ) -> bool {
        let Ok(cc) = <[u8; 4]>::try_from(codec.as_bytes()) else {
            return false;
        };
        let codec = if &cc == b"mp4a" {
            AudioCodec::Aac
        } else {
            AudioCodec::FourCc(cc)
        };
        let packet = match packet {
            0 => AudioPacketType::SequenceStart,
            1 => AudioPacketType::CodedFrames,
            2 => AudioPacketType::SequenceEnd,
            _ => return false,
        };
        let mut body = Vec::new();
        if tag::write_audio_tag(codec, packet, payload, &mut body).is_err() {
            return false;
        }
        self.session.send_media(
            StreamId(stream_id),
            Timestamp(timestamp),
            MediaKind::Audio,
            Bytes::from(body),
        );
        true
    }

    /// Routes the stream's audio and video through a remuxer (`init`/`media` events) or, when
    /// `enabled` is false, drops them (a NetStream without a media element).
    #[wasm_bindgen(js_name = enableMedia)]
    pub fn enable_media(&mut self, stream_id: u32, enabled: bool) {
        let Some(state) = self.streams.get_or_admit(stream_id) else {
            return;
        };
        match (enabled, state.pipeline.is_some()) {
            (true, false) => state.pipeline = Some(Pipeline::with_playable(self.playable.clone())),
            (false, true) => state.pipeline = None,
            _ => {}
        }
    }

    /// Starts a new media timeline (the page rebuilt its SourceBuffer, or a track was turned
    /// off with receiveAudio/receiveVideo).
    #[wasm_bindgen(js_name = resetMedia)]
    pub fn reset_media(&mut self, stream_id: u32) {
        if let Some(pipeline) = self.pipeline(stream_id) {
            pipeline.reset();
        }
    }

    /// receiveAudio/receiveVideo changed: the tracks to wait for from the next timeline on
    /// (the next reset: `resetMedia`, or the Seek.Notify of the seek that follows).
    #[wasm_bindgen(js_name = expectTracks)]
    pub fn expect_tracks(&mut self, stream_id: u32, audio: bool, video: bool) {
        if let Some(pipeline) = self.pipeline(stream_id) {
            pipeline.set_receive(audio, video);
        }
    }

    /// Writes out the held-back samples of a stream that ended; returns their events.
    #[wasm_bindgen(js_name = endMedia)]
    pub fn end_media(&mut self, stream_id: u32) -> Array {
        let out = Array::new();
        if let Some(pipeline) = self.pipeline(stream_id) {
            pipeline.end();
            pipeline.drain_into(stream_id, &out);
        }
        out
    }

    /// NetStream.bytesLoaded: audio, video and data bytes received on the stream.
    #[wasm_bindgen(js_name = bytesLoaded)]
    pub fn bytes_loaded(&self, stream_id: u32) -> f64 {
        self.streams.get(stream_id).map_or(0.0, |s| s.bytes)
    }

    /// Feeds one WebSocket message and returns every event it caused, in order. A protocol
    /// error becomes a final `protocolError` event; nothing here panics on hostile input.
    pub fn receive(&mut self, bytes: &[u8]) -> Array {
        let out = Array::new();
        if self.failed {
            return out;
        }
        let result = self.session.handle_input(bytes);
        while let Some(event) = self.session.poll_event() {
            self.on_event(event, &out);
        }
        for (id, state) in self.streams.iter_mut() {
            if let Some(pipeline) = &mut state.pipeline {
                pipeline.drain_into(*id, &out);
            }
        }
        if let Err(e) = result {
            self.failed = true;
            out.push(&object(&[
                ("type", "protocolError".into()),
                ("message", e.to_string().into()),
            ]));
        }
        out
    }

    /// Bytes to send, as one WebSocket message; `undefined` when there is nothing.
    #[wasm_bindgen(js_name = takeOutput)]
    pub fn take_output(&mut self) -> Option<Uint8Array> {
        let bytes = self.session.take_output();
        if bytes.is_empty() {
            None
        } else {
            Some(Uint8Array::from(bytes.as_slice()))
        }
    }
}

/// The header of a video tag a page publishes (see [`Connection::send_video_tag`]).
fn video_header(
    codec: &str,
    packet: u8,
    keyframe: bool,
    composition_time: i32,
) -> Option<VideoTagHeader> {
    let cc = <[u8; 4]>::try_from(codec.as_bytes()).ok()?;
    let codec = if &cc == b"avc1" {
        VideoCodec::Avc
    } else {
        VideoCodec::FourCc(cc)
    };
    let packet_type = match packet {
        0 => VideoPacketType::SequenceStart,
        1 => VideoPacketType::CodedFrames,
        2 => VideoPacketType::SequenceEnd,
        _ => return None,
    };
    Some(VideoTagHeader {
        codec,
        packet_type,
        keyframe,
        composition_time,
    })
}

impl Connection {
    fn pipeline(&mut self, stream_id: u32) -> Option<&mut Pipeline> {
        self.streams
            .get_mut(stream_id)
            .and_then(|s| s.pipeline.as_mut())
    }

    fn on_event(&mut self, event: ClientEvent, out: &Array) {
        let event = match event {
            ClientEvent::Media {
                stream_id,
                timestamp,
                kind,
                payload,
            } => {
                let Some(state) = self.streams.get_mut(stream_id.0) else {
                    return;
                };
                state.bytes += payload.len() as f64;
                let Some(pipeline) = &mut state.pipeline else {
                    return;
                };
                let track = match kind {
                    MediaKind::Audio => Track::Audio,
                    MediaKind::Video => Track::Video,
                };
                let mut errors = Vec::new();
                pipeline.push(track, timestamp.0, &payload, &mut errors);
                if errors.is_empty() {
                    return;
                }
                // Segments made before the bad tag go out before its error event.
                pipeline.drain_into(stream_id.0, out);
                for e in errors {
                    out.push(&media_error_event(stream_id.0, &e, &state.name));
                }
                return;
            }
            ClientEvent::Connected { properties, info } => object(&[
                ("type", "connected".into()),
                ("properties", to_js(&properties)),
                ("info", to_js(&info)),
            ]),
            ClientEvent::ConnectRejected { info } => {
                object(&[("type", "connectRejected".into()), ("info", to_js(&info))])
            }
            ClientEvent::StreamCreated {
                transaction_id,
                stream_id,
            } => match self.streams.admit(stream_id.0) {
                Ok(()) => object(&[
                    ("type", "streamCreated".into()),
                    ("transactionId", transaction_id.into()),
                    ("streamId", stream_id.0.into()),
                ]),
                Err(refusal) => {
                    let description = match refusal {
                        Refusal::InUse => {
                            format!("The server gave stream id {} twice.", stream_id.0)
                        }
                        Refusal::TooMany => {
                            // The server made it: give it back rather than leave it open there.
                            self.session.delete_stream(stream_id);
                            format!("More than {MAX_STREAMS} streams on one connection.")
                        }
                    };
                    // As a failed createStream, so the NetStream that asked gets NetStream.Failed.
                    let info = info_with(Status::NetStreamFailed, description, "");
                    object(&[
                        ("type", "callError".into()),
                        ("transactionId", transaction_id.into()),
                        ("commandObject", JsValue::NULL),
                        ("args", Array::of1(&info).into()),
                    ])
                }
            },
            ClientEvent::CallResult {
                transaction_id,
                command_object,
                args,
            } => object(&[
                ("type", "result".into()),
                ("transactionId", transaction_id.into()),
                ("commandObject", to_js(&command_object)),
                ("args", values_to_array(&args).into()),
            ]),
            ClientEvent::CallError {
                transaction_id,
                command_object,
                args,
            } => object(&[
                ("type", "callError".into()),
                ("transactionId", transaction_id.into()),
                ("commandObject", to_js(&command_object)),
                ("args", values_to_array(&args).into()),
            ]),
            ClientEvent::Status { stream_id, info } => {
                self.on_status(stream_id.0, &info, out);
                object(&[
                    ("type", "status".into()),
                    ("streamId", stream_id.0.into()),
                    ("info", to_js(&info)),
                ])
            }
            ClientEvent::PlayStatus {
                stream_id,
                timestamp,
                info,
            } => {
                let recorded = self.streams.get(stream_id.0).is_some_and(|s| s.recorded);
                if !is_server_play_status(&info, recorded) {
                    return;
                }
                self.on_status(stream_id.0, &info, out);
                object(&[
                    ("type", "playStatus".into()),
                    ("streamId", stream_id.0.into()),
                    ("timestamp", timestamp.0.into()),
                    ("info", to_js(&info)),
                ])
            }
            ClientEvent::Data {
                stream_id,
                timestamp,
                values,
            } => {
                if let Some(state) = self.streams.get_mut(stream_id.0) {
                    if values.first().and_then(Value::as_str) == Some("onMetaData") {
                        if let (Some(pipeline), Some(meta)) = (&mut state.pipeline, values.get(1)) {
                            pipeline.metadata(meta);
                        }
                    }
                }
                match data_event(stream_id.0, timestamp.0, values) {
                    Some(event) => event,
                    None => return,
                }
            }
            ClientEvent::UserControl(event) => {
                if let UserControl::StreamIsRecorded(id) = event {
                    if let Some(state) = self.streams.get_mut(id.0) {
                        state.recorded = true;
                    }
                }
                user_control_event(event)
            }
            ClientEvent::ServerCall {
                stream_id,
                transaction_id,
                name,
                args,
            } => object(&[
                ("type", "call".into()),
                ("streamId", stream_id.0.into()),
                ("transactionId", transaction_id.into()),
                ("name", name.into()),
                ("args", values_to_array(&args).into()),
            ]),
            ClientEvent::SharedObject { name, event } => shared_object_event(name, event),
        };
        out.push(&event);
    }

    /// Media bookkeeping that must happen in stream order, before the media that follows the
    /// status in the same batch: a reset or seek starts a new timeline; the end of a stream
    /// writes out the samples the remuxer held back.
    fn on_status(&mut self, stream_id: u32, info: &Value, out: &Array) {
        let Some(status) = info.get_str("code").and_then(Status::from_code) else {
            return;
        };
        if matches!(
            status,
            Status::NetStreamPlayStart
                | Status::NetStreamPlaySwitch
                | Status::NetStreamPlayTransitionComplete
        ) {
            // The item now playing (a queued one, a play2 transition): named in media errors.
            if let (Some(state), Some(details)) =
                (self.streams.get_mut(stream_id), info.get_str("details"))
            {
                if !details.is_empty() {
                    state.name = details.to_owned();
                }
            }
        }
        let recorded = self.streams.get(stream_id).is_some_and(|s| s.recorded);
        let Some(pipeline) = self.pipeline(stream_id) else {
            return;
        };
        match status {
            // A recorded stream resumes from the keyframe before the playhead, i.e. earlier
            // than what is buffered: a new timeline, as for a seek. (Live streams rejoin the
            // live edge later on the same timeline.)
            Status::NetStreamUnpauseNotify if recorded => {
                pipeline.drain_into(stream_id, out);
                pipeline.reset();
            }
            // The next playlist item restarts its timestamps (at its own start): a new timeline
            // even when the item before was too short for a backward jump to show.
            Status::NetStreamPlayReset
            | Status::NetStreamSeekNotify
            | Status::NetStreamPlaySwitch => {
                // Whatever the old timeline still holds goes out first, whole.
                if status == Status::NetStreamPlaySwitch {
                    pipeline.end();
                }
                pipeline.drain_into(stream_id, out);
                pipeline.reset();
            }
            Status::NetStreamPlayStop
            | Status::NetStreamPlayComplete
            | Status::NetStreamPlayUnpublishNotify => {
                pipeline.end();
                pipeline.drain_into(stream_id, out);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(code: &str) -> Value {
        Value::object([
            ("level", Value::from("status")),
            ("code", Value::from(code)),
        ])
    }

    #[test]
    fn only_the_servers_three_play_status_codes_on_a_recorded_stream_count() {
        for code in [
            "NetStream.Play.Complete",
            "NetStream.Play.Switch",
            "NetStream.Play.TransitionComplete",
        ] {
            assert!(is_server_play_status(&info(code), true), "{code}");
            // A live stream has no playlist, end or play2 transition the server would report:
            // onPlayStatus there comes from a publisher.
            assert!(!is_server_play_status(&info(code), false), "{code}");
        }
        for code in [
            "NetStream.Play.Stop",
            "NetStream.Play.Start",
            "NetStream.Seek.Notify",
            "NetStream.Failed",
            "NetConnection.Connect.Closed",
            "no such code",
        ] {
            assert!(!is_server_play_status(&info(code), true), "{code}");
        }
        assert!(!is_server_play_status(&Value::Null, true));
        assert!(!is_server_play_status(
            &Value::object([("code", Value::Number(1.0))]),
            true
        ));
    }

    #[test]
    fn published_video_headers() {
        let av1 = video_header("av01", 1, true, 0).unwrap();
        assert_eq!(av1.codec, VideoCodec::AV1);
        assert_eq!(av1.packet_type, VideoPacketType::CodedFrames);
        // H.264 goes out with the legacy header.
        assert_eq!(
            video_header("avc1", 0, true, 0).unwrap().codec,
            VideoCodec::Avc
        );
        assert!(video_header("av1", 1, true, 0).is_none());
        assert!(video_header("vp09", 7, true, 0).is_none());
    }

    #[test]
    fn stream_ids_named_by_the_server_are_bounded_and_unique() {
        let mut streams = Streams::default();
        for id in 1..=MAX_STREAMS as u32 {
            assert_eq!(streams.admit(id), Ok(()));
        }
        assert_eq!(streams.admit(1), Err(Refusal::InUse));
        assert_eq!(streams.admit(u32::MAX), Err(Refusal::TooMany));
        assert!(streams.get(u32::MAX).is_none());
        // Page commands on an unknown id make no entry past the limit either.
        assert!(streams.get_or_admit(u32::MAX).is_none());
        assert!(streams.get_or_admit(7).is_some());
        // A deleted stream frees its place, and its id may be handed out again.
        streams.remove(1);
        assert_eq!(streams.admit(u32::MAX), Ok(()));
        assert_eq!(streams.admit(1), Err(Refusal::TooMany));
    }

    #[test]
    fn an_id_in_use_is_refused_even_with_room() {
        let mut streams = Streams::default();
        assert_eq!(streams.admit(1), Ok(()));
        if let Some(state) = streams.get_mut(1) {
            state.recorded = true;
        }
        assert_eq!(streams.admit(1), Err(Refusal::InUse));
        // The stream that had the id keeps its state.
        assert!(streams.get(1).is_some_and(|s| s.recorded));
        assert!(streams.get_or_admit(2).is_some());
        assert_eq!(streams.admit(2), Err(Refusal::InUse));
    }
}
