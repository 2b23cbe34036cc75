//! [`Player`]: a remuxer on its own for `NetStream.appendBytes` (FLV bytes from anywhere) and
//! for tests, with the same events a playing stream of a `Connection` produces.

use bytes::Bytes;
use js_sys::Array;
use rtmpws_media::flv::{FlvItem, FlvReader, TagKind};
use rtmpws_protocol::amf::{self, DecodeLimits, Value};
use rtmpws_protocol::status::Status;
use wasm_bindgen::prelude::*;

use crate::convert::{from_js, object};
use crate::events::{data_event, media_error_event};
use crate::pipeline::{Pipeline, Track};
use crate::status::info_with;

/// A remuxer on its own: FLV tags or whole FLV byte streams in, init/media segments out.
/// `NetStream.appendBytes` uses it; the events are the ones a `Connection` produces for a
/// playing stream (stream id 0 here).
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
    pub fn push_video(&mut self, timestamp: u32, body: Vec<u8>) {
        self.push(Track::Video, timestamp, &Bytes::from(body));
    }

    /// One FLV audio tag body.
    #[wasm_bindgen(js_name = pushAudio)]
    pub fn push_audio(&mut self, timestamp: u32, body: Vec<u8>) {
        self.push(Track::Audio, timestamp, &Bytes::from(body));
    }

    /// Bytes of an FLV file (header first), in pieces of any size. Script tags become `data`
    /// events (onMetaData, onCuePoint); a broken container becomes one FileStructureInvalid.
    #[wasm_bindgen(js_name = pushFlv)]
    pub fn push_flv(&mut self, bytes: Vec<u8>) {
        if self.flv_failed {
            return;
        }
        self.flv.push_vec(bytes);
        loop {
            match self.flv.next_item() {
                Ok(None) => break,
                Ok(Some(FlvItem::Header(header))) => {
                    self.pipeline.announce(header.has_audio, header.has_video);
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
                                self.pending.extend(data_event(0, tag.timestamp, values));
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
        self.pipeline.announce(audio, video);
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
        self.pipeline.drain_into(0, &out);
        out
    }
}

impl Player {
    fn push(&mut self, track: Track, timestamp: u32, body: &Bytes) {
        let mut errors = Vec::new();
        self.pipeline.push(track, timestamp, body, &mut errors);
        for e in errors {
            self.pending.push(media_error_event(0, &e, &self.name));
        }
    }
}
