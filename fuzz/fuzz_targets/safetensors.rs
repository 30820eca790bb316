//! Fuzzes the safetensors scanner through the engine (the file name routes content that sniffs as
//! nothing to the safetensors scanner; content that sniffs as safetensors goes there anyway).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    let _ = engine().scan_bytes("model.safetensors", data.to_vec());
});
