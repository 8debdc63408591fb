//! Fuzz target `endpoint`: the endpoint checks (syntax, connect, `tcp_host_to_resolve`) never
//! panic and agree with each other, and `format_tcp_endpoint` round-trips.
//!
//! The check lives in `zmqio_core::fuzzing::endpoint`, so `cargo test -p zmqio-core`
//! replays `fuzz/corpus/endpoint/` through the very same code on stable Rust.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zmqio_core::fuzzing::endpoint(data));
