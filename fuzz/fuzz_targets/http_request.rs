#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rtmpws_fuzz_harness::http_request::run(data));
