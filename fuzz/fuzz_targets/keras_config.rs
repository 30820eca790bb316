//! Keras config policy on arbitrary bytes named `config.json` (Keras v3 archive member).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static ENGINE: OnceLock<modelgate::Engine> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let e = ENGINE.get_or_init(|| modelgate::Engine::with_defaults().expect("engine"));
    let _ = e.scan_bytes("config.json", data.to_vec());
});
