//! Every flag `--help` lists is documented in that command's man page.

use std::path::Path;
use std::process::Command;

/// The subcommands `skiff --help` lists (but clap's own `help`): a new one without a
/// page fails here.
fn commands() -> Vec<String> {
    let help = help_of(&[]);
    let listed = help
        .split_once("Commands:")
        .and_then(|(_, rest)| rest.split_once("Options:"))
        .map(|(commands, _)| commands)
        .unwrap_or_default();
    let commands: Vec<String> = listed
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    assert!(
        commands.len() > 10,
        "no subcommands found in --help: {help}"
    );
    commands
}

/// The long flags a page documents in its OPTIONS section: those on the tag line of each
/// `.TP` entry.
fn documented_flags(page: &str) -> Vec<String> {
    let options = page
        .split_once(".SH OPTIONS")
        .map(|(_, rest)| rest.split(".SH ").next().unwrap_or_default())
        .unwrap_or_default();
    let lines: Vec<&str> = options.lines().collect();
    let mut flags: Vec<String> = lines
        .windows(2)
        .filter(|pair| pair[0].trim() == ".TP")
        .flat_map(|pair| {
            pair[1]
                .split(|c: char| c.is_whitespace() || c == '"' || c == ',' || c == '=')
                .filter(|w| w.starts_with("--") && w.len() > 2)
                .map(|w| {
                    w.trim_end_matches(|c: char| !c.is_alphanumeric())
                        .to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

fn skiff() -> String {
    std::env::var("SKIFF_TEST_RUNTIME").unwrap_or_else(|_| env!("CARGO_BIN_EXE_skiff").into())
}

/// The long flags in a help text's Options section (`--bundle`, `--pid-file`, ...).
fn long_flags(help: &str) -> Vec<String> {
    let options = help
        .split_once("Options:")
        .map(|(_, o)| o)
        .unwrap_or_default();
    let separator = |c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == ']';
    let mut flags: Vec<String> = options
        .lines()
        // The flag names come before the two spaces that start the description.
        .filter_map(|line| line.trim_start().split("  ").next())
        .flat_map(|names| names.split(separator))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_alphanumeric())
                .to_string()
        })
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

fn help_of(args: &[&str]) -> String {
    let out = Command::new(skiff())
        .args(args)
        .arg("--help")
        .output()
        .expect("running skiff --help");
    assert!(out.status.success(), "{args:?} --help failed");
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// A man page's text with roff's escaped hyphens (`\-`) made plain.
fn page(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man").join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace("\\-", "-")
}

#[test]
fn every_subcommand_flag_is_in_its_page() {
    let global = long_flags(&help_of(&[]));
    for command in commands() {
        let command = command.as_str();
        let help = help_of(&[command]);
        // Global flags (shown in every subcommand's help) belong to skiff.8.
        let all = long_flags(&help);
        assert!(
            all.iter().any(|f| f == "--help"),
            "{command}: no flags parsed"
        );
        let flags: Vec<String> = all
            .iter()
            .filter(|f| !global.contains(f))
            .cloned()
            .collect();
        let text = page(&format!("skiff-{command}.8"));
        for flag in &flags {
            assert!(
                text.contains(flag.as_str()),
                "skiff-{command}.8 does not document {flag}"
            );
        }
        // And the other way round: the page documents no flag the command lacks.
        let documented = documented_flags(&text);
        assert!(
            documented.iter().any(|f| f == "--help"),
            "skiff-{command}.8: no OPTIONS entries found"
        );
        for flag in documented {
            assert!(
                all.contains(&flag) || global.contains(&flag),
                "skiff-{command}.8 documents {flag}, which `skiff {command} --help` does not list"
            );
        }
    }
}

#[test]
fn every_global_flag_is_in_the_main_page() {
    let flags = long_flags(&help_of(&[]));
    for expected in [
        "--root",
        "--log",
        "--log-format",
        "--debug",
        "--systemd-cgroup",
        "--rootless",
    ] {
        assert!(
            flags.iter().any(|f| f == expected),
            "--help lacks {expected}"
        );
    }
    let text = page("skiff.8");
    for flag in flags.iter().filter(|f| *f != "--help") {
        assert!(
            text.contains(flag.as_str()),
            "skiff.8 does not document {flag}"
        );
    }
    for flag in documented_flags(&text) {
        assert!(
            flags.contains(&flag),
            "skiff.8 documents {flag}, which `skiff --help` does not list"
        );
    }
    for command in commands() {
        assert!(
            text.contains(&format!("skiff-{command}")),
            "skiff.8 does not point to skiff-{command}(8)"
        );
    }
}
