//! The emoji picker: what a picked emoji is for (a message's reactions or a
//! composer), the search typed into it, and — remembered across restarts —
//! the emoji used lately and the skin tone chosen.

use concord_common::{Conversation as Where, MessageId};
use serde::{Deserialize, Serialize};

use super::{AppState, Effect};

/// Most recently used emoji remembered.
pub const RECENT_EMOJI: usize = 24;

/// Where a picked emoji goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickFor {
    /// My reaction to this message.
    Reaction(Where, MessageId),
    /// The end of this conversation's composer.
    Composer(Where),
}

/// The open picker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmojiPicker {
    /// Where the pick goes.
    pub target: PickFor,
    /// What is searched for (names, shortcodes).
    pub query: String,
    /// Put the keyboard in the search field on the next frame.
    pub focus: bool,
}

/// What the picker remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmojiPrefs {
    /// The emoji used, most recent first (as picked: with their skin tone).
    #[serde(default)]
    pub recent: Vec<String>,
    /// 0: the default yellow; 1–5: light to dark.
    #[serde(default)]
    pub skin_tone: u8,
}

impl AppState {
    /// Opens the picker for `target`.
    pub fn open_emoji_picker(&mut self, target: PickFor) {
        self.emoji_picker = Some(EmojiPicker { target, query: String::new(), focus: true });
    }

    /// Closes the picker without picking.
    pub fn close_emoji_picker(&mut self) {
        self.emoji_picker = None;
    }

    /// `emoji` was picked: it goes where the picker was opened for, and to
    /// the front of the recently used ones. The picker closes.
    pub fn pick_emoji(&mut self, emoji: &str) -> Vec<Effect> {
        let Some(picker) = self.emoji_picker.take() else { return vec![] };
        let recent = &mut self.persisted.emoji.recent;
        recent.retain(|e| e != emoji);
        recent.insert(0, emoji.to_owned());
        recent.truncate(RECENT_EMOJI);
        match picker.target {
            PickFor::Reaction(place, id) => self.toggle_reaction(place, id, emoji),
            PickFor::Composer(place) => {
                self.append_to_draft(place, emoji);
                vec![]
            }
        }
    }

    /// Chooses the skin tone the picker shows (0: default, 1–5: light to dark).
    pub fn set_skin_tone(&mut self, tone: u8) {
        self.persisted.emoji.skin_tone = tone.min(5);
    }
}
