//! The call I am in: which room, what I switched on, and what the media
//! side reports (connected, problems, remote pictures, stats). Who else is
//! in the call and with what switched on is the room's roster
//! (`Room::in_call`, kept by `rooms`); this is my side of it.

use std::collections::{HashMap, VecDeque};

use concord_common::events::{
    self, CallLeftReason, CallMedia, TileSize, TileView, TrackSource, VideoQuality,
};
use concord_common::{RoomId, ServerEvent, UserId};

use super::{AppState, Effect};
use crate::media::protocol::{CallReport, CallStart, MediaCommand, TrackStats, VideoTexture};
use crate::net::NetEvent;
use crate::settings::Pick;

/// How many seconds of stats a tile's plots keep.
pub const STATS_SECONDS: usize = 60;

/// How to join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinMode {
    /// Camera (if one is picked) and microphone.
    CameraAndMic,
    /// Microphone only: no camera needed.
    MicOnly,
    /// Hear and see the others; send nothing.
    ListenOnly,
}

/// Where joining the call has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPhase {
    /// Asked to join; media not up yet.
    Joining,
    /// Media flows.
    Connected,
    /// The connection was lost; joining again by itself.
    Rejoining,
}

/// A sound the app plays for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallSound {
    /// I joined, or someone joined my call.
    Joined,
    /// I left, or someone left my call.
    Left,
}

/// One tile's picture or stream: whose, and which source.
pub type TileKey = (UserId, TrackSource);

/// The call I am in.
#[derive(Debug)]
pub struct ActiveCall {
    /// The room.
    pub room: RoomId,
    /// What I want switched on (kept across a rejoin).
    pub want: CallMedia,
    /// Where joining has got to.
    pub phase: CallPhase,
    /// The latest picture of each remote video track.
    pub videos: HashMap<TileKey, VideoTexture>,
    /// Each remote track's stats, one sample a second, newest last.
    pub stats: HashMap<TileKey, VecDeque<TrackStats>>,
    /// The tile shown large (a screen share, say), if any.
    pub focused: Option<TileKey>,
    /// The call fills the window (chat and member list hidden).
    pub full_window: bool,
    /// The stats overlay is shown on every tile.
    pub show_stats: bool,
    /// My microphone's level as sent, for the meter in Settings → Voice.
    pub input_level: Option<crate::media::protocol::InputLevel>,
    /// The push-to-talk key is down (as last told to the media side).
    pub push_to_talk_down: bool,
    /// The in-call chat panel is shown beside the grid.
    pub show_chat: bool,
    /// The latest problem the media side reported.
    pub problem: Option<String>,
    /// The videos the media side was last told are hidden, or their sizes.
    pub view_told: Vec<TileView>,
    /// The size each remote video's tile was last drawn at, in physical
    /// pixels rounded up to [`TILE_SIZE_STEP`]s: the server sends the
    /// simulcast layer that fills it.
    pub tile_sizes: HashMap<TileKey, (u32, u32)>,
    /// Remote videos the server sends reduced or paused for my network
    /// (`call_video_quality`; a video sent in full is not here).
    pub network_limited: HashMap<TileKey, events::CallVideoQuality>,
    /// My own videos sent reduced or not at all because my uplink is short
    /// (a video sent in full is not here).
    pub sending_limited: HashMap<TrackSource, VideoQuality>,
}

/// Tile sizes are told rounded to steps of this many physical pixels each
/// way (a window being resized does not send a `call_view` per pixel).
pub const TILE_SIZE_STEP: (u32, u32) = (64, 36);

impl ActiveCall {
    fn new(room: RoomId, want: CallMedia) -> Self {
        Self {
            room,
            want,
            phase: CallPhase::Joining,
            videos: HashMap::new(),
            stats: HashMap::new(),
            focused: None,
            full_window: false,
            show_stats: false,
            input_level: None,
            push_to_talk_down: false,
            show_chat: true,
            network_limited: HashMap::new(),
            sending_limited: HashMap::new(),
            problem: None,
            view_told: Vec::new(),
            tile_sizes: HashMap::new(),
        }
    }
}

