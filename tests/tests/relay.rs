//! Relays between servers: the gateway pushing to nginx-rtmp and to a second gateway, and
//! an edge gateway pulling from nginx-rtmp origins (failover, one pull for many viewers, the
//! pull's end, the origin's unpublish), callbacks redirecting to rtmp:// URLs, and an origin
//! that sends garbage. nginx-rtmp runs with its own config on free ports, with its `/stat`
//! page, and is stopped by PID.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtmpws_protocol::amf::Value;
use rtmpws_protocol::client::ClientEvent;
use rtmpws_protocol::server::{ServerConfig, ServerEvent, ServerSession};
use rtmpws_protocol::MediaKind;
use rtmpws_tests::{
    http_request, summarize, test_flv, test_flv_sized, Ffmpeg, Gateway, TempDir, TestClient,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A port free a moment ago on 127.0.0.1 (nginx cannot bind port 0 and tell).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx with the RTMP module: application `live`, and `/stat` (rtmp_stat) over HTTP.
struct Nginx {
    child: Option<Child>,
    rtmp: u16,
    http: u16,
    dir: TempDir,
}

impl Nginx {
    fn start() -> Nginx {
        let module = Path::new("/usr/lib/nginx/modules/ngx_rtmp_module.so");
        assert!(
            module.exists(),
            "nginx-rtmp is missing: apt-get install -y nginx libnginx-mod-rtmp (scripts/setup.sh test)"
        );
        let mut nginx = Nginx {
            child: None,
            rtmp: 0,
            http: 0,
            dir: TempDir::new("nginx"),
        };
        // A port taken between our look and nginx's bind: try others.
        for _ in 0..5 {
            nginx.rtmp = free_port();
            nginx.http = free_port();
            if nginx.run() {
                return nginx;
            }
        }
        panic!("nginx did not start; log:\n{}", nginx.log());
    }

    /// Starts nginx on its ports; true once both listen.
    fn run(&mut self) -> bool {
        let dir = self.dir.path();
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n\
                 daemon off;\nmaster_process on;\nworker_processes 1;\n\
                 pid {dir}/nginx.pid;\nerror_log {dir}/error.log info;\n\
                 events {{ worker_connections 256; }}\n\
                 rtmp {{ server {{ listen 127.0.0.1:{rtmp}; chunk_size 4096;\n\
                 \x20 application live {{ live on; }} }} }}\n\
                 http {{ access_log off;\n\
                 \x20 client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;\n\
                 \x20 fastcgi_temp_path {dir}/fastcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;\n\
                 \x20 server {{ listen 127.0.0.1:{http}; location /stat {{ rtmp_stat all; }} }} }}\n",
                dir = dir.display(),
                rtmp = self.rtmp,
                http = self.http,
            ),
        )
        .unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start nginx");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let listening = [self.rtmp, self.http]
                .iter()
                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok());
            if listening {
                return true;
            }
            if let Some(child) = &mut self.child {
                if !matches!(child.try_wait(), Ok(None)) {
                    self.child = None;
                    return false;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    fn rtmp_url(&self, path: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{path}", self.rtmp)
    }

    /// Kills nginx hard, master and worker, by PID: its connections drop as in a crash.
    fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id();
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for worker in children.split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", worker]).status();
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The `/stat` XML.
    fn stat(&self) -> String {
        use std::io::{Read, Write};
        let Ok(mut socket) = std::net::TcpStream::connect(("127.0.0.1", self.http)) else {
            return String::new();
        };
        let _ = socket.write_all(b"GET /stat HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        let mut text = String::new();
        let _ = socket.read_to_string(&mut text);
        text
    }

    /// Clients of the stream `name` of application `live` (its publisher included), as
    /// nginx-rtmp counts them.
    fn clients(&self, name: &str) -> usize {
        let stat = self.stat();
        stat.split("<stream>")
            .find(|s| s.contains(&format!("<name>{name}</name>")))
            .and_then(|s| s.split("<nclients>").nth(1))
            .and_then(|s| s.split('<').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.kill();
    }
}

/// ffmpeg plays `url` until it decoded `frames` video frames or `timeout` passed; returns how
/// many it decoded.
fn decoded_frames(url: &str, frames: u32, timeout: Duration) -> usize {
    let dir = TempDir::new("frames");
    let out = dir.path().join("frames.md5");
    let mut child = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-i",
            url,
            "-frames:v",
            &frames.to_string(),
        ])
        .args(["-f", "framemd5"])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg is not installed");
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("0,"))
        .count()
}

