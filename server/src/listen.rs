//! The gateway's front door and its end: binding the listeners, accepting connections under
//! the connection limit and the door's rules ([`crate::admission`]), and the shutdown sequence
//! (peers told, recordings made final).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{watch, Semaphore};
use tracing::{debug, info, warn};

use crate::config::{Args, Config};
use crate::gateway::{Gateway, Settings};
use crate::metrics::{Action, ErrorKind, Reason};
use crate::tls::Service;
use crate::{api, clients, driver, http, proxy, reload, transport};

/// How long connections get to tell their peers goodbye on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How long recordings get to become final files on shutdown (a rewrite copies the file
/// once: seconds for gigabytes); past it the file stays as last flushed, still playable.
const SHUTDOWN_RECORDING_WAIT: Duration = Duration::from_secs(30);

/// Runs the gateway until SIGTERM or Ctrl-C, then shuts it down. `source` is the command
/// line `config` came from: SIGHUP and the admin API reread it ([`crate::reload`]).
pub async fn run(
    config: Config,
    addr_file: Option<PathBuf>,
    source: Option<Args>,
) -> std::io::Result<()> {
    // The certificate and key first: a bad file stops the gateway before it listens at all.
    let settings = Settings::new(config)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let config = &settings.config;
    let backlog = config.listen_backlog;
    let rtmp = bind(config.rtmp_addr, backlog)?;
    let http = bind(config.http_addr, backlog)?;
    let https = bind_optional(config.tls.https_addr, backlog)?;
    let rtmps = bind_optional(config.tls.rtmps_addr, backlog)?;
    let metrics = bind_optional(config.metrics_addr, backlog)?;
    let (rtmp_addr, http_addr) = (rtmp.local_addr()?, http.local_addr()?);
    let mut bound = vec![("rtmp", rtmp_addr), ("http", http_addr)];
    for (name, listener) in [("https", &https), ("rtmps", &rtmps), ("metrics", &metrics)] {
        if let Some(listener) = listener {
            bound.push((name, listener.local_addr()?));
        }
    }
    // Application names only: their tables hold secrets and callback URLs.
    let apps: Vec<&str> = config.apps.names().collect();
    info!(addresses = ?bound, ?apps, "rtmpws-gateway listening");
    let metrics_url = match &metrics {
        Some(listener) => format!("http://{}/metrics", listener.local_addr()?),
        None => format!("http://{http_addr}/metrics"),
    };
    info!(
        demo = %format!("http://{http_addr}/"),
        dashboard = %format!("http://{http_addr}/dashboard.html"),
        metrics = %metrics_url,
        "open http://{http_addr}/ (demo), http://{http_addr}/dashboard.html (dashboard), \
         {metrics_url} (metrics)"
    );
    if let Some(path) = addr_file {
        write_addr_file(&path, &bound).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
        })?;
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (drain_tx, drain_rx) = watch::channel(false);
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let gateway = Arc::new(Gateway::with_drain(settings, source, shutdown_rx, drain_rx));
    tokio::spawn(reload::on_sighup(Arc::clone(&gateway)));
    tokio::spawn(clients::sample_rates(Arc::downgrade(&gateway.clients)));
    if let Some(listener) = metrics {
        tokio::spawn(api::serve_metrics(listener, Arc::clone(&gateway)));
    }
    // Every connection task holds a clone: the strong count tells how many are still running.
    let tasks = Arc::new(());

    let accept_rtmp = accept_loop(
        rtmp,
        Arc::clone(&gateway),
        Arc::clone(&limit),
        tasks.clone(),
        |stream, gateway, peer| async move {
            let _ = stream.set_nodelay(true);
            driver::serve(transport::Tcp::new(stream), gateway, peer).await;
        },
    );
    let accept_http = accept_loop(
        http,
        Arc::clone(&gateway),
        Arc::clone(&limit),
        tasks.clone(),
        http::handle,
    );
    // TLS listeners: the handshake runs in the connection's task, under its connection slot,
    // and a failed one closes that connection only. Each takes the certificate in force
    // now, so a reread configuration's certificate serves the next handshake.
    let accept_https = https.map(|listener| {
        accept_loop(
            listener,
            Arc::clone(&gateway),
            Arc::clone(&limit),
            tasks.clone(),
            move |stream, gateway, peer| async move {
                let settings = gateway.settings();
                let Some(tls) = settings.tls.clone() else {
                    return;
                };
                let handshake_timeout = Duration::from_secs(settings.config.connect_timeout_secs);
                drop(settings);
                match tls.accept(stream, Service::Https, handshake_timeout).await {
                    Ok(stream) => http::handle(stream, gateway, format!("tls {peer}")).await,
                    Err(e) => {
                        gateway.metrics.error(ErrorKind::Tls);
                        debug!(%peer, "https: {e}")
                    }
                }
            },
        )
    });
    let accept_rtmps = rtmps.map(|listener| {
        accept_loop(
            listener,
            Arc::clone(&gateway),
            limit,
            tasks.clone(),
            move |stream, gateway, peer| async move {
                let _ = stream.set_nodelay(true);
                let settings = gateway.settings();
                let Some(tls) = settings.tls.clone() else {
                    return;
                };
                let handshake_timeout = Duration::from_secs(settings.config.connect_timeout_secs);
                drop(settings);
                match tls.accept(stream, Service::Rtmps, handshake_timeout).await {
                    Ok(stream) => {
                        let peer = format!("rtmps {peer}");
                        driver::serve(transport::Tcp::new(stream), gateway, peer).await;
                    }
                    Err(e) => {
                        gateway.metrics.error(ErrorKind::Tls);
                        debug!(%peer, "rtmps: {e}")
                    }
                }
            },
        )
    });
    tokio::select! {
        _ = accept_rtmp => {}
        _ = accept_http => {}
        _ = optional(accept_https) => {}
        _ = optional(accept_rtmps) => {}
        _ = shutdown_signal() => info!("shutting down"),
    }
    drain(&gateway, &drain_tx, &tasks).await;
    let _ = shutdown_tx.send(true);
    // Give connections a moment to tell their peers (Unpublish.Success, UnpublishNotify), and
    // recordings longer to rewrite their files with final metadata; once those are done, the
    // connections that waited for them get their moment to say Record.Stop.
    let start = tokio::time::Instant::now();
    let mut connections_until = start + SHUTDOWN_GRACE;
    loop {
        let recording = !gateway.recordings.is_empty();
        let connected = Arc::strong_count(&tasks) > 1;
        let now = tokio::time::Instant::now();
        if recording {
            connections_until = connections_until.max(now + Duration::from_secs(1));
        }
        let out_of_time = if recording {
            now >= start + SHUTDOWN_RECORDING_WAIT
        } else {
            now >= connections_until
        };
        if !(recording || connected) || out_of_time {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    info!("stopped");
    Ok(())
}

/// Writes the bound addresses to `path`, a `NAME=HOST:PORT` line each, through a temporary
/// file and a rename, so a reader polling for the file never sees half of it.
fn write_addr_file(path: &Path, bound: &[(&str, SocketAddr)]) -> std::io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let text: String = bound
        .iter()
        .map(|(name, addr)| format!("{name}={addr}\n"))
        .collect();
    std::fs::write(&temp, text)?;
    std::fs::rename(&temp, path)
}

