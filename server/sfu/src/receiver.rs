//! A published track as the SFU receives it: the publisher's SSRC (of
//! each simulcast layer, with its RID), its media section in the
//! publisher's publishing connection, and what it carries. (Its keyframe throttle and subscribers are the [`Router`]'s.)
//!
//! [`Router`]: crate::router::Router

use concord_common::events::{PublishedTrack, TrackSource};
use str0m::media::{Mid, Rid};

use crate::router::Kind;

/// A track someone publishes.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// The publisher's SSRC of its first stream (the Router's key for the track).
    pub ssrc: u32,
    /// Its streams: the one, or each simulcast layer with its RID.
    pub layers: Vec<(Option<Rid>, u32)>,
    /// Its media section in the publishing connection.
    pub mid: Mid,
    /// Audio or video.
    pub kind: Kind,
    /// Microphone, camera or screen.
    pub source: TrackSource,
    /// Someone else shows it (a video: its publisher was last told so; it
    /// starts encoding as if watched).
    pub watched: bool,
    /// Of a simulcast video, the RIDs of the layers its publisher was last
    /// told someone receives (empty: every one).
    pub watched_layers: Vec<String>,
}

impl Receiver {
    /// Whether `ssrc` is one of its streams.
    pub fn sends_on(&self, ssrc: u32) -> bool {
        self.layers.iter().any(|(_, layer)| *layer == ssrc)
    }
}

/// What a new track of `kind` with `track_id` carries: as the publisher
/// declared it, else guessed — audio is the microphone, a first video the
/// camera, a later one the screen.
pub fn source_of(
    declared: &[PublishedTrack],
    published: &[Receiver],
    track_id: &str,
    kind: Kind,
) -> TrackSource {
    if let Some(track) = declared.iter().find(|t| t.track_id == track_id) {
        return track.source;
    }
    match (kind, published.iter().any(|t| t.kind == Kind::Video)) {
        (Kind::Audio, _) => TrackSource::Microphone,
        (Kind::Video, false) => TrackSource::Camera,
        (Kind::Video, true) => TrackSource::Screen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera() -> Receiver {
        Receiver {
            ssrc: 1,
            layers: vec![(None, 1)],
            mid: Mid::from("1"),
            kind: Kind::Video,
            source: TrackSource::Camera,
            watched: true,
            watched_layers: Vec::new(),
        }
    }

    #[test]
    fn a_declared_source_wins_and_an_undeclared_one_is_guessed_by_order() {
        let declared = [PublishedTrack { track_id: "v2".into(), source: TrackSource::Camera }];
        assert_eq!(source_of(&declared, &[camera()], "v2", Kind::Video), TrackSource::Camera);
        assert_eq!(source_of(&[], &[], "a", Kind::Audio), TrackSource::Microphone);
        assert_eq!(source_of(&[], &[], "v", Kind::Video), TrackSource::Camera);
        assert_eq!(source_of(&[], &[camera()], "v", Kind::Video), TrackSource::Screen);
    }
}
