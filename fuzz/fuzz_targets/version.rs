//! Fuzz target `version`: `parse_version` on arbitrary text never panics, and versions
//! round-trip through `Display`.
//!
//! The check lives in `zmqio_core::fuzzing::version`, so `cargo test -p zmqio-core`
//! replays `fuzz/corpus/version/` through the very same code on stable Rust.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zmqio_core::fuzzing::version(data));
