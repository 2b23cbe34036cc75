//! AMF0 decoding of arbitrary bytes (a command or data message body), and the roundtrip:
//! whatever decodes re-encodes to bytes that decode to the same values.

use rtmpws_protocol::amf::{amf0, DecodeLimits};

use crate::same::{same_lists, same_values};

pub fn run(data: &[u8]) {
    let limits = DecodeLimits::default();
    if let Ok((value, used)) = amf0::decode_one(data, limits) {
        assert!(
            used >= 1 && used <= data.len(),
            "decode_one used {used} bytes"
        );
        // The value alone decodes the same way from just the bytes it used, unless its
        // references expand past the output budget, which is a multiple of the bytes given
        // (fewer bytes, a smaller budget).
        match amf0::decode_all(&data[..used], limits) {
            Ok(alone) => assert!(same_lists(&alone, std::slice::from_ref(&value))),
            Err(e) if crate::over_budget(&e) => {}
            Err(e) => panic!("a decoded prefix does not decode: {e:?}"),
        }
    }
    let Ok(values) = amf0::decode_all(data, limits) else {
        return;
    };
    let mut encoded = Vec::new();
    amf0::encode_all(&values, &mut encoded);
    let again = match amf0::decode_all(&encoded, limits) {
        Ok(again) => again,
        Err(e) => panic!("our own encoding of {values:?} does not decode: {e}"),
    };
    assert!(
        same_lists(&values, &again),
        "roundtrip changed the values:\n{values:?}\n{again:?}"
    );
    for value in &values {
        let mut one = Vec::new();
        amf0::encode(value, &mut one);
        let (back, used) = amf0::decode_one(&one, limits).expect("one value roundtrips");
        assert_eq!(used, one.len());
        assert!(same_values(value, &back));
    }
}
