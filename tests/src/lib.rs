//! Harness for the end-to-end suites: starts the real gateway binary on free loopback ports,
//! makes test media with ffmpeg, and speaks RTMP to the gateway through the protocol crate's
//! client session, over TCP or WebSocket.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rtmpws_protocol::amf::Value;
use rtmpws_protocol::client::{ClientConfig, ClientEvent, ClientSession};
use rtmpws_protocol::StreamId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The gateway binary: `RTMPWS_GATEWAY`, or the one cargo built in this workspace.
pub fn gateway_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("RTMPWS_GATEWAY") {
        return path.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    for profile in ["debug", "release"] {
        let path = target.join(profile).join("rtmpws-gateway");
        if path.exists() {
            return path;
        }
    }
    panic!("rtmpws-gateway is not built: run `cargo build -p rtmpws-gateway` first (the test script does)");
}

/// FFmpeg 9 (Enhanced RTMP: HEVC, AV1, VP9, Opus, multitrack), which Debian's ffmpeg 5.1 is
/// not: `RTMPWS_FFMPEG9`, or the static binary `scripts/setup.sh test` installs under
/// `.cache/ffmpeg9`. Panics with how to get it when it is missing; CI installs it, so tests
/// that need it fail rather than skip.
pub fn ffmpeg9() -> PathBuf {
    let path = std::env::var_os("RTMPWS_FFMPEG9")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            root().join(".cache/ffmpeg9/imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v9.0.2")
        });
    assert!(
        path.is_file(),
        "FFmpeg 9 not found at {}: run `bash scripts/setup.sh test` (it installs imageio-ffmpeg \
         0.8.1 into .cache/ffmpeg9) or set RTMPWS_FFMPEG9",
        path.display()
    );
    path
}

/// The addresses the gateway reported in its `--addr-file`.
struct Addresses {
    rtmp: SocketAddr,
    http: SocketAddr,
    https: Option<SocketAddr>,
    rtmps: Option<SocketAddr>,
}

/// Waits (up to 10 s, while the process lives) for the gateway's `--addr-file` and parses it.
fn wait_for_addresses(path: &Path, child: &mut Child) -> Option<Addresses> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(path) {
            let address = |key: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
                    .and_then(|value| value.parse().ok())
            };
            return Some(Addresses {
                rtmp: address("rtmp")?,
                http: address("http")?,
                https: address("https"),
                rtmps: address("rtmps"),
            });
        }
        if !matches!(child.try_wait(), Ok(None)) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// A running gateway, stopped (by PID) when dropped.
pub struct Gateway {
    child: Child,
    pub rtmp: SocketAddr,
    pub http: SocketAddr,
    /// https:// and wss://, when the config's [tls] table has `https_addr`.
    pub https: Option<SocketAddr>,
    /// rtmps://, when the config's [tls] table has `rtmps_addr`.
    pub rtmps: Option<SocketAddr>,
    pub dir: TempDir,
}

impl Gateway {
    /// Starts the gateway with default settings plus `extra_config` TOML lines. It binds port 0
    /// and reports the ports it got through `--addr-file`, so parallel tests (and the ffmpeg
    /// processes they start, whose outgoing connections take ephemeral ports too) never race
    /// for a port.
    pub fn start(extra_config: &str) -> Gateway {
        let dir = TempDir::new("gateway");
        let config = dir.path().join("gateway.toml");
        std::fs::create_dir_all(dir.path().join("media")).unwrap();
        std::fs::write(
            &config,
            format!(
                "rtmp_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\nmedia_dir = \"{}\"\nwww_dir = \"{}\"\n{extra_config}\n",
                dir.path().join("media").display(),
                root().join("www").display()
            ),
        )
        .unwrap();
        let (child, addresses) = Self::spawn(&dir);
        Gateway {
            child,
            rtmp: addresses.rtmp,
            http: addresses.http,
            https: addresses.https,
            rtmps: addresses.rtmps,
            dir,
        }
    }

