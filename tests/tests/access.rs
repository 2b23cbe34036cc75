//! Who may do what, through the real gateway: per-application rules, signed names, HTTP
//! callbacks as nginx-rtmp's notify module makes them, the WebSocket Origin allow-list, and
//! publishers that try to speak for the server.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtmpws_protocol::amf::Value;
use rtmpws_protocol::client::ClientEvent;
use rtmpws_protocol::{StreamId, Timestamp};
use rtmpws_tests::{
    ffmpeg_decoded_video_frames, gateway_binary, test_flv, Ffmpeg, Gateway, TestClient,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn connected(gateway: &Gateway, app: &str) -> TestClient {
    let mut client = TestClient::connect(&gateway.rtmp_url(app), &[]).await;
    let (accepted, info) = client.connect_answer().await;
    assert!(accepted, "connect to {app}: {info:?}");
    client
}

/// Publishes `name` as `mode` on a new stream and returns the first status it gets.
async fn try_publish(client: &mut TestClient, name: &str, mode: &str) -> (StreamId, Value) {
    let stream = client.create_stream().await;
    client.session().publish(stream, name, mode);
    client.flush().await;
    let event = client
        .wait_for("a publish answer", |e| {
            matches!(e, ClientEvent::Status { .. })
        })
        .await;
    let ClientEvent::Status { info, .. } = event else {
        unreachable!()
    };
    (stream, info)
}

/// Plays `name` (start -2) on a new stream and returns the first status after Play.Reset.
async fn try_play(client: &mut TestClient, name: &str) -> Value {
    let stream = client.create_stream().await;
    client.session().play(stream, name, -2.0, -1.0, true);
    client.flush().await;
    let event = client
        .wait_for("a play answer", |e| {
            matches!(e, ClientEvent::Status { info, .. }
                if info.get_str("code") != Some("NetStream.Play.Reset"))
        })
        .await;
    let ClientEvent::Status { info, .. } = event else {
        unreachable!()
    };
    info
}

fn code(info: &Value) -> &str {
    info.get_str("code").unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_recorded_files_are_read_only_and_their_bytes_stay() {
    let gateway = Gateway::start("");
    let original = std::fs::read(test_flv(2)).unwrap();
    let file = gateway.add_recorded("vod", "a.flv", &original);

    let mut client = connected(&gateway, "vod").await;
    let (_, refused) = try_publish(&mut client, "a", "record").await;
    assert_eq!(code(&refused), "NetStream.Publish.BadName");
    assert_eq!(refused.get_str("level"), Some("error"));
    assert_eq!(refused.get_str("details"), Some("a"));
    assert!(
        refused
            .get_str("description")
            .is_some_and(|d| d.contains("not allowed in vod")),
        "{refused:?}"
    );
    let (_, live) = try_publish(&mut client, "b", "live").await;
    assert_eq!(code(&live), "NetStream.Publish.BadName");
    // The connection stays up, and the file is as it was.
    client.create_stream().await;
    assert_eq!(std::fs::read(&file).unwrap(), original);
    // Playing it is open.
    assert_eq!(
        code(&try_play(&mut client, "a").await),
        "NetStream.Play.Start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_where_it_is_not_allowed_is_refused_and_the_live_publish_goes_on() {
    let gateway = Gateway::start("[apps.live]\nrecord = false\n");
    let mut viewer = connected(&gateway, "live").await;
    let view = viewer.create_stream().await;
    viewer.session().play(view, "show", -1.0, -1.0, true);
    viewer.flush().await;
    viewer.wait_status("NetStream.Play.Start").await;

    let mut publisher = connected(&gateway, "live").await;
    let (stream, started) = try_publish(&mut publisher, "show", "record").await;
    assert_eq!(code(&started), "NetStream.Publish.Start");
    let refused = publisher.wait_status("NetStream.Record.NoAccess").await;
    assert!(
        refused
            .get_str("description")
            .is_some_and(|d| d.contains("recording is not allowed in live")),
        "{refused:?}"
    );
    publisher.session().send_media(
        stream,
        Timestamp(0),
        rtmpws_protocol::MediaKind::Video,
        bytes::Bytes::from_static(&[0x17, 1, 0, 0, 0, 1, 2, 3]),
    );
    publisher.flush().await;
    viewer
        .wait_for("live media", |e| matches!(e, ClientEvent::Media { .. }))
        .await;
    let recorded = gateway.dir.path().join("media/live/show.flv");
    assert!(!recorded.exists(), "nothing was written");
}

/// A name signed by the gateway's own `sign` command, with the test gateway's config.
fn signed(gateway: &Gateway, name: &str, expires_in: u64) -> String {
    let output = Command::new(gateway_binary())
        .args(["sign", "--app", "live", "--name", name, "--expires-in"])
        .arg(expires_in.to_string())
        .arg("--config")
        .arg(gateway.dir.path().join("gateway.toml"))
        .output()
        .expect("the gateway binary runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_names_work_from_ffmpeg_and_players_and_bad_ones_are_refused() {
    let gateway = Gateway::start(
        "[apps.live]\npublish = \"signed\"\nplay = \"signed\"\nsecret = \"t0p s3cret\"\n",
    );
    let name = signed(&gateway, "cam", 3600);
    assert!(name.starts_with("cam?sign="), "{name}");

    // ffmpeg publishes with the signed name in its URL; the query is not part of the stream.
    let _ffmpeg = Ffmpeg::publish(&test_flv(20), &gateway.rtmp_url(&format!("live/{name}")));
    let mut viewer = connected(&gateway, "live").await;
    let stream = viewer.create_stream().await;
    viewer.session().play(stream, &name, -1.0, -1.0, true);
    viewer.flush().await;
    let start = viewer.wait_status("NetStream.Play.Start").await;
    assert_eq!(start.get_str("details"), Some("cam"));
    viewer
        .wait_for("media of the signed stream", |e| {
            matches!(e, ClientEvent::Media { .. })
        })
        .await;
    // And ffmpeg plays it back with a signed URL.
    let url = gateway.rtmp_url(&format!("live/{name}"));
    let frames = tokio::task::spawn_blocking(move || ffmpeg_decoded_video_frames(&url, Some(30)))
        .await
        .unwrap();
    assert!(frames >= 30, "decoded {frames} frames");

    let mut other = connected(&gateway, "live").await;
    let unsigned = try_play(&mut other, "cam").await;
    assert_eq!(code(&unsigned), "NetStream.Play.Failed");
    assert!(
        unsigned
            .get_str("description")
            .is_some_and(|d| d.contains("no sign= argument")),
        "{unsigned:?}"
    );
    let mut wrong = name.clone();
    let last = if wrong.ends_with('0') { '1' } else { '0' };
    wrong.pop();
    wrong.push(last);
    let tampered = try_play(&mut other, &wrong).await;
    assert_eq!(code(&tampered), "NetStream.Play.Failed");
    assert!(tampered
        .get_str("description")
        .is_some_and(|d| d.contains("does not match")));
    let other_name = name.replacen("cam", "cam2", 1);
    assert_eq!(
        code(&try_play(&mut other, &other_name).await),
        "NetStream.Play.Failed"
    );
    let (_, publish) = try_publish(&mut other, "cam3", "live").await;
    assert_eq!(code(&publish), "NetStream.Publish.BadName");

    let short_lived = signed(&gateway, "cam", 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = try_play(&mut other, &short_lived).await;
    assert_eq!(code(&expired), "NetStream.Play.Failed");
    assert!(expired
        .get_str("description")
        .is_some_and(|d| d.contains("expired")));
    // Refusals leave the connection up.
    other.create_stream().await;
}

/// One callback a hook server received: its path and its form fields.
#[derive(Debug, Clone)]
struct HookCall {
    path: String,
    fields: HashMap<String, String>,
}

type Answerer = dyn Fn(&HookCall) -> (u16, Option<String>, Duration) + Send + Sync;

/// A backend for HTTP callbacks: records every request and answers as `answer` says
/// (status, Location, delay).
struct HookServer {
    url: String,
    calls: Arc<Mutex<Vec<HookCall>>>,
}

impl HookServer {
    async fn start(answer: Box<Answerer>) -> HookServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Answerer> = Arc::from(answer);
        let recorded = Arc::clone(&calls);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (answer, recorded) = (Arc::clone(&answer), Arc::clone(&recorded));
                tokio::spawn(async move {
                    let Some(call) = read_form_post(&mut socket).await else {
                        return;
                    };
                    recorded.lock().unwrap().push(call.clone());
                    let (status, location, delay) = answer(&call);
                    tokio::time::sleep(delay).await;
                    let location = location.map_or(String::new(), |l| format!("Location: {l}\r\n"));
                    let response = format!(
                        "HTTP/1.1 {status} X\r\n{location}Content-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        HookServer { url, calls }
    }

    fn calls(&self, call: &str) -> Vec<HookCall> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.fields.get("call").map(String::as_str) == Some(call))
            .cloned()
            .collect()
    }
}

/// Reads one POST with a form body, checking it is sent as nginx-rtmp sends it.
async fn read_form_post(socket: &mut tokio::net::TcpStream) -> Option<HookCall> {
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = request.parse(&buf) else {
            continue;
        };
        assert_eq!(request.method, Some("POST"));
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        assert_eq!(
            header("content-type").as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        let length: usize = header("content-length")?.parse().ok()?;
        if buf.len() < head + length {
            continue;
        }
        let fields = form_urlencoded::parse(&buf[head..head + length])
            .into_owned()
            .collect();
        return Some(HookCall {
            path: request.path?.to_owned(),
            fields,
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_allow_refuse_and_rename_with_nginx_rtmps_fields() {
    let hooks = HookServer::start(Box::new(|call| {
        let name = call
            .fields
            .get("name")
            .map(String::as_str)
            .unwrap_or_default();
        let app = call
            .fields
            .get("app")
            .map(String::as_str)
            .unwrap_or_default();
        match (call.path.as_str(), app, name) {
            ("/connect", "vod", _) => (403, None, Duration::ZERO),
            ("/publish", _, "bad") => (403, None, Duration::ZERO),
            ("/publish", _, "alias") => (302, Some("real".into()), Duration::ZERO),
            ("/play", _, "secret") => (401, None, Duration::ZERO),
            ("/play", _, "slow") => (200, None, Duration::from_secs(4)),
            _ => (200, None, Duration::ZERO),
        }
    }))
    .await;
    let url = &hooks.url;
    let gateway = Gateway::start(&format!(
        "hook_timeout_secs = 1\n\
         [apps.live]\nrecord = true\n\
         on_connect = \"{url}/connect\"\non_publish = \"{url}/publish\"\non_play = \"{url}/play\"\n\
         on_publish_done = \"{url}/publish_done\"\non_play_done = \"{url}/play_done\"\n\
         [apps.vod]\non_connect = \"{url}/connect\"\n"
    ));

    // connect: allowed for live, with the client's fields; refused for vod.
    let mut viewer = connected(&gateway, "live").await;
    let connects = hooks.calls("connect");
    let fields = &connects[0].fields;
    assert_eq!(fields["app"], "live");
    assert_eq!(fields["addr"], "127.0.0.1");
    assert!(fields["tcurl"].ends_with("/live"), "{fields:?}");
    assert!(!fields["clientid"].is_empty());
    for key in ["flashver", "swfurl", "pageurl", "epoch"] {
        assert!(fields.contains_key(key), "{key} in {fields:?}");
    }
    let mut refused = TestClient::connect(&gateway.rtmp_url("vod"), &[]).await;
    let (accepted, info) = refused.connect_answer().await;
    assert!(!accepted);
    assert_eq!(code(&info), "NetConnection.Connect.Rejected");

    // publish: the type and the name's query arguments reach the backend.
    let mut publisher = connected(&gateway, "live").await;
    let (_, started) = try_publish(&mut publisher, "cam?token=abc&x=1", "record").await;
    assert_eq!(code(&started), "NetStream.Publish.Start");
    publisher.wait_status("NetStream.Record.Start").await;
    let publish = hooks.calls("publish").remove(0).fields;
    assert_eq!(publish["name"], "cam");
    assert_eq!(publish["type"], "record");
    assert_eq!(publish["token"], "abc");
    assert_eq!(publish["x"], "1");
    let (_, bad) = try_publish(&mut publisher, "bad", "live").await;
    assert_eq!(code(&bad), "NetStream.Publish.BadName");
    assert!(bad
        .get_str("description")
        .is_some_and(|d| d.contains("answered 403")));

    // A 3xx with a plain Location renames: "alias" is published as "real".
    let mut watcher = connected(&gateway, "live").await;
    let w = watcher.create_stream().await;
    watcher.session().play(w, "real", -1.0, -1.0, true);
    watcher.flush().await;
    watcher.wait_status("NetStream.Play.Start").await;
    let (alias_stream, renamed) = try_publish(&mut publisher, "alias", "live").await;
    assert_eq!(code(&renamed), "NetStream.Publish.Start");
    assert_eq!(renamed.get_str("details"), Some("real"));
    watcher.wait_status("NetStream.Play.PublishNotify").await;
    publisher.session().send_data(
        alias_stream,
        Timestamp(0),
        vec!["onCuePoint".into(), Value::from("through the rename")],
    );
    publisher.flush().await;
    watcher
        .wait_for("data published under the alias", |e| {
            matches!(e, ClientEvent::Data { values, .. } if values.first().and_then(Value::as_str) == Some("onCuePoint"))
        })
        .await;

    // play: the start/duration/reset fields; refusals and a backend too slow are Play.Failed.
    assert_eq!(
        code(&try_play(&mut viewer, "secret").await),
        "NetStream.Play.Failed"
    );
    let slow = try_play(&mut viewer, "slow").await;
    assert_eq!(code(&slow), "NetStream.Play.Failed");
    assert!(slow
        .get_str("description")
        .is_some_and(|d| d.contains("no answer in 1 s")));
    let plays = hooks.calls("play");
    let secret = plays.iter().find(|c| c.fields["name"] == "secret").unwrap();
    assert_eq!(secret.fields["start"], "-2");
    assert_eq!(secret.fields["duration"], "-1");
    assert_eq!(secret.fields["reset"], "1");
    // While one connection waits for its callback, others are served.
    assert_eq!(
        code(&try_play(&mut viewer, "open").await),
        "NetStream.Play.Start"
    );

    // The ends are told.
    publisher.session().close_stream(alias_stream);
    publisher.flush().await;
    publisher.wait_status("NetStream.Unpublish.Success").await;
    drop(watcher);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while (hooks.calls("publish_done").is_empty() || hooks.calls("play_done").is_empty())
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done = hooks.calls("publish_done");
    assert!(done.iter().any(|c| c.fields["name"] == "real"), "{done:?}");
    let done = hooks.calls("play_done");
    assert!(done.iter().any(|c| c.fields["name"] == "real"), "{done:?}");
}

/// The status line of the gateway's answer to a WebSocket upgrade from `origin`.
async fn upgrade_status(gateway: &Gateway, origin: Option<&str>) -> String {
    let mut socket = tokio::net::TcpStream::connect(gateway.http).await.unwrap();
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    let request = format!(
        "GET /live HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n",
        gateway.http
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_from_other_origins_get_403() {
    let gateway = Gateway::start("allowed_origins = [\"https://good.example\"]");
    assert_eq!(
        upgrade_status(&gateway, Some("https://evil.example")).await,
        "HTTP/1.1 403 Forbidden"
    );
    assert_eq!(
        upgrade_status(&gateway, Some("https://good.example.evil")).await,
        "HTTP/1.1 403 Forbidden"
    );
    assert_eq!(
        upgrade_status(&gateway, Some("https://good.example")).await,
        "HTTP/1.1 101 Switching Protocols"
    );
    assert!(gateway
        .log()
        .contains("WebSocket refused: pages of https://evil.example"));
    let open = Gateway::start("");
    assert_eq!(
        upgrade_status(&open, Some("https://evil.example")).await,
        "HTTP/1.1 101 Switching Protocols"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_cannot_send_the_servers_statuses_to_viewers() {
    let gateway = Gateway::start("");
    let mut publisher = connected(&gateway, "live").await;
    let (stream, started) = try_publish(&mut publisher, "talk", "live").await;
    assert_eq!(code(&started), "NetStream.Publish.Start");
    let mut viewer = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(viewer.connect_answer().await.0);
    let v = viewer.create_stream().await;
    viewer.session().play(v, "talk", -1.0, -1.0, true);
    viewer.flush().await;
    viewer.wait_status("NetStream.Play.Start").await;
    let fake = |code: &str| Value::object([("level", "status".into()), ("code", code.into())]);
    for values in [
        vec!["onStatus".into(), fake("NetStream.Play.Stop")],
        vec!["onPlayStatus".into(), fake("NetStream.Play.Complete")],
        vec!["|RtmpSampleAccess".into(), false.into(), false.into()],
        vec!["seek".into(), 0.0.into()],
        vec!["onCuePoint".into(), Value::from("last")],
    ] {
        publisher.session().send_data(stream, Timestamp(0), values);
    }
    publisher.flush().await;
    viewer
        .wait_for("the last data message", |e| {
            matches!(e, ClientEvent::Data { values, .. } if values.first().and_then(Value::as_str) == Some("onCuePoint"))
        })
        .await;
    let relayed: Vec<String> = viewer
        .events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Data { values, .. } => {
                values.first().and_then(Value::as_str).map(str::to_owned)
            }
            ClientEvent::PlayStatus { .. } => Some("onPlayStatus".into()),
            ClientEvent::Status { info, .. } if code(info) == "NetStream.Play.Stop" => {
                Some("onStatus Play.Stop".into())
            }
            _ => None,
        })
        .collect();
    // The server's own |RtmpSampleAccess and onStatus Data.Start came at Play.Start; the
    // publisher's copies of them never arrive.
    let count = |name: &str| relayed.iter().filter(|n| *n == name).count();
    assert_eq!(count("|RtmpSampleAccess"), 1, "{relayed:?}");
    assert_eq!(count("onStatus"), 1, "{relayed:?}");
    assert_eq!(
        count("onPlayStatus") + count("onStatus Play.Stop"),
        0,
        "{relayed:?}"
    );
    assert!(
        relayed.iter().any(|n| n == "seek"),
        "other names are relayed: {relayed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_client_is_the_forwarded_address() {
    let hooks = HookServer::start(Box::new(|_| (200, None, Duration::ZERO))).await;
    let hook = format!("[apps.live]\non_connect = \"{}/connect\"\n", hooks.url);
    let addr_of = |hooks: &HookServer| {
        let calls = hooks.calls("connect");
        calls
            .last()
            .map(|c| c.fields["addr"].clone())
            .unwrap_or_default()
    };
    let behind = Gateway::start(&format!("trusted_proxies = [\"127.0.0.0/8\"]\n{hook}"));
    for (header, expected) in [
        ("203.0.113.9", "203.0.113.9"),
        // What a client wrote itself stands left of what the proxy saw, and is not believed.
        ("1.2.3.4, 203.0.113.9", "203.0.113.9"),
        ("not an address", "127.0.0.1"),
    ] {
        let url = behind.ws_url("live");
        let mut client = TestClient::connect_as(&url, &[], &[("x-forwarded-for", header)]).await;
        assert!(client.connect_answer().await.0);
        assert_eq!(addr_of(&hooks), expected, "X-Forwarded-For: {header}");
    }
    // From a peer that is not a trusted proxy, the header is a claim like any other.
    let direct = Gateway::start(&hook);
    let url = direct.ws_url("live");
    let mut client = TestClient::connect_as(&url, &[], &[("x-forwarded-for", "203.0.113.9")]).await;
    assert!(client.connect_answer().await.0);
    assert_eq!(addr_of(&hooks), "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_load_balancers_proxy_header_names_the_client_for_callbacks_and_limits() {
    let hooks = HookServer::start(Box::new(|_| (200, None, Duration::ZERO))).await;
    let gateway = Gateway::start(&format!(
        "trusted_proxies = [\"127.0.0.1\"]\nproxy_protocol = true\nmax_connections_per_ip = 1\n\
         [apps.live]\non_connect = \"{}/connect\"\n",
        hooks.url
    ));
    let url = gateway.rtmp_url("live");
    let header =
        |client: &str| format!("PROXY TCP4 {client} 127.0.0.1 50000 1935\r\n").into_bytes();
    let mut first = TestClient::connect_behind_proxy(&url, &header("203.0.113.9")).await;
    assert!(first.connect_answer().await.0);
    let calls = hooks.calls("connect");
    assert_eq!(calls.last().unwrap().fields["addr"], "203.0.113.9");
    // The per-address limit counts the client, not the load balancer: another client through
    // the same proxy gets in, the same client a second time does not.
    let mut other = TestClient::connect_behind_proxy(&url, &header("203.0.113.10")).await;
    assert!(other.connect_answer().await.0);
    let mut again = TestClient::connect_behind_proxy(&url, &header("203.0.113.9")).await;
    assert!(
        !again.is_open_after(Duration::from_secs(2)).await,
        "same client over its limit"
    );
    // From the trusted proxy without a header: closed, not taken for an RTMP handshake.
    let mut bare = TestClient::open_raw(&url).await;
    bare.send_raw(&[3u8; 1537]).await;
    assert!(!bare.is_open_after(Duration::from_secs(2)).await);
    assert!(first.is_open_after(Duration::from_millis(100)).await);
}
