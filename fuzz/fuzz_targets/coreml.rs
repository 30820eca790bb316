//! Fuzzes the Core ML model reader directly (prost decoding against the minimal schema and the
//! walk over pipelines, layers and links) and the Core ML scanner through the engine (the input
//! under an `.mlmodel` name). The files under `testdata/coreml` make a seed corpus.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::coreml::read;
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    if let Ok(s) = read(data) {
        for l in &s.linked_models {
            let _ = l.escapes();
        }
    }
    let _ = engine().scan_bytes("model.mlmodel", data.to_vec());
});
