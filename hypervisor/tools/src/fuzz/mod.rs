//! Fuzz targets, kept with the code they exercise. Each is a function of
//! arbitrary bytes that panics when one of its oracles fails. They run two
//! ways: coverage-guided with cargo-fuzz and libFuzzer on nightly
//! (`scripts/fuzz TARGET [SECONDS]`, crate `fuzz/`), and bounded on the
//! pinned stable toolchain from a fixed seed (`tests/fuzz.rs`, part of
//! `scripts/test`), which also replays every minimized crasher kept in
//! `tests/fuzz-regressions/TARGET/`.

pub mod dt_plan;
pub mod hypercall;
