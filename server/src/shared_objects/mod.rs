//! Remote shared objects, per application, kept as FMS and Red5 keep them.
//!
//! - An object has a version that starts at 1 and increases by one with each batch of
//!   changes (one client message, one admin request). Every message to a subscriber carries
//!   the version after it.
//! - `use`: use success; then, for a non-persistent object or a client copy of another
//!   version, clear and every slot as change. A non-persistent object goes when its last
//!   subscriber leaves; a persistent one stays, in memory and in [`store`].
//! - A change request: every other subscriber gets change (remove for a slot set to null or
//!   undefined, or a request remove); the author gets success. The author's change is
//!   rejected, answered with the slot's current value (change, or remove when it has none),
//!   when another client changed the slot after the version the author's copy has (its own
//!   earlier changes never count against it), or when the object would pass
//!   `shared_object_max_slots` / `shared_object_max_bytes` (slot names plus AMF0-encoded
//!   values).
//! - `send`: every subscriber, the sender included, gets the handler call.
//! - Fan-out: one message for N subscribers is encoded and chunked once per encoding (AMF0,
//!   AMF3) and shared ([`Delivery`]); it reaches each connection through its bounded mailbox
//!   ([`crate::clients`]). A subscriber whose mailbox is full is marked lagged and, when its
//!   connection next reads its mail, is sent a fresh copy (clear and every slot) at the current
//!   version instead of what it missed ([`SharedObjects::resync`]).
//!
//! Access (so_read / so_write), persistence permission and the per-client rate are decided by
//! the connection ([`crate::connection`]) with [`crate::policy`] before it calls in here.

pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rtmpws_protocol::amf::{amf0, Value};
use rtmpws_protocol::chunk::SharedChunks;
use rtmpws_protocol::shared_object::{SharedObjectMessage, SoEncoding, SoEvent};
use tokio::sync::mpsc;
use tracing::info;

use self::store::Store;
use crate::clients::Mail;
use crate::config::Config;
use crate::sync::lock;

/// The limits of every application's objects.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_app: usize,
    pub max_slots: usize,
    pub max_bytes: usize,
}

/// Why a request was refused; the status code the client is told, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A persistent object where the application allows none, or persistence other than the
    /// object's.
    BadPersistence,
    /// The application has `shared_objects_per_app` objects, or the name is not acceptable.
    ObjectCreationFailed,
    /// The object does not exist, or this client does not use it.
    NotInUse,
}

impl Refusal {
    /// The SharedObject status code of the refusal, when the client is told one.
    pub fn code(self) -> Option<&'static str> {
        match self {
            Refusal::BadPersistence => Some("SharedObject.BadPersistence"),
            Refusal::ObjectCreationFailed => Some("SharedObject.ObjectCreationFailed"),
            Refusal::NotInUse => None,
        }
    }
}

/// Who changes an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// A client, with the version its copy had.
    Client { id: u64, version: u32 },
    /// The admin API: never rejected.
    Admin,
}

impl Author {
    fn client(self) -> Option<u64> {
        match self {
            Author::Client { id, .. } => Some(id),
            Author::Admin => None,
        }
    }
}

/// One change in a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Set a slot; null or undefined deletes it.
    Set {
        slot: String,
        value: Value,
    },
    Delete {
        slot: String,
    },
}

/// A connection subscribed to an object.
pub struct Subscriber {
    pub client: u64,
    pub encoding: SoEncoding,
    pub mailbox: mpsc::Sender<Mail>,
    /// Set when a message did not fit the mailbox: the connection then resyncs the object.
    pub lagged: Arc<AtomicBool>,
}

/// One message for subscribers, encoded and chunked once per encoding they use.
pub struct Delivery {
    pub name: String,
    pub version: u32,
    /// Whether it carries state (a fresh copy makes older state moot); handler calls do not.
    pub state: bool,
    amf0: Option<SharedChunks>,
    amf3: Option<SharedChunks>,
}

impl Delivery {
    /// The chunks for a connection of `encoding`.
    pub fn chunks(&self, encoding: SoEncoding) -> Option<&SharedChunks> {
        match encoding {
            SoEncoding::Amf0 => self.amf0.as_ref(),
            SoEncoding::Amf3 => self.amf3.as_ref(),
        }
    }

