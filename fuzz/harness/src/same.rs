use rtmpws_protocol::amf::Value;

/// Structural equality of AMF values with numbers compared bit for bit, so a NaN equals the
/// same NaN (plain `==` would make every value holding a NaN unequal to itself).
pub fn same_values(a: &Value, b: &Value) -> bool {
    let pairs = |x: &[(String, Value)], y: &[(String, Value)]| {
        x.len() == y.len()
            && x.iter()
                .zip(y)
                .all(|((kx, vx), (ky, vy))| kx == ky && same_values(vx, vy))
    };
    match (a, b) {
        (Value::Number(x), Value::Number(y)) | (Value::Date(x), Value::Date(y)) => {
            x.to_bits() == y.to_bits()
        }
        (Value::Object(x), Value::Object(y)) | (Value::EcmaArray(x), Value::EcmaArray(y)) => {
            pairs(x, y)
        }
        (
            Value::TypedObject {
                class_name: cx,
                properties: px,
            },
            Value::TypedObject {
                class_name: cy,
                properties: py,
            },
        ) => cx == cy && pairs(px, py),
        (Value::StrictArray(x), Value::StrictArray(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(vx, vy)| same_values(vx, vy))
        }
        _ => a == b,
    }
}

/// [`same_values`] for sequences.
pub fn same_lists(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_values(x, y))
}
