//! Floods at the door, against the real gateway with small limits: half-finished handshakes
//! shed oldest first within their budgets, the per-address limit refuses cleanly, and a burst
//! of connects is taken from the kernel without a dropped SYN, while a real viewer (ffmpeg and
//! the Rust client) connects and plays throughout.
//!
//! Other client addresses are other loopback addresses (127.0.0.2, ...): Linux routes all of
//! 127/8 to the loopback interface, so a socket bound to one is a client from that address.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rtmpws_protocol::client::ClientEvent;
use rtmpws_protocol::MediaKind;
use rtmpws_tests::{ffmpeg_decoded_video_frames, test_flv, Ffmpeg, Gateway, TestClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// C0 and the first half of C1: a handshake begun and never finished.
fn half_handshake() -> Vec<u8> {
    let mut bytes = vec![3u8];
    bytes.extend(std::iter::repeat_n(0x5A, 700));
    bytes
}

/// A connection from `from` to `to` that sends `bytes` and then nothing.
async fn half_open(to: SocketAddr, from: Ipv4Addr, bytes: &[u8]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    let mut stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(to))
        .await
        .expect("connect timed out")
        .expect("connect failed");
    if !bytes.is_empty() {
        stream.write_all(bytes).await.unwrap();
    }
    stream
}

/// Whether the gateway closes `stream` (EOF or reset) within `within`; what it sends before
/// is read and dropped.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// How many of `streams` the gateway has closed (each given `within`).
async fn count_closed(streams: &mut [TcpStream], within: Duration) -> Vec<bool> {
    let mut closed = Vec::new();
    for stream in streams.iter_mut() {
        closed.push(closed_within(stream, within).await);
    }
    closed
}

/// A viewer of `live/NAME` playing, with the newest media timestamp it has seen and when.
struct Viewer {
    client: TestClient,
    newest: u32,
    at: Instant,
}

impl Viewer {
    async fn start(url: &str, name: &str) -> Viewer {
        let mut client = TestClient::connect(url, &[]).await;
        assert!(client.connect_answer().await.0, "the viewer was not let in");
        let stream = client.create_stream().await;
        client.session().play(stream, name, -2.0, -1.0, true);
        client.flush().await;
        let mut viewer = Viewer {
            client,
            newest: 0,
            at: Instant::now(),
        };
        viewer.catch_up().await;
        viewer
    }

    /// Reads media until the viewer is live again: its newest timestamp has moved on by the
    /// wall time since it last looked (less a second of slack), so the stream went on
    /// playing meanwhile. Panics if it closed or stalled.
    async fn catch_up(&mut self) {
        let wanted = self.newest as u64 + self.at.elapsed().as_millis() as u64;
        let wanted = wanted.saturating_sub(1000);
        let deadline = Instant::now() + Duration::from_secs(10);
        while (self.newest as u64) < wanted || self.newest == 0 {
            assert!(
                Instant::now() < deadline,
                "the viewer stalled at {} ms",
                self.newest
            );
            match self.client.next_event(Duration::from_secs(5)).await {
                Some(ClientEvent::Media {
                    kind: MediaKind::Video,
                    timestamp,
                    ..
                }) => self.newest = self.newest.max(timestamp.0),
                Some(_) => {}
                None => panic!("the viewer was disconnected at {} ms", self.newest),
            }
            // Keep only the events that matter here.
            self.client.events.clear();
        }
        self.at = Instant::now();
    }
}

