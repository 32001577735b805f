//! `concord selftest`: the call test from the command line (desktop only).
//!
//! Runs [`concord_media::selftest`] and prints one JSON object on stdout.
//! Exit status: 0 when the test ran, 1 when it could not, 2 for bad usage.

use concord_media::devices::{self, SourceChoice};
use concord_media::selftest::{self, SelftestOptions};

const USAGE: &str = "\
usage: concord selftest [options]

Runs a call over a loopback connection on this machine and prints the result as JSON.

  --seconds N            how long media flows (default 5)
  --resolution WxH       camera resolution (default 1280x720)
  --fps N                frames per second (default 30)
  --loss PERCENT         drop this share of packets on the path (default 0)
  --bitrate-kbps N       camera bitrate (default: 1500 at 720p, scaled by size)
  --devices              use this machine's camera, screen, microphone and speaker
  --camera NAME|pattern|default|off
  --screen NAME|pattern|default|off
  --microphone NAME|tone|default|off
  --speaker NAME|none|default
  --list-devices         only list the devices found
";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// Run the test.
    Run(SelftestOptions),
    /// Print the devices.
    ListDevices,
    /// Print the usage.
    Help,
}

/// Parses the arguments after `selftest`.
pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let mut options = SelftestOptions::default();
    let mut explicit: Vec<(&str, SourceChoice)> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(Invocation::Help),
            "--list-devices" => return Ok(Invocation::ListDevices),
            "--devices" => options = options.with_devices(),
            "--seconds" => options.seconds = number(&value("--seconds")?, "--seconds", 1, 3600)?,
            "--fps" => options.fps = number(&value("--fps")?, "--fps", 1, 60)?,
            "--bitrate-kbps" => {
                options.bitrate_bps =
                    Some(number(&value("--bitrate-kbps")?, "--bitrate-kbps", 50, 20_000)? * 1000)
            }
            "--loss" => {
                let loss = value("--loss")?;
                options.loss_percent = loss
                    .parse::<f64>()
                    .ok()
                    .filter(|l| (0.0..=50.0).contains(l))
                    .ok_or_else(|| format!("--loss takes a percentage from 0 to 50, not {loss:?}"))?;
            }
            "--resolution" => {
                let text = value("--resolution")?;
                let (w, h) = text
                    .split_once(['x', 'X'])
                    .ok_or_else(|| format!("--resolution is WxH, not {text:?}"))?;
                options.width = number(w, "--resolution width", 16, 3840)?;
                options.height = number(h, "--resolution height", 16, 2160)?;
            }
            "--camera" => explicit.push(("camera", choice(&value("--camera")?, "pattern"))),
            "--screen" => explicit.push(("screen", choice(&value("--screen")?, "pattern"))),
            "--microphone" => explicit.push(("microphone", choice(&value("--microphone")?, "tone"))),
            "--speaker" => explicit.push(("speaker", choice(&value("--speaker")?, "none"))),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    // Explicit picks win over --devices, whatever their order.
    for (kind, picked) in explicit {
        match kind {
            "camera" => options.camera = picked,
            "screen" => options.screen = picked,
            "microphone" => options.microphone = picked,
            _ => options.speaker = picked,
        }
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

fn number(text: &str, name: &str, min: u32, max: u32) -> Result<u32, String> {
    text.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{name} takes a number from {min} to {max}, not {text:?}"))
}

/// Runs `concord selftest ARGS…`; returns the process exit status.
pub fn main(args: &[String]) -> i32 {
    match parse(args) {
        Err(message) => {
            eprintln!("concord selftest: {message}\n\n{USAGE}");
            2
        }
        Ok(Invocation::Help) => {
            print!("{USAGE}");
            0
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
            "--seconds 3 --resolution 640x360 --loss 2.5 --camera off --devices --microphone tone",
        )) else {
            panic!("not a run");
        };
        assert_eq!((options.seconds, options.width, options.height), (3, 640, 360));
        assert_eq!(options.loss_percent, 2.5);
        assert_eq!(options.camera, SourceChoice::Off);
        assert_eq!(options.microphone, SourceChoice::Synthetic);
        assert_eq!(options.screen, SourceChoice::Default);
        assert_eq!(
            parse(&args("--camera Logitech")).map(|i| match i {
                Invocation::Run(o) => o.camera,
                _ => SourceChoice::Off,
            }),
            Ok(SourceChoice::Named("Logitech".into()))
        );
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        assert!(parse(&args("--resolution 1280")).unwrap_err().contains("WxH"));
        assert!(parse(&args("--loss 80")).unwrap_err().contains("0 to 50"));
        assert!(parse(&args("--seconds")).unwrap_err().contains("needs a value"));
        assert!(parse(&args("--frobnicate")).unwrap_err().contains("unknown option"));
    }
}
