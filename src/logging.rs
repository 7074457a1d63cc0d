//! `--log` and `--log-format`: error (and, with `--debug`, debug) lines in runc's formats,
//! which containerd reads back when a call fails.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::container::state::rfc3339_now;

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

struct Config {
    path: Option<PathBuf>,
    format: Format,
    debug: bool,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

pub fn init(path: Option<PathBuf>, format: Format, debug: bool) {
    let _ = CONFIG.set(Config {
        path,
        format,
        debug,
    });
}

/// Sets the log up from the raw command line, for a failure before (or in) clap's parse;
/// does nothing once `init` has run.
pub fn init_from_raw_args() {
    let (log, format) = log_flags(std::env::args_os().skip(1));
    init(log, format, false);
}

/// `--log` and `--log-format` picked out of a command line clap refused, so the usage
/// error can still be logged where the caller asked. Anything unreadable is left default.
fn log_flags(args: impl Iterator<Item = std::ffi::OsString>) -> (Option<PathBuf>, Format) {
    let mut log = None;
    let mut format = Format::Text;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) => (name, Some(std::ffi::OsString::from(value))),
            None => (text, None),
        };
        if name != "--log" && name != "--log-format" {
            continue;
        }
        let Some(value) = inline.or_else(|| args.next()) else {
            break;
        };
        if name == "--log" {
            log = Some(PathBuf::from(value));
        } else if let Some(parsed) = value
            .to_str()
            .and_then(|v| <Format as clap::ValueEnum>::from_str(v, false).ok())
        {
            format = parsed;
        }
    }
    (log, format)
}

pub fn error(message: &str) {
    write("error", message);
}

/// What went wrong without failing the command (a poststart or poststop hook), at logrus'
/// `warning` level as runc writes it.
pub fn warning(message: &str) {
    write("warning", message);
}

pub fn debug(message: &str) {
    if CONFIG.get().is_some_and(|c| c.debug) {
        write("debug", message);
    }
}

fn write(level: &str, message: &str) {
    let Some(config) = CONFIG.get() else { return };
    let Some(path) = &config.path else {
        if level == "debug" {
            eprintln!("skiff: debug: {message}");
        }
        return;
    };
    let line = render(config.format, level, message, &rfc3339_now());
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = file.write_all(line.as_bytes());
    }
}

fn render(format: Format, level: &str, message: &str, time: &str) -> String {
    match format {
        Format::Json => {
            let entry = serde_json::json!({"level": level, "msg": message, "time": time});
            format!("{entry}\n")
        }
        Format::Text => format!(
            "time={time:?} level={level} msg={}\n",
            serde_json::Value::from(message)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_flags_are_found_in_a_refused_command_line() {
        let args = |line: &str| {
            line.split(' ')
                .map(std::ffi::OsString::from)
                .collect::<Vec<_>>()
        };
        let (log, format) = log_flags(args("--log /l --log-format json nosuch").into_iter());
        assert_eq!(log, Some(PathBuf::from("/l")));
        assert_eq!(format, Format::Json);
        let (log, format) =
            log_flags(args("create --bogus --log=/m --log-format=json").into_iter());
        assert_eq!(log, Some(PathBuf::from("/m")));
        assert_eq!(format, Format::Json);
        let (log, format) = log_flags(args("--log-format yaml --log").into_iter());
        assert_eq!(log, None);
        assert_eq!(format, Format::Text);
        let (log, _) = log_flags(args("run -- --log /x").into_iter());
        assert_eq!(log, None);
    }

    #[test]
    fn json_lines_have_runc_fields() {
        let line = render(Format::Json, "error", "bad \"x\"", "T");
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["level"], "error");
        assert_eq!(parsed["msg"], "bad \"x\"");
        assert_eq!(parsed["time"], "T");
        assert!(line.ends_with('\n'));
    }

    #[test]
    fn text_lines_quote_the_message() {
        assert_eq!(
            render(Format::Text, "error", "a b", "T"),
            "time=\"T\" level=error msg=\"a b\"\n"
        );
    }
}
