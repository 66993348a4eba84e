//! cargo-fuzz target `latest_verify`; the harness body and its invariants are in `../targets.rs`.
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::latest_verify(data));
