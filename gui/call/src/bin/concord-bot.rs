//! `concord-bot`: a headless participant (or several) in a room's call, for
//! tests, benchmarks and trying a server. Prints one JSON object when done
//! and exits non-zero when it could not join. See the README, "The headless
//! bot", for every option and field.

use std::process::ExitCode;
use std::time::Duration;

use concord_call::options::{write_pattern_h264, MediaOptions, VideoChoice};
use concord_call::participant::{self, Account};
use concord_call::report::ParticipantReport;
use concord_common::RoomId;
use concord_media::voice::{EchoPath, VoiceSettings};

const USAGE: &str = "\
usage: concord-bot --server URL --email E --password P --room ROOM_ID
                   [--register --username NAME] [--seconds N] [--participants K]
                   [--video pattern|none|FILE.h264] [--screen pattern|none] [--audio tone|voice|none]
                   [--screen-after SECONDS] [--tone-hz HZ] [--resolution WxH] [--fps N]
                   [--decode all|none] [--audio-processing aec,ns,agc|off]
                   [--echo-path DELAY_MS:GAIN_DB]

Joins ROOM_ID's call as E (with --participants K: K participants in this
process, E with +1 … +K before the @), sends and receives for N seconds
(default 10), leaves, and prints one JSON object. Exits 1 if any participant
could not join, 2 on bad arguments. The tone goes through the voice
processing a microphone gets (--audio voice: the tone in syllable-length
bursts over breath-like noise, which an echo canceller can learn from;
--audio-processing: a comma list of aec, ns,
rnnoise, agc, or off; default aec,ns,agc). --echo-path plays what the bot
hears into a simulated room that feeds it back into its microphone, delayed
and attenuated (e.g. 60:-6).

       concord-bot --write-h264 FILE.h264 [--resolution WxH] [--fps N] [--seconds N]
writes N seconds (default 10) of the stamped test pattern as H.264 for --video.";

