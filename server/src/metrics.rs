//! Prometheus metrics, `rtmpws_*`, in the text exposition format at `/metrics`.
//!
//! Two kinds: counters that move where things happen (bytes, losses, refusals, errors,
//! callback latency), each an atomic add through a handle resolved once, never a label
//! lookup on the media path; and gauges of what is there now (connections, streams,
//! viewers, recordings, memory), counted from the registries when scraped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::clients::{Role, Transport, UseKind};
use crate::gateway::Gateway;
use crate::sync::lock;

/// What a refused client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A TCP connection at the door.
    Connection,
    /// A WebSocket upgrade.
    WebSocket,
    Connect,
    Publish,
    Play,
    Record,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Connection => "connection",
            Action::WebSocket => "websocket",
            Action::Connect => "connect",
            Action::Publish => "publish",
            Action::Play => "play",
            Action::Record => "record",
        }
    }
}

/// Why it was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The access rules or an HTTP callback said no (unknown application, denied, bad
    /// signature).
    Auth,
    /// A limit was reached (connections, callbacks in flight).
    Limit,
    /// The page's Origin is not allowed.
    Origin,
    /// The stream is published by someone else already.
    InUse,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Auth => "auth",
            Reason::Limit => "limit",
            Reason::Origin => "origin",
            Reason::InUse => "in_use",
        }
    }
}

/// What went wrong with a connection's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The RTMP handshake.
    Handshake,
    /// Chunks or messages after it (or a client asking for more output than it reads).
    Protocol,
    /// A TLS handshake.
    Tls,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Handshake => "handshake",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Tls => "tls",
        }
    }
}

/// Byte counters of one transport, for a connection to hold.
#[derive(Clone)]
pub struct ByteCounters {
    pub received: IntCounter,
    pub sent: IntCounter,
}

