//! AMF3 (Adobe AMF3 specification), as found inside AMF0 payloads after an AVM+ marker in
//! type-17/15 messages sent by objectEncoding-3 clients.
//!
//! Decisions a caller should know (the AMF0 module documents the shared ones: UTF-8 is
//! required, references are re-decoded under an output budget, recursion is bounded by
//! `max_depth`):
//! - Integers, doubles and vector elements all become [`Value::Number`].
//! - An array with an associative part becomes [`Value::EcmaArray`]: the associative pairs in wire
//!   order, then the dense elements under the keys "0", "1", ...; without one it becomes
//!   [`Value::StrictArray`].
//! - Vectors become [`Value::StrictArray`]; their fixed flag and element type name are dropped.
//! - A Dictionary becomes [`Value::EcmaArray`] when its keys are strings, numbers, booleans,
//!   null or undefined (written as text: `1`, `1.5`, `true`, `null`, ...); an object key is
//!   [`AmfError::Unsupported`], as is any externalizable object (its body is class-defined).

use std::rc::Rc;

use super::reader::{Budget, Reader, PREALLOC_CAP};
use super::refs::RefTable;
use super::{AmfError, DecodeLimits, Value};

const UNDEFINED: u8 = 0x00;
const NULL: u8 = 0x01;
const FALSE: u8 = 0x02;
const TRUE: u8 = 0x03;
const INTEGER: u8 = 0x04;
const DOUBLE: u8 = 0x05;
const STRING: u8 = 0x06;
const XML_DOC: u8 = 0x07;
const DATE: u8 = 0x08;
const ARRAY: u8 = 0x09;
const OBJECT: u8 = 0x0A;
const XML: u8 = 0x0B;
const BYTE_ARRAY: u8 = 0x0C;
const VECTOR_INT: u8 = 0x0D;
const VECTOR_UINT: u8 = 0x0E;
const VECTOR_DOUBLE: u8 = 0x0F;
const VECTOR_OBJECT: u8 = 0x10;
const DICTIONARY: u8 = 0x11;

/// Decodes one AMF3 value from the front of `bytes` with fresh reference tables; returns it with
/// the number of bytes it used.
///
/// # Errors
///
/// As [`super::amf0::decode_one`]; externalizable objects and dictionaries with object keys are
/// [`AmfError::Unsupported`].
pub fn decode_one(bytes: &[u8], limits: DecodeLimits) -> Result<(Value, usize), AmfError> {
    let mut budget = Budget::for_input(bytes.len());
    decode_embedded(bytes, 0, 0, limits.max_depth, &mut budget)
}

/// Decodes the AMF3 value at `pos` of `input` (after an AMF0 AVM+ marker) with fresh tables,
/// already `depth` containers deep, sharing the caller's output budget; returns the value and
/// the position just after it. Offsets in errors are positions in `input`.
pub(super) fn decode_embedded(
    input: &[u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
    budget: &mut Budget,
) -> Result<(Value, usize), AmfError> {
    let mut reader = Reader::at(input, pos)?;
    let mut decoder = Decoder {
        input,
        max_depth,
        budget,
        strings: Vec::new(),
        objects: RefTable::new(3, usize::MAX),
        traits: Vec::new(),
        replaying: 0,
    };
    let value = decoder.value(&mut reader, depth)?;
    Ok((value, reader.pos()))
}

/// Appends an AMF3 ByteArray (marker, inline length, bytes): how AMF0, which has no byte array
/// type, carries one after an AVM+ marker. The bytes are cut to 2^28 - 1, the most a U29 length
/// can say.
pub(super) fn encode_byte_array(bytes: &[u8], out: &mut Vec<u8>) {
    const MAX_U29_LEN: usize = (1 << 28) - 1;
    let bytes = bytes.get(..MAX_U29_LEN).unwrap_or(bytes);
    out.push(BYTE_ARRAY);
    // At most 2^28 - 1 bytes, so `len << 1 | 1` fits a U29.
    write_u29((bytes.len() as u32) << 1 | 1, out);
    out.extend_from_slice(bytes);
}

/// Appends a U29 (the low 29 bits of `value`) in the variable-length form of AMF3 section 1.3.1.
fn write_u29(value: u32, out: &mut Vec<u8>) {
    let v = value & 0x1FFF_FFFF;
    if v < 0x80 {
        out.push(v as u8);
    } else if v < 0x4000 {
        out.extend_from_slice(&[(v >> 7) as u8 | 0x80, (v & 0x7F) as u8]);
    } else if v < 0x20_0000 {
        out.extend_from_slice(&[
            (v >> 14) as u8 | 0x80,
            ((v >> 7) & 0x7F) as u8 | 0x80,
            (v & 0x7F) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            (v >> 22) as u8 | 0x80,
            ((v >> 15) & 0x7F) as u8 | 0x80,
            ((v >> 8) & 0x7F) as u8 | 0x80,
            (v & 0xFF) as u8,
        ]);
    }
}

fn read_u29(r: &mut Reader<'_>) -> Result<u32, AmfError> {
    let mut v: u32 = 0;
    for _ in 0..3 {
        let b = r.read_u8()?;
        v = (v << 7) | u32::from(b & 0x7F);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    // The fourth byte carries a full 8 bits.
    Ok((v << 8) | u32::from(r.read_u8()?))
}

/// The U29 header of dates, XML, arrays, byte arrays, vectors and dictionaries: either an inline
/// length/count or a reference into the object table.
enum Header {
    Inline(usize),
    Ref { index: usize, at: usize },
}

fn read_header(r: &mut Reader<'_>) -> Result<Header, AmfError> {
    let at = r.pos();
    let header = read_u29(r)?;
    let rest = (header >> 1) as usize;
    Ok(if header & 1 == 1 {
        Header::Inline(rest)
    } else {
        Header::Ref { index: rest, at }
    })
}

fn utf8<'a>(r: &mut Reader<'a>, len: usize) -> Result<&'a str, AmfError> {
    let at = r.pos();
    let bytes = r.take(len)?;
    std::str::from_utf8(bytes).map_err(|_| AmfError::InvalidUtf8 { offset: at })
}

