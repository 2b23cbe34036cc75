//! The connection driver: one task per client, a select loop over the transport, the
//! connection's feeds, its timers and the shutdown signal. Everything the loop learns goes
//! to the [`Connection`]'s plain state; after each turn the loop writes what the session
//! queued. Nothing here decides anything about RTMP.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::admission;
use crate::connection::Connection;
use crate::gateway::Gateway;
use crate::metrics::ErrorKind;
use crate::transport::{Batch, Transport};

/// Serves one connection until it closes or the gateway shuts down.
pub async fn serve<T: Transport>(mut transport: T, gateway: Arc<Gateway>, peer: String) {
    let id = gateway.next_connection_id();
    let mut shutdown = Flag::register(gateway.shutdown_signal()).await;
    let mut drain = Flag::register(gateway.drain_signal()).await;
    let mut drained = false;
    let settings = gateway.settings();
    let config = &settings.config;
    let connect_timeout = Duration::from_secs(config.connect_timeout_secs);
    let write_timeout = Duration::from_secs(config.write_timeout_secs);
    let connect_deadline = tokio::time::sleep(connect_timeout);
    tokio::pin!(connect_deadline);
    // Liveness: see `ping_interval_secs`. Silence is checked four times per interval, so a
    // client is pinged within a quarter interval of falling silent and has at least three
    // quarters of one to answer before it is closed (checked only once per interval, the ping
    // and the close could fall on the same check). The period is long, so the timer costs
    // nothing on the media path.
    let ping_every = Duration::from_secs(config.ping_interval_secs);
    let check_every = (ping_every / 4).max(Duration::from_millis(250));
    let mut ping_check = tokio::time::interval_at(Instant::now() + check_every, check_every);
    ping_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle_check = tokio::time::interval(Duration::from_secs(1));
    // Only publishers are checked; a tick missed meanwhile is not worth a burst.
    idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Seen from the admin API and the metrics until this task ends; a kick from there ends
    // the loop below.
    let (registration, mut kicked) = gateway.clients.register(id, &peer);
    let entry = Arc::clone(&registration.client);
    let mut kick_armed = true;
    let bytes = gateway.metrics.bytes(entry.transport);
    gateway.metrics.accepted(entry.transport);
    let mut conn = Connection::new(Arc::clone(&gateway), id, &peer, Arc::clone(&entry));
    let opened = Instant::now();
    let mut last_read = opened;
    // The silence the last ping was sent in (one ping per silence, not one per check).
    let mut pinged_after = None;
    debug!(id, %peer, "connection opened");
    let mut buf = Vec::new();
    let mut out = Batch::default();
    let mut at_door = true;
    loop {
        tokio::select! {
            biased;
            // Once: publishers that record stay until their files are final.
            () = &mut shutdown, if !conn.is_stopping() => conn.shut_down(),
            // Once connected: a client that connects during the drain hears it too, right
            // after its Connect.Success.
            () = &mut drain, if !drained && conn.is_connected() => {
                drained = true;
                conn.request_reconnect();
            }
            read = transport.read(&mut buf) => match read {
                Ok(0) => break,
                Ok(n) => {
                    last_read = Instant::now();
                    entry.add_in(n);
                    bytes.received.inc_by(n as u64);
                    if let Err(e) = conn.handle_input(&buf[..n]) {
                        warn!(id, %peer, "closing: {e}");
                        gateway.metrics.error(match e {
                            rtmpws_protocol::LinkError::Handshake(_) => ErrorKind::Handshake,
                            _ => ErrorKind::Protocol,
                        });
                        let _ = flush(&mut conn, &mut transport, &mut out, write_timeout).await;
                        break;
                    }
                    if at_door && conn.is_connected() {
                        // Handshake done and connect accepted: out of the door's budgets.
                        admission::passed();
                        at_door = false;
                    }
                }
                Err(e) => {
                    debug!(id, %peer, "read failed: {e}");
                    break;
                }
            },
            work = conn.next_work(), if conn.has_work() => conn.on_work(work),
            asked = &mut kicked, if kick_armed => {
                // A oneshot is polled to its end once.
                kick_armed = false;
                if asked.is_ok() {
                    conn.close_by_admin();
                }
            }
            _ = idle_check.tick(), if conn.is_publishing() => conn.check_idle(),
            now = ping_check.tick(), if !ping_every.is_zero() && conn.is_connected() => {
                let silent = now.saturating_duration_since(last_read);
                if silent >= 2 * ping_every {
                    info!(id, %peer, "closing: no answer to ping in {}s", silent.as_secs());
                    break;
                }
                if silent >= ping_every && pinged_after != Some(last_read) {
                    pinged_after = Some(last_read);
                    // The ping's timestamp wraps after 49 days, which RTMP allows.
                    conn.ping(now.saturating_duration_since(opened).as_millis() as u32);
                }
            }
            () = &mut connect_deadline, if !conn.is_connected() => {
                info!(id, %peer, "closing: no connect within {}s", connect_timeout.as_secs());
                break;
            }
        }
        let written = flush(&mut conn, &mut transport, &mut out, write_timeout).await;
        match written {
            Ok(n) => {
                if n > 0 {
                    entry.add_out(n);
                    bytes.sent.inc_by(n as u64);
                }
            }
            Err(e) => {
                debug!(id, %peer, "write failed: {e}");
                break;
            }
        }
        if let Some(why) = conn.must_close() {
            info!(id, %peer, "closing: {why}");
            break;
        }
    }
    conn.release();
    drop(registration);
    // A peer that reads nothing could hold a polite close (a TLS close_notify, a WebSocket
    // close frame) forever.
    let _ = tokio::time::timeout(write_timeout, transport.close()).await;
    debug!(id, %peer, "connection closed");
}

