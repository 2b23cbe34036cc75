//! Relays between this gateway and other RTMP servers, as nginx-rtmp's `push` and `pull`
//! and SRS's edge make them:
//!
//! - [`push`]: every stream published to an application with `push` targets (or whose
//!   on_publish callback redirects to an `rtmp://` URL) is republished to each target by a
//!   task of its own, an RTMP client that starts from the stream's snapshot (metadata,
//!   sequence headers, GOP) and follows it live through a queue bounded in bytes; a slow
//!   target loses messages up to the next keyframe, a dead one is reconnected with jittered
//!   backoff, and the local stream never waits for either.
//! - [`pull`]: a play of a name nobody publishes here, in an application with `origin`s (or
//!   whose on_play callback redirects to an `rtmp://` URL), starts (or joins) one pull per
//!   stream: the first origin that sends media for the name is published into the local
//!   registry, whose GOP cache and fan-out serve every viewer; the pull stops
//!   `pull_idle_secs` after the last viewer leaves.
//! - [`stats`]: what each relay is doing, read with [`Relays::stats`].
//! - [`url`]: `rtmp://HOST[:PORT]/APP[/NAME][?QUERY]`; [`client`]: the RTMP client.

pub mod client;
pub mod pull;
pub mod push;
pub mod stats;
pub mod url;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtmpws_protocol::chunk::DecoderLimits;

pub use pull::pull;
pub use push::Pushes;
pub use stats::{Direction, RelayStats};
pub use url::{RelayUrl, UrlError};

use crate::config::Config;

/// The gateway's relays: the board of their stats and the pulls running, by stream.
#[derive(Default)]
pub struct Relays {
    board: Arc<stats::Board>,
    pulls: Mutex<HashMap<(String, String), Arc<pull::PullEntry>>>,
}

impl Relays {
    pub fn new() -> Relays {
        Relays::default()
    }

    /// Every running relay (push target or pull) with its figures.
    pub fn stats(&self) -> Vec<RelayStats> {
        self.board.read()
    }

    /// Whether a pull of `app/name` runs.
    pub fn is_pulling(&self, app: &str, name: &str) -> bool {
        crate::sync::lock(&self.pulls).contains_key(&(app.to_owned(), name.to_owned()))
    }
}

/// The limits of relay connections, from the config.
pub fn limits(config: &Config) -> client::Limits {
    client::Limits {
        decoder: DecoderLimits {
            max_chunk_size: config.max_peer_chunk_size,
            max_message_size: config.max_message_size,
            max_reassembly_bytes: config.max_reassembly_bytes,
            ..DecoderLimits::default()
        },
        chunk_size: config.chunk_size,
        timeout: Duration::from_secs(config.relay_timeout_secs.max(1)),
    }
}

/// Waits between reconnections: doubling from `base` up to `max`, each wait drawn between
/// half and all of its step, so relays that lost the same server do not come back at once.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    step: Duration,
    seed: u64,
}

/// The first wait after a failure.
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        static SALT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let salt = SALT.fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::Relaxed);
        Backoff {
            base,
            max: max.max(base),
            step: base,
            seed: (now ^ salt) | 1,
        }
    }

    /// How long to wait before the next try.
    pub fn next_wait(&mut self) -> Duration {
        let step = self.step;
        self.step = self.step.saturating_mul(2).min(self.max);
        // xorshift64*: plenty for jitter.
        self.seed ^= self.seed >> 12;
        self.seed ^= self.seed << 25;
        self.seed ^= self.seed >> 27;
        let random = self.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        let fraction = random as f64 / (1u64 << 53) as f64;
        step / 2 + (step / 2).mul_f64(fraction)
    }

    /// After a connection that worked for a while: start again from `base`.
    pub fn reset(&mut self) {
        self.step = self.base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound_with_jitter_and_resets() {
        let (base, max) = (Duration::from_millis(500), Duration::from_secs(8));
        let mut backoff = Backoff::new(base, max);
        let mut step = base;
        for _ in 0..10 {
            let wait = backoff.next_wait();
            assert!(
                wait >= step / 2 && wait <= step,
                "{wait:?} for a step of {step:?}"
            );
            step = (step * 2).min(max);
        }
        assert!(backoff.next_wait() >= max / 2);
        backoff.reset();
        assert!(backoff.next_wait() <= base);
        // Two relays that fail together wait differently.
        let waits: Vec<Duration> = (0..8)
            .map(|_| Backoff::new(Duration::from_secs(10), max).next_wait())
            .collect();
        assert!(waits.iter().any(|w| *w != waits[0]));
    }
}
