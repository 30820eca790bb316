//! Fuzzes the MXNet NDArray-list reader directly and the MXNet scanner through the engine: the
//! input follows the list magic, and is also scanned as a symbol graph.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::mxnet::read_params;
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    let mut b = 0x112u64.to_le_bytes().to_vec();
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(data);
    let read = |at: u64, n: usize| -> std::io::Result<Vec<u8>> {
        let s = (at as usize).min(b.len());
        Ok(b[s..s.saturating_add(n).min(b.len())].to_vec())
    };
    let _ = read_params(b.len() as u64, &read);
    let _ = engine().scan_bytes("net-0000.params", b.clone());
    let mut sym = br#"{"nodes": [{"op": "#.to_vec();
    sym.extend_from_slice(data);
    let _ = engine().scan_bytes("net-symbol.json", sym);
});
