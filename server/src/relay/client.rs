//! The RTMP client a relay speaks to another server, over TCP: the protocol crate's
//! [`ClientSession`] with a socket, timeouts and the setup sequences of a publisher (as
//! ffmpeg sends them: releaseStream, FCPublish, createStream, publish) and of a player
//! (createStream, play). Everything the other server sends is bounded by the gateway's own
//! decoder limits; anything it gets wrong is a [`RelayError`], never a panic.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::Duration;

use bytes::Bytes;
use rtmpws_protocol::amf::Value;
use rtmpws_protocol::chunk::DecoderLimits;
use rtmpws_protocol::client::{ClientConfig, ClientEvent, ClientSession};
use rtmpws_protocol::enhanced::{CAPS_MULTITRACK, FOURCCS};
use rtmpws_protocol::{LinkError, StreamId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use super::url::RelayUrl;

/// Why a relay connection failed or ended.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("no answer to {what} within {secs} s")]
    Timeout { what: &'static str, secs: u64 },
    #[error("the server closed the connection")]
    Closed,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("RTMP: {0}")]
    Link(#[from] LinkError),
    #[error("connect rejected: {0}")]
    Rejected(String),
    #[error("createStream failed")]
    CreateStream,
    #[error("{code}: {description}")]
    Refused { code: String, description: String },
    #[error("no media within {0} s")]
    NoMedia(u64),
    #[error("a write made no progress for {0} s")]
    Stalled(u64),
    #[error("nothing from the server for {0} s")]
    Silent(u64),
}

/// The decoder limits and timeouts of relay connections, from the gateway's config.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub decoder: DecoderLimits,
    pub chunk_size: u32,
    /// Connecting, and each answer during setup.
    pub timeout: Duration,
}

/// One relay connection: the session, and the socket's two halves apart, so reading and
/// writing can wait side by side in one `select!`.
pub struct RelayClient {
    pub session: ClientSession,
    pub rd: Reader,
    pub wr: Writer,
    timeout: Duration,
}

/// The socket's read half and its buffer.
pub struct Reader {
    half: OwnedReadHalf,
    buf: Vec<u8>,
    /// Bytes read and not yet given to the session.
    filled: usize,
}

impl Reader {
    /// Reads once (cancel-safe: nothing is lost if the future is dropped); the bytes wait for
    /// [`RelayClient::input`].
    pub async fn read(&mut self) -> Result<(), RelayError> {
        let n = self.half.read(&mut self.buf).await?;
        if n == 0 {
            return Err(RelayError::Closed);
        }
        self.filled = n;
        Ok(())
    }
}

/// The socket's write half and what waits to be written.
pub struct Writer {
    half: OwnedWriteHalf,
    /// Encoded output not yet written, and how much of its first segment is.
    out: VecDeque<Bytes>,
    offset: usize,
    bytes: usize,
    scratch: Vec<Bytes>,
}

impl Writer {
    /// Bytes waiting to be written.
    pub fn queued(&self) -> usize {
        self.bytes
    }

    /// Writes once from the queue (cancel-safe); returns the bytes written.
    pub async fn write_some(&mut self) -> Result<usize, RelayError> {
        let mut slices = Vec::with_capacity(16);
        for (i, segment) in self.out.iter().take(16).enumerate() {
            let start = if i == 0 { self.offset } else { 0 };
            slices.push(IoSlice::new(&segment[start..]));
        }
        let n = self.half.write_vectored(&slices).await?;
        if n == 0 {
            return Err(RelayError::Closed);
        }
        self.advance(n);
        Ok(n)
    }

    fn advance(&mut self, mut n: usize) {
        self.bytes -= n.min(self.bytes);
        while n > 0 {
            let Some(front) = self.out.front() else {
                break;
            };
            let left = front.len() - self.offset;
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            self.out.pop_front();
            self.offset = 0;
        }
    }
}

