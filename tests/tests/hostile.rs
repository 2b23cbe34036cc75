//! Hostile input against the real gateway: it closes the offending connection and goes on
//! serving everyone else. Never a panic, an abort or a hang.

use std::io::{Read, Write};
use std::time::Duration;

use rtmpws_protocol::amf::amf0;
use rtmpws_protocol::chunk::{ChunkEncoder, MessageHeader};
use rtmpws_protocol::{ChunkStreamId, MessageType, StreamId, Timestamp};
use rtmpws_tests::{Gateway, TestClient};

/// After each attack, a normal client must still connect and play.
async fn still_serves(gateway: &mut Gateway) {
    assert!(gateway.is_running(), "the gateway died:\n{}", gateway.log());
    let mut client = TestClient::connect(&gateway.ws_url("live"), &[]).await;
    assert!(client.connect_answer().await.0);
    let stream = client.create_stream().await;
    client.session().play(stream, "any", -2.0, -1.0, true);
    client.flush().await;
    client.wait_status("NetStream.Play.Start").await;
}

fn chunked(type_id: MessageType, csid: ChunkStreamId, payload: &[u8], chunk_size: u32) -> Vec<u8> {
    let mut encoder = ChunkEncoder::new();
    encoder.set_chunk_size(chunk_size);
    let mut out = bytes::BytesMut::new();
    let header = MessageHeader {
        csid,
        timestamp: Timestamp(0),
        type_id,
        stream_id: StreamId(0),
    };
    encoder.encode(&header, payload, &mut out).unwrap();
    out.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handshakes_and_bad_chunks_close_only_their_connection() {
    let mut gateway = Gateway::start("connect_timeout_secs = 2");

    // A wrong RTMP version byte, over TCP and WebSocket.
    for url in [gateway.rtmp_url("live"), gateway.ws_url("live")] {
        // `open` already sent a good C0+C1; this raw client sends a bad one instead.
        let mut client = TestClient::open_raw(&url).await;
        let mut bad = vec![0x09u8];
        bad.extend(std::iter::repeat_n(0xAB, 3000));
        client.send_raw(&bad).await;
        assert!(
            client.closes_within(Duration::from_secs(5)).await,
            "{url}: bad version not closed"
        );
    }
    still_serves(&mut gateway).await;

    // After a good handshake: Set Chunk Size 0, then 2^31-1, then a 16 MB message header.
    // (The test client announced a chunk size of 4096 after its handshake.)
    let attacks: Vec<Vec<u8>> = vec![
        chunked(
            MessageType::SET_CHUNK_SIZE,
            ChunkStreamId::CONTROL,
            &0u32.to_be_bytes(),
            4096,
        ),
        chunked(
            MessageType::SET_CHUNK_SIZE,
            ChunkStreamId::CONTROL,
            &0x7FFF_FFFFu32.to_be_bytes(),
            4096,
        ),
        vec![0x03, 0, 0, 0, 0xFF, 0xFF, 0xF0, 20, 0, 0, 0, 0],
        // fmt 1 on a chunk stream never seen.
        vec![0x45, 0, 0, 0, 0, 0, 10, 20],
    ];
    for attack in attacks {
        let mut client = TestClient::open(&gateway.rtmp_url("live")).await;
        client.finish_handshake().await;
        client.flush().await;
        client.send_raw(&attack).await;
        assert!(
            client.closes_within(Duration::from_secs(5)).await,
            "not closed after {:02x?}",
            &attack[..8]
        );
    }
    still_serves(&mut gateway).await;

    // 10 000 nested AMF objects in connect, over WebSocket.
    let mut payload = Vec::new();
    amf0::encode_all(&["connect".into(), 1.0.into()], &mut payload);
    for _ in 0..10_000 {
        payload.extend_from_slice(&[0x03, 0x00, 0x01, b'a']);
    }
    let mut client = TestClient::open(&gateway.ws_url("live")).await;
    client.finish_handshake().await;
    client.flush().await;
    client
        .send_raw(&chunked(
            MessageType::COMMAND_AMF0,
            ChunkStreamId::COMMAND,
            &payload,
            4096,
        ))
        .await;
    assert!(client.closes_within(Duration::from_secs(5)).await);
    still_serves(&mut gateway).await;

    // A bare "@setDataFrame" and one without its value while publishing (rml_rtmp panicked).
    let mut publisher = TestClient::connect(&gateway.rtmp_url("live"), &[]).await;
    assert!(publisher.connect_answer().await.0);
    let stream = publisher.create_stream().await;
    publisher.session().publish(stream, "meta", "live");
    publisher
        .session()
        .send_data(stream, Timestamp(0), vec!["@setDataFrame".into()]);
    publisher.session().send_data(
        stream,
        Timestamp(0),
        vec!["@setDataFrame".into(), "onMetaData".into()],
    );
    publisher.flush().await;
    publisher.wait_status("NetStream.Publish.Start").await;
    assert!(publisher.is_open_after(Duration::from_millis(300)).await);
    still_serves(&mut gateway).await;

    // A client that never sends connect is dropped after connect_timeout_secs.
    let mut idle = TestClient::open(&gateway.rtmp_url("live")).await;
    idle.finish_handshake().await;
    assert!(
        idle.closes_within(Duration::from_secs(6)).await,
        "idle client kept"
    );

    // Random bytes after a good handshake, many times.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..40 {
        let mut client = TestClient::open(&gateway.rtmp_url("live")).await;
        client.finish_handshake().await;
        client.flush().await;
        let garbage: Vec<u8> = (0..2000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        client.send_raw(&garbage).await;
        drop(client);
    }
    still_serves(&mut gateway).await;
}

#[test]
fn static_files_never_leave_their_folders() {
    let gateway = Gateway::start("");
    let get = |path: &str| {
        let mut stream = std::net::TcpStream::connect(gateway.http).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    };
    for path in [
        "/../Cargo.toml",
        "/pkg/../../Cargo.toml",
        "/..%2fCargo.toml",
        "/%2e%2e/Cargo.toml",
        "//etc/passwd",
        "/a/../../Cargo.toml",
        "/.\\..\\Cargo.toml",
    ] {
        let response = get(path);
        assert!(
            response.starts_with("HTTP/1.1 404"),
            "{path}: {}",
            response.lines().next().unwrap_or_default()
        );
        assert!(!response.contains("[workspace]"));
    }
    // A huge request head is refused, not buffered.
    let mut stream = std::net::TcpStream::connect(gateway.http).unwrap();
    let _ =
        stream.write_all(format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(100_000)).as_bytes());
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    assert!(!String::from_utf8_lossy(&response).contains("200 OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_nobody_reads_lets_go_of_its_connection_slot() {
    let files = rtmpws_tests::TempDir::new("pkg");
    std::fs::write(files.path().join("big.bin"), vec![7u8; 32 << 20]).unwrap();
    let mut gateway = Gateway::start(&format!(
        "max_connections = 2\nwrite_timeout_secs = 1\npackage_dir = \"{}\"",
        files.path().display()
    ));
    // Two downloads that never read fill both connection slots.
    let stalled: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(gateway.http).unwrap();
            write!(stream, "GET /pkg/big.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            stream
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    // Their writes timed out: the slots are free again for a viewer.
    still_serves(&mut gateway).await;
    drop(stalled);
}
