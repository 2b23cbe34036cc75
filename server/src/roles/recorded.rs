//! A NetStream playing recorded items: the player task owns the playlist; this side passes
//! it commands and relays what it says to the session.

use rtmpws_protocol::message::Message;
use rtmpws_protocol::server::ServerSession;
use rtmpws_protocol::status::Status;
use rtmpws_protocol::{MediaKind, StreamId};

use crate::vod::{VodControl, VodEvent, VodHandle};

pub struct RecordedPlayer {
    pub player: VodHandle,
    pub name: String,
    /// A legacy player was sent a legacy media tag, or told there is none it can play
    /// (NetStream.Play.NoSupportedTrackFound, once per play).
    legacy_seen: bool,
    told_unsupported: bool,
}

impl RecordedPlayer {
    pub fn new(player: VodHandle, name: String) -> RecordedPlayer {
        RecordedPlayer {
            player,
            name,
            legacy_seen: false,
            told_unsupported: false,
        }
    }

    /// Passes a command to the player task; false when it is flooded (the command is lost).
    pub fn control(&self, control: VodControl) -> bool {
        self.player.send(control)
    }

    /// What the player task asked to send, as RTMP.
    pub fn relay(&mut self, session: &mut ServerSession, stream_id: StreamId, event: VodEvent) {
        match event {
            VodEvent::Control(event) => session.send_user_control(event),
            VodEvent::Status(info) => session.send_status(stream_id, info),
            VodEvent::PlayStatus { timestamp, info } => {
                session.send_play_status(stream_id, timestamp, info)
            }
            VodEvent::SampleAccess => session.send_sample_access(stream_id),
            VodEvent::Data { timestamp, values } => session.send_data(stream_id, timestamp, values),
            VodEvent::Media {
                kind,
                timestamp,
                payload,
            } => {
                // A legacy player (no Enhanced RTMP in its connect) never gets an enhanced tag:
                // the ExHeader bit (video bit 7, audio sound format 9) says which is which.
                let enhanced = match kind {
                    MediaKind::Audio => payload.first().is_some_and(|b| b >> 4 == 9),
                    MediaKind::Video => payload.first().is_some_and(|b| b & 0x80 != 0),
                };
                if enhanced && session.enhanced_caps().is_none() {
                    // Past the sequence starts (packet type 0 in the low nibble of both
                    // ExHeaders), a coded frame with no legacy media sent yet means the file
                    // has nothing this player can decode.
                    let coded = payload.first().is_some_and(|b| b & 0x0F != 0);
                    if coded && !self.legacy_seen && !self.told_unsupported {
                        self.told_unsupported = true;
                        session.send_status(
                            stream_id,
                            Status::NetStreamPlayNoSupportedTrackFound.info(&self.name),
                        );
                    }
                    return;
                }
                self.legacy_seen = true;
                let message = match kind {
                    MediaKind::Audio => Message::Audio(payload),
                    MediaKind::Video => Message::Video(payload),
                };
                session.send_message(stream_id, timestamp, &message);
            }
        }
    }
}
