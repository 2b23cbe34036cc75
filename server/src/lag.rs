//! What happens to a live subscriber that cannot keep up: it loses the oldest messages of
//! its queue and skips to the next keyframe; it hears NetStream.Play.InsufficientBW at most
//! every `insufficient_bw_interval_secs`; past `subscriber_max_dropped` lost messages it is
//! disconnected, so one slow viewer never holds memory or the publisher back. (A write that
//! stalls past `write_timeout_secs` also disconnects; the connection driver times that.)
//!
//! Pure: the caller passes the time.

use std::time::{Duration, Instant};

use rtmpws_protocol::status::{Info, Status};

use crate::config::Config;

/// The limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct LagPolicy {
    pub warn_every: Duration,
    pub max_dropped: u64,
}

/// What one subscriber has lost so far.
#[derive(Debug, Clone, Default)]
pub struct LagState {
    pub dropped: u64,
    /// InsufficientBW statuses sent.
    pub warnings: u64,
    last_warning: Option<Instant>,
}

/// What to do after a loss.
#[derive(Debug, Clone, PartialEq)]
pub enum LagVerdict {
    /// Nothing to say yet (warned recently).
    Quiet,
    /// Send this Play.InsufficientBW status.
    Warn(Info),
    /// End the connection, for this reason (logged).
    Disconnect(String),
}

impl LagPolicy {
    pub fn new(config: &Config) -> LagPolicy {
        LagPolicy {
            warn_every: Duration::from_secs(config.insufficient_bw_interval_secs),
            max_dropped: config.subscriber_max_dropped,
        }
    }

    /// `missed` messages of `name` were lost by the subscriber whose record is `state`.
    pub fn lost(&self, state: &mut LagState, missed: u64, name: &str, now: Instant) -> LagVerdict {
        state.dropped = state.dropped.saturating_add(missed);
        if state.dropped > self.max_dropped {
            return LagVerdict::Disconnect(format!(
                "subscriber of {name} lost {} messages",
                state.dropped
            ));
        }
        let due = state
            .last_warning
            .is_none_or(|at| now.saturating_duration_since(at) >= self.warn_every);
        if !due {
            return LagVerdict::Quiet;
        }
        state.last_warning = Some(now);
        state.warnings += 1;
        let description = format!(
            "The connection is too slow for {name}: {} messages dropped so far; playback skips to the next keyframe.",
            state.dropped
        );
        LagVerdict::Warn(
            Info::new(Status::NetStreamPlayInsufficientBW, description)
                .details(name)
                .field("dropped", state.dropped as f64),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LagPolicy = LagPolicy {
        warn_every: Duration::from_secs(5),
        max_dropped: 100,
    };

    #[test]
    fn the_first_loss_warns_with_the_count_then_quiet_until_the_interval() {
        let mut state = LagState::default();
        let t0 = Instant::now();
        let LagVerdict::Warn(info) = POLICY.lost(&mut state, 10, "cam", t0) else {
            panic!("the first loss warns");
        };
        let value = info.into_value();
        assert_eq!(value.get_str("code"), Some("NetStream.Play.InsufficientBW"));
        assert_eq!(value.get_f64("dropped"), Some(10.0));
        assert_eq!(value.get_str("details"), Some("cam"));
        let t1 = t0 + Duration::from_secs(4);
        assert_eq!(POLICY.lost(&mut state, 10, "cam", t1), LagVerdict::Quiet);
        let t2 = t0 + Duration::from_secs(5);
        let LagVerdict::Warn(info) = POLICY.lost(&mut state, 10, "cam", t2) else {
            panic!("warned again after the interval");
        };
        assert_eq!(info.into_value().get_f64("dropped"), Some(30.0));
    }

    #[test]
    fn past_the_limit_the_subscriber_is_disconnected() {
        let mut state = LagState::default();
        let now = Instant::now();
        assert!(matches!(
            POLICY.lost(&mut state, 100, "cam", now),
            LagVerdict::Warn(_)
        ));
        assert_eq!(
            POLICY.lost(&mut state, 1, "cam", now),
            LagVerdict::Disconnect("subscriber of cam lost 101 messages".into())
        );
    }

    #[test]
    fn counts_saturate_instead_of_overflowing() {
        let mut state = LagState::default();
        let policy = LagPolicy {
            max_dropped: u64::MAX,
            ..POLICY
        };
        policy.lost(&mut state, u64::MAX, "cam", Instant::now());
        policy.lost(&mut state, u64::MAX, "cam", Instant::now());
        assert_eq!(state.dropped, u64::MAX);
    }
}
