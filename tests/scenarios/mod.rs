//! The scenario suite, written once and compiled once per runtime (see `tests/*.rs`).
//!
//! Each file in `tests/` aliases its adapter crate as `crate::zmqio` and provides `crate::rt`
//! with `run` (block on a future under the watchdog), `sleep` and `spawn`.

/// Declares a scenario: a `#[test]` that runs the async body on this file's runtime under the
/// watchdog.
macro_rules! scenario {
    ($(#[$meta:meta])* async fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            crate::rt::run(stringify!($name), async move $body)
        }
    };
}

mod endpoints;
mod monitor;
mod reliability;
mod stream;
mod transport;
