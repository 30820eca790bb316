//! Fuzzes the Torch7 reader directly (as given and behind a torch object header), and the Torch7
//! scanner through the engine under a `.t7` name.
#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::torch7::parse;
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    let _ = parse(Cursor::new(data), data.len() as u64);
    let mut bytes = b"\x04\0\0\0\x01\0\0\0\x03\0\0\0V 1".to_vec();
    bytes.extend_from_slice(data);
    let _ = parse(Cursor::new(&bytes), bytes.len() as u64);
    let _ = engine().scan_bytes("model.t7", bytes);
});
