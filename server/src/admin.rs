//! The admin HTTP API, under `/api/v1/` on the HTTP (and HTTPS) listeners. Every request
//! carries `Authorization: Bearer ADMIN_TOKEN`; without `admin_token` configured the API does
//! not exist (404), with a wrong or missing token it answers 401. Bodies are JSON of at most
//! `max_json_bytes`; AMF values cross as [`crate::json`] maps them.
//!
//! | request | body | answer |
//! |---|---|---|
//! | `GET /api/v1/clients` | | `{"clients": [{"id", "app"}]}` |
//! | `POST /api/v1/clients/{id}/call` | `{"method", "args"?}` | `{"result": V}`; the client's `_error`: 502 `{"error": INFO}`; no answer in `call_timeout_secs`: 504 |
//! | `GET /api/v1/apps/{app}/shared_objects` | | `{"shared_objects": [{"name", "version", "persistent", "slots", "subscribers"}]}` |
//! | `GET /api/v1/apps/{app}/shared_objects/{name}` | | `{"name", "version", "persistent", "data": {SLOT: V}}` |
//! | `DELETE /api/v1/apps/{app}/shared_objects/{name}` | | clears it: `{"version"}` |
//! | `PUT /api/v1/apps/{app}/shared_objects/{name}/slots/{slot}` | `{"value": V}` | `{"version"}` |
//! | `DELETE /api/v1/apps/{app}/shared_objects/{name}/slots/{slot}` | | `{"version"}` |
//! | `POST /api/v1/apps/{app}/shared_objects/{name}/send` | `{"handler", "args"?}` | `{"subscribers"}` |
//!
//! Errors are `{"error": "why"}` with 400 (bad body), 404 (no such app, object or client),
//! 405, 413 (body too large), 503 (the client cannot take the call now).

use std::sync::Arc;
use std::time::Duration;

use rtmpws_protocol::amf::Value;
use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tracing::info;

use crate::gateway::Gateway;
use crate::http::{HttpStream, Request};
use crate::json::{from_json, to_json};
use crate::mailboxes::{CallAnswer, ClientCall, Mail};
use crate::shared_objects::{Author, Refusal, Update};

/// An answer: status and JSON body.
type Answer = (u16, Json);

fn error(status: u16, why: impl Into<String>) -> Answer {
    (status, json!({ "error": why.into() }))
}

/// Whether a request is for the API.
pub fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Answers one API request; `rest` is what followed the head.
pub async fn serve<S: HttpStream>(
    stream: &mut S,
    request: &Request,
    rest: Vec<u8>,
    gateway: &Arc<Gateway>,
) {
    let (status, body) = respond(stream, request, rest, gateway).await;
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    };
    let auth = if status == 401 {
        "WWW-Authenticate: Bearer\r\n"
    } else {
        ""
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let limit = Duration::from_secs(gateway.settings().config.write_timeout_secs);
    let _ = tokio::time::timeout(limit, stream.write_all(response.as_bytes())).await;
}

/// Compares in time independent of where the first difference is.
async fn respond<S: HttpStream>(
    stream: &mut S,
    request: &Request,
    mut body: Vec<u8>,
    gateway: &Arc<Gateway>,
) -> Answer {
    let settings = gateway.settings();
    let Some(token) = settings.config.admin_token.as_deref() else {
        return error(404, "not found");
    };
    if !crate::api::bearer_matches(request.authorization.as_deref(), token) {
        info!(path = %request.path, "admin API request with a wrong or missing token");
        return error(401, "a valid bearer token is required");
    }
    let max = gateway.settings().config.max_json_bytes;
    let length = request.content_length.unwrap_or(0);
    if length > max {
        return error(413, format!("the body is over {max} bytes"));
    }
    let read = async {
        while body.len() < length {
            let mut piece = vec![0; (length - body.len()).min(64 * 1024)];
            let n = stream.read(&mut piece).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            body.extend_from_slice(&piece[..n]);
        }
        body.truncate(length);
        Ok(())
    };
    match tokio::time::timeout(Duration::from_secs(10), read).await {
        Ok(Ok(())) => {}
        _ => return error(400, "the body did not arrive"),
    }
    let json = if body.is_empty() {
        Json::Null
    } else {
        match serde_json::from_slice::<Json>(&body) {
            Ok(json) => json,
            Err(e) => return error(400, format!("the body is not JSON: {e}")),
        }
    };
    let path = request.path.split(['?', '#']).next().unwrap_or_default();
    let Some(route) = path.strip_prefix("/api/v1/") else {
        return error(404, "not found");
    };
    let parts: Vec<String> = route.split('/').map(percent_decode).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    route_request(gateway, &request.method, &parts, &json).await
}

