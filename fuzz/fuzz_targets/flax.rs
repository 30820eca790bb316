//! Fuzzes the MessagePack reader directly and the Flax scanner through the engine (the input is
//! scanned under a `.msgpack` name, which routes content that sniffs as nothing to the scanner).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::msgpack::{looks_like_state_dict, read_slice};
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    let _ = read_slice(data, 1_000_000);
    let _ = looks_like_state_dict(data, true);
    let _ = engine().scan_bytes("flax_model.msgpack", data.to_vec());
});
