//! The two ways RTMP bytes reach the gateway: a TCP socket, or binary WebSocket messages.
//! The session above sees one byte stream either way.
//!
//! Writes are the gateway's hot path (one per batch per subscriber), so they are made cheap:
//! a batch is written with vectored writes straight from the shared media buffers (no copy, no
//! per-write allocation), on WebSocket too (the frame header is written in front of the same
//! buffers), and progress is kept in the [`Batch`] so the caller can first try a write without
//! arming a timer and only wait, with a timeout, when the socket is full.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::{Sink, Stream};
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

    /// Writes what is left of `batch`, in order, as one unit: vectored writes on TCP, one
    /// binary message on WebSocket. `Ready(Ok)` once all of it is written and flushed (TLS
    /// buffers); on `Pending` the
    /// progress is kept in `batch` and the next call goes on from there.
    fn poll_write(&mut self, cx: &mut Context<'_>, batch: &mut Batch) -> Poll<io::Result<()>>;

    /// Closes the write side politely.
    fn close(&mut self) -> impl std::future::Future<Output = ()> + Send;
}

/// Most slices handed to one vectored write (Linux takes up to 1024; a batch rarely has more
/// than a few, and the rest follow in the next write).
const MAX_SLICES: usize = 64;

/// One batch of outgoing bytes, and how much of it has been written.
#[derive(Debug, Default)]
pub struct Batch {
    /// What to send, in order.
    pub segments: Vec<Bytes>,
    /// A header the transport puts in front of the segments (WebSocket frame header).
    prefix: [u8; 10],
    prefix_len: u8,
    /// Set once the transport has prepared the batch (its prefix chosen).
    started: bool,
    /// Bytes of the prefix written, then the segment being written and the bytes of it written.
    prefix_written: u8,
    index: usize,
    offset: usize,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Forgets the batch (written or not), keeping the segment list's allocation.
    pub fn clear(&mut self) {
        self.segments.clear();
        self.prefix_len = 0;
        self.started = false;
        self.prefix_written = 0;
        self.index = 0;
        self.offset = 0;
    }

    /// Bytes in the batch, written or not.
    pub fn len(&self) -> usize {
        self.segments.iter().map(Bytes::len).sum()
    }

    /// Fills `slices` with what is left to write; returns how many it filled (0: all written).
    fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_SLICES]) -> usize {
        let mut n = 0;
        let prefix = &self.prefix[usize::from(self.prefix_written)..usize::from(self.prefix_len)];
        if !prefix.is_empty() {
            slices[n] = IoSlice::new(prefix);
            n += 1;
        }
        let mut offset = self.offset;
        for segment in self.segments.iter().skip(self.index) {
            if n == MAX_SLICES {
                break;
            }
            let rest = &segment[offset.min(segment.len())..];
            offset = 0;
            if !rest.is_empty() {
                slices[n] = IoSlice::new(rest);
                n += 1;
            }
        }
        n
    }

    /// Records that `written` more bytes went out.
    fn advance(&mut self, mut written: usize) {
        let prefix_left = usize::from(self.prefix_len - self.prefix_written);
        let from_prefix = written.min(prefix_left);
        self.prefix_written += from_prefix as u8;
        written -= from_prefix;
        while written > 0 {
            let Some(segment) = self.segments.get(self.index) else {
                return;
            };
            let left = segment.len() - self.offset;
            if written >= left {
                written -= left;
                self.index += 1;
                self.offset = 0;
            } else {
                self.offset += written;
                written = 0;
            }
        }
    }
}

/// Writes what is left of `batch` to `stream` with vectored writes.
fn poll_write_vectored<S: AsyncWrite + Unpin>(
    stream: &mut S,
    cx: &mut Context<'_>,
    batch: &mut Batch,
) -> Poll<io::Result<()>> {
    loop {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let n = batch.slices(&mut slices);
        if n == 0 {
            return Poll::Ready(Ok(()));
        }
        let written = ready!(Pin::new(&mut *stream).poll_write_vectored(cx, &slices[..n]))?;
        if written == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        batch.advance(written);
    }
}

/// RTMP over TCP (or any async byte stream, such as TLS over TCP).
pub struct Tcp<S = TcpStream> {
    stream: S,
}

impl<S> Tcp<S> {
    pub fn new(stream: S) -> Self {
        Tcp { stream }
    }
}

