//! `concord-bot`: a headless participant (or several) in a room's call, for
//! tests, benchmarks and trying a server. Prints one JSON object when done
//! and exits non-zero when it could not join. See the README, "The headless
//! bot", for every option and field.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use concord_call::options::{write_pattern_h264, MediaOptions, Resolution, VideoChoice};
use concord_call::participant::{self, Account};
use concord_call::report::ParticipantReport;
use concord_call::until::{self, ReceivedBoard};
use concord_common::{RoomId, UserId};
use concord_media::voice::{EchoPath, VoiceSettings};

/// Joins ROOM's call as EMAIL (with --participants K: K participants in this
/// process, EMAIL with +1 … +K before the @), sends and receives for
/// --seconds, leaves, and prints one JSON object. Exits 1 if any participant
/// could not join, 2 on bad arguments.
#[derive(Debug, Parser)]
#[command(name = "concord-bot", version, about, long_about = None)]
#[command(after_help = "With --write-h264 FILE.h264 it only writes --seconds of the stamped test pattern \
                        as H.264 (at --resolution and --fps) for --video, and exits.")]
struct Cli {
    /// The Concord server, http://host:port.
    #[arg(long, required_unless_present = "write_h264")]
    server: Option<String>,
    /// The account's email.
    #[arg(long, required_unless_present = "write_h264")]
    email: Option<String>,
    /// The account's password.
    #[arg(long, required_unless_present = "write_h264")]
    password: Option<String>,
    /// The room whose call to join (the account must be a member).
    #[arg(long, required_unless_present = "write_h264")]
    room: Option<RoomId>,
    /// Register the account first.
    #[arg(long, requires = "username")]
    register: bool,
    /// The username to register with.
    #[arg(long)]
    username: Option<String>,
    /// How long to stay in the call (and, with --write-h264, how much to write);
    /// with --until-received, the most it stays.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Leave as soon as each participant of this process has received N
    /// frames of every other one's camera and a second of its microphone.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    until_received: Option<u64>,
    /// With --until-received: also wait for these participants of other
    /// processes (their camera and microphone, as from the process's own).
    #[arg(long, value_name = "USER_ID", requires = "until_received")]
    from: Vec<UserId>,
    /// Leave as soon as standard input closes (a script that drives the
    /// bot ends the call when it has seen what it waited for); with
    /// --until-received, once both hold. A line `again` on standard input
    /// meanwhile: what --until-received waits for must arrive anew (after a
    /// fault), and the process says so again once it has; `again USER_ID …`:
    /// and those --from participants are no longer waited for (gone for good).
    #[arg(long)]
    until_stdin_closes: bool,
    /// Participants in this process.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    participants: u16,
    /// The camera: the stamped test pattern, none, or a pre-encoded FILE.h264 replayed.
    #[arg(long, default_value = "pattern", value_parser = video_choice)]
    video: VideoChoice,
    /// A screen share beside the camera: pattern or none.
    #[arg(long, default_value = "none", value_parser = ["pattern", "none"])]
    screen: String,
    /// Start the screen share this many seconds into the call.
    #[arg(long, value_name = "SECONDS")]
    screen_after: Option<u64>,
    /// The microphone: a steady tone, a speech-like voice (the tone in bursts
    /// over breath noise, which an echo canceller can learn from), silence
    /// (a microphone on, nobody speaking: Opus DTX sends next to nothing), or none.
    #[arg(long, default_value = "tone", value_parser = ["tone", "voice", "silence", "none"])]
    audio: String,
    /// The tone's frequency (participant k of several adds 110·(k−1) Hz).
    #[arg(long, default_value_t = 440.0)]
    tone_hz: f32,
    /// Camera and screen size.
    #[arg(long, default_value = "640x360")]
    resolution: Resolution,
    /// Frames per second.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=60))]
    fps: u32,
    /// Decode what arrives (all) or count it from RTP (none).
    #[arg(long, default_value = "all", value_parser = ["all", "none"])]
    decode: String,
    /// Processing on the microphone: a comma list of aec, ns, rnnoise (the
    /// Strong noise filter), agc; or off.
    #[arg(long, default_value = "aec,ns,agc", value_parser = VoiceSettings::parse_stages)]
    audio_processing: VoiceSettings,
    /// Play what is heard into a simulated room whose echo reaches the
    /// microphone DELAY_MS later at GAIN_DB (e.g. 60:-6).
    #[arg(long, value_name = "DELAY_MS:GAIN_DB")]
    echo_path: Option<EchoPath>,
    /// Hide this person's camera and screen (call_view): the server sends
    /// none of them (repeat for several people).
    #[arg(long, value_name = "USER_ID")]
    hide: Vec<UserId>,
    /// Draw this person's camera and screen at WxH pixels (call_view): of
    /// a simulcast camera, the server sends the layer that fills it
    /// (repeat for several people); a bare WxH: everybody else's.
    #[arg(long, value_name = "[USER_ID=]WxH", value_parser = tile_of)]
    tile: Vec<(Option<UserId>, Resolution)>,
    /// Publish the camera in three simulcast layers (RIDs q, h, f: a
    /// quarter, half and the whole --resolution).
    #[arg(long)]
    simulcast: bool,
    /// Encode every layer someone watches at its own bitrate whatever the
    /// uplink estimate says (by default the encoders follow it), to compare.
    #[arg(long)]
    fixed_uplink: bool,
    /// Write the test pattern as H.264 to this file and exit.
    #[arg(long, value_name = "FILE.h264")]
    write_h264: Option<PathBuf>,
}

