//! AMF0 (Adobe AMF0 specification): the encoding of RTMP command and data messages.
//!
//! The decoder never recurses past `DecodeLimits::max_depth`, never allocates more than the
//! input can justify, and never panics. An AVM+ marker (0x11) switches one value to AMF3.
//!
//! Decisions a caller should know:
//! - Strings must be valid UTF-8 ([`AmfError::InvalidUtf8`] otherwise): a lossy conversion would
//!   silently change stream names and URLs that are later compared byte for byte.
//! - References (0x07) are resolved by decoding the referenced value again, so the result is a
//!   tree (a reference to an object that is still being decoded, i.e. a cycle, is
//!   [`AmfError::Unsupported`]). To keep a few bytes of references from expanding into gigabytes,
//!   one decode call may produce at most about `16 * input length + 64 KiB` units of output
//!   (one unit per value plus one per string byte); past that it fails with `Unsupported`.
//!   Plain data without references never comes near that bound.
//! - The decoder recurses a few frames per nesting level (measured: about 5 KB of stack per
//!   level in debug builds, under 1 KB in release), so `max_depth` should stay in the low
//!   hundreds; the default, 64, is far more than Flash ever sends.
//! - Memory is linear in the input but not small: a `Value` is about 48 bytes, so a message of N
//!   one-byte values (nulls in a strict array) costs about 48 N bytes. Counts from the input
//!   never reserve more than the input could fill. Bound message sizes before decoding.
//! - A reference table is shared by all values of one [`decode_all`] call, as a message body is
//!   one serialisation; every AVM+ switch starts fresh AMF3 tables, as the AMF3 spec says.

use super::reader::{Budget, Reader, PREALLOC_CAP};
use super::refs::RefTable;
use super::{amf3, AmfError, DecodeLimits, Value};

const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const MOVIECLIP: u8 = 0x04;
const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const REFERENCE: u8 = 0x07;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0A;
const DATE: u8 = 0x0B;
const LONG_STRING: u8 = 0x0C;
const UNSUPPORTED: u8 = 0x0D;
const RECORDSET: u8 = 0x0E;
const XML_DOCUMENT: u8 = 0x0F;
const TYPED_OBJECT: u8 = 0x10;
const AVMPLUS: u8 = 0x11;

/// Decodes one value from the front of `bytes`; returns it with the number of bytes it used.
///
/// # Errors
///
/// Any [`AmfError`]: input ending inside the value, an unknown or unsupported marker, nesting
/// past `limits.max_depth`, invalid UTF-8, a dangling or circular reference, or references
/// expanding past the output budget described in the module docs.
pub fn decode_one(bytes: &[u8], limits: DecodeLimits) -> Result<(Value, usize), AmfError> {
    let mut decoder = Decoder::new(bytes, limits);
    let mut reader = Reader::new(bytes);
    let value = decoder.value(&mut reader, 0)?;
    Ok((value, reader.pos()))
}

/// Decodes consecutive values until `bytes` is exhausted (a command or data message body).
///
/// # Errors
///
/// As [`decode_one`], for the first value that fails; nothing is returned for the values
/// before it, as a command with a broken argument is not worth acting on.
pub fn decode_all(bytes: &[u8], limits: DecodeLimits) -> Result<Vec<Value>, AmfError> {
    let mut decoder = Decoder::new(bytes, limits);
    let mut reader = Reader::new(bytes);
    let mut values = Vec::new();
    while reader.remaining() > 0 {
        values.push(decoder.value(&mut reader, 0)?);
    }
    Ok(values)
}

