//! HTTP callbacks as nginx-rtmp's notify module makes them, so auth backends written for it
//! work unchanged: a form POST (`application/x-www-form-urlencoded`) with `call`, `app`,
//! `flashver`, `swfurl`, `tcurl`, `pageurl`, `addr`, `clientid`, the call's own fields
//! (`name`, `type` for publish; `name`, `start`, `duration`, `reset` for play; `path` for
//! record_done) and the stream name's query arguments.
//!
//! Asked before connect, publish and play ([`Hooks::ask`]): a 2xx answer allows, a 3xx
//! with a plain `Location` renames the stream, a 3xx to an `rtmp://` URL makes a relay (a
//! publish is also pushed there, a play is pulled from there; see [`crate::relay`]),
//! anything else, an error or no answer within `hook_timeout_secs` refuses. Told when a publish, a play or a recording ends
//! ([`Hooks::tell`]): the answer changes nothing. A call never blocks other connections,
//! and at most [`MAX_IN_FLIGHT`] run at once: past that, asks are refused and tells dropped,
//! so a slow backend cannot pile up tasks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tracing::{debug, warn};

use crate::metrics::Metrics;
use crate::relay::RelayUrl;

/// Callbacks running at once, gateway-wide.
pub const MAX_IN_FLIGHT: usize = 256;
/// Longest `Location` a rename may give (a stream name, not a document).
const MAX_LOCATION: usize = 1024;

/// Which callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Connect,
    Publish,
    Play,
    PublishDone,
    PlayDone,
    RecordDone,
}

impl Call {
    /// The `call` field, as nginx-rtmp names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Call::Connect => "connect",
            Call::Publish => "publish",
            Call::Play => "play",
            Call::PublishDone => "publish_done",
            Call::PlayDone => "play_done",
            Call::RecordDone => "record_done",
        }
    }
}

/// What a backend said to an ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Allow,
    /// Go on under this stream name (a 3xx with a plain Location).
    Rename(String),
    /// Go on, relaying: a publish is pushed to this URL too, a play pulled from it (a 3xx
    /// with an `rtmp://` Location).
    Relay(Box<RelayUrl>),
    Refuse(String),
}

/// The fields of a connection that every call carries.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub app: String,
    pub flashver: String,
    pub swfurl: String,
    pub tcurl: String,
    pub pageurl: String,
    pub addr: String,
    pub clientid: String,
}

/// One call's form: the client's fields, the call's own, then the name's query arguments.
pub fn form(
    call: Call,
    client: &Client,
    fields: &[(&str, String)],
    query: Option<&str>,
) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = [
        ("call", call.as_str().to_owned()),
        ("app", client.app.clone()),
        ("flashver", client.flashver.clone()),
        ("swfurl", client.swfurl.clone()),
        ("tcurl", client.tcurl.clone()),
        ("pageurl", client.pageurl.clone()),
        ("addr", client.addr.clone()),
        ("clientid", client.clientid.clone()),
    ]
    .into_iter()
    .chain(fields.iter().cloned())
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(query) = query {
        form.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
    }
    form
}

/// The meaning of a backend's answer to an ask.
pub fn answer(status: u16, location: Option<&str>) -> Answer {
    match status {
        200..=299 => Answer::Allow,
        300..=399 => match location {
            Some(url) if url.starts_with("rtmp://") || url.starts_with("rtmps://") => {
                match RelayUrl::parse(url) {
                    Ok(url) => Answer::Relay(Box::new(url)),
                    Err(e) => Answer::Refuse(format!("the callback redirects to a relay: {e}")),
                }
            }
            Some(name) if !name.is_empty() && name.len() <= MAX_LOCATION => {
                Answer::Rename(name.to_owned())
            }
            _ => Answer::Refuse(format!(
                "the callback answered {status} without a usable Location"
            )),
        },
        _ => Answer::Refuse(format!("the callback answered {status}")),
    }
}

/// The gateway's callback client.
pub struct Hooks {
    http: reqwest::Client,
    /// `hook_timeout_secs`, in ms; a reread configuration changes it.
    timeout_ms: AtomicU64,
    in_flight: Arc<Semaphore>,
    /// Where each call's latency goes.
    metrics: Arc<Metrics>,
}