    /// Runs the binary on `dir`'s config, and waits for its addresses.
    fn spawn(dir: &TempDir) -> (Child, Addresses) {
        let config = dir.path().join("gateway.toml");
        let addr_file = dir.path().join("addresses");
        let _ = std::fs::remove_file(&addr_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("gateway.log"))
            .unwrap();
        let mut child = Command::new(gateway_binary())
            .arg("--config")
            .arg(&config)
            .arg("--addr-file")
            .arg(&addr_file)
            .env("RUST_LOG", "debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start rtmpws-gateway");
        let addresses = match wait_for_addresses(&addr_file, &mut child) {
            Some(addresses) => addresses,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                let log =
                    std::fs::read_to_string(dir.path().join("gateway.log")).unwrap_or_default();
                panic!("gateway did not listen within 10 s; log:\n{log}");
            }
        };
        (child, addresses)
    }

    /// Stops the gateway (SIGTERM, or SIGKILL with `kill`: no chance to clean up) and starts
    /// a new one on the same folder and config; its ports are new.
    pub fn restart(&mut self, kill: bool) {
        if kill {
            let _ = self.child.kill();
            let _ = self.child.wait();
        } else {
            assert!(self.terminate(), "the gateway did not stop cleanly");
        }
        let (child, addresses) = Self::spawn(&self.dir);
        self.child = child;
        self.rtmp = addresses.rtmp;
        self.http = addresses.http;
        self.https = addresses.https;
        self.rtmps = addresses.rtmps;
    }

    /// Puts a recorded item at `MEDIA_DIR/APP/NAME` (NAME may include `.flv`).
    pub fn add_recorded(&self, app: &str, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join("media").join(app).join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn rtmp_url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.rtmp)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}/{path}", self.http)
    }

    /// `rtmps://HOST:PORT/PATH`; panics when the gateway has no rtmps listener.
    pub fn rtmps_url(&self, path: &str) -> String {
        let addr = self
            .rtmps
            .expect("the gateway was started without [tls] rtmps_addr");
        format!("rtmps://{addr}/{path}")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- gateway log ---\n{}", self.log());
        }
    }
}

/// A temporary folder removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("rtmpws-{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test FLV made by ffmpeg once per test binary: H.264 + AAC, 320x240, 30 fps, keyframe
/// every second, `seconds` long.
pub fn test_flv(seconds: u32) -> PathBuf {
    test_flv_sized(seconds, "320x240")
}