/// Whether the media side needs to see this network event (call frames
/// and the websocket's state), while a call is on.
pub fn concerns_call(event: &NetEvent) -> bool {
    match event {
        NetEvent::Connection(_) | NetEvent::SessionExpired { .. } | NetEvent::CallRequestNotSent { .. } => {
            true
        }
        NetEvent::Server(event) => matches!(
            event,
            ServerEvent::CallJoined(_)
                | ServerEvent::CallLeft(_)
                | ServerEvent::CallPublishAnswer(_)
                | ServerEvent::CallSubscribeOffer(_)
                | ServerEvent::CallSubscribeAccepted(_)
                | ServerEvent::CallViewAccepted(_)
                | ServerEvent::CallVideoWanted(_)
                | ServerEvent::CallVideoQuality(_)
                | ServerEvent::CallSpeaking(_)
        ),
        _ => false,
    }
}

/// Why this client cannot join calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallsUnavailable {
    /// The page came over plain http from somewhere other than localhost:
    /// the browser keeps cameras and microphones from such pages.
    InsecurePage,
    /// The browser has no WebRTC (`RTCPeerConnection`).
    NoWebRtc,
}

impl AppState {
    /// Whether calls can be joined from here.
    pub fn calls_supported(&self) -> bool {
        self.calls_unavailable().is_none()
    }

    /// Why calls cannot be joined here, if they cannot (what the page is
    /// was read once, at start: `platform::calls_unavailable`).
    pub fn calls_unavailable(&self) -> Option<CallsUnavailable> {
        self.calls_blocked
    }

    /// Joins `room`'s call (leaving any other call first).
    pub fn join_call(&mut self, room: RoomId, mode: JoinMode) -> Vec<Effect> {
        let Some(me) = self.me.as_ref().map(|u| u.id) else { return vec![] };
        if !self.calls_supported() || self.room(room).is_none() {
            return vec![];
        }
        if self.call.as_ref().is_some_and(|c| c.room == room) {
            return vec![];
        }
        let mut effects = self.leave_call();
        effects.extend(self.stop_mic_check());
        let devices = self.persisted.media.clone();
        let want = CallMedia {
            muted: mode == JoinMode::ListenOnly || devices.microphone == Pick::Off,
            deafened: false,
            camera: mode == JoinMode::CameraAndMic && devices.camera != Pick::Off,
            screen: false,
        };
        self.call = Some(ActiveCall::new(room, want));
        effects.push(
            MediaCommand::JoinCall(CallStart {
                room,
                me,
                server: self.persisted.server_url.clone(),
                want,
                devices,
            })
            .into(),
        );
        effects
    }

    /// Leaves the call I am in (nothing if I am in none).
    pub fn leave_call(&mut self) -> Vec<Effect> {
        if self.call.take().is_none() {
            return vec![];
        }
        vec![MediaCommand::LeaveCall.into(), Effect::Sound(CallSound::Left)]
    }

    /// Mutes or unmutes my microphone.
    pub fn toggle_mute(&mut self) -> Vec<Effect> {
        self.change_want(|want| {
            if want.deafened {
                // Unmuting while deafened undeafens too (as Discord does).
                want.deafened = false;
                want.muted = false;
            } else {
                want.muted = !want.muted;
            }
        })
    }

    /// Deafens (hear nothing, and the others hear me muted) or undeafens;
    /// my own mute switch is kept as it was.
    pub fn toggle_deafen(&mut self) -> Vec<Effect> {
        self.change_want(|want| want.deafened = !want.deafened)
    }

    /// Switches my camera on or off.
    pub fn toggle_camera(&mut self) -> Vec<Effect> {
        if self.persisted.media.camera == Pick::Off {
            self.notice = Some("No camera is picked: choose one in Settings (Ctrl+,).".into());
            return vec![];
        }
        self.change_want(|want| want.camera = !want.camera)
    }

    /// Starts or stops sharing my screen (beside the camera).
    pub fn toggle_screen(&mut self) -> Vec<Effect> {
        if self.persisted.media.screen == Pick::Off {
            self.notice = Some("No screen is picked to share: choose one in Settings (Ctrl+,).".into());
            return vec![];
        }
        self.change_want(|want| want.screen = !want.screen)
    }

    fn change_want(&mut self, change: impl FnOnce(&mut CallMedia)) -> Vec<Effect> {
        let Some(call) = &mut self.call else { return vec![] };
        change(&mut call.want);
        vec![MediaCommand::SetCallMedia(call.want).into()]
    }