/// ffmpeg plays `url` to 30 decoded video frames (on a blocking thread, at most 20 s).
async fn ffmpeg_plays(url: String) {
    let frames = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || ffmpeg_decoded_video_frames(&url, Some(30))),
    )
    .await
    .expect("ffmpeg did not play within 20 s")
    .expect("ffmpeg panicked");
    assert_eq!(frames, 30, "video frames decoded by ffmpeg");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_past_their_budgets_shed_the_oldest_and_a_viewer_still_plays() {
    let gateway = Gateway::start(
        "max_connections = 200\nmax_handshaking = 16\nmax_handshaking_per_ip = 8\n\
         connect_timeout_secs = 60",
    );
    let _publisher = Ffmpeg::publish(&test_flv(40), &gateway.rtmp_url("live/door"));
    let mut viewer = Viewer::start(&gateway.ws_url("live"), "door").await;
    let rtmp = gateway.rtmp;
    let wait = Duration::from_millis(300);

    // 8 half-open from B (the per-address budget, full), then 20 from A: each of A's past its
    // 8th sheds A's oldest; B's are untouched.
    let b = Ipv4Addr::new(127, 0, 0, 3);
    let a = Ipv4Addr::new(127, 0, 0, 2);
    let mut from_b = Vec::new();
    for _ in 0..8 {
        from_b.push(half_open(rtmp, b, &[]).await);
    }
    let mut from_a = Vec::new();
    for i in 0..20 {
        let bytes = if i % 2 == 0 {
            half_handshake()
        } else {
            Vec::new()
        };
        from_a.push(half_open(rtmp, a, &bytes).await);
    }
    let closed = count_closed(&mut from_a, wait).await;
    assert_eq!(
        closed,
        [vec![true; 12], vec![false; 8]].concat(),
        "A's oldest 12 shed, its newest 8 kept"
    );
    let closed = count_closed(&mut from_b, wait).await;
    assert_eq!(closed, vec![false; 8], "B's half-open untouched by A's");

    // The whole budget (16) is full: 4 from C shed the 4 oldest of all, which are B's.
    let c = Ipv4Addr::new(127, 0, 0, 4);
    let mut from_c = Vec::new();
    for _ in 0..4 {
        from_c.push(half_open(rtmp, c, &half_handshake()).await);
    }
    let closed = count_closed(&mut from_b, wait).await;
    assert_eq!(
        closed,
        [vec![true; 4], vec![false; 4]].concat(),
        "B's oldest 4 shed"
    );

    // WebSocket connections at the door count too: half a request head from D, 8 + 3 times.
    let d = Ipv4Addr::new(127, 0, 0, 5);
    let head = format!("GET /live HTTP/1.1\r\nHost: {}\r\n", gateway.http);
    let mut from_d = Vec::new();
    for _ in 0..11 {
        from_d.push(half_open(gateway.http, d, head.as_bytes()).await);
    }
    let closed = count_closed(&mut from_d, wait).await;
    assert_eq!(
        closed,
        [vec![true; 3], vec![false; 8]].concat(),
        "D's oldest 3 shed"
    );

    // The budget is still full of half-open connections; real viewers get in and play, over
    // RTMP (ffmpeg) and WebSocket (the Rust client), and the first viewer never stopped.
    ffmpeg_plays(gateway.rtmp_url("live/door")).await;
    let mut second = Viewer::start(&gateway.ws_url("live"), "door").await;
    viewer.catch_up().await;
    second.catch_up().await;

    // Viewers past the door are never shed: 40 more half-open from A and the viewers play on.
    for _ in 0..40 {
        from_a.push(half_open(rtmp, a, &half_handshake()).await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    viewer.catch_up().await;
    second.catch_up().await;
    let log = gateway.log();
    assert!(log.contains("shed_at_door"), "sheds are logged:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_per_ip_refuses_the_next_one_cleanly_while_a_viewer_plays() {
    // From 127.0.0.1: the ffmpeg publisher and the viewer; 2 places left.
    let gateway = Gateway::start("max_connections_per_ip = 4\nconnect_timeout_secs = 60");
    let _publisher = Ffmpeg::publish(&test_flv(40), &gateway.rtmp_url("live/door"));
    let mut viewer = Viewer::start(&gateway.rtmp_url("live"), "door").await;
    let local = Ipv4Addr::LOCALHOST;
    let started = Instant::now();

    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = half_open(gateway.rtmp, local, &half_handshake()).await;
        assert!(!closed_within(&mut stream, Duration::from_millis(300)).await);
        held.push(stream);
    }

    // Refused: closed at once, nothing written, again and again; WebSocket too.
    for _ in 0..20 {
        let mut stream = half_open(gateway.rtmp, local, &[]).await;
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0))),
            "a refused connection is closed at once, with nothing sent: {read:?}"
        );
    }
    let ws = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(gateway.ws_url("live")),
    )
    .await
    .expect("the WebSocket refusal hung");
    assert!(
        ws.is_err(),
        "a WebSocket from the same address is refused too"
    );
    // Another address has places of its own.
    let mut other = half_open(gateway.rtmp, Ipv4Addr::new(127, 0, 0, 7), &half_handshake()).await;
    assert!(!closed_within(&mut other, Duration::from_millis(300)).await);
    viewer.catch_up().await;

    // A place freed is a place for the next viewer, who plays.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut second = Viewer::start(&gateway.rtmp_url("live"), "door").await;
    viewer.catch_up().await;
    second.catch_up().await;

    let log = gateway.log();
    assert!(
        log.contains("refused_per_ip"),
        "refusals are logged:\n{log}"
    );
    let lines = log.matches("turned away at the door").count();
    assert!(
        lines as u64 <= started.elapsed().as_secs() + 1,
        "21 refusals, {lines} log lines: at most one a second, not one each:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_2000_connects_is_taken_from_the_kernel_without_a_dropped_syn() {
    const BURST: usize = 2000;
    // Enough places for the burst; the door's budgets keep their defaults (the burst's
    // half-open connections are shed past them, which also shows each one was accepted).
    let gateway = Gateway::start("max_connections = 4000\nmax_connections_per_ip = 4000");
    let _publisher = Ffmpeg::publish(&test_flv(40), &gateway.rtmp_url("live/door"));
    let mut viewer = Viewer::start(&gateway.ws_url("live"), "door").await;
    raise_fd_limit(2 * BURST as u64 + 256);

    let rtmp = gateway.rtmp;
    let started = Instant::now();
    let tasks: Vec<_> = (0..BURST)
        .map(|_| {
            tokio::spawn(async move {
                // A dropped SYN is retransmitted after 1 s: a connect slower than that was
                // dropped by a full accept queue.
                let mut stream = match tokio::time::timeout(
                    Duration::from_millis(900),
                    TcpStream::connect(rtmp),
                )
                .await
                {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => return Err(format!("connect failed: {e}")),
                    Err(_) => return Err("connect took over 900 ms (a SYN dropped)".into()),
                };
                let mut c0c1 = vec![3u8];
                c0c1.extend(std::iter::repeat_n(0, 1536));
                // Shed before we wrote: the write may fail; the read below tells.
                let _ = stream.write_all(&c0c1).await;
                // The gateway accepted it: S0 arrives, or it was shed (EOF or reset).
                let mut buf = [0u8; 1];
                match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await {
                    Ok(Ok(_)) | Ok(Err(_)) => Ok(stream),
                    Err(_) => Err("the gateway never answered or closed it".into()),
                }
            })
        })
        .collect();
    let mut held = Vec::new();
    let mut failures = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(stream) => held.push(stream),
            Err(e) => failures.push(e),
        }
    }
    let took = started.elapsed();
    assert!(
        failures.is_empty(),
        "{} of {BURST} connects failed, first: {}",
        failures.len(),
        failures[0]
    );
    eprintln!("{BURST} connects accepted in {took:?}");
    viewer.catch_up().await;
    drop(held);
    ffmpeg_plays(gateway.rtmp_url("live/door")).await;
}

/// Raises this process's soft open-file limit to at least `wanted` (up to the hard limit).
fn raise_fd_limit(wanted: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read or write the struct passed by pointer.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
        assert!(
            limit.rlim_cur >= wanted,
            "the open-file limit ({}) is below {wanted}",
            limit.rlim_cur
        );
    }
}
