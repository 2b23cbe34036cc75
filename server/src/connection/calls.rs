//! Calls the gateway answers with a value: `getStreamLength(name)`, a recorded item's
//! duration in seconds from its (cached) index; 0 for anything else, live streams
//! included, as FMS answers.

use std::sync::Arc;

use super::Connection;

/// `getStreamLength` calls one connection may have in flight; more fail at once.
const MAX_LENGTH_CALLS: usize = 4;

impl Connection {
    pub(super) fn stream_length(&mut self, transaction_id: f64, name: &str) {
        let Ok(path) = self.gateway.library.resolve(self.app(), name) else {
            return self.session.answer_stream_length(transaction_id, 0.0);
        };
        if self.lengths.len() >= MAX_LENGTH_CALLS {
            return self.session.fail_call(
                transaction_id,
                &format!("getStreamLength: {MAX_LENGTH_CALLS} calls already in flight"),
            );
        }
        let library = Arc::clone(&self.gateway.library);
        let task = self.lengths.spawn(async move {
            match library.index(&path).await {
                Ok(index) => index.duration_secs(),
                Err(_) => 0.0,
            }
        });
        self.length_calls.insert(task.id(), transaction_id);
    }

    /// A `getStreamLength` task ended: its answer, or Call.Failed if it did not finish.
    pub(super) fn answer_length(
        &mut self,
        done: Result<(tokio::task::Id, f64), tokio::task::JoinError>,
    ) {
        let (id, seconds) = match done {
            Ok((id, seconds)) => (id, Ok(seconds)),
            Err(e) => (e.id(), Err(e)),
        };
        let Some(transaction_id) = self.length_calls.remove(&id) else {
            return;
        };
        match seconds {
            Ok(seconds) => self.session.answer_stream_length(transaction_id, seconds),
            Err(e) => self
                .session
                .fail_call(transaction_id, &format!("getStreamLength failed: {e}")),
        }
    }
}
