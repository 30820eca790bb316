//! Fuzzes the LightGBM text-model checks directly and the LightGBM scanner through the engine
//! (the input follows the `tree`/`version=v4` header, so every input reaches it).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::lightgbm::check_model;
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    let _ = check_model(data);
    let mut text = b"tree\nversion=v4\n".to_vec();
    text.extend_from_slice(data);
    let _ = engine().scan_bytes("model.txt", text);
});
