//! A minimal RTMP client, just enough to load a server cheaply: the protocol crate's handshake,
//! chunk encoder and chunk decoder (for message boundaries), and AMF only for the handful of
//! commands of the setup. Media payloads are never decoded: to the load generator a media
//! message is its type and its timestamp.

use std::cell::RefCell;
use std::io;
use std::time::Instant;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use rtmpws_protocol::amf::{DecodeLimits, Value};
use rtmpws_protocol::chunk::{ChunkDecoder, ChunkEncoder, DecoderLimits, MessageHeader};
use rtmpws_protocol::handshake::{Handshake, Progress};
use rtmpws_protocol::message::{Command, Message, UserControl};
use rtmpws_protocol::{MessageType, StreamId, Timestamp};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::rx::RxStream;

pub type Error = Box<dyn std::error::Error>;

thread_local! {
    /// One read buffer for every TCP connection of the thread: reads are synchronous once the
    /// socket is readable, so thousands of connections need no buffer each.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; 256 * 1024]);
}

/// The byte pipe under a connection.
enum Pipe {
    Tcp(RxStream),
    Ws(Box<WebSocketStream<RxStream>>),
}

/// When bytes were read: by the load generator, and (if the kernel said) when they arrived
/// in the socket, in CLOCK_REALTIME nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct ReadTime {
    pub read: Instant,
    pub arrival_ns: Option<i64>,
}

/// What arrived, as far as the load generator cares.
#[derive(Debug)]
pub enum Incoming {
    /// An audio (8) or video (9) message; its payload is not looked at.
    Media {
        type_id: u8,
        timestamp: u32,
    },
    Command(Command),
    Other,
}

/// One client connection.
pub struct Conn {
    pipe: Pipe,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    out: BytesMut,
    /// The server's Window Acknowledgement Size, and the byte count acknowledged last.
    window: Option<u32>,
    acked: u64,
    next_transaction: f64,
}

