//! One room's call on an engine: its participants, each with the tracks
//! they publish ([`Receiver`]s), the tracks forwarded to them
//! ([`Downtrack`]s), their receiving connection's [`Negotiation`], and the
//! room's [`Router`], which queues each published packet for its subscribers.

use std::collections::HashMap;
use std::hash::Hash;

use concord_common::events::{ForwardedTrack, PublishedTrack, TileView};
use concord_common::UserId;

use crate::downtrack::Downtrack;
use crate::negotiation::Negotiation;
use crate::peer::PeerId;
use crate::receiver::Receiver;
use crate::router::{ParticipantId, Router};

/// A room's call.
pub struct Room<C> {
    /// What is forwarded to whom.
    pub router: Router,
    /// By the participant's connection.
    pub members: HashMap<C, Member<C>>,
}

impl<C> Default for Room<C> {
    fn default() -> Self {
        Self { router: Router::default(), members: HashMap::new() }
    }
}

/// A participant in a room's call.
pub struct Member<C> {
    /// Their name in the Router.
    pub pid: ParticipantId,
    /// Who they are.
    pub user: UserId,
    /// The connection carrying what they publish.
    pub publish_peer: Option<PeerId>,
    /// The connection carrying what they receive.
    pub receive_peer: Option<PeerId>,
    /// What they said their tracks carry.
    pub declared: Vec<PublishedTrack>,
    /// The RTX SSRC of each media SSRC their offers declared.
    pub retransmissions: HashMap<u32, u32>,
    /// The tracks they publish.
    pub published: Vec<Receiver>,
    /// The tracks forwarded to them, by the publisher's SSRC.
    pub downtracks: HashMap<u32, Downtrack<C>>,
    /// Their receiving connection's offers.
    pub negotiation: Negotiation,
    /// How they show the others' videos (`call_view`).
    pub view: Vec<TileView>,
    /// The bitrates their receiving connection was last told to keep up
    /// and to probe for.
    pub probing_for: (u64, u64),
}

impl<C> Member<C> {
    /// `user`, in the Router as `pid`, with no connections yet.
    pub fn new(pid: ParticipantId, user: UserId) -> Self {
        Self {
            pid,
            user,
            publish_peer: None,
            receive_peer: None,
            declared: Vec::new(),
            retransmissions: HashMap::new(),
            published: Vec::new(),
            downtracks: HashMap::new(),
            negotiation: Negotiation::default(),
            view: Vec::new(),
            probing_for: (0, 0),
        }
    }

    /// Whether their view hides the forwarded track `track`.
    pub fn hides(&self, track: &ForwardedTrack) -> bool {
        self.view.iter().any(|t| t.hidden && t.user_id == track.user_id && t.source == track.source)
    }

    /// The size of the tile their view draws the forwarded track `track` in, if it said.
    pub fn tile_size(&self, track: &ForwardedTrack) -> Option<(u32, u32)> {
        let tile = self.view.iter().find(|t| t.user_id == track.user_id && t.source == track.source)?;
        tile.size.map(|size| (size.width, size.height))
    }

    /// Their connections (publishing, receiving), those they have.
    pub fn peers(&self) -> impl Iterator<Item = PeerId> {
        [self.publish_peer, self.receive_peer].into_iter().flatten()
    }
}

impl<C: Copy + Eq + Hash> Room<C> {
    /// Who publishes on stream `ssrc` (a track's, or one of its simulcast layers).
    pub fn publisher_of(&self, ssrc: u32) -> Option<&Member<C>> {
        self.members.values().find(|m| m.published.iter().any(|t| t.sends_on(ssrc)))
    }
}
