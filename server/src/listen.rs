//! The gateway's front door and its end: binding the listeners, accepting connections under
//! the connection limit, and the shutdown sequence (peers told, recordings made final).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, info, warn};

use crate::config::{Args, Config};
use crate::gateway::{Gateway, Settings};
use crate::metrics::{Action, ErrorKind, Reason};
use crate::tls::Service;
use crate::{api, clients, driver, http, reload, transport};

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
    let rtmp = TcpListener::bind(config.rtmp_addr).await?;
    let http = TcpListener::bind(config.http_addr).await?;
    let https = bind_optional(config.tls.https_addr).await?;
    let rtmps = bind_optional(config.tls.rtmps_addr).await?;
    let metrics = bind_optional(config.metrics_addr).await?;
    let (rtmp_addr, http_addr) = (rtmp.local_addr()?, http.local_addr()?);
    let mut bound = vec![("rtmp", rtmp_addr), ("http", http_addr)];
    for (name, listener) in [("https", &https), ("rtmps", &rtmps), ("metrics", &metrics)] {
        if let Some(listener) = listener {
            bound.push((name, listener.local_addr()?));
        }
    }
    info!(addresses = ?bound, apps = ?config.apps, "rtmpws-gateway listening");
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
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let gateway = Arc::new(Gateway::new(settings, source, shutdown_rx));
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

async fn bind_optional(addr: Option<SocketAddr>) -> std::io::Result<Option<TcpListener>> {
    match addr {
        Some(addr) => Ok(Some(TcpListener::bind(addr).await?)),
        None => Ok(None),
    }
}

/// Runs `task` if there is one; otherwise never finishes.
async fn optional(task: Option<impl std::future::Future<Output = ()>>) {
    match task {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

async fn accept_loop<F, Fut>(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    limit: Arc<Semaphore>,
    tasks: Arc<()>,
    handler: F,
) where
    F: Fn(tokio::net::TcpStream, Arc<Gateway>, String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin.
                warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            warn!(%peer, "refused: connection limit reached");
            gateway.metrics.refused(Action::Connection, Reason::Limit);
            continue;
        };
        let task = handler(stream, Arc::clone(&gateway), peer.to_string());
        let token = Arc::clone(&tasks);
        tokio::spawn(async move {
            task.await;
            drop((permit, token));
        });
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
