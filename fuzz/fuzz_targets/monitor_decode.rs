//! Fuzz target `monitor_decode`: `decode_monitor_event` on arbitrary frames never panics,
//! and decoding and encoding round-trip both ways.
//!
//! The check lives in `zmqio_core::fuzzing::monitor_decode`, so `cargo test -p zmqio-core`
//! replays `fuzz/corpus/monitor_decode/` through the very same code on stable Rust.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zmqio_core::fuzzing::monitor_decode(data));
