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

/// Data messages named like the status handlers. A publisher's `NetStream.send` arrives as a
/// data message too, so a data message is never a status: the server's statuses are `onStatus`
/// commands, and its `onPlayStatus` data is recognised by the connection on its own terms.
const STATUS_HANDLERS: [&str; 2] = ["onStatus", "onPlayStatus"];

/// Whether a data message is named like a status handler (and is therefore dropped). This
/// costs the FMS-style `onStatus` NetStream.Data.Start data message, which nothing depends on.
pub(crate) fn is_status_shaped(values: &[Value]) -> bool {
    values
        .first()
        .and_then(Value::as_str)
        .is_some_and(|name| STATUS_HANDLERS.contains(&name))
}

/// `{type: 'data', streamId, timestamp, name, args}` for a data message; `name` is the handler
/// (`onMetaData`, `onCuePoint`, `|RtmpSampleAccess`, a `NetStream.send` handler...). `None`
/// for a status-shaped one ([`is_status_shaped`]): every data message goes through here, so
/// none can be made into a status by forgetting a check.
pub(crate) fn data_event(stream_id: u32, timestamp: u32, values: Vec<Value>) -> Option<JsValue> {
    if is_status_shaped(&values) {
        return None;
    }
    let mut values = values.into_iter();
    let name = match values.next() {
        Some(Value::String(name)) => JsValue::from_str(&name),
        Some(other) => {
            // A data message without a handler name: keep the value as the first argument.
            let args: Array = std::iter::once(other)
                .chain(values)
                .map(|v| to_js(&v))
                .collect();
            return Some(object(&[
                ("type", "data".into()),
                ("streamId", stream_id.into()),
                ("timestamp", timestamp.into()),
                ("name", JsValue::UNDEFINED),
                ("args", args.into()),
            ]));
        }
        None => JsValue::UNDEFINED,
    };
    let args: Array = values.map(|v| to_js(&v)).collect();
    Some(object(&[
        ("type", "data".into()),
        ("streamId", stream_id.into()),
        ("timestamp", timestamp.into()),
        ("name", name),
        ("args", args.into()),
    ]))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Vec<Value> {
        vec![
            Value::from(name),
            Value::object([("code", Value::from("x"))]),
        ]
    }

    #[test]
    fn status_handlers_are_status_shaped_and_nothing_else_is() {
        assert!(is_status_shaped(&named("onStatus")));
        assert!(is_status_shaped(&named("onPlayStatus")));
        assert!(is_status_shaped(&[Value::from("onPlayStatus")]));
        for name in [
            "onMetaData",
            "onCuePoint",
            "seek",
            "close",
            "onstatus",
            "onStatus ",
        ] {
            assert!(!is_status_shaped(&named(name)), "{name}");
        }
        // No handler name at all, or a name that is not a string.
        assert!(!is_status_shaped(&[]));
        assert!(!is_status_shaped(&[
            Value::Number(1.0),
            Value::from("onStatus")
        ]));
    }
}
