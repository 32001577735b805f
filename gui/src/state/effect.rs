//! What the state asks of the world: every intent and every `apply` returns
//! one list of [`Effect`]s, and the app (`app.rs`) carries them out in one
//! place — network commands to the network side, media commands to the media
//! actor, notifications to the desktop or browser, sounds to the speakers.

use super::CallSound;
use crate::media::protocol::MediaCommand;
use crate::net::Command;

/// One thing the state wants done outside itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A command for the network side.
    Net(Command),
    /// A request for the media actor (devices, the call test, the call).
    Media(MediaCommand),
    /// A desktop (or browser) notification; a batch with any plays the chime once.
    Notify {
        /// Its title.
        title: String,
        /// Its text.
        body: String,
    },
    /// A join or leave sound; several in one batch play as one (the last).
    Sound(CallSound),
}

impl From<Command> for Effect {
    fn from(command: Command) -> Self {
        Effect::Net(command)
    }
}

impl From<MediaCommand> for Effect {
    fn from(command: MediaCommand) -> Self {
        Effect::Media(command)
    }
}
