//! `zmqio`: ZeroMQ from the shell, on zmqio.
//!
//! `send`, `recv`, `monitor`, `proxy`, `keygen` and `bench`; `zmqio help` lists them and
//! `zmqio help COMMAND` shows each one's options with examples. Exit status: 0 done, 1 a
//! failure while running (a lost connection, no CURVE in libzmq), 2 bad input (the message
//! names the argument), 130 a second Ctrl-C dropped messages not yet delivered.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod cmd;
mod error;
mod keys;
mod output;
mod socket;
mod time;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};

/// The one place the tool names its runtime: the facade's tokio module, whatever runtime
/// features are on in the build (the facade's root would follow smol or async-std if another
/// crate turned them on). Everything else says `zmqio::`.
pub(crate) use ::zmqio::tokio as zmqio;

use crate::args::{Cli, Command};
use crate::error::{failed, CliResult};

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(&failed(format!("cannot start the runtime: {e}"))),
    };
    let result = runtime.block_on(run(cli));
    // Whatever still runs (a context let go after a second Ctrl-C) is not waited for long.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

async fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Keygen(a) => cmd::keygen::run(a),
        command => {
            socket::listen_for_interrupts()?;
            let result = match command {
                Command::Recv(a) => cmd::recv::run(a).await,
                Command::Send(a) => cmd::send::run(a).await,
                Command::Monitor(a) => cmd::monitor::run(a).await,
                Command::Proxy(a) => cmd::proxy::run(a).await,
                Command::Bench(a) => cmd::bench::run(a).await,
                Command::Keygen(a) => cmd::keygen::run(a),
            };
            // Every socket is finished (or, after an early error, closing): deliver what
            // libzmq accepted before the process exits. The first error is the one to report.
            let ended = socket::shutdown().await;
            match result {
                Err(e @ error::CliError::Dropped(_)) => Err(e),
                Err(e) => match ended {
                    Err(dropped @ error::CliError::Dropped(_)) => Err(dropped),
                    _ => Err(e),
                },
                Ok(()) => ended,
            }
        }
    }
}

fn report(e: &error::CliError) -> ExitCode {
    eprintln!("error: {e}");
    e.exit_code()
}

/// Parses the command line. Help and version go to stdout (status 0); a usage error is
/// printed as one line naming the argument (status 2).
fn parse() -> Result<Cli, ExitCode> {
    let long_version: &'static str = Box::leak(zmqio::version().into_boxed_str());
    let command = Cli::command().long_version(long_version);
    // Lossy: a word that is not UTF-8 is left out of the redaction's list, not the parse.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let parsed = command
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    match parsed {
        Ok(cli) => Ok(cli),
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            Err(ExitCode::SUCCESS)
        }
        // `zmqio` alone: the help, with the commands, is the useful answer (on stderr,
        // status 2: no command ran).
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            Err(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("{}", one_line(&rendered(&e, &args)));
            Err(ExitCode::from(2))
        }
    }
}

/// The arguments whose values are secrets: a value refused there is named, never shown
/// (stderr ends up in logs and terminals' scrollback).
const SECRET_ARGS: &[&str] = &["--curve-secret-key", "--plain", "--plain-users"];

/// Whether a command-line word names a secret argument (`--plain` or `--plain=...`; clap's
/// `--plain <USER:PASS>`).
fn is_secret_arg(word: &str) -> bool {
    let name = word.split([' ', '=']).next().unwrap_or(word);
    SECRET_ARGS.contains(&name)
}

/// clap's error as text, without the value when a secret argument's value was refused.
///
/// `args` is the command line: when it has a secret argument, any other word of it that
/// clap quotes in its message (an unexpected argument, which may be a password split off
/// by a stray space: `--plain-users a:x, b:y`) is hidden too.
fn rendered(e: &clap::Error, args: &[String]) -> String {
    use clap::error::{ContextKind, ContextValue};
    if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
        if is_secret_arg(arg) {
            let why = std::error::Error::source(e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            return format!("error: invalid value for '{arg}' (not shown: it holds a secret){why}");
        }
    }
    let mut text = e.render().to_string();
    if args.iter().any(|a| is_secret_arg(a)) {
        for word in args.iter().skip(1).filter(|a| !a.starts_with('-')) {
            text = text.replace(
                &format!("'{word}'"),
                "'(not shown: the command line has secrets)'",
            );
        }
    }
    text
}

/// clap's error without its usage and hint lines, on one line: `error: the following
/// required arguments were not provided: --type <TYPE>`.
fn one_line(rendered: &str) -> String {
    let mut parts = Vec::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line);
        }
    }
    let mut text = parts.join(" ");
    if text.ends_with(':') {
        text.pop();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_become_one_line() {
        let e = Cli::command()
            .try_get_matches_from(["zmqio", "recv", "--bind", "tcp://127.0.0.1:*"])
            .unwrap_err();
        let line = one_line(&e.render().to_string());
        assert!(!line.contains('\n'));
        assert!(line.contains("--type"), "{line}");
    }

    #[test]
    fn a_refused_secret_is_named_but_not_shown() {
        let cases: &[(&[&str], &str)] = &[
            (&["--plain", ":hunter2"], "hunter2"),
            (
                &["--plain-server", "--plain-users", "alice:pw1,:hunter2"],
                "hunter2",
            ),
            (
                &[
                    "--curve-server",
                    "--curve-secret-key",
                    "s3cretKEYs3cretKEYs3cretKEY",
                ],
                "s3cret",
            ),
        ];
        for (extra, secret) in cases {
            let mut words = vec![
                "zmqio",
                "recv",
                "--type",
                "PULL",
                "--bind",
                "tcp://127.0.0.1:*",
            ];
            words.extend_from_slice(extra);
            let line = refusal(&words);
            assert!(!line.contains(secret), "{line}");
            assert!(line.contains(extra[extra.len() - 2]), "{line}");
            assert!(line.contains("not shown"), "{line}");
        }
        // A password split off by a stray space is an unexpected argument: hidden too.
        let line = refusal(&[
            "zmqio",
            "recv",
            "--type",
            "PULL",
            "--bind",
            "tcp://127.0.0.1:*",
            "--plain-server",
            "--plain-users",
            "alice:pw1,",
            "bob:hunter2",
        ]);
        assert!(!line.contains("hunter2"), "{line}");
        assert!(line.contains("unexpected argument"), "{line}");
        // Without a secret on the command line, clap's message keeps the value.
        let line = refusal(&["zmqio", "recv", "--type", "PULL", "--bind", "bogus"]);
        assert!(line.contains("'bogus'"), "{line}");
    }

    /// The one line printed for a command line clap refuses.
    fn refusal(words: &[&str]) -> String {
        let e = Cli::command().try_get_matches_from(words).unwrap_err();
        let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        one_line(&rendered(&e, &args))
    }
}
