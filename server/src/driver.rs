//! The connection driver: one task per client, a select loop over the transport, the
//! connection's feeds, its timers and the shutdown signal. Everything the loop learns goes
//! to the [`Connection`]'s plain state; after each turn the loop writes what the session
//! queued. Nothing here decides anything about RTMP.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::admission;
use crate::connection::Connection;
use crate::gateway::Gateway;
use crate::transport::{Batch, Transport};

/// Serves one connection until it closes or the gateway shuts down.
pub async fn serve<T: Transport>(mut transport: T, gateway: Arc<Gateway>, peer: String) {
    let id = gateway.next_connection_id();
    // The shutdown signal reaches every connection through one waiter list, whose lock a
    // `changed()` future takes each time it is polled, i.e. per message sent. So this task
    // registers once, with a future polled only here, and each loop turn merely reads the
    // channel's version (an atomic load); the registration wakes the task when it changes.
    let mut shutdown_rx = gateway.shutdown_signal();
    let mut shutdown_check = gateway.shutdown_signal();
    let registration = async move {
        let _ = shutdown_rx.changed().await;
    };
    tokio::pin!(registration);
    std::future::poll_fn(|cx| {
        let _ = std::future::Future::poll(registration.as_mut(), cx);
        Poll::Ready(())
    })
    .await;
    let shutdown = std::future::poll_fn(|_| {
        if shutting_down(&mut shutdown_check) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    });
    tokio::pin!(shutdown);
    // The drain signal (drain_secs), registered the same way.
    let mut drain_rx = gateway.drain_signal();
    let mut drain_check = gateway.drain_signal();
    let drain_registration = async move {
        let _ = drain_rx.changed().await;
    };
    tokio::pin!(drain_registration);
    std::future::poll_fn(|cx| {
        let _ = std::future::Future::poll(drain_registration.as_mut(), cx);
        Poll::Ready(())
    })
    .await;
    let drain = std::future::poll_fn(|_| {
        if shutting_down(&mut drain_check) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    });
    tokio::pin!(drain);
    let mut drained = false;
    let config = &gateway.config;
    let connect_timeout = Duration::from_secs(config.connect_timeout_secs);
    let write_timeout = Duration::from_secs(config.write_timeout_secs);
    let connect_deadline = tokio::time::sleep(connect_timeout);
    tokio::pin!(connect_deadline);
    // Liveness: see `ping_interval_secs`. The period is long, so the timer costs nothing on
    // the media path.
    let ping_every = Duration::from_secs(config.ping_interval_secs);
    let mut ping_check = tokio::time::interval_at(
        Instant::now() + ping_every,
        ping_every.max(Duration::from_secs(1)),
    );
    ping_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle_check = tokio::time::interval(Duration::from_secs(1));
    // Only publishers are checked; a tick missed meanwhile is not worth a burst.
    idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut conn = Connection::new(Arc::clone(&gateway), id, &peer);
    let opened = Instant::now();
    let mut last_read = opened;
    debug!(id, %peer, "connection opened");
    let mut buf = Vec::new();
    let mut out = Batch::default();
    let mut at_door = true;
    loop {
        tokio::select! {
            biased;
            // Once: publishers that record stay until their files are final.
            () = &mut shutdown, if !conn.is_stopping() => conn.shut_down(),
            () = &mut drain, if !drained => {
                drained = true;
                conn.request_reconnect();
            }
            read = transport.read(&mut buf) => match read {
                Ok(0) => break,
                Ok(n) => {
                    last_read = Instant::now();
                    if let Err(e) = conn.handle_input(&buf[..n]) {
                        warn!(id, %peer, "closing: {e}");
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
            _ = idle_check.tick(), if conn.is_publishing() => conn.check_idle(),
            now = ping_check.tick(), if !ping_every.is_zero() && conn.is_connected() => {
                let silent = now.saturating_duration_since(last_read);
                if silent >= 2 * ping_every {
                    info!(id, %peer, "closing: no answer to ping in {}s", silent.as_secs());
                    break;
                }
                if silent >= ping_every {
                    // The ping's timestamp wraps after 49 days, which RTMP allows.
                    conn.ping(now.saturating_duration_since(opened).as_millis() as u32);
                }
            }
            () = &mut connect_deadline, if !conn.is_connected() => {
                info!(id, %peer, "closing: no connect within {}s", connect_timeout.as_secs());
                break;
            }
        }
        if let Err(e) = flush(&mut conn, &mut transport, &mut out, write_timeout).await {
            debug!(id, %peer, "write failed: {e}");
            break;
        }
        if let Some(why) = conn.must_close() {
            info!(id, %peer, "closing: {why}");
            break;
        }
    }
    conn.release();
    // A peer that reads nothing could hold a polite close (a TLS close_notify, a WebSocket
    // close frame) forever.
    let _ = tokio::time::timeout(write_timeout, transport.close()).await;
    debug!(id, %peer, "connection closed");
}

/// Writes what the session queued, as one batch.
async fn flush<T: Transport>(
    conn: &mut Connection,
    transport: &mut T,
    out: &mut Batch,
    limit: Duration,
) -> std::io::Result<()> {
    conn.drain_output(&mut out.segments);
    if out.is_empty() {
        return Ok(());
    }
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
    result
}

/// True once the gateway is shutting down (or its shutdown channel is gone); an atomic load
/// while nothing happened.
fn shutting_down(shutdown: &mut watch::Receiver<bool>) -> bool {
    match shutdown.has_changed() {
        Ok(false) => false,
        Ok(true) => *shutdown.borrow_and_update(),
        Err(_) => true,
    }
}
