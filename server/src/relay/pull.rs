//! Pulls: an edge plays a stream from an origin and publishes it into its own registry, so
//! one connection to the origin serves every local viewer through the GOP cache and fan-out.
//!
//! One pull runs per stream (`app/name`). It tries the origins in order: one that refuses
//! the TCP connection or `connect`, answers the play with an error (StreamNotFound,
//! Play.Failed), or sends no media within `relay_timeout_secs` is left for the next. The
//! first media publishes the local stream (waiting viewers hear Play.PublishNotify); the
//! origin's UnpublishNotify, or its Stream EOF (all nginx-rtmp sends by default), unpublishes
//! it (they hear UnpublishNotify) and the pull waits on the same connection for the origin's
//! next publish. A lost origin is tried again, from the
//! first, with jittered backoff. `pull_idle_secs` after the last viewer left, the pull stops.
//!
//! The name asked of the origin keeps the query of the play that started the pull (a signed
//! name, a token), and the connect carries that viewer's connect query: the origin decides
//! for that viewer. Later viewers join the running pull; the edge's own rules (policy,
//! on_play) decide for them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtmpws_protocol::amf::Value;
use rtmpws_protocol::client::ClientEvent;
use rtmpws_protocol::message::UserControl;
use rtmpws_protocol::server::SharedData;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::client::{is_error, refused, RelayClient, RelayError};
use super::stats::{Direction, StatusHandle};
use super::url::RelayUrl;
use super::{Backoff, BACKOFF_BASE};
use crate::gateway::Gateway;
use crate::live::{LiveStream, MediaFrame};
use crate::names::StreamName;
use crate::policy::Decision;
use crate::sync::lock;

/// How often a pull looks at its viewer count.
const IDLE_CHECK: Duration = Duration::from_millis(250);
/// An origin that sends nothing at all for this long (no media, and not the pings servers
/// send quiet clients: nginx-rtmp every minute, rtmpws after 30 s) is taken for gone.
const SILENT: Duration = Duration::from_secs(150);
/// A pull that had media this long starts the backoff over when it loses its origin.
const STEADY: Duration = Duration::from_secs(10);

/// A running pull, as the registry of pulls holds it.
#[derive(Debug)]
pub struct PullEntry {
    /// The last time a viewer asked for the stream (joining, or being counted).
    wanted: Mutex<Instant>,
}

/// Starts a pull of `name` from `origins` (tried in order) into `app`, or joins the one
/// that runs. `connect_query` is the query the viewer connected with.
pub fn pull(
    gateway: &Arc<Gateway>,
    app: &str,
    name: &StreamName,
    origins: Vec<RelayUrl>,
    connect_query: Option<String>,
) {
    if origins.is_empty() {
        return;
    }
    let key = (app.to_owned(), name.key().to_owned());
    let mut pulls = lock(&gateway.relays.pulls);
    if let Some(entry) = pulls.get(&key) {
        *lock(&entry.wanted) = Instant::now();
        return;
    }
    let entry = Arc::new(PullEntry {
        wanted: Mutex::new(Instant::now()),
    });
    pulls.insert(key.clone(), Arc::clone(&entry));
    drop(pulls);
    let status =
        gateway
            .relays
            .board
            .register(Direction::Pull, app, name.key(), origins[0].to_string());
    let play_name = match name.query() {
        Some(query) => format!("{}?{query}", name.key()),
        None => name.key().to_owned(),
    };
    let job = Job {
        gateway: Arc::clone(gateway),
        entry,
        app: key.0,
        key: key.1,
        play_name,
        origins,
        connect_query,
        id: gateway.next_connection_id(),
        status,
    };
    tokio::spawn(run(job));
}

/// The origins an application pulls from, parsed (the config was checked).
pub fn origins_of(gateway: &Gateway, app: &str) -> Vec<RelayUrl> {
    gateway
        .settings()
        .policy
        .app(app)
        .map(|rules| {
            rules
                .origin
                .iter()
                .filter_map(|url| RelayUrl::parse(url).ok())
                .collect()
        })
        .unwrap_or_default()
}