/// Writes what the session queued, as one batch; returns how many bytes that was.
async fn flush<T: Transport>(
    conn: &mut Connection,
    transport: &mut T,
    out: &mut Batch,
    limit: Duration,
) -> std::io::Result<usize> {
    conn.drain_output(&mut out.segments);
    if out.is_empty() {
        return Ok(0);
    }
    let len = out.len();
    // Nearly every write completes at once: try it without arming the write timeout, whose
    // timer would cost more than the write. Only a full socket waits, with the timeout.
    let at_once = transport.poll_write(&mut Context::from_waker(Waker::noop()), out);
    let result = match at_once {
        Poll::Ready(result) => result,
        Poll::Pending => {
            let rest = std::future::poll_fn(|cx| transport.poll_write(cx, out));
            match tokio::time::timeout(limit, rest).await {
                Ok(result) => result,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("a write took over {limit:?}"),
                )),
            }
        }
    };
    out.clear();
    result.map(|()| len)
}

/// A gateway-wide flag (shutdown, drain) as a connection's select loop watches it. Such a
/// signal reaches every connection through one waiter list, whose lock a `changed()` future
/// takes each time it is polled, i.e. per message sent. So the flag registers once, with a
/// future polled only at registration, and each poll of the flag merely reads the channel's
/// version (an atomic load); the registration wakes the task when it changes.
struct Flag {
    /// Kept alive: dropping it would take the task off the waiter list.
    _registration: Pin<Box<dyn Future<Output = ()> + Send>>,
    check: watch::Receiver<bool>,
}

impl Flag {
    async fn register(signal: watch::Receiver<bool>) -> Flag {
        let mut waiting = signal.clone();
        let mut registration: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            let _ = waiting.changed().await;
        });
        std::future::poll_fn(|cx| {
            let _ = registration.as_mut().poll(cx);
            Poll::Ready(())
        })
        .await;
        Flag {
            _registration: registration,
            check: signal,
        }
    }
}

impl Future for Flag {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if shutting_down(&mut self.check) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// True once the flag is set (or its channel is gone); an atomic load while nothing happened.
fn shutting_down(shutdown: &mut watch::Receiver<bool>) -> bool {
    match shutdown.has_changed() {
        Ok(false) => false,
        Ok(true) => *shutdown.borrow_and_update(),
        Err(_) => true,
    }
}
