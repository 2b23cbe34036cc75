//! The two ways RTMP bytes reach the gateway: a TCP socket, or binary WebSocket messages.
//! The session above sees one byte stream either way.

use std::io::{self, IoSlice};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

/// A bidirectional RTMP byte stream.
pub trait Transport: Send {
    /// Reads what arrived into `buf` (replacing its contents); `Ok(0)` is a clean close.
    /// Cancellation-safe: the connection loop `select!`s on it.
    fn read(
        &mut self,
        buf: &mut Vec<u8>,
    ) -> impl std::future::Future<Output = io::Result<usize>> + Send;

    /// Writes every segment, in order, as one batch: a vectored write on TCP, one binary
    /// message on WebSocket.
    fn write(
        &mut self,
        segments: &[Bytes],
    ) -> impl std::future::Future<Output = io::Result<()>> + Send;

    /// Closes the write side politely.
    fn close(&mut self) -> impl std::future::Future<Output = ()> + Send;
}

/// RTMP over TCP (or any async byte stream).
pub struct Tcp<S = TcpStream> {
    stream: S,
}

impl<S> Tcp<S> {
    pub fn new(stream: S) -> Self {
        Tcp { stream }
    }
}

const READ_SIZE: usize = 64 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Transport for Tcp<S> {
    async fn read(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        buf.clear();
        buf.reserve(READ_SIZE);
        self.stream.read_buf(buf).await
    }

    async fn write(&mut self, segments: &[Bytes]) -> io::Result<()> {
        let mut index = 0;
        let mut offset = 0;
        while index < segments.len() {
            let slices: Vec<IoSlice<'_>> = std::iter::once(&segments[index][offset..])
                .chain(segments[index + 1..].iter().map(|s| &s[..]))
                .take(64)
                .map(IoSlice::new)
                .collect();
            let mut written = self.stream.write_vectored(&slices).await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            while index < segments.len() && written > 0 {
                let left = segments[index].len() - offset;
                if written >= left {
                    written -= left;
                    index += 1;
                    offset = 0;
                } else {
                    offset += written;
                    written = 0;
                }
            }
        }
        Ok(())
    }

    async fn close(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}

/// RTMP inside binary WebSocket messages.
pub struct WebSocket<S> {
    ws: WebSocketStream<S>,
}

impl<S> WebSocket<S> {
    pub fn new(ws: WebSocketStream<S>) -> Self {
        WebSocket { ws }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Transport for WebSocket<S> {
    async fn read(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            match self.ws.next().await {
                None | Some(Ok(WsMessage::Close(_))) => return Ok(0),
                Some(Ok(WsMessage::Binary(data))) => {
                    if data.is_empty() {
                        continue;
                    }
                    buf.clear();
                    buf.extend_from_slice(&data);
                    return Ok(buf.len());
                }
                // Pings are answered by tungstenite; text has no meaning here.
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(io::Error::other(e)),
            }
        }
    }

    async fn write(&mut self, segments: &[Bytes]) -> io::Result<()> {
        let payload: Bytes = match segments {
            [only] => only.clone(),
            _ => segments.concat().into(),
        };
        self.ws
            .send(WsMessage::Binary(payload))
            .await
            .map_err(io::Error::other)
    }

    async fn close(&mut self) {
        let _ = self.ws.close(None).await;
    }
}
