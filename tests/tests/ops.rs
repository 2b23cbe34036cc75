//! Operating the gateway: /metrics (read by Prometheus's own parser), the admin API
//! (streams, clients, kicks) and rereading the configuration on SIGHUP, with ffmpeg
//! publishing and viewers over TCP and WebSocket.

use std::time::{Duration, Instant};

use rtmpws_protocol::client::ClientEvent;
use rtmpws_protocol::MediaKind;
use rtmpws_tests::{
    http_request, parse_prometheus, sample, test_flv, Ffmpeg, Gateway, Sample, TestClient,
};
use serde_json::Value;

const TOKEN: &str = "ops-test-token-0123456789";

async fn api(gateway: &Gateway, method: &str, path: &str) -> (u16, Value) {
    let (status, body) = http_request(gateway.http, method, path, Some(TOKEN)).await;
    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
    (status, json)
}

async fn metrics(gateway: &Gateway) -> Vec<Sample> {
    let (status, text) = http_request(gateway.http, "GET", "/metrics", None).await;
    assert_eq!(status, 200, "{text}");
    parse_prometheus(&text)
}

/// Polls `GET /api/v1/streams` until `check` holds for the stream `name`; returns it.
async fn wait_stream(
    gateway: &Gateway,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let (status, json) = api(gateway, "GET", "/api/v1/streams").await;
        assert_eq!(status, 200, "{json}");
        if let Some(stream) = json["streams"]
            .as_array()
            .and_then(|streams| streams.iter().find(|s| s["name"] == name))
        {
            if check(stream) {
                return stream.clone();
            }
            last = stream.clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("stream {name} never had {what}; last: {last:#}");
}

/// A viewer of `name` over `url` (rtmp:// or ws://), once media arrives.
async fn viewer(url: &str, name: &str) -> TestClient {
    let mut client = TestClient::connect(url, &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    client.session().play(stream, name, -2.0, -1.0, true);
    client.flush().await;
    client
        .wait_for("video", |e| {
            matches!(
                e,
                ClientEvent::Media {
                    kind: MediaKind::Video,
                    ..
                }
            )
        })
        .await;
    client
}

/// True if media keeps arriving at `client` for `window`.
async fn still_receives_media(client: &mut TestClient, window: Duration) -> bool {
    let events = client.collect_for(window).await;
    events
        .iter()
        .any(|e| matches!(e, ClientEvent::Media { .. }))
}

#[tokio::test]
async fn metrics_and_the_admin_api_follow_a_publisher_and_viewers_and_a_kick_ends_one_client() {
    let gateway = Gateway::start(&format!("admin_token = \"{TOKEN}\""));
    let _ffmpeg = Ffmpeg::publish(&test_flv(30), &gateway.rtmp_url("live/cam"));
    let mut tcp = viewer(&gateway.rtmp_url("live"), "cam").await;
    let mut ws = viewer(&gateway.ws_url("live"), "cam").await;

    // The stream, its codecs from the sequence headers, its viewers by transport.
    let stream = wait_stream(
        &gateway,
        "cam",
        "a viewer over each transport and rates",
        |s| {
            s["viewers"]["tcp"] == 1
                && s["viewers"]["ws"] == 1
                && s["kbps"]["in"].as_u64() > Some(0)
        },
    )
    .await;
    assert_eq!(stream["app"], "live");
    assert_eq!(stream["viewers"]["total"], 2);
    assert_eq!(stream["video"]["codec"], "H264", "{stream:#}");
    assert_eq!(stream["video"]["width"], 320);
    assert_eq!(stream["video"]["height"], 240);
    assert_eq!(stream["audio"]["codec"], "AAC");
    assert_eq!(stream["audio"]["sample_rate"], 44100);
    assert_eq!(stream["publisher"]["transport"], "tcp");
    assert_eq!(stream["recording"], false);
    let publisher_id = stream["publisher"]["id"].as_u64().unwrap();

    let (status, clients) = api(&gateway, "GET", "/api/v1/clients").await;
    assert_eq!(status, 200);
    let clients = clients["clients"].as_array().unwrap().clone();
    let role = |transport: &str, role: &str| {
        clients
            .iter()
            .filter(|c| c["transport"] == transport && c["role"] == role)
            .count()
    };
    assert_eq!(
        (
            role("tcp", "publisher"),
            role("tcp", "player"),
            role("ws", "player")
        ),
        (1, 1, 1),
        "{clients:#?}"
    );
    let ws_id = clients
        .iter()
        .find(|c| c["transport"] == "ws")
        .and_then(|c| c["id"].as_u64())
        .unwrap();
    let publisher = clients.iter().find(|c| c["id"] == publisher_id).unwrap();
    assert_eq!(publisher["stream"], "cam");
    assert!(publisher["bytes_in"].as_u64() > Some(10_000), "{publisher}");

    // A refusal of each kind the test can cause.
    let mut refused = TestClient::connect(&gateway.rtmp_url("nope"), &[]).await;
    assert!(!refused.connect_answer().await.0);
    let mut vod = TestClient::connect(&gateway.rtmp_url("vod"), &[]).await;
    assert!(vod.connect_answer().await.0);
    let s = vod.create_stream().await;
    vod.session().publish(s, "x", "live");
    vod.flush().await;
    vod.wait_status("NetStream.Publish.BadName").await;

    // /metrics, read by Prometheus's parser, counts the same and its counters move.
    let first = metrics(&gateway).await;
    let gauge =
        |samples: &[Sample], name: &str, labels: &[(&str, &str)]| sample(samples, name, labels);
    assert_eq!(
        gauge(
            &first,
            "rtmpws_connections",
            &[("transport", "tcp"), ("role", "publisher")]
        ),
        1.0
    );
    assert_eq!(
        gauge(
            &first,
            "rtmpws_connections",
            &[("transport", "ws"), ("role", "player")]
        ),
        1.0
    );
    assert_eq!(gauge(&first, "rtmpws_streams", &[("app", "live")]), 1.0);
    assert_eq!(gauge(&first, "rtmpws_publishers", &[("app", "live")]), 1.0);
    assert_eq!(
        gauge(
            &first,
            "rtmpws_viewers",
            &[("app", "live"), ("transport", "tcp")]
        ),
        1.0
    );
    assert_eq!(
        gauge(
            &first,
            "rtmpws_viewers",
            &[("app", "live"), ("transport", "ws")]
        ),
        1.0
    );
    assert_eq!(
        gauge(
            &first,
            "rtmpws_refusals_total",
            &[("action", "connect"), ("reason", "auth")]
        ),
        1.0
    );
    assert_eq!(
        gauge(
            &first,
            "rtmpws_refusals_total",
            &[("action", "publish"), ("reason", "auth")]
        ),
        1.0
    );
    assert!(gauge(&first, "rtmpws_process_resident_memory_bytes", &[]) > 1e6);
    assert!(gauge(&first, "rtmpws_sent_bytes_total", &[("transport", "ws")]) > 0.0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The viewers read meanwhile, or their sockets would fill.
    let _ = tcp.collect_for(Duration::from_millis(10)).await;
    let second = metrics(&gateway).await;
    for (name, transport) in [
        ("rtmpws_received_bytes_total", "tcp"),
        ("rtmpws_sent_bytes_total", "tcp"),
        ("rtmpws_sent_bytes_total", "ws"),
    ] {
        let (before, after) = (
            gauge(&first, name, &[("transport", transport)]),
            gauge(&second, name, &[("transport", transport)]),
        );
        assert!(after > before, "{name}{{{transport}}}: {before} -> {after}");
    }
    assert!(
        gauge(&second, "rtmpws_uptime_seconds", &[]) > gauge(&first, "rtmpws_uptime_seconds", &[])
    );

    // Kick the WebSocket viewer: it is told `close` and its connection ends; the rest go on.
    let (status, answer) = api(&gateway, "DELETE", &format!("/api/v1/clients/{ws_id}")).await;
    assert_eq!((status, &answer["kicked"]), (200, &Value::from(ws_id)));
    ws.wait_for(
        "the close command",
        |e| matches!(e, ClientEvent::ServerCall { name, .. } if name == "close"),
    )
    .await;
    assert!(
        ws.closes_within(Duration::from_secs(5)).await,
        "the kicked client stays"
    );
    assert!(still_receives_media(&mut tcp, Duration::from_secs(1)).await);
    let stream = wait_stream(&gateway, "cam", "the WebSocket viewer gone", |s| {
        s["viewers"]["ws"] == 0
    })
    .await;
    assert_eq!(stream["viewers"]["tcp"], 1);
    assert_eq!(stream["publisher"]["id"], publisher_id);
    let (status, _) = api(&gateway, "DELETE", &format!("/api/v1/clients/{ws_id}")).await;
    assert_eq!(status, 404, "a client already gone");
    let after = metrics(&gateway).await;
    assert_eq!(gauge(&after, "rtmpws_kicks_total", &[]), 1.0);

    // The summary, and the token's guard.
    let (status, summary) = api(&gateway, "GET", "/api/v1/summary").await;
    assert_eq!(status, 200);
    assert_eq!(summary["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(summary["streams"], 1);
    assert!(summary["uptime_secs"].as_f64() > Some(0.0));
    let (status, _) = http_request(gateway.http, "GET", "/api/v1/streams", None).await;
    assert_eq!(status, 401);
    let (status, _) = http_request(gateway.http, "GET", "/api/v1/streams", Some("wrong")).await;
    assert_eq!(status, 401);
    let (status, _) = api(&gateway, "POST", "/api/v1/streams").await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn without_admin_token_the_api_is_off_and_metrics_have_their_token_listener_and_json_logs() {
    let gateway = Gateway::start(
        "metrics_token = \"m\"\nmetrics_addr = \"127.0.0.1:0\"\nlog_format = \"json\"",
    );
    let (status, _) = http_request(gateway.http, "GET", "/api/v1/streams", Some("anything")).await;
    assert_eq!(status, 404);
    let (status, _) = http_request(gateway.http, "GET", "/metrics", None).await;
    assert_eq!(status, 401);
    let (status, text) = http_request(gateway.http, "GET", "/metrics", Some("m")).await;
    assert_eq!(status, 200);
    assert!(!parse_prometheus(&text).is_empty());

    // The metrics listener of its own serves /metrics and nothing else.
    let addresses = std::fs::read_to_string(gateway.dir.path().join("addresses")).unwrap();
    let metrics_addr = addresses
        .lines()
        .find_map(|l| l.strip_prefix("metrics="))
        .expect("the metrics listener is in the address file")
        .parse()
        .unwrap();
    let (status, text) = http_request(metrics_addr, "GET", "/metrics", Some("m")).await;
    assert_eq!(status, 200);
    let samples = parse_prometheus(&text);
    assert_eq!(sample(&samples, "rtmpws_build_info", &[]), 1.0);
    let (status, _) = http_request(metrics_addr, "GET", "/", Some("m")).await;
    assert_eq!(status, 404);

    // Every log line is a JSON object; the startup line names the URLs to open.
    let log = gateway.log();
    for line in log.lines().filter(|l| !l.is_empty()) {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(value["level"].is_string(), "{line}");
    }
    let urls = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["fields"]["dashboard"].is_string())
        .expect("a startup line with the URLs");
    assert_eq!(
        urls["fields"]["dashboard"],
        format!("http://{}/dashboard.html", gateway.http)
    );
}

#[tokio::test]
async fn sighup_refuses_the_next_publish_under_a_changed_policy_while_the_running_one_goes_on() {
    let gateway = Gateway::start(&format!("admin_token = \"{TOKEN}\""));
    let mut ffmpeg = Ffmpeg::publish(&test_flv(30), &gateway.rtmp_url("live/cam"));
    let mut watching = viewer(&gateway.rtmp_url("live"), "cam").await;

    gateway.rewrite_config(
        &format!("admin_token = \"{TOKEN}\"\n[apps.live]\npublish = \"deny\"\nplay = \"open\""),
        false,
    );
    gateway.signal("HUP");
    assert!(
        gateway.wait_log("configuration reloaded", 1, Duration::from_secs(5)),
        "{}",
        gateway.log()
    );
    let mut late = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(late.connect_answer().await.0);
    let s = late.create_stream().await;
    late.session().publish(s, "other", "live");
    late.flush().await;
    late.wait_status("NetStream.Publish.BadName").await;
    // The running publish and its viewer go on.
    assert!(still_receives_media(&mut watching, Duration::from_secs(2)).await);
    assert_eq!(ffmpeg.0.try_wait().unwrap(), None, "ffmpeg was cut off");

    // A broken file changes nothing: the deny stays in force.
    gateway.rewrite_config("publish_idle_secs = \"soon\"\n[apps.live", true);
    gateway.signal("HUP");
    assert!(
        gateway.wait_log("configuration not reloaded", 1, Duration::from_secs(5)),
        "{}",
        gateway.log()
    );
    let s = late.create_stream().await;
    late.session().publish(s, "another", "live");
    late.flush().await;
    late.wait_status("NetStream.Publish.BadName").await;
    // So does the admin API's reload, with the reason.
    let (status, answer) = api(&gateway, "POST", "/api/v1/reload").await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("gateway.toml"),
        "{answer}"
    );
    assert!(still_receives_media(&mut watching, Duration::from_secs(1)).await);
    let samples = metrics(&gateway).await;
    assert_eq!(
        sample(&samples, "rtmpws_config_reloads_total", &[("result", "ok")]),
        1.0
    );
    assert_eq!(
        sample(
            &samples,
            "rtmpws_config_reloads_total",
            &[("result", "refused")]
        ),
        2.0
    );

    // A good file through the API opens publishing again.
    gateway.rewrite_config(&format!("admin_token = \"{TOKEN}\""), false);
    let (status, answer) = api(&gateway, "POST", "/api/v1/reload").await;
    assert_eq!(
        (status, &answer["reloaded"]),
        (200, &Value::Bool(true)),
        "{answer}"
    );
    let s = late.create_stream().await;
    late.session().publish(s, "third", "live");
    late.flush().await;
    late.wait_status("NetStream.Publish.Start").await;
}

/// A self-signed certificate for 127.0.0.1 named `cn`, and its key, in `dir`.
fn certificate(dir: &std::path::Path, cn: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join(format!("{cn}.pem")), dir.join(format!("{cn}.key")));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", &format!("/CN={cn}")])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is not installed");
    assert!(status.success(), "openssl could not make a certificate");
    (cert, key)
}

/// The subject of the certificate a TLS handshake with `addr` is given (openssl s_client).
fn served_subject(addr: std::net::SocketAddr) -> String {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} </dev/null 2>/dev/null | openssl x509 -noout -subject"
        ))
        .output()
        .expect("sh and openssl are installed");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test]
