//! rtmpws-gateway: RTMP for publishers and players over TCP, and for browsers over WebSocket.
//!
//! The layout, from the door inwards (`server/README.md` follows one media message and one
//! play request through these files):
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | flags and the TOML file |
//! | [`listen`] | listeners, the accept loops, the connection limit, the shutdown sequence |
//! | [`tls`] | the certificate and key, TLS handshakes for https:// and rtmps:// |
//! | [`admission`] | the door: per-address limits, the budget of half-finished handshakes, shedding |
//! | [`http`] | the demo page, the client package, WebSocket upgrades |
//! | [`request_head`] | the one (pure) reading of an HTTP request head |
//! | [`proxy`] | the client's address behind trusted proxies (X-Forwarded-For, PROXY protocol) |
//! | [`api`] | `/metrics`, and the admin API's stats, kick and reload routes under `/api/v1/` |
//! | [`transport`] | TCP and WebSocket as one byte stream with batched writes |
//! | [`driver`] | one task per connection: the select loop over transport, feeds, timers, shutdown |
//! | [`connection`] | a connection's plain state: its session, the role of each NetStream, dispatch of session events |
//! | [`policy`] | who may connect, publish, play and record: one decision per action |
//! | [`apps`] | each application's rules as configured (access, recording, secret, callbacks) |
//! | [`signing`] | signed stream names (`NAME?sign=EXPIRES-HEX`) |
//! | [`hooks`] | HTTP callbacks compatible with nginx-rtmp's notify module |
//! | [`routing`] | where a play request goes: live stream, recorded item, wait, or StreamNotFound |
//! | [`roles`] | publisher, live subscriber, recorded player: each one's own state |
//! | [`lag`] | slow subscribers: InsufficientBW, skipping to a keyframe, disconnecting |
//! | [`names`] | stream names: live keys and the files they may (never outside their folder) name |
//! | [`gateway`] | what connections share, and the settings swapped whole on a reload |
//! | [`reload`] | rereading the configuration on SIGHUP or through the admin API |
//! | [`clients`] | the live connections as the admin API and the metrics see them; kicks |
//! | [`metrics`] | Prometheus counters and gauges |
//! | [`mailboxes`] | what reaches a connection from elsewhere (shared object updates, admin calls) |
//! | [`live`] | live streams: registry, GOP cache, fan-out of shared chunks |
//! | [`vod`] | recorded items: library, keyframe index, the player task |
//! | [`record`] | recording live streams to FLV |
//! | [`relay`] | push to and pull from other RTMP servers (edges and origins) |
//! | [`sync`] | locks that survive a panicked holder |
//! | [`shared_objects`] | remote shared objects per application: versions, fan-out, persistence |
//! | [`admin`] | the admin API's shared-object and client-call routes under `/api/v1/` |
//! | [`json`] | AMF values as JSON, for `call_url` and the admin API |

pub mod admin;
pub mod admission;
pub mod api;
pub mod apps;
pub mod clients;
pub mod config;
pub mod connection;
pub mod driver;
pub mod gateway;
pub mod hooks;
pub mod http;
pub mod json;
pub mod lag;
pub mod listen;
pub mod live;
pub mod mailboxes;
pub mod metrics;
pub mod names;
pub mod policy;
pub mod proxy;
pub mod record;
pub mod relay;
pub mod reload;
pub mod request_head;
pub mod roles;
pub mod routing;
pub mod shared_objects;
pub mod signing;
pub mod sync;
pub mod tls;
pub mod transport;
pub mod vod;
