//! Fuzzes the `.npy` header parser and the numpy scanner end to end (object arrays route the
//! embedded pickle through the engine).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    let _ = modelgate::formats::npy::parse_npy(data);
    let mut b = b"\x93NUMPY".to_vec();
    b.extend_from_slice(data);
    let _ = engine().scan_bytes("x.npy", b);
});
