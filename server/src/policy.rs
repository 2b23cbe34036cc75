//! Who may do what: one function per decision a client can ask for (connect, publish, play,
//! record), each answering [`Decision::Allow`] or [`Decision::Deny`] with the reason the
//! client and the log are told. The connection asks here once per action and turns a
//! refusal into the status Flash defines for it (Connect.Rejected, Publish.BadName,
//! Play.Failed, Record.NoAccess); nothing else decides access. HTTP callbacks
//! ([`crate::hooks`]) are asked after these rules allow.
//!
//! Pure: the caller passes the time (Unix seconds) that signed names are checked against.

use rtmpws_protocol::server::PublishMode;

use crate::apps::{Access, AppConfig, Apps, Permission};
use crate::config::Config;
use crate::names::StreamName;
use crate::signing;

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

/// Data handler names only the server may send on a stream.
const RESERVED_HANDLERS: [&str; 3] = ["onStatus", "onPlayStatus", "|RtmpSampleAccess"];

/// The access rules of the gateway, read from its configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    apps: Apps,
    record_all: Vec<String>,
    allowed_origins: Vec<String>,
}

/// What a client asks to do with a stream, for the wording of refusals.
#[derive(Debug, Clone, Copy)]
enum Action {
    Publish,
    Play,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Play => "play",
        }
    }
}

impl Policy {
    pub fn new(config: &Config) -> Policy {
        Policy {
            apps: config.apps.clone(),
            record_all: config.record_all.clone(),
            allowed_origins: config.allowed_origins.clone(),
        }
    }

    /// The rules of an application, if it exists.
    pub fn app(&self, app: &str) -> Option<&AppConfig> {
        self.apps.get(app)
    }

    /// A WebSocket upgrade from a page of `origin` (its `Origin` header). With an allow-list,
    /// only those origins; a request without the header (not from a browser page, which
    /// always sends one) is let through like any RTMP client over TCP.
    pub fn websocket_origin(&self, origin: Option<&str>) -> Decision {
        match origin {
            Some(origin)
                if !self.allowed_origins.is_empty()
                    && !self
                        .allowed_origins
                        .iter()
                        .any(|allowed| allowed.eq_ignore_ascii_case(origin)) =>
            {
                Decision::Deny(format!("pages of {origin} may not connect here"))
            }
            _ => Decision::Allow,
        }
    }

    /// Using (reading) the shared objects of `app`: `so_read`.
    pub fn shared_object_read(&self, app: &str) -> Decision {
        match self.apps.get(app).map(|rules| rules.so_read) {
            Some(Permission::Open) => Decision::Allow,
            _ => Decision::Deny(format!("No read access to shared objects in {app}.")),
        }
    }

    /// Changing, removing, clearing or sending on the shared objects of `app`: `so_write`.
    pub fn shared_object_write(&self, app: &str) -> Decision {
        match self.apps.get(app).map(|rules| rules.so_write) {
            Some(Permission::Open) => Decision::Allow,
            _ => Decision::Deny(format!("No write access to shared objects in {app}.")),
        }
    }

    /// `connect` to an application: only the configured ones exist.
    pub fn connect(&self, app: &str) -> Decision {
        if self.apps.get(app).is_some() {
            Decision::Allow
        } else {
            Decision::Deny(format!(
                "Application '{app}' is not configured on this server."
            ))
        }
    }

    /// `publish` of a live stream in an application the client is connected to.
    pub fn publish(&self, app: &str, name: &StreamName, now: u64) -> Decision {
        self.stream_access(app, name, now, Action::Publish)
    }

    /// `play` of a live stream or recorded item.
    pub fn play(&self, app: &str, name: &StreamName, now: u64) -> Decision {
        self.stream_access(app, name, now, Action::Play)
    }

    /// Whether a publish is to be recorded: the publisher asked for it (record, append,
    /// appendWithGap), or the application records every stream (`record_all`).
    pub fn wants_recording(&self, app: &str, mode: PublishMode) -> bool {
        mode != PublishMode::Live || self.record_all.iter().any(|a| a == app)
    }

    /// Writing a recording of `name` in `app`.
    pub fn record(&self, app: &str, name: &StreamName) -> Decision {
        match self.apps.get(app) {
            Some(rules) if rules.record => Decision::Allow,
            _ => Decision::Deny(format!(
                "Cannot record {}: recording is not allowed in {app}.",
                name.key()
            )),
        }
    }

    /// Relaying a publisher's data message (`@setDataFrame`, `NetStream.send`) to viewers.
    /// Handler names that players take as the server's own word are refused, so a publisher
    /// cannot fake statuses (onStatus, onPlayStatus) or sample access in viewers' players.
    pub fn relay_data(&self, handler: &str) -> Decision {
        if RESERVED_HANDLERS.contains(&handler) {
            Decision::Deny(format!(
                "data messages named {handler} are the server's, not a publisher's"
            ))
        } else {
            Decision::Allow
        }
    }