async fn sighup_puts_a_new_certificate_in_force_for_the_next_handshake() {
    let certs = rtmpws_tests::TempDir::new("ops-certs");
    let (first_cert, first_key) = certificate(certs.path(), "first");
    let (second_cert, second_key) = certificate(certs.path(), "second");
    let table = |cert: &std::path::Path, key: &std::path::Path| {
        format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\nrtmps_addr = \"127.0.0.1:0\"\n",
            cert.display(),
            key.display()
        )
    };
    let gateway = Gateway::start(&table(&first_cert, &first_key));
    let rtmps = gateway.rtmps.unwrap();
    assert!(
        served_subject(rtmps).contains("first"),
        "{}",
        served_subject(rtmps)
    );

    gateway.rewrite_config(&table(&second_cert, &second_key), false);
    gateway.signal("HUP");
    assert!(gateway.wait_log("configuration reloaded", 1, Duration::from_secs(5)));
    assert!(
        served_subject(rtmps).contains("second"),
        "{}",
        served_subject(rtmps)
    );

    // A certificate that cannot be read is refused whole: the second one stays.
    let missing = certs.path().join("missing.pem");
    gateway.rewrite_config(&table(&missing, &second_key), false);
    gateway.signal("HUP");
    assert!(gateway.wait_log("configuration not reloaded", 1, Duration::from_secs(5)));
    assert!(
        served_subject(rtmps).contains("second"),
        "{}",
        served_subject(rtmps)
    );
}
