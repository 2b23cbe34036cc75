//! What every connection shares: the configuration and the rules read from it, the live
//! streams, the recorded items, the recordings in progress, the shared objects, the
//! connected clients, and the shutdown signal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rtmpws_protocol::chunk::DecoderLimits;
use rtmpws_protocol::server::ServerConfig;
use tokio::sync::watch;

use crate::admission::Door;
use crate::clients::Clients;
use crate::config::Config;
use crate::hooks::Hooks;
use crate::lag::LagPolicy;
use crate::live::Registry;
use crate::policy::Policy;
use crate::proxy::TrustedProxies;
use crate::record::Recordings;
use crate::shared_objects::SharedObjects;
use crate::vod::Library;

pub struct Gateway {
    pub config: Config,
    /// Per-address counts and the budget of connections at the door.
    pub door: Arc<Door>,
    pub policy: Policy,
    pub lag: LagPolicy,
    pub registry: Registry,
    pub library: Arc<Library>,
    pub recordings: Arc<Recordings>,
    pub hooks: Hooks,
    /// Whose word on a client's address is believed.
    pub proxies: TrustedProxies,
    pub shared_objects: SharedObjects,
    pub clients: Clients,
    next_id: AtomicU64,
    shutdown: watch::Receiver<bool>,
    drain: watch::Receiver<bool>,
}

impl Gateway {
    pub fn new(config: Config, shutdown: watch::Receiver<bool>) -> Self {
        Gateway::with_drain(config, shutdown, watch::channel(false).1)
    }

    /// [`Gateway::new`] with the signal that starts a drain (`drain_secs`).
    pub fn with_drain(
        config: Config,
        shutdown: watch::Receiver<bool>,
        drain: watch::Receiver<bool>,
    ) -> Self {
        Gateway {
            door: Arc::new(Door::new(&config)),
            policy: Policy::new(&config),
            lag: LagPolicy::new(&config),
            registry: Registry::new(
                config.subscriber_queue,
                config.subscriber_queue_bytes,
                config.gop_cache_bytes,
            ),
            library: Arc::new(Library::new(config.media_dir.clone())),
            recordings: Arc::default(),
            hooks: Hooks::new(Duration::from_secs(config.hook_timeout_secs)),
            // Validated with the config: an entry that does not parse never gets here.
            proxies: TrustedProxies::parse(&config.trusted_proxies).unwrap_or_default(),
            shared_objects: SharedObjects::new(&config),
            clients: Clients::default(),
            next_id: AtomicU64::new(1),
            shutdown,
            drain,
            config,
        }
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

    pub fn session_config(&self) -> ServerConfig {
        ServerConfig {
            chunk_limits: DecoderLimits {
                max_chunk_size: self.config.max_peer_chunk_size,
                max_message_size: self.config.max_message_size,
                max_reassembly_bytes: self.config.max_reassembly_bytes,
                ..DecoderLimits::default()
            },
            chunk_size: self.config.chunk_size,
            max_streams: self.config.max_streams_per_connection,
            max_stream_name_bytes: self.config.max_stream_name_bytes,
            max_queued_output_bytes: self.config.max_queued_output_bytes,
            ..ServerConfig::default()
        }
    }
}
