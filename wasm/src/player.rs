//! The media side: FLV tag bodies in, MSE-ready segments out, as batches of JS events.
//!
//! [`Pipeline`] is what a playing NetStream feeds; [`Connection`](crate::Connection) owns one per
//! stream so media never crosses into JS before it is a segment. [`Player`] exposes the same
//! pipeline on its own, for `NetStream.appendBytes` (FLV bytes from anywhere) and for tests.

use js_sys::{Array, Uint8Array};
use rtmpws_media::flv::{FlvItem, FlvReader, TagKind};
use rtmpws_media::{RemuxConfig, RemuxError, RemuxOutput, Remuxer};
use rtmpws_protocol::amf::{self, DecodeLimits, Value};
use rtmpws_protocol::status::Status;
use wasm_bindgen::prelude::*;

use crate::convert::{from_js, object};
use crate::status::info_with;

/// A timestamp this far (ms) behind the newest one of its track means a new timeline (a new
/// publisher, the next playlist item): the remuxer is reset rather than fed samples that would
/// all collapse onto its last decode time.
const BACKWARD_JUMP_MS: u32 = 1000;

/// Audio or video, as the pipeline sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    Audio,
    Video,
}

/// One stream's remuxer with the bookkeeping the JS media sink needs.
pub struct Pipeline {
    remuxer: Remuxer,
    /// Incremented on every reset: the sink starts a new epoch (a new `timestampOffset`) when
    /// the timeline of the segments it receives changes, since each timeline restarts at 0.
    timeline: u32,
    last_audio: Option<u32>,
    last_video: Option<u32>,
    /// Errors already reported since the last reset: a corrupt stream yields one event per
    /// kind, not one per tag.
    reported_invalid: bool,
    reported_unsupported: bool,
    /// Whether anything was pushed since the last drain (saves a flush per empty batch).
    dirty: bool,
    /// Newest media timestamp seen (ms), for the arrival-time latency estimate.
    newest: Option<u32>,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline::new()
    }
}

impl Pipeline {
    pub fn new() -> Self {
        Pipeline {
            remuxer: Remuxer::new(RemuxConfig::default()),
            timeline: 0,
            last_audio: None,
            last_video: None,
            reported_invalid: false,
            reported_unsupported: false,
            dirty: false,
            newest: None,
        }
    }

    /// Forgets timing and starts a new timeline (play, seek, a stream that restarts).
    pub fn reset(&mut self) {
        self.remuxer.reset();
        self.timeline = self.timeline.wrapping_add(1);
        self.last_audio = None;
        self.last_video = None;
        self.reported_invalid = false;
        self.reported_unsupported = false;
        self.newest = None;
    }

    /// Which tracks the stream announced (onMetaData), so a single-track stream starts at once.
    pub fn expect_tracks(&mut self, audio: bool, video: bool) {
        self.remuxer.expect_tracks(audio, video);
        self.dirty = true;
    }

    /// Reads hasAudio/hasVideo, or failing those the codec ids, from an onMetaData object.
    pub fn metadata(&mut self, meta: &Value) {
        let flag = |has: &str, codec: &str| {
            meta.get(has)
                .and_then(Value::as_bool)
                .or_else(|| meta.get(codec).map(|_| true))
        };
        let audio = flag("hasAudio", "audiocodecid");
        let video = flag("hasVideo", "videocodecid");
        if audio.is_some() || video.is_some() {
            self.expect_tracks(audio.unwrap_or(false), video.unwrap_or(false));
        }
    }

    /// Feeds one FLV audio or video tag body. A rejected tag becomes (at most) one error event.
    pub fn push(
        &mut self,
        track: Track,
        timestamp: u32,
        body: &[u8],
        errors: &mut Vec<RemuxError>,
    ) {
        let last = match track {
            Track::Audio => &mut self.last_audio,
            Track::Video => &mut self.last_video,
        };
        if last.is_some_and(|last| last.saturating_sub(timestamp) > BACKWARD_JUMP_MS) {
            // Flush what the old timeline still holds, then start over.
            self.remuxer.flush(true);
            self.reset();
        }
        let last = match track {
            Track::Audio => &mut self.last_audio,
            Track::Video => &mut self.last_video,
        };
        *last = Some(timestamp);
        self.newest = Some(self.newest.map_or(timestamp, |n| n.max(timestamp)));
        let result = match track {
            Track::Audio => self.remuxer.push_audio(timestamp, body),
            Track::Video => self.remuxer.push_video(timestamp, body),
        };
        self.dirty = true;
        if let Err(e) = result {
            let first = if e.is_unsupported_codec() {
                !std::mem::replace(&mut self.reported_unsupported, true)
            } else {
                !std::mem::replace(&mut self.reported_invalid, true)
            };
            if first {
                errors.push(e);
            }
        }
    }

