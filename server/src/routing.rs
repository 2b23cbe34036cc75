//! Where a `play(name, start, len, reset)` goes, by FMS's rules:
//!
//! | start | the live stream is published | a recorded item exists | route |
//! |---|---|---|---|
//! | -2 (default) | yes | any | live |
//! | -2 | no | yes | the recorded item, from its start |
//! | -2 | no | no | live, waiting for a publisher |
//! | -1 | any | any | live (waiting if unpublished); recorded items are never played |
//! | >= 0 | any | yes | the recorded item from `start` seconds |
//! | >= 0 | any | no | Play.StreamNotFound |
//!
//! `len` -1 plays to the end, 0 a single frame, more that many seconds (recorded items
//! only). `reset = false` while a recorded item plays queues the name after it, whatever
//! `start` says (a missing one is reported when its turn comes). A name that could leave
//! its folder is never a recorded item; where one would be played it is StreamNotFound.
//!
//! Pure: the caller says whether the stream is published and how to look up the file.

use rtmpws_protocol::server::PlayRequest;

use crate::vod::PlayItem;

/// Whether a play name leads to a recorded item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Found,
    Missing,
    /// The name could leave its folder.
    BadName,
}

/// What to do with a play request.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayRoute {
    /// Queue the item after the recorded item playing on this stream.
    Queue(PlayItem),
    /// Play the recorded item (its playlist flushed first when `reset`).
    Recorded { item: PlayItem, reset: bool },
    /// Subscribe to the live stream; `waiting` when nobody publishes it yet, so the
    /// subscriber hears Play.PublishNotify when someone does.
    Live { reset: bool, waiting: bool },
    /// Play.StreamNotFound.
    NotFound,
}

/// Routes `request`. `playing_recorded`: this NetStream plays a recorded item now.
/// `published`: someone publishes the live stream of that name now. `find_recorded` is
/// called only when a recorded item could be played (it touches the file system).
pub fn route_play(
    request: &PlayRequest,
    playing_recorded: bool,
    published: bool,
    find_recorded: impl FnOnce() -> Recorded,
) -> PlayRoute {
    let item = || PlayItem::from_play(&request.name, request.start, request.len);
    if !request.reset && playing_recorded {
        return PlayRoute::Queue(item());
    }
    let live = PlayRoute::Live {
        reset: request.reset,
        waiting: !published,
    };
    let live_only = request.start > -2.0 && request.start < 0.0;
    let recorded_only = request.start >= 0.0;
    if live_only || (published && !recorded_only) {
        return live;
    }
    match find_recorded() {
        Recorded::Found => PlayRoute::Recorded {
            item: item(),
            reset: request.reset,
        },
        Recorded::BadName => PlayRoute::NotFound,
        Recorded::Missing if recorded_only => PlayRoute::NotFound,
        Recorded::Missing => live,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(start: f64, len: f64) -> PlayRequest {
        PlayRequest {
            name: "clip".into(),
            start,
            len,
            reset: true,
        }
    }

    fn item(start_ms: u32, len_ms: Option<u32>) -> PlayItem {
        PlayItem {
            name: "clip".into(),
            start_ms,
            len_ms,
        }
    }

    fn never() -> Recorded {
        panic!("the file system is not consulted for this request")
    }

    const LIVE: PlayRoute = PlayRoute::Live {
        reset: true,
        waiting: false,
    };
    const WAIT: PlayRoute = PlayRoute::Live {
        reset: true,
        waiting: true,
    };

    #[test]
    fn start_minus_2_prefers_the_live_stream_then_the_recorded_item_then_waits() {
        assert_eq!(route_play(&play(-2.0, -1.0), false, true, never), LIVE);
        assert_eq!(
            route_play(&play(-2.0, -1.0), false, false, || Recorded::Found),
            PlayRoute::Recorded {
                item: item(0, None),
                reset: true
            }
        );
        assert_eq!(
            route_play(&play(-2.0, -1.0), false, false, || Recorded::Missing),
            WAIT
        );
        assert_eq!(
            route_play(&play(-2.0, -1.0), false, false, || Recorded::BadName),
            PlayRoute::NotFound
        );
    }

    #[test]
    fn start_minus_1_is_live_only_and_waits_for_a_publisher() {
        assert_eq!(route_play(&play(-1.0, -1.0), false, true, never), LIVE);
        assert_eq!(route_play(&play(-1.0, -1.0), false, false, never), WAIT);
        // Between -2 and 0 is no recorded start either.
        assert_eq!(route_play(&play(-1.5, -1.0), false, false, never), WAIT);
    }

    #[test]
    fn start_0_or_more_is_recorded_only_even_when_the_name_is_live() {
        assert_eq!(
            route_play(&play(0.0, -1.0), false, true, || Recorded::Found),
            PlayRoute::Recorded {
                item: item(0, None),
                reset: true
            }
        );
        assert_eq!(
            route_play(&play(5.5, -1.0), false, false, || Recorded::Found),
            PlayRoute::Recorded {
                item: item(5500, None),
                reset: true
            }
        );
        for published in [false, true] {
            assert_eq!(
                route_play(&play(0.0, -1.0), false, published, || Recorded::Missing),
                PlayRoute::NotFound
            );
            assert_eq!(
                route_play(&play(3.0, -1.0), false, published, || Recorded::BadName),
                PlayRoute::NotFound
            );
        }
    }

    #[test]
    fn len_minus_1_plays_to_the_end_0_one_frame_more_that_many_seconds() {
        let routed = |len| route_play(&play(2.0, len), false, false, || Recorded::Found);
        for (len, len_ms) in [
            (-1.0, None),
            (0.0, Some(0)),
            (1.0, Some(1000)),
            (2.5, Some(2500)),
        ] {
            assert_eq!(
                routed(len),
                PlayRoute::Recorded {
                    item: item(2000, len_ms),
                    reset: true
                },
                "len {len}"
            );
        }
    }

    #[test]
    fn reset_false_queues_after_the_playing_recorded_item_whatever_start_says() {
        for start in [-2.0, -1.0, 0.0, 4.0] {
            let request = PlayRequest {
                reset: false,
                ..play(start, 1.0)
            };
            let start_ms = if start > 0.0 { 4000 } else { 0 };
            assert_eq!(
                route_play(&request, true, true, never),
                PlayRoute::Queue(item(start_ms, Some(1000))),
                "start {start}"
            );
        }
    }

    #[test]
    fn reset_false_without_a_playlist_plays_and_says_it_did_not_reset() {
        let request = PlayRequest {
            reset: false,
            ..play(-2.0, -1.0)
        };
        assert_eq!(
            route_play(&request, false, true, never),
            PlayRoute::Live {
                reset: false,
                waiting: false
            }
        );
        assert_eq!(
            route_play(&request, false, false, || Recorded::Found),
            PlayRoute::Recorded {
                item: item(0, None),
                reset: false
            }
        );
    }

    #[test]
    fn a_start_below_minus_2_counts_as_the_default() {
        assert_eq!(
            route_play(&play(-3.0, -1.0), false, false, || Recorded::Found),
            PlayRoute::Recorded {
                item: item(0, None),
                reset: true
            }
        );
        assert_eq!(route_play(&play(-3.0, -1.0), false, true, never), LIVE);
    }
}
