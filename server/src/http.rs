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
pub const MAX_HEAD: usize = 16 * 1024;
/// How much of a file is read and written at a time.
const FILE_PIECE: usize = 64 * 1024;

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
            let limit = Duration::from_secs(gateway.config.write_timeout_secs);
            write_within(&mut stream, &plain(403, "Forbidden"), limit).await;
            let _ = stream.shutdown().await;
            return;
        }
        upgrade(stream, request, rest, gateway, peer).await;
    } else if crate::admin::is_api(&request.path) {
        crate::admin::serve(&mut stream, &request, rest, &gateway).await;
        let _ = stream.shutdown().await;
    } else {
        serve_file(&mut stream, &request, &gateway).await;
        let _ = stream.shutdown().await;
    }
}

/// The parts of a request head the gateway acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// `Sec-WebSocket-Key`, when the request asks for a WebSocket upgrade.
    pub websocket_key: Option<String>,
    pub origin: Option<String>,
    /// `X-Forwarded-For`, believed only from trusted proxies ([`crate::proxy`]).
    pub forwarded_for: Option<String>,
    /// `Authorization`, for the admin API.
    pub authorization: Option<String>,
    /// `Content-Length`, when present and a number.
    pub content_length: Option<usize>,
}

/// Why a request head was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeadError {
    #[error("request head over {MAX_HEAD} bytes")]
    TooLarge,
    #[error("malformed request head: {0}")]
    Malformed(httparse::Error),
}

/// Parses the request head at the front of `buf`: `Ok(None)` while it is incomplete, else
/// the request and the length of its head. Heads over [`MAX_HEAD`] bytes or with more than
/// 48 headers are refused.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let header = |name: &str| {
                parsed
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
            };
            let upgrade = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
            let request = Request {
                method: parsed.method.unwrap_or("GET").to_owned(),
                path: parsed.path.unwrap_or("/").to_owned(),
                websocket_key: header("sec-websocket-key")
                    .filter(|_| upgrade)
                    .map(str::to_owned),
                origin: header("origin").map(str::to_owned),
                forwarded_for: header("x-forwarded-for").map(str::to_owned),
                authorization: header("authorization").map(str::to_owned),
                content_length: header("content-length").and_then(|v| v.trim().parse().ok()),
            };
            Ok(Some((request, len)))
        }
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => Ok(None),
        Ok(httparse::Status::Partial) => Err(HeadError::TooLarge),
        Err(e) => Err(HeadError::Malformed(e)),
    }
}

async fn read_head<S: HttpStream>(stream: &mut S) -> std::io::Result<(Request, Vec<u8>)> {
    let mut buf = Vec::with_capacity(2048);
    loop {
        match parse_head(&buf) {
            Ok(Some((request, len))) => return Ok((request, buf[len..].to_vec())),
            Ok(None) => {}
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
    // Behind a trusted proxy, the client is who the proxy says.
    let client = match peer.parse::<std::net::SocketAddr>() {
        Ok(address) if gateway.proxies.contains(address.ip()) => {
            let ip = gateway
                .proxies
                .forwarded_client(address.ip(), request.forwarded_for.as_deref());
            if ip == address.ip() {
                peer
            } else {
                ip.to_string()
            }
        }
        _ => peer,
    };
    debug!(peer = %client, path = %request.path, "websocket upgraded");
    serve(WebSocket::new(ws), gateway, format!("ws {client}")).await;
}

/// Answers a plain HTTP request with a file of the www or package folder, read and sent in
/// pieces (a large file costs no more memory than a small one), every write bounded by
/// `write_timeout_secs` so a client that stops reading lets go of its connection slot.
async fn serve_file<S: HttpStream>(stream: &mut S, request: &Request, gateway: &Gateway) {
    let limit = Duration::from_secs(gateway.config.write_timeout_secs);
    if request.method != "GET" && request.method != "HEAD" {
        write_within(stream, &plain(405, "Method Not Allowed"), limit).await;
        return;
    }
    let opened = match resolve(&request.path, gateway) {
        Some(path) => match tokio::fs::File::open(&path).await {
            Ok(file) => match file.metadata().await {
                Ok(meta) if meta.is_file() => Some((path, file, meta.len())),
                _ => None,
            },
            Err(_) => None,
        },
        None => None,
    };
    let Some((path, mut file, len)) = opened else {
        write_within(stream, &plain(404, "Not Found"), limit).await;
        return;
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {len}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        content_type(&path),
    );
    if !write_within(stream, head.as_bytes(), limit).await || request.method == "HEAD" {
        return;
    }
    let mut buf = vec![0u8; FILE_PIECE];
    let mut left = len;
    while left > 0 {
        let n = match file.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n.min(usize::try_from(left).unwrap_or(usize::MAX)),
        };
        if !write_within(stream, &buf[..n], limit).await {
            return;
        }
        left -= n as u64;
    }
}

/// Writes `bytes` whole within `limit`; false if the write failed or took longer.
async fn write_within<S: HttpStream>(stream: &mut S, bytes: &[u8], limit: Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, stream.write_all(bytes)).await,
        Ok(Ok(()))
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_parses_once_complete_and_knows_an_upgrade_from_a_get() {
        let upgrade =
            b"GET /live HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Key: k==\r\nOrigin: https://a.example\r\n\r\nrest";
        let (request, len) = parse_head(upgrade).unwrap().unwrap();
        assert_eq!(&upgrade[len..], b"rest");
        assert_eq!(request.path, "/live");
        assert_eq!(request.websocket_key.as_deref(), Some("k=="));
        assert_eq!(request.origin.as_deref(), Some("https://a.example"));
        for cut in 0..upgrade.len() - 4 {
            assert_eq!(parse_head(&upgrade[..cut]), Ok(None), "{cut} bytes");
        }
        // A key without an Upgrade header is no upgrade.
        let get = b"GET / HTTP/1.1\r\nSec-WebSocket-Key: k==\r\n\r\n";
        assert_eq!(parse_head(get).unwrap().unwrap().0.websocket_key, None);
    }

    #[test]
    fn oversized_and_malformed_heads_are_refused() {
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(MAX_HEAD + 1, b'a');
        assert_eq!(parse_head(&huge), Err(HeadError::TooLarge));
        assert!(matches!(
            parse_head(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        let many: String = (0..60).map(|i| format!("H{i}: v\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(
            parse_head(head.as_bytes()),
            Err(HeadError::Malformed(httparse::Error::TooManyHeaders))
        ));
    }
}
