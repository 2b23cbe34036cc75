//! AMF values to and from natural JavaScript values.
//!
//! Pages read `event.info.code`, `metaData.width` and the arguments of `NetStream.send`
//! handlers as ordinary JS values, so the mapping is the one an ActionScript developer expects:
//! numbers, strings, booleans, `null`, `undefined`, plain objects (keys in the order they were
//! on the wire), arrays, `Date` objects and `Uint8Array` for AMF3 ByteArrays.

use js_sys::{Array, Date, Object, Reflect, Uint8Array};
use rtmpws_protocol::amf::Value;
use wasm_bindgen::{JsCast, JsValue};

/// How deep a JS value is followed when it is turned into AMF. Deeper parts (and cycles, which
/// would otherwise recurse forever) become `undefined`, as AMF cannot express them anyway. The
/// protocol crate's decoder accepts 64 levels, so anything we send stays decodable.
const MAX_JS_DEPTH: usize = 64;

/// An AMF value as a JS value. Recursion is bounded by the AMF decoder's depth limit.
pub fn to_js(value: &Value) -> JsValue {
    match value {
        Value::Number(n) => JsValue::from_f64(*n),
        Value::Boolean(b) => JsValue::from_bool(*b),
        Value::String(s) | Value::Xml(s) => JsValue::from_str(s),
        Value::Object(props)
        | Value::EcmaArray(props)
        | Value::TypedObject {
            properties: props, ..
        } => object_from_pairs(props).into(),
        Value::StrictArray(items) => items.iter().map(to_js).collect::<Array>().into(),
        Value::Date(ms) => Date::new(&JsValue::from_f64(*ms)).into(),
        Value::Null => JsValue::NULL,
        Value::Undefined => JsValue::UNDEFINED,
        Value::ByteArray(bytes) => Uint8Array::from(bytes.as_slice()).into(),
    }
}

/// A plain object with the pairs as own properties, in order.
fn object_from_pairs(props: &[(String, Value)]) -> Object {
    let object = Object::new();
    for (key, value) in props {
        set(&object, key, &to_js(value));
    }
    object
}

/// Sets an own data property. `__proto__` from the wire must stay data: assigning it would
/// replace the object's prototype, so it goes through `defineProperty`.
pub fn set(object: &Object, key: &str, value: &JsValue) {
    let key_js = JsValue::from_str(key);
    if key == "__proto__" {
        let descriptor = Object::new();
        let _ = Reflect::set(&descriptor, &"value".into(), value);
        let _ = Reflect::set(&descriptor, &"enumerable".into(), &JsValue::TRUE);
        let _ = Reflect::set(&descriptor, &"writable".into(), &JsValue::TRUE);
        let _ = Reflect::set(&descriptor, &"configurable".into(), &JsValue::TRUE);
        Object::define_property(object, &key_js, &descriptor);
    } else {
        // Reflect.set on a fresh plain object cannot fail for a string key.
        let _ = Reflect::set(object, &key_js, value);
    }
}

/// A JS value as AMF: the inverse of [`to_js`] for values a page passes to `connect`, `call`,
/// `send` and `play2`. Functions and symbols become `undefined`; `ArrayBuffer`s and typed
/// byte arrays become ByteArrays.
pub fn from_js(value: &JsValue) -> Value {
    from_js_at(value, 0)
}

fn from_js_at(value: &JsValue, depth: usize) -> Value {
    if value.is_undefined() {
        return Value::Undefined;
    }
    if value.is_null() {
        return Value::Null;
    }
    if let Some(n) = value.as_f64() {
        return Value::Number(n);
    }
    if let Some(b) = value.as_bool() {
        return Value::Boolean(b);
    }
    if let Some(s) = value.as_string() {
        return Value::String(s);
    }
    if depth >= MAX_JS_DEPTH || !value.is_object() {
        // BigInt, symbol, function, or too deep.
        return Value::Undefined;
    }
    if let Some(date) = value.dyn_ref::<Date>() {
        return Value::Date(date.get_time());
    }
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        return Value::ByteArray(bytes.to_vec());
    }
    if let Some(buffer) = value.dyn_ref::<js_sys::ArrayBuffer>() {
        return Value::ByteArray(Uint8Array::new(buffer).to_vec());
    }
    if Array::is_array(value) {
        let array: &Array = value.unchecked_ref();
        return Value::StrictArray(
            array
                .iter()
                .map(|item| from_js_at(&item, depth + 1))
                .collect(),
        );
    }
    if value.is_function() {
        return Value::Undefined;
    }
    let object: &Object = value.unchecked_ref();
    let props = Object::keys(object)
        .iter()
        .filter_map(|key| {
            let name = key.as_string()?;
            // A getter that throws is treated as a missing property.
            let item = Reflect::get(object, &key).ok()?;
            if item.is_function() {
                return None;
            }
            Some((name, from_js_at(&item, depth + 1)))
        })
        .collect();
    Value::Object(props)
}

/// Builds a plain object from `(key, value)` pairs (the shape of every event handed to JS).
pub fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in pairs {
        set(&object, key, value);
    }
    object.into()
}
