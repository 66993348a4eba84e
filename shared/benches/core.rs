//! Criterion benches of the shared core (filled in with the seed engine and seed shares).
fn main() {}