struct Job {
    gateway: Arc<Gateway>,
    entry: Arc<PullEntry>,
    app: String,
    key: String,
    play_name: String,
    origins: Vec<RelayUrl>,
    connect_query: Option<String>,
    /// The local stream's publisher id.
    id: u64,
    status: StatusHandle,
}

async fn run(job: Job) {
    let stream = job.gateway.registry.stream(&job.app, &job.key);
    let (app, name) = (job.app.as_str(), job.key.as_str());
    info!(app, name, origins = job.origins.len(), "pull starting");
    tokio::select! {
        why = watch(&job, &stream) => info!(app, name, "pull stopping: {why}"),
        () = pull_loop(&job, &stream) => info!(app, name, "pull stopping: the name is published here"),
    }
    {
        let mut pulls = lock(&job.gateway.relays.pulls);
        let key = (job.app.clone(), job.key.clone());
        if pulls.get(&key).is_some_and(|e| Arc::ptr_eq(e, &job.entry)) {
            pulls.remove(&key);
        }
        // Under the lock: a pull started after this one finds the name free.
        job.gateway.registry.unpublish(app, &stream, job.id);
    }
    drop(stream);
    job.gateway.registry.forget_if_unused(app, name);
    info!(app, name, "pull stopped");
}

/// Returns when the pull must stop: no viewer for `pull_idle_secs`, or shutdown.
async fn watch(job: &Job, stream: &LiveStream) -> &'static str {
    let idle = Duration::from_secs(job.gateway.settings().config.pull_idle_secs);
    let mut shutdown = job.gateway.shutdown_signal();
    let mut tick = tokio::time::interval(IDLE_CHECK);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return "the gateway is shutting down",
        }
        if *shutdown.borrow() {
            return "the gateway is shutting down";
        }
        let now = Instant::now();
        if stream.subscribers() > 0 {
            *lock(&job.entry.wanted) = now;
            continue;
        }
        if now.duration_since(*lock(&job.entry.wanted)) < idle {
            continue;
        }
        // Decided under the pulls lock, where viewers join: none can join a stopping pull.
        let mut pulls = lock(&job.gateway.relays.pulls);
        let wanted = *lock(&job.entry.wanted);
        if stream.subscribers() == 0 && Instant::now().duration_since(wanted) >= idle {
            let key = (job.app.clone(), job.key.clone());
            if pulls.get(&key).is_some_and(|e| Arc::ptr_eq(e, &job.entry)) {
                pulls.remove(&key);
            }
            job.gateway.registry.unpublish(&job.app, stream, job.id);
            return "no viewers";
        }
    }
}

/// Origins in order, again and again with backoff; returns only if someone else publishes
/// the name here.
async fn pull_loop(job: &Job, stream: &Arc<LiveStream>) {
    let max = Duration::from_secs(job.gateway.settings().config.relay_retry_max_secs);
    let mut backoff = Backoff::new(BACKOFF_BASE, max);
    let (app, name) = (job.app.as_str(), job.key.as_str());
    loop {
        for origin in &job.origins {
            job.status.set_target(origin.to_string());
            let mut had_media = None;
            let result = attempt(job, stream, origin, &mut had_media).await;
            job.status.disconnected();
            match result {
                Ok(()) => return,
                Err(e) => match had_media {
                    // A working origin lost: start over from the first.
                    Some(since) => {
                        warn!(app, name, %origin, "pull lost its origin: {e}");
                        if since.elapsed() >= STEADY {
                            backoff.reset();
                        }
                        break;
                    }
                    None => info!(app, name, %origin, "origin skipped: {e}"),
                },
            }
        }
        let wait = backoff.next_wait();
        debug!(app, name, "pull retrying in {} ms", wait.as_millis());
        tokio::time::sleep(wait).await;
    }
}

