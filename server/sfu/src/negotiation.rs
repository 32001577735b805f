//! The offers of a participant's receiving connection: the SFU is its only
//! offerer (the client offers on its publishing one), so renegotiation never
//! collides. One offer is outstanding at a time; tracks that come and go
//! meanwhile are in the next. A section whose track stopped is made
//! inactive, never removed (SDP keeps sections in order).

use std::collections::HashMap;

use concord_common::events::ForwardedTrack;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::Rtc;

use crate::downtrack::Downtrack;
use crate::router::Kind;
use crate::{sdp, Error};

/// Where a receiving connection's offers stand.
#[derive(Default)]
pub struct Negotiation {
    next_offer_id: u64,
    /// The offer awaiting an answer, and what accepting it applies.
    outstanding: Option<(u64, SdpPendingOffer)>,
    /// Tracks changed since the last offer.
    needed: bool,
    /// Media sections of tracks that stopped, to be made inactive in the next offer.
    retired: Vec<Mid>,
}

/// An offer to send to the subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Echoed in the answer.
    pub offer_id: u64,
    /// The SDP, with our candidates in every section.
    pub sdp: String,
    /// Whose each track is, by track id.
    pub tracks: Vec<ForwardedTrack>,
}

impl Negotiation {
    /// A track was added: the next offer carries it.
    pub fn track_added(&mut self) {
        self.needed = true;
    }

    /// A forwarded track stopped: its section (if it had one) goes inactive
    /// in the next offer.
    pub fn track_removed(&mut self, mid: Option<Mid>) {
        self.retired.extend(mid);
        self.needed = true;
    }

    /// The next offer for connection `rtc`, if tracks changed and the last
    /// offer was answered: stopped tracks' sections inactive, a send-only
    /// section for each of `downtracks` not yet offered.
    pub fn next_offer<C>(
        &mut self,
        rtc: &mut Rtc,
        downtracks: &mut HashMap<u32, Downtrack<C>>,
    ) -> Option<Offer> {
        if !self.needed || self.outstanding.is_some() {
            return None;
        }
        self.needed = false;
        // Sections of stopped tracks that the client has not answered yet wait for a later offer.
        let (retire_now, retire_later): (Vec<Mid>, Vec<Mid>) =
            self.retired.drain(..).partition(|mid| rtc.media(*mid).is_some());
        self.retired = retire_later;
        let mut api = rtc.sdp_api();
        for mid in retire_now {
            api.set_direction(mid, Direction::Inactive);
        }
        let mut added: Vec<(u32, Mid)> = Vec::new();
        for (ssrc, downtrack) in downtracks.iter().filter(|(_, d)| d.mid.is_none()) {
            let kind = match downtrack.kind {
                Kind::Audio => MediaKind::Audio,
                Kind::Video => MediaKind::Video,
            };
            let stream = Some(downtrack.info.user_id.to_string());
            let track = Some(downtrack.info.track_id.clone());
            added.push((*ssrc, api.add_media(kind, Direction::SendOnly, stream, track, None)));
        }
        let (offer, pending) = api.apply()?;
        for (ssrc, mid) in added {
            if let Some(downtrack) = downtracks.get_mut(&ssrc) {
                downtrack.mid = Some(mid);
            }
        }
        let offer_id = self.next_offer_id;
        self.next_offer_id += 1;
        self.outstanding = Some((offer_id, pending));
        let mut tracks: Vec<ForwardedTrack> = downtracks.values().map(|d| d.info.clone()).collect();
        tracks.sort_by(|a, b| a.track_id.cmp(&b.track_id));
        let sdp = sdp::with_candidates_in_every_section(offer.to_sdp_string());
        Some(Offer { offer_id, sdp, tracks })
    }

    /// The subscriber's answer `sdp` to offer `offer_id`, applied to `rtc`;
    /// returns the SSRCs of the downtracks it accepted, to be queued from
    /// now on. An answer that cannot be applied is an error, and what its
    /// offer added goes in the next one.
    pub fn accept_answer<C>(
        &mut self,
        rtc: &mut Rtc,
        downtracks: &mut HashMap<u32, Downtrack<C>>,
        offer_id: u64,
        sdp: &str,
    ) -> Result<Vec<u32>, Error> {
        if self.outstanding.as_ref().map(|(id, _)| *id) != Some(offer_id) {
            return Err(Error::StaleOffer(offer_id));
        }
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(Error::sdp)?;
        let Some((_, pending)) = self.outstanding.take() else {
            return Err(Error::StaleOffer(offer_id));
        };
        if let Err(error) = rtc.sdp_api().accept_answer(pending, answer) {
            for downtrack in downtracks.values_mut().filter(|d| !d.negotiated) {
                downtrack.mid = None;
            }
            self.needed = true;
            return Err(Error::sdp(error));
        }
        let mut accepted = Vec::new();
        for (ssrc, downtrack) in downtracks.iter_mut() {
            let in_answer = downtrack.mid.is_some_and(|mid| rtc.media(mid).is_some());
            if in_answer && !downtrack.negotiated {
                downtrack.negotiated = true;
                accepted.push(*ssrc);
            }
        }
        Ok(accepted)
    }
}
