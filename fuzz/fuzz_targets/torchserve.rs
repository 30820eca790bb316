//! Fuzzes the TorchServe manifest reader directly, and the TorchServe scanner and the archive's
//! member classification through the engine: the input is the `MAR-INF/MANIFEST.json` of a
//! stored zip that also holds a handler and a requirements file.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::torchserve::{handler_module, Manifest, MANIFEST_PATH};
use modelgate::Engine;

mod stored_zip;
use stored_zip::stored_zip;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    if let Ok(m) = Manifest::parse(data) {
        if let Some(h) = m.handler.as_deref() {
            let _ = handler_module(h);
        }
    }
    let zip = stored_zip(&[
        (MANIFEST_PATH, data),
        ("handler.py", b"def handle(data, context):\n    return data\n"),
        ("requirements.txt", b"torch\n"),
    ]);
    let _ = engine().scan_bytes("model.mar", zip);
});
