//! A publisher of a live stream, and what is left of it while its recording is finalised.

use std::sync::Arc;
use std::time::Duration;

use rtmpws_protocol::amf::Value;
use rtmpws_protocol::server::{PublishMode, SharedData};
use rtmpws_protocol::Timestamp;
use tokio::time::Instant;

use crate::live::{LiveStream, MediaFrame};
use crate::record::Recorder;
use crate::relay::Pushes;

/// Publishing `name`: media and data go to the live stream and, when recording, the
/// recorder.
pub struct Publisher {
    pub stream: Arc<LiveStream>,
    pub name: String,
    pub recorder: Option<Recorder>,
    last_media: Instant,
    /// Publish.Idle was sent and the stream unpublished; media brings it back.
    pub idle: bool,
    /// The stream's pushes to other servers; they stop with the publish.
    pub pushes: Pushes,
}

impl Publisher {
    pub fn new(stream: Arc<LiveStream>, name: String, recorder: Option<Recorder>) -> Publisher {
        Publisher {
            stream,
            name,
            recorder,
            last_media: Instant::now(),
            idle: false,
            pushes: Pushes::default(),
        }
    }

    /// A media message to subscribers and the recording.
    pub fn media(&mut self, frame: Arc<MediaFrame>) {
        self.last_media = Instant::now();
        if let Some(recorder) = &mut self.recorder {
            recorder.media(&frame);
        }
        self.stream.push_media(frame);
    }

    /// A data message (onMetaData, NetStream.send) to subscribers, encoded once for all of
    /// them with `chunk_size`, and to the recording.
    pub fn data(&mut self, timestamp: Timestamp, values: Vec<Value>, chunk_size: u32) {
        let values = Arc::new(values);
        if let Some(recorder) = &mut self.recorder {
            recorder.data(timestamp.0, Arc::clone(&values));
        }
        let data = SharedData::new(timestamp, values, chunk_size);
        self.stream.push_data(Arc::new(data));
    }

    /// True when the publisher has sent no media for `limit` and is not idle yet.
    pub fn goes_idle(&self, limit: Duration) -> bool {
        !self.idle && self.last_media.elapsed() >= limit
    }
}

/// Unpublished while recording: Record.Stop and Unpublish.Success wait until the recorder
/// has made the file final, so whoever the publisher tells can play all of it. A publish
/// meanwhile waits too (`next`), so its statuses follow, and an append finds the file free.
pub struct Unpublishing {
    pub name: String,
    pub next: Option<(String, PublishMode)>,
}
