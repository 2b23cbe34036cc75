//! Who may do what: one function per decision a client can ask for (connect, publish, play,
//! record), each answering [`Decision::Allow`] or [`Decision::Deny`] with the reason the
//! client and the log are told. The connection asks here once per action and turns a
//! refusal into the status Flash defines for it; nothing else decides access.

use rtmpws_protocol::server::PublishMode;

use crate::config::Config;
use crate::names::StreamName;

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused, with a sentence saying why, for the status description and the log.
    Deny(String),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// The access rules of the gateway, read from its configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    apps: Vec<String>,
    record_all: Vec<String>,
}

impl Policy {
    pub fn new(config: &Config) -> Policy {
        Policy {
            apps: config.apps.clone(),
            record_all: config.record_all.clone(),
        }
    }

    /// `connect` to an application: only the configured ones exist.
    pub fn connect(&self, app: &str) -> Decision {
        if self.apps.iter().any(|a| a == app) {
            Decision::Allow
        } else {
            Decision::Deny(format!(
                "Application '{app}' is not configured on this server."
            ))
        }
    }

    /// `publish` of a live stream in an application the client is connected to.
    pub fn publish(&self, _app: &str, _name: &StreamName) -> Decision {
        Decision::Allow
    }

    /// `play` of a live stream or recorded item.
    pub fn play(&self, _app: &str, _name: &StreamName) -> Decision {
        Decision::Allow
    }

    /// Whether a publish is to be recorded: the publisher asked for it (record, append,
    /// appendWithGap), or the application records every stream (`record_all`).
    pub fn wants_recording(&self, app: &str, mode: PublishMode) -> bool {
        mode != PublishMode::Live || self.record_all.iter().any(|a| a == app)
    }

    /// Writing a recording of `name` in `app`.
    pub fn record(&self, _app: &str, _name: &StreamName) -> Decision {
        Decision::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(apps: &[&str], record_all: &[&str]) -> Policy {
        let config = Config {
            apps: apps.iter().map(|a| a.to_string()).collect(),
            record_all: record_all.iter().map(|a| a.to_string()).collect(),
            ..Config::default()
        };
        Policy::new(&config)
    }

    #[test]
    fn only_configured_applications_accept_connections() {
        let policy = policy(&["live", "vod"], &[]);
        assert!(policy.connect("live").is_allowed());
        assert!(policy.connect("vod").is_allowed());
        assert_eq!(
            policy.connect("admin"),
            Decision::Deny("Application 'admin' is not configured on this server.".into())
        );
        assert!(!policy.connect("").is_allowed());
        assert!(!policy.connect("Live").is_allowed(), "names are exact");
    }

    #[test]
    fn recording_is_asked_by_the_publish_type_or_by_record_all() {
        let policy = policy(&["live", "show"], &["show"]);
        assert!(!policy.wants_recording("live", PublishMode::Live));
        for mode in [
            PublishMode::Record,
            PublishMode::Append,
            PublishMode::AppendWithGap,
        ] {
            assert!(policy.wants_recording("live", mode), "{mode:?}");
        }
        assert!(policy.wants_recording("show", PublishMode::Live));
    }

    #[test]
    fn publish_play_and_record_are_open_in_configured_applications() {
        let policy = policy(&["live"], &[]);
        let name = StreamName::parse("cam");
        assert!(policy.publish("live", &name).is_allowed());
        assert!(policy.play("live", &name).is_allowed());
        assert!(policy.record("live", &name).is_allowed());
    }
}
