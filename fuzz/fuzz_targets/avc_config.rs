#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rtmpws_fuzz_harness::avc_config::run(data));