struct Args {
    server: String,
    email: String,
    password: String,
    room: RoomId,
    register: bool,
    username: Option<String>,
    seconds: u64,
    participants: usize,
    media: MediaOptions,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut server, mut email, mut password, mut room) = (None, None, None, None);
    let mut args = Args {
        server: String::new(),
        email: String::new(),
        password: String::new(),
        room: RoomId(0),
        register: false,
        username: None,
        seconds: 10,
        participants: 1,
        media: MediaOptions::default(),
    };
    while let Some(flag) = argv.next() {
        if flag == "--register" {
            args.register = true;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number =
            |what: &str| value.parse::<u64>().map_err(|_| format!("{flag}: {what} expected, got {value:?}"));
        match flag.as_str() {
            "--server" => server = Some(value.trim_end_matches('/').to_owned()),
            "--email" => email = Some(value.clone()),
            "--password" => password = Some(value.clone()),
            "--room" => {
                room = Some(value.parse::<RoomId>().map_err(|_| format!("--room: a room id, got {value:?}"))?)
            }
            "--username" => args.username = Some(value.clone()),
            "--seconds" => args.seconds = number("seconds")?,
            "--participants" => args.participants = number("a count")?.clamp(1, 64) as usize,
            "--fps" => args.media.fps = number("frames per second")?.clamp(1, 60) as u32,
            "--tone-hz" => {
                args.media.tone_hz =
                    Some(value.parse::<f32>().map_err(|_| format!("--tone-hz: a frequency, got {value:?}"))?)
            }
            "--video" => {
                args.media.video = match value.as_str() {
                    "pattern" => VideoChoice::Pattern,
                    "none" => VideoChoice::None,
                    file if file.ends_with(".h264") => VideoChoice::File(file.into()),
                    other => return Err(format!("--video: pattern, none or a FILE.h264, got {other:?}")),
                }
            }
            "--screen" => {
                args.media.screen = match value.as_str() {
                    "pattern" => true,
                    "none" => false,
                    other => return Err(format!("--screen: pattern or none, got {other:?}")),
                }
            }
            "--screen-after" => args.media.screen_after = Some(Duration::from_secs(number("seconds")?)),
            "--audio" => match value.as_str() {
                "tone" | "voice" => {
                    args.media.tone_hz.get_or_insert(440.0);
                    args.media.speech_like = value == "voice";
                }
                "none" => args.media.tone_hz = None,
                other => return Err(format!("--audio: tone, voice or none, got {other:?}")),
            },
            "--decode" => {
                args.media.decode = match value.as_str() {
                    "all" => true,
                    "none" => false,
                    other => return Err(format!("--decode: all or none, got {other:?}")),
                }
            }
            "--audio-processing" => {
                args.media.audio_processing =
                    VoiceSettings::parse_stages(&value).map_err(|e| format!("--audio-processing: {e}"))?
            }
            "--echo-path" => {
                args.media.echo_path =
                    Some(value.parse::<EchoPath>().map_err(|e| format!("--echo-path: {e}"))?)
            }
            "--resolution" => {
                let (w, h) = value
                    .split_once('x')
                    .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
                    .filter(|(w, h)| (16..=3840).contains(w) && (16..=2160).contains(h))
                    .ok_or_else(|| format!("--resolution: WxH (16x16 to 3840x2160), got {value:?}"))?;
                (args.media.width, args.media.height) = (w & !1, h & !1);
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    args.server = server.ok_or("--server is required")?;
    args.email = email.ok_or("--email is required")?;
    args.password = password.ok_or("--password is required")?;
    args.room = room.ok_or("--room is required")?;
    if args.register && args.username.is_none() {
        return Err("--register needs --username".into());
    }
    Ok(args)
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
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--write-h264") {
        return write_h264(&argv);
    }
    let args = match parse(argv.into_iter()) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("concord-bot: {message}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
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
    let reports = runtime.block_on(run(&args));
    let joined_all = reports.iter().all(|r| r.joined_ms.is_some());
    let output = match reports.as_slice() {
        [only] => serde_json::to_string_pretty(only),
        all => {
            serde_json::to_string_pretty(&serde_json::json!({ "room_id": args.room, "participants": all }))
        }
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
fn write_h264(argv: &[String]) -> ExitCode {
    let Some(path) = argv.get(1) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let mut media = MediaOptions::default();
    let mut seconds = 10;
    let mut rest = argv[2..].iter();
    while let (Some(flag), Some(value)) = (rest.next(), rest.next()) {
        let parsed = match flag.as_str() {
            "--resolution" => value
                .split_once('x')
                .and_then(|(w, h)| Some((media.width, media.height) = (w.parse().ok()?, h.parse().ok()?))),
            "--fps" => value.parse().ok().map(|fps| media.fps = fps),
            "--seconds" => value.parse().ok().map(|s| seconds = s),
            _ => None,
        };
        if parsed.is_none() {
            eprintln!("concord-bot: cannot use {flag} {value}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    match write_pattern_h264(
        std::path::Path::new(path),
        media.width & !1,
        media.height & !1,
        media.fps.max(1),
        seconds,
    ) {
        Ok(frames) => {
            eprintln!("concord-bot: wrote {frames} frames to {path}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("concord-bot: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Vec<ParticipantReport> {
    let mut tasks = Vec::new();
    for i in 1..=args.participants {
        let account = Account {
            server: args.server.clone(),
            email: nth(&args.email, i, args.participants, '+'),
            password: args.password.clone(),
            register_as: args
                .register
                .then(|| nth(args.username.as_deref().unwrap_or("bot"), i, args.participants, '-')),
        };
        let mut media = args.media.clone();
        // Each participant its own tone, so a listener can tell them apart.
        media.tone_hz = media.tone_hz.map(|hz| hz + 110.0 * (i - 1) as f32);
        let (room, seconds) = (args.room, Duration::from_secs(args.seconds));
        tasks.push(tokio::spawn(participant::run(account, room, media, seconds)));
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