impl Conn {
    /// Opens plain RTMP to `addr` and completes the handshake.
    pub async fn tcp(addr: std::net::SocketAddr) -> Result<Conn, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Conn::start(Pipe::Tcp(RxStream::new(stream)?)).await
    }

    /// Opens RTMP over WebSocket at `url` (ws://host:port/app) and completes the handshake.
    pub async fn ws(addr: std::net::SocketAddr, url: &str) -> Result<Conn, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        // tungstenite zero-fills up to read_buffer_size on every read (128 KiB by default);
        // media batches are a few KiB, so a small buffer keeps the load generator cheap.
        let config = WebSocketConfig::default()
            .read_buffer_size(16 * 1024)
            .write_buffer_size(0);
        let stream = RxStream::new(stream)?;
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
        Conn::start(Pipe::Ws(Box::new(ws))).await
    }

    async fn start(pipe: Pipe) -> Result<Conn, Error> {
        let (mut handshake, c0c1) = Handshake::client(u64::from(std::process::id()));
        let mut conn = Conn {
            pipe,
            decoder: ChunkDecoder::new(DecoderLimits::default()),
            encoder: ChunkEncoder::new(),
            out: BytesMut::new(),
            window: None,
            acked: 0,
            next_transaction: 1.0,
        };
        conn.out.extend_from_slice(&c0c1);
        conn.flush().await?;
        loop {
            let bytes = conn.read_raw().await?;
            match handshake.handle_input(&bytes)? {
                Progress::InProgress { response } => {
                    conn.out.extend_from_slice(&response);
                    conn.flush().await?;
                }
                Progress::Done {
                    response,
                    remaining,
                } => {
                    conn.out.extend_from_slice(&response);
                    conn.flush().await?;
                    conn.decoder.push(&remaining);
                    return Ok(conn);
                }
            }
        }
    }

    /// Reads bytes during the handshake (before the chunk decoder takes over).
    async fn read_raw(&mut self) -> Result<Vec<u8>, Error> {
        match &mut self.pipe {
            Pipe::Tcp(stream) => loop {
                stream.readable().await?;
                let read = SCRATCH.with_borrow_mut(|buf| match stream.try_read(buf) {
                    Ok(n) => Ok(buf[..n].to_vec()),
                    Err(e) => Err(e),
                });
                match read {
                    Ok(bytes) if bytes.is_empty() => return Err("closed in the handshake".into()),
                    Ok(bytes) => return Ok(bytes),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e.into()),
                }
            },
            Pipe::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(WsMessage::Binary(data))) => return Ok(data.to_vec()),
                    Some(Ok(WsMessage::Close(_))) | None => {
                        return Err("closed in the handshake".into())
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.into()),
                }
            },
        }
    }

    /// Waits for bytes and hands them to the chunk decoder; returns when they were read, or
    /// `None` if the server closed. Cancellation-safe.
    pub async fn read(&mut self) -> Result<Option<ReadTime>, Error> {
        let at = match &mut self.pipe {
            Pipe::Tcp(stream) => loop {
                stream.readable().await?;
                let decoder = &mut self.decoder;
                let read = SCRATCH.with_borrow_mut(|buf| {
                    let mut total = 0;
                    // Drain what is there (a large keyframe may span several reads).
                    loop {
                        match stream.try_read(buf) {
                            Ok(0) => return Ok(total),
                            Ok(n) => {
                                decoder.push(&buf[..n]);
                                total += n;
                                if n < buf.len() {
                                    return Ok(total);
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock && total > 0 => {
                                return Ok(total)
                            }
                            Err(e) => return Err(e),
                        }
                    }
                });
                match read {
                    Ok(0) => return Ok(None),
                    Ok(_) => {
                        break ReadTime {
                            read: Instant::now(),
                            arrival_ns: stream.last_arrival(),
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e.into()),
                }
            },
            Pipe::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(WsMessage::Binary(data))) => {
                        let at = ReadTime {
                            read: Instant::now(),
                            arrival_ns: ws.get_ref().last_arrival(),
                        };
                        self.decoder.push(&data);
                        break at;
                    }
                    Some(Ok(WsMessage::Close(_))) | None => return Ok(None),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.into()),
                }
            },
        };
        if let Some(window) = self.window {
            let received = self.decoder.bytes_received();
            if received - self.acked >= u64::from(window) {
                self.acked = received;
                // The sequence number is the byte count modulo 2^32 (RTMP spec 5.4.3).
                self.send(StreamId::CONTROL, Message::Acknowledgement(received as u32));
            }
        }
        Ok(Some(at))
    }

    /// The next whole message among the bytes read so far. Pings are answered (queued; call
    /// [`flush`](Self::flush)), chunk size and window changes applied.
    pub fn next(&mut self) -> Result<Option<Incoming>, Error> {
        let Some(raw) = self.decoder.next_message()? else {
            return Ok(None);
        };
        let type_id = raw.header.type_id;
        Ok(Some(match type_id {
            MessageType::AUDIO | MessageType::VIDEO => Incoming::Media {
                type_id: type_id.0,
                timestamp: raw.header.timestamp.0,
            },
            MessageType::COMMAND_AMF0
            | MessageType::COMMAND_AMF3
            | MessageType::WINDOW_ACK_SIZE
            | MessageType::USER_CONTROL => {
                match Message::decode(type_id, raw.payload, DecodeLimits::default())? {
                    Message::Command(command) => Incoming::Command(command),
                    Message::WindowAckSize(size) => {
                        self.window = Some(size.max(1));
                        Incoming::Other
                    }
                    Message::UserControl(UserControl::PingRequest(t)) => {
                        self.send(
                            StreamId::CONTROL,
                            Message::UserControl(UserControl::PingResponse(t)),
                        );
                        Incoming::Other
                    }
                    _ => Incoming::Other,
                }
            }
            _ => Incoming::Other,
        }))
    }

    /// Queues one message.
    pub fn send(&mut self, stream_id: StreamId, message: Message) {
        self.send_at(stream_id, Timestamp::ZERO, &message);
    }

    /// Queues one message with a timestamp (media).
    pub fn send_at(&mut self, stream_id: StreamId, timestamp: Timestamp, message: &Message) {
        let header = MessageHeader {
            csid: message.default_csid(stream_id),
            timestamp,
            type_id: message.type_id(false),
            stream_id,
        };
        let payload = message.encode_payload(false);
        // Only payloads over 16 MiB fail; the load generator sends none.
        let _ = self.encoder.encode(&header, &payload, &mut self.out);
    }

    /// Announces and applies an outgoing chunk size (the publisher's media).
    pub fn set_chunk_size(&mut self, size: u32) {
        self.send(StreamId::CONTROL, Message::SetChunkSize(size));
        self.encoder.set_chunk_size(size);
    }

    /// Writes what is queued.
    pub async fn flush(&mut self) -> Result<(), Error> {
        if self.out.is_empty() {
            return Ok(());
        }
        let bytes = self.out.split().freeze();
        match &mut self.pipe {
            Pipe::Tcp(stream) => stream.write_all(&bytes).await?,
            Pipe::Ws(ws) => ws.send(WsMessage::Binary(bytes)).await?,
        }
        Ok(())
    }

    /// Sends a command on `stream_id`; returns its transaction id.
    pub fn command(
        &mut self,
        stream_id: StreamId,
        name: &str,
        object: Value,
        args: Vec<Value>,
    ) -> f64 {
        let transaction_id = self.next_transaction;
        self.next_transaction += 1.0;
        let command = Command {
            name: name.into(),
            transaction_id,
            command_object: object,
            args,
        };
        self.send(stream_id, Message::Command(command));
        transaction_id
    }

    /// Reads until a command satisfies `pred`; other messages are discarded.
    pub async fn wait_command(
        &mut self,
        mut pred: impl FnMut(&Command) -> bool,
    ) -> Result<Command, Error> {
        loop {
            while let Some(incoming) = self.next()? {
                if let Incoming::Command(command) = incoming {
                    if command.name == "_error" {
                        return Err(format!("server refused: {:?}", command.args).into());
                    }
                    if pred(&command) {
                        return Ok(command);
                    }
                }
            }
            self.flush().await?;
            if self.read().await?.is_none() {
                return Err("server closed the connection".into());
            }
        }
    }

    /// `connect` to `app`, then `createStream`; returns the stream id.
    pub async fn connect_and_create_stream(
        &mut self,
        app: &str,
        tc_url: &str,
    ) -> Result<StreamId, Error> {
        let object = Value::object([
            ("app", Value::from(app)),
            ("flashVer", "LNX 9,0,124,2".into()),
            ("tcUrl", tc_url.into()),
            ("fpad", false.into()),
            ("capabilities", 15.0.into()),
            ("audioCodecs", 3191.0.into()),
            ("videoCodecs", 252.0.into()),
            ("videoFunction", 1.0.into()),
            ("objectEncoding", 0.0.into()),
        ]);
        let connect = self.command(StreamId::CONTROL, "connect", object, Vec::new());
        self.flush().await?;
        self.wait_command(|c| c.name == "_result" && c.transaction_id == connect)
            .await?;
        let create = self.command(StreamId::CONTROL, "createStream", Value::Null, Vec::new());
        self.flush().await?;
        let result = self
            .wait_command(|c| c.name == "_result" && c.transaction_id == create)
            .await?;
        let id = result
            .args
            .first()
            .and_then(Value::as_f64)
            .ok_or("createStream answered without a stream id")?;
        Ok(StreamId(id as u32))
    }
}

/// The `info.code` of an onStatus command, if it is one.
pub fn status_code(command: &Command) -> Option<&str> {
    if command.name != "onStatus" {
        return None;
    }
    command.args.first().and_then(|info| info.get_str("code"))
}