    /// A device pick or voice setting changed in Settings: the call in
    /// progress (or "Let me hear myself") opens its sources again from them.
    pub fn devices_changed(&mut self) -> Vec<Effect> {
        if self.call.is_none() {
            if self.settings.mic_check {
                // Heard again from the start with the new picks and switches.
                self.settings.mic_check_key_down = false;
                return vec![MediaCommand::StartMicCheck(self.persisted.media.clone()).into()];
            }
            return vec![];
        }
        vec![MediaCommand::SetCallDevices(self.persisted.media.clone()).into()]
    }

    /// My volume for `user` (0–200 %, or muted for me): remembered for
    /// them across calls and restarts, and applied at once in a call.
    pub fn set_person_volume(&mut self, user: UserId, volume: crate::settings::PersonVolume) -> Vec<Effect> {
        let volume = crate::settings::PersonVolume {
            percent: volume.percent.min(crate::settings::PersonVolume::MAX_PERCENT),
            ..volume
        };
        if volume == crate::settings::PersonVolume::default() {
            self.persisted.media.volumes.remove(&user);
        } else {
            self.persisted.media.volumes.insert(user, volume);
        }
        if self.call.is_none() {
            return vec![];
        }
        vec![MediaCommand::SetVolume { user, gain: volume.gain() }.into()]
    }

    /// The push-to-talk key is down (or up) now: the media side hears of each
    /// change, in push-to-talk mode, in a call or while I hear myself.
    pub fn set_push_to_talk(&mut self, down: bool) -> Vec<Effect> {
        if self.persisted.media.voice.input_mode != crate::settings::InputModeChoice::PushToTalk {
            return vec![];
        }
        let held = match &mut self.call {
            Some(call) => &mut call.push_to_talk_down,
            None if self.settings.mic_check => &mut self.settings.mic_check_key_down,
            None => return vec![],
        };
        if *held == down {
            return vec![];
        }
        *held = down;
        vec![MediaCommand::PushToTalk(down).into()]
    }

    /// Which of the others' videos the call shows now, and how large:
    /// every one while its room is open in a window that is not minimized,
    /// each at the size its tile was drawn (the server sends the simulcast
    /// layer that fills it); none while another room or a conversation is
    /// open — the server then sends none of them (`call_view`), and they
    /// restart at a keyframe when the call is open again. The media side
    /// hears of each change.
    pub fn follow_call_view(&mut self, minimized: bool) -> Vec<Effect> {
        let Some(call) = &self.call else { return vec![] };
        let shown = !minimized && self.selected_room == Some(call.room);
        let roster =
            self.rooms.iter().find(|r| r.id == call.room).map(|r| r.in_call.as_slice()).unwrap_or_default();
        let me = self.me.as_ref().map(|u| u.id);
        let view: Vec<TileView> = if shown {
            let mut sized: Vec<TileView> = call
                .tile_sizes
                .iter()
                .filter(|((user, _), _)| Some(*user) != me && roster.iter().any(|p| p.user_id == *user))
                .map(|((user_id, source), (width, height))| TileView {
                    user_id: *user_id,
                    source: *source,
                    hidden: false,
                    size: Some(TileSize { width: *width, height: *height }),
                })
                .collect();
            sized.sort_by_key(|tile| (tile.user_id, tile.source == TrackSource::Screen));
            sized
        } else {
            let others = roster.iter().map(|p| p.user_id).filter(|user| Some(*user) != me);
            others
                .flat_map(|user_id| {
                    [TrackSource::Camera, TrackSource::Screen].map(|source| TileView {
                        user_id,
                        source,
                        hidden: true,
                        size: None,
                    })
                })
                .collect()
        };
        let Some(call) = &mut self.call else { return vec![] };
        if call.view_told == view {
            return vec![];
        }
        call.view_told = view.clone();
        vec![MediaCommand::SetCallView(view).into()]
    }

    /// `tile` (a remote video) was drawn `size` physical pixels large (its
    /// picture as fitted into the tile).
    pub fn set_tile_size(&mut self, tile: TileKey, size: (f32, f32)) {
        let Some(call) = &mut self.call else { return };
        // To the nearest step (at least one): a 641-pixel picture asks for 640.
        let step = |pixels: f32, step: u32| {
            let steps = (pixels.max(0.0) / step as f32).round().max(1.0) as u32;
            (steps * step).min(TileSize::MAX)
        };
        let stepped = (step(size.0, TILE_SIZE_STEP.0), step(size.1, TILE_SIZE_STEP.1));
        call.tile_sizes.insert(tile, stepped);
    }

