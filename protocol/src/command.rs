//! The names of the RTMP commands the sessions understand, as one enum.
//!
//! A command's name is parsed once, where the command arrives, and everything after that
//! matches on [`CommandName`]: a misspelt name then fails to compile instead of silently
//! falling through to "unknown command". Each name is written once, in the table below, which
//! both [`CommandName::parse`] and [`CommandName::as_str`] are generated from. Names are
//! compared exactly, as Flash and FMS do: `Play` is not `play`.

use std::fmt;

macro_rules! commands {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal; )*) => {
        /// An RTMP command name: one the sessions act on, or any other as received.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum CommandName {
            $( $(#[$doc])* $variant, )*
            /// A name the sessions do not act on (an application's own `NetConnection.call`,
            /// a server's `onBWDone`, ...), kept as sent so it can be reported or passed up.
            Other(String),
        }

        impl CommandName {
            /// Every name the sessions act on, in table order.
            pub const KNOWN: &'static [CommandName] = &[ $( CommandName::$variant, )* ];

            /// The command a name stands for; never fails, as an unknown name is
            /// [`CommandName::Other`].
            pub fn parse(name: &str) -> CommandName {
                match name {
                    $( $name => CommandName::$variant, )*
                    _ => CommandName::Other(name.to_owned()),
                }
            }

            /// The name as it goes on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( CommandName::$variant => $name, )*
                    CommandName::Other(name) => name,
                }
            }
        }
    };
}

commands! {
    // Calls a client makes on the NetConnection (stream 0).
    Connect = "connect";
    CreateStream = "createStream";
    /// FMLE's call before publishing, to free a name a lost connection may still hold.
    ReleaseStream = "releaseStream";
    /// The FMLE publish calls and the CDN-style subscribe calls (ffmpeg makes the latter before
    /// every play); FMS calls the client back with `on` and the call's name.
    FcPublish = "FCPublish";
    FcUnpublish = "FCUnpublish";
    FcSubscribe = "FCSubscribe";
    FcUnsubscribe = "FCUnsubscribe";
    GetStreamLength = "getStreamLength";
    DeleteStream = "deleteStream";
    /// Flash sends it on the stream itself; some clients on stream 0 with the id as argument.
    CloseStream = "closeStream";
    // NetStream commands, meaningful only on a stream made with createStream.
    Publish = "publish";
    Play = "play";
    Play2 = "play2";
    Pause = "pause";
    /// Pause without the server's pause/unpause notifications (same arguments as `pause`).
    PauseRaw = "pauseRaw";
    Seek = "seek";
    ReceiveAudio = "receiveAudio";
    ReceiveVideo = "receiveVideo";
    // What a server sends back.
    /// The answer to a call that succeeded, matched to it by transaction id.
    Result = "_result";
    /// The answer to a call that failed, matched to it by transaction id.
    Error = "_error";
    /// A status event (NetStream codes on a stream, NetConnection codes on stream 0).
    OnStatus = "onStatus";
}

impl CommandName {
    /// True for the commands that act on a NetStream and so must arrive on one that exists.
    pub fn is_stream_command(&self) -> bool {
        matches!(
            self,
            CommandName::Publish
                | CommandName::Play
                | CommandName::Play2
                | CommandName::Pause
                | CommandName::PauseRaw
                | CommandName::Seek
                | CommandName::ReceiveAudio
                | CommandName::ReceiveVideo
        )
    }
}

impl fmt::Display for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_to_its_command() {
        // Written out rather than taken from the table, so a typo there is caught here.
        let expected = [
            ("connect", CommandName::Connect),
            ("createStream", CommandName::CreateStream),
            ("releaseStream", CommandName::ReleaseStream),
            ("FCPublish", CommandName::FcPublish),
            ("FCUnpublish", CommandName::FcUnpublish),
            ("FCSubscribe", CommandName::FcSubscribe),
            ("FCUnsubscribe", CommandName::FcUnsubscribe),
            ("getStreamLength", CommandName::GetStreamLength),
            ("deleteStream", CommandName::DeleteStream),
            ("closeStream", CommandName::CloseStream),
            ("publish", CommandName::Publish),
            ("play", CommandName::Play),
            ("play2", CommandName::Play2),
            ("pause", CommandName::Pause),
            ("pauseRaw", CommandName::PauseRaw),
            ("seek", CommandName::Seek),
            ("receiveAudio", CommandName::ReceiveAudio),
            ("receiveVideo", CommandName::ReceiveVideo),
            ("_result", CommandName::Result),
            ("_error", CommandName::Error),
            ("onStatus", CommandName::OnStatus),
        ];
        assert_eq!(expected.len(), CommandName::KNOWN.len());
        for (name, command) in expected {
            assert_eq!(CommandName::parse(name), command, "{name}");
            assert_eq!(command.as_str(), name);
            assert_eq!(command.to_string(), name);
        }
    }

    #[test]
    fn known_names_round_trip() {
        for command in CommandName::KNOWN {
            assert_eq!(&CommandName::parse(command.as_str()), command);
        }
    }

    #[test]
    fn unknown_names_are_kept_as_sent() {
        for name in [
            "",
            "onBWDone",
            "onFCPublish",
            "close",
            "myCall",
            "play3",
            " play",
            "play\0",
        ] {
            let command = CommandName::parse(name);
            assert_eq!(command, CommandName::Other(name.to_owned()));
            assert_eq!(command.as_str(), name);
            assert!(!command.is_stream_command());
        }
    }

    #[test]
    fn names_are_case_sensitive() {
        for name in [
            "Connect",
            "CONNECT",
            "Play",
            "PLAY",
            "Publish",
            "fcpublish",
            "FcPublish",
            "fCPublish",
            "ReceiveAudio",
            "_Result",
            "_ERROR",
            "onstatus",
            "OnStatus",
        ] {
            assert_eq!(
                CommandName::parse(name),
                CommandName::Other(name.to_owned()),
                "{name}"
            );
        }
    }

    #[test]
    fn stream_commands_are_the_netstream_ones() {
        let stream: Vec<&str> = CommandName::KNOWN
            .iter()
            .filter(|c| c.is_stream_command())
            .map(CommandName::as_str)
            .collect();
        assert_eq!(
            stream,
            [
                "publish",
                "play",
                "play2",
                "pause",
                "pauseRaw",
                "seek",
                "receiveAudio",
                "receiveVideo"
            ]
        );
    }
}
