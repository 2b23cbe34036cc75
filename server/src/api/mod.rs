//! HTTP endpoints for operators, on the HTTP listener next to the demo page: `/metrics`
//! (Prometheus text; open unless `metrics_token` is set) and the admin API under `/api/v1/`
//! (JSON; off without `admin_token`, then 404; a request without that token gets 401):
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/v1/summary` | version, uptime, totals ([`stats::summary`]) |
//! | `GET /api/v1/streams` | live streams: publisher, codecs, rates, viewers ([`stats::streams`]) |
//! | `GET /api/v1/clients` | connections: address, transport, role, bytes ([`stats::clients`]) |
//! | `DELETE /api/v1/clients/ID` | ends that connection (the client is sent `close`) |
//! | `POST /api/v1/reload` | rereads the configuration file ([`crate::reload`]) |
//!
//! Requests carry no body here: what the gateway reads of one is its head, bounded by
//! [`crate::http::MAX_HEAD`].

pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::gateway::Gateway;
use crate::http::Request;

/// The admin API's prefix.
pub const PREFIX: &str = "/api/v1/";
/// Scrapes served at once on `metrics_addr`.
const METRICS_CONNECTIONS: usize = 16;

/// The answer to `request` if it is one of these endpoints' (a whole HTTP response), else
/// `None` (the caller serves files and WebSocket upgrades).
pub async fn respond(request: &Request, gateway: &Arc<Gateway>) -> Option<Vec<u8>> {
    let path = request.path.split(['?', '#']).next().unwrap_or("/");
    if path == "/metrics" {
        return Some(metrics(request, gateway));
    }
    let rest = path.strip_prefix(PREFIX)?;
    let endpoint = Endpoint::parse(rest)?;
    let settings = gateway.settings();
    let Some(token) = settings.config.admin_token.as_deref() else {
        return Some(json_response(
            404,
            &json!({ "error": "the admin API is off (no admin_token)" }),
        ));
    };
    if !bearer_matches(request.authorization.as_deref(), token) {
        return Some(unauthorized());
    }
    drop(settings);
    Some(endpoint.answer(&request.method, gateway).await)
}

/// The admin API's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Summary,
    Streams,
    Clients,
    Client(u64),
    Relays,
    Reload,
}

impl Endpoint {
    /// The endpoint of a path after [`PREFIX`]; `None` for paths this module does not serve.
    fn parse(rest: &str) -> Option<Endpoint> {
        let rest = rest.trim_end_matches('/');
        Some(match rest {
            "summary" => Endpoint::Summary,
            "streams" => Endpoint::Streams,
            "clients" => Endpoint::Clients,
            "reload" => Endpoint::Reload,
            "relays" => Endpoint::Relays,
            _ => {
                let id = rest.strip_prefix("clients/")?;
                if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Endpoint::Client(id.parse().ok()?)
            }
        })
    }

    async fn answer(self, method: &str, gateway: &Arc<Gateway>) -> Vec<u8> {
        match (self, method) {
            (Endpoint::Summary, "GET") => json_response(200, &stats::summary(gateway)),
            (Endpoint::Streams, "GET") => json_response(200, &stats::streams(gateway)),
            (Endpoint::Clients, "GET") => json_response(200, &stats::clients(gateway)),
            (Endpoint::Relays, "GET") => json_response(200, &stats::relays(gateway)),
            (Endpoint::Client(id), "GET") => match stats::client(gateway, id) {
                Some(client) => json_response(200, &client),
                None => not_found(id),
            },
            (Endpoint::Client(id), "DELETE") => {
                if gateway.clients.kick(id) {
                    info!(id, "client kicked through the admin API");
                    json_response(200, &json!({ "kicked": id }))
                } else {
                    not_found(id)
                }
            }
            (Endpoint::Reload, "POST") => {
                let gateway = Arc::clone(gateway);
                // Reading files (the config, TLS certificates) blocks.
                let result = tokio::task::spawn_blocking(move || crate::reload::reload(&gateway))
                    .await
                    .map_err(|e| e.to_string());
                match result {
                    Ok(Ok(reloaded)) => json_response(
                        200,
                        &json!({ "reloaded": true, "restart_needed": reloaded.restart_needed }),
                    ),
                    Ok(Err(e)) => json_response(400, &json!({ "error": e.to_string() })),
                    Err(e) => json_response(500, &json!({ "error": e })),
                }
            }
            (endpoint, _) => {
                let allow = match endpoint {
                    Endpoint::Client(_) => "GET, DELETE",
                    Endpoint::Reload => "POST",
                    _ => "GET",
                };
                response(
                    405,
                    "application/json",
                    &[("Allow", allow)],
                    json!({ "error": format!("use {allow}") })
                        .to_string()
                        .as_bytes(),
                )
            }
        }
    }
}

fn not_found(id: u64) -> Vec<u8> {
    json_response(404, &json!({ "error": format!("no client {id}") }))
}

/// `/metrics`: Prometheus text, behind `metrics_token` when it is set.
fn metrics(request: &Request, gateway: &Gateway) -> Vec<u8> {
    if request.method != "GET" && request.method != "HEAD" {
        return response(405, "text/plain", &[("Allow", "GET")], b"use GET");
    }
    let settings = gateway.settings();
    if let Some(token) = settings.config.metrics_token.as_deref() {
        if !bearer_matches(request.authorization.as_deref(), token) {
            return unauthorized();
        }
    }
    let text = gateway.metrics.render(gateway);
    response(
        200,
        prometheus::TEXT_FORMAT,
        &[],
        if request.method == "HEAD" {
            b""
        } else {
            text.as_bytes()
        },
    )
}

/// Serves `/metrics` alone on a listener of its own (`metrics_addr`), a few scrapes at once.
pub async fn serve_metrics(listener: TcpListener, gateway: Arc<Gateway>) {
    let slots = Arc::new(Semaphore::new(METRICS_CONNECTIONS));
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!("metrics listener: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            debug!(%peer, "metrics listener busy");
            continue;
        };
        let gateway = Arc::clone(&gateway);
        tokio::spawn(async move {
            let limit = Duration::from_secs(10);
            let head = tokio::time::timeout(limit, crate::http::read_head(&mut stream)).await;
            let answer = match head {
                Ok(Ok((request, _))) => {
                    let path = request.path.split(['?', '#']).next().unwrap_or("/");
                    if path == "/metrics" {
                        metrics(&request, &gateway)
                    } else {
                        crate::http::plain(404, "Not Found")
                    }
                }
                _ => return,
            };
            crate::http::write_within(&mut stream, &answer, limit).await;
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
            drop(slot);
        });
    }
}

/// Whether `Authorization` is `Bearer TOKEN`, compared in constant time; the one check for
/// every admin route (these and the shared-object ones in `admin.rs`) and `/metrics`.
pub(crate) fn bearer_matches(authorization: Option<&str>, token: &str) -> bool {
    let Some(given) = authorization.and_then(|value| {
        let (scheme, rest) = value.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    }) else {
        return false;
    };
    let (given, token) = (given.as_bytes(), token.as_bytes());
    given.len() == token.len()
        && given
            .iter()
            .zip(token)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

fn unauthorized() -> Vec<u8> {
    response(
        401,
        "application/json",
        &[("WWW-Authenticate", "Bearer")],
        br#"{"error":"a valid Authorization: Bearer token is needed"}"#,
    )
}

fn json_response(status: u16, body: &Value) -> Vec<u8> {
    response(status, "application/json", &[], body.to_string().as_bytes())
}

fn response(status: u16, content_type: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        assert!(bearer_matches(Some("Bearer s3cret"), "s3cret"));
        assert!(bearer_matches(Some("bearer  s3cret "), "s3cret"));
        for given in [
            None,
            Some(""),
            Some("s3cret"),
            Some("Bearer"),
            Some("Bearer s3cre"),
            Some("Bearer s3cret2"),
            Some("Basic s3cret"),
        ] {
            assert!(!bearer_matches(given, "s3cret"), "{given:?}");
        }
    }

    #[test]
    fn endpoints_are_parsed_strictly() {
        assert_eq!(Endpoint::parse("streams"), Some(Endpoint::Streams));
        assert_eq!(Endpoint::parse("streams/"), Some(Endpoint::Streams));
        assert_eq!(Endpoint::parse("clients/42"), Some(Endpoint::Client(42)));
        assert_eq!(Endpoint::parse("clients/"), Some(Endpoint::Clients));
        for other in [
            "clients/-1",
            "clients/4x",
            "clients/99999999999999999999999",
            "apps/live/shared_objects",
            "clients/1/call",
            "",
        ] {
            assert_eq!(Endpoint::parse(other), None, "{other}");
        }
    }
}
