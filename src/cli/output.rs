//! What a command prints on stdout. A reader that stops early (`skiff list | head -1`)
//! closes the pipe; Rust's print! then panics and skiff aborts. Here the rest of the
//! output is dropped instead: the reader asked for no more.

use std::io::{ErrorKind, Write};

use anyhow::{Context, Result};

/// Writes `text` to stdout, treating a closed reader as done.
pub fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}