/// Waits up to `timeout` for `check`.
fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

/// Lines of the gateway's log with every one of `words`.
fn log_lines(gateway: &Gateway, words: &[&str]) -> usize {
    gateway
        .log()
        .lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .count()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// A viewer over WebSocket (as the browser plays) that has sent play for `name`.
async fn ws_viewer(gateway: &Gateway, name: &str) -> TestClient {
    let mut viewer = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(viewer.connect_answer().await.0);
    let stream = viewer.create_stream().await;
    viewer.session().play(stream, name, -2.0, -1.0, true);
    viewer.flush().await;
    viewer
}

fn is_video(event: &ClientEvent) -> bool {
    matches!(
        event,
        ClientEvent::Media {
            kind: MediaKind::Video,
            ..
        }
    )
}

fn status_code(event: &ClientEvent) -> Option<&str> {
    match event {
        ClientEvent::Status { info, .. } => info.get_str("code"),
        _ => None,
    }
}

#[test]
fn pushes_reach_nginx_rtmp_and_a_second_gateway_and_return_after_nginx_restarts() {
    let mut nginx = Nginx::start();
    let second = Gateway::start("");
    let first = Gateway::start(&format!(
        "relay_timeout_secs = 2\nrelay_retry_max_secs = 2\nadmin_token = \"{ADMIN}\"\n\
         [apps.live]\npush = [\"{}\", \"{}\"]\npush_name = \"{{name}}_src\"\n",
        nginx.rtmp_url("live"),
        second.rtmp_url("live"),
    ));
    let media = test_flv(40);
    let _publisher = Ffmpeg::publish(&media, &first.rtmp_url("live/cam"));

    let wait = Duration::from_secs(15);
    let (from_nginx, from_second) = std::thread::scope(|s| {
        let a = s.spawn(|| decoded_frames(&nginx.rtmp_url("live/cam_src"), 30, wait));
        let b = s.spawn(|| decoded_frames(&second.rtmp_url("live/cam_src"), 30, wait));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(from_nginx, 30, "nginx-rtmp log:\n{}", nginx.log());
    assert_eq!(from_second, 30);
    let nginx_target = format!("127.0.0.1:{}/", nginx.rtmp);
    assert_eq!(log_lines(&first, &["push connected", &nginx_target]), 1);

    // nginx dies mid-stream; the push notices, and the local stream goes on meanwhile.
    nginx.kill();
    assert!(
        eventually(Duration::from_secs(10), || log_lines(
            &first,
            &["push failed", &nginx_target]
        ) > 0),
        "the push did not notice nginx-rtmp going away"
    );
    assert_eq!(
        decoded_frames(&first.rtmp_url("live/cam"), 10, wait),
        10,
        "the local stream suffered"
    );
    assert!(nginx.run(), "nginx did not start again");
    assert!(
        eventually(Duration::from_secs(10), || log_lines(
            &first,
            &["push connected", &nginx_target]
        ) >= 2),
        "the push did not reconnect"
    );
    assert_eq!(
        decoded_frames(&nginx.rtmp_url("live/cam_src"), 30, wait),
        30,
        "nothing to play from nginx-rtmp after its restart"
    );
    // The second gateway never lost its push.
    let second_target = format!("{}/", second.rtmp);
    assert_eq!(log_lines(&first, &["push connected", &second_target]), 1);

    // What the operator sees: both pushes connected, the one to nginx-rtmp reconnected once.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let get = |path: &str| runtime.block_on(http_request(first.http, "GET", path, Some(ADMIN)));
    let (status, body) = get("/api/v1/relays");
    assert_eq!(status, 200, "{body}");
    let relays: serde_json::Value = serde_json::from_str(&body).unwrap();
    let relays = relays["relays"].as_array().unwrap();
    assert_eq!(relays.len(), 2, "{relays:?}");
    for relay in relays {
        assert_eq!(relay["direction"], "push");
        assert_eq!(relay["name"], "cam");
        assert_eq!(relay["connected"], true, "{relay}");
        assert!(relay["bytes"].as_u64().unwrap() > 0, "{relay}");
    }
    let to_nginx = relays
        .iter()
        .find(|r| r["target"].as_str().unwrap().contains(&nginx_target))
        .unwrap();
    assert!(to_nginx["reconnects"].as_u64().unwrap() >= 1, "{to_nginx}");
    let (_, metrics) = get("/metrics");
    assert!(
        metrics.contains("rtmpws_relays_connected{direction=\"push\"} 2"),
        "{metrics}"
    );
}

const ADMIN: &str = "relay-test-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_pulls_once_for_many_viewers_fails_over_and_stops_after_the_last() {
    let origin = Nginx::start();
    let empty = Nginx::start();
    let refusing = free_port();
    let edge = Gateway::start(&format!(
        "relay_timeout_secs = 2\npull_idle_secs = 2\n[apps.live]\norigin = [\"rtmp://127.0.0.1:{refusing}/live\", \"{}\", \"{}\"]\n",
        empty.rtmp_url("live"),
        origin.rtmp_url("live"),
    ));
    let media = test_flv(40);
    let _publisher = Ffmpeg::publish(&media, &origin.rtmp_url("live/cam"));
    assert!(
        eventually(Duration::from_secs(10), || origin.clients("cam") == 1),
        "ffmpeg did not publish to nginx-rtmp"
    );

    // The first viewer hears Play.Reset and Play.Start at once, PublishNotify when the
    // pull has media (after two origins failed).
    let mut first = ws_viewer(&edge, "cam").await;
    first.wait_status("NetStream.Play.Start").await;
    let started = Instant::now();
    first.wait_for("video", is_video).await;
    let codes: Vec<&str> = first.events.iter().filter_map(status_code).collect();
    assert_eq!(
        codes,
        [
            "NetStream.Play.Reset",
            "NetStream.Play.Start",
            "NetStream.Play.PublishNotify"
        ],
        "{:#?}",
        summarize(&first.events)
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the empty origin was not waited for"
    );
    assert_eq!(
        log_lines(&edge, &["origin skipped", &format!(":{refusing}/")]),
        1
    );
    assert_eq!(
        log_lines(&edge, &["origin skipped", "no media within 2 s"]),
        1
    );

    // More viewers: one more over WebSocket, and ffmpeg over RTMP.
    let mut second = ws_viewer(&edge, "cam").await;
    second.wait_for("video", is_video).await;
    let url = edge.rtmp_url("live/cam");
    let frames = blocking(move || decoded_frames(&url, 30, Duration::from_secs(15))).await;
    assert_eq!(frames, 30);
    // nginx-rtmp saw its publisher and one player: the edge.
    assert_eq!(origin.clients("cam"), 2, "{}", origin.stat());
    assert_eq!(empty.clients("cam"), 0, "the empty origin was left");
    assert_eq!(
        log_lines(&edge, &["pull connected"]),
        2,
        "the empty origin, then the one with the stream"
    );

    // The last viewer leaves: the pull ends pull_idle_secs later.
    drop((first, second));
    assert!(
        blocking(move || eventually(Duration::from_secs(8), || origin.clients("cam") == 1)).await,
        "the pull did not stop after the last viewer left"
    );
    assert_eq!(log_lines(&edge, &["pull stopped"]), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_viewers_hear_unpublish_notify_when_the_origins_publisher_stops() {
    let origin = Nginx::start();
    let edge = Gateway::start(&format!(
        "relay_timeout_secs = 3\n[apps.live]\norigin = [\"{}\"]\n",
        origin.rtmp_url("live"),
    ));
    let media = test_flv(40);
    let mut publisher = Ffmpeg::publish(&media, &origin.rtmp_url("live/show"));
    let mut viewer = ws_viewer(&edge, "show").await;
    viewer.wait_status("NetStream.Play.PublishNotify").await;
    viewer.wait_for("video", is_video).await;
    let _ = publisher.0.kill();
    let _ = publisher.0.wait();
    viewer.wait_status("NetStream.Play.UnpublishNotify").await;
    // The edge still pulls (the viewer waits): a new publish at the origin comes through.
    let _again = Ffmpeg::publish(&media, &origin.rtmp_url("live/show"));
    viewer.wait_status("NetStream.Play.PublishNotify").await;
    viewer.wait_for("video", is_video).await;
    assert_eq!(
        log_lines(&edge, &["pull connected"]),
        1,
        "one pull throughout"
    );
}

/// A backend answering every on_publish and on_play with 302 and the Location `answer`
/// gives for the call.
async fn redirecting_hooks(answer: fn(&str) -> String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // The form is small; the whole request arrives before the answer is needed.
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request);
                    let complete = text.split_once("\r\n\r\n").is_some_and(|(head, body)| {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        body.len() >= length
                    });
                    if n == 0 || complete {
                        break;
                    }
                }
                let text = String::from_utf8_lossy(&request).into_owned();
                let call = text
                    .split("\r\n\r\n")
                    .nth(1)
                    .and_then(|body| {
                        form_urlencoded::parse(body.as_bytes())
                            .find(|(k, _)| k == "call")
                            .map(|(_, v)| v.into_owned())
                    })
                    .unwrap_or_default();
                let response = format!(
                    "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    answer(&call)
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_redirecting_to_rtmp_urls_push_publishes_and_pull_plays() {
    // The other gateway is both the push target and the origin of the pull.
    let other = Gateway::start("");
    static TARGET: Mutex<String> = Mutex::new(String::new());
    *TARGET.lock().unwrap() = other.rtmp_url("live/pushed");
    let hooks = redirecting_hooks(|_call| TARGET.lock().unwrap().clone()).await;
    let edge = Gateway::start(&format!(
        "[apps.live]\non_publish = \"{hooks}/publish\"\non_play = \"{hooks}/play\"\n"
    ));
    let media = test_flv(40);
    // on_publish redirects: published here as "cam", and pushed to the other as "pushed".
    let _publisher = Ffmpeg::publish(&media, &edge.rtmp_url("live/cam"));
    let url = other.rtmp_url("live/pushed");
    let frames = blocking(move || decoded_frames(&url, 30, Duration::from_secs(15))).await;
    assert_eq!(frames, 30);
    // on_play redirects: "elsewhere" is pulled from the other gateway's "pushed".
    let mut viewer = ws_viewer(&edge, "elsewhere").await;
    viewer.wait_status("NetStream.Play.PublishNotify").await;
    viewer.wait_for("video", is_video).await;
    assert_eq!(log_lines(&edge, &["publish pushed by on_publish"]), 1);
    assert_eq!(log_lines(&edge, &["play pulled by on_play"]), 1);
    let origin = format!("{}/", other.rtmp);
    assert_eq!(log_lines(&edge, &["pull connected", &origin]), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_sending_garbage_is_skipped_and_the_edge_goes_on() {
    // A "server" that completes the handshake, then sends bytes no chunk stream can hold.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(Mutex::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            *count.lock().unwrap() += 1;
            tokio::spawn(async move {
                let mut c0c1 = vec![0u8; 1537];
                if socket.read_exact(&mut c0c1).await.is_err() {
                    return;
                }
                let mut reply = vec![3u8];
                reply.extend_from_slice(&c0c1[1..]);
                reply.extend_from_slice(&c0c1[1..]);
                let garbage: Vec<u8> = (0..8192u32)
                    .map(|i| (i * 7919 % 251) as u8 | 0x03)
                    .collect();
                let _ = socket.write_all(&reply).await;
                let _ = socket.write_all(&garbage).await;
                let mut sink = [0u8; 4096];
                while let Ok(n) = socket.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    let mut edge = Gateway::start(&format!(
        "relay_timeout_secs = 2\n[apps.live]\norigin = [\"rtmp://127.0.0.1:{port}/live\"]\n"
    ));
    let mut viewer = ws_viewer(&edge, "cam").await;
    viewer.wait_status("NetStream.Play.Start").await;
    assert!(
        eventually(Duration::from_secs(10), || log_lines(
            &edge,
            &["origin skipped"]
        ) >= 2),
        "the garbage origin was not retried with backoff:\n{}",
        edge.log()
    );
    assert!(*accepted.lock().unwrap() >= 2);
    assert!(edge.is_running());
    // The viewer is still served (waiting), and others can still play.
    assert!(viewer.is_open_after(Duration::from_millis(200)).await);
    let mut other = TestClient::connect(&edge.ws_url("live"), &[]).await;
    assert!(other.connect_answer().await.0);
    assert!(edge.is_running());
}

/// An RTMP server that accepts a publish and then never reads again, with a small receive
/// buffer: a target that has stopped (or is far too slow). Counts its connections.
async fn stuck_target(accepted: Arc<AtomicUsize>) -> u16 {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let listener = socket.listen(16).unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut session = ServerSession::new(ServerConfig::default());
                let mut buf = vec![0u8; 4096];
                let mut publishing = false;
                while !publishing {
                    let n = match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if session.handle_input(&buf[..n]).is_err() {
                        return;
                    }
                    while let Some(event) = session.poll_event() {
                        match event {
                            ServerEvent::ConnectRequested(_) => session.accept_connect("1"),
                            ServerEvent::PublishRequested {
                                stream_id, name, ..
                            } => {
                                session.begin_publish(stream_id, &name);
                                publishing = true;
                            }
                            _ => {}
                        }
                    }
                    let mut out = Vec::new();
                    session.drain_output(&mut out);
                    for bytes in out {
                        if tcp.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                }
                // Publishing: hold the connection, read nothing more.
                std::future::pending::<()>().await;
                drop(tcp);
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_stops_reading_never_holds_up_the_local_stream() {
    let accepted = Arc::new(AtomicUsize::new(0));
    let port = stuck_target(Arc::clone(&accepted)).await;
    let source = Gateway::start(&format!(
        "write_timeout_secs = 2\nrelay_timeout_secs = 2\nrelay_queue_bytes = 20000\n\
         [apps.live]\npush = [\"rtmp://127.0.0.1:{port}/live\"]\n"
    ));
    // About 2.8 Mbit/s: the push's socket buffer fills in a second or two.
    let media = test_flv_sized(20, "1280x720");
    let _publisher = Ffmpeg::publish(&media, &source.rtmp_url("live/cam"));
    let source = Arc::new(source);
    let log = Arc::clone(&source);
    assert!(
        blocking(move || eventually(Duration::from_secs(10), || log_lines(
            &log,
            &["push connected"]
        ) == 1))
        .await
    );
    // While the push is stuck, viewers of the local stream get it in real time: 90 frames
    // (3 s of video) well within 10 s.
    let url = source.rtmp_url("live/cam");
    let started = Instant::now();
    let frames = blocking(move || decoded_frames(&url, 90, Duration::from_secs(10))).await;
    assert_eq!(frames, 90);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // The push gave up on the stuck connection after write_timeout_secs, having skipped
    // what its queue could not hold, and tried again.
    let log = Arc::clone(&source);
    assert!(
        blocking(move || eventually(Duration::from_secs(15), || log_lines(
            &log,
            &["push failed", "no progress for 2 s"]
        ) >= 1))
        .await,
        "the stuck push was not abandoned:\n{}",
        source.log()
    );
    let failed = source
        .log()
        .lines()
        .find(|l| l.contains("push failed"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        !failed.contains("dropped=0"),
        "nothing was skipped: {failed}"
    );
    let count = Arc::clone(&accepted);
    assert!(
        blocking(move || eventually(Duration::from_secs(5), || count.load(Ordering::SeqCst) >= 2))
            .await,
        "the push did not reconnect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_decides_on_the_signed_name_an_edge_passes_on() {
    let origin = Gateway::start("[apps.live]\nplay = \"signed\"\nsecret = \"origin-key\"\n");
    let edge = Gateway::start(&format!(
        "relay_timeout_secs = 2\n[apps.live]\norigin = [\"{}\"]\n",
        origin.rtmp_url("live")
    ));
    let media = test_flv(40);
    let _publisher = Ffmpeg::publish(&media, &origin.rtmp_url("live/cam"));
    let sign = |name: &str| {
        let output = Command::new(rtmpws_tests::gateway_binary())
            .args(["sign", "--app", "live", "--name", name, "--config"])
            .arg(origin.dir.path().join("gateway.toml"))
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    let signed = sign("cam");
    assert!(signed.starts_with("cam?sign="), "{signed}");
    let mut viewer = ws_viewer(&edge, &signed).await;
    viewer.wait_status("NetStream.Play.PublishNotify").await;
    viewer.wait_for("video", is_video).await;
    // Unsigned, the origin refuses: the edge hears Play.Failed and leaves that origin.
    let _unsigned = ws_viewer(&edge, "cam2").await;
    let found = blocking(move || {
        eventually(Duration::from_secs(10), || {
            log_lines(&edge, &["origin skipped", "NetStream.Play.Failed"]) >= 1
        })
    })
    .await;
    assert!(found, "the origin's refusal did not reach the edge");
}

/// Whether a media payload is an Enhanced RTMP tag of this FourCC (video: IsExHeader and
/// FourCC; audio: SoundFormat 9 and FourCC; one track).
fn is_enhanced(event: &ClientEvent, want: MediaKind, fourcc: &[u8; 4]) -> bool {
    match event {
        ClientEvent::Media { kind, payload, .. } if *kind == want && payload.len() >= 5 => {
            let ex_header = match want {
                MediaKind::Video => payload[0] & 0x80 != 0,
                MediaKind::Audio => payload[0] >> 4 == 9,
            };
            ex_header && &payload[1..5] == fourcc
        }
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn av1_and_opus_go_from_an_origin_through_an_edge_to_a_browser_as_they_came() {
    let origin = Gateway::start("");
    let edge = Gateway::start(&format!(
        "relay_timeout_secs = 5\n[apps.live]\norigin = [\"{}\"]\n",
        origin.rtmp_url("live")
    ));
    // FFmpeg 9 writes Enhanced RTMP for AV1 and Opus.
    let mut publisher = Command::new(rtmpws_tests::ffmpeg9())
        .args([
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
        ])
        .args([
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
        ])
        .args(["-t", "8", "-g", "25", "-c:v", "libsvtav1", "-preset", "12"])
        .args(["-svtav1-params", "lp=1", "-c:a", "libopus", "-f", "flv"])
        .arg(origin.rtmp_url("live/av1"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("FFmpeg 9 runs");
    // The browser's client announces what it can play, as rtmpws.js does.
    let list = Value::StrictArray(vec!["av01".into(), "Opus".into()]);
    let mut browser = TestClient::connect(
        &edge.ws_url("live"),
        &[("fourCcList", list), ("capsEx", Value::Number(1.0))],
    )
    .await;
    assert!(browser.connect_answer().await.0);
    let stream = browser.create_stream().await;
    browser.session().play(stream, "av1", -2.0, -1.0, true);
    browser.flush().await;
    browser
        .wait_for("an AV1 frame", |e| {
            is_enhanced(e, MediaKind::Video, b"av01")
        })
        .await;
    browser
        .wait_for("an Opus frame", |e| {
            is_enhanced(e, MediaKind::Audio, b"Opus")
        })
        .await;
    // FFmpeg 9 playing from the edge (announcing Enhanced RTMP) decodes both, until the
    // origin's publisher ends and the edge says UnpublishNotify.
    let url = edge.rtmp_url("live/av1");
    let player = Command::new(rtmpws_tests::ffmpeg9())
        .args([
            "-hide_banner",
            "-rtmp_conn",
            "O:1 NN:capsEx:7 O:0",
            "-i",
            &url,
        ])
        .args(["-f", "framecrc", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("FFmpeg 9 runs");
    let out = blocking(move || player.wait_with_output().unwrap()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Video: av1"), "{stderr}");
    assert!(stderr.contains("Audio: opus"), "{stderr}");
    let frames = |index: &str| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.split(',').next() == Some(index))
            .count()
    };
    assert!(
        frames("0") >= 25 && frames("1") >= 25,
        "{} video, {} audio frames",
        frames("0"),
        frames("1")
    );
    browser.wait_status("NetStream.Play.UnpublishNotify").await;
    let _ = publisher.wait();
}
