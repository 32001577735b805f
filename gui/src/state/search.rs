//! Message search (Ctrl+F): words asked of the server, over every DM and room
//! or the open conversation, a page of hits at a time, newest first; opening
//! a hit opens its conversation scrolled to it (older pages loaded as needed).

use concord_common::{Conversation as Where, ErrorBody, MessageId, SearchHit, SearchPage};

use super::{AppState, Effect};
use crate::net::Command;

/// The search window.
#[derive(Debug, Default)]
pub struct MessageSearch {
    /// Whether the window is open.
    pub open: bool,
    /// The words being typed.
    pub words: String,
    /// Search only the conversation that is open (when one is).
    pub here_only: bool,
    /// The search the hits answer: its words and where.
    pub asked: Option<(String, Option<Where>)>,
    /// Hits so far, newest first.
    pub hits: Vec<SearchHit>,
    /// Whether older hits exist.
    pub has_more: bool,
    /// A page is on its way.
    pub loading: bool,
    /// Why the last search failed.
    pub error: Option<String>,
    /// Moves the keyboard focus to the field on the next frame.
    pub focus_field: bool,
    /// The number of the latest search (answers to older ones are dropped).
    seq: u64,
}

impl AppState {
    /// Ctrl+F or the Search button: the window, with the field focused.
    pub fn open_search(&mut self) {
        self.search.open = true;
        self.search.focus_field = true;
    }

    /// Closes the search window (its words and hits stay for next time).
    pub fn close_search(&mut self) {
        self.search.open = false;
    }

    /// The open conversation, if any: where "only here" searches.
    pub fn open_place(&self) -> Option<Where> {
        match (self.selected_room, self.selected) {
            (Some(room), _) => Some(Where::Room(room)),
            (None, Some(peer)) => Some(Where::Dm(peer)),
            (None, None) => None,
        }
    }

    /// Enter in the field: asks for the first page of hits.
    pub fn submit_search(&mut self) -> Vec<Effect> {
        let words = self.search.words.trim().to_owned();
        if !words.chars().any(char::is_alphanumeric) {
            self.search.error = Some("Type a word to search for.".into());
            return vec![];
        }
        let within = self.open_place().filter(|_| self.search.here_only);
        let search = &mut self.search;
        search.seq += 1;
        search.asked = Some((words.clone(), within));
        search.hits.clear();
        search.has_more = false;
        search.loading = true;
        search.error = None;
        vec![Command::Search { seq: search.seq, words, within, before: None }.into()]
    }

    /// "Older results": the next page of the same search.
    pub fn more_search_results(&mut self) -> Vec<Effect> {
        let search = &mut self.search;
        let (Some((words, within)), Some(last)) = (search.asked.clone(), search.hits.last()) else {
            return vec![];
        };
        if search.loading || !search.has_more {
            return vec![];
        }
        search.loading = true;
        vec![Command::Search { seq: search.seq, words, within, before: Some(last.id) }.into()]
    }

    /// A page of hits (or why not) for search `seq`.
    pub(super) fn on_search_results(
        &mut self,
        seq: u64,
        before: Option<MessageId>,
        page: Result<SearchPage, ErrorBody>,
    ) {
        let search = &mut self.search;
        if seq != search.seq {
            return;
        }
        search.loading = false;
        match page {
            Ok(page) => {
                if before.is_none() {
                    search.hits.clear();
                }
                search.hits.extend(page.messages);
                search.has_more = page.has_more;
            }
            Err(error) => search.error = Some(error.message),
        }
    }

    /// Clicking a hit: its conversation, scrolled to it.
    pub fn open_search_hit(&mut self, place: Where, id: MessageId) -> Vec<Effect> {
        self.search.open = false;
        let mut effects = match place {
            Where::Dm(peer) => self.select(peer),
            Where::Room(room) => self.select_room(room),
        };
        effects.extend(self.show_original(place, id));
        effects
    }

    /// A name for the place of a hit: the friend's or the room's.
    pub fn place_name(&self, place: Where) -> String {
        match place {
            Where::Dm(peer) => {
                self.friend(peer).map_or_else(|| "a former friend".into(), |f| f.user.username.clone())
            }
            Where::Room(room) => self.room(room).map_or_else(|| "a room".into(), |r| r.label.clone()),
        }
    }
}