    fn build<'a>(
        message: &SharedObjectMessage,
        state: bool,
        recipients: impl Iterator<Item = &'a Subscriber>,
        chunk_size: u32,
    ) -> Delivery {
        let (mut amf0, mut amf3) = (false, false);
        for subscriber in recipients {
            match subscriber.encoding {
                SoEncoding::Amf0 => amf0 = true,
                SoEncoding::Amf3 => amf3 = true,
            }
        }
        let chunks =
            |wanted: bool, encoding| wanted.then(|| message.shared_chunks(encoding, chunk_size));
        Delivery {
            name: message.name.clone(),
            version: message.version,
            state,
            amf0: chunks(amf0, SoEncoding::Amf0),
            amf3: chunks(amf3, SoEncoding::Amf3),
        }
    }
}

/// An object's version, persistence and slots.
pub type Snapshot = (u32, bool, Vec<(String, Value)>);

/// What the admin API lists of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub name: String,
    pub version: u32,
    pub persistent: bool,
    pub slots: usize,
    pub subscribers: usize,
}

struct Slot {
    value: Value,
    /// Slot name plus AMF0-encoded value, in bytes.
    size: usize,
    changed_at: u32,
    changed_by: Option<u64>,
}

struct Object {
    version: u32,
    persistent: bool,
    slots: BTreeMap<String, Slot>,
    bytes: usize,
    subscribers: BTreeMap<u64, Subscriber>,
}

impl Object {
    fn new(version: u32, persistent: bool) -> Object {
        Object {
            version,
            persistent,
            slots: BTreeMap::new(),
            bytes: 0,
            subscribers: BTreeMap::new(),
        }
    }

    /// Clear, then every slot as change, at the current version.
    fn full_copy(&self, name: &str, use_success: bool) -> SharedObjectMessage {
        let mut message = SharedObjectMessage::new(name, self.version, self.persistent);
        if use_success {
            message.events.push(SoEvent::UseSuccess);
        }
        message.events.push(SoEvent::Clear);
        for (slot, state) in &self.slots {
            message.events.push(SoEvent::Change {
                slot: slot.clone(),
                value: state.value.clone(),
            });
        }
        message
    }

    /// The current value of `slot` as an answer to a rejected change.
    fn current(&self, slot: &str) -> SoEvent {
        match self.slots.get(slot) {
            Some(state) => SoEvent::Change {
                slot: slot.to_owned(),
                value: state.value.clone(),
            },
            None => SoEvent::Remove {
                slot: slot.to_owned(),
            },
        }
    }

    fn stored(&self) -> Vec<u8> {
        let slots: Vec<(&str, &Value, u32)> = self
            .slots
            .iter()
            .map(|(k, s)| (k.as_str(), &s.value, s.changed_at))
            .collect();
        store::encode(self.version, &slots)
    }
}

/// Every application's shared objects.
pub struct SharedObjects {
    apps: Mutex<HashMap<String, BTreeMap<String, Object>>>,
    limits: Limits,
    chunk_size: u32,
    store: Arc<Store>,
}

fn encoded_len(slot: &str, value: &Value) -> usize {
    let mut out = Vec::new();
    amf0::encode(value, &mut out);
    slot.len() + out.len()
}

/// Hands `delivery` to one subscriber's mailbox; a full one marks the subscriber lagged.
fn deliver(subscriber: &Subscriber, delivery: &Arc<Delivery>) {
    if let Err(mpsc::error::TrySendError::Full(_)) = subscriber
        .mailbox
        .try_send(Mail::SharedObject(Arc::clone(delivery)))
    {
        subscriber.lagged.store(true, Ordering::Release);
        // Usually full as well, which is as good: the connection has mail to wake for.
        let _ = subscriber.mailbox.try_send(Mail::Wake);
    }
}

