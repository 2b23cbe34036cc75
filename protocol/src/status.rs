//! The catalogue of NetStream and NetConnection status codes, as data.
//!
//! Both the gateway (which sends most of them) and the browser client (which makes the
//! player-side ones itself) build info objects from here, so no code string is typed twice.

use crate::amf::Value;

/// `level` of an info object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Status,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Status => "status",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// Who puts a code on the wire, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// The server, in an `onStatus` command on the stream (or a `_result`/`_error` for
    /// NetConnection codes).
    Server,
    /// The server, in an `onPlayStatus` data message on the stream.
    ServerPlayStatus,
    /// The player makes it itself; nothing crosses the wire.
    Player,
    /// Either side: the server for what it can check, the player for arguments it rejects.
    ServerOrPlayer,
}

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $level:ident, $sender:ident, $desc:literal; )*) => {
        /// Every status code rtmpws sends or surfaces.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Status {
            $( $(#[$doc])* $variant, )*
        }

        impl Status {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Status] = &[ $( Status::$variant, )* ];

            /// The `code` string, e.g. `NetStream.Play.Start`.
            pub fn code(self) -> &'static str {
                match self { $( Status::$variant => $code, )* }
            }

            pub fn level(self) -> Level {
                match self { $( Status::$variant => Level::$level, )* }
            }

            pub fn sender(self) -> Sender {
                match self { $( Status::$variant => Sender::$sender, )* }
            }

            /// The description template; `{name}` stands for the stream name (or `details`).
            pub fn template(self) -> &'static str {
                match self { $( Status::$variant => $desc, )* }
            }
        }
    };
}

catalogue! {
    // NetStream: the 32 codes of the seed list.
    NetStreamInvalidArg = "NetStream.InvalidArg", Error, ServerOrPlayer, "Invalid arguments were passed to a NetStream method.";
    NetStreamBufferEmpty = "NetStream.Buffer.Empty", Status, Player, "Data is not being received quickly enough to fill the buffer.";
    NetStreamBufferFull = "NetStream.Buffer.Full", Status, Player, "The buffer is full and the stream begins playing.";
    NetStreamBufferFlush = "NetStream.Buffer.Flush", Status, Player, "Data has finished streaming, and the remaining buffer will be emptied.";
    NetStreamFailed = "NetStream.Failed", Error, Server, "An error has occurred on {name}.";
    NetStreamPauseNotify = "NetStream.Pause.Notify", Status, Server, "Pausing {name}.";
    NetStreamPlayComplete = "NetStream.Play.Complete", Status, ServerPlayStatus, "Playback of {name} has completed.";
    NetStreamPlayFailed = "NetStream.Play.Failed", Error, Server, "Failed to play {name}.";
    NetStreamPlayInsufficientBW = "NetStream.Play.InsufficientBW", Warning, Server, "Data is playing behind the normal speed on {name}.";
    NetStreamPlayPublishNotify = "NetStream.Play.PublishNotify", Status, Server, "{name} is now published.";
    NetStreamPlayReset = "NetStream.Play.Reset", Status, Server, "Playing and resetting {name}.";
    NetStreamPlayStart = "NetStream.Play.Start", Status, Server, "Started playing {name}.";
    NetStreamPlayStop = "NetStream.Play.Stop", Status, Server, "Stopped playing {name}.";
    NetStreamPlayStreamNotFound = "NetStream.Play.StreamNotFound", Error, Server, "Failed to play {name}; stream not found.";
    NetStreamPlaySwitch = "NetStream.Play.Switch", Status, ServerPlayStatus, "Switching to {name}.";
    NetStreamPlayFileStructureInvalid = "NetStream.Play.FileStructureInvalid", Error, Player, "The file structure of {name} is invalid.";
    NetStreamPlayTransition = "NetStream.Play.Transition", Status, Server, "Transitioning to {name}.";
    NetStreamPlayNoSupportedTrackFound = "NetStream.Play.NoSupportedTrackFound", Error, Player, "No supported track was found in {name}.";
    NetStreamPlayUnpublishNotify = "NetStream.Play.UnpublishNotify", Status, Server, "{name} is now unpublished.";
    NetStreamPublishBadName = "NetStream.Publish.BadName", Error, Server, "{name} is already being published.";
    NetStreamPublishIdle = "NetStream.Publish.Idle", Status, Server, "{name} is now idle.";
    NetStreamPublishStart = "NetStream.Publish.Start", Status, Server, "{name} is now published.";
    NetStreamRecordFailed = "NetStream.Record.Failed", Error, Server, "Recording of {name} failed.";
    NetStreamRecordNoAccess = "NetStream.Record.NoAccess", Error, Server, "No access to record {name}.";
    NetStreamRecordStart = "NetStream.Record.Start", Status, Server, "Recording {name}.";
    NetStreamRecordStop = "NetStream.Record.Stop", Status, Server, "Stopped recording {name}.";
    NetStreamRecordDiskQuotaExceeded = "NetStream.Record.DiskQuotaExceeded", Error, Server, "Recording of {name} reached its quota.";
    NetStreamRecordAlreadyExists = "NetStream.Record.AlreadyExists", Status, Server, "{name} is already being recorded.";
    NetStreamSeekFailed = "NetStream.Seek.Failed", Error, Server, "Seeking {name} failed.";
    NetStreamSeekNotify = "NetStream.Seek.Notify", Status, Server, "Seeking {name}.";
    NetStreamUnpauseNotify = "NetStream.Unpause.Notify", Status, Server, "Unpausing {name}.";
    NetStreamUnpublishSuccess = "NetStream.Unpublish.Success", Status, Server, "{name} is now unpublished.";
    // Not in the list of 32, but on the wire with them.
    /// Sent by FMS-style servers as a data message after Play.Start.
    NetStreamDataStart = "NetStream.Data.Start", Status, Server, "";
    /// onPlayStatus at the point a play2 transition takes effect.
    NetStreamPlayTransitionComplete = "NetStream.Play.TransitionComplete", Status, ServerPlayStatus, "Transition to {name} is complete.";
    // NetConnection.
    NetConnectionConnectSuccess = "NetConnection.Connect.Success", Status, Server, "Connection succeeded.";
    NetConnectionConnectRejected = "NetConnection.Connect.Rejected", Error, Server, "Connection rejected: {name}.";
    NetConnectionConnectFailed = "NetConnection.Connect.Failed", Error, Player, "Connection failed.";
    NetConnectionConnectClosed = "NetConnection.Connect.Closed", Status, Player, "Connection closed.";
    NetConnectionConnectNetworkChange = "NetConnection.Connect.NetworkChange", Status, Player, "The network has changed.";
    NetConnectionConnectIdleTimeOut = "NetConnection.Connect.IdleTimeOut", Status, Server, "The connection was idle for too long.";
    NetConnectionConnectAppShutdown = "NetConnection.Connect.AppShutdown", Error, Server, "The application {name} is shutting down.";
    NetConnectionConnectInvalidApp = "NetConnection.Connect.InvalidApp", Error, Server, "The application {name} does not exist.";
    NetConnectionCallFailed = "NetConnection.Call.Failed", Error, Server, "Method {name} failed.";
    /// Enhanced RTMP: the server asks the client to reconnect (optionally to another tcUrl).
    NetConnectionConnectReconnectRequest = "NetConnection.Connect.ReconnectRequest", Status, Server, "The server asks you to reconnect.";
}

