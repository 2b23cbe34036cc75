//! The HTTP side: static files (demo page and client package) and WebSocket upgrades that
//! carry RTMP.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info};

use crate::driver::serve;
use crate::gateway::Gateway;
use crate::policy::Decision;
use crate::transport::{ReadReady, WebSocket};

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// A byte stream HTTP is served on: TCP, or TLS over TCP ([`crate::tls`]).
pub trait HttpStream: AsyncRead + AsyncWrite + ReadReady + Unpin + Send + 'static {
    /// Sends small writes at once (Nagle off): WebSocket sessions carry live media.
    fn set_nodelay(&self) -> std::io::Result<()>;
}

impl HttpStream for TcpStream {
    fn set_nodelay(&self) -> std::io::Result<()> {
        TcpStream::set_nodelay(self, true)
    }
}

/// Serves one HTTP connection: one request, then either a WebSocket session or a file.
pub async fn handle<S: HttpStream>(mut stream: S, gateway: Arc<Gateway>, peer: String) {
    let head = match tokio::time::timeout(Duration::from_secs(10), read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(e)) => return debug!(%peer, "bad HTTP request: {e}"),
        Err(_) => return debug!(%peer, "HTTP request head timed out"),
    };
    let (request, rest) = head;
    if request.websocket_key.is_some() {
        if let Decision::Deny(why) = gateway.policy.websocket_origin(request.origin.as_deref()) {
            info!(%peer, "WebSocket refused: {why}");
            let _ = stream.write_all(&plain(403, "Forbidden")).await;
            let _ = stream.shutdown().await;
            return;
        }
        upgrade(stream, request, rest, gateway, peer).await;
    } else {
        let response = static_response(&request, &gateway).await;
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
    }
}

struct Request {
    method: String,
    path: String,
    websocket_key: Option<String>,
    origin: Option<String>,
}

async fn read_head<S: HttpStream>(stream: &mut S) -> std::io::Result<(Request, Vec<u8>)> {
    let mut buf = Vec::with_capacity(2048);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 48];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let header = |name: &str| {
                    parsed
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                };
                let upgrade =
                    header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
                let request = Request {
                    method: parsed.method.unwrap_or("GET").to_owned(),
                    path: parsed.path.unwrap_or("/").to_owned(),
                    websocket_key: header("sec-websocket-key")
                        .filter(|_| upgrade)
                        .map(str::to_owned),
                    origin: header("origin").map(str::to_owned),
                };
                return Ok((request, buf[len..].to_vec()));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "request head too large",
                ))
            }
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn upgrade<S: HttpStream>(
    mut stream: S,
    request: Request,
    rest: Vec<u8>,
    gateway: Arc<Gateway>,
    peer: String,
) {
    let Some(key) = request.websocket_key else {
        return;
    };
    let accept = derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if stream.write_all(response.as_bytes()).await.is_err() || stream.flush().await.is_err() {
        return;
    }
    let _ = stream.set_nodelay();
    // WebSocket messages are bounded like RTMP messages (plus room for chunk headers).
    let limit = gateway.config.max_message_size as usize + 64 * 1024;
    // tungstenite's default 128 KiB read buffer per connection would be most of an idle
    // viewer's memory; players send little, so start small (it grows when needed).
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let ws = WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(config)).await;
    debug!(%peer, path = %request.path, "websocket upgraded");
    serve(WebSocket::new(ws), gateway, format!("ws {peer}")).await;
}

async fn static_response(request: &Request, gateway: &Gateway) -> Vec<u8> {
    if request.method != "GET" && request.method != "HEAD" {
        return plain(405, "Method Not Allowed");
    }
    let Some(path) = resolve(&request.path, gateway) else {
        return plain(404, "Not Found");
    };
    match tokio::fs::read(&path).await {
        Ok(body) => {
            let mut response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
                content_type(&path),
                body.len()
            )
            .into_bytes();
            if request.method == "GET" {
                response.extend_from_slice(&body);
            }
            response
        }
        Err(_) => plain(404, "Not Found"),
    }
}

/// Maps a URL path to a file under the www or package folder; `None` for anything that would
/// leave them.
fn resolve(url_path: &str, gateway: &Gateway) -> Option<PathBuf> {
    let path = url_path.split(['?', '#']).next().unwrap_or("/");
    let (root, rest): (&Path, &str) = match path.strip_prefix("/pkg/") {
        Some(rest) => (&gateway.config.package_dir, rest),
        None => (&gateway.config.www_dir, path.trim_start_matches('/')),
    };
    let rest = if rest.is_empty() || rest.ends_with('/') {
        format!("{rest}index.html")
    } else {
        rest.to_owned()
    };
    if rest.contains(['\\', '\0', '%']) {
        return None;
    }
    let relative = Path::new(&rest);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    Some(root.join(relative))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("ts") => "text/plain; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn plain(status: u16, reason: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reason}", reason.len())
        .into_bytes()
}