fn tile_of(value: &str) -> Result<(Option<UserId>, Resolution), String> {
    let Some((user, size)) = value.split_once('=') else { return Ok((None, value.parse()?)) };
    let user = user.trim().parse::<UserId>().map_err(|_| format!("{user:?} is not a user id"))?;
    Ok((Some(user), size.parse()?))
}

fn video_choice(value: &str) -> Result<VideoChoice, String> {
    match value {
        "pattern" => Ok(VideoChoice::Pattern),
        "none" => Ok(VideoChoice::None),
        file if file.ends_with(".h264") => Ok(VideoChoice::File(file.into())),
        other => Err(format!("pattern, none or a FILE.h264, got {other:?}")),
    }
}

impl Cli {
    fn media(&self) -> MediaOptions {
        MediaOptions {
            video: self.video.clone(),
            screen: self.screen == "pattern",
            screen_after: self.screen_after.map(Duration::from_secs),
            tone_hz: (self.audio != "none").then_some(self.tone_hz),
            speech_like: self.audio == "voice",
            silent: self.audio == "silence",
            width: self.resolution.width,
            height: self.resolution.height,
            fps: self.fps,
            decode: self.decode == "all",
            audio_processing: self.audio_processing,
            echo_path: self.echo_path,
            hide: self.hide.clone(),
            tiles: self
                .tile
                .iter()
                .filter_map(|(user, size)| Some(((*user)?, (size.width, size.height))))
                .collect(),
            every_tile: self
                .tile
                .iter()
                .rev()
                .find(|(user, _)| user.is_none())
                .map(|(_, size)| (size.width, size.height)),
            simulcast: self.simulcast,
            fixed_uplink: self.fixed_uplink,
        }
    }
}

