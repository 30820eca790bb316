//! HDF5 scanner (hdf5-reader behind catch_unwind, structure walk, Keras attributes).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static ENGINE: OnceLock<modelgate::Engine> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    // Decoder panics that the engine catches and reports (modelgate::guard) are not crashes;
    // every other panic still reaches libFuzzer's hook.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    let e = ENGINE.get_or_init(|| modelgate::Engine::with_defaults().expect("engine"));
    let mut b = b"\x89HDF\r\n\x1a\n".to_vec();
    b.extend_from_slice(data);
    let _ = e.scan_bytes("model.h5", b);
});
