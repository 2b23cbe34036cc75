//! AMF values as JSON, for the HTTP sides of shared objects and calls (`call_url`, the admin
//! API). The mapping, both ways:
//!
//! | AMF | JSON |
//! |---|---|
//! | number | number (whole numbers without a fraction; NaN and infinities as null) |
//! | boolean, string | the same |
//! | null, undefined | null |
//! | object, ECMA array | object |
//! | typed object | object with `"$class": NAME` |
//! | strict array | array |
//! | date | `{"$date": MILLISECONDS}` |
//! | byte array | `{"$bytes": "BASE64"}` |
//! | XML | `{"$xml": "TEXT"}` |
//!
//! From JSON, an object of exactly one `$date`, `$bytes` or `$xml` key is read back as that
//! type (a `$bytes` that is not base64 stays an object). Key order of JSON objects is not kept.

use base64::Engine;
use rtmpws_protocol::amf::Value;
use serde_json::{Map, Number, Value as Json};

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// An AMF value as JSON.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Number(n) => number(*n),
        Value::Boolean(b) => Json::Bool(*b),
        Value::String(s) => Json::String(s.clone()),
        Value::Null | Value::Undefined => Json::Null,
        Value::Object(props) | Value::EcmaArray(props) => object(props, None),
        Value::TypedObject {
            class_name,
            properties,
        } => object(properties, Some(class_name)),
        Value::StrictArray(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Date(ms) => tagged("$date", number(*ms)),
        Value::ByteArray(bytes) => tagged("$bytes", Json::String(BASE64.encode(bytes))),
        Value::Xml(text) => tagged("$xml", Json::String(text.clone())),
    }
}

/// Many AMF values as a JSON array.
pub fn to_json_array(values: &[Value]) -> Json {
    Json::Array(values.iter().map(to_json).collect())
}

/// A JSON value as AMF.
pub fn from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::StrictArray(items.iter().map(from_json).collect()),
        Json::Object(map) => {
            if map.len() == 1 {
                if let Some(value) = special(map) {
                    return value;
                }
            }
            let class = map.get("$class").and_then(Json::as_str);
            let properties = map
                .iter()
                .filter(|(k, _)| class.is_none() || k.as_str() != "$class")
                .map(|(k, v)| (k.clone(), from_json(v)))
                .collect();
            match class {
                Some(class_name) => Value::TypedObject {
                    class_name: class_name.to_owned(),
                    properties,
                },
                None => Value::Object(properties),
            }
        }
    }
}

fn special(map: &Map<String, Json>) -> Option<Value> {
    let (key, value) = map.iter().next()?;
    match (key.as_str(), value) {
        ("$date", Json::Number(ms)) => ms.as_f64().map(Value::Date),
        ("$bytes", Json::String(b64)) => BASE64.decode(b64).ok().map(Value::ByteArray),
        ("$xml", Json::String(text)) => Some(Value::Xml(text.clone())),
        _ => None,
    }
}

fn number(n: f64) -> Json {
    // Whole numbers as integers (1, not 1.0), as a JavaScript backend would write them.
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        return Json::Number(Number::from(n as i64));
    }
    Number::from_f64(n).map_or(Json::Null, Json::Number)
}

fn object(props: &[(String, Value)], class: Option<&str>) -> Json {
    let mut map = Map::new();
    if let Some(class) = class {
        map.insert("$class".into(), Json::String(class.to_owned()));
    }
    for (k, v) in props {
        map.insert(k.clone(), to_json(v));
    }
    Json::Object(map)
}

fn tagged(key: &str, value: Json) -> Json {
    let mut map = Map::new();
    map.insert(key.to_owned(), value);
    Json::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_map_to_json_and_back() {
        let value = Value::object([
            ("n", Value::Number(2.0)),
            ("half", Value::Number(0.5)),
            ("s", "x".into()),
            ("b", true.into()),
            ("none", Value::Null),
            ("list", Value::StrictArray(vec![Value::Number(1.0)])),
            ("when", Value::Date(1_700_000_000_000.0)),
            ("raw", Value::ByteArray(vec![0, 255, 7])),
            ("doc", Value::Xml("<a/>".into())),
        ]);
        let json = to_json(&value);
        assert_eq!(
            json,
            json!({"n": 2, "half": 0.5, "s": "x", "b": true, "none": null, "list": [1],
                   "when": {"$date": 1_700_000_000_000_i64}, "raw": {"$bytes": "AP8H"},
                   "doc": {"$xml": "<a/>"}})
        );
        let Value::Object(mut back) = from_json(&json) else {
            panic!()
        };
        let Value::Object(mut props) = value else {
            panic!()
        };
        back.sort_by(|a, b| a.0.cmp(&b.0));
        props.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(back, props);
    }

    #[test]
    fn typed_objects_undefined_and_odd_numbers() {
        let typed = Value::TypedObject {
            class_name: "Point".into(),
            properties: vec![("x".into(), Value::Number(1.0))],
        };
        assert_eq!(to_json(&typed), json!({"$class": "Point", "x": 1}));
        assert_eq!(from_json(&to_json(&typed)), typed);
        assert_eq!(to_json(&Value::Undefined), Json::Null);
        assert_eq!(to_json(&Value::Number(f64::NAN)), Json::Null);
        // Not base64: kept as an object.
        assert_eq!(
            from_json(&json!({"$bytes": "!!"})),
            Value::object([("$bytes", Value::from("!!"))])
        );
    }
}
