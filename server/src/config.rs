//! Gateway settings: command-line flags for the common ones, a TOML file for everything.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use serde::Deserialize;

use crate::apps::Apps;

/// rtmpws-gateway: RTMP for publishers and players over TCP, and for browsers over WebSocket
/// (the RTMP byte stream inside binary WebSocket messages at ws://HOST:PORT/APP[/INSTANCE]).
/// It also serves the demo page.
#[derive(Debug, Clone, Parser)]
#[command(version)]
pub struct Args {
    /// Address for plain RTMP over TCP (publishers such as ffmpeg or OBS, and players).
    /// [default: 127.0.0.1:1935]
    #[arg(long, value_name = "ADDR")]
    pub rtmp_addr: Option<SocketAddr>,

    /// Address for HTTP: serves the demo page (--www-dir) and the client package at /pkg/, and
    /// accepts RTMP-over-WebSocket upgrades on any other path. [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub http_addr: Option<SocketAddr>,

    /// Folder of recorded FLV files (VOD), one subfolder per application, and by default of
    /// recordings. [default: data]
    #[arg(long, value_name = "DIR")]
    pub media_dir: Option<PathBuf>,

    /// Folder of the demo page. [default: www]
    #[arg(long, value_name = "DIR")]
    pub www_dir: Option<PathBuf>,

    /// TOML file with any setting (flags given on the command line win). See
    /// gateway.example.toml for every key.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Once the listeners are bound, write the addresses actually bound to FILE as
    /// `rtmp=HOST:PORT` and `http=HOST:PORT` lines, plus `https=HOST:PORT` and
    /// `rtmps=HOST:PORT` when [tls] configures them (the file appears whole, by rename).
    /// With port 0 in the addresses, this is how a supervisor or a test learns the ports
    /// without racing another process for a "free" one.
    #[arg(long, value_name = "FILE")]
    pub addr_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the command does besides running the gateway.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Prints a signed stream name, NAME?sign=EXPIRES-HEX, for an application whose publish
    /// or play is "signed" (the secret comes from that application's table in --config).
    Sign {
        #[arg(long)]
        app: String,
        #[arg(long)]
        name: String,
        /// Seconds from now until the name expires.
        #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
        expires_in: u64,
    },
}