/// Appends the AMF0 encoding of `value` to `out`.
///
/// Encoding cannot fail, so what AMF0 cannot express is cut to fit rather than refused: keys and
/// class names past 65535 bytes, strings and XML past 4 GiB are truncated at a char boundary;
/// arrays past `u32::MAX` elements are cut to that many; a `ByteArray` (which AMF0 lacks) is
/// written as an AVM+ switch to an AMF3 ByteArray and is cut to 2^28 - 1 bytes, the most a U29
/// length can say. Recursion follows the nesting of `value`, so very deep values built by hand
/// can exhaust the stack; decoded values are bounded by `DecodeLimits::max_depth`.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Number(n) => {
            out.push(NUMBER);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::Boolean(b) => {
            out.push(BOOLEAN);
            out.push(u8::from(*b));
        }
        Value::String(s) => {
            if s.len() <= usize::from(u16::MAX) {
                out.push(STRING);
                write_short_str(s, out);
            } else {
                out.push(LONG_STRING);
                write_long_str(s, out);
            }
        }
        Value::Object(props) => {
            out.push(OBJECT);
            write_props(props, out);
        }
        Value::TypedObject {
            class_name,
            properties,
        } => {
            out.push(TYPED_OBJECT);
            write_short_str(class_name, out);
            write_props(properties, out);
        }
        Value::EcmaArray(props) => {
            out.push(ECMA_ARRAY);
            // The count is only a hint to readers (the end marker is authoritative), so
            // saturating it is harmless.
            let count = u32::try_from(props.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            write_props(props, out);
        }
        Value::StrictArray(items) => {
            out.push(STRICT_ARRAY);
            let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            for item in items.iter().take(count as usize) {
                encode(item, out);
            }
        }
        Value::Date(ms) => {
            out.push(DATE);
            out.extend_from_slice(&ms.to_be_bytes());
            out.extend_from_slice(&0i16.to_be_bytes());
        }
        Value::Null => out.push(NULL),
        Value::Undefined => out.push(UNDEFINED),
        Value::Xml(s) => {
            out.push(XML_DOCUMENT);
            write_long_str(s, out);
        }
        Value::ByteArray(bytes) => {
            out.push(AVMPLUS);
            amf3::encode_byte_array(bytes, out);
        }
    }
}

/// Appends the AMF0 encoding of each value in turn.
pub fn encode_all(values: &[Value], out: &mut Vec<u8>) {
    for value in values {
        encode(value, out);
    }
}

fn write_props(props: &[(String, Value)], out: &mut Vec<u8>) {
    for (key, value) in props {
        write_short_str(key, out);
        encode(value, out);
    }
    out.extend_from_slice(&[0, 0, OBJECT_END]);
}

