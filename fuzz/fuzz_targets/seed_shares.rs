//! cargo-fuzz target `seed_shares`; the harness body and its invariants are in `../targets.rs`.
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::seed_shares(data));