    /// Shows `tile` large, or back in the grid if it already was.
    pub fn focus_tile(&mut self, tile: TileKey) {
        if let Some(call) = &mut self.call {
            call.focused = if call.focused == Some(tile) { None } else { Some(tile) };
        }
    }

    /// A call frame the server sent to me: my own call ended, or someone
    /// came or went (their sound).
    pub(super) fn on_call_frame(&mut self, event: &ServerEvent) -> Vec<Effect> {
        let me = self.me.as_ref().map(|u| u.id);
        let Some(call) = &mut self.call else { return vec![] };
        match event {
            ServerEvent::CallLeft(events::CallLeft { room_id, reason }) if *room_id == call.room => {
                match reason {
                    CallLeftReason::Left => {}
                    CallLeftReason::Disconnected => call.phase = CallPhase::Rejoining,
                    other => {
                        self.notice = Some(format!("You left the call: {}.", other.in_words()));
                        self.call = None;
                        return vec![MediaCommand::LeaveCall.into(), Effect::Sound(CallSound::Left)];
                    }
                }
            }
            ServerEvent::CallParticipantJoined(e)
                if e.room_id == call.room && Some(e.participant.user_id) != me =>
            {
                return vec![Effect::Sound(CallSound::Joined)];
            }
            ServerEvent::CallVideoQuality(changed) if changed.room_id == call.room => {
                let tile = (changed.user_id, changed.source);
                if changed.quality == events::VideoQuality::Full {
                    call.network_limited.remove(&tile);
                } else {
                    call.network_limited.insert(tile, changed.clone());
                }
            }
            ServerEvent::CallParticipantLeft(e) if e.room_id == call.room && Some(e.user_id) != me => {
                call.network_limited.retain(|(user, _), _| *user != e.user_id);
                call.videos.retain(|(user, _), _| *user != e.user_id);
                call.stats.retain(|(user, _), _| *user != e.user_id);
                if call.focused.is_some_and(|(user, _)| user == e.user_id) {
                    call.focused = None;
                }
                return vec![Effect::Sound(CallSound::Left)];
            }
            _ => {}
        }
        vec![]
    }

    /// What the media side reports about `room`'s call.
    pub(super) fn on_call_report(&mut self, room: RoomId, report: CallReport) -> Vec<Effect> {
        let Some(call) = self.call.as_mut().filter(|c| c.room == room) else { return vec![] };
        match report {
            CallReport::Connected => {
                let mut effects = vec![];
                match call.phase {
                    CallPhase::Joining => effects.push(Effect::Sound(CallSound::Joined)),
                    // What went wrong before the rejoin is over now; a device
                    // that would not open (said while joining) still is not.
                    CallPhase::Rejoining => call.problem = None,
                    CallPhase::Connected => {}
                }
                call.phase = CallPhase::Connected;
                return effects;
            }
            CallReport::Rejoining => call.phase = CallPhase::Rejoining,
            CallReport::Media(effective) => {
                // A source that could not be opened switches itself off.
                call.want.camera &= effective.camera;
                call.want.screen &= effective.screen;
                if effective.muted && !call.want.deafened {
                    call.want.muted = true;
                }
            }
            CallReport::Problem(problem) => call.problem = Some(problem),
            CallReport::Uplink { source, quality: VideoQuality::Full } => {
                call.sending_limited.remove(&source);
            }
            CallReport::Uplink { source, quality } => {
                call.sending_limited.insert(source, quality);
            }
            CallReport::Video { user, source, texture } => {
                call.videos.insert((user, source), texture);
            }
            CallReport::VideosCleared => call.videos.clear(),
            CallReport::Stats(samples) => {
                for sample in samples {
                    let history = call.stats.entry((sample.user, sample.source)).or_default();
                    history.push_back(sample);
                    while history.len() > STATS_SECONDS {
                        history.pop_front();
                    }
                }
            }
            CallReport::InputLevel(level) => call.input_level = Some(level),
            CallReport::Ended { reason } => {
                if let Some(reason) = reason {
                    self.notice = Some(format!("The call ended: {reason}."));
                }
                self.call = None;
                return vec![Effect::Sound(CallSound::Left)];
            }
        }
        vec![]
    }
}