fn write_short_str(s: &str, out: &mut Vec<u8>) {
    let s = truncate_at_char(s, usize::from(u16::MAX));
    // `truncate_at_char` guarantees the length fits.
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_long_str(s: &str, out: &mut Vec<u8>) {
    let s = truncate_at_char(s, u32::MAX as usize);
    out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary, so truncation
/// never produces invalid UTF-8 that the peer would reject.
fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

fn unsupported(what: &'static str, offset: usize) -> AmfError {
    AmfError::Unsupported { what, offset }
}

struct Decoder<'a> {
    input: &'a [u8],
    max_depth: usize,
    budget: Budget,
    refs: RefTable,
    /// Non-zero while a reference is being re-decoded: the values met then are already in the
    /// table and must not be added twice.
    replaying: usize,
}

impl<'a> Decoder<'a> {
    fn new(input: &'a [u8], limits: DecodeLimits) -> Self {
        Decoder {
            input,
            max_depth: limits.max_depth,
            budget: Budget::for_input(input.len()),
            // References are 16-bit, so later entries could never be used.
            refs: RefTable::new(0, usize::from(u16::MAX) + 1),
            replaying: 0,
        }
    }

    /// Decodes the value at the reader; `depth` is the number of containers around it.
    ///
    /// Kept to scalars and dispatch: this recursion runs `max_depth` deep, and one large
    /// `match` costs kilobytes of stack per level in debug and wasm builds.
    fn value(&mut self, r: &mut Reader<'a>, depth: usize) -> Result<Value, AmfError> {
        let at = r.pos();
        let marker = r.read_u8()?;
        self.budget.charge(1, at)?;
        Ok(match marker {
            NUMBER => Value::Number(r.read_f64()?),
            BOOLEAN => Value::Boolean(r.read_u8()? != 0),
            STRING => {
                let len = usize::from(r.read_u16()?);
                Value::String(self.string(r, len)?)
            }
            LONG_STRING => {
                let len = r.read_u32()? as usize;
                Value::String(self.string(r, len)?)
            }
            XML_DOCUMENT => {
                let len = r.read_u32()? as usize;
                Value::Xml(self.string(r, len)?)
            }
            NULL => Value::Null,
            UNDEFINED | UNSUPPORTED => Value::Undefined,
            DATE => {
                let ms = r.read_f64()?;
                // The time zone is reserved and always 0 (AMF0 spec 2.13).
                r.read_u16()?;
                Value::Date(ms)
            }
            OBJECT | TYPED_OBJECT | ECMA_ARRAY | STRICT_ARRAY => {
                return self.container(r, marker, at, depth)
            }
            REFERENCE => {
                let index = usize::from(r.read_u16()?);
                return self.resolve(index, at, depth);
            }
            AVMPLUS => {
                let (value, end) = amf3::decode_embedded(
                    self.input,
                    r.pos(),
                    depth,
                    self.max_depth,
                    &mut self.budget,
                )?;
                r.seek(end)?;
                value
            }
            MOVIECLIP => return Err(unsupported("AMF0 movieclip", at)),
            RECORDSET => return Err(unsupported("AMF0 recordset", at)),
            OBJECT_END => return Err(unsupported("AMF0 object-end marker outside an object", at)),
            marker => {
                return Err(AmfError::UnknownMarker {
                    version: 0,
                    marker,
                    offset: at,
                })
            }
        })
    }

    fn container(
        &mut self,
        r: &mut Reader<'a>,
        marker: u8,
        at: usize,
        depth: usize,
    ) -> Result<Value, AmfError> {
        let slot = self.enter(at, depth)?;
        let value = match marker {
            OBJECT => Value::Object(self.props(r, depth + 1)?),
            TYPED_OBJECT => {
                let len = usize::from(r.read_u16()?);
                let class_name = self.string(r, len)?;
                let properties = self.props(r, depth + 1)?;
                Value::TypedObject {
                    class_name,
                    properties,
                }
            }
            ECMA_ARRAY => {
                // The count is only a hint and is often wrong in the wild; the end marker ends
                // the array, so the count is neither trusted nor used to reserve memory.
                r.read_u32()?;
                Value::EcmaArray(self.props(r, depth + 1)?)
            }
            _ => {
                let count = r.read_u32()? as usize;
                // Every element takes at least one byte, so a count the input cannot hold is
                // refused at once instead of after decoding what is there.
                if count > r.remaining() {
                    return Err(AmfError::Truncated { offset: at });
                }
                let mut items = Vec::with_capacity(count.min(PREALLOC_CAP));
                for _ in 0..count {
                    items.push(self.value(r, depth + 1)?);
                }
                Value::StrictArray(items)
            }
        };
        self.refs.complete(slot);
        Ok(value)
    }

    /// Reads `key, value` pairs up to the empty key and object-end marker that close an object,
    /// typed object or ECMA array. `depth` is the depth of the values.
    fn props(
        &mut self,
        r: &mut Reader<'a>,
        depth: usize,
    ) -> Result<Vec<(String, Value)>, AmfError> {
        let mut props = Vec::new();
        loop {
            let len = usize::from(r.read_u16()?);
            if len == 0 && r.peek_u8()? == OBJECT_END {
                r.read_u8()?;
                return Ok(props);
            }
            // An empty key not followed by the end marker is a property named "" (which
            // encoders do write), not an error.
            let key = self.string(r, len)?;
            let value = self.value(r, depth)?;
            props.push((key, value));
        }
    }

    fn string(&mut self, r: &mut Reader<'a>, len: usize) -> Result<String, AmfError> {
        let at = r.pos();
        let bytes = r.take(len)?;
        self.budget.charge(len, at)?;
        let s = std::str::from_utf8(bytes).map_err(|_| AmfError::InvalidUtf8 { offset: at })?;
        Ok(s.to_owned())
    }

    /// Checks the depth of a container starting at `at` and gives it a reference slot.
    fn enter(&mut self, at: usize, depth: usize) -> Result<Option<usize>, AmfError> {
        if depth >= self.max_depth {
            return Err(AmfError::TooDeep {
                max_depth: self.max_depth,
                offset: at,
            });
        }
        // While replaying, everything met is already in the table.
        if self.replaying > 0 {
            return Ok(None);
        }
        Ok(self.refs.reserve(at))
    }

    /// Decodes the referenced value again where the reference stands, so depth limits and the
    /// output budget apply to the copy exactly as to the original.
    fn resolve(&mut self, index: usize, at: usize, depth: usize) -> Result<Value, AmfError> {
        let start = self.refs.start_of(index, at)?;
        let mut replay = Reader::at(self.input, start)?;
        self.replaying += 1;
        let value = self.value(&mut replay, depth);
        self.replaying -= 1;
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> DecodeLimits {
        DecodeLimits::default()
    }

    fn enc(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(value, &mut out);
        out
    }

    fn round_trip(value: &Value) {
        let bytes = enc(value);
        let (decoded, used) = decode_one(&bytes, limits()).expect("decodes");
        assert_eq!(&decoded, value);
        assert_eq!(used, bytes.len());
    }

    fn rich() -> Value {
        Value::object([
            ("num", Value::Number(-1.5)),
            ("t", Value::Boolean(true)),
            ("f", Value::Boolean(false)),
            ("s", Value::from("héllo ✓")),
            ("empty", Value::from("")),
            ("null", Value::Null),
            ("undef", Value::Undefined),
            ("date", Value::Date(1_700_000_000_123.0)),
            ("xml", Value::Xml("<a b=\"c\"/>".into())),
            ("bytes", Value::ByteArray(vec![0, 1, 2, 255])),
            (
                "ecma",
                Value::EcmaArray(vec![
                    ("z".into(), Value::Number(1.0)),
                    ("a".into(), Value::Number(2.0)),
                    ("m".into(), Value::Null),
                ]),
            ),
            (
                "strict",
                Value::StrictArray(vec![
                    Value::Number(1.0),
                    Value::from("two"),
                    Value::StrictArray(vec![]),
                    Value::object([("deep", Value::object([("er", Value::Null)]))]),
                ]),
            ),
            (
                "typed",
                Value::TypedObject {
                    class_name: "flex.Thing".into(),
                    properties: vec![("x".into(), Value::Number(3.0))],
                },
            ),
            ("", Value::from("empty key")),
            ("long", Value::String("x".repeat(70_000))),
        ])
    }

    #[test]
    fn round_trips_every_type() {
        for value in [
            Value::Number(0.0),
            Value::Number(f64::INFINITY),
            Value::Boolean(true),
            Value::from("abc"),
            Value::from(""),
            Value::Null,
            Value::Undefined,
            Value::Date(0.0),
            Value::Xml(String::new()),
            Value::ByteArray(vec![]),
            Value::ByteArray((0..=255).collect()),
            Value::Object(vec![]),
            Value::EcmaArray(vec![]),
            Value::StrictArray(vec![]),
            Value::TypedObject {
                class_name: "C".into(),
                properties: vec![],
            },
            rich(),
        ] {
            round_trip(&value);
        }
    }

    #[test]
    fn ecma_array_keeps_key_order() {
        let keys = ["zeta", "alpha", "mu", "beta", "0", "10", "2"];
        let value = Value::EcmaArray(
            keys.iter()
                .map(|k| ((*k).to_owned(), Value::from(*k)))
                .collect(),
        );
        let (decoded, _) = decode_one(&enc(&value), limits()).unwrap();
        let Value::EcmaArray(props) = decoded else {
            panic!("not an ECMA array")
        };
        let got: Vec<&str> = props.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(got, keys);
    }

    #[test]
    fn connect_command_bytes() {
        let values = vec![
            Value::from("connect"),
            Value::Number(1.0),
            Value::object([
                ("app", Value::from("live")),
                ("tcUrl", Value::from("rtmp://localhost/live")),
            ]),
        ];
        let mut expected = vec![0x02, 0x00, 0x07];
        expected.extend_from_slice(b"connect");
        expected.extend_from_slice(&[0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]);
        expected.push(0x03);
        expected.extend_from_slice(&[0x00, 0x03]);
        expected.extend_from_slice(b"app");
        expected.extend_from_slice(&[0x02, 0x00, 0x04]);
        expected.extend_from_slice(b"live");
        expected.extend_from_slice(&[0x00, 0x05]);
        expected.extend_from_slice(b"tcUrl");
        expected.extend_from_slice(&[0x02, 0x00, 0x15]);
        expected.extend_from_slice(b"rtmp://localhost/live");
        expected.extend_from_slice(&[0x00, 0x00, 0x09]);

        let mut out = Vec::new();
        encode_all(&values, &mut out);
        assert_eq!(out, expected);
        let decoded = decode_all(&expected, limits()).unwrap();
        assert_eq!(decoded, values);
        assert_eq!(decoded[2].get_str("tcUrl"), Some("rtmp://localhost/live"));
    }

    #[test]
    fn long_string_switch() {
        let short = Value::String("a".repeat(65_535));
        let bytes = enc(&short);
        assert_eq!(&bytes[..3], &[STRING, 0xFF, 0xFF]);
        assert_eq!(bytes.len(), 3 + 65_535);
        round_trip(&short);

        let long = Value::String("a".repeat(65_536));
        let bytes = enc(&long);
        assert_eq!(&bytes[..5], &[LONG_STRING, 0x00, 0x01, 0x00, 0x00]);
        assert_eq!(bytes.len(), 5 + 65_536);
        round_trip(&long);
    }

    #[test]
    fn long_keys_are_truncated_at_a_char_boundary() {
        // 'é' is two bytes: 32_768 of them are 65_536 bytes, one too many.
        let key = "é".repeat(32_768);
        let value = Value::Object(vec![(key.clone(), Value::Null)]);
        let (decoded, _) = decode_one(&enc(&value), limits()).unwrap();
        let Value::Object(props) = decoded else {
            panic!("not an object")
        };
        assert_eq!(props[0].0.len(), 65_534);
        assert!(key.starts_with(&props[0].0));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = enc(&rich());
        for len in 0..bytes.len() {
            match decode_one(&bytes[..len], limits()) {
                Err(AmfError::Truncated { offset }) => assert!(offset <= len),
                other => panic!("prefix of {len} bytes gave {other:?}"),
            }
        }
        // Prefixes of a sequence either fail or stop at a value boundary.
        let mut seq = Vec::new();
        encode_all(
            &[Value::from("connect"), Value::Number(1.0), rich()],
            &mut seq,
        );
        for len in 0..seq.len() {
            if let Ok(values) = decode_all(&seq[..len], limits()) {
                assert!(values.len() < 3);
            }
        }
    }

    fn assert_too_deep(bytes: &[u8]) {
        match decode_one(bytes, limits()) {
            Err(AmfError::TooDeep { max_depth: 64, .. }) => {}
            other => panic!("expected TooDeep, got {other:?}"),
        }
        assert!(matches!(
            decode_all(bytes, limits()),
            Err(AmfError::TooDeep { .. })
        ));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        // A bare run of 0x03: each object's first key is 0x0303 bytes of 0x03, then the next
        // object starts, so they do nest (129 levels).
        assert_too_deep(&vec![OBJECT; 100_000]);
        // Bare runs of the other container markers fail earlier (a count of 0x0A0A0A0A that
        // the input cannot hold; keys too long to nest deeply): an error, not a crash.
        for marker in [STRICT_ARRAY, ECMA_ARRAY, TYPED_OBJECT, AVMPLUS] {
            assert!(decode_all(&vec![marker; 100_000], limits()).is_err());
        }
        // Objects that really nest one inside the other: {"a": {"a": ...}}.
        assert_too_deep(&[OBJECT, 0x00, 0x01, b'a'].repeat(100_000));
        // Strict arrays of one element, each holding the next.
        assert_too_deep(&[STRICT_ARRAY, 0, 0, 0, 1].repeat(100_000));
        // AMF3 arrays behind an AVM+ switch share the same budget.
        let mut amf3 = vec![STRICT_ARRAY, 0, 0, 0, 1, AVMPLUS];
        amf3.extend([0x09, 0x03, 0x01].repeat(100_000));
        assert_too_deep(&amf3);
    }

    #[test]
    fn depth_limit_is_exact() {
        let nest = |levels: usize| {
            let mut v = Value::Null;
            for _ in 0..levels {
                v = Value::StrictArray(vec![v]);
            }
            enc(&v)
        };
        let tight = DecodeLimits {
            max_depth: 3,
            ..DecodeLimits::default()
        };
        assert!(decode_one(&nest(3), tight).is_ok());
        assert!(matches!(
            decode_one(&nest(4), tight),
            Err(AmfError::TooDeep { max_depth: 3, .. })
        ));
        let flat = DecodeLimits {
            max_depth: 0,
            ..DecodeLimits::default()
        };
        assert!(decode_one(&enc(&Value::from("scalar")), flat).is_ok());
        assert!(decode_one(&nest(1), flat).is_err());
    }

    #[test]
    fn hostile_strict_array_count_fails_fast() {
        let bytes = [
            STRICT_ARRAY,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            NULL,
            NULL,
            NULL,
            NULL,
            NULL,
        ];
        let start = std::time::Instant::now();
        assert!(matches!(
            decode_one(&bytes, limits()),
            Err(AmfError::Truncated { .. })
        ));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn sixteen_megabytes_of_nulls() {
        let count = 16 * 1024 * 1024 - 5;
        let mut bytes = vec![STRICT_ARRAY];
        bytes.extend_from_slice(&(count as u32).to_be_bytes());
        bytes.resize(16 * 1024 * 1024, NULL);
        let (value, used) = decode_one(&bytes, limits()).unwrap();
        assert_eq!(used, bytes.len());
        let Value::StrictArray(items) = value else {
            panic!("not a strict array")
        };
        assert_eq!(items.len(), count);
        // Growth is driven by elements actually present, so capacity stays within a factor
        // of two of them.
        assert!(items.capacity() <= 2 * count);

        // The same count with the bytes spent on one long string instead: nothing is reserved
        // for the elements that are not there.
        let mut lying = vec![STRICT_ARRAY];
        lying.extend_from_slice(&(count as u32).to_be_bytes());
        lying.push(LONG_STRING);
        lying.extend_from_slice(&((count - 5) as u32).to_be_bytes());
        lying.resize(16 * 1024 * 1024, b'a');
        assert!(matches!(
            decode_one(&lying, limits()),
            Err(AmfError::Truncated { .. })
        ));
    }

    #[test]
    fn ecma_array_count_is_only_a_hint() {
        let mut bytes = vec![ECMA_ARRAY, 0x00, 0x00, 0x03, 0xE8];
        for (k, n) in [(b'a', 1.0f64), (b'b', 2.0)] {
            bytes.extend_from_slice(&[0x00, 0x01, k, NUMBER]);
            bytes.extend_from_slice(&n.to_be_bytes());
        }
        bytes.extend_from_slice(&[0x00, 0x00, OBJECT_END]);
        let (value, used) = decode_one(&bytes, limits()).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(
            value,
            Value::EcmaArray(vec![
                ("a".into(), Value::Number(1.0)),
                ("b".into(), Value::Number(2.0)),
            ])
        );
        // A count of zero with pairs present is just as wrong, and just as fine.
        bytes[1..5].copy_from_slice(&[0, 0, 0, 0]);
        assert_eq!(decode_one(&bytes, limits()).unwrap().0, value);
    }

    #[test]
    fn errors_carry_offsets() {
        let bytes = [NULL, NULL, 0x42];
        assert_eq!(
            decode_all(&bytes, limits()),
            Err(AmfError::UnknownMarker {
                version: 0,
                marker: 0x42,
                offset: 2
            })
        );
        assert!(matches!(
            decode_one(&[MOVIECLIP], limits()),
            Err(AmfError::Unsupported { offset: 0, .. })
        ));
        assert!(matches!(
            decode_one(&[RECORDSET], limits()),
            Err(AmfError::Unsupported { .. })
        ));
        assert!(matches!(
            decode_one(&[OBJECT_END], limits()),
            Err(AmfError::Unsupported { .. })
        ));
        assert_eq!(
            decode_one(&[NULL, STRING, 0x00, 0x02, 0xC3, 0x28], limits()).map(|v| v.1),
            Ok(1)
        );
        assert_eq!(
            decode_all(&[NULL, STRING, 0x00, 0x02, 0xC3, 0x28], limits()),
            Err(AmfError::InvalidUtf8 { offset: 4 })
        );
        assert_eq!(
            decode_one(&[NUMBER, 0, 0], limits()),
            Err(AmfError::Truncated { offset: 1 })
        );
    }

    #[test]
    fn misc_markers() {
        assert_eq!(
            decode_one(&[UNSUPPORTED], limits()).unwrap(),
            (Value::Undefined, 1)
        );
        // The date's time zone is read and dropped.
        let mut date = vec![DATE];
        date.extend_from_slice(&1000.0f64.to_be_bytes());
        date.extend_from_slice(&[0xFF, 0x88]);
        assert_eq!(
            decode_one(&date, limits()).unwrap(),
            (Value::Date(1000.0), 11)
        );
        // Booleans are true for any non-zero byte.
        assert_eq!(
            decode_one(&[BOOLEAN, 7], limits()).unwrap().0,
            Value::Boolean(true)
        );
    }

    #[test]
    fn references_resolve_to_earlier_complex_values() {
        // [ {a: 1}, ref 1 ]: the array is reference 0, the object reference 1.
        let inner = Value::object([("a", Value::Number(1.0))]);
        let mut bytes = vec![STRICT_ARRAY, 0, 0, 0, 2];
        bytes.extend(enc(&inner));
        bytes.extend_from_slice(&[REFERENCE, 0x00, 0x01]);
        let (value, used) = decode_one(&bytes, limits()).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(
            value,
            Value::StrictArray(vec![inner.clone(), inner.clone()])
        );

        // Across the values of one message body.
        let mut seq = enc(&inner);
        seq.extend_from_slice(&[REFERENCE, 0x00, 0x00]);
        assert_eq!(
            decode_all(&seq, limits()).unwrap(),
            vec![inner.clone(), inner]
        );

        // Unknown index, and the array referring to itself while being decoded.
        assert_eq!(
            decode_one(&[REFERENCE, 0x00, 0x00], limits()),
            Err(AmfError::BadReference {
                version: 0,
                index: 0,
                offset: 0
            })
        );
        assert!(matches!(
            decode_one(&[STRICT_ARRAY, 0, 0, 0, 1, REFERENCE, 0, 0], limits()),
            Err(AmfError::Unsupported { .. })
        ));
    }

    #[test]
    fn references_cannot_amplify_without_bound() {
        // Each array holds two references to the previous one: 2^n output from 8n bytes input.
        let mut bytes = vec![STRICT_ARRAY, 0, 0, 0, 1, NULL];
        for i in 0u16..40 {
            bytes.extend_from_slice(&[STRICT_ARRAY, 0, 0, 0, 2, REFERENCE]);
            bytes.extend_from_slice(&i.to_be_bytes());
            bytes.push(REFERENCE);
            bytes.extend_from_slice(&i.to_be_bytes());
        }
        let start = std::time::Instant::now();
        let result = decode_all(&bytes, limits());
        assert!(
            matches!(result, Err(AmfError::Unsupported { .. })),
            "{result:?}"
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(5));

        // References also keep the depth limit: nesting through them counts.
        let mut deep = Vec::new();
        for i in 0u16..100 {
            deep.extend_from_slice(&[STRICT_ARRAY, 0, 0, 0, 1]);
            if i == 0 {
                deep.push(NULL);
            } else {
                deep.push(REFERENCE);
                deep.extend_from_slice(&(i - 1).to_be_bytes());
            }
        }
        assert!(matches!(
            decode_all(&deep, limits()),
            Err(AmfError::TooDeep { .. })
        ));
    }

    #[test]
    fn avmplus_switch_inside_amf0() {
        // connect(..., null, AMF3 {app: "live", objectEncoding: 3}) as an objectEncoding-3
        // client sends it, then plain AMF0 again.
        let mut bytes = enc(&Value::from("connect"));
        bytes.extend(enc(&Value::Number(1.0)));
        bytes.push(NULL);
        bytes.push(AVMPLUS);
        bytes.extend_from_slice(&[0x0A, 0x0B, 0x01]); // object, dynamic anonymous traits
        bytes.extend_from_slice(&[0x07, b'a', b'p', b'p', 0x06, 0x09, b'l', b'i', b'v', b'e']);
        bytes.extend_from_slice(&[0x1D]);
        bytes.extend_from_slice(b"objectEncoding");
        bytes.extend_from_slice(&[0x04, 0x03, 0x01]);
        bytes.extend(enc(&Value::Boolean(true)));
        let values = decode_all(&bytes, limits()).unwrap();
        assert_eq!(
            values,
            vec![
                Value::from("connect"),
                Value::Number(1.0),
                Value::Null,
                Value::object([
                    ("app", Value::from("live")),
                    ("objectEncoding", Value::Number(3.0)),
                ]),
                Value::Boolean(true),
            ]
        );
        // Offsets of AMF3 errors are relative to the whole AMF0 input.
        assert_eq!(
            decode_all(&[NULL, AVMPLUS, 0x06, 0x02], limits()),
            Err(AmfError::BadReference {
                version: 3,
                index: 1,
                offset: 3
            })
        );
        assert_eq!(
            decode_all(&[NULL, AVMPLUS, 0x06, 0x07, b'a'], limits()),
            Err(AmfError::Truncated { offset: 4 })
        );
    }

    /// xorshift64*: deterministic, dependency-free noise.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn fuzz_does_not_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let small = DecodeLimits {
            max_depth: 16,
            ..DecodeLimits::default()
        };
        for _ in 0..20_000 {
            let len = rng.below(65);
            // Bias towards markers so the decoder gets past the first byte.
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.below(4) {
                    0 => rng.below(0x13) as u8,
                    1 => 0,
                    _ => rng.next() as u8,
                })
                .collect();
            let _ = decode_all(&bytes, small);
            let _ = decode_one(&bytes, limits());
        }
        let mut seeds = vec![enc(&rich())];
        let mut connect = Vec::new();
        encode_all(
            &[
                Value::from("connect"),
                Value::Number(1.0),
                Value::object([("app", Value::from("live"))]),
                Value::StrictArray(vec![Value::Null, Value::Date(1.0)]),
            ],
            &mut connect,
        );
        seeds.push(connect);
        for i in 0..20_000 {
            let mut bytes = seeds[i % seeds.len()].clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len());
                match rng.below(3) {
                    0 => bytes[at] = rng.next() as u8,
                    1 => bytes.truncate(at),
                    _ => bytes.insert(at, rng.below(0x13) as u8),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            if let Ok(values) = decode_all(&bytes, limits()) {
                // Whatever decodes must encode again without trouble.
                let mut out = Vec::new();
                encode_all(&values, &mut out);
            }
        }
    }
}
