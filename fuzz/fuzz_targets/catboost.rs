//! Fuzzes the CatBoost core reader directly and the CatBoost scanner through the engine (the input
//! is the core of a `CBM1` file whose size field matches it).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::catboost::read_core;
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    let _ = read_core(data);
    let mut b = b"CBM1".to_vec();
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    let _ = engine().scan_bytes("model.cbm", b);
});
