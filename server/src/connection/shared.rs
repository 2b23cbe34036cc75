//! A connection's shared objects and the calls that cross it: `use`/`release`/changes/`send`
//! from the client, decided with [`crate::policy`] and the per-client rate, carried out by
//! [`crate::shared_objects`]; mail from elsewhere (other connections' updates, the admin
//! API's calls on this client); `NetConnection.call` sent on to the application's
//! `call_url` as a task of the connection, as [`super::asks`] does with callbacks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtmpws_protocol::amf::Value;
use rtmpws_protocol::server::SharedObjectRequest;
use rtmpws_protocol::shared_object::{SharedObjectMessage, SoEvent};
use rtmpws_protocol::status::{Info, Status};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::{debug, info};

use super::Connection;
use crate::clients::{CallAnswer, ClientCall, Mail};
use crate::json;
use crate::policy::Decision;
use crate::shared_objects::{Author, Delivery, Subscriber, Update};

/// `NetConnection.call`s one connection may have waiting for `call_url` at once; more fail.
const MAX_REMOTE_CALLS: usize = 16;

/// What a call_url task hands back: the transaction, and the `_result` value or `_error` info.
pub type RemoteAnswer = (f64, Result<Value, Value>);

/// A subscription of this connection.
struct Subscription {
    lagged: Arc<AtomicBool>,
    /// The version of the last fresh copy sent: state older than it is moot.
    resynced_at: Option<u32>,
}

/// Updates a client may make: `shared_object_updates_per_sec`, in bursts of as many.
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Bucket {
        Bucket {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            at: Instant::now(),
        }
    }

    fn take(&mut self, n: usize) -> bool {
        let now = Instant::now();
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.at = now;
        let n = n as f64;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

/// The connection's shared object and call state.
pub struct SharedState {
    mailbox: mpsc::Receiver<Mail>,
    mailbox_tx: mpsc::Sender<Mail>,
    subscriptions: HashMap<String, Subscription>,
    bucket: Bucket,
    /// Calls made on the client (for the admin API), by transaction id.
    client_calls: HashMap<u64, oneshot::Sender<CallAnswer>>,
    /// `NetConnection.call`s waiting for call_url.
    pub(super) remote: JoinSet<RemoteAnswer>,
}

impl SharedState {
    pub fn new(mailbox: usize, updates_per_sec: u32) -> SharedState {
        let (mailbox_tx, mailbox) = mpsc::channel(mailbox.max(1));
        SharedState {
            mailbox,
            mailbox_tx,
            subscriptions: HashMap::new(),
            bucket: Bucket::new(updates_per_sec),
            client_calls: HashMap::new(),
            remote: JoinSet::new(),
        }
    }

    pub fn mailbox(&self) -> mpsc::Sender<Mail> {
        self.mailbox_tx.clone()
    }

    pub fn poll_mail(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Mail>> {
        self.mailbox.poll_recv(cx)
    }
}

/// An `_error` info object for a failed call.
fn call_failed(description: impl Into<String>) -> Value {
    Info::new(Status::NetConnectionCallFailed, description).into_value()
}

/// call_url's JSON answer as the `_result` value or the `_error` info (see the README).
pub fn call_answer(answer: Result<serde_json::Value, String>) -> Result<Value, Value> {
    let json = answer.map_err(call_failed)?;
    if let Some(error) = json.get("error").filter(|e| !e.is_null()) {
        let mut fields = vec![("level".to_owned(), Value::from("error"))];
        let (mut code, mut description) = (
            Status::NetConnectionCallFailed.code().to_owned(),
            String::new(),
        );
        match error {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("code", serde_json::Value::String(c)) => code = c.clone(),
                        ("description", serde_json::Value::String(d)) => description = d.clone(),
                        ("level", _) => {}
                        _ => fields.push((key.clone(), json::from_json(value))),
                    }
                }
            }
            serde_json::Value::String(text) => description = text.clone(),
            other => description = other.to_string(),
        }
        fields.insert(1, ("code".into(), code.into()));
        fields.insert(2, ("description".into(), description.into()));
        return Err(Value::Object(fields));
    }
    match json.get("result") {
        Some(result) => Ok(json::from_json(result)),
        None => Err(call_failed(
            "call_url answered without \"result\" or \"error\"",
        )),
    }
}