/// Every metric of the gateway.
pub struct Metrics {
    registry: Registry,
    accepted: IntCounterVec,
    bytes: HashMap<Transport, ByteCounters>,
    /// Live messages lost by viewers too slow for their stream.
    pub dropped: IntCounter,
    /// NetStream.Play.InsufficientBW statuses sent.
    pub insufficient_bw: IntCounter,
    /// Viewers disconnected for losing too much.
    pub slow_disconnects: IntCounter,
    refusals: IntCounterVec,
    errors: IntCounterVec,
    pub recordings_started: IntCounter,
    /// Clients ended through the admin API.
    pub kicks: IntCounter,
    hook_duration: HistogramVec,
    reloads: IntCounterVec,
    // Counted when scraped.
    connections: IntGaugeVec,
    streams: IntGaugeVec,
    publishers: IntGaugeVec,
    viewers: IntGaugeVec,
    relays: IntGaugeVec,
    relays_connected: IntGaugeVec,
    relay_bytes: IntGaugeVec,
    relay_reconnects: IntGaugeVec,
    recordings: IntGauge,
    recording_bytes: IntGauge,
    memory: IntGauge,
    uptime: Gauge,
    /// Scrapes set the gauges one at a time.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        // The names are constants: a bad one is a bug the unit tests catch.
        let registry =
            Registry::new_custom(Some("rtmpws".into()), None).expect("a valid metric prefix");
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("a valid metric");
            registry.register(Box::new(c.clone())).expect("a new name");
            c
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
            registry.register(Box::new(c.clone())).expect("a new name");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("a valid metric");
            registry.register(Box::new(g.clone())).expect("a new name");
            g
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric");
            registry.register(Box::new(g.clone())).expect("a new name");
            g
        };
        let received = counter_vec(
            "received_bytes_total",
            "RTMP bytes read from clients",
            &["transport"],
        );
        let sent = counter_vec(
            "sent_bytes_total",
            "RTMP bytes written to clients",
            &["transport"],
        );
        let bytes = Transport::ALL
            .into_iter()
            .map(|t| {
                let counters = ByteCounters {
                    received: received.with_label_values(&[t.as_str()]),
                    sent: sent.with_label_values(&[t.as_str()]),
                };
                (t, counters)
            })
            .collect();
        let hook_duration = HistogramVec::new(
            HistogramOpts::new(
                "hook_duration_seconds",
                "Time HTTP callbacks took to answer (or fail, or time out)",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["call"],
        )
        .expect("a valid metric");
        registry
            .register(Box::new(hook_duration.clone()))
            .expect("a new name");
        let uptime = Gauge::new("uptime_seconds", "Seconds since the gateway started")
            .expect("a valid metric");
        registry
            .register(Box::new(uptime.clone()))
            .expect("a new name");
        let build = gauge_vec(
            "build_info",
            "The gateway's version, as a label",
            &["version"],
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        Metrics {
            accepted: counter_vec(
                "connections_accepted_total",
                "Connections that reached RTMP (after the door, TLS and the WebSocket upgrade)",
                &["transport"],
            ),
            bytes,
            dropped: counter(
                "dropped_messages_total",
                "Live messages viewers lost for being too slow",
            ),
            insufficient_bw: counter(
                "insufficient_bw_total",
                "NetStream.Play.InsufficientBW statuses sent to slow viewers",
            ),
            slow_disconnects: counter(
                "slow_viewer_disconnects_total",
                "Viewers disconnected for losing more than subscriber_max_dropped messages",
            ),
            refusals: counter_vec(
                "refusals_total",
                "Requests refused, by what was asked and why",
                &["action", "reason"],
            ),
            errors: counter_vec(
                "errors_total",
                "Connections closed for bytes that were not RTMP (or TLS)",
                &["kind"],
            ),
            recordings_started: counter("recordings_started_total", "Recordings started"),
            kicks: counter("kicks_total", "Clients disconnected through the admin API"),
            hook_duration,
            reloads: counter_vec(
                "config_reloads_total",
                "Configuration rereads, by result",
                &["result"],
            ),
            connections: gauge_vec(
                "connections",
                "Connections now, by transport and role",
                &["transport", "role"],
            ),
            streams: gauge_vec("streams", "Live streams published now", &["app"]),
            publishers: gauge_vec("publishers", "Clients publishing now", &["app"]),
            viewers: gauge_vec(
                "viewers",
                "Live viewers now, by transport",
                &["app", "transport"],
            ),
            relays: gauge_vec(
                "relays",
                "Relays running now (push: to a target; pull: from an origin)",
                &["direction"],
            ),
            relays_connected: gauge_vec(
                "relays_connected",
                "Relays connected to their target or origin now",
                &["direction"],
            ),
            relay_bytes: gauge_vec(
                "relay_bytes",
                "Bytes moved by the relays running now",
                &["direction"],
            ),
            relay_reconnects: gauge_vec(
                "relay_reconnects",
                "Reconnections made by the relays running now",
                &["direction"],
            ),
            recordings: gauge("recordings", "Recordings being written now"),
            recording_bytes: gauge(
                "recording_bytes",
                "Bytes written so far to the recordings being written now",
            ),
            memory: gauge(
                "process_resident_memory_bytes",
                "Resident memory of the gateway process",
            ),
            uptime,
            scrape: Mutex::new(()),
            registry,
        }
    }

    /// The byte counters of `transport`, for a connection to add to.
    pub fn bytes(&self, transport: Transport) -> ByteCounters {
        self.bytes[&transport].clone()
    }

    pub fn accepted(&self, transport: Transport) {
        self.accepted.with_label_values(&[transport.as_str()]).inc();
    }

    pub fn refused(&self, action: Action, reason: Reason) {
        self.refusals
            .with_label_values(&[action.as_str(), reason.as_str()])
            .inc();
    }

    pub fn error(&self, kind: ErrorKind) {
        self.errors.with_label_values(&[kind.as_str()]).inc();
    }

    pub fn hook_answered(&self, call: &str, took: Duration) {
        self.hook_duration
            .with_label_values(&[call])
            .observe(took.as_secs_f64());
    }

    pub fn reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "refused" };
        self.reloads.with_label_values(&[result]).inc();
    }

    /// Every metric, as Prometheus text, the gauges counted now.
    pub fn render(&self, gateway: &Gateway) -> String {
        let _one_at_a_time = lock(&self.scrape);
        self.count_now(gateway);
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!("metrics: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    fn count_now(&self, gateway: &Gateway) {
        self.connections.reset();
        self.streams.reset();
        self.publishers.reset();
        self.viewers.reset();
        for transport in Transport::ALL {
            for role in Role::ALL {
                self.connections
                    .with_label_values(&[transport.as_str(), role.as_str()])
                    .set(0);
            }
        }
        for app in gateway.settings().config.apps.names() {
            self.streams.with_label_values(&[app]).set(0);
            self.publishers.with_label_values(&[app]).set(0);
            for transport in Transport::ALL {
                self.viewers
                    .with_label_values(&[app, transport.as_str()])
                    .set(0);
            }
        }
        for client in gateway.clients.list() {
            let state = client.state();
            let role = state.role();
            self.connections
                .with_label_values(&[client.transport.as_str(), role.as_str()])
                .inc();
            let Some(app) = &state.app else { continue };
            if role == Role::Publisher {
                self.publishers.with_label_values(&[app]).inc();
            }
            for _ in state.uses.iter().filter(|u| u.kind == UseKind::Live) {
                self.viewers
                    .with_label_values(&[app, client.transport.as_str()])
                    .inc();
            }
        }
        for (app, _, stream) in gateway.registry.list() {
            if stream.is_published() {
                self.streams.with_label_values(&[&app]).inc();
            }
        }
        for gauge in [
            &self.relays,
            &self.relays_connected,
            &self.relay_bytes,
            &self.relay_reconnects,
        ] {
            gauge.reset();
            for direction in ["push", "pull"] {
                gauge.with_label_values(&[direction]).set(0);
            }
        }
        for relay in gateway.relays.stats() {
            let direction = [relay.direction.as_str()];
            self.relays.with_label_values(&direction).inc();
            if relay.connected {
                self.relays_connected.with_label_values(&direction).inc();
            }
            let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            self.relay_bytes
                .with_label_values(&direction)
                .add(clamp(relay.bytes));
            self.relay_reconnects
                .with_label_values(&direction)
                .add(clamp(relay.reconnects));
        }
        let (count, bytes) = gateway.recordings.in_progress();
        self.recordings.set(count as i64);
        self.recording_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        if let Some(rss) = resident_memory() {
            self.memory.set(i64::try_from(rss).unwrap_or(i64::MAX));
        }
        self.uptime.set(gateway.uptime().as_secs_f64());
    }
}

/// Resident memory in bytes, from /proc/self/statm (its second field, in pages).
pub fn resident_memory() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages.saturating_mul(page_size()))
}

/// The page size statm counts in: the kernel's, as /proc/self/smaps tells (`KernelPageSize`),
/// else 4 KiB.
fn page_size() -> u64 {
    static PAGE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        std::fs::read_to_string("/proc/self/smaps")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("KernelPageSize:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map_or(4096, |kb| kb * 1024)
    })
}