impl SharedObjects {
    /// The objects of every configured application, with the persistent ones read from
    /// `shared_objects_dir` (blocking: at startup).
    pub fn new(config: &Config) -> SharedObjects {
        let limits = Limits {
            per_app: config.shared_objects_per_app,
            max_slots: config.shared_object_max_slots,
            max_bytes: config.shared_object_max_bytes,
        };
        let objects = SharedObjects::with_store(
            limits,
            config.chunk_size,
            Store::new(config.shared_objects_root()),
        );
        for app in config.apps.names() {
            objects.load(app);
        }
        objects
    }

    pub fn with_store(limits: Limits, chunk_size: u32, store: Arc<Store>) -> SharedObjects {
        SharedObjects {
            apps: Mutex::default(),
            limits,
            chunk_size,
            store,
        }
    }

    fn load(&self, app: &str) {
        let stored = self.store.load_app(app);
        if stored.is_empty() {
            return;
        }
        let mut apps = lock(&self.apps);
        let objects = apps.entry(app.to_owned()).or_default();
        for (name, (version, slots)) in stored {
            if objects.len() >= self.limits.per_app {
                info!(
                    app,
                    "more stored shared objects than shared_objects_per_app; the rest stay on disk"
                );
                break;
            }
            let mut object = Object::new(version.max(1), true);
            for (slot, value, changed_at) in slots {
                let size = encoded_len(&slot, &value);
                object.bytes += size;
                object.slots.insert(
                    slot,
                    Slot {
                        value,
                        size,
                        changed_at,
                        changed_by: None,
                    },
                );
            }
            objects.insert(name, object);
        }
        info!(
            app,
            objects = objects.len(),
            "persistent shared objects loaded"
        );
    }

    fn persist(&self, app: &str, name: &str, object: &Object) {
        if object.persistent {
            self.store.save(app, name, object.stored());
        }
    }

    /// `use`: subscribes `subscriber`, creating the object if need be, and mails it use
    /// success (and a full copy unless its copy, persistent, is current). Returns the
    /// object's version.
    pub fn use_object(
        &self,
        app: &str,
        name: &str,
        persistent: bool,
        client_version: u32,
        persistence_allowed: bool,
        subscriber: Subscriber,
    ) -> Result<u32, Refusal> {
        if !store::valid_name(name) {
            return Err(Refusal::ObjectCreationFailed);
        }
        if persistent && !persistence_allowed {
            return Err(Refusal::BadPersistence);
        }
        let mut apps = lock(&self.apps);
        let objects = apps.entry(app.to_owned()).or_default();
        if !objects.contains_key(name) {
            if objects.len() >= self.limits.per_app {
                return Err(Refusal::ObjectCreationFailed);
            }
            let object = Object::new(1, persistent);
            self.persist(app, name, &object);
            objects.insert(name.to_owned(), object);
        }
        let object = objects.get_mut(name).ok_or(Refusal::ObjectCreationFailed)?;
        if object.persistent != persistent {
            return Err(Refusal::BadPersistence);
        }
        let message = if object.persistent && client_version == object.version {
            SharedObjectMessage::new(name, object.version, true).with(SoEvent::UseSuccess)
        } else {
            object.full_copy(name, true)
        };
        let delivery = Arc::new(Delivery::build(
            &message,
            true,
            std::iter::once(&subscriber),
            self.chunk_size,
        ));
        deliver(&subscriber, &delivery);
        object.subscribers.insert(subscriber.client, subscriber);
        Ok(object.version)
    }

    /// `release`: unsubscribes; a non-persistent object without subscribers goes.
    pub fn release(&self, app: &str, name: &str, client: u64) {
        let mut apps = lock(&self.apps);
        let Some(objects) = apps.get_mut(app) else {
            return;
        };
        if let Some(object) = objects.get_mut(name) {
            object.subscribers.remove(&client);
            if object.subscribers.is_empty() && !object.persistent {
                objects.remove(name);
            }
        }
    }

    /// A connection is gone: it leaves every object of its application.
    pub fn release_client(&self, app: &str, client: u64) {
        let mut apps = lock(&self.apps);
        let Some(objects) = apps.get_mut(app) else {
            return;
        };
        objects.retain(|_, object| {
            object.subscribers.remove(&client);
            object.persistent || !object.subscribers.is_empty()
        });
    }