/// `name@host` → `name+i@host` for participant `i` of several.
fn nth(value: &str, i: usize, participants: usize, separator: char) -> String {
    if participants == 1 {
        return value.to_owned();
    }
    match value.split_once('@') {
        Some((name, host)) => format!("{name}{separator}{i}@{host}"),
        None => format!("{value}{separator}{i}"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(path) = &cli.write_h264 {
        return write_h264(path, &cli);
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("warn,rtc_ice=error,rtc::peer_connection::handler=error")
        }))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("concord-bot: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let reports = runtime.block_on(run(&cli));
    let joined_all = reports.iter().all(|r| r.joined_ms.is_some());
    let output = match reports.as_slice() {
        [only] => serde_json::to_string_pretty(only),
        all => serde_json::to_string_pretty(&serde_json::json!({ "room_id": cli.room, "participants": all })),
    };
    match output {
        Ok(json) => println!("{json}"),
        Err(error) => eprintln!("concord-bot: {error}"),
    }
    if joined_all {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--write-h264 FILE [--resolution WxH] [--fps N] [--seconds N]`.
fn write_h264(path: &std::path::Path, cli: &Cli) -> ExitCode {
    let seconds = u32::try_from(cli.seconds).unwrap_or(u32::MAX);
    match write_pattern_h264(path, cli.resolution.width, cli.resolution.height, cli.fps, seconds) {
        Ok(frames) => {
            eprintln!("concord-bot: wrote {frames} frames to {}", path.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("concord-bot: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> Vec<ParticipantReport> {
    // Present unless --write-h264 (clap's required_unless_present).
    let (Some(server), Some(email), Some(password), Some(room)) =
        (cli.server.as_deref(), cli.email.as_deref(), cli.password.as_deref(), cli.room)
    else {
        return Vec::new();
    };
    let server = server.trim_end_matches('/');
    let participants = usize::from(cli.participants);
    let board = cli.until_received.map(|frames| {
        let media = cli.media();
        let camera = (media.video != VideoChoice::None).then_some(frames);
        let audio = (media.tone_hz.is_some() && !media.silent).then_some(until::AUDIO_FRAMES);
        ReceivedBoard::new(participants, camera, audio, media.hide, cli.from.clone())
    });
    let (again, mut asked_again) = tokio::sync::mpsc::channel::<Vec<UserId>>(4);
    if let Some(board) = &board {
        let board = Arc::clone(board);
        tokio::spawn(async move {
            loop {
                Arc::clone(&board).wait().await;
                eprintln!("{}", until::RECEIVED_LINE);
                let Some(gone) = asked_again.recv().await else { break };
                board.again(&gone);
            }
        });
    }
    let stdin_closed = cli.until_stdin_closes.then(|| watch_stdin(again));
    let mut tasks = Vec::new();
    for i in 1..=participants {
        let account = Account {
            server: server.to_owned(),
            email: nth(email, i, participants, '+'),
            password: password.to_owned(),
            register_as: cli
                .register
                .then(|| nth(cli.username.as_deref().unwrap_or("bot"), i, participants, '-')),
        };
        let mut media = cli.media();
        // Each participant its own tone, so a listener can tell them apart.
        media.tone_hz = media.tone_hz.map(|hz| hz + 110.0 * (i - 1) as f32);
        let seconds = Duration::from_secs(cli.seconds);
        let closed = stdin_closed.clone().map(|mut closed| async move {
            let _ = closed.wait_for(|closed| *closed).await;
        });
        tasks.push(match (&board, closed) {
            (Some(board), closed) => {
                let board = Arc::clone(board);
                tokio::spawn(participant::run_watched(account, room, media, seconds, board, closed))
            }
            (None, Some(closed)) => {
                tokio::spawn(participant::run_until(account, room, media, seconds, closed))
            }
            (None, None) => tokio::spawn(participant::run(account, room, media, seconds)),
        });
    }
    let mut reports = Vec::new();
    for task in tasks {
        match task.await {
            Ok(report) => reports.push(report),
            Err(error) => reports.push(ParticipantReport {
                errors: vec![format!("a participant crashed: {error}")],
                ..ParticipantReport::default()
            }),
        }
    }
    reports
}

/// Turns true once standard input reaches its end (or cannot be read);
/// each line `again [USER_ID …]` read before that is passed to `again`
/// (the ids: participants of other processes no longer waited for).
fn watch_stdin(again: tokio::sync::mpsc::Sender<Vec<UserId>>) -> tokio::sync::watch::Receiver<bool> {
    use std::io::BufRead;
    let (closed, receiver) = tokio::sync::watch::channel(false);
    let reader = std::thread::Builder::new().name("stdin-watch".into()).spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) if line.split_whitespace().next() == Some("again") => {
                    let gone = line.split_whitespace().skip(1).filter_map(|id| id.parse().ok()).collect();
                    let _ = again.blocking_send(gone);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = closed.send(true);
    });
    if let Err(error) = reader {
        tracing::warn!(%error, "cannot watch standard input (--until-stdin-closes): leaving at once");
    }
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_become_media_options_and_bad_ones_are_refused() {
        let cli = Cli::try_parse_from([
            "concord-bot",
            "--server",
            "http://h:1",
            "--email",
            "b@x",
            "--password",
            "p",
            "--room",
            "7",
            "--audio",
            "voice",
            "--tone-hz",
            "660",
            "--echo-path",
            "60:-6",
            "--audio-processing",
            "aec",
            "--resolution",
            "320x180",
            "--video",
            "none",
        ])
        .expect("valid");
        let media = cli.media();
        assert_eq!(
            (media.tone_hz, media.speech_like, media.width, media.height),
            (Some(660.0), true, 320, 180)
        );
        assert!(media.echo_path.is_some() && media.audio_processing.echo_cancellation);
        assert_eq!(media.video, VideoChoice::None);
        for bad in [
            vec!["concord-bot", "--email", "b@x"],
            vec!["concord-bot", "--write-h264", "f.h264", "--resolution", "big"],
            vec!["concord-bot", "--write-h264", "f.h264", "--audio-processing", "loud"],
            vec!["concord-bot", "--write-h264", "f.h264", "--register"],
        ] {
            assert!(Cli::try_parse_from(&bad).is_err(), "{bad:?}");
        }
        assert!(Cli::try_parse_from(["concord-bot", "--write-h264", "f.h264"]).is_ok());
    }
}
