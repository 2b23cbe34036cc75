//! Action Message Format: one value model for AMF0 and AMF3, bounded decoders, an AMF0 encoder.
//!
//! Key order of objects and ECMA arrays is kept (a `Vec` of pairs), because some clients read
//! info objects positionally and `onMetaData` is shown to users in the order it was written.

pub mod amf0;
pub mod amf3;
mod reader;
mod refs;

use thiserror::Error;

/// An AMF value, whichever encoding it came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Boolean(bool),
    /// AMF0 string or long string; AMF3 string. The encoder picks the long form past 65535 bytes.
    String(String),
    /// Anonymous object (AMF0 object, AMF3 dynamic anonymous object).
    Object(Vec<(String, Value)>),
    /// Object with a class name (AMF0 typed object, AMF3 object with a class name).
    TypedObject {
        class_name: String,
        properties: Vec<(String, Value)>,
    },
    /// AMF0 ECMA array (associative array, key order kept); AMF3 array with an associative part.
    EcmaArray(Vec<(String, Value)>),
    /// AMF0 strict array; AMF3 dense array.
    StrictArray(Vec<Value>),
    /// Milliseconds since the Unix epoch (AMF0 drops its time zone field, which is always 0).
    Date(f64),
    Null,
    Undefined,
    /// AMF0 XML document, AMF3 XML/XMLDocument.
    Xml(String),
    /// AMF3 ByteArray.
    ByteArray(Vec<u8>),
}

impl Value {
    /// The value under `key` if this is an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(props)
            | Value::EcmaArray(props)
            | Value::TypedObject {
                properties: props, ..
            } => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// A string property of an object, if present and a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// A number property of an object, if present and a number.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    /// Convenience constructor for an anonymous object from `(&str, Value)` pairs.
    pub fn object<I, K>(pairs: I) -> Value
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Boolean(b)
    }
}

/// Bounds that keep a hostile payload from costing more than it weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Deepest nesting of objects/arrays accepted (the decoder must not recurse beyond it).
    pub max_depth: usize,
    /// Largest AMF payload (command or data message) accepted at all. A decoded value costs
    /// up to ~48 bytes per input byte (a null is one byte, a `Value` is not), so this bounds
    /// what one message can make the decoder allocate.
    pub max_input: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_depth: 64,
            max_input: 1 << 20,
        }
    }
}

/// Why an AMF payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AmfError {
    #[error("AMF data ends early at byte {offset}")]
    Truncated { offset: usize },
    #[error("unknown AMF{version} type marker 0x{marker:02x} at byte {offset}")]
    UnknownMarker {
        version: u8,
        marker: u8,
        offset: usize,
    },
    #[error("AMF nesting deeper than {max_depth} levels at byte {offset}")]
    TooDeep { max_depth: usize, offset: usize },
    #[error("AMF string at byte {offset} is not valid UTF-8")]
    InvalidUtf8 { offset: usize },
    #[error("AMF{version} reference {index} at byte {offset} points to nothing")]
    BadReference {
        version: u8,
        index: usize,
        offset: usize,
    },
    #[error("AMF value at byte {offset} is not supported: {what}")]
    Unsupported { what: &'static str, offset: usize },
}
