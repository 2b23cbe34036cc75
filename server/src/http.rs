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
pub use crate::request_head::{parse_head, HeadError, Request, MAX_HEAD};
use crate::transport::{ReadReady, WebSocket};

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
    let settings = gateway.settings();
    if let Some(response) = crate::api::respond(&request, &gateway).await {
        let limit = Duration::from_secs(settings.config.write_timeout_secs);
        write_within(&mut stream, &response, limit).await;
        let _ = stream.shutdown().await;
        return;
    }
    if request.websocket_key.is_some() {
        if let Decision::Deny(why) = settings.policy.websocket_origin(request.origin.as_deref()) {
            info!(%peer, "WebSocket refused: {why}");
            gateway.metrics.refused(
                crate::metrics::Action::WebSocket,
                crate::metrics::Reason::Origin,
            );
            let limit = Duration::from_secs(settings.config.write_timeout_secs);
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

pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> std::io::Result<(Request, Vec<u8>)> {
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
    let limit = gateway.settings().config.max_message_size as usize + 64 * 1024;
    // tungstenite's default 128 KiB read buffer per connection would be most of an idle
    // viewer's memory; players send little, so start small (it grows when needed).
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let ws = WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(config)).await;
    // Behind a trusted proxy, the client is who the proxy says.
    let proxies = gateway.settings().proxies.clone();
    let client = match peer.parse::<std::net::SocketAddr>() {
        Ok(address) if proxies.contains(address.ip()) => {
            let ip = proxies.forwarded_client(address.ip(), request.forwarded_for.as_deref());
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
    let settings = gateway.settings();
    let limit = Duration::from_secs(settings.config.write_timeout_secs);
    if request.method != "GET" && request.method != "HEAD" {
        write_within(stream, &plain(405, "Method Not Allowed"), limit).await;
        return;
    }
    let opened = match resolve(&request.path, &settings.config) {
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
pub(crate) async fn write_within<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
    limit: Duration,
) -> bool {
    matches!(
        tokio::time::timeout(limit, stream.write_all(bytes)).await,
        Ok(Ok(()))
    )
}

/// Maps a URL path to a file under the www or package folder; `None` for anything that would
/// leave them.
fn resolve(url_path: &str, config: &crate::config::Config) -> Option<PathBuf> {
    let path = url_path.split(['?', '#']).next().unwrap_or("/");
    let (root, rest): (&Path, &str) = match path.strip_prefix("/pkg/") {
        Some(rest) => (&config.package_dir, rest),
        None => (&config.www_dir, path.trim_start_matches('/')),
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

pub(crate) fn plain(status: u16, reason: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reason}", reason.len())
        .into_bytes()
}
