//! Remote shared objects, calls both ways and the admin API, against the real gateway with
//! Rust RTMP clients: versions, change/success, races answered with reject, send, deletes
//! and clears, AMF0 and AMF3 clients, limits and access refusals, persistence across a
//! restart and a `kill -9`, `NetConnection.call` to a JSON backend, the admin API.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtmpws_protocol::amf::Value;
use rtmpws_protocol::client::{ClientEvent, SharedObjectEvent, SyncChange, SyncCode};
use rtmpws_tests::{Gateway, TestClient, TIMEOUT};
use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "0123456789abcdef-admin";

async fn connected(gateway: &Gateway, app: &str, object_encoding: f64) -> TestClient {
    let url = gateway.rtmp_url(app);
    let mut client = TestClient::connect(&url, &[("objectEncoding", object_encoding.into())]).await;
    let (accepted, info) = client.connect_answer().await;
    assert!(accepted, "{info:?}");
    client
}

/// The next sync of `name`: its version, whether it answers a use, and its changes.
async fn sync(client: &mut TestClient, name: &str) -> (u32, bool, Vec<SyncChange>) {
    let event = client
        .wait_for("shared object sync", |e| {
            matches!(e, ClientEvent::SharedObject { name: n, event: SharedObjectEvent::Sync { .. } } if n == name)
        })
        .await;
    let ClientEvent::SharedObject {
        event:
            SharedObjectEvent::Sync {
                version,
                first,
                changes,
            },
        ..
    } = event
    else {
        unreachable!()
    };
    (version, first, changes)
}

/// The next status of `name`.
async fn status(client: &mut TestClient, name: &str) -> String {
    let event = client
        .wait_for("shared object status", |e| {
            matches!(e, ClientEvent::SharedObject { name: n, event: SharedObjectEvent::Status { .. } } if n == name)
        })
        .await;
    let ClientEvent::SharedObject {
        event: SharedObjectEvent::Status { code, level },
        ..
    } = event
    else {
        unreachable!()
    };
    assert_eq!(level, "error");
    code
}

/// The next handler call on `name`.
async fn message(client: &mut TestClient, name: &str) -> (String, Vec<Value>) {
    let event = client
        .wait_for("shared object message", |e| {
            matches!(e, ClientEvent::SharedObject { name: n, event: SharedObjectEvent::Message { .. } } if n == name)
        })
        .await;
    let ClientEvent::SharedObject {
        event: SharedObjectEvent::Message { handler, args },
        ..
    } = event
    else {
        unreachable!()
    };
    (handler, args)
}

fn codes(changes: &[SyncChange]) -> Vec<(SyncCode, &str)> {
    changes.iter().map(|c| (c.code, c.name.as_str())).collect()
}

async fn use_object(
    client: &mut TestClient,
    name: &str,
    persistent: bool,
) -> (u32, Vec<SyncChange>) {
    client.session().shared_object_use(name, persistent);
    client.flush().await;
    let (version, first, changes) = sync(client, name).await;
    assert!(first);
    (version, changes)
}

async fn set(client: &mut TestClient, name: &str, slot: &str, value: Value) {
    assert!(client
        .session()
        .shared_object_request_change(name, slot, value));
    client.flush().await;
}