/// The local publish of the pulled stream; unpublished when dropped.
struct Publication<'a> {
    job: &'a Job,
    stream: &'a Arc<LiveStream>,
    active: bool,
}

impl Publication<'_> {
    /// Publishes the local stream if it is not yet; false if someone else publishes it.
    fn ensure(&mut self) -> bool {
        if self.active {
            return true;
        }
        let job = self.job;
        match job.gateway.registry.publish(&job.app, &job.key, job.id) {
            Ok(_) => {
                self.active = true;
                info!(app = %job.app, name = %job.key, "pulled stream published");
                true
            }
            Err(e) => {
                info!(app = %job.app, name = %job.key, "pulled stream not published: {e}");
                false
            }
        }
    }

    fn end(&mut self) {
        if std::mem::take(&mut self.active) {
            let job = self.job;
            job.gateway
                .registry
                .unpublish(&job.app, self.stream, job.id);
            info!(app = %job.app, name = %job.key, "pulled stream unpublished by its origin");
        }
    }
}

impl Drop for Publication<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

/// One origin: play the name, and publish what it sends until the connection ends. `Ok`
/// when the local name turned out to be someone else's; `had_media` is set with the time
/// media first came.
async fn attempt(
    job: &Job,
    stream: &Arc<LiveStream>,
    origin: &RelayUrl,
    had_media: &mut Option<Instant>,
) -> Result<(), RelayError> {
    let gateway = &job.gateway;
    let settings = gateway.settings();
    let limits = super::limits(&settings.config);
    let chunk_size = settings.config.chunk_size;
    drop(settings);
    let mut client = RelayClient::open(origin, limits, true, job.connect_query.as_deref()).await?;
    let stream_id = client.play(&origin.stream_name(&job.play_name)).await?;
    job.status.connected();
    info!(app = %job.app, name = %job.key, %origin, "pull connected");
    let timeout = limits.timeout;
    let mut publication = Publication {
        job,
        stream,
        active: false,
    };
    // Until the first media, the origin has `timeout` to show it has the stream.
    let mut media_deadline = Some(Instant::now() + timeout);
    loop {
        let event = match media_deadline {
            Some(deadline) => match client.next_event(deadline, "play").await {
                Err(RelayError::Timeout { .. }) => {
                    return Err(RelayError::NoMedia(timeout.as_secs()))
                }
                event => event?,
            },
            None => client.next_event_alive(SILENT).await?,
        };
        match event {
            ClientEvent::Media {
                stream_id: s,
                timestamp,
                kind,
                payload,
            } if s == stream_id => {
                job.status.add_bytes(payload.len());
                if payload.is_empty() {
                    continue;
                }
                if !publication.ensure() {
                    return Ok(());
                }
                had_media.get_or_insert_with(Instant::now);
                media_deadline = None;
                let frame = MediaFrame::new(kind, timestamp, payload, chunk_size);
                stream.push_media(Arc::new(frame));
            }
            ClientEvent::Data {
                stream_id: s,
                timestamp,
                values,
            } if s == stream_id => {
                let handler = values.first().and_then(Value::as_str).unwrap_or_default();
                if let Decision::Deny(_) = gateway.settings().policy.relay_data(handler) {
                    continue;
                }
                if !publication.ensure() {
                    return Ok(());
                }
                let data = SharedData::new(timestamp, Arc::new(values), chunk_size);
                stream.push_data(Arc::new(data));
            }
            ClientEvent::Status { stream_id: s, info } if s == stream_id => {
                match info.get_str("code") {
                    Some("NetStream.Play.UnpublishNotify") => publication.end(),
                    _ if is_error(&info) => return Err(refused(&info)),
                    _ => {}
                }
            }
            // nginx-rtmp says only this (unless publish_notify is on) when its publisher stops.
            ClientEvent::UserControl(UserControl::StreamEof(s)) if s == stream_id => {
                publication.end()
            }
            ClientEvent::ServerCall { name, .. } if name == "close" => {
                return Err(RelayError::Closed)
            }
            _ => {}
        }
    }
}
