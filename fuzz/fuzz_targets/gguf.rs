//! Fuzzes the gguf scanner through the engine (the file name routes content that sniffs as
//! nothing to the gguf scanner; content that sniffs as gguf goes there anyway).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    // As in the archive target: content is sniffed, so 7z and HDF5 bytes reach the decoders that
    // the engine runs under modelgate::guard; a panic caught and reported there is not a crash,
    // every other panic still reaches libFuzzer's hook.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    let _ = engine().scan_bytes("model.gguf", data.to_vec());
});
