//! Fuzzes the bounded FlatBuffers reader through the TFLite and ORT model walks directly, and the
//! tflite and ort scanners through the engine (the identifier is forced at bytes 4..8, so every
//! input reaches the scanner; the names route the rest there too).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::flatbuffer::Reader;
use modelgate::formats::{ort, tflite};
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    let r = Reader::new(&data, 1_000_000);
    let _ = tflite::parse(&r, &mut tflite::Model::default());
    let r = Reader::new(&data, 1_000_000);
    let _ = ort::parse(&r, &mut ort::OrtModel::default());
    for (id, name) in [(b"TFL3", "model.tflite"), (b"ORTM", "model.ort")] {
        let mut b = data.to_vec();
        if b.len() >= 8 {
            b[4..8].copy_from_slice(id);
        }
        let _ = engine().scan_bytes(name, b);
    }
});
