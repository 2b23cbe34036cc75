//! Rereading the configuration while the gateway runs: on SIGHUP or `POST /api/v1/reload`.
//!
//! The file is read and checked whole, TLS certificates included, before anything changes;
//! a file that does not load is refused (logged, and answered to the API) and the settings
//! in force stay. A good one replaces the [`Settings`] at once: applications, access rules,
//! secrets, callbacks, limits and certificates apply to every action from then on (a new
//! connection, connect, publish, play, TLS handshake); what already runs goes on as it was.
//!
//! Some keys are fixed while the gateway runs: the listeners' addresses, the media folder,
//! the sizes of live streams' rings and caches, the connection limit and the log format. A
//! changed one keeps its old value, with a warning that it takes a restart.

use std::sync::Arc;

use tracing::{error, info, warn};

use crate::config::{Config, ConfigError};
use crate::gateway::{Gateway, Settings};
use crate::tls::TlsError;

/// Why a reread configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the gateway was started without --config: there is no file to reread")]
    NoFile,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A reload that took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Keys that changed but keep their old value until a restart.
    pub restart_needed: Vec<&'static str>,
}

/// Rereads the configuration (file and command-line flags, as at startup) and puts it in
/// force. Blocking: it reads files.
pub fn reload(gateway: &Gateway) -> Result<Reloaded, ReloadError> {
    let result = load(gateway);
    gateway.metrics.reloaded(result.is_ok());
    match &result {
        Ok(reloaded) => {
            info!(restart_needed = ?reloaded.restart_needed, "configuration reloaded");
            if !reloaded.restart_needed.is_empty() {
                warn!(
                    keys = ?reloaded.restart_needed,
                    "these settings changed but take a restart; their old values stay in force"
                );
            }
        }
        Err(e) => error!("configuration not reloaded, the old one stays in force: {e}"),
    }
    result
}

fn load(gateway: &Gateway) -> Result<Reloaded, ReloadError> {
    let args = gateway
        .source()
        .filter(|args| args.config.is_some())
        .ok_or(ReloadError::NoFile)?;
    let mut config = Config::load(args)?;
    let old = gateway.settings();
    let restart_needed = keep_fixed(&old.config, &mut config);
    let settings = Settings::new(config)?;
    gateway.replace_settings(settings);
    Ok(Reloaded { restart_needed })
}

/// Puts back the values of `old` that cannot change while running; returns the keys whose
/// value the file changed.
fn keep_fixed(old: &Config, new: &mut Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! fixed {
        ($($key:ident).+) => {
            if old.$($key).+ != new.$($key).+ {
                changed.push(stringify!($($key).+));
                new.$($key).+ = old.$($key).+.clone();
            }
        };
    }
    fixed!(rtmp_addr);
    fixed!(http_addr);
    fixed!(tls.https_addr);
    fixed!(tls.rtmps_addr);
    fixed!(metrics_addr);
    fixed!(media_dir);
    fixed!(max_connections);
    fixed!(subscriber_queue);
    fixed!(subscriber_queue_bytes);
    fixed!(gop_cache_bytes);
    fixed!(log_format);
    changed
}

/// Rereads the configuration on every SIGHUP, until the gateway stops.
pub async fn on_sighup(gateway: Arc<Gateway>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => return warn!("SIGHUP cannot reload the configuration: {e}"),
        };
        while hangups.recv().await.is_some() {
            info!("SIGHUP: rereading the configuration");
            let gateway = Arc::clone(&gateway);
            let _ = tokio::task::spawn_blocking(move || reload(&gateway)).await;
        }
    }
    #[cfg(not(unix))]
    let _ = gateway;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fixed_while_running_keep_their_old_values() {
        let old = Config::default();
        let mut new: Config = toml::from_str(
            "rtmp_addr = \"127.0.0.1:1\"\ngop_cache_bytes = 1000\nchunk_size = 8192\n\
             [apps.live]\npublish = \"deny\"",
        )
        .unwrap();
        let changed = keep_fixed(&old, &mut new);
        assert_eq!(changed, ["rtmp_addr", "gop_cache_bytes"]);
        assert_eq!(new.rtmp_addr, old.rtmp_addr);
        assert_eq!(new.gop_cache_bytes, old.gop_cache_bytes);
        // The rest is the file's.
        assert_eq!(new.chunk_size, 8192);
        assert!(new.apps.get("vod").is_none());
    }
}