impl Connection {
    /// One shared object message from the client.
    pub(super) fn shared_object(
        &mut self,
        name: String,
        version: u32,
        persistent: bool,
        requests: Vec<SharedObjectRequest>,
    ) {
        let mut updates = Vec::new();
        let mut sends = Vec::new();
        for request in requests {
            match request {
                SharedObjectRequest::Use => self.use_object(&name, version, persistent),
                SharedObjectRequest::Release => {
                    self.shared.subscriptions.remove(&name);
                    self.gateway
                        .shared_objects
                        .release(self.app(), &name, self.id);
                }
                SharedObjectRequest::Change { slot, value } => {
                    updates.push(Update::Set { slot, value })
                }
                SharedObjectRequest::Remove { slot } => updates.push(Update::Delete { slot }),
                SharedObjectRequest::Send { handler, args } => sends.push((handler, args)),
            }
        }
        if updates.is_empty() && sends.is_empty() {
            return;
        }
        let slots: Vec<String> = updates
            .iter()
            .map(|u| match u {
                Update::Set { slot, .. } | Update::Delete { slot } => slot.clone(),
            })
            .collect();
        if let Decision::Deny(why) = self.gateway.policy.shared_object_write(self.app()) {
            info!(id = self.id, object = %name, "shared object write refused: {why}");
            self.shared_object_status(&name, "SharedObject.NoWriteAccess");
            return self
                .gateway
                .shared_objects
                .refuse(self.app(), &name, self.id, &slots);
        }
        if !self.shared.bucket.take(updates.len() + sends.len()) {
            debug!(id = self.id, object = %name, "shared object updates over the rate refused");
            return self
                .gateway
                .shared_objects
                .refuse(self.app(), &name, self.id, &slots);
        }
        let app = self.app().to_owned();
        let objects = &self.gateway.shared_objects;
        if !updates.is_empty() {
            let author = Author::Client {
                id: self.id,
                version,
            };
            if objects.update(&app, &name, author, updates).is_err() {
                debug!(id = self.id, object = %name, "change of a shared object not in use");
            }
        }
        for (handler, args) in sends {
            let _ = objects.send(&app, &name, Some(self.id), &handler, args);
        }
    }

    fn use_object(&mut self, name: &str, version: u32, persistent: bool) {
        if let Decision::Deny(why) = self.gateway.policy.shared_object_read(self.app()) {
            info!(id = self.id, object = %name, "shared object use refused: {why}");
            return self.shared_object_status(name, "SharedObject.NoReadAccess");
        }
        let lagged = Arc::new(AtomicBool::new(false));
        let subscriber = Subscriber {
            client: self.id,
            encoding: self.session.shared_object_encoding(),
            mailbox: self.shared.mailbox(),
            lagged: Arc::clone(&lagged),
        };
        let allowed = self.rules().is_some_and(|rules| rules.so_persistence);
        let app = self.app().to_owned();
        match self
            .gateway
            .shared_objects
            .use_object(&app, name, persistent, version, allowed, subscriber)
        {
            Ok(_) => {
                self.shared.subscriptions.insert(
                    name.to_owned(),
                    Subscription {
                        lagged,
                        resynced_at: None,
                    },
                );
            }
            Err(refusal) => {
                info!(id = self.id, object = %name, ?refusal, "shared object use refused");
                if let Some(code) = refusal.code() {
                    self.shared_object_status(name, code);
                }
            }
        }
    }

    /// A SharedObject status event (level error) to this client.
    fn shared_object_status(&mut self, name: &str, code: &str) {
        let message = SharedObjectMessage::new(name, 0, false).with(SoEvent::Status {
            code: code.into(),
            level: "error".into(),
        });
        self.session.send_shared_object(&message);
    }

    /// Mail from elsewhere.
    pub(super) fn on_mail(&mut self, mail: Mail) {
        match mail {
            Mail::SharedObject(delivery) => self.deliver(&delivery),
            Mail::Wake => {}
            Mail::Call(call) => self.call_client(call),
        }
        self.resync_lagged();
    }

    fn deliver(&mut self, delivery: &Delivery) {
        self.resync_lagged();
        let Some(subscription) = self.shared.subscriptions.get(&delivery.name) else {
            return;
        };
        if delivery.state
            && subscription
                .resynced_at
                .is_some_and(|at| delivery.version <= at)
        {
            return;
        }
        let encoding = self.session.shared_object_encoding();
        if let Some(chunks) = delivery.chunks(encoding) {
            if let Err(e) = self.session.send_shared_chunks(chunks) {
                debug!(id = self.id, "shared object message not sent: {e}");
            }
        }
    }

    /// Sends a fresh copy of every object whose mail overflowed.
    fn resync_lagged(&mut self) {
        let lagged: Vec<String> = self
            .shared
            .subscriptions
            .iter()
            .filter(|(_, s)| s.lagged.swap(false, Ordering::AcqRel))
            .map(|(name, _)| name.clone())
            .collect();
        for name in lagged {
            let Some(copy) = self
                .gateway
                .shared_objects
                .resync(self.app(), &name, self.id)
            else {
                continue;
            };
            debug!(id = self.id, object = %name, version = copy.version, "subscriber behind: fresh copy");
            self.session.send_shared_object(&copy);
            if let Some(subscription) = self.shared.subscriptions.get_mut(&name) {
                subscription.resynced_at = Some(copy.version);
            }
        }
    }

