//! Fuzzes the OpenVINO IR reader directly and the OpenVINO scanner through the engine (the input
//! behind a `<net><layers>` root, so that every input reaches the scanner past sniffing). The
//! `model.xml` files under `testdata/openvino` make a seed corpus.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::openvino::{parse_uint64_attr, Ir};
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_uint64_attr(s);
    }
    let _ = Ir::read(data);
    let _ = engine().scan_bytes("model.xml", data.to_vec());
    let mut doc = b"<net name=\"m\" version=\"11\"><layers>".to_vec();
    doc.extend_from_slice(data);
    let _ = engine().scan_bytes("openvino_model.xml", doc);
});
