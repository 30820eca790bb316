//! Fuzzes the TensorRT plan header, the Ultralytics prefix reader and the blob string/ELF pass
//! directly, and the TensorRT scanner through the engine (the input raw under an engine's name,
//! and behind the `ftrt` tag so that every input reaches the scanner). The files under
//! `testdata/tensorrt` make a seed corpus.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::native::scan_blob;
use modelgate::formats::tensorrt::{is_plugin_name, parse_header, ultralytics_prefix};
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    let _ = ultralytics_prefix(data);
    let _ = parse_header(data, 0);
    let _ = scan_blob(data, is_plugin_name);
    let _ = engine().scan_bytes("model.engine", data.to_vec());
    let mut plan = b"ftrt".to_vec();
    plan.extend_from_slice(data);
    let _ = engine().scan_bytes("model.plan", plan);
});