/// Read buffer growth step. The buffer is only as large as what arrived needs: subscribers
/// send a few bytes now and then (acknowledgements), so reserving a large buffer per
/// connection would cost memory for nothing; publishers' reads grow it to what they send.
const READ_SIZE: usize = 4 * 1024;
/// Largest read buffer kept between reads.
const READ_KEEP: usize = 64 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Transport for Tcp<S> {
    async fn read(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        buf.clear();
        buf.reserve(READ_SIZE);
        let n = self.stream.read_buf(buf).await?;
        if n == buf.capacity() && buf.capacity() < READ_KEEP {
            // The buffer was filled: more is likely waiting; read more at once next time.
            buf.reserve(buf.capacity() * 2);
        }
        Ok(n)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, batch: &mut Batch) -> Poll<io::Result<()>> {
        ready!(poll_write_vectored(&mut self.stream, cx, batch))?;
        // TLS keeps what the socket did not take yet; a TCP socket's flush does nothing.
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    async fn close(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}

/// A byte stream that can say when it has something to read, without reading.
pub trait ReadReady {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl ReadReady for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }
}

/// RTMP inside binary WebSocket messages.
pub struct WebSocket<S> {
    ws: WebSocketStream<S>,
    /// tungstenite may hold further frames read along with the last one; until it reports
    /// that it would block, it is asked directly rather than after socket readiness.
    maybe_buffered: bool,
}

impl<S> WebSocket<S> {
    pub fn new(ws: WebSocketStream<S>) -> Self {
        WebSocket {
            ws,
            maybe_buffered: true,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + ReadReady + Unpin> WebSocket<S> {
    /// The next binary message into `buf`; 0 on close.
    ///
    /// tungstenite zero-fills its whole read buffer (128 KiB by default) before every read
    /// attempt, including those that find nothing; the connection loop asks for input on every
    /// turn, i.e. for every batch it sends, so tungstenite is only asked once the socket is
    /// readable (or may still hold frames).
    fn poll_read_message(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut Vec<u8>,
    ) -> Poll<io::Result<usize>> {
        loop {
            if !self.maybe_buffered {
                ready!(self.ws.get_ref().poll_read_ready(cx))?;
            }
            let next = match Pin::new(&mut self.ws).poll_next(cx) {
                Poll::Pending => {
                    self.maybe_buffered = false;
                    return Poll::Pending;
                }
                Poll::Ready(next) => next,
            };
            self.maybe_buffered = true;
            match next {
                None | Some(Ok(WsMessage::Close(_))) => return Poll::Ready(Ok(0)),
                Some(Ok(WsMessage::Binary(data))) => {
                    if data.is_empty() {
                        continue;
                    }
                    buf.clear();
                    buf.extend_from_slice(&data);
                    return Poll::Ready(Ok(buf.len()));
                }
                // Pings are answered by tungstenite; text has no meaning here.
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
            }
        }
    }
}

/// The header of an unfragmented, unmasked (server to client) binary frame of `len` bytes
/// (RFC 6455 5.2); returns the header bytes and their count.
fn ws_binary_header(len: usize) -> ([u8; 10], u8) {
    let mut header = [0u8; 10];
    header[0] = 0x80 | 0x2; // FIN, opcode binary
    let used = if len < 126 {
        header[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        header[1] = 126;
        header[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        header[1] = 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (header, used)
}

impl<S: AsyncRead + AsyncWrite + ReadReady + Unpin + Send> Transport for WebSocket<S> {
    async fn read(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_read_message(cx, buf)).await
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, batch: &mut Batch) -> Poll<io::Result<()>> {
        if !batch.started {
            // The frame goes straight to the socket, so first let tungstenite finish what it
            // may have queued itself (a pong, a close): frames must never interleave.
            ready!(Pin::new(&mut self.ws).poll_flush(cx)).map_err(io::Error::other)?;
            let (prefix, len) = ws_binary_header(batch.len());
            batch.prefix = prefix;
            batch.prefix_len = len;
            batch.started = true;
        }
        // The same bytes tungstenite would send for one binary message, without copying the
        // shared media buffers into a frame buffer first.
        ready!(poll_write_vectored(self.ws.get_mut(), cx, batch))?;
        Pin::new(self.ws.get_mut()).poll_flush(cx)
    }

    async fn close(&mut self) {
        let _ = self.ws.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `step` bytes per call and is `Pending` every other call.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
        /// Whether the next call is `Pending`.
        stall: bool,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.stall = !this.stall;
            if !this.stall {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let n = buf.len().min(this.step);
            this.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            self.poll_write(cx, first)
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_batch_is_written_whole_and_in_order_across_partial_and_pending_writes() {
        let segments: Vec<Bytes> = (0..200u32)
            .map(|i| Bytes::from(vec![i as u8; (i as usize * 7) % 50]))
            .collect();
        let expected: Vec<u8> = segments.iter().flat_map(|s| s.to_vec()).collect();
        for step in [1, 3, 64, 10_000] {
            let mut writer = Trickle {
                out: Vec::new(),
                step,
                stall: false,
            };
            let mut batch = Batch {
                segments: segments.clone(),
                ..Batch::default()
            };
            batch.prefix = *b"0123456789";
            batch.prefix_len = 4;
            let waker = std::task::Waker::noop();
            let mut cx = Context::from_waker(waker);
            let mut polls = 0;
            while poll_write_vectored(&mut writer, &mut cx, &mut batch).is_pending() {
                polls += 1;
                assert!(polls < 100_000);
            }
            assert_eq!(&writer.out[..4], b"0123");
            assert_eq!(&writer.out[4..], &expected[..]);
            batch.clear();
            assert!(batch.is_empty());
        }
    }

    #[test]
    fn websocket_headers_use_the_shortest_length_form() {
        assert_eq!(ws_binary_header(0), ([0x82, 0, 0, 0, 0, 0, 0, 0, 0, 0], 2));
        assert_eq!(ws_binary_header(125).0[..2], [0x82, 125]);
        assert_eq!(ws_binary_header(126).0[..4], [0x82, 126, 0, 126]);
        assert_eq!(ws_binary_header(65535).0[..4], [0x82, 126, 0xFF, 0xFF]);
        let (header, len) = ws_binary_header(65536);
        assert_eq!(len, 10);
        assert_eq!(header, [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }
}
