//! TLS served by the gateway itself: ffmpeg publishes over rtmps:// and plays back over rtmp://
//! and rtmps://; failed and stalled TLS handshakes close only their own connection, within the
//! connect timeout and under the connection limit; bad certificate or key files stop the
//! gateway at startup with an error naming the file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rtmpws_protocol::client::ClientEvent;
use rtmpws_protocol::MediaKind;
use rtmpws_tests::{
    ffmpeg_decoded_video_frames, gateway_binary, test_flv, Ffmpeg, Gateway, TempDir, TestClient,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A self-signed certificate for 127.0.0.1 and its key, made by openssl in `dir`.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}-cert.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let output = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()
        .expect("openssl is not installed");
    assert!(
        output.status.success(),
        "openssl could not make a certificate: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (cert, key)
}

/// The `[tls]` table for `cert` and `key` with both TLS listeners on port 0.
fn tls_table(cert: &Path, key: &Path) -> String {
    format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\nhttps_addr = \"127.0.0.1:0\"\nrtmps_addr = \"127.0.0.1:0\"\n",
        cert.display(),
        key.display()
    )
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

/// A subscriber over plain RTMP playing `name`, once its first video frame has arrived.
async fn subscriber(gateway: &Gateway, name: &str) -> TestClient {
    let mut client = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    client.session().play(stream, name, -2.0, -1.0, true);
    client.flush().await;
    client.wait_for("video", is_video).await;
    client
}

/// Reads from `stream` until the gateway closes it; how long that took, or `None` if it was
/// still open after `limit`. A TLS alert before the close is fine.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + limit).into(), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publishes_over_rtmps_and_plays_back_over_rtmp_and_rtmps() {
    let certs = TempDir::new("tls-cert");
    let (cert, key) = certificate(certs.path(), "gateway");
    let gateway = Gateway::start(&tls_table(&cert, &key));
    assert!(gateway.https.is_some(), "the addr file reports https=");
    let media = test_flv(20);
    let mut publisher = Ffmpeg::publish(&media, &gateway.rtmps_url("live/secure"));
    let mut watcher = subscriber(&gateway, "secure").await;

    // Plain RTMP to the rtmps port (C0 and C1 of a handshake), and a TLS handshake begun with
    // nothing but garbage: the gateway closes each, and only that one.
    let rtmps = gateway.rtmps.unwrap();
    let mut plain = TcpStream::connect(rtmps).await.unwrap();
    let mut c0c1 = vec![3u8];
    c0c1.extend_from_slice(&[0u8; 1536]);
    plain.write_all(&c0c1).await.unwrap();
    let mut garbage = TcpStream::connect(rtmps).await.unwrap();
    garbage
        .write_all(b"\x16\x03\x01\x00\x05hello, not TLS")
        .await
        .unwrap();
    for stream in [&mut plain, &mut garbage] {
        assert!(
            closed_within(stream, Duration::from_secs(5))
                .await
                .is_some(),
            "a failed TLS handshake leaves the connection open"
        );
    }

    // The live stream went on meanwhile, and still does.
    let arrived = watcher.collect_for(Duration::from_secs(1)).await;
    assert!(
        arrived.iter().filter(|e| is_video(e)).count() >= 10,
        "the subscriber got {} video frames in a second after the bad handshakes",
        arrived.iter().filter(|e| is_video(e)).count()
    );
    assert!(
        matches!(publisher.0.try_wait(), Ok(None)),
        "the rtmps publisher stopped"
    );
    assert_eq!(
        ffmpeg_decoded_video_frames(&gateway.rtmp_url("live/secure"), Some(30)),
        30,
        "ffmpeg over rtmp://"
    );
    assert_eq!(
        ffmpeg_decoded_video_frames(&gateway.rtmps_url("live/secure"), Some(30)),
        30,
        "ffmpeg over rtmps://"
    );
    assert!(
        matches!(publisher.0.try_wait(), Ok(None)),
        "the rtmps publisher stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tls_handshake_holds_a_connection_slot_until_the_connect_timeout() {
    let certs = TempDir::new("tls-cert");
    let (cert, key) = certificate(certs.path(), "gateway");
    let gateway = Gateway::start(&format!(
        "max_connections = 1\nconnect_timeout_secs = 2\n{}",
        tls_table(&cert, &key)
    ));
    // A client that opens the rtmps port and never says hello takes the only slot...
    let mut stalled = TcpStream::connect(gateway.rtmps.unwrap()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut refused = TcpStream::connect(gateway.rtmp).await.unwrap();
    let _ = refused.write_all(&[3u8; 1537]).await;
    assert!(
        closed_within(&mut refused, Duration::from_secs(1))
            .await
            .is_some(),
        "a plain RTMP connection beyond max_connections was not refused"
    );
    // ...until the handshake times out.
    let waited = closed_within(&mut stalled, Duration::from_secs(6))
        .await
        .expect("a stalled TLS handshake was never closed");
    assert!(
        waited >= Duration::from_millis(1500),
        "closed after {waited:?}, before the 2 s connect timeout"
    );
    let mut client = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(client.connect_answer().await.0, "the slot was not freed");
}

/// Starts the gateway with `config` and waits for it to exit; returns whether it exited
/// cleanly and what it logged.
fn run_to_exit(config: &str) -> (bool, String) {
    let dir = TempDir::new("tls-config");
    let path = dir.path().join("gateway.toml");
    std::fs::write(
        &path,
        format!("rtmp_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\n{config}"),
    )
    .unwrap();
    let mut child = Command::new(gateway_binary())
        .arg("--config")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start rtmpws-gateway");
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the gateway started with config:\n{config}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), log)
}

#[test]
fn bad_tls_settings_stop_the_gateway_with_an_error_naming_the_file() {
    let certs = TempDir::new("tls-cert");
    let (cert, key) = certificate(certs.path(), "gateway");
    let (_, other_key) = certificate(certs.path(), "other");
    let missing = certs.path().join("missing.pem");
    let not_pem = certs.path().join("not-pem.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let cases = [
        (
            missing.as_path(),
            key.as_path(),
            "cannot read TLS certificate file",
        ),
        (
            cert.as_path(),
            missing.as_path(),
            "cannot read TLS key file",
        ),
        (not_pem.as_path(), key.as_path(), "holds no certificate"),
        (cert.as_path(), not_pem.as_path(), "holds no private key"),
        // A certificate where the key belongs.
        (cert.as_path(), cert.as_path(), "holds no private key"),
        (cert.as_path(), other_key.as_path(), "cannot be used"),
    ];
    for (cert, key, message) in cases {
        let (clean, log) = run_to_exit(&tls_table(cert, key));
        assert!(!clean, "exited cleanly with cert {cert:?}, key {key:?}");
        assert!(log.contains(message), "no {message:?} in:\n{log}");
        let named = if message.contains("key") { key } else { cert };
        assert!(
            log.contains(&named.display().to_string()),
            "the error does not name {named:?}:\n{log}"
        );
    }
    for table in [
        "[tls]\nrtmps_addr = \"127.0.0.1:0\"\n".to_owned(),
        format!(
            "[tls]\ncert = \"{}\"\nhttps_addr = \"127.0.0.1:0\"\n",
            cert.display()
        ),
    ] {
        let (clean, log) = run_to_exit(&table);
        assert!(!clean, "exited cleanly with {table}");
        assert!(log.contains("[tls]"), "no [tls] in:\n{log}");
    }
}
