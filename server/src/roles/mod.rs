//! What a NetStream of a connection is doing, one type per role, each with its own state:
//! [`Publisher`] (and [`Unpublishing`] while its recording is made final),
//! [`Subscriber`] of a live stream, [`RecordedPlayer`] of recorded items. The recorder of a
//! publish is [`crate::record::Recorder`], owned by its publisher.
//!
//! What arrives for a role while it runs comes as a [`Feed`]; the connection driver polls
//! every stream's feed and hands each item to its role.

mod publisher;
mod recorded;
mod subscriber;

use std::pin::Pin;

use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::Stream;

pub use publisher::{Publisher, Unpublishing};
pub use recorded::RecordedPlayer;
pub use subscriber::{send_frame, Delivery, Subscriber};

use crate::live::LiveEvent;
use crate::record::RecordEvent;
use crate::vod::VodEvent;

/// What one NetStream does.
pub enum Role {
    Publishing(Publisher),
    Unpublishing(Unpublishing),
    Subscribing(Subscriber),
    PlayingRecorded(RecordedPlayer),
}

impl Role {
    /// The stream name the role is about, for status details.
    pub fn name(&self) -> &str {
        match self {
            Role::Publishing(publisher) => &publisher.name,
            Role::Unpublishing(unpublishing) => &unpublishing.name,
            Role::Subscribing(subscriber) => &subscriber.name,
            Role::PlayingRecorded(player) => &player.name,
        }
    }
}

/// What arrives for a NetStream: live stream events, a recorded-item player's output, or
/// the recorder's reports.
pub enum Feed {
    Live(Result<LiveEvent, BroadcastStreamRecvError>),
    Recorded(VodEvent),
    Recording(RecordEvent),
}

pub type FeedStream = Pin<Box<dyn Stream<Item = Feed> + Send>>;
