//! The plain JS event objects that both `connection.rs` and `player.rs` hand to the page (the
//! segment events are the pipeline's own). Kept apart so neither of those modules has to
//! import the other.

use js_sys::Array;
use rtmpws_media::RemuxError;
use rtmpws_protocol::amf::Value;
use rtmpws_protocol::status::Status;
use wasm_bindgen::prelude::*;

use crate::convert::{object, to_js};
use crate::status::info_with;

/// `{type: 'data', streamId, timestamp, name, args}` for a data message; `name` is the handler
/// (`onMetaData`, `onCuePoint`, `|RtmpSampleAccess`, a `NetStream.send` handler...).
pub(crate) fn data_event(stream_id: u32, timestamp: u32, values: Vec<Value>) -> JsValue {
    let mut values = values.into_iter();
    let name = match values.next() {
        Some(Value::String(name)) => JsValue::from_str(&name),
        Some(other) => {
            // A data message without a handler name: keep the value as the first argument.
            let args: Array = std::iter::once(other)
                .chain(values)
                .map(|v| to_js(&v))
                .collect();
            return object(&[
                ("type", "data".into()),
                ("streamId", stream_id.into()),
                ("timestamp", timestamp.into()),
                ("name", JsValue::UNDEFINED),
                ("args", args.into()),
            ]);
        }
        None => JsValue::UNDEFINED,
    };
    let args: Array = values.map(|v| to_js(&v)).collect();
    object(&[
        ("type", "data".into()),
        ("streamId", stream_id.into()),
        ("timestamp", timestamp.into()),
        ("name", name),
        ("args", args.into()),
    ])
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
