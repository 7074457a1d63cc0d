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
