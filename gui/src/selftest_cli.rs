//! `concord selftest`: the call test from the command line (desktop only).
//!
//! Runs [`concord_media::selftest`] and prints one JSON object on stdout.
//! Exit status: 0 when the test ran, 1 when it could not, 2 for bad usage.

use clap::Parser;
use concord_call::options::Resolution;
use concord_media::devices::{self, SourceChoice};
use concord_media::selftest::{self, SelftestOptions};

/// Runs a call over a loopback connection on this machine and prints the
/// result as JSON.
#[derive(Debug, Parser)]
#[command(name = "concord selftest", long_about = None)]
struct Cli {
    /// How long media flows, in seconds (with --frames, the most it flows).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=3600))]
    seconds: u32,
    /// End once every video track has sent this many frames.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    frames: Option<u64>,
    /// Camera resolution.
    #[arg(long, default_value = "1280x720")]
    resolution: Resolution,
    /// Frames per second.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=60))]
    fps: u32,
    /// Drop this share of packets on the path, in percent (0 to 50).
    #[arg(long, default_value_t = 0.0, value_parser = loss_percent)]
    loss: f64,
    /// Camera bitrate (default: 1500 at 720p, scaled by size).
    #[arg(long, value_parser = clap::value_parser!(u32).range(50..=20_000))]
    bitrate_kbps: Option<u32>,
    /// Use this machine's camera, screen, microphone and speaker.
    #[arg(long)]
    devices: bool,
    /// NAME, pattern, default or off.
    #[arg(long)]
    camera: Option<String>,
    /// NAME, pattern, default or off.
    #[arg(long)]
    screen: Option<String>,
    /// NAME, tone, default or off.
    #[arg(long)]
    microphone: Option<String>,
    /// NAME, none, default (or off).
    #[arg(long)]
    speaker: Option<String>,
    /// Only list the devices found.
    #[arg(long)]
    list_devices: bool,
}

fn loss_percent(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|l| (0.0..=50.0).contains(l))
        .ok_or_else(|| format!("a percentage from 0 to 50, not {text:?}"))
}

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// Run the test.
    Run(SelftestOptions),
    /// Print the devices.
    ListDevices,
}

/// Parses the arguments after `selftest` (clap's error carries the usage,
/// or the help that was asked for).
pub fn parse(args: &[String]) -> Result<Invocation, clap::Error> {
    let cli =
        Cli::try_parse_from(std::iter::once("concord selftest").chain(args.iter().map(String::as_str)))?;
    if cli.list_devices {
        return Ok(Invocation::ListDevices);
    }
    let mut options = SelftestOptions::default();
    if cli.devices {
        options = options.with_devices();
    }
    options.seconds = cli.seconds;
    options.frames = cli.frames;
    options.fps = cli.fps;
    options.loss_percent = cli.loss;
    options.bitrate_bps = cli.bitrate_kbps.map(|kbps| kbps * 1000);
    (options.width, options.height) = (cli.resolution.width, cli.resolution.height);
    // Explicit picks win over --devices.
    if let Some(camera) = &cli.camera {
        options.camera = choice(camera, "pattern");
    }
    if let Some(screen) = &cli.screen {
        options.screen = choice(screen, "pattern");
    }
    if let Some(microphone) = &cli.microphone {
        options.microphone = choice(microphone, "tone");
    }
    if let Some(speaker) = &cli.speaker {
        options.speaker = choice(speaker, "none");
    }
    Ok(Invocation::Run(options))
}

fn choice(value: &str, synthetic_word: &str) -> SourceChoice {
    match value {
        "off" => SourceChoice::Off,
        "default" => SourceChoice::Default,
        v if v == synthetic_word => SourceChoice::Synthetic,
        name => SourceChoice::Named(name.to_owned()),
    }
}

/// Runs `concord selftest ARGS…`; returns the process exit status.
pub fn main(args: &[String]) -> i32 {
    match parse(args) {
        // --help prints to stdout and exits 0; a usage error to stderr, 2.
        Err(error) => {
            let _ = error.print();
            if error.use_stderr() {
                2
            } else {
                0
            }
        }
        Ok(Invocation::ListDevices) => print_json(&devices::list_all()),
        Ok(Invocation::Run(options)) => match selftest::run_blocking(options) {
            Ok(report) => print_json(&report),
            Err(error) => {
                println!("{}", serde_json::json!({ "error": error.to_string() }));
                eprintln!("concord selftest: {error}");
                1
            }
        },
    }
}

fn print_json(value: &impl serde::Serialize) -> i32 {
    match serde_json::to_string_pretty(value) {
        Ok(json) => {
            println!("{json}");
            0
        }
        Err(error) => {
            eprintln!("concord selftest: {error}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options_are_read_and_explicit_picks_win_over_devices() {
        let Ok(Invocation::Run(options)) = parse(&args(
            "--seconds 3 --frames 40 --resolution 640x360 --loss 2.5 --camera off --devices --microphone tone",
        )) else {
            panic!("not a run");
        };
        assert_eq!((options.seconds, options.width, options.height), (3, 640, 360));
        assert_eq!(options.frames, Some(40));
        assert_eq!(options.loss_percent, 2.5);
        assert_eq!(options.camera, SourceChoice::Off);
        assert_eq!(options.microphone, SourceChoice::Synthetic);
        assert_eq!(options.screen, SourceChoice::Default);
        let camera = match parse(&args("--camera Logitech")) {
            Ok(Invocation::Run(options)) => options.camera,
            other => panic!("not a run: {other:?}"),
        };
        assert_eq!(camera, SourceChoice::Named("Logitech".into()));
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        let error = |text: &str| parse(&args(text)).unwrap_err().to_string();
        assert!(error("--resolution 1280").contains("WxH"));
        assert!(error("--loss 80").contains("0 to 50"));
        assert!(error("--seconds").contains("a value is required"));
        assert!(error("--frames 0").contains("0 is not in 1.."));
        assert!(error("--frobnicate").contains("unexpected argument"));
        assert!(!parse(&args("--help")).unwrap_err().use_stderr(), "help is not an error");
    }
}
