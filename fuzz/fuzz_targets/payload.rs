//! Fuzzes the lock-file payload parser; see `sessionlock_model::fuzz::payload`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sessionlock_model::fuzz::payload(data));
