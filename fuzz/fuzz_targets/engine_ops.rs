//! Fuzz target `engine_ops`: engine operation sequences (a socket kind and `Op`s) applied to
//! the engine over the fake backend, checked against the reference model and the invariants
//! listed in `zmqio_core::fuzzing::engine` after every step.
//!
//! The input is decoded as libFuzzer's `arbitrary_take_rest`, exactly as
//! `zmqio_core::fuzzing::engine_ops` does, so `cargo test -p zmqio-core` replays
//! `fuzz/corpus/engine_ops/` through the very same code on stable Rust, and
//! `cargo fuzz fmt engine_ops <input>` prints an input's operations.
#![no_main]

use zmqio_core::fuzzing::{engine, EngineCase};

libfuzzer_sys::fuzz_target!(|case: EngineCase| engine::run(&case));