    /// The admin API calls a method on this client.
    fn call_client(&mut self, call: ClientCall) {
        // Calls whose askers gave up are forgotten first.
        let gone: Vec<u64> = self
            .shared
            .client_calls
            .iter()
            .filter(|(_, reply)| reply.is_closed())
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.shared.client_calls.remove(&id);
            self.session.forget_client_call(id as f64);
        }
        match self.session.call_client(&call.method, call.args) {
            Some(transaction_id) => {
                self.shared
                    .client_calls
                    .insert(transaction_id as u64, call.reply);
            }
            None => {
                let _ = call.reply.send(CallAnswer::Failed(
                    "the client has too many calls waiting".into(),
                ));
            }
        }
    }

    /// The client's `_result` or `_error` to a call made on it.
    pub(super) fn client_answered(&mut self, transaction_id: f64, ok: bool, mut args: Vec<Value>) {
        let Some(reply) = self.shared.client_calls.remove(&(transaction_id as u64)) else {
            return;
        };
        let value = if args.is_empty() {
            Value::Undefined
        } else {
            args.swap_remove(0)
        };
        let _ = reply.send(if ok {
            CallAnswer::Result(value)
        } else {
            CallAnswer::Error(value)
        });
    }

    /// `NetConnection.call(method, ...args)`: to call_url if the application has one.
    pub(super) fn remote_call(&mut self, transaction_id: f64, method: String, args: Vec<Value>) {
        let Some(url) = self.rules().and_then(|rules| rules.call_url.clone()) else {
            if transaction_id != 0.0 {
                let failed = Status::NetConnectionCallFailed;
                self.session
                    .answer_call_error(transaction_id, call_failed(failed.describe(&method)));
            }
            return;
        };
        if self.shared.remote.len() >= MAX_REMOTE_CALLS {
            return self.session.fail_call(
                transaction_id,
                &format!("{method}: {MAX_REMOTE_CALLS} calls already waiting"),
            );
        }
        let body = serde_json::json!({
            "app": self.app(),
            "clientid": self.id.to_string(),
            "method": method,
            "args": json::to_json_array(&args),
        });
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let gateway = Arc::clone(&self.gateway);
        let timeout = Duration::from_secs(gateway.config.call_timeout_secs);
        let max = gateway.config.max_json_bytes;
        self.shared.remote.spawn(async move {
            let answer = gateway.hooks.call_json(&url, body, timeout, max).await;
            (transaction_id, call_answer(answer))
        });
    }

    /// call_url answered (or its task ended some other way).
    pub(super) fn remote_answered(&mut self, done: Result<RemoteAnswer, tokio::task::JoinError>) {
        let Ok((transaction_id, answer)) = done else {
            return;
        };
        if transaction_id == 0.0 {
            return;
        }
        match answer {
            Ok(value) => self.session.answer_call(transaction_id, value),
            Err(info) => self.session.answer_call_error(transaction_id, info),
        }
    }

    /// The connection is gone: out of its objects and the client list.
    pub(super) fn release_shared(&mut self) {
        if let Some(app) = self.app.clone() {
            self.gateway.shared_objects.release_client(&app, self.id);
            self.gateway.clients.unregister(self.id);
        }
        for (_, reply) in self.shared.client_calls.drain() {
            let _ = reply.send(CallAnswer::Failed("the client disconnected".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn call_url_answers_become_results_and_errors() {
        assert_eq!(
            call_answer(Ok(json!({"result": {"sum": 3}}))),
            Ok(Value::object([("sum", Value::Number(3.0))]))
        );
        assert_eq!(call_answer(Ok(json!({"result": null}))), Ok(Value::Null));
        let Err(info) = call_answer(Ok(
            json!({"error": {"code": "App.Busy", "description": "later", "retry": 5}}),
        )) else {
            panic!()
        };
        assert_eq!(info.get_str("level"), Some("error"));
        assert_eq!(info.get_str("code"), Some("App.Busy"));
        assert_eq!(info.get_str("description"), Some("later"));
        assert_eq!(info.get_f64("retry"), Some(5.0));
        let Err(info) = call_answer(Ok(json!({"error": "nope"}))) else {
            panic!()
        };
        assert_eq!(info.get_str("code"), Some("NetConnection.Call.Failed"));
        assert_eq!(info.get_str("description"), Some("nope"));
        for bad in [
            Ok(json!({"other": 1})),
            Ok(json!(3)),
            Err("timeout".to_owned()),
        ] {
            let Err(info) = call_answer(bad) else {
                panic!()
            };
            assert_eq!(info.get_str("code"), Some("NetConnection.Call.Failed"));
        }
    }

    #[test]
    fn the_bucket_allows_bursts_up_to_the_rate() {
        let mut bucket = Bucket::new(5);
        assert!(bucket.take(5));
        assert!(!bucket.take(1));
        bucket.at -= Duration::from_millis(400);
        assert!(bucket.take(2));
        assert!(!bucket.take(2));
    }
}