impl Status {
    /// The 32 NetStream codes the product must cover.
    pub fn netstream_codes() -> impl Iterator<Item = Status> {
        Status::ALL[..32].iter().copied()
    }

    /// Looks a code string up, e.g. from an info object received from a server.
    pub fn from_code(code: &str) -> Option<Status> {
        // Some servers spell it IdleTimeout.
        if code == "NetConnection.Connect.IdleTimeout" {
            return Some(Status::NetConnectionConnectIdleTimeOut);
        }
        Status::ALL.iter().copied().find(|s| s.code() == code)
    }

    /// The description with `{name}` filled in.
    pub fn describe(self, name: &str) -> String {
        self.template().replace("{name}", name)
    }

    /// The info object for this code: level, code, description first (some clients read
    /// them positionally), then `details` when a name is given.
    pub fn info(self, name: &str) -> Info {
        Info::new(self, self.describe(name)).details(name)
    }
}

/// An info object under construction; extra fields keep the order they are added in.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    fields: Vec<(String, Value)>,
}

impl Info {
    /// `{level, code, description}`.
    pub fn new(status: Status, description: impl Into<String>) -> Info {
        Info {
            fields: vec![
                ("level".into(), status.level().as_str().into()),
                ("code".into(), status.code().into()),
                ("description".into(), Value::String(description.into())),
            ],
        }
    }

    /// Adds `details` (usually the stream name), unless empty.
    pub fn details(self, details: &str) -> Info {
        if details.is_empty() {
            self
        } else {
            self.field("details", details)
        }
    }

    /// Adds any other field.
    pub fn field(mut self, key: &str, value: impl Into<Value>) -> Info {
        self.fields.push((key.to_owned(), value.into()));
        self
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_32_netstream_codes_are_first_and_unique() {
        let codes: Vec<&str> = Status::netstream_codes().map(Status::code).collect();
        assert_eq!(codes.len(), 32);
        assert!(codes.iter().all(|c| c.starts_with("NetStream.")));
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 32);
        assert!(!codes.contains(&"NetStream.Data.Start"));
    }

    #[test]
    fn the_seed_list_is_covered() {
        // The seed list lives beside the repository (../shared), as in CI.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/netstream-status-codes.txt"
        );
        let Ok(seed) = std::fs::read_to_string(path) else {
            eprintln!("skipped: {path} is not beside this checkout");
            return;
        };
        let mut found = 0;
        for word in seed.split_whitespace() {
            if word.starts_with("NetStream.") && word.len() > "NetStream.".len() {
                let code = word.trim_end_matches(['.', ',', ')']);
                assert!(Status::from_code(code).is_some(), "{code} missing");
                found += 1;
            }
        }
        assert!(found >= 32);
    }

    #[test]
    fn info_objects_put_level_code_description_first() {
        let info = Status::NetStreamPlayStart.info("cam").into_value();
        let Value::Object(fields) = info else {
            panic!()
        };
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["level", "code", "description", "details"]);
        assert_eq!(fields[2].1, Value::from("Started playing cam."));
    }

    #[test]
    fn idle_timeout_accepts_both_spellings() {
        assert_eq!(
            Status::from_code("NetConnection.Connect.IdleTimeout"),
            Status::from_code("NetConnection.Connect.IdleTimeOut")
        );
    }
}