/// Every setting, as read from TOML; all keys are optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub rtmp_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub media_dir: PathBuf,
    pub www_dir: PathBuf,
    /// Folder served at /pkg/: the built browser client (npm package output).
    pub package_dir: PathBuf,
    /// Applications clients may connect to (any other gets NetConnection.Connect.Rejected),
    /// and who may publish, play and record in each; see [`crate::apps`].
    pub apps: Apps,
    /// Origins whose pages may open WebSocket connections (`https://example.com`); empty:
    /// any. An upgrade from another Origin gets HTTP 403 and never reaches RTMP.
    pub allowed_origins: Vec<String>,
    /// Load balancers and reverse proxies whose word on the client's address is believed
    /// (`"10.0.0.0/8"`, `"127.0.0.1"`): their `X-Forwarded-For` on WebSocket upgrades, and
    /// with `proxy_protocol` their PROXY headers; see [`crate::proxy`].
    pub trusted_proxies: Vec<String>,
    /// Connections from a trusted proxy to the TCP listeners (RTMP, HTTP, and the TLS ones)
    /// begin with a PROXY protocol header (v1 or v2), as HAProxy's `send-proxy` sends it.
    pub proxy_protocol: bool,
    /// Seconds an HTTP callback (on_connect, on_publish, …) may take; past it, refused.
    pub hook_timeout_secs: u64,
    /// Outgoing RTMP chunk size (the same for every connection, so media is chunked once).
    pub chunk_size: u32,
    /// Largest chunk size a peer may set.
    pub max_peer_chunk_size: u32,
    /// Largest RTMP message a peer may send, in bytes.
    pub max_message_size: u32,
    /// Most connections at once, TCP and WebSocket together.
    pub max_connections: usize,
    /// Most connections from one client address, at the door or past it (see below).
    pub max_connections_per_ip: usize,
    /// Most connections at the door at once: accepted, but not yet through the HTTP upgrade
    /// (WebSocket), the RTMP handshake and an accepted connect. One more sheds the oldest at
    /// the door. Taken as at most `max_connections - 1`, so half-finished handshakes cannot
    /// take every place.
    pub max_handshaking: usize,
    /// Most connections at the door from one client address; one more sheds that address's
    /// oldest at the door.
    pub max_handshaking_per_ip: usize,
    /// Connections the kernel may hold completed for each listener before the gateway accepts
    /// them (`listen(2)` backlog; the kernel caps it at net.core.somaxconn).
    pub listen_backlog: u32,
    /// Media messages kept per live stream for subscribers that are behind; a subscriber that
    /// falls further behind skips to the next keyframe.
    pub subscriber_queue: usize,
    /// Largest GOP cache per live stream, in bytes; past it the cache waits for the next
    /// keyframe.
    pub gop_cache_bytes: usize,
    /// Seconds a client has to finish the handshake and connect.
    pub connect_timeout_secs: u64,
    /// How far ahead of real time recorded items are sent, in ms, so the player's buffer fills
    /// at once.
    pub vod_lead_ms: u64,
    /// Folder recordings go to (`RECORD_DIR/APP/NAME.flv`); by default the media folder, so
    /// recordings play back as recorded streams.
    pub record_dir: Option<PathBuf>,
    /// Applications whose live streams are all recorded, whatever the publish type.
    pub record_all: Vec<String>,
    /// Largest size of one recording in bytes, and longest duration in seconds; past either,
    /// recording stops with NetStream.Record.DiskQuotaExceeded and live publishing goes on.
    pub record_max_bytes: Option<u64>,
    pub record_max_secs: Option<u64>,
    /// Largest total size of an application's recordings folder, in bytes.
    pub record_app_max_bytes: Option<u64>,
    /// Seconds without media after which a publisher gets NetStream.Publish.Idle and its
    /// stream is unpublished (until media resumes).
    pub publish_idle_secs: u64,
    /// A subscriber whose queue overflows gets NetStream.Play.InsufficientBW at most this often.
    pub insufficient_bw_interval_secs: u64,
    /// A subscriber that has lost more than this many messages is disconnected.
    pub subscriber_max_dropped: u64,
    /// A write to a client that does not complete in this many seconds disconnects it.
    pub write_timeout_secs: u64,
    /// A client silent this many seconds is pinged (User Control PingRequest, which RTMP
    /// clients answer); one silent twice as long is disconnected, so vanished peers (no FIN,
    /// e.g. a laptop closed mid-session) do not hold a connection slot forever. 0: never.
    pub ping_interval_secs: u64,

    // Budgets: what one connection or stream may make the gateway hold. Memory is in bytes.
    /// Most bytes the unfinished messages of one connection may hold, across all its chunk
    /// streams together (each is also bounded by `max_message_size`); past it the connection
    /// is closed.
    pub max_reassembly_bytes: usize,
    /// Most NetStreams one connection may have at once; createStream past it is answered
    /// `_error` NetConnection.Call.Failed and the connection goes on.
    pub max_streams_per_connection: usize,
    /// Longest stream name, in bytes (query string included), that publish, play, play2,
    /// getStreamLength and the FC calls accept: publish gets NetStream.Publish.BadName, play
    /// and play2 NetStream.Play.StreamNotFound, calls `_error` NetConnection.Call.Failed.
    pub max_stream_name_bytes: usize,
    /// Most recorded items waiting in one NetStream's playlist behind the one playing (play
    /// with reset false, play2 append); past it the item is refused with
    /// NetStream.Play.Failed.
    pub max_playlist_items: usize,
    /// Most bytes queued for one client and not yet written, checked each time its requests
    /// add to them (after each message it sends, before each of its requests is carried
    /// out); past it, it is disconnected. A client that sends many commands at once without
    /// reading their answers hits it; one turn of output is written before anything more is
    /// read, so a client that merely reads slowly waits instead (write_timeout_secs).
    /// Must hold a joining subscriber's snapshot: gop_cache_bytes + 3 * max_message_size.
    pub max_queued_output_bytes: usize,
    /// About how many bytes of messages a live stream's ring keeps for subscribers that are
    /// behind, besides its `subscriber_queue` messages: a message larger than
    /// subscriber_queue_bytes / subscriber_queue takes as many ring places as its size needs,
    /// so big frames push old ones out sooner. Lost places count towards
    /// `subscriber_max_dropped` as messages.
    pub subscriber_queue_bytes: usize,

    /// Folder of persistent shared objects, `DIR/APP/NAME.amf`; by default `MEDIA_DIR/so`.
    pub shared_objects_dir: Option<PathBuf>,
    /// Most shared objects one application holds at once; a use past it gets
    /// SharedObject.ObjectCreationFailed.
    pub shared_objects_per_app: usize,
    /// Most slots, and most bytes (slot names and AMF0-encoded values), one shared object
    /// holds; a change past either is rejected (the client gets the current value back).
    pub shared_object_max_slots: usize,
    pub shared_object_max_bytes: usize,
    /// Shared object updates (changes, removes, sends) one client may make per second, in
    /// bursts of as many; past it they are rejected.
    pub shared_object_updates_per_sec: u32,
    /// Messages waiting for one connection from elsewhere (shared object updates, admin
    /// calls); a subscriber that falls this far behind gets a fresh copy of the object.
    pub connection_mailbox: usize,
    /// Seconds a call may take: `call_url` answering a client's call, a client answering
    /// the admin API's.
    pub call_timeout_secs: u64,
    /// Largest JSON body read: admin API requests, `call_url` answers.
    pub max_json_bytes: usize,
    /// Graceful shutdown: on SIGTERM/Ctrl-C every connected client first gets
    /// NetConnection.Connect.ReconnectRequest (Enhanced RTMP), and the gateway keeps serving
    /// for this many seconds (or until every client has left) before it unpublishes and closes
    /// as without it. 0: no reconnect request, shut down at once.
    pub drain_secs: u64,
    /// The tcUrl that ReconnectRequest names (another gateway instance, say); unset: each
    /// client's own tcUrl, so it reconnects to the same place.
    pub reconnect_url: Option<String>,
    // Operating it: the admin API, metrics, logs.
    /// Bearer token of the admin API under /api/v1/ (`Authorization: Bearer TOKEN`); without
    /// one the API is off (404), and a request with another token gets 401.
    pub admin_token: Option<String>,
    /// Bearer token `/metrics` asks for; without one, `/metrics` is open.
    pub metrics_token: Option<String>,
    /// A listener of its own for `/metrics` (besides the HTTP listener's), e.g. for a
    /// scraper on another network than the clients'.
    pub metrics_addr: Option<SocketAddr>,
    /// "text" (for people) or "json" (one object a line, for log shippers).
    pub log_format: LogFormat,

    // Relays (apps' `push` and `origin`, callbacks redirecting to rtmp://): see [`crate::relay`].
    /// Bytes a push may hold for a target that reads slower than the stream comes; past it
    /// the push skips to the next keyframe.
    pub relay_queue_bytes: usize,
    /// Seconds a relay waits to connect and for each answer, and an origin has to send
    /// media for a pulled name before the next origin is tried.
    pub relay_timeout_secs: u64,
    /// Longest wait between a relay's reconnections (they start at 0.5 s and double).
    pub relay_retry_max_secs: u64,
    /// Seconds a pull goes on after its last viewer left.
    pub pull_idle_secs: u64,

    /// TLS served by the gateway itself, next to the plain listeners.
    pub tls: TlsConfig,
}

