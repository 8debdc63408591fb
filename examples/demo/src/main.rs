//! zmqio's demonstration: REQ/REP, PUB/SUB, PUSH/PULL and DEALER/ROUTER through the
//! transport/protocol API over tcp, on tokio (multi-thread), smol and async-std in turn.
//!
//! Run it with `cargo run --release -p zmqio-demo`. The demo itself (`demo.rs`) is written
//! once, against a crate called `zmqio`; `on_tokio.rs`, `on_smol.rs` and `on_async_std.rs`
//! each compile it once, with their adapter crate as `zmqio` and their own way to block on a
//! future and to sleep. Switching runtime is that one `use` line.
//!
//! Exit status: 0 when every pattern worked on every runtime, 1 when a check failed, 2 when
//! the watchdog fired (something hung).

use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

mod on_async_std;
mod on_smol;
mod on_tokio;

/// The errors a demo step reports: zmqio's, or a failed check.
type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The whole demo must end within this time, or the watchdog ends the process.
const WATCHDOG: Duration = Duration::from_secs(60);

/// What the demo is doing now, for the watchdog's message.
static STEP: Mutex<String> = Mutex::new(String::new());

/// Records the current step for the watchdog.
fn set_step(step: String) {
    *STEP.lock().unwrap_or_else(PoisonError::into_inner) = step;
}

fn main() -> ExitCode {
    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        let step = STEP.lock().unwrap_or_else(PoisonError::into_inner).clone();
        eprintln!("watchdog: the demo is stuck in {step} after {WATCHDOG:?}; giving up");
        std::process::exit(2);
    });

    println!("zmqio {}\n", zmqio_tokio::version());
    let runs = [on_tokio::run(), on_smol::run(), on_async_std::run()];
    let failed = runs.iter().filter(|ok| !**ok).count();
    // End zmqio's process-wide context before returning from main, so nothing written is
    // lost at exit. The runtimes above are done; any executor can wait for it.
    set_step("shutdown".into());
    let ended = futures::executor::block_on(zmqio_tokio::shutdown(Duration::from_secs(10)));
    if let Err(e) = &ended {
        println!("shutdown: {e}");
    }
    if failed > 0 {
        println!("{failed} of {} runtimes had a failure", runs.len());
    }
    if failed == 0 && ended.is_ok() {
        println!("every pattern worked on all three runtimes");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
