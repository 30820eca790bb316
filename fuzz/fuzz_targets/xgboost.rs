//! Fuzzes the XGBoost readers directly (the UBJSON reader, the model checks, the legacy binary
//! reader) and the XGBoost scanner through the engine: the input is read as UBJSON after the
//! `{"learner": {` XGBoost writes first, and as a legacy binary after `binf`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::xgboost::{check_model, parse_ubj, read_legacy};
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    if let Ok(d) = parse_ubj(data) {
        let _ = check_model(&d);
    }
    let read = |at: u64, n: usize| -> std::io::Result<Vec<u8>> {
        let s = (at as usize).min(data.len());
        Ok(data[s..s.saturating_add(n).min(data.len())].to_vec())
    };
    let _ = read_legacy(data.len() as u64, &read);
    let mut ubj = b"{L\0\0\0\0\0\0\0\x07learner{".to_vec();
    ubj.extend_from_slice(data);
    let _ = engine().scan_bytes("model.ubj", ubj);
    let mut bin = b"binf".to_vec();
    bin.extend_from_slice(data);
    let _ = engine().scan_bytes("model.bst", bin);
});