fn bind_optional(addr: Option<SocketAddr>, backlog: u32) -> std::io::Result<Option<TcpListener>> {
    addr.map(|addr| bind(addr, backlog)).transpose()
}

/// Runs `task` if there is one; otherwise never finishes.
async fn optional(task: Option<impl std::future::Future<Output = ()>>) {
    match task {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

/// Binds a listener as `TcpListener::bind` does (SO_REUSEADDR on Unix, so a restart does not
/// wait out TIME_WAIT), with a listen backlog of `backlog`.
fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Most connections taken from the kernel's queue in one go before the loop lets the rest of
/// the runtime have a turn.
const ACCEPT_BATCH: usize = 1024;

async fn accept_loop<F, Fut>(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    limit: Arc<Semaphore>,
    tasks: Arc<()>,
    handler: F,
) where
    F: Fn(tokio::net::TcpStream, Arc<Gateway>, String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut errors = ErrorLog::default();
    loop {
        // Wait for one connection, then take every other one already queued (until the
        // kernel says WouldBlock), so a burst is drained in one wake-up.
        let mut accepted = Some(listener.accept().await);
        let mut taken = 0;
        while let Some(result) = accepted.take() {
            let (stream, peer) = match result {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    errors.note(&e);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    break;
                }
            };
            admit(stream, peer, &gateway, &limit, &tasks, &handler);
            taken += 1;
            if taken == ACCEPT_BATCH {
                tokio::task::yield_now().await;
                break;
            }
            accepted = match std::future::poll_fn(|cx| Poll::Ready(listener.poll_accept(cx))).await
            {
                Poll::Ready(result) => Some(result),
                Poll::Pending => None,
            };
        }
    }
}

/// Lets one accepted connection in, or closes it at once (a refusal costs a close and a
/// count; the door logs the counts at most once a second).
fn admit<F, Fut>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    gateway: &Arc<Gateway>,
    limit: &Arc<Semaphore>,
    tasks: &Arc<()>,
    handler: &F,
) where
    F: Fn(tokio::net::TcpStream, Arc<Gateway>, String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Ok(permit) = Arc::clone(limit).try_acquire_owned() else {
        gateway.door.refused_full();
        gateway.metrics.refused(Action::Connection, Reason::Limit);
        return;
    };
    let token = Arc::clone(tasks);
    let settings = gateway.settings();
    if !settings.proxies.contains(peer.ip()) {
        let Ok(admitted) = gateway.door.admit(peer.ip()) else {
            gateway.metrics.refused(Action::Connection, Reason::Limit);
            return;
        };
        let task = admitted.run(handler(stream, Arc::clone(gateway), peer.to_string()));
        tokio::spawn(async move {
            task.await;
            drop((permit, token));
        });
        return;
    }
    if !settings.config.proxy_protocol {
        // The client is named later, if at all (X-Forwarded-For on a WebSocket upgrade).
        let task = gateway.door.admit_proxied(peer.ip()).run(handler(
            stream,
            Arc::clone(gateway),
            peer.to_string(),
        ));
        tokio::spawn(async move {
            task.await;
            drop((permit, token));
        });
        return;
    }
    // A trusted proxy speaking the PROXY protocol names the client first: the door counts
    // the client, not the proxy.
    let gateway = Arc::clone(gateway);
    let task = handler.clone();
    let timeout = Duration::from_secs(settings.config.connect_timeout_secs);
    drop(settings);
    let started = async move {
        let client = match proxy::read_proxy_header(&stream, timeout).await {
            Ok(source) => source.unwrap_or(peer),
            Err(e) => return debug!(%peer, "closing: {e}"),
        };
        let Ok(admitted) = gateway.door.admit(client.ip()) else {
            gateway.metrics.refused(Action::Connection, Reason::Limit);
            return;
        };
        admitted
            .run(task(stream, Arc::clone(&gateway), client.to_string()))
            .await;
    };
    tokio::spawn(async move {
        started.await;
        drop((permit, token));
    });
}

/// Accept errors, logged at most once a second with a count (a full file table fails every
/// accept until connections end).
#[derive(Default)]
struct ErrorLog {
    last: Option<tokio::time::Instant>,
    since: u64,
}

impl ErrorLog {
    fn note(&mut self, error: &std::io::Error) {
        self.since += 1;
        let now = tokio::time::Instant::now();
        if self
            .last
            .is_some_and(|last| now - last < Duration::from_secs(1))
        {
            return;
        }
        warn!(failures = self.since, "accept failed: {error}");
        self.last = Some(now);
        self.since = 0;
    }
}

/// With `drain_secs`: every connection asks its client to reconnect, and the gateway serves on
/// until the clients have gone or the time is up (a second signal ends the wait).
async fn drain(gateway: &Gateway, drain_tx: &watch::Sender<bool>, tasks: &Arc<()>) {
    let secs = gateway.settings().config.drain_secs;
    if secs == 0 {
        return;
    }
    info!(secs, "draining: clients are asked to reconnect");
    let _ = drain_tx.send(true);
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    let wait = async {
        while tokio::time::Instant::now() < until && Arc::strong_count(tasks) > 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        () = wait => {}
        () = shutdown_signal() => info!("second signal: ending the drain"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
