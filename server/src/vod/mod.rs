//! Recorded streams (VOD): FLV files under the media folder, indexed once, played on a
//! NetStream with FMS's playlist, pause, seek and play2 semantics.

pub mod index;
pub mod library;
pub mod player;

pub use library::{Library, LookupError};
pub use player::{spawn, PlayItem, Transition, VodControl, VodEvent, VodHandle};