    fn stream_access(&self, app: &str, name: &StreamName, now: u64, action: Action) -> Decision {
        let Some(rules) = self.apps.get(app) else {
            return Decision::Deny(format!("Application '{app}' is not configured."));
        };
        let access = match action {
            Action::Publish => rules.publish,
            Action::Play => rules.play,
        };
        let verb = action.verb();
        let key = name.key();
        match access {
            Access::Open => Decision::Allow,
            Access::Deny => Decision::Deny(format!("Cannot {verb} {key}: not allowed in {app}.")),
            Access::Signed => {
                let secret = rules.secret.as_deref().unwrap_or_default();
                match signing::verify(secret, app, key, name.query(), now) {
                    Ok(()) => Decision::Allow,
                    Err(e) => Decision::Deny(format!(
                        "Cannot {verb} {key}: {app} needs a signed name and {e}."
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(toml_text: &str) -> Policy {
        let config: Config = toml::from_str(toml_text).unwrap();
        Policy::new(&config)
    }

    #[test]
    fn only_configured_applications_accept_connections() {
        let policy = policy(r#"apps = ["live", "vod"]"#);
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
    fn shared_object_reads_and_writes_follow_so_read_and_so_write() {
        let policy = policy(
            r#"
            [apps.open]
            [apps.ro]
            so_write = "deny"
            [apps.closed]
            so_read = "deny"
            so_write = "deny"
            "#,
        );
        assert!(policy.shared_object_read("open").is_allowed());
        assert!(policy.shared_object_write("open").is_allowed());
        assert!(policy.shared_object_read("ro").is_allowed());
        assert!(!policy.shared_object_write("ro").is_allowed());
        assert!(!policy.shared_object_read("closed").is_allowed());
        assert!(!policy.shared_object_read("missing").is_allowed());
    }

    #[test]
    fn the_defaults_keep_recorded_files_read_only() {
        let policy = Policy::new(&Config::default());
        let name = StreamName::parse("a");
        assert!(policy.publish("live", &name, 0).is_allowed());
        assert!(policy.play("live", &name, 0).is_allowed());
        assert!(policy.record("live", &name).is_allowed());
        assert_eq!(
            policy.publish("vod", &name, 0),
            Decision::Deny("Cannot publish a: not allowed in vod.".into())
        );
        assert!(policy.play("vod", &name, 0).is_allowed());
        assert_eq!(
            policy.record("vod", &name),
            Decision::Deny("Cannot record a: recording is not allowed in vod.".into())
        );
    }

    #[test]
    fn signed_applications_take_fresh_signatures_of_the_same_name_only() {
        let policy = policy(
            r#"
            [apps.live]
            publish = "signed"
            play = "signed"
            secret = "s3cret"
            "#,
        );
        let value = signing::sign("s3cret", "live", "cam", 1_000);
        let good = StreamName::parse(&format!("cam?sign={value}"));
        assert!(policy.publish("live", &good, 999).is_allowed());
        assert!(policy.play("live", &good, 1_000).is_allowed());
        let expired = policy.play("live", &good, 1_001);
        assert_eq!(
            expired,
            Decision::Deny(
                "Cannot play cam: live needs a signed name and the signature expired at 1000 (Unix time)."
                    .into()
            )
        );
        let other = StreamName::parse(&format!("cam2?sign={value}"));
        assert!(!policy.publish("live", &other, 0).is_allowed());
        assert!(!policy
            .publish("live", &StreamName::parse("cam"), 0)
            .is_allowed());
        assert!(!policy
            .publish("live", &StreamName::parse("cam?sign=garbage"), 0)
            .is_allowed());
    }

    #[test]
    fn websocket_origins_outside_the_allow_list_are_refused() {
        let open = Policy::new(&Config::default());
        assert!(open
            .websocket_origin(Some("https://evil.example"))
            .is_allowed());
        let listed =
            policy(r#"allowed_origins = ["https://example.com", "http://127.0.0.1:8080"]"#);
        assert!(listed
            .websocket_origin(Some("https://example.com"))
            .is_allowed());
        assert!(listed
            .websocket_origin(Some("HTTPS://EXAMPLE.COM"))
            .is_allowed());
        assert!(listed
            .websocket_origin(Some("http://127.0.0.1:8080"))
            .is_allowed());
        for origin in ["https://example.com.evil", "http://example.com", "null", ""] {
            assert!(
                !listed.websocket_origin(Some(origin)).is_allowed(),
                "{origin}"
            );
        }
        assert!(listed.websocket_origin(None).is_allowed());
    }

    #[test]
    fn publishers_cannot_send_the_servers_own_data_messages() {
        let policy = Policy::new(&Config::default());
        for handler in ["onStatus", "onPlayStatus", "|RtmpSampleAccess"] {
            assert!(!policy.relay_data(handler).is_allowed(), "{handler}");
        }
        for handler in ["onMetaData", "onCuePoint", "onTextData", "seek", "chat"] {
            assert!(policy.relay_data(handler).is_allowed(), "{handler}");
        }
    }

    #[test]
    fn recording_is_asked_by_the_publish_type_or_by_record_all() {
        let policy = policy("apps = [\"live\", \"show\"]\nrecord_all = [\"show\"]");
        assert!(!policy.wants_recording("live", PublishMode::Live));
        for mode in [
            PublishMode::Record,
            PublishMode::Append,
            PublishMode::AppendWithGap,
        ] {
            assert!(policy.wants_recording("live", mode), "{mode:?}");
        }
        assert!(policy.wants_recording("show", PublishMode::Live));
        // Listed names other than live and vod may not record.
        assert!(!policy.record("show", &StreamName::parse("x")).is_allowed());
    }
}
