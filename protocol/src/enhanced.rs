//! Enhanced RTMP connect negotiation: what a client announces in its `connect` command object
//! (`fourCcList`, `videoFourCcInfoMap`/`audioFourCcInfoMap`, `capsEx`) and what a server that
//! forwards every codec answers in its `_result`.

use crate::amf::Value;

/// FourCcInfoMask.CanDecode.
pub const CAN_DECODE: u32 = 0x01;
/// FourCcInfoMask.CanEncode.
pub const CAN_ENCODE: u32 = 0x02;
/// FourCcInfoMask.CanForward.
pub const CAN_FORWARD: u32 = 0x04;

/// CapsExMask.Reconnect: the client handles NetConnection.Connect.ReconnectRequest.
pub const CAPS_RECONNECT: u32 = 0x01;
/// CapsExMask.Multitrack.
pub const CAPS_MULTITRACK: u32 = 0x02;
/// CapsExMask.ModEx: the client can parse ModEx signals.
pub const CAPS_MOD_EX: u32 = 0x04;
/// CapsExMask.TimestampNanoOffset.
pub const CAPS_TIMESTAMP_NANO_OFFSET: u32 = 0x08;

/// The FourCCs Enhanced RTMP defines, video then audio.
pub const FOURCCS: [&str; 12] = [
    "avc1", "hvc1", "av01", "vp09", "vp08", "vvc1", "mp4a", "Opus", "fLaC", "ac-3", "ec-3", ".mp3",
];

/// Longest list of FourCCs read from a client; real ones name a dozen.
const MAX_ANNOUNCED: usize = 64;

/// What a client announced about Enhanced RTMP. A client that announced nothing is a legacy
/// client: it may only be sent legacy FLV tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnhancedCaps {
    /// FourCCs the client named (from `fourCcList` and the info maps), "*" included.
    pub fourccs: Vec<String>,
    /// `capsEx` flags.
    pub caps_ex: u32,
}

impl EnhancedCaps {
    /// Reads the connect command object, or else the first object among connect's extra
    /// arguments that has the properties (where FFmpeg's `-rtmp_conn "O:1 NN:capsEx:7 O:0"`
    /// puts them: FFmpeg does not announce anything when it plays). `None` if neither does.
    pub fn from_connect(command_object: &Value, args: &[Value]) -> Option<EnhancedCaps> {
        std::iter::once(command_object)
            .chain(args.iter().filter(|a| matches!(a, Value::Object(_))))
            .find_map(Self::from_object)
    }

    fn from_object(command_object: &Value) -> Option<EnhancedCaps> {
        let list = command_object.get("fourCcList");
        let video = command_object.get("videoFourCcInfoMap");
        let audio = command_object.get("audioFourCcInfoMap");
        let caps_ex = command_object.get_f64("capsEx");
        if list.is_none() && video.is_none() && audio.is_none() && caps_ex.is_none() {
            return None;
        }
        let mut fourccs: Vec<String> = Vec::new();
        let mut add = |name: &str| {
            if fourccs.len() < MAX_ANNOUNCED && !fourccs.iter().any(|f| f == name) {
                fourccs.push(name.to_owned());
            }
        };
        if let Some(Value::StrictArray(items)) = list {
            items.iter().filter_map(Value::as_str).for_each(&mut add);
        }
        for map in [video, audio].into_iter().flatten() {
            if let Value::Object(fields) | Value::EcmaArray(fields) = map {
                for (name, flags) in fields {
                    if flags.as_f64().is_some_and(|f| f as u32 != 0) {
                        add(name);
                    }
                }
            }
        }
        let caps_ex = caps_ex
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map_or(0, |f| f as u32);
        Some(EnhancedCaps { fourccs, caps_ex })
    }

    /// Whether the client named this FourCC, or "*".
    pub fn accepts(&self, fourcc: &str) -> bool {
        self.fourccs.iter().any(|f| f == "*" || f == fourcc)
    }

    pub fn supports_reconnect(&self) -> bool {
        self.caps_ex & CAPS_RECONNECT != 0
    }

    pub fn supports_multitrack(&self) -> bool {
        self.caps_ex & CAPS_MULTITRACK != 0
    }
}

/// The properties a forwarding server adds to its connect `_result`: every FourCC in
/// `fourCcList`, "*" with CanForward in both info maps, and `capsEx` with Reconnect,
/// Multitrack and ModEx (the server relays ModEx and multitrack messages unchanged).
pub fn forwarding_reply() -> Vec<(&'static str, Value)> {
    let forward = || Value::object([("*", Value::Number(f64::from(CAN_FORWARD)))]);
    vec![
        (
            "fourCcList",
            Value::StrictArray(FOURCCS.iter().map(|f| Value::from(*f)).collect()),
        ),
        ("videoFourCcInfoMap", forward()),
        ("audioFourCcInfoMap", forward()),
        (
            "capsEx",
            Value::Number(f64::from(CAPS_RECONNECT | CAPS_MULTITRACK | CAPS_MOD_EX)),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_in_either_form() {
        let legacy = Value::object([("app", Value::from("live"))]);
        assert_eq!(EnhancedCaps::from_connect(&legacy, &[]), None);

        let list = Value::object([(
            "fourCcList",
            Value::StrictArray(vec!["hvc1".into(), "av01".into(), "Opus".into()]),
        )]);
        let caps = EnhancedCaps::from_connect(&list, &[]).unwrap();
        assert!(caps.accepts("hvc1") && !caps.accepts("vp09"));
        assert!(!caps.supports_reconnect());

        let maps = Value::object([
            (
                "videoFourCcInfoMap",
                Value::object([("*", Value::Number(4.0)), ("vp09", Value::Number(3.0))]),
            ),
            ("capsEx", Value::Number(3.0)),
        ]);
        let caps = EnhancedCaps::from_connect(&legacy, &[Value::Null, maps]).unwrap();
        assert!(
            caps.accepts("anything") && caps.supports_reconnect() && caps.supports_multitrack()
        );

        let huge = Value::object([(
            "fourCcList",
            Value::StrictArray(
                (0..1000)
                    .map(|i| Value::from(format!("c{i}").as_str()))
                    .collect(),
            ),
        )]);
        assert_eq!(
            EnhancedCaps::from_connect(&huge, &[])
                .unwrap()
                .fourccs
                .len(),
            MAX_ANNOUNCED
        );
        let bad = Value::object([("capsEx", Value::Number(f64::NAN))]);
        assert_eq!(EnhancedCaps::from_connect(&bad, &[]).unwrap().caps_ex, 0);
    }

    #[test]
    fn reply_names_everything_it_forwards() {
        let reply = Value::object(forwarding_reply());
        assert_eq!(reply.get_f64("capsEx"), Some(7.0));
        assert_eq!(
            reply.get("videoFourCcInfoMap").and_then(|m| m.get_f64("*")),
            Some(4.0)
        );
        let Some(Value::StrictArray(list)) = reply.get("fourCcList") else {
            panic!("no fourCcList");
        };
        assert_eq!(list.len(), FOURCCS.len());
    }
}