/// The `[tls]` table: https:// and wss:// on `https_addr`, rtmps:// on `rtmps_addr`, both with
/// the certificate chain in `cert` and its private key in `key` (PEM files, read at startup).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, the gateway's own certificate first.
    pub cert: Option<PathBuf>,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// HTTPS: the same demo page, client package and WebSocket upgrades as `http_addr`.
    pub https_addr: Option<SocketAddr>,
    /// RTMPS: RTMP over TLS, as on `rtmp_addr`.
    pub rtmps_addr: Option<SocketAddr>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl TlsConfig {
    /// Whether any TLS listener is configured.
    pub fn enabled(&self) -> bool {
        self.https_addr.is_some() || self.rtmps_addr.is_some()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rtmp_addr: SocketAddr::from(([127, 0, 0, 1], 1935)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            media_dir: "data".into(),
            www_dir: "www".into(),
            package_dir: "dist".into(),
            apps: Apps::default(),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            proxy_protocol: false,
            hook_timeout_secs: 5,
            chunk_size: 4096,
            max_peer_chunk_size: 1 << 24,
            max_message_size: 8 << 20,
            max_connections: 10_000,
            max_connections_per_ip: 1000,
            max_handshaking: 2048,
            max_handshaking_per_ip: 128,
            listen_backlog: 4096,
            subscriber_queue: 1024,
            gop_cache_bytes: 16 << 20,
            connect_timeout_secs: 10,
            vod_lead_ms: 1000,
            record_dir: None,
            record_all: Vec::new(),
            record_max_bytes: None,
            record_max_secs: None,
            record_app_max_bytes: None,
            publish_idle_secs: 5,
            insufficient_bw_interval_secs: 5,
            subscriber_max_dropped: 5000,
            write_timeout_secs: 10,
            ping_interval_secs: 30,
            shared_objects_dir: None,
            shared_objects_per_app: 1000,
            shared_object_max_slots: 1024,
            shared_object_max_bytes: 1 << 20,
            shared_object_updates_per_sec: 100,
            connection_mailbox: 256,
            call_timeout_secs: 10,
            max_json_bytes: 1 << 20,
            drain_secs: 0,
            reconnect_url: None,
            tls: TlsConfig::default(),
            max_reassembly_bytes: 16 << 20,
            max_streams_per_connection: 16,
            max_stream_name_bytes: 1024,
            max_playlist_items: 256,
            max_queued_output_bytes: 64 << 20,
            subscriber_queue_bytes: 64 << 20,
            admin_token: None,
            metrics_token: None,
            metrics_addr: None,
            log_format: LogFormat::Text,
            relay_queue_bytes: 16 << 20,
            relay_timeout_secs: 5,
            relay_retry_max_secs: 30,
            pull_idle_secs: 10,
        }
    }
}

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("config: {0}")]
    Invalid(String),
}