    /// Ends the stream: the held-back samples are written too.
    pub fn end(&mut self) {
        self.remuxer.flush(true);
        self.dirty = true;
    }

    /// Turns everything the remuxer has ready into events on `out`. Consecutive media
    /// segments are concatenated (a SourceBuffer accepts moof+mdat pairs back to back), so a
    /// batch costs one `appendBuffer`.
    pub fn drain(&mut self, stream_id: u32, out: &Array) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        self.remuxer.flush(false);
        let mut media: Option<(Vec<u8>, f64, f64, bool)> = None;
        while let Some(output) = self.remuxer.poll_output() {
            match output {
                RemuxOutput::Init {
                    mime,
                    data,
                    has_audio,
                    has_video,
                    width,
                    height,
                } => {
                    self.emit_media(stream_id, media.take(), out);
                    out.push(&object(&[
                        ("type", "init".into()),
                        ("streamId", stream_id.into()),
                        ("timeline", self.timeline.into()),
                        ("mime", mime.into()),
                        ("data", Uint8Array::from(data.as_slice()).into()),
                        ("hasAudio", has_audio.into()),
                        ("hasVideo", has_video.into()),
                        ("width", width.into()),
                        ("height", height.into()),
                    ]));
                }
                RemuxOutput::Media {
                    data,
                    start_ms,
                    end_ms,
                    has_keyframe,
                } => match &mut media {
                    Some((bytes, start, end, keyframe)) => {
                        bytes.extend_from_slice(&data);
                        *start = start.min(start_ms);
                        *end = end.max(end_ms);
                        *keyframe |= has_keyframe;
                    }
                    None => media = Some((data, start_ms, end_ms, has_keyframe)),
                },
            }
        }
        self.emit_media(stream_id, media, out);
    }

    fn emit_media(&self, stream_id: u32, media: Option<(Vec<u8>, f64, f64, bool)>, out: &Array) {
        let Some((data, start_ms, end_ms, keyframe)) = media else {
            return;
        };
        let base = self.remuxer.timeline_base_ms().map_or(0.0, f64::from);
        out.push(&object(&[
            ("type", "media".into()),
            ("streamId", stream_id.into()),
            ("timeline", self.timeline.into()),
            ("data", Uint8Array::from(data.as_slice()).into()),
            ("startMs", start_ms.into()),
            ("endMs", end_ms.into()),
            ("baseMs", base.into()),
            ("keyframe", keyframe.into()),
            (
                "newestMs",
                self.newest
                    .map_or(JsValue::UNDEFINED, |n| f64::from(n).into()),
            ),
        ]));
    }
}

/// The event for a tag the remuxer rejected: NetStream.Play.NoSupportedTrackFound when no
/// track is playable, NetStream.Play.FileStructureInvalid for malformed media.
pub fn media_error_event(stream_id: u32, error: &RemuxError, name: &str) -> JsValue {
    let status = if error.is_unsupported_codec() {
        Status::NetStreamPlayNoSupportedTrackFound
    } else {
        Status::NetStreamPlayFileStructureInvalid
    };
    object(&[
        ("type", "mediaError".into()),
        ("streamId", stream_id.into()),
        ("info", info_with(status, error.to_string(), name)),
    ])
}

/// A remuxer on its own: FLV tags or whole FLV byte streams in, init/media segments out.
/// `NetStream.appendBytes` uses it; the events are the ones [`Connection`](crate::Connection)
/// produces for a playing stream (stream id 0 here).
#[wasm_bindgen]
pub struct Player {
    pipeline: Pipeline,
    flv: FlvReader,
    /// Set when the FLV byte stream is broken beyond recovery; reported once.
    flv_failed: bool,
    name: String,
    pending: Vec<JsValue>,
}

impl Default for Player {
    fn default() -> Self {
        Player::new()
    }
}