async fn two_clients_share_an_object(object_encoding: f64) {
    let gateway = Gateway::start("");
    let mut a = connected(&gateway, "live", object_encoding).await;
    let mut b = connected(&gateway, "live", 0.0).await;

    // A new object: version 1, cleared.
    let (version, changes) = use_object(&mut a, "chat", false).await;
    assert_eq!(version, 1);
    assert_eq!(codes(&changes), [(SyncCode::Clear, "")]);
    set(&mut a, "chat", "topic", "rust".into()).await;
    let (version, _, changes) = sync(&mut a, "chat").await;
    assert_eq!(
        (version, codes(&changes)),
        (2, vec![(SyncCode::Success, "topic")])
    );

    // A late joiner gets everything at the current version.
    let (version, changes) = use_object(&mut b, "chat", false).await;
    assert_eq!(version, 2);
    assert_eq!(
        codes(&changes),
        [(SyncCode::Clear, ""), (SyncCode::Change, "topic")]
    );
    assert_eq!(
        b.session().shared_object("chat").unwrap().get("topic"),
        Some(&Value::from("rust"))
    );

    // A change: the other hears it, the author gets success, the version goes up by one.
    set(&mut b, "chat", "topic", "wasm".into()).await;
    let (version, _, changes) = sync(&mut b, "chat").await;
    assert_eq!(
        (version, codes(&changes)),
        (3, vec![(SyncCode::Success, "topic")])
    );
    let (version, _, changes) = sync(&mut a, "chat").await;
    assert_eq!(
        (version, codes(&changes)),
        (3, vec![(SyncCode::Change, "topic")])
    );
    assert_eq!(changes[0].old_value, Some(Value::from("rust")));

    // Both change one slot from version 3: one wins, the other is rejected with its value.
    assert!(a
        .session()
        .shared_object_request_change("chat", "n", Value::Number(1.0)));
    assert!(b
        .session()
        .shared_object_request_change("chat", "n", Value::Number(2.0)));
    a.flush().await;
    b.flush().await;
    let mut outcomes = Vec::new();
    for client in [&mut a, &mut b] {
        loop {
            let (_, _, changes) = sync(client, "chat").await;
            if let Some(own) = changes
                .iter()
                .find(|c| c.name == "n" && matches!(c.code, SyncCode::Success | SyncCode::Reject))
            {
                outcomes.push(own.clone());
                break;
            }
        }
    }
    let rejects: Vec<&SyncChange> = outcomes
        .iter()
        .filter(|c| c.code == SyncCode::Reject)
        .collect();
    assert_eq!(rejects.len(), 1, "{outcomes:?}");
    assert!(rejects[0].old_value.is_some());
    let (va, vb) = (
        a.session().shared_object("chat").unwrap().get("n").cloned(),
        b.session().shared_object("chat").unwrap().get("n").cloned(),
    );
    assert_eq!(va, vb, "both copies hold the winner's value");
    assert_eq!(a.session().shared_object("chat").unwrap().version(), 4);

    // send reaches both, the sender included.
    assert!(a.session().shared_object_send(
        "chat",
        "onChat",
        vec!["hello".into(), Value::Number(7.0)]
    ));
    a.flush().await;
    for client in [&mut a, &mut b] {
        let (handler, args) = message(client, "chat").await;
        assert_eq!(handler, "onChat");
        assert_eq!(args, [Value::from("hello"), Value::Number(7.0)]);
    }

    // Deleting: by a request remove, and by setting undefined.
    assert!(b.session().shared_object_request_remove("chat", "n"));
    b.flush().await;
    let (version, _, changes) = sync(&mut b, "chat").await;
    assert_eq!(
        (version, codes(&changes)),
        (5, vec![(SyncCode::Success, "n")])
    );
    let (version, _, changes) = sync(&mut a, "chat").await;
    assert_eq!(
        (version, codes(&changes)),
        (5, vec![(SyncCode::Delete, "n")])
    );
    set(&mut a, "chat", "topic", Value::Undefined).await;
    let (version, _, changes) = sync(&mut a, "chat").await;
    assert_eq!(
        (version, codes(&changes)),
        (6, vec![(SyncCode::Success, "topic")])
    );
    let (version, _, changes) = sync(&mut b, "chat").await;
    assert_eq!(
        (version, codes(&changes)),
        (6, vec![(SyncCode::Delete, "topic")])
    );
    assert!(b.session().shared_object("chat").unwrap().data().is_empty());

    // A non-persistent object goes with its last subscriber: a new one starts at 1.
    for client in [&mut a, &mut b] {
        assert!(client.session().shared_object_release("chat"));
        client.flush().await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (version, changes) = use_object(&mut a, "chat", false).await;
    assert_eq!((version, codes(&changes)), (1, vec![(SyncCode::Clear, "")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_amf0_clients_share_an_object() {
    two_clients_share_an_object(0.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amf3_client_shares_an_object_with_an_amf0_client() {
    two_clients_share_an_object(3.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_access_refuse_cleanly() {
    let gateway = Gateway::start(
        "shared_objects_per_app = 1\nshared_object_max_slots = 2\nshared_object_max_bytes = 200\n\
         shared_object_updates_per_sec = 20\n\
         [apps.live]\n[apps.ro]\nso_write = \"deny\"\n[apps.closed]\nso_read = \"deny\"\n",
    );
    let mut a = connected(&gateway, "live", 0.0).await;
    use_object(&mut a, "one", false).await;

    // Objects per application.
    a.session().shared_object_use("two", false);
    a.flush().await;
    assert_eq!(
        status(&mut a, "two").await,
        "SharedObject.ObjectCreationFailed"
    );
    // Persistence where the application allows none.
    a.session().shared_object_use("one", true);
    a.flush().await;
    assert_eq!(status(&mut a, "one").await, "SharedObject.BadPersistence");

    // Slots per object: the third of a batch is refused.
    assert!(a.session().shared_object_request_changes(
        "one",
        vec![
            ("a".into(), Value::Number(1.0)),
            ("b".into(), Value::Number(2.0)),
            ("c".into(), Value::Number(3.0)),
        ],
    ));
    a.flush().await;
    let (version, _, changes) = sync(&mut a, "one").await;
    assert_eq!(version, 2);
    assert_eq!(
        codes(&changes),
        [
            (SyncCode::Success, "a"),
            (SyncCode::Success, "b"),
            (SyncCode::Reject, "c")
        ]
    );
    assert_eq!(a.session().shared_object("one").unwrap().get("c"), None);
    // Bytes per object: rejected, the old value comes back.
    set(&mut a, "one", "a", "x".repeat(300).into()).await;
    let (version, _, changes) = sync(&mut a, "one").await;
    assert_eq!(
        (version, codes(&changes)),
        (2, vec![(SyncCode::Reject, "a")])
    );
    assert_eq!(
        a.session().shared_object("one").unwrap().get("a"),
        Some(&Value::Number(1.0))
    );

    // Updates per second: a burst past the rate is refused (reject), what fits goes through.
    for i in 0..40 {
        let value = Value::Number(f64::from(i));
        a.session().shared_object_request_change("one", "b", value);
    }
    a.flush().await;
    let (mut successes, mut rejects) = (0, 0);
    while successes + rejects < 40 {
        let (_, _, changes) = sync(&mut a, "one").await;
        for change in changes {
            match change.code {
                SyncCode::Success => successes += 1,
                SyncCode::Reject => rejects += 1,
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(rejects >= 15, "{successes} accepted, {rejects} refused");
    assert!(successes >= 10, "{successes} accepted, {rejects} refused");

    // Write access.
    let mut ro = connected(&gateway, "ro", 0.0).await;
    use_object(&mut ro, "board", false).await;
    set(&mut ro, "board", "k", "v".into()).await;
    assert_eq!(status(&mut ro, "board").await, "SharedObject.NoWriteAccess");
    ro.session().shared_object_send("board", "onX", vec![]);
    ro.flush().await;
    assert_eq!(status(&mut ro, "board").await, "SharedObject.NoWriteAccess");
    // Read access.
    let mut closed = connected(&gateway, "closed", 0.0).await;
    closed.session().shared_object_use("board", false);
    closed.flush().await;
    assert_eq!(
        status(&mut closed, "board").await,
        "SharedObject.NoReadAccess"
    );
}

/// The stored file of `name` in `live`.
fn stored_file(gateway: &Gateway, name: &str) -> std::path::PathBuf {
    gateway
        .dir
        .path()
        .join("media")
        .join("so")
        .join("live")
        .join(format!("{name}.amf"))
}

/// Waits until the file of `name` changed from `before`.
async fn wait_stored(gateway: &Gateway, name: &str, before: &[u8]) -> Vec<u8> {
    for _ in 0..200 {
        if let Ok(bytes) = std::fs::read(stored_file(gateway, name)) {
            if bytes != before {
                return bytes;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{name} was not stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_objects_survive_a_restart_and_a_kill() {
    let mut gateway = Gateway::start("[apps.live]\nso_persistence = true\n");
    let mut a = connected(&gateway, "live", 0.0).await;
    let (version, _) = use_object(&mut a, "score", true).await;
    assert_eq!(version, 1);
    let stored = wait_stored(&gateway, "score", b"").await;
    assert!(a.session().shared_object_request_changes(
        "score",
        vec![
            ("home".into(), Value::Number(2.0)),
            ("when".into(), Value::Date(1_700_000_000_000.0)),
        ],
    ));
    a.flush().await;
    let (version, _, _) = sync(&mut a, "score").await;
    assert_eq!(version, 2);
    wait_stored(&gateway, "score", &stored).await;

    // SIGTERM, then a new gateway on the same folder.
    drop(a);
    gateway.restart(false);
    let mut b = connected(&gateway, "live", 0.0).await;
    let (version, changes) = use_object(&mut b, "score", true).await;
    assert_eq!(version, 2);
    assert_eq!(
        codes(&changes),
        [
            (SyncCode::Clear, ""),
            (SyncCode::Change, "home"),
            (SyncCode::Change, "when")
        ]
    );
    assert_eq!(
        b.session().shared_object("score").unwrap().get("when"),
        Some(&Value::Date(1_700_000_000_000.0))
    );
    // A persistent object stays when its last subscriber leaves.
    let stored = std::fs::read(stored_file(&gateway, "score")).unwrap();
    set(&mut b, "score", "home", Value::Number(3.0)).await;
    let (version, _, _) = sync(&mut b, "score").await;
    assert_eq!(version, 3);
    wait_stored(&gateway, "score", &stored).await;
    b.session().shared_object_release("score");
    b.flush().await;

    // kill -9: no shutdown at all.
    gateway.restart(true);
    let mut c = connected(&gateway, "live", 0.0).await;
    let (version, _) = use_object(&mut c, "score", true).await;
    assert_eq!(version, 3);
    assert_eq!(
        c.session().shared_object("score").unwrap().get("home"),
        Some(&Value::Number(3.0))
    );
    // A copy that is current gets use success alone.
    c.session().shared_object_release("score");
    c.flush().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut d = connected(&gateway, "live", 0.0).await;
    use_object(&mut d, "score", true).await;
    d.session().shared_object_release("score");
    d.flush().await;
    d.session().shared_object_use("score", true);
    d.flush().await;
    let (version, first, changes) = sync(&mut d, "score").await;
    assert!(first);
    assert_eq!(version, 3);
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(
        d.session().shared_object("score").unwrap().get("home"),
        Some(&Value::Number(3.0))
    );
}

/// A JSON backend: records each POST body and answers with `answer(body)` (status, JSON).
struct Backend {
    url: String,
    bodies: Arc<Mutex<Vec<Json>>>,
}

type Answerer = dyn Fn(&Json) -> (u16, String, Duration) + Send + Sync;

impl Backend {
    async fn start(answer: Box<Answerer>) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/call", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Answerer> = Arc::from(answer);
        let recorded = Arc::clone(&bodies);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (answer, recorded) = (Arc::clone(&answer), Arc::clone(&recorded));
                tokio::spawn(async move {
                    let Some((head, body)) = read_request(&mut socket).await else {
                        return;
                    };
                    assert!(head.starts_with("POST /call "), "{head}");
                    assert!(head
                        .to_ascii_lowercase()
                        .contains("content-type: application/json"));
                    let body: Json = serde_json::from_slice(&body).unwrap();
                    recorded.lock().unwrap().push(body.clone());
                    let (status, text, delay) = answer(&body);
                    tokio::time::sleep(delay).await;
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Backend { url, bodies }
    }
}

/// One HTTP request: its head as text and its body (by Content-Length).
async fn read_request(socket: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let length = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < end + 4 + length {
            let n = socket.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        return Some((head, buf[end + 4..end + 4 + length].to_vec()));
    }
}

/// Waits for the answer to call `transaction`: (`_result`?, first argument).
async fn call_answer(client: &mut TestClient, transaction: f64) -> (bool, Value) {
    let event = client
        .wait_for("call answer", |e| match e {
            ClientEvent::CallResult { transaction_id, .. }
            | ClientEvent::CallError { transaction_id, .. } => *transaction_id == transaction,
            _ => false,
        })
        .await;
    match event {
        ClientEvent::CallResult { args, .. } => {
            (true, args.into_iter().next().unwrap_or(Value::Null))
        }
        ClientEvent::CallError { args, .. } => {
            (false, args.into_iter().next().unwrap_or(Value::Null))
        }
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_reach_call_url_and_its_answers_reach_the_client() {
    let backend = Backend::start(Box::new(|body| {
        let args = body["args"].as_array().cloned().unwrap_or_default();
        match body["method"].as_str() {
            Some("add") => {
                let sum: f64 = args.iter().filter_map(Json::as_f64).sum();
                (
                    200,
                    json!({"result": {"sum": sum, "when": {"$date": 5}}}).to_string(),
                    Duration::ZERO,
                )
            }
            Some("fail") => (
                200,
                json!({"error": {"code": "App.Refused", "description": "not today", "retry": 3}})
                    .to_string(),
                Duration::ZERO,
            ),
            Some("slow") => (
                200,
                json!({"result": 1}).to_string(),
                Duration::from_secs(3),
            ),
            Some("broken") => (500, "oops".into(), Duration::ZERO),
            _ => (200, "not json".into(), Duration::ZERO),
        }
    }))
    .await;
    let gateway = Gateway::start(&format!(
        "call_timeout_secs = 1\n[apps.live]\ncall_url = \"{}\"\n[apps.plain]\n",
        backend.url
    ));
    let mut client = connected(&gateway, "live", 0.0).await;
    let add = client.session().call(
        "add",
        vec![Value::Null, Value::Number(2.0), Value::Number(3.0)],
    );
    client.flush().await;
    let (ok, value) = call_answer(&mut client, add).await;
    assert!(ok, "{value:?}");
    assert_eq!(value.get_f64("sum"), Some(5.0));
    assert_eq!(value.get("when"), Some(&Value::Date(5.0)));
    let body = backend.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["app"], "live");
    assert_eq!(body["method"], "add");
    assert_eq!(body["args"], json!([null, 2, 3]));
    assert!(body["clientid"].as_str().is_some_and(|id| !id.is_empty()));

    let fail = client.session().call("fail", vec![]);
    client.flush().await;
    let (ok, info) = call_answer(&mut client, fail).await;
    assert!(!ok);
    assert_eq!(info.get_str("code"), Some("App.Refused"));
    assert_eq!(info.get_str("description"), Some("not today"));
    assert_eq!(info.get_f64("retry"), Some(3.0));

    for method in ["slow", "broken", "garbage"] {
        let id = client.session().call(method, vec![]);
        client.flush().await;
        let (ok, info) = call_answer(&mut client, id).await;
        assert!(!ok, "{method}");
        assert_eq!(
            info.get_str("code"),
            Some("NetConnection.Call.Failed"),
            "{method}"
        );
        assert!(info.get_str("description").is_some_and(|d| !d.is_empty()));
    }

    // Without call_url: Call.Failed, as before.
    let mut plain = connected(&gateway, "plain", 0.0).await;
    let id = plain.session().call("add", vec![]);
    plain.flush().await;
    let (ok, info) = call_answer(&mut plain, id).await;
    assert!(!ok);
    assert_eq!(info.get_str("code"), Some("NetConnection.Call.Failed"));
    // No admin_token: the API does not exist.
    let (status, _) = api(&gateway, "GET", "/api/v1/clients", Some(TOKEN), None).await;
    assert_eq!(status, 404);
}

/// One admin API request; the status and the JSON answer.
async fn api(
    gateway: &Gateway,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Json) {
    let mut socket = TcpStream::connect(gateway.http).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let body = body.unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(TIMEOUT, socket.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Json::Null);
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_calls_clients_and_changes_shared_objects() {
    let gateway = Gateway::start(&format!(
        "admin_token = \"{TOKEN}\"\nmax_json_bytes = 4096\n"
    ));
    let (status, _) = api(&gateway, "GET", "/api/v1/clients", None, None).await;
    assert_eq!(status, 401);
    let (status, _) = api(
        &gateway,
        "GET",
        "/api/v1/clients",
        Some("wrong-token-0123456"),
        None,
    )
    .await;
    assert_eq!(status, 401);

    let mut a = connected(&gateway, "live", 0.0).await;
    let mut b = connected(&gateway, "live", 3.0).await;
    let (status, clients) = api(&gateway, "GET", "/api/v1/clients", Some(TOKEN), None).await;
    assert_eq!(status, 200);
    let ids: Vec<String> = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);

    // A call on client a, answered by the client with _result.
    let path = format!("/api/v1/clients/{}/call", ids[0]);
    let http = gateway.http;
    let call = tokio::spawn({
        let path = path.clone();
        async move {
            let fake = FakeGateway(http);
            fake.api(
                "POST",
                &path,
                r#"{"method": "whoAreYou", "args": ["q", {"$date": 1}]}"#,
            )
            .await
        }
    });
    let event = a
        .wait_for(
            "server call",
            |e| matches!(e, ClientEvent::ServerCall { name, .. } if name == "whoAreYou"),
        )
        .await;
    let ClientEvent::ServerCall {
        transaction_id,
        args,
        ..
    } = event
    else {
        unreachable!()
    };
    assert_ne!(transaction_id, 0.0);
    assert_eq!(args, [Value::from("q"), Value::Date(1.0)]);
    a.session()
        .answer_server_call(transaction_id, Value::object([("name", "a".into())]));
    a.flush().await;
    let (status, answer) = call.await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"result": {"name": "a"}}));
    // The client's _error.
    let call = tokio::spawn({
        let path = path.clone();
        async move {
            FakeGateway(http)
                .api("POST", &path, r#"{"method": "fails"}"#)
                .await
        }
    });
    let event = a
        .wait_for(
            "server call",
            |e| matches!(e, ClientEvent::ServerCall { name, .. } if name == "fails"),
        )
        .await;
    let ClientEvent::ServerCall { transaction_id, .. } = event else {
        unreachable!()
    };
    a.session()
        .answer_server_call_error(transaction_id, Value::object([("code", "X.Failed".into())]));
    a.flush().await;
    let (status, answer) = call.await.unwrap();
    assert_eq!(
        (status, answer),
        (502, json!({"error": {"code": "X.Failed"}}))
    );
    // Unknown clients; bodies too large.
    let (status, _) = api(
        &gateway,
        "POST",
        "/api/v1/clients/999/call",
        Some(TOKEN),
        Some(r#"{"method":"m"}"#),
    )
    .await;
    assert_eq!(status, 404);
    let big = format!(r#"{{"method": "m", "args": ["{}"]}}"#, "x".repeat(5000));
    let (status, _) = api(&gateway, "POST", &path, Some(TOKEN), Some(&big)).await;
    assert_eq!(status, 413);

    // Shared objects: set a slot every subscriber sees, delete it, send, list, clear.
    use_object(&mut a, "board", false).await;
    use_object(&mut b, "board", false).await;
    let slot = "/api/v1/apps/live/shared_objects/board/slots/top%20line";
    let (status, answer) = api(
        &gateway,
        "PUT",
        slot,
        Some(TOKEN),
        Some(r#"{"value": {"text": "hi", "n": 2}}"#),
    )
    .await;
    assert_eq!((status, answer), (200, json!({"version": 2})));
    for client in [&mut a, &mut b] {
        let (version, _, changes) = sync(client, "board").await;
        assert_eq!(
            (version, codes(&changes)),
            (2, vec![(SyncCode::Change, "top line")])
        );
        let value = client
            .session()
            .shared_object("board")
            .unwrap()
            .get("top line")
            .cloned()
            .unwrap();
        assert_eq!(value.get_str("text"), Some("hi"));
        assert_eq!(value.get_f64("n"), Some(2.0));
    }
    let (status, list) = api(
        &gateway,
        "GET",
        "/api/v1/apps/live/shared_objects",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!({"shared_objects": [{"name": "board", "version": 2, "persistent": false, "slots": 1, "subscribers": 2}]})
    );
    let (status, object) = api(
        &gateway,
        "GET",
        "/api/v1/apps/live/shared_objects/board",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(object["data"]["top line"]["text"], "hi");
    let (status, answer) = api(&gateway, "DELETE", slot, Some(TOKEN), None).await;
    assert_eq!((status, answer), (200, json!({"version": 3})));
    for client in [&mut a, &mut b] {
        let (version, _, changes) = sync(client, "board").await;
        assert_eq!(
            (version, codes(&changes)),
            (3, vec![(SyncCode::Delete, "top line")])
        );
    }
    let send = "/api/v1/apps/live/shared_objects/board/send";
    let (status, answer) = api(
        &gateway,
        "POST",
        send,
        Some(TOKEN),
        Some(r#"{"handler": "onNews", "args": [1, "x"]}"#),
    )
    .await;
    assert_eq!((status, answer), (200, json!({"subscribers": 2})));
    for client in [&mut a, &mut b] {
        let (handler, args) = message(client, "board").await;
        assert_eq!(handler, "onNews");
        assert_eq!(args, [Value::Number(1.0), Value::from("x")]);
    }
    set(&mut a, "board", "k", "v".into()).await;
    sync(&mut b, "board").await;
    let (status, answer) = api(
        &gateway,
        "DELETE",
        "/api/v1/apps/live/shared_objects/board",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!((status, answer), (200, json!({"version": 5})));
    let (version, _, changes) = sync(&mut b, "board").await;
    assert_eq!((version, codes(&changes)), (5, vec![(SyncCode::Clear, "")]));
    // Missing objects and applications, bad bodies.
    let (status, _) = api(
        &gateway,
        "PUT",
        "/api/v1/apps/live/shared_objects/none/slots/x",
        Some(TOKEN),
        Some(r#"{"value": 1}"#),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = api(
        &gateway,
        "GET",
        "/api/v1/apps/nope/shared_objects",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = api(&gateway, "PUT", slot, Some(TOKEN), Some("not json")).await;
    assert_eq!(status, 400);
    let (status, _) = api(&gateway, "PUT", slot, Some(TOKEN), Some(r#"{"nope": 1}"#)).await;
    assert_eq!(status, 400);
}

/// The API from a task that does not own the [`Gateway`].
struct FakeGateway(std::net::SocketAddr);

impl FakeGateway {
    async fn api(&self, method: &str, path: &str, body: &str) -> (u16, Json) {
        let mut socket = TcpStream::connect(self.0).await.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(TIMEOUT, socket.read_to_end(&mut answer)).await;
        let text = String::from_utf8_lossy(&answer);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let json = text
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or(Json::Null);
        (status, json)
    }
}