impl Hooks {
    pub fn new(timeout: Duration, metrics: Arc<Metrics>) -> Hooks {
        let http = reqwest::Client::builder()
            // A 3xx is an answer (a rename), not a place to go.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| {
                warn!("HTTP callbacks with default settings: {e}");
                reqwest::Client::new()
            });
        Hooks {
            http,
            timeout_ms: AtomicU64::new(duration_ms(timeout)),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            metrics,
        }
    }

    /// How long calls from now on may take.
    pub fn set_timeout(&self, timeout: Duration) {
        self.timeout_ms
            .store(duration_ms(timeout), Ordering::Relaxed);
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.load(Ordering::Relaxed))
    }

    /// Asks `url` whether to go on; see [`answer`].
    pub async fn ask(&self, url: &str, form: Vec<(String, String)>) -> Answer {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return Answer::Refuse(format!("{MAX_IN_FLIGHT} callbacks are already waiting"));
        };
        let call = call_of(&form);
        let timeout = self.timeout();
        let sent = self.http.post(url).form(&form).send();
        let asked = Instant::now();
        let result = tokio::time::timeout(timeout, sent).await;
        self.metrics.hook_answered(&call, asked.elapsed());
        match result {
            Ok(Ok(response)) => {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok());
                answer(response.status().as_u16(), location)
            }
            Ok(Err(e)) => Answer::Refuse(format!("the callback failed: {e}")),
            Err(_) => Answer::Refuse(format!(
                "the callback gave no answer in {} s",
                timeout.as_secs()
            )),
        }
    }

    /// POSTs `body` (JSON) to `url` and reads a JSON answer of at most `max_bytes`, within
    /// `timeout`; the error says why not, for the client's `_error` description.
    pub async fn call_json(
        &self,
        url: &str,
        body: Vec<u8>,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<serde_json::Value, String> {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return Err(format!("{MAX_IN_FLIGHT} callbacks are already waiting"));
        };
        let call = async {
            let mut response = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| format!("the call failed: {e}"))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("call_url answered {}", status.as_u16()));
            }
            let mut answer = Vec::new();
            while let Some(piece) = response
                .chunk()
                .await
                .map_err(|e| format!("the answer broke off: {e}"))?
            {
                if answer.len() + piece.len() > max_bytes {
                    return Err(format!("the answer is over {max_bytes} bytes"));
                }
                answer.extend_from_slice(&piece);
            }
            serde_json::from_slice(&answer).map_err(|e| format!("the answer is not JSON: {e}"))
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer in {} s", timeout.as_secs())),
        }
    }

    /// Tells `url` something ended, in the background.
    pub fn tell(&self, url: &str, form: Vec<(String, String)>) {
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            return warn!(url, "callback dropped: {MAX_IN_FLIGHT} already running");
        };
        let call = call_of(&form);
        let request = self.http.post(url).form(&form).send();
        let (url, timeout) = (url.to_owned(), self.timeout());
        let metrics = Arc::clone(&self.metrics);
        tokio::spawn(async move {
            let told = Instant::now();
            let result = tokio::time::timeout(timeout, request).await;
            metrics.hook_answered(&call, told.elapsed());
            match result {
                Ok(Ok(response)) => debug!(%url, status = %response.status(), "callback told"),
                Ok(Err(e)) => debug!(%url, "callback failed: {e}"),
                Err(_) => debug!(%url, "callback timed out"),
            }
            drop(permit);
        });
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The `call` field of a form (see [`form`]), for the latency metric's label.
fn call_of(form: &[(String, String)]) -> String {
    form.first()
        .filter(|(key, _)| key == "call")
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_allow_rename_or_refuse_as_nginx_rtmp_reads_them() {
        assert_eq!(answer(200, None), Answer::Allow);
        assert_eq!(answer(204, Some("x")), Answer::Allow);
        assert_eq!(answer(302, Some("other")), Answer::Rename("other".into()));
        assert!(matches!(answer(302, None), Answer::Refuse(_)));
        assert!(matches!(answer(301, Some("")), Answer::Refuse(_)));
        assert!(matches!(
            answer(302, Some(&"n".repeat(2000))),
            Answer::Refuse(_)
        ));
        assert_eq!(
            answer(302, Some("rtmp://origin/live/x")),
            Answer::Relay(Box::new(RelayUrl::parse("rtmp://origin/live/x").unwrap()))
        );
        for bad in ["rtmps://origin/live/x", "rtmp://origin", "rtmp://:1/live"] {
            assert!(matches!(answer(302, Some(bad)), Answer::Refuse(_)), "{bad}");
        }
        for status in [100, 400, 401, 403, 404, 500, 503] {
            assert!(
                matches!(answer(status, None), Answer::Refuse(_)),
                "{status}"
            );
        }
    }

    #[test]
    fn a_form_has_the_clients_fields_the_calls_and_the_query_arguments() {
        let client = Client {
            app: "live".into(),
            flashver: "FMLE/3.0".into(),
            swfurl: String::new(),
            tcurl: "rtmp://h/live".into(),
            pageurl: String::new(),
            addr: "127.0.0.1".into(),
            clientid: "7".into(),
        };
        let form = form(
            Call::Publish,
            &client,
            &[("name", "cam".into()), ("type", "live".into())],
            Some("token=a%20b&x=1"),
        );
        let keys: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "call", "app", "flashver", "swfurl", "tcurl", "pageurl", "addr", "clientid",
                "name", "type", "token", "x"
            ]
        );
        assert_eq!(form[0].1, "publish");
        assert_eq!(form[10], ("token".to_owned(), "a b".to_owned()));
    }
}
