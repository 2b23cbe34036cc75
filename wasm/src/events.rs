//! The plain JS event objects that both `connection.rs` and `player.rs` hand to the page (the
//! segment events are the pipeline's own). Kept apart so neither of those modules has to
//! import the other.

use js_sys::Array;
use rtmpws_media::tag::Codec;
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
    let info = match error {
        // The codec is what the page needs to know (which track, which codec): it goes in
        // `details` ("hvc1", "Opus"...), the stream's name in the description.
        RemuxError::UnsupportedCodec { codec } => {
            let details = codec_name(codec);
            let description = if name.is_empty() {
                format!("{error}.")
            } else {
                format!("{name}: {error}.")
            };
            info_with(
                Status::NetStreamPlayNoSupportedTrackFound,
                description,
                &details,
            )
        }
        _ => info_with(
            Status::NetStreamPlayFileStructureInvalid,
            error.to_string(),
            name,
        ),
    };
    object(&[
        ("type", "mediaError".into()),
        ("streamId", stream_id.into()),
        ("info", info),
    ])
}

/// A codec as the page knows it: its FourCC (`hvc1`, `Opus`, `.mp3`) when it has a printable
/// one, else the remuxer's description (a legacy FLV codec id).
fn codec_name(codec: &Codec) -> String {
    let fourcc = match codec {
        Codec::Video(c) => c.fourcc(),
        Codec::Audio(c) => c.fourcc(),
    };
    match fourcc {
        Some(cc) if cc.iter().all(u8::is_ascii_graphic) => {
            cc.iter().map(|&b| char::from(b)).collect()
        }
        _ => codec.to_string(),
    }
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
    fn codecs_are_named_by_their_fourcc() {
        use rtmpws_media::tag::{AudioCodec, VideoCodec};
        assert_eq!(codec_name(&Codec::Video(VideoCodec::HEVC)), "hvc1");
        assert_eq!(codec_name(&Codec::Audio(AudioCodec::OPUS)), "Opus");
        assert_eq!(codec_name(&Codec::Audio(AudioCodec::Other(2))), ".mp3");
        // Hostile bytes are not copied into the page's strings as they are.
        let odd = codec_name(&Codec::Video(VideoCodec::FourCc([0, b'<', 0xff, b' '])));
        assert!(
            odd.starts_with("video codec") && !odd.contains('<'),
            "{odd}"
        );
        assert!(codec_name(&Codec::Video(VideoCodec::Other(4))).contains('4'));
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