/// Class traits, shared between the table and the objects using them.
struct Traits<'a> {
    class_name: &'a str,
    sealed: Vec<&'a str>,
    dynamic: bool,
}

struct Decoder<'a, 'b> {
    input: &'a [u8],
    max_depth: usize,
    budget: &'b mut Budget,
    /// Strings borrow the input: the table costs a slice per entry, not a copy.
    strings: Vec<&'a str>,
    objects: RefTable,
    traits: Vec<Rc<Traits<'a>>>,
    /// Non-zero while a reference is being re-decoded: everything met then is already in the
    /// tables, and adding it again would shift the indices later references use.
    replaying: usize,
}

impl<'a> Decoder<'a, '_> {
    /// Decodes the value at the reader; `depth` is the number of containers around it.
    ///
    /// Kept to scalars and dispatch, as are the container functions below: this recursion runs
    /// `max_depth` deep, and one large `match` costs kilobytes of stack per level in debug and
    /// wasm builds.
    fn value(&mut self, r: &mut Reader<'a>, depth: usize) -> Result<Value, AmfError> {
        let at = r.pos();
        let marker = r.read_u8()?;
        self.budget.charge(1, at)?;
        Ok(match marker {
            UNDEFINED => Value::Undefined,
            NULL => Value::Null,
            FALSE => Value::Boolean(false),
            TRUE => Value::Boolean(true),
            INTEGER => {
                // Sign-extend the 29-bit two's complement integer.
                let v = read_u29(r)?;
                Value::Number(f64::from(((v << 3) as i32) >> 3))
            }
            DOUBLE => Value::Number(r.read_f64()?),
            STRING => {
                let s = self.str(r)?;
                Value::String(self.own(s, at)?)
            }
            OBJECT => return self.object(r, at, depth),
            XML_DOC | DATE | ARRAY | XML | BYTE_ARRAY | VECTOR_INT | VECTOR_UINT
            | VECTOR_DOUBLE | VECTOR_OBJECT | DICTIONARY => {
                return self.complex(r, marker, at, depth)
            }
            marker => {
                return Err(AmfError::UnknownMarker {
                    version: 3,
                    marker,
                    offset: at,
                })
            }
        })
    }

    /// The types that share the "inline length or object reference" header.
    fn complex(
        &mut self,
        r: &mut Reader<'a>,
        marker: u8,
        at: usize,
        depth: usize,
    ) -> Result<Value, AmfError> {
        let n = match read_header(r)? {
            Header::Inline(n) => n,
            Header::Ref { index, at } => return self.replay(index, at, depth),
        };
        if matches!(
            marker,
            ARRAY | VECTOR_INT | VECTOR_UINT | VECTOR_DOUBLE | VECTOR_OBJECT | DICTIONARY
        ) {
            self.enter(at, depth)?;
        }
        let slot = self.reserve(at);
        let value = match marker {
            XML_DOC | XML => {
                let s = utf8(r, n)?;
                Value::Xml(self.own(s, at)?)
            }
            DATE => Value::Date(r.read_f64()?),
            BYTE_ARRAY => {
                let bytes = r.take(n)?;
                self.budget.charge(n, at)?;
                Value::ByteArray(bytes.to_vec())
            }
            ARRAY => self.array(r, at, depth, n)?,
            VECTOR_OBJECT => {
                r.read_u8()?; // fixed-length flag
                self.str(r)?; // element type name, "*" for any
                Value::StrictArray(self.values(r, at, depth + 1, n)?)
            }
            DICTIONARY => self.dictionary(r, at, depth, n)?,
            _ => Value::StrictArray(self.fixed_vector(r, marker, at, n)?),
        };
        self.objects.complete(slot);
        Ok(value)
    }

    /// Vector.<int>, Vector.<uint> and Vector.<Number>.
    fn fixed_vector(
        &mut self,
        r: &mut Reader<'a>,
        marker: u8,
        at: usize,
        count: usize,
    ) -> Result<Vec<Value>, AmfError> {
        r.read_u8()?; // fixed-length flag
        let width = if marker == VECTOR_DOUBLE { 8 } else { 4 };
        // Elements have a fixed width, so the count is checked against the input exactly and
        // can then size the vector.
        if count.checked_mul(width).is_none_or(|n| n > r.remaining()) {
            return Err(AmfError::Truncated { offset: at });
        }
        self.budget.charge(count, at)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(Value::Number(match marker {
                VECTOR_INT => f64::from(r.read_u32()? as i32),
                VECTOR_UINT => f64::from(r.read_u32()?),
                _ => r.read_f64()?,
            }));
        }
        Ok(items)
    }

    fn dictionary(
        &mut self,
        r: &mut Reader<'a>,
        at: usize,
        depth: usize,
        count: usize,
    ) -> Result<Value, AmfError> {
        r.read_u8()?; // weak-keys flag
                      // A key and a value take at least two bytes.
        if count > r.remaining() / 2 {
            return Err(AmfError::Truncated { offset: at });
        }
        let mut props = Vec::with_capacity(count.min(PREALLOC_CAP));
        for _ in 0..count {
            let key_at = r.pos();
            let key = match self.value(r, depth + 1)? {
                Value::String(s) => s,
                // Whole numbers only: formatting arbitrary floats would pull float printing
                // (~15 KB) into the browser client for a key type nobody sends.
                Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => (n as i64).to_string(),
                Value::Boolean(b) => b.to_string(),
                Value::Null => "null".to_owned(),
                Value::Undefined => "undefined".to_owned(),
                _ => {
                    return Err(AmfError::Unsupported {
                        what: "AMF3 dictionary with a complex key",
                        offset: key_at,
                    })
                }
            };
            let value = self.value(r, depth + 1)?;
            props.push((key, value));
        }
        Ok(Value::EcmaArray(props))
    }

    fn array(
        &mut self,
        r: &mut Reader<'a>,
        at: usize,
        depth: usize,
        dense: usize,
    ) -> Result<Value, AmfError> {
        let mut assoc = Vec::new();
        self.named_values(r, depth + 1, &mut assoc)?;
        let items = self.values(r, at, depth + 1, dense)?;
        if assoc.is_empty() {
            return Ok(Value::StrictArray(items));
        }
        for (i, item) in items.into_iter().enumerate() {
            let key = i.to_string();
            self.budget.charge(key.len(), at)?;
            assoc.push((key, item));
        }
        Ok(Value::EcmaArray(assoc))
    }

    fn object(&mut self, r: &mut Reader<'a>, at: usize, depth: usize) -> Result<Value, AmfError> {
        let header_at = r.pos();
        let header = read_u29(r)?;
        if header & 1 == 0 {
            return self.replay((header >> 1) as usize, header_at, depth);
        }
        self.enter(at, depth)?;
        let slot = self.reserve(at);
        let traits = if header & 2 == 0 {
            let index = (header >> 2) as usize;
            self.traits
                .get(index)
                .cloned()
                .ok_or(AmfError::BadReference {
                    version: 3,
                    index,
                    offset: header_at,
                })?
        } else if header & 4 != 0 {
            return Err(AmfError::Unsupported {
                what: "AMF3 externalizable object",
                offset: at,
            });
        } else {
            let count = (header >> 4) as usize;
            let class_name = self.str(r)?;
            // Each member name takes at least a byte.
            if count > r.remaining() {
                return Err(AmfError::Truncated { offset: at });
            }
            let mut sealed = Vec::with_capacity(count.min(PREALLOC_CAP));
            for _ in 0..count {
                sealed.push(self.str(r)?);
            }
            let traits = Rc::new(Traits {
                class_name,
                sealed,
                dynamic: header & 8 != 0,
            });
            if self.replaying == 0 {
                self.traits.push(Rc::clone(&traits));
            }
            traits
        };
        // Each sealed member value takes at least a byte; checked before reserving because the
        // member count of referenced traits is not paid for by this object's bytes.
        if traits.sealed.len() > r.remaining() {
            return Err(AmfError::Truncated { offset: at });
        }
        let mut props = Vec::with_capacity(traits.sealed.len().min(PREALLOC_CAP));
        for name in &traits.sealed {
            let key = self.own(name, at)?;
            let value = self.value(r, depth + 1)?;
            props.push((key, value));
        }
        if traits.dynamic {
            self.named_values(r, depth + 1, &mut props)?;
        }
        self.objects.complete(slot);
        if traits.class_name.is_empty() {
            Ok(Value::Object(props))
        } else {
            Ok(Value::TypedObject {
                class_name: self.own(traits.class_name, at)?,
                properties: props,
            })
        }
    }

    /// Reads name/value pairs up to the empty name that ends them (an array's associative part,
    /// an object's dynamic members) onto `into`. `depth` is the depth of the values.
    fn named_values(
        &mut self,
        r: &mut Reader<'a>,
        depth: usize,
        into: &mut Vec<(String, Value)>,
    ) -> Result<(), AmfError> {
        loop {
            let key_at = r.pos();
            let key = self.str(r)?;
            if key.is_empty() {
                return Ok(());
            }
            let key = self.own(key, key_at)?;
            let value = self.value(r, depth)?;
            into.push((key, value));
        }
    }

    /// Decodes `count` values; the count is checked against the bytes left (each value takes at
    /// least one) so a lying count fails at once and reserves nothing it cannot fill.
    fn values(
        &mut self,
        r: &mut Reader<'a>,
        at: usize,
        depth: usize,
        count: usize,
    ) -> Result<Vec<Value>, AmfError> {
        if count > r.remaining() {
            return Err(AmfError::Truncated { offset: at });
        }
        let mut items = Vec::with_capacity(count.min(PREALLOC_CAP));
        for _ in 0..count {
            items.push(self.value(r, depth)?);
        }
        Ok(items)
    }

    /// Reads a UTF-8-vr: an inline string or a reference into the string table.
    fn str(&mut self, r: &mut Reader<'a>) -> Result<&'a str, AmfError> {
        let at = r.pos();
        let header = read_u29(r)?;
        let index = (header >> 1) as usize;
        if header & 1 == 0 {
            return self
                .strings
                .get(index)
                .copied()
                .ok_or(AmfError::BadReference {
                    version: 3,
                    index,
                    offset: at,
                });
        }
        let s = utf8(r, index)?;
        // The empty string is never sent by reference (AMF3 spec 1.3.2).
        if !s.is_empty() && self.replaying == 0 {
            self.strings.push(s);
        }
        Ok(s)
    }

    /// Copies a string into the output, paying for it: with string and trait references a
    /// short input can name a long string many times.
    fn own(&mut self, s: &str, at: usize) -> Result<String, AmfError> {
        self.budget.charge(s.len(), at)?;
        Ok(s.to_owned())
    }

    fn enter(&self, at: usize, depth: usize) -> Result<(), AmfError> {
        if depth >= self.max_depth {
            return Err(AmfError::TooDeep {
                max_depth: self.max_depth,
                offset: at,
            });
        }
        Ok(())
    }

    /// An object-table entry, except while replaying (everything met is already there).
    fn reserve(&mut self, at: usize) -> Option<usize> {
        if self.replaying > 0 {
            return None;
        }
        self.objects.reserve(at)
    }

    /// Decodes the referenced value again where the reference stands, so depth limits and the
    /// output budget apply to the copy exactly as to the original.
    fn replay(&mut self, index: usize, at: usize, depth: usize) -> Result<Value, AmfError> {
        let start = self.objects.start_of(index, at)?;
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

    fn decode(bytes: &[u8]) -> Result<Value, AmfError> {
        let (value, used) = decode_one(bytes, limits())?;
        assert_eq!(used, bytes.len(), "trailing bytes after {value:?}");
        Ok(value)
    }

    /// A hand encoder for test inputs: the crate only decodes AMF3.
    #[derive(Default)]
    struct W(Vec<u8>);
    impl W {
        fn u8(mut self, b: u8) -> Self {
            self.0.push(b);
            self
        }
        fn u29(mut self, v: u32) -> Self {
            write_u29(v, &mut self.0);
            self
        }
        /// An inline UTF-8-vr, without a marker.
        fn s(self, s: &str) -> Self {
            self.u29((s.len() as u32) << 1 | 1).raw(s.as_bytes())
        }
        /// A UTF-8-vr string reference, without a marker.
        fn sref(self, index: u32) -> Self {
            self.u29(index << 1)
        }
        fn raw(mut self, b: &[u8]) -> Self {
            self.0.extend_from_slice(b);
            self
        }
        fn string(self, s: &str) -> Self {
            self.u8(STRING).s(s)
        }
        fn int(self, v: i32) -> Self {
            self.u8(INTEGER).u29(v as u32)
        }
        /// An anonymous dynamic object header: marker, inline dynamic traits, no class name.
        fn dyn_object(self) -> Self {
            self.u8(OBJECT).u8(0x0B).s("")
        }
    }

    #[test]
    fn integers() {
        for (n, bytes) in [
            (0, &[0x00][..]),
            (127, &[0x7F]),
            (128, &[0x81, 0x00]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x81, 0x80, 0x00]),
            (0x1F_FFFF, &[0xFF, 0xFF, 0x7F]),
            (0x20_0000, &[0x80, 0xC0, 0x80, 0x00]),
            (0x0FFF_FFFF, &[0xBF, 0xFF, 0xFF, 0xFF]),
            (-1, &[0xFF, 0xFF, 0xFF, 0xFF]),
            (-0x1000_0000, &[0xC0, 0x80, 0x80, 0x00]),
        ] {
            let mut encoded = Vec::new();
            write_u29(n as u32, &mut encoded);
            assert_eq!(encoded, bytes, "encoding {n}");
            let input = W::default().u8(INTEGER).raw(bytes).0;
            assert_eq!(decode(&input), Ok(Value::Number(f64::from(n))), "{n}");
        }
        assert_eq!(
            decode(&[INTEGER, 0xFF, 0xFF, 0xFF]),
            Err(AmfError::Truncated { offset: 4 })
        );
    }

    #[test]
    fn scalars() {
        assert_eq!(decode(&[UNDEFINED]), Ok(Value::Undefined));
        assert_eq!(decode(&[NULL]), Ok(Value::Null));
        assert_eq!(decode(&[FALSE]), Ok(Value::Boolean(false)));
        assert_eq!(decode(&[TRUE]), Ok(Value::Boolean(true)));
        let double = W::default().u8(DOUBLE).raw(&(-2.5f64).to_be_bytes()).0;
        assert_eq!(decode(&double), Ok(Value::Number(-2.5)));
        let date = W::default().u8(DATE).u8(0x01).raw(&1e12f64.to_be_bytes()).0;
        assert_eq!(decode(&date), Ok(Value::Date(1e12)));
        let xml = W::default().u8(XML).s("<a/>").0;
        assert_eq!(decode(&xml), Ok(Value::Xml("<a/>".into())));
        let xml_doc = W::default().u8(XML_DOC).s("<b/>").0;
        assert_eq!(decode(&xml_doc), Ok(Value::Xml("<b/>".into())));
        let bytes = W::default()
            .u8(BYTE_ARRAY)
            .u29(3 << 1 | 1)
            .raw(&[1, 2, 3])
            .0;
        assert_eq!(decode(&bytes), Ok(Value::ByteArray(vec![1, 2, 3])));
        assert_eq!(
            decode(&[0x12]),
            Err(AmfError::UnknownMarker {
                version: 3,
                marker: 0x12,
                offset: 0
            })
        );
        assert_eq!(
            decode(&[STRING, 0x05, 0xC3, 0x28]),
            Err(AmfError::InvalidUtf8 { offset: 2 })
        );
    }

    #[test]
    fn string_references() {
        // ["abc", ref 0, "", "", "xyz", ref 1]: empty strings are never in the table.
        let bytes = W::default()
            .u8(ARRAY)
            .u29(6 << 1 | 1)
            .s("")
            .string("abc")
            .u8(STRING)
            .sref(0)
            .string("")
            .string("")
            .string("xyz")
            .u8(STRING)
            .sref(1)
            .0;
        let strings = ["abc", "abc", "", "", "xyz", "xyz"];
        assert_eq!(
            decode(&bytes),
            Ok(Value::StrictArray(strings.map(Value::from).to_vec()))
        );
        assert_eq!(
            decode(&W::default().u8(STRING).sref(0).0),
            Err(AmfError::BadReference {
                version: 3,
                index: 0,
                offset: 1
            })
        );
    }

    #[test]
    fn object_with_sealed_and_dynamic_members() {
        // Traits: inline, dynamic, two sealed members: 0b0010_1011.
        let bytes = W::default()
            .u8(OBJECT)
            .u29(2 << 4 | 0b1011)
            .s("geo.Point")
            .s("x")
            .s("y")
            .int(1)
            .int(-2)
            .s("label")
            .string("origin")
            .sref(1) // "x" again, as a dynamic key
            .u8(NULL)
            .s("")
            .0;
        assert_eq!(
            decode(&bytes),
            Ok(Value::TypedObject {
                class_name: "geo.Point".into(),
                properties: vec![
                    ("x".into(), Value::Number(1.0)),
                    ("y".into(), Value::Number(-2.0)),
                    ("label".into(), Value::from("origin")),
                    ("x".into(), Value::Null),
                ],
            })
        );
        // Sealed only, anonymous: 0b0001_0011.
        let bytes = W::default()
            .u8(OBJECT)
            .u29(1 << 4 | 0b0011)
            .s("")
            .s("k")
            .u8(TRUE)
            .0;
        assert_eq!(
            decode(&bytes),
            Ok(Value::object([("k", Value::Boolean(true))]))
        );
    }

    #[test]
    fn trait_and_object_references() {
        let point = |x: f64, y: f64| Value::TypedObject {
            class_name: "P".into(),
            properties: vec![
                ("x".into(), Value::Number(x)),
                ("y".into(), Value::Number(y)),
            ],
        };
        let bytes = W::default()
            .u8(ARRAY)
            .u29(5 << 1 | 1)
            .s("")
            // Object 1 (the array is 0), with traits 0: sealed x and y.
            .u8(OBJECT)
            .u29(2 << 4 | 0b0011)
            .s("P")
            .s("x")
            .s("y")
            .int(1)
            .int(2)
            // Object 2 reuses traits 0: header 0 << 2 | 0b01.
            .u8(OBJECT)
            .u29(0b01)
            .int(3)
            .int(4)
            // Object reference to object 1.
            .u8(OBJECT)
            .u29(1 << 1)
            // A string reference registered before the replay ("y" is string 2), and a new
            // object with a new string: the replay must not have shifted the tables.
            .u8(STRING)
            .sref(2)
            .dyn_object()
            .s("z")
            .string("after")
            .s("")
            .0;
        assert_eq!(
            decode(&bytes),
            Ok(Value::StrictArray(vec![
                point(1.0, 2.0),
                point(3.0, 4.0),
                point(1.0, 2.0),
                Value::from("y"),
                Value::object([("z", Value::from("after"))]),
            ]))
        );

        // A trait reference nothing defined, an object reference past the table, and a
        // reference to the array still being decoded.
        assert!(matches!(
            decode(&W::default().u8(OBJECT).u29(0b101).0),
            Err(AmfError::BadReference {
                version: 3,
                index: 1,
                ..
            })
        ));
        assert!(matches!(
            decode(&W::default().u8(OBJECT).u29(3 << 1).0),
            Err(AmfError::BadReference { index: 3, .. })
        ));
        assert!(matches!(
            decode(&W::default().u8(ARRAY).u29(0b11).s("").u8(ARRAY).u29(0).0),
            Err(AmfError::Unsupported { .. })
        ));
        // Every complex type shares the object table.
        let bytes = W::default()
            .u8(ARRAY)
            .u29(8 << 1 | 1)
            .s("")
            .u8(DATE)
            .u8(0x01)
            .raw(&5.0f64.to_be_bytes())
            .u8(XML)
            .s("<x/>")
            .u8(BYTE_ARRAY)
            .u29(0b11)
            .u8(9)
            .u8(VECTOR_INT)
            .u29(0b11)
            .u8(0)
            .raw(&(-7i32).to_be_bytes())
            .u8(DATE)
            .u29(1 << 1)
            .u8(XML)
            .u29(2 << 1)
            .u8(BYTE_ARRAY)
            .u29(3 << 1)
            .u8(VECTOR_INT)
            .u29(4 << 1)
            .0;
        let date = Value::Date(5.0);
        let xml = Value::Xml("<x/>".into());
        let ba = Value::ByteArray(vec![9]);
        let vec = Value::StrictArray(vec![Value::Number(-7.0)]);
        assert_eq!(
            decode(&bytes),
            Ok(Value::StrictArray(vec![
                date.clone(),
                xml.clone(),
                ba.clone(),
                vec.clone(),
                date,
                xml,
                ba,
                vec
            ]))
        );
    }

    #[test]
    fn arrays_with_an_associative_part() {
        let bytes = W::default()
            .u8(ARRAY)
            .u29(2 << 1 | 1)
            .s("zeta")
            .int(1)
            .s("alpha")
            .int(2)
            .s("")
            .string("a")
            .string("b")
            .0;
        assert_eq!(
            decode(&bytes),
            Ok(Value::EcmaArray(vec![
                ("zeta".into(), Value::Number(1.0)),
                ("alpha".into(), Value::Number(2.0)),
                ("0".into(), Value::from("a")),
                ("1".into(), Value::from("b")),
            ]))
        );
        assert_eq!(
            decode(&W::default().u8(ARRAY).u29(1).s("").0),
            Ok(Value::StrictArray(vec![]))
        );
    }

    #[test]
    fn vectors_and_dictionaries() {
        let uints = W::default()
            .u8(VECTOR_UINT)
            .u29(2 << 1 | 1)
            .u8(1)
            .raw(&u32::MAX.to_be_bytes())
            .raw(&7u32.to_be_bytes())
            .0;
        assert_eq!(
            decode(&uints),
            Ok(Value::StrictArray(vec![
                Value::Number(4_294_967_295.0),
                Value::Number(7.0)
            ]))
        );
        let doubles = W::default()
            .u8(VECTOR_DOUBLE)
            .u29(0b11)
            .u8(0)
            .raw(&0.5f64.to_be_bytes())
            .0;
        assert_eq!(
            decode(&doubles),
            Ok(Value::StrictArray(vec![Value::Number(0.5)]))
        );
        let objects = W::default()
            .u8(VECTOR_OBJECT)
            .u29(2 << 1 | 1)
            .u8(0)
            .s("*")
            .string("a")
            .u8(NULL)
            .0;
        assert_eq!(
            decode(&objects),
            Ok(Value::StrictArray(vec![Value::from("a"), Value::Null]))
        );
        let dict = W::default()
            .u8(DICTIONARY)
            .u29(3 << 1 | 1)
            .u8(0)
            .string("k")
            .int(1)
            .int(2)
            .u8(TRUE)
            .u8(TRUE)
            .u8(NULL)
            .0;
        assert_eq!(
            decode(&dict),
            Ok(Value::EcmaArray(vec![
                ("k".into(), Value::Number(1.0)),
                ("2".into(), Value::Boolean(true)),
                ("true".into(), Value::Null),
            ]))
        );
        let complex_key = W::default()
            .u8(DICTIONARY)
            .u29(0b11)
            .u8(0)
            .dyn_object()
            .s("")
            .u8(NULL)
            .0;
        assert!(matches!(
            decode(&complex_key),
            Err(AmfError::Unsupported { offset: 3, .. })
        ));
    }

    #[test]
    fn externalizable_is_unsupported() {
        let bytes = W::default()
            .u8(OBJECT)
            .u29(0b0111)
            .s("flex.ArrayCollection")
            .0;
        assert!(matches!(
            decode(&bytes),
            Err(AmfError::Unsupported { offset: 0, .. })
        ));
    }

    #[test]
    fn hostile_counts_fail_fast() {
        let max = (1 << 28) - 1;
        let fixed_vector = |marker| {
            W::default()
                .u8(marker)
                .u29(max << 1 | 1)
                .u8(0)
                .raw(&[0; 8])
                .0
        };
        let cases = [
            W::default().u8(ARRAY).u29(max << 1 | 1).s("").u8(NULL).0,
            fixed_vector(VECTOR_INT),
            fixed_vector(VECTOR_DOUBLE),
            W::default()
                .u8(VECTOR_OBJECT)
                .u29(max << 1 | 1)
                .u8(0)
                .s("")
                .u8(NULL)
                .0,
            W::default()
                .u8(DICTIONARY)
                .u29(max << 1 | 1)
                .u8(0)
                .u8(NULL)
                .0,
            W::default()
                .u8(OBJECT)
                .u29(0x1FF_FFFF << 4 | 0b0011)
                .s("")
                .s("a")
                .0,
            W::default().u8(BYTE_ARRAY).u29(max << 1 | 1).u8(0).0,
            W::default().u8(STRING).u29(max << 1 | 1).u8(b'a').0,
        ];
        let start = std::time::Instant::now();
        for bytes in cases {
            assert!(
                matches!(decode(&bytes), Err(AmfError::Truncated { .. })),
                "{bytes:02x?}"
            );
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn references_cannot_amplify_without_bound() {
        // A 60 KB string named 10_000 times by two-byte references: 600 MB of output from
        // 80 KB of input, refused by the output budget.
        let mut w = W::default()
            .u8(ARRAY)
            .u29(10_001 << 1 | 1)
            .s("")
            .string(&"x".repeat(60_000));
        for _ in 0..10_000 {
            w = w.u8(STRING).sref(0);
        }
        assert!(matches!(decode(&w.0), Err(AmfError::Unsupported { .. })));

        // Arrays each holding the previous one twice: 2^n output from 7n bytes. All inside one
        // outer array (object 0), so array i is object i + 1.
        let mut bytes = W::default().u8(ARRAY).u29(61 << 1 | 1).s("").0;
        let mut inner = W::default().u8(ARRAY).u29(0b11).s("").u8(NULL);
        for i in 0..60 {
            inner = inner
                .u8(ARRAY)
                .u29(0b101)
                .s("")
                .u8(ARRAY)
                .u29((i + 1) << 1)
                .u8(ARRAY)
                .u29((i + 1) << 1);
        }
        bytes.extend(inner.0);
        let start = std::time::Instant::now();
        assert!(matches!(decode(&bytes), Err(AmfError::Unsupported { .. })));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));

        // Nesting through references still counts against the depth limit.
        let mut bytes = W::default().u8(ARRAY).u29(101 << 1 | 1).s("").0;
        bytes.extend(W::default().u8(ARRAY).u29(0b11).s("").u8(NULL).0);
        for i in 1..=100u32 {
            bytes.extend(
                W::default()
                    .u8(ARRAY)
                    .u29(0b11)
                    .s("")
                    .u8(ARRAY)
                    .u29(i << 1)
                    .0,
            );
        }
        assert!(matches!(decode(&bytes), Err(AmfError::TooDeep { .. })));
    }

    #[test]
    fn trait_references_at_scale_fit_the_budget() {
        // The legitimate heavy user of references: many objects of one class. Ten-letter member
        // names re-emitted for one-byte values are 10x the input, inside the budget.
        let count = 20_000u32;
        let names = [
            "alpha_0001",
            "bravo_0002",
            "charlie_03",
            "delta_0004",
            "echo_00005",
        ];
        let mut w = W::default()
            .u8(ARRAY)
            .u29(count << 1 | 1)
            .s("")
            .u8(OBJECT)
            .u29(5 << 4 | 0b0011)
            .s("");
        for name in names {
            w = w.s(name);
        }
        w = w.raw(&[NULL; 5]);
        for _ in 1..count {
            w = w.u8(OBJECT).u29(0b01).raw(&[NULL; 5]);
        }
        let Ok(Value::StrictArray(items)) = decode(&w.0) else {
            panic!("did not decode")
        };
        assert_eq!(items.len(), count as usize);
        assert_eq!(items[19_999].get("echo_00005"), Some(&Value::Null));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let arrays = [ARRAY, 0x03, 0x01].repeat(100_000);
        let objects = W::default().dyn_object().s("a").0.repeat(100_000);
        let vectors = W::default()
            .u8(VECTOR_OBJECT)
            .u29(0b11)
            .u8(0)
            .s("")
            .0
            .repeat(100_000);
        let dicts = W::default()
            .u8(DICTIONARY)
            .u29(0b11)
            .u8(0)
            .u8(NULL)
            .0
            .repeat(100_000);
        for bytes in [arrays, objects, vectors, dicts] {
            assert!(matches!(
                decode_one(&bytes, limits()),
                Err(AmfError::TooDeep { max_depth: 64, .. })
            ));
        }
        for marker in [ARRAY, OBJECT, DICTIONARY, VECTOR_OBJECT] {
            let bytes = vec![marker; 100_000];
            assert!(decode_one(&bytes, limits()).is_err());
        }
    }

    fn rich() -> Vec<u8> {
        W::default()
            .dyn_object()
            .s("int")
            .int(-300)
            .s("str")
            .string("héllo")
            .s("again")
            .u8(STRING)
            .sref(2)
            .s("arr")
            .u8(ARRAY)
            .u29(2 << 1 | 1)
            .s("k")
            .u8(TRUE)
            .s("")
            .u8(DOUBLE)
            .raw(&1.25f64.to_be_bytes())
            .u8(OBJECT)
            .u29(1 << 4 | 0b0011)
            .s("T")
            .s("m")
            .u8(UNDEFINED)
            .s("typed2")
            .u8(OBJECT)
            .u29(0b01)
            .u8(NULL)
            .s("date")
            .u8(DATE)
            .u8(1)
            .raw(&0.0f64.to_be_bytes())
            .s("bytes")
            .u8(BYTE_ARRAY)
            .u29(2 << 1 | 1)
            .raw(&[1, 2])
            .s("vec")
            .u8(VECTOR_DOUBLE)
            .u29(0b11)
            .u8(0)
            .raw(&2.0f64.to_be_bytes())
            .s("ref")
            .u8(ARRAY)
            .u29(1 << 1)
            .s("")
            .0
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = rich();
        let value = decode(&bytes).unwrap();
        assert_eq!(value.get_str("again"), Some("héllo"));
        assert_eq!(value.get("ref"), value.get("arr"));
        for len in 0..bytes.len() {
            match decode_one(&bytes[..len], limits()) {
                Err(AmfError::Truncated { offset }) => assert!(offset <= len),
                other => panic!("prefix of {len} bytes gave {other:?}"),
            }
        }
    }

    #[test]
    fn fuzz_does_not_panic() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        };
        let small = DecodeLimits {
            max_depth: 16,
            ..DecodeLimits::default()
        };
        for _ in 0..20_000 {
            let len = (next() % 65) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| match next() % 4 {
                    0 => (next() % 0x13) as u8,
                    1 => 0x01,
                    _ => next() as u8,
                })
                .collect();
            let _ = decode_one(&bytes, small);
        }
        let seed = rich();
        for _ in 0..20_000 {
            let mut bytes = seed.clone();
            for _ in 0..=next() % 4 {
                let at = (next() % bytes.len() as u64) as usize;
                match next() % 3 {
                    0 => bytes[at] = next() as u8,
                    1 => bytes.truncate(at),
                    _ => bytes.insert(at, (next() % 0x13) as u8),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            let _ = decode_one(&bytes, limits());
        }
    }
}
