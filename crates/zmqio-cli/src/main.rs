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
    let parsed = command
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    match parsed {
        Ok(cli) => Ok(cli),
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            Err(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}", one_line(&rendered(&e)));
            Err(ExitCode::from(2))
        }
    }
}

/// The arguments whose values are secrets: a value refused there is named, never shown
/// (stderr ends up in logs and terminals' scrollback).
const SECRET_ARGS: &[&str] = &["--curve-secret-key", "--plain", "--plain-users"];

/// clap's error as text, without the value when a secret argument's value was refused.
fn rendered(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
        let name = arg.split([' ', '=']).next().unwrap_or(arg);
        if SECRET_ARGS.contains(&name) {
            let why = std::error::Error::source(e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            return format!("error: invalid value for '{arg}' (not shown: it holds a secret){why}");
        }
    }
    e.render().to_string()
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
            let mut args = vec![
                "zmqio",
                "recv",
                "--type",
                "PULL",
                "--bind",
                "tcp://127.0.0.1:*",
            ];
            args.extend_from_slice(extra);
            let e = Cli::command().try_get_matches_from(args).unwrap_err();
            let line = one_line(&rendered(&e));
            assert!(!line.contains(secret), "{line}");
            assert!(line.contains(extra[extra.len() - 2]), "{line}");
            assert!(line.contains("not shown"), "{line}");
        }
        // Other arguments keep clap's message with the value.
        let e = Cli::command()
            .try_get_matches_from(["zmqio", "recv", "--type", "PULL", "--bind", "bogus"])
            .unwrap_err();
        assert!(rendered(&e).contains("'bogus'"));
    }
}