/// Like [`test_flv`], with another picture size (`"WxH"`).
pub fn test_flv_sized(seconds: u32, size: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rtmpws-media-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    });
    // Tests of one binary run in parallel threads; make each file once.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _making = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let path = dir.join(format!("test-{seconds}s-{size}.flv"));
    if !path.exists() {
        let tmp = dir.join(format!("test-{seconds}s-{size}.tmp.flv"));
        let status = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                format!("testsrc2=size={size}:rate=30").as_str(),
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100",
            ])
            .args([
                "-t",
                &seconds.to_string(),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-g",
                "30",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
            .arg(&tmp)
            .status()
            .expect("ffmpeg is not installed");
        assert!(status.success(), "ffmpeg could not make test media");
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// An ffmpeg child process, killed when dropped.
pub struct Ffmpeg(pub Child);

impl Ffmpeg {
    /// Publishes `file` at real speed to `url` (`-re -c copy -f flv`).
    pub fn publish(file: &Path, url: &str) -> Ffmpeg {
        let child = Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-i"])
            .arg(file)
            .args(["-c", "copy", "-f", "flv", url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ffmpeg is not installed");
        Ffmpeg(child)
    }

    /// Waits for exit, up to `timeout`; returns the exit success.
    pub fn wait(&mut self, timeout: Duration) -> Option<bool> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status.success());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The byte pipe under a test client.
enum Pipe {
    Tcp(TcpStream),
    Ws(Box<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>>),
}

/// An RTMP client for tests: the protocol crate's [`ClientSession`] over TCP or WebSocket.
pub struct TestClient {
    session: ClientSession,
    pipe: Pipe,
    /// Every event received, in order.
    pub events: Vec<ClientEvent>,
    read_buf: Vec<u8>,
    closed: bool,
}

pub const TIMEOUT: Duration = Duration::from_secs(10);

impl TestClient {
    /// Opens `rtmp://host:port/...` or `ws://host:port/...` (handshake only; call `connect`).
    pub async fn open(url: &str) -> TestClient {
        let mut client = Self::open_pipe(url).await;
        client.flush().await;
        client
    }

    async fn open_pipe(url: &str) -> TestClient {
        Self::open_pipe_with(url, None).await
    }

    /// Opens `rtmp://` with a small socket receive buffer (a subscriber that cannot keep up),
    /// then connects.
    pub async fn connect_slow(url: &str, receive_buffer: u32) -> TestClient {
        let mut client = Self::open_pipe_with(url, Some(receive_buffer)).await;
        client.flush().await;
        let app = url.splitn(4, '/').nth(3).unwrap_or_default().to_owned();
        let props = Value::object([("app", Value::from(app)), ("tcUrl", url.into())]);
        client.session.connect(props, vec![]);
        client.flush().await;
        client
    }

    async fn open_pipe_with(url: &str, receive_buffer: Option<u32>) -> TestClient {
        Self::open_pipe_as(url, receive_buffer, &[], &[]).await
    }

    /// Like [`Self::open_pipe_with`]; a WebSocket upgrade carries `headers` too, and over TCP
    /// `preamble` goes before the handshake (a load balancer's PROXY header).
    async fn open_pipe_as(
        url: &str,
        receive_buffer: Option<u32>,
        headers: &[(&str, &str)],
        preamble: &[u8],
    ) -> TestClient {
        let session = ClientSession::new(ClientConfig::default());
        let pipe = if let Some(rest) = url.strip_prefix("rtmp://") {
            let host: SocketAddr = rest.split('/').next().unwrap().parse().unwrap();
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            if let Some(size) = receive_buffer {
                socket.set_recv_buffer_size(size).unwrap();
            }
            let mut stream = socket.connect(host).await.unwrap();
            if !preamble.is_empty() {
                stream.write_all(preamble).await.unwrap();
            }
            Pipe::Tcp(stream)
        } else {
            use tokio_tungstenite::tungstenite::client::IntoClientRequest;
            let mut request = url.into_client_request().unwrap();
            for (name, value) in headers {
                request.headers_mut().insert(
                    tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                        .unwrap(),
                    value.parse().unwrap(),
                );
            }
            let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
            Pipe::Ws(Box::new(ws))
        };
        let mut client = TestClient {
            session,
            pipe,
            events: Vec::new(),
            read_buf: vec![0; 65536],
            closed: false,
        };
        client.flush().await;
        client
    }

    /// Opens the URL without starting a handshake (hostile-input tests).
    pub async fn open_raw(url: &str) -> TestClient {
        let mut client = Self::open_pipe(url).await;
        client.session = ClientSession::new(ClientConfig::default());
        client
    }

    /// Opens the URL and sends `connect` for its app, with tcUrl as Flash derives it.
    pub async fn connect(url: &str, extra: &[(&str, Value)]) -> TestClient {
        Self::connect_as(url, extra, &[]).await
    }

    /// Like [`Self::connect`] over `ws://`, with extra HTTP headers on the upgrade.
    pub async fn connect_as(
        url: &str,
        extra: &[(&str, Value)],
        headers: &[(&str, &str)],
    ) -> TestClient {
        Self::connect_after(url, extra, headers, &[]).await
    }

    /// Like [`Self::connect`] over `rtmp://`, with `preamble` sent before the handshake.
    pub async fn connect_behind_proxy(url: &str, preamble: &[u8]) -> TestClient {
        Self::connect_after(url, &[], &[], preamble).await
    }

    async fn connect_after(
        url: &str,
        extra: &[(&str, Value)],
        headers: &[(&str, &str)],
        preamble: &[u8],
    ) -> TestClient {
        let mut client = Self::open_pipe_as(url, None, headers, preamble).await;
        let app = url.splitn(4, '/').nth(3).unwrap_or_default().to_owned();
        let mut props = vec![
            ("app".to_owned(), Value::from(app)),
            ("flashVer".to_owned(), "LNX 9,0,124,2".into()),
            ("tcUrl".to_owned(), url.into()),
            ("fpad".to_owned(), false.into()),
            ("capabilities".to_owned(), 15.0.into()),
            ("audioCodecs".to_owned(), 3191.0.into()),
            ("videoCodecs".to_owned(), 252.0.into()),
            ("videoFunction".to_owned(), 1.0.into()),
            ("objectEncoding".to_owned(), 0.0.into()),
        ];
        for (k, v) in extra {
            props.retain(|(key, _)| key != k);
            props.push(((*k).to_owned(), v.clone()));
        }
        client.session.connect(Value::Object(props), vec![]);
        client.flush().await;
        client
    }

    pub fn session(&mut self) -> &mut ClientSession {
        &mut self.session
    }

    /// Sends whatever the session queued.
    pub async fn flush(&mut self) {
        let out = self.session.take_output();
        if out.is_empty() {
            return;
        }
        match &mut self.pipe {
            Pipe::Tcp(s) => s.write_all(&out).await.unwrap(),
            Pipe::Ws(ws) => ws.send(WsMessage::Binary(Bytes::from(out))).await.unwrap(),
        }
    }

    /// Sends bytes as they are, bypassing the session (hostile-input tests).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let result = match &mut self.pipe {
            Pipe::Tcp(s) => s.write_all(bytes).await.map_err(|e| e.to_string()),
            Pipe::Ws(ws) => ws
                .send(WsMessage::Binary(Bytes::copy_from_slice(bytes)))
                .await
                .map_err(|e| e.to_string()),
        };
        if result.is_err() {
            self.closed = true;
        }
    }

    /// Waits until the handshake is over (the server answered C0+C1).
    pub async fn finish_handshake(&mut self) {
        while !self.session.is_handshake_done() {
            assert!(self.pump().await, "closed during the handshake");
        }
    }

    /// Reads and discards until the peer closes; true if it closed within `timeout`.
    pub async fn closes_within(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.pump_lossy()).await {
                Ok(true) => continue,
                Ok(false) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Reads what arrives next (a TCP read or one binary WebSocket message); `None` once the
    /// peer closed.
    async fn read_once(&mut self) -> Option<Vec<u8>> {
        if self.closed {
            return None;
        }
        let data = match &mut self.pipe {
            Pipe::Tcp(s) => match s.read(&mut self.read_buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(self.read_buf[..n].to_vec()),
            },
            Pipe::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(WsMessage::Binary(b))) => break Some(b.to_vec()),
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break None,
                    Some(Ok(_)) => continue,
                }
            },
        };
        self.closed = data.is_none();
        data
    }

    /// Like `pump`, but discards what arrives (it may not even be RTMP).
    async fn pump_lossy(&mut self) -> bool {
        self.read_once().await.is_some()
    }

    /// Reads once from the network and feeds the session; false once closed.
    async fn pump(&mut self) -> bool {
        let Some(data) = self.read_once().await else {
            return false;
        };
        self.session
            .handle_input(&data)
            .expect("the gateway sent something the client cannot decode");
        self.flush().await;
        true
    }

    /// The next event, or `None` on close or after `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<ClientEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(event) = self.session.poll_event() {
                self.events.push(event.clone());
                return Some(event);
            }
            match tokio::time::timeout_at(deadline, self.pump()).await {
                Ok(true) => continue,
                Ok(false) | Err(_) => return None,
            }
        }
    }

    /// Every event that arrives within `window`.
    pub async fn collect_for(&mut self, window: Duration) -> Vec<ClientEvent> {
        let deadline = tokio::time::Instant::now() + window;
        let from = self.events.len();
        while let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now()) {
            if self.next_event(left).await.is_none() {
                break;
            }
        }
        self.events[from..].to_vec()
    }

    /// Reads events until one matches; panics with everything seen on timeout or close.
    pub async fn wait_for<F: FnMut(&ClientEvent) -> bool>(
        &mut self,
        what: &str,
        mut f: F,
    ) -> ClientEvent {
        let start = self.events.len();
        loop {
            match self.next_event(TIMEOUT).await {
                Some(event) if f(&event) => return event,
                Some(_) => continue,
                None => panic!("no {what}; got: {:#?}", summarize(&self.events[start..])),
            }
        }
    }

    /// Waits for an onStatus with this code.
    pub async fn wait_status(&mut self, code: &str) -> Value {
        match self.wait_for(code, |e| matches!(e, ClientEvent::Status { info, .. } if info.get_str("code") == Some(code))).await {
            ClientEvent::Status { info, .. } => info,
            _ => unreachable!(),
        }
    }

    /// Waits for the connect answer; returns (accepted, info).
    pub async fn connect_answer(&mut self) -> (bool, Value) {
        match self
            .wait_for("connect answer", |e| {
                matches!(
                    e,
                    ClientEvent::Connected { .. } | ClientEvent::ConnectRejected { .. }
                )
            })
            .await
        {
            ClientEvent::Connected { info, .. } => (true, info),
            ClientEvent::ConnectRejected { info } => (false, info),
            _ => unreachable!(),
        }
    }

    pub async fn create_stream(&mut self) -> StreamId {
        let transaction = self.session.create_stream();
        self.flush().await;
        match self
            .wait_for("createStream result", |e| matches!(e, ClientEvent::StreamCreated { transaction_id, .. } if *transaction_id == transaction))
            .await
        {
            ClientEvent::StreamCreated { stream_id, .. } => stream_id,
            _ => unreachable!(),
        }
    }

    /// True if the connection is still open after `wait` (nothing arrives that closes it).
    pub async fn is_open_after(&mut self, wait: Duration) -> bool {
        let _ = self.next_event(wait).await;
        !self.closed
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// The audio and video tags of an FLV file, in order: `(kind, timestamp, body)`.
pub fn flv_tags(path: &Path) -> Vec<(rtmpws_protocol::MediaKind, u32, Bytes)> {
    use rtmpws_media::flv::{FlvItem, FlvReader, TagKind};
    use rtmpws_protocol::MediaKind;
    let mut reader = FlvReader::new();
    reader.push(&std::fs::read(path).unwrap());
    let mut tags = Vec::new();
    while let Ok(Some(item)) = reader.next_item() {
        if let FlvItem::Tag(tag) = item {
            let kind = match tag.kind {
                TagKind::Audio => MediaKind::Audio,
                TagKind::Video => MediaKind::Video,
                _ => continue,
            };
            tags.push((kind, tag.timestamp, tag.data));
        }
    }
    tags
}

/// Plays `url` with ffmpeg over RTMP (at most `max_frames` video frames, if given), decoding
/// every frame; returns how many video frames it decoded. Panics if ffmpeg fails.
pub fn ffmpeg_decoded_video_frames(url: &str, max_frames: Option<u32>) -> usize {
    let mut command = Command::new("ffmpeg");
    command.args(["-v", "error", "-i", url]);
    if let Some(n) = max_frames {
        command.args(["-frames:v", &n.to_string()]);
    }
    let output = command
        .args(["-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg is not installed");
    assert!(
        output.status.success(),
        "ffmpeg play of {url} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with("0,"))
        .count()
}

/// `ffprobe` of a file: (video frames, duration in seconds).
pub fn probe(path: &Path) -> (usize, f64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v",
            "-show_entries",
            "stream=nb_read_frames:format=duration",
            "-of",
            "default=nw=1",
        ])
        .arg(path)
        .output()
        .expect("ffprobe is not installed");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or("0")
            .trim()
            .to_owned()
    };
    (
        field("nb_read_frames=").parse().unwrap_or(0),
        field("duration=").parse().unwrap_or(0.0),
    )
}