    /// A batch of changes (see the module docs for what each subscriber gets). Returns the
    /// object's version after it.
    pub fn update(
        &self,
        app: &str,
        name: &str,
        author: Author,
        updates: Vec<Update>,
    ) -> Result<u32, Refusal> {
        let limits = self.limits;
        let mut apps = lock(&self.apps);
        let object = apps
            .get_mut(app)
            .and_then(|objects| objects.get_mut(name))
            .ok_or(Refusal::NotInUse)?;
        if let Some(id) = author.client() {
            if !object.subscribers.contains_key(&id) {
                return Err(Refusal::NotInUse);
            }
        }
        let new_version = object.version.wrapping_add(1).max(1);
        let mut to_author = Vec::new();
        let mut to_others = Vec::new();
        for update in updates {
            let (slot, value) = match update {
                Update::Set { slot, value } if !matches!(value, Value::Null | Value::Undefined) => {
                    (slot, Some(value))
                }
                Update::Set { slot, .. } | Update::Delete { slot } => (slot, None),
            };
            let stale = match (author, object.slots.get(&slot)) {
                (Author::Client { id, version }, Some(state)) => {
                    state.changed_at > version && state.changed_by != Some(id)
                }
                _ => false,
            };
            if stale {
                to_author.push(object.current(&slot));
                continue;
            }
            match value {
                Some(value) => {
                    let size = encoded_len(&slot, &value);
                    let old = object.slots.get(&slot).map_or(0, |s| s.size);
                    let slots = object.slots.len()
                        + usize::from(old == 0 && !object.slots.contains_key(&slot));
                    let bytes = object.bytes - old + size;
                    if slots > limits.max_slots || bytes > limits.max_bytes {
                        to_author.push(object.current(&slot));
                        continue;
                    }
                    object.bytes = bytes;
                    to_others.push(SoEvent::Change {
                        slot: slot.clone(),
                        value: value.clone(),
                    });
                    to_author.push(SoEvent::Success { slot: slot.clone() });
                    object.slots.insert(
                        slot,
                        Slot {
                            value,
                            size,
                            changed_at: new_version,
                            changed_by: author.client(),
                        },
                    );
                }
                None => {
                    if let Some(old) = object.slots.remove(&slot) {
                        object.bytes -= old.size;
                        to_others.push(SoEvent::Remove { slot: slot.clone() });
                    }
                    to_author.push(SoEvent::Success { slot });
                }
            }
        }
        if !to_others.is_empty() {
            object.version = new_version;
            self.persist(app, name, object);
        }
        let (version, persistent) = (object.version, object.persistent);
        let message = |events| SharedObjectMessage {
            name: name.to_owned(),
            version,
            persistent,
            events,
        };
        if let Some(id) = author.client() {
            if let Some(subscriber) = object.subscribers.get(&id) {
                let delivery = Delivery::build(
                    &message(to_author),
                    true,
                    std::iter::once(subscriber),
                    self.chunk_size,
                );
                deliver(subscriber, &Arc::new(delivery));
            }
        }
        if !to_others.is_empty() {
            let others = || {
                object
                    .subscribers
                    .values()
                    .filter(|s| Some(s.client) != author.client())
            };
            let delivery = Arc::new(Delivery::build(
                &message(to_others),
                true,
                others(),
                self.chunk_size,
            ));
            for subscriber in others() {
                deliver(subscriber, &delivery);
            }
        }
        Ok(version)
    }

    /// Answers changes that were not allowed (no write access, over the rate) with the
    /// current values, so the author's copy is right again.
    pub fn refuse(&self, app: &str, name: &str, client: u64, slots: &[String]) {
        let apps = lock(&self.apps);
        let Some(object) = apps.get(app).and_then(|objects| objects.get(name)) else {
            return;
        };
        let Some(subscriber) = object.subscribers.get(&client) else {
            return;
        };
        let mut message = SharedObjectMessage::new(name, object.version, object.persistent);
        message.events = slots.iter().map(|slot| object.current(slot)).collect();
        if message.events.is_empty() {
            return;
        }
        let delivery =
            Delivery::build(&message, true, std::iter::once(subscriber), self.chunk_size);
        deliver(subscriber, &Arc::new(delivery));
    }

