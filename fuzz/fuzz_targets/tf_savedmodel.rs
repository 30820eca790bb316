//! SavedModel (binary and text) and keras_metadata.pb decoding and op policy.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static ENGINE: OnceLock<modelgate::Engine> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let e = ENGINE.get_or_init(|| modelgate::Engine::with_defaults().expect("engine"));
    let _ = e.scan_bytes("saved_model.pb", data.to_vec());
    let _ = e.scan_bytes("keras_metadata.pb", data.to_vec());
    let _ = e.scan_bytes("saved_model.pbtxt", data.to_vec());
});