/// A one-line view of events, for assertion messages and issue notes.
pub fn summarize(events: &[ClientEvent]) -> Vec<String> {
    events.iter().map(describe).collect()
}

/// One event as a short line: the code of status events, the handler of data, the kind of media.
pub fn describe(event: &ClientEvent) -> String {
    match event {
        ClientEvent::Connected { info, .. } => {
            format!("_result {}", info.get_str("code").unwrap_or("?"))
        }
        ClientEvent::ConnectRejected { info } => {
            format!("_error {}", info.get_str("code").unwrap_or("?"))
        }
        ClientEvent::StreamCreated { stream_id, .. } => format!("_result createStream {stream_id}"),
        ClientEvent::CallResult { .. } => "_result".into(),
        ClientEvent::CallError { args, .. } => {
            format!(
                "_error {}",
                args.first().and_then(|i| i.get_str("code")).unwrap_or("?")
            )
        }
        ClientEvent::Status { info, .. } => {
            format!("onStatus {}", info.get_str("code").unwrap_or("?"))
        }
        ClientEvent::PlayStatus { info, .. } => {
            format!("onPlayStatus {}", info.get_str("code").unwrap_or("?"))
        }
        ClientEvent::Data { values, .. } => match values.first().and_then(Value::as_str) {
            Some("onStatus") => format!(
                "data onStatus {}",
                values.get(1).and_then(|v| v.get_str("code")).unwrap_or("?")
            ),
            Some(name) => format!("data {name}"),
            None => "data ?".into(),
        },
        ClientEvent::Media {
            kind,
            payload,
            timestamp,
            ..
        } => {
            let header = match (kind, payload.first(), payload.get(1)) {
                (rtmpws_protocol::MediaKind::Audio, Some(b), Some(0)) if b >> 4 == 10 => {
                    " AAC sequence header"
                }
                (rtmpws_protocol::MediaKind::Video, Some(b), Some(0)) if b & 0x0F == 7 => {
                    " AVC sequence header"
                }
                (rtmpws_protocol::MediaKind::Video, Some(b), _) if b >> 4 == 1 => " keyframe",
                _ => "",
            };
            format!("{kind:?}{header} @{}", timestamp.0)
        }
        ClientEvent::UserControl(event) => format!("{event:?}"),
        ClientEvent::ServerCall { name, .. } => format!("call {name}"),
        ClientEvent::SharedObject { name, event } => match event {
            rtmpws_protocol::client::SharedObjectEvent::Sync {
                version, changes, ..
            } => {
                let codes: Vec<String> = changes
                    .iter()
                    .map(|c| format!("{} {}", c.code.as_str(), c.name))
                    .collect();
                format!("so {name} v{version} [{}]", codes.join(", "))
            }
            rtmpws_protocol::client::SharedObjectEvent::Message { handler, .. } => {
                format!("so {name} send {handler}")
            }
            rtmpws_protocol::client::SharedObjectEvent::Status { code, .. } => {
                format!("so {name} status {code}")
            }
        },
    }
}