    /// `send`: the handler call goes to every subscriber. Returns how many.
    pub fn send(
        &self,
        app: &str,
        name: &str,
        sender: Option<u64>,
        handler: &str,
        args: Vec<Value>,
    ) -> Result<usize, Refusal> {
        let apps = lock(&self.apps);
        let object = apps
            .get(app)
            .and_then(|objects| objects.get(name))
            .ok_or(Refusal::NotInUse)?;
        if sender.is_some_and(|id| !object.subscribers.contains_key(&id)) {
            return Err(Refusal::NotInUse);
        }
        let message = SharedObjectMessage::new(name, object.version, object.persistent).with(
            SoEvent::SendMessage {
                handler: handler.to_owned(),
                args,
            },
        );
        let delivery = Arc::new(Delivery::build(
            &message,
            false,
            object.subscribers.values(),
            self.chunk_size,
        ));
        for subscriber in object.subscribers.values() {
            deliver(subscriber, &delivery);
        }
        Ok(object.subscribers.len())
    }

    /// Empties an object (a new version); every subscriber gets clear.
    pub fn clear(&self, app: &str, name: &str) -> Result<u32, Refusal> {
        let mut apps = lock(&self.apps);
        let object = apps
            .get_mut(app)
            .and_then(|objects| objects.get_mut(name))
            .ok_or(Refusal::NotInUse)?;
        object.slots.clear();
        object.bytes = 0;
        object.version = object.version.wrapping_add(1).max(1);
        self.persist(app, name, object);
        let message =
            SharedObjectMessage::new(name, object.version, object.persistent).with(SoEvent::Clear);
        let delivery = Arc::new(Delivery::build(
            &message,
            true,
            object.subscribers.values(),
            self.chunk_size,
        ));
        for subscriber in object.subscribers.values() {
            deliver(subscriber, &delivery);
        }
        Ok(object.version)
    }

    /// A fresh copy (clear and every slot, at the current version) for a subscriber that fell
    /// behind; `None` if it no longer uses the object.
    pub fn resync(&self, app: &str, name: &str, client: u64) -> Option<SharedObjectMessage> {
        let apps = lock(&self.apps);
        let object = apps.get(app)?.get(name)?;
        object
            .subscribers
            .contains_key(&client)
            .then(|| object.full_copy(name, false))
    }

