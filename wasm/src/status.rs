//! The status catalogue, exported so JavaScript never keeps its own copy of the code list.

use js_sys::Array;
use rtmpws_protocol::status::{Sender, Status};
use wasm_bindgen::prelude::*;

use crate::convert::{object, to_js};

/// How a code reaches the page, as the single letters of the semantics table: `S` (server
/// `onStatus`), `P` (server `onPlayStatus`), `C` (made by the client), `SC` (either).
fn how(status: Status) -> &'static str {
    match status.sender() {
        Sender::Server => "S",
        Sender::ServerPlayStatus => "P",
        Sender::Player => "C",
        Sender::ServerOrPlayer => "SC",
    }
}

fn describe(status: Status) -> JsValue {
    object(&[
        ("code", status.code().into()),
        ("level", status.level().as_str().into()),
        ("how", how(status).into()),
    ])
}

/// The 32 NetStream codes, in catalogue order, as `{code, level, how}` objects.
#[wasm_bindgen(js_name = netStreamCodes)]
pub fn netstream_codes() -> Array {
    Status::netstream_codes().map(describe).collect()
}

/// Every code the client knows (NetStream and NetConnection), as `{code, level, how}`.
#[wasm_bindgen(js_name = allStatusCodes)]
pub fn all_status_codes() -> Array {
    Status::ALL.iter().copied().map(describe).collect()
}

/// The info object `{level, code, description, details}` for a code the client raises itself;
/// `undefined` for a code not in the catalogue, so a typo in JS shows up at once in tests.
#[wasm_bindgen(js_name = statusInfo)]
pub fn status_info(code: &str, details: &str) -> JsValue {
    match Status::from_code(code) {
        Some(status) => to_js(&status.info(details).into_value()),
        None => JsValue::UNDEFINED,
    }
}

/// The info object for `code` with a description of the caller's (e.g. a parse error).
pub(crate) fn info_with(status: Status, description: String, details: &str) -> JsValue {
    to_js(
        &rtmpws_protocol::status::Info::new(status, description)
            .details(details)
            .into_value(),
    )
}