impl Config {
    /// The config file (if any) with the command-line flags applied on top.
    /// Where recordings go.
    pub fn record_root(&self) -> &Path {
        self.record_dir.as_deref().unwrap_or(&self.media_dir)
    }

    /// Where persistent shared objects are kept.
    pub fn shared_objects_root(&self) -> PathBuf {
        self.shared_objects_dir
            .clone()
            .unwrap_or_else(|| self.media_dir.join("so"))
    }

    pub fn load(args: &Args) -> Result<Config, ConfigError> {
        let mut config = match &args.config {
            Some(path) => Self::from_file(path)?,
            None => Config::default(),
        };
        if let Some(addr) = args.rtmp_addr {
            config.rtmp_addr = addr;
        }
        if let Some(addr) = args.http_addr {
            config.http_addr = addr;
        }
        if let Some(dir) = &args.media_dir {
            config.media_dir = dir.clone();
        }
        if let Some(dir) = &args.www_dir {
            config.www_dir = dir.clone();
        }
        config.validate()?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(128..=65536).contains(&self.chunk_size) {
            return Err(ConfigError::Invalid(format!(
                "chunk_size {} is outside 128..=65536",
                self.chunk_size
            )));
        }
        if self.max_peer_chunk_size == 0 || self.max_message_size == 0 {
            return Err(ConfigError::Invalid(
                "max_peer_chunk_size and max_message_size must be positive".into(),
            ));
        }
        if self.publish_idle_secs == 0 || self.write_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "publish_idle_secs and write_timeout_secs must be positive".into(),
            ));
        }
        if self.connection_mailbox == 0 || self.shared_object_updates_per_sec == 0 {
            return Err(ConfigError::Invalid(
                "connection_mailbox and shared_object_updates_per_sec must be positive".into(),
            ));
        }
        if self.admin_token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::Invalid(
                "admin_token must be at least 16 characters".into(),
            ));
        }
        if !(1..=3600).contains(&self.relay_timeout_secs)
            || !(1..=86400).contains(&self.relay_retry_max_secs)
        {
            return Err(ConfigError::Invalid(
                "relay_timeout_secs must be within 1..=3600 and relay_retry_max_secs within 1..=86400"
                    .into(),
            ));
        }
        if self.subscriber_queue == 0 || self.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "subscriber_queue and max_connections must be positive".into(),
            ));
        }
        if let Some(problem) = self.apps.problems().into_iter().next() {
            return Err(ConfigError::Invalid(problem));
        }
        if let Err(e) = crate::proxy::TrustedProxies::parse(&self.trusted_proxies) {
            return Err(ConfigError::Invalid(e.to_string()));
        }
        if self.proxy_protocol && self.trusted_proxies.is_empty() {
            return Err(ConfigError::Invalid(
                "proxy_protocol needs trusted_proxies: whose PROXY headers to believe".into(),
            ));
        }
        for origin in &self.allowed_origins {
            if origin.ends_with('/') || !origin.contains("://") {
                return Err(ConfigError::Invalid(format!(
                    "allowed_origins: {origin:?} is not an origin like \"https://example.com\""
                )));
            }
        }
        self.validate_tls()?;
        for (key, token) in [
            ("admin_token", &self.admin_token),
            ("metrics_token", &self.metrics_token),
        ] {
            if token
                .as_deref()
                .is_some_and(|t| t.is_empty() || t.len() > 4096)
            {
                return Err(ConfigError::Invalid(format!(
                    "{key} must be 1 to 4096 bytes (leave it out to turn it off)"
                )));
            }
        }
        if self.max_reassembly_bytes < self.max_message_size as usize {
            return Err(ConfigError::Invalid(format!(
                "max_reassembly_bytes {} is less than max_message_size {}: a message of that \
                 size could never arrive",
                self.max_reassembly_bytes, self.max_message_size
            )));
        }
        if self.max_streams_per_connection == 0 || self.max_stream_name_bytes == 0 {
            return Err(ConfigError::Invalid(
                "max_streams_per_connection and max_stream_name_bytes must be positive: no \
                 client could play or publish"
                    .into(),
            ));
        }
        if self.subscriber_queue_bytes < self.subscriber_queue {
            return Err(ConfigError::Invalid(format!(
                "subscriber_queue_bytes {} is less than a byte for each of the {} messages of \
                 subscriber_queue",
                self.subscriber_queue_bytes, self.subscriber_queue
            )));
        }
        // A joining subscriber is sent metadata, two sequence headers and the GOP at once.
        let snapshot = (self.max_message_size as usize)
            .saturating_mul(3)
            .saturating_add(self.gop_cache_bytes);
        if self.max_queued_output_bytes < snapshot {
            return Err(ConfigError::Invalid(format!(
                "max_queued_output_bytes {} is less than gop_cache_bytes + 3 * \
                 max_message_size = {snapshot}: a joining subscriber's snapshot would not fit",
                self.max_queued_output_bytes
            )));
        }
        if self.max_connections_per_ip == 0
            || self.max_handshaking == 0
            || self.max_handshaking_per_ip == 0
            || self.listen_backlog == 0
        {
            return Err(ConfigError::Invalid(
                "max_connections_per_ip, max_handshaking, max_handshaking_per_ip and \
                 listen_backlog must be positive"
                    .into(),
            ));
        }
        if self.listen_backlog > 65535 {
            return Err(ConfigError::Invalid(format!(
                "listen_backlog {} is above 65535",
                self.listen_backlog
            )));
        }
        // Durations become timers: keep them where time arithmetic cannot overflow.
        let day = 24 * 60 * 60;
        for (key, secs) in [
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("publish_idle_secs", self.publish_idle_secs),
            (
                "insufficient_bw_interval_secs",
                self.insufficient_bw_interval_secs,
            ),
            ("write_timeout_secs", self.write_timeout_secs),
            ("ping_interval_secs", self.ping_interval_secs),
            ("hook_timeout_secs", self.hook_timeout_secs),
            ("call_timeout_secs", self.call_timeout_secs),
            ("drain_secs", self.drain_secs),
        ] {
            if secs > day {
                return Err(ConfigError::Invalid(format!(
                    "{key} = {secs} is more than a day"
                )));
            }
        }
        Ok(())
    }

    /// The [tls] keys that go together; the files themselves are read when the listeners
    /// start ([`crate::tls::Tls::load`]).
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let tls = &self.tls;
        match (&tls.cert, &tls.key) {
            (Some(_), None) => Err(ConfigError::Invalid(
                "[tls] cert is set but key is not: both are needed".into(),
            )),
            (None, Some(_)) => Err(ConfigError::Invalid(
                "[tls] key is set but cert is not: both are needed".into(),
            )),
            (None, None) if tls.enabled() => Err(ConfigError::Invalid(
                "[tls] https_addr and rtmps_addr need cert and key".into(),
            )),
            (Some(_), Some(_)) if !tls.enabled() => Err(ConfigError::Invalid(
                "[tls] cert and key are set but neither https_addr nor rtmps_addr is".into(),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses_and_matches_the_defaults() {
        let text = include_str!("../../gateway.example.toml");
        let example: Config = toml::from_str(text).unwrap();
        let defaults = Config::default();
        assert_eq!(format!("{example:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<Config>("chunk_sise = 4096").is_err());
        let config: Config = toml::from_str("chunk_size = 10").unwrap();
        assert!(config.validate().is_err());
        let config: Config = toml::from_str("ping_interval_secs = 18446744073709551615").unwrap();
        assert!(config.validate().is_err(), "a timer that would overflow");
        for relay in [
            "relay_timeout_secs = 0",
            "relay_timeout_secs = 18446744073709551615",
            "relay_retry_max_secs = 0",
        ] {
            let config: Config = toml::from_str(relay).unwrap();
            assert!(config.validate().is_err(), "{relay}");
        }
        // A small max_connections shrinks the door's budget (below it) rather than refusing.
        let config: Config = toml::from_str("max_connections = 100").unwrap();
        assert!(config.validate().is_ok());
        let config: Config = toml::from_str("max_handshaking_per_ip = 0").unwrap();
        assert!(config.validate().is_err());
    }

    #[test]
    fn the_example_tls_table_parses_once_uncommented() {
        let text = include_str!("../../gateway.example.toml");
        let start = text.find("# [tls]").expect("the example documents [tls]");
        let table: String = text[start..]
            .lines()
            .filter_map(|line| line.strip_prefix("# "))
            .filter(|line| line.starts_with('[') || line.contains(" = "))
            .map(|line| format!("{line}\n"))
            .collect();
        let config: Config = toml::from_str(&table).unwrap();
        assert!(config.tls.cert.is_some() && config.tls.key.is_some());
        assert!(config.tls.https_addr.is_some() && config.tls.rtmps_addr.is_some());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn tls_keys_that_go_together_are_checked() {
        for (text, ok) in [
            ("[tls]\nrtmps_addr = \"127.0.0.1:0\"", false),
            (
                "[tls]\nhttps_addr = \"127.0.0.1:0\"\ncert = \"c.pem\"",
                false,
            ),
            (
                "[tls]\nkey = \"k.pem\"\nrtmps_addr = \"127.0.0.1:0\"",
                false,
            ),
            ("[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"", false),
            (
                "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nrtmps_addr = \"127.0.0.1:0\"",
                true,
            ),
            ("[tls]\ncert_file = \"c.pem\"", false),
        ] {
            let result = toml::from_str::<Config>(text)
                .map_err(|e| e.to_string())
                .and_then(|config| config.validate().map_err(|e| e.to_string()));
            assert_eq!(result.is_ok(), ok, "{text}: {result:?}");
        }
    }

    #[test]
    fn budgets_that_would_refuse_everything_are_refused() {
        let config: Config = toml::from_str("max_reassembly_bytes = 1000").unwrap();
        assert!(config.validate().is_err(), "smaller than one message");
        let config: Config = toml::from_str("max_streams_per_connection = 0").unwrap();
        assert!(config.validate().is_err(), "no stream at all");
        let config: Config = toml::from_str("max_stream_name_bytes = 0").unwrap();
        assert!(config.validate().is_err(), "no name at all");
        let config: Config = toml::from_str("max_queued_output_bytes = 33554432").unwrap();
        assert!(config.validate().is_err(), "no room for a snapshot");
        let config: Config = toml::from_str("subscriber_queue_bytes = 1000").unwrap();
        assert!(config.validate().is_err(), "less than a byte a message");
        Config::default().validate().unwrap();
    }
}