async fn route_request(
    gateway: &Arc<Gateway>,
    method: &str,
    parts: &[&str],
    body: &Json,
) -> Answer {
    match (method, parts) {
        ("POST", ["clients", id, "call"]) => call_client(gateway, id, body).await,
        (_, ["clients", ..]) => error(405, "method not allowed"),
        (_, ["apps", app, "shared_objects", rest @ ..]) => {
            if gateway.settings().policy.app(app).is_none() {
                return error(404, format!("no application {app}"));
            }
            shared_objects(gateway, method, app, rest, body)
        }
        _ => error(404, "not found"),
    }
}

fn shared_objects(
    gateway: &Gateway,
    method: &str,
    app: &str,
    rest: &[&str],
    body: &Json,
) -> Answer {
    let objects = &gateway.shared_objects;
    let missing = |name: &str| error(404, format!("no shared object {name} in {app}"));
    let version = |result: Result<u32, Refusal>, name: &str| match result {
        Ok(version) => (200, json!({ "version": version })),
        Err(_) => missing(name),
    };
    match (method, rest) {
        ("GET", []) => {
            let list: Vec<Json> = objects
                .list(app)
                .into_iter()
                .map(|s| {
                    json!({"name": s.name, "version": s.version, "persistent": s.persistent,
                           "slots": s.slots, "subscribers": s.subscribers})
                })
                .collect();
            (200, json!({ "shared_objects": list }))
        }
        ("GET", [name]) => match objects.get(app, name) {
            Some((version, persistent, slots)) => {
                let data: serde_json::Map<String, Json> =
                    slots.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
                (
                    200,
                    json!({"name": name, "version": version, "persistent": persistent, "data": data}),
                )
            }
            None => missing(name),
        },
        ("DELETE", [name]) => version(objects.clear(app, name), name),
        ("PUT", [name, "slots", slot]) => {
            let Some(value) = body.get("value") else {
                return error(400, "the body must be {\"value\": VALUE}");
            };
            let update = Update::Set {
                slot: (*slot).to_owned(),
                value: from_json(value),
            };
            version(objects.update(app, name, Author::Admin, vec![update]), name)
        }
        ("DELETE", [name, "slots", slot]) => {
            let update = Update::Delete {
                slot: (*slot).to_owned(),
            };
            version(objects.update(app, name, Author::Admin, vec![update]), name)
        }
        ("POST", [name, "send"]) => {
            let Some(handler) = body.get("handler").and_then(Json::as_str) else {
                return error(400, "the body must be {\"handler\": NAME, \"args\": [...]}");
            };
            let args = match arguments(body) {
                Ok(args) => args,
                Err(answer) => return answer,
            };
            match objects.send(app, name, None, handler, args) {
                Ok(n) => (200, json!({ "subscribers": n })),
                Err(_) => missing(name),
            }
        }
        (_, [_] | [_, "slots", _] | [_, "send"] | []) => error(405, "method not allowed"),
        _ => error(404, "not found"),
    }
}

/// `args` of a body: absent, or an array.
fn arguments(body: &Json) -> Result<Vec<Value>, Answer> {
    match body.get("args") {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(items)) => Ok(items.iter().map(from_json).collect()),
        Some(_) => Err(error(400, "args must be an array")),
    }
}

async fn call_client(gateway: &Gateway, id: &str, body: &Json) -> Answer {
    let Some(entry) = id
        .parse::<u64>()
        .ok()
        .and_then(|id| gateway.mailboxes.get(id))
    else {
        return error(404, format!("no client {id}"));
    };
    let Some(method) = body.get("method").and_then(Json::as_str) else {
        return error(400, "the body must be {\"method\": NAME, \"args\": [...]}");
    };
    let args = match arguments(body) {
        Ok(args) => args,
        Err(answer) => return answer,
    };
    let (reply, answer) = oneshot::channel();
    let call = ClientCall {
        method: method.to_owned(),
        args,
        reply,
    };
    if entry.mailbox.try_send(Mail::Call(call)).is_err() {
        return error(503, "the client cannot take a call now");
    }
    let timeout = Duration::from_secs(gateway.settings().config.call_timeout_secs);
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(CallAnswer::Result(value))) => (200, json!({ "result": to_json(&value) })),
        Ok(Ok(CallAnswer::Error(info))) => (502, json!({ "error": to_json(&info) })),
        Ok(Ok(CallAnswer::Failed(why))) => error(503, why),
        Ok(Err(_)) => error(503, "the client disconnected"),
        Err(_) => error(504, format!("no answer in {} s", timeout.as_secs())),
    }
}

/// `%XX` sequences decoded; anything malformed is kept as it is.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_decoded() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("%2"), "%2");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("x%41"), "xA");
    }
}
