#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wagate_fuzz::content(data));