    /// Every object of `app`.
    pub fn list(&self, app: &str) -> Vec<Summary> {
        let apps = lock(&self.apps);
        apps.get(app)
            .map(|objects| {
                objects
                    .iter()
                    .map(|(name, object)| Summary {
                        name: name.clone(),
                        version: object.version,
                        persistent: object.persistent,
                        slots: object.slots.len(),
                        subscribers: object.subscribers.len(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An object's version, persistence and slots.
    pub fn get(&self, app: &str, name: &str) -> Option<Snapshot> {
        let apps = lock(&self.apps);
        let object = apps.get(app)?.get(name)?;
        let slots = object
            .slots
            .iter()
            .map(|(k, s)| (k.clone(), s.value.clone()))
            .collect();
        Some((object.version, object.persistent, slots))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(limits: Limits) -> SharedObjects {
        SharedObjects::with_store(limits, 128, Store::new("/nonexistent/so".into()))
    }

    fn limits() -> Limits {
        Limits {
            per_app: 2,
            max_slots: 3,
            max_bytes: 100,
        }
    }

    struct Client {
        id: u64,
        rx: mpsc::Receiver<Mail>,
        tx: mpsc::Sender<Mail>,
        lagged: Arc<AtomicBool>,
    }

    impl Client {
        fn new(id: u64, mailbox: usize) -> Client {
            let (tx, rx) = mpsc::channel(mailbox);
            Client {
                id,
                rx,
                tx,
                lagged: Arc::default(),
            }
        }

        fn subscriber(&self) -> Subscriber {
            Subscriber {
                client: self.id,
                encoding: SoEncoding::Amf0,
                mailbox: self.tx.clone(),
                lagged: Arc::clone(&self.lagged),
            }
        }

        /// The messages in the mailbox, decoded.
        fn mail(&mut self) -> Vec<SharedObjectMessage> {
            let mut out = Vec::new();
            while let Ok(mail) = self.rx.try_recv() {
                if let Mail::SharedObject(delivery) = mail {
                    let chunks = delivery.chunks(SoEncoding::Amf0).unwrap();
                    let mut decoder = rtmpws_protocol::chunk::ChunkDecoder::new(
                        rtmpws_protocol::chunk::DecoderLimits::default(),
                    );
                    // The per-connection first header, then the shared body, as a session sends them.
                    let mut header = bytes::BytesMut::new();
                    rtmpws_protocol::chunk::ChunkEncoder::new()
                        .encode_shared_header(chunks, rtmpws_protocol::StreamId(0), &mut header)
                        .unwrap();
                    decoder.push(&header);
                    decoder.push(chunks.body());
                    let raw = decoder.next_message().unwrap().unwrap();
                    out.push(
                        SharedObjectMessage::decode(
                            SoEncoding::Amf0,
                            &raw.payload,
                            Default::default(),
                        )
                        .unwrap(),
                    );
                }
            }
            out
        }
    }

    fn set(slot: &str, value: impl Into<Value>) -> Update {
        Update::Set {
            slot: slot.into(),
            value: value.into(),
        }
    }

    #[test]
    fn use_change_reject_and_release_as_fms_does() {
        let objects = registry(limits());
        let (mut a, mut b) = (Client::new(1, 16), Client::new(2, 16));
        assert_eq!(
            objects.use_object("live", "chat", false, 0, false, a.subscriber()),
            Ok(1)
        );
        assert_eq!(a.mail()[0].events, [SoEvent::UseSuccess, SoEvent::Clear]);
        let author = |id, version| Author::Client { id, version };
        assert_eq!(
            objects.update("live", "chat", author(1, 1), vec![set("n", 1.0)]),
            Ok(2)
        );
        assert_eq!(a.mail()[0].events, [SoEvent::Success { slot: "n".into() }]);
        objects
            .use_object("live", "chat", false, 0, false, b.subscriber())
            .unwrap();
        let initial = b.mail();
        assert_eq!(initial[0].version, 2);
        assert_eq!(
            initial[0].events,
            [
                SoEvent::UseSuccess,
                SoEvent::Clear,
                SoEvent::Change {
                    slot: "n".into(),
                    value: 1.0.into()
                }
            ]
        );
        // Both change n from version 2: a first, then b, who loses and gets a's value.
        objects
            .update("live", "chat", author(1, 2), vec![set("n", 10.0)])
            .unwrap();
        assert_eq!(
            objects.update("live", "chat", author(2, 2), vec![set("n", 20.0)]),
            Ok(3)
        );
        let b_mail = b.mail();
        assert_eq!(
            b_mail
                .iter()
                .map(|m| (m.version, m.events.clone()))
                .collect::<Vec<_>>(),
            [
                (
                    3,
                    vec![SoEvent::Change {
                        slot: "n".into(),
                        value: 10.0.into()
                    }]
                ),
                (
                    3,
                    vec![SoEvent::Change {
                        slot: "n".into(),
                        value: 10.0.into()
                    }]
                )
            ]
        );
        // a's own later change from its old version is not held against it.
        assert_eq!(
            objects.update("live", "chat", author(1, 2), vec![set("n", 11.0)]),
            Ok(4)
        );
        a.mail();
        // Null deletes; others hear remove.
        objects
            .update("live", "chat", author(2, 4), vec![set("n", Value::Null)])
            .unwrap();
        b.mail();
        assert_eq!(a.mail()[0].events, [SoEvent::Remove { slot: "n".into() }]);
        // Send reaches both.
        assert_eq!(objects.send("live", "chat", Some(1), "hi", vec![]), Ok(2));
        assert_eq!(a.mail().len() + b.mail().len(), 2);
        // The last one out takes a non-persistent object along.
        objects.release("live", "chat", 1);
        objects.release_client("live", 2);
        assert!(objects.list("live").is_empty());
        assert_eq!(
            objects.update("live", "chat", Author::Admin, vec![]),
            Err(Refusal::NotInUse)
        );
    }

    #[test]
    fn limits_refuse_cleanly() {
        let objects = registry(limits());
        let mut a = Client::new(1, 64);
        for name in ["one", "two"] {
            objects
                .use_object("live", name, false, 0, false, a.subscriber())
                .unwrap();
        }
        assert_eq!(
            objects.use_object("live", "three", false, 0, false, a.subscriber()),
            Err(Refusal::ObjectCreationFailed)
        );
        assert_eq!(
            objects.use_object("live", "../x", false, 0, false, a.subscriber()),
            Err(Refusal::ObjectCreationFailed)
        );
        assert_eq!(
            objects.use_object("live", "one", true, 0, true, a.subscriber()),
            Err(Refusal::BadPersistence)
        );
        assert_eq!(
            objects.use_object("other", "p", true, 0, false, a.subscriber()),
            Err(Refusal::BadPersistence)
        );
        a.mail();
        // Three slots fit, the fourth is rejected (remove: it has no value).
        let author = Author::Client { id: 1, version: 1 };
        let batch = ["a", "b", "c", "d"].map(|s| set(s, 1.0)).to_vec();
        assert_eq!(objects.update("live", "one", author, batch), Ok(2));
        let events = &a.mail()[0].events;
        assert_eq!(events[3], SoEvent::Remove { slot: "d".into() });
        // Too many bytes: rejected with the current value.
        let big = "x".repeat(200);
        objects
            .update("live", "one", author, vec![set("a", big.as_str())])
            .unwrap();
        assert_eq!(
            a.mail()[0].events,
            [SoEvent::Change {
                slot: "a".into(),
                value: 1.0.into()
            }]
        );
        assert_eq!(objects.get("live", "one").unwrap().0, 2);
    }

    #[test]
    fn a_subscriber_whose_mailbox_overflows_is_marked_for_a_fresh_copy() {
        let objects = registry(Limits {
            per_app: 10,
            max_slots: 100,
            max_bytes: 1 << 20,
        });
        let mut slow = Client::new(1, 2);
        let mut fast = Client::new(2, 64);
        objects
            .use_object("live", "o", false, 0, false, slow.subscriber())
            .unwrap();
        objects
            .use_object("live", "o", false, 0, false, fast.subscriber())
            .unwrap();
        for n in 0..5 {
            let author = Author::Client {
                id: 2,
                version: n + 1,
            };
            objects
                .update("live", "o", author, vec![set("n", f64::from(n))])
                .unwrap();
        }
        assert!(slow.lagged.load(Ordering::Acquire));
        assert!(!fast.lagged.load(Ordering::Acquire));
        assert_eq!(slow.mail().len(), 2);
        let copy = objects.resync("live", "o", 1).unwrap();
        assert_eq!(copy.version, 6);
        assert_eq!(
            copy.events,
            [
                SoEvent::Clear,
                SoEvent::Change {
                    slot: "n".into(),
                    value: 4.0.into()
                }
            ]
        );
        assert_eq!(fast.mail().len(), 6);
    }

    #[test]
    fn admin_changes_reach_everyone_and_clear_empties() {
        let objects = registry(limits());
        let mut a = Client::new(1, 16);
        objects
            .use_object("live", "o", false, 0, false, a.subscriber())
            .unwrap();
        a.mail();
        assert_eq!(
            objects.update("live", "o", Author::Admin, vec![set("k", "v")]),
            Ok(2)
        );
        assert_eq!(
            a.mail()[0].events,
            [SoEvent::Change {
                slot: "k".into(),
                value: "v".into()
            }]
        );
        assert_eq!(objects.clear("live", "o"), Ok(3));
        assert_eq!(a.mail()[0].events, [SoEvent::Clear]);
        assert_eq!(
            objects.list("live"),
            [Summary {
                name: "o".into(),
                version: 3,
                persistent: false,
                slots: 0,
                subscribers: 1
            }]
        );
    }
}
