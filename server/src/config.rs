//! Gateway settings: command-line flags for the common ones, a TOML file for everything.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

/// rtmpws-gateway: RTMP for publishers and players over TCP, and for browsers over WebSocket
/// (the RTMP byte stream inside binary WebSocket messages at ws://HOST:PORT/APP[/INSTANCE]).
/// It also serves the demo page.
#[derive(Debug, Parser)]
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
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Once both listeners are bound, write the addresses actually bound to FILE as
    /// `rtmp=HOST:PORT` and `http=HOST:PORT` lines (the file appears whole, by rename).
    /// With port 0 in the addresses, this is how a supervisor or a test learns the ports
    /// without racing another process for a "free" one.
    #[arg(long, value_name = "FILE")]
    pub addr_file: Option<PathBuf>,
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
    /// Applications clients may connect to; any other gets NetConnection.Connect.Rejected.
    pub apps: Vec<String>,
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
    /// the door. Below `max_connections`, so half-finished handshakes cannot take every place.
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rtmp_addr: SocketAddr::from(([127, 0, 0, 1], 1935)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            media_dir: "data".into(),
            www_dir: "www".into(),
            package_dir: "dist".into(),
            apps: vec!["live".into(), "vod".into()],
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
        if self.subscriber_queue == 0 || self.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "subscriber_queue and max_connections must be positive".into(),
            ));
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
        if self.max_handshaking >= self.max_connections {
            return Err(ConfigError::Invalid(format!(
                "max_handshaking ({}) must be below max_connections ({}): connections at the \
                 door must leave room for the ones past it",
                self.max_handshaking, self.max_connections
            )));
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
        ] {
            if secs > day {
                return Err(ConfigError::Invalid(format!(
                    "{key} = {secs} is more than a day"
                )));
            }
        }
        Ok(())
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
        let config: Config = toml::from_str("max_connections = 100").unwrap();
        assert!(
            config.validate().is_err(),
            "max_handshaking above max_connections"
        );
        let config: Config = toml::from_str("max_handshaking_per_ip = 0").unwrap();
        assert!(config.validate().is_err());
    }
}
