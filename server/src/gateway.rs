//! What every connection shares: the settings (the configuration and the rules read from
//! it, swapped whole when the file is reread), the door, the live streams, the recorded
//! items, the recordings in progress, the shared objects, the live connections and their
//! mailboxes, the metrics, and the shutdown and drain signals.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use rtmpws_protocol::chunk::DecoderLimits;
use rtmpws_protocol::server::ServerConfig;
use tokio::sync::watch;

use crate::admission::Door;
use crate::clients::Clients;
use crate::config::{Args, Config};
use crate::hooks::Hooks;
use crate::lag::LagPolicy;
use crate::live::Registry;
use crate::mailboxes::Mailboxes;
use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::proxy::TrustedProxies;
use crate::record::Recordings;
use crate::relay::Relays;
use crate::shared_objects::SharedObjects;
use crate::tls::{Tls, TlsError};
use crate::vod::Library;

/// The parts of the gateway derived from its configuration. A connection takes the current
/// ones when it starts and again at each new action (connect, publish, play), so a reread
/// file ([`crate::reload`]) applies from the next action on, and never halfway through one.
pub struct Settings {
    pub config: Config,
    pub policy: Policy,
    pub lag: LagPolicy,
    /// Whose word on a client's address is believed.
    pub proxies: TrustedProxies,
    /// The certificate and key of the TLS listeners, when configured.
    pub tls: Option<Tls>,
}

impl Settings {
    /// Settings from `config`; reads its TLS files.
    pub fn new(config: Config) -> Result<Settings, TlsError> {
        let tls = Tls::load(&config.tls)?;
        Ok(Settings {
            tls,
            ..Settings::without_tls(config)
        })
    }

    /// Settings from `config` without reading any file (no TLS).
    pub fn without_tls(config: Config) -> Settings {
        Settings {
            tls: None,
            policy: Policy::new(&config),
            lag: LagPolicy::new(&config),
            // Validated with the config: an entry that does not parse never gets here.
            proxies: TrustedProxies::parse(&config.trusted_proxies).unwrap_or_default(),
            config,
        }
    }

    pub fn session_config(&self) -> ServerConfig {
        let config = &self.config;
        ServerConfig {
            chunk_limits: DecoderLimits {
                max_chunk_size: config.max_peer_chunk_size,
                max_message_size: config.max_message_size,
                max_reassembly_bytes: config.max_reassembly_bytes,
                ..DecoderLimits::default()
            },
            chunk_size: config.chunk_size,
            max_streams: config.max_streams_per_connection,
            max_stream_name_bytes: config.max_stream_name_bytes,
            max_queued_output_bytes: config.max_queued_output_bytes,
            ..ServerConfig::default()
        }
    }
}

pub struct Gateway {
    settings: ArcSwap<Settings>,
    /// The command line the settings came from, to reread them ([`crate::reload`]).
    source: Option<Args>,
    /// Per-address counts and the budget of connections at the door (limits as at start).
    pub door: Arc<Door>,
    pub registry: Registry,
    pub library: Arc<Library>,
    pub recordings: Arc<Recordings>,
    pub hooks: Hooks,
    pub shared_objects: SharedObjects,
    /// The live connections, for the admin API and the metrics.
    pub clients: Arc<Clients>,
    /// What reaches a connection from elsewhere (shared object updates, admin calls).
    pub mailboxes: Mailboxes,
    pub metrics: Arc<Metrics>,
    started: Instant,
    started_at: SystemTime,
    /// Pushes to and pulls from other servers, and their stats.
    pub relays: Relays,
    next_id: AtomicU64,
    shutdown: watch::Receiver<bool>,
    drain: watch::Receiver<bool>,
}

impl Gateway {
    /// A gateway with `settings`, which came from the command line `source` (if any).
    pub fn new(settings: Settings, source: Option<Args>, shutdown: watch::Receiver<bool>) -> Self {
        Gateway::with_drain(settings, source, shutdown, watch::channel(false).1)
    }

    /// [`Gateway::new`] with the signal that starts a drain (`drain_secs`).
    pub fn with_drain(
        settings: Settings,
        source: Option<Args>,
        shutdown: watch::Receiver<bool>,
        drain: watch::Receiver<bool>,
    ) -> Self {
        let config = &settings.config;
        let metrics = Arc::new(Metrics::new());
        Gateway {
            door: Arc::new(Door::new(config)),
            registry: Registry::new(
                config.subscriber_queue,
                config.subscriber_queue_bytes,
                config.gop_cache_bytes,
            ),
            library: Arc::new(Library::new(config.media_dir.clone())),
            recordings: Arc::default(),
            hooks: Hooks::new(
                Duration::from_secs(config.hook_timeout_secs),
                Arc::clone(&metrics),
            ),
            shared_objects: SharedObjects::new(config),
            clients: Arc::default(),
            mailboxes: Mailboxes::default(),
            metrics,
            started: Instant::now(),
            started_at: SystemTime::now(),
            relays: Relays::new(),
            next_id: AtomicU64::new(1),
            shutdown,
            drain,
            source,
            settings: ArcSwap::from_pointee(settings),
        }
    }

    /// The settings in force now.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// Puts `settings` in force for every action from now on.
    pub fn replace_settings(&self, settings: Settings) {
        self.hooks
            .set_timeout(Duration::from_secs(settings.config.hook_timeout_secs));
        self.settings.store(Arc::new(settings));
    }

    /// The command line to reread the settings from.
    pub fn source(&self) -> Option<&Args> {
        self.source.as_ref()
    }

    /// A new connection's id (its `clientid`).
    pub fn next_connection_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The shutdown signal: `true` once the gateway stops.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// The drain signal: `true` once a graceful shutdown asks clients to reconnect.
    pub fn drain_signal(&self) -> watch::Receiver<bool> {
        self.drain.clone()
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }
}
