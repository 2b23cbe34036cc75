//! AMF3 decoding of arbitrary bytes, on its own and behind an AMF0 AVM+ marker (how it arrives
//! in type 17/15 messages), plus the roundtrip through the AMF0 encoder (the only one there is).

use rtmpws_protocol::amf::{amf0, amf3, DecodeLimits};

use crate::same::same_values;

pub fn run(data: &[u8]) {
    let limits = DecodeLimits::default();
    let direct = amf3::decode_one(data, limits);
    let mut switched = Vec::with_capacity(data.len() + 1);
    switched.push(0x11);
    switched.extend_from_slice(data);
    let embedded = amf0::decode_one(&switched, limits);
    match (&direct, &embedded) {
        (Ok((a, used_a)), Ok((b, used_b))) => {
            assert!(*used_a <= data.len());
            assert_eq!(
                used_a + 1,
                *used_b,
                "the AVM+ switch consumes the same value"
            );
            assert!(same_values(a, b), "{a:?} vs {b:?}");
        }
        (Err(_), Err(_)) => {}
        // The embedded value starts one level deeper, so only depth may tell them apart, and
        // the output budget (a multiple of the bytes given: the embedding has one more).
        (Ok(_), Err(rtmpws_protocol::amf::AmfError::TooDeep { .. })) => {}
        (Err(e), Ok(_)) | (Ok(_), Err(e)) if crate::over_budget(e) => {}
        _ => panic!("AMF3 alone and behind AVM+ disagree: {direct:?} vs {embedded:?}"),
    }
    let Ok((value, _)) = direct else {
        return;
    };
    let mut encoded = Vec::new();
    amf0::encode(&value, &mut encoded);
    match amf0::decode_one(&encoded, limits) {
        Ok((back, used)) => {
            assert_eq!(used, encoded.len());
            assert!(same_values(&value, &back), "{value:?} became {back:?}");
        }
        Err(e) => panic!("AMF0 encoding of decoded AMF3 {value:?} does not decode: {e}"),
    }
}