#[wasm_bindgen]
impl Player {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Player {
        Player {
            pipeline: Pipeline::new(),
            // Tags of an appended byte stream are bounded like RTMP messages.
            flv: FlvReader::with_max_tag_size(8 << 20),
            flv_failed: false,
            name: String::new(),
            pending: Vec::new(),
        }
    }

    /// The name put in the `details` of error events.
    #[wasm_bindgen(js_name = setName)]
    pub fn set_name(&mut self, name: String) {
        self.name = name;
    }

    /// One FLV video tag body.
    #[wasm_bindgen(js_name = pushVideo)]
    pub fn push_video(&mut self, timestamp: u32, body: &[u8]) {
        self.push(Track::Video, timestamp, body);
    }

    /// One FLV audio tag body.
    #[wasm_bindgen(js_name = pushAudio)]
    pub fn push_audio(&mut self, timestamp: u32, body: &[u8]) {
        self.push(Track::Audio, timestamp, body);
    }

    /// Bytes of an FLV file (header first), in pieces of any size. Script tags become `data`
    /// events (onMetaData, onCuePoint); a broken container becomes one FileStructureInvalid.
    #[wasm_bindgen(js_name = pushFlv)]
    pub fn push_flv(&mut self, bytes: &[u8]) {
        if self.flv_failed {
            return;
        }
        self.flv.push(bytes);
        loop {
            match self.flv.next_item() {
                Ok(None) => break,
                Ok(Some(FlvItem::Header(header))) => {
                    self.pipeline
                        .expect_tracks(header.has_audio, header.has_video);
                }
                Ok(Some(FlvItem::Tag(tag))) => match tag.kind {
                    TagKind::Audio => self.push(Track::Audio, tag.timestamp, &tag.data),
                    TagKind::Video => self.push(Track::Video, tag.timestamp, &tag.data),
                    TagKind::Script => {
                        match amf::amf0::decode_all(&tag.data, DecodeLimits::default()) {
                            Ok(values) => {
                                if values.first().and_then(Value::as_str) == Some("onMetaData") {
                                    if let Some(meta) = values.get(1) {
                                        self.pipeline.metadata(meta);
                                    }
                                }
                                self.pending.push(crate::connection::data_event(
                                    0,
                                    tag.timestamp,
                                    values,
                                ));
                            }
                            // A script tag that does not decode loses only itself.
                            Err(_) => continue,
                        }
                    }
                    TagKind::Other(_) => continue,
                },
                Err(e) => {
                    self.flv_failed = true;
                    self.pending.push(object(&[
                        ("type", "mediaError".into()),
                        ("streamId", 0.into()),
                        (
                            "info",
                            info_with(
                                Status::NetStreamPlayFileStructureInvalid,
                                e.to_string(),
                                &self.name,
                            ),
                        ),
                    ]));
                    break;
                }
            }
        }
    }

    /// Announces the tracks to expect, as onMetaData would.
    #[wasm_bindgen(js_name = expectTracks)]
    pub fn expect_tracks(&mut self, audio: bool, video: bool) {
        self.pipeline.expect_tracks(audio, video);
    }

    /// Applies an onMetaData object (hasAudio/hasVideo or codec ids).
    #[wasm_bindgen(js_name = metaData)]
    pub fn meta_data(&mut self, meta: JsValue) {
        self.pipeline.metadata(&from_js(&meta));
    }

    /// Writes out everything held back (end of the data).
    pub fn end(&mut self) {
        self.pipeline.end();
    }

    /// Starts a new timeline (`appendBytesAction("resetBegin"/"resetSeek")`).
    pub fn reset(&mut self) {
        self.pipeline.reset();
        self.flv = FlvReader::with_max_tag_size(8 << 20);
        self.flv_failed = false;
    }

    /// Every event since the last call: `data`, `init`, `media`, `mediaError`.
    pub fn poll(&mut self) -> Array {
        let out: Array = self.pending.drain(..).collect();
        self.pipeline.drain(0, &out);
        out
    }
}

impl Player {
    fn push(&mut self, track: Track, timestamp: u32, body: &[u8]) {
        let mut errors = Vec::new();
        self.pipeline.push(track, timestamp, body, &mut errors);
        for e in errors {
            self.pending.push(media_error_event(0, &e, &self.name));
        }
    }
}