impl RelayClient {
    /// TCP connect, handshake and `connect` to `url`'s application. `player` picks the
    /// command object a player sends (Flash's) rather than an encoder's (FMLE's);
    /// `connect_query` is added to the app and tcUrl, as clients pass tokens there.
    pub async fn open(
        url: &RelayUrl,
        limits: Limits,
        player: bool,
        connect_query: Option<&str>,
    ) -> Result<RelayClient, RelayError> {
        let secs = limits.timeout.as_secs();
        let socket = tokio::time::timeout(limits.timeout, connect(&url.host, url.port))
            .await
            .map_err(|_| RelayError::Timeout {
                what: "the TCP connection",
                secs,
            })?
            .map_err(RelayError::Connect)?;
        let _ = socket.set_nodelay(true);
        let (reader, writer) = socket.into_split();
        let session = ClientSession::new(ClientConfig {
            chunk_limits: limits.decoder,
            chunk_size: limits.chunk_size,
            ..ClientConfig::default()
        });
        let mut client = RelayClient {
            session,
            rd: Reader {
                half: reader,
                buf: vec![0; 64 * 1024],
                filled: 0,
            },
            wr: Writer {
                half: writer,
                out: VecDeque::new(),
                offset: 0,
                bytes: 0,
                scratch: Vec::new(),
            },
            timeout: limits.timeout,
        };
        let (app, tc_url) = match connect_query {
            Some(query) => (
                format!("{}?{query}", url.app),
                format!("{}?{query}", url.tc_url()),
            ),
            None => (url.app.clone(), url.tc_url()),
        };
        let mut props: Vec<(&str, Value)> = vec![("app", app.into())];
        // Enhanced RTMP: a relay forwards every codec and every track as it comes.
        let fourccs = FOURCCS.iter().map(|&f| Value::from(f)).collect();
        props.extend([
            ("fourCcList", Value::StrictArray(fourccs)),
            ("capsEx", f64::from(CAPS_MULTITRACK).into()),
        ]);
        if player {
            props.extend([
                ("flashVer", "LNX 9,0,124,2".into()),
                ("tcUrl", tc_url.into()),
                ("fpad", false.into()),
                ("capabilities", 15.0.into()),
                ("audioCodecs", 4071.0.into()),
                ("videoCodecs", 252.0.into()),
                ("videoFunction", 1.0.into()),
            ]);
        } else {
            props.extend([
                ("type", "nonprivate".into()),
                ("flashVer", "FMLE/3.0 (compatible; rtmpws)".into()),
                ("tcUrl", tc_url.into()),
            ]);
        }
        client.session.connect(Value::object(props), Vec::new());
        let deadline = client.deadline();
        loop {
            match client.next_event(deadline, "connect").await? {
                ClientEvent::Connected { .. } => return Ok(client),
                ClientEvent::ConnectRejected { info } => {
                    let why = info
                        .get_str("description")
                        .or_else(|| info.get_str("code"))
                        .unwrap_or("no reason given");
                    return Err(RelayError::Rejected(why.to_owned()));
                }
                _ => {}
            }
        }
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// A new NetStream.
    async fn create_stream(&mut self) -> Result<StreamId, RelayError> {
        let transaction = self.session.create_stream();
        let deadline = self.deadline();
        loop {
            match self.next_event(deadline, "createStream").await? {
                ClientEvent::StreamCreated {
                    transaction_id,
                    stream_id,
                } if transaction_id == transaction => return Ok(stream_id),
                ClientEvent::CallError { transaction_id, .. } if transaction_id == transaction => {
                    return Err(RelayError::CreateStream)
                }
                _ => {}
            }
        }
    }

    /// Publishes `name` live, as ffmpeg does; returns once the server says Publish.Start.
    pub async fn publish(&mut self, name: &str) -> Result<StreamId, RelayError> {
        self.session.call("releaseStream", vec![name.into()]);
        self.session.call("FCPublish", vec![name.into()]);
        let stream_id = self.create_stream().await?;
        self.session.publish(stream_id, name, "live");
        let deadline = self.deadline();
        loop {
            if let ClientEvent::Status { stream_id: s, info } =
                self.next_event(deadline, "publish").await?
            {
                if s != stream_id {
                    continue;
                }
                match info.get_str("code") {
                    Some("NetStream.Publish.Start") => return Ok(stream_id),
                    _ if is_error(&info) => return Err(refused(&info)),
                    _ => {}
                }
            }
        }
    }

    /// Plays `name` live (start -1: never a recorded item); the statuses and media follow as
    /// events.
    pub async fn play(&mut self, name: &str) -> Result<StreamId, RelayError> {
        let stream_id = self.create_stream().await?;
        self.session.set_buffer_length(stream_id, 1000);
        self.session.play(stream_id, name, -1.0, -1.0, true);
        self.flush().await?;
        Ok(stream_id)
    }

    /// Ends a publish politely (FCUnpublish, deleteStream) and writes what is left, for at
    /// most `limit`.
    pub async fn unpublish(&mut self, stream_id: StreamId, name: &str, limit: Duration) {
        self.session.call("FCUnpublish", vec![name.into()]);
        self.session.delete_stream(stream_id);
        let _ = tokio::time::timeout(limit, self.flush()).await;
        let _ = self.wr.half.shutdown().await;
    }

    /// The next event, reading (and writing what the session queued: acks, pongs) as needed,
    /// until `deadline`.
    pub async fn next_event(
        &mut self,
        deadline: Instant,
        what: &'static str,
    ) -> Result<ClientEvent, RelayError> {
        loop {
            if let Some(event) = self.session.poll_event() {
                return Ok(event);
            }
            self.flush().await?;
            let secs = self.timeout.as_secs();
            match tokio::time::timeout_at(deadline, self.rd.read()).await {
                Err(_) => return Err(RelayError::Timeout { what, secs }),
                Ok(read) => {
                    read?;
                    self.input()?;
                }
            }
        }
    }

    /// The next event; fails if the server sends no bytes at all (not even a ping) for
    /// `silence`.
    pub async fn next_event_alive(&mut self, silence: Duration) -> Result<ClientEvent, RelayError> {
        loop {
            if let Some(event) = self.session.poll_event() {
                return Ok(event);
            }
            self.flush().await?;
            match tokio::time::timeout(silence, self.rd.read()).await {
                Err(_) => return Err(RelayError::Silent(silence.as_secs())),
                Ok(read) => {
                    read?;
                    self.input()?;
                }
            }
        }
    }

    /// Gives what [`Reader::read`] read to the session.
    pub fn input(&mut self) -> Result<(), RelayError> {
        let n = std::mem::take(&mut self.rd.filled);
        self.session.handle_input(&self.rd.buf[..n])?;
        self.take_output();
        Ok(())
    }

    /// Moves what the session queued into the write queue.
    pub fn take_output(&mut self) {
        let wr = &mut self.wr;
        self.session.drain_output(&mut wr.scratch);
        for segment in wr.scratch.drain(..) {
            wr.bytes += segment.len();
            wr.out.push_back(segment);
        }
    }

    /// Bytes waiting to be written.
    pub fn queued(&self) -> usize {
        self.wr.bytes
    }

    /// Writes everything queued, each write within the timeout.
    pub async fn flush(&mut self) -> Result<(), RelayError> {
        self.take_output();
        while self.wr.bytes > 0 {
            let secs = self.timeout.as_secs();
            tokio::time::timeout(self.timeout, self.wr.write_some())
                .await
                .map_err(|_| RelayError::Stalled(secs))??;
        }
        Ok(())
    }
}

/// The socket send buffer a relay asks for (Linux doubles it): enough for tens of Mbit/s
/// over a long round trip, small enough that a target that stops reading fills it in
/// moments, so the push's own bounded queue (and its stall timeout) take over instead of
/// megabytes of autotuned kernel buffer.
pub const SEND_BUFFER: u32 = 256 * 1024;

/// Connects to the first address of `host` that answers.
async fn connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = match addr {
            std::net::SocketAddr::V4(_) => TcpSocket::new_v4()?,
            std::net::SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        let _ = socket.set_send_buffer_size(SEND_BUFFER);
        match socket.connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host} has no address"),
        )
    }))
}

/// Whether an info object reports a failure (level "error", or a code that ends a play or a
/// publish).
pub fn is_error(info: &Value) -> bool {
    info.get_str("level") == Some("error")
        || matches!(
            info.get_str("code"),
            Some(
                "NetStream.Play.StreamNotFound"
                    | "NetStream.Play.Failed"
                    | "NetStream.Publish.BadName"
                    | "NetStream.Failed"
            )
        )
}

pub fn refused(info: &Value) -> RelayError {
    RelayError::Refused {
        code: info.get_str("code").unwrap_or("an error").to_owned(),
        description: info.get_str("description").unwrap_or_default().to_owned(),
    }
}
