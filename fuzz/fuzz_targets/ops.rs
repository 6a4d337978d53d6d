//! Fuzzes operation sequences against the core; see `sessionlock_model::fuzz::ops`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sessionlock_model::fuzz::ops(data);
});
