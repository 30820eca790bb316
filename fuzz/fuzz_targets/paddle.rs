//! Fuzzes the Paddle program and parameters readers directly, and the Paddle scanner through the
//! engine under both names.
#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::paddle::{parse_program, read_params};
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    let _ = parse_program(data);
    let _ = read_params(Cursor::new(data), data.len() as u64);
    let _ = engine().scan_bytes("inference.pdmodel", data.to_vec());
    let _ = engine().scan_bytes("inference.pdiparams", data.to_vec());
});
