//! Fuzzes the RAR header reader directly (after each signature, and behind a self-extractor
//! prelude) and the RAR walker through the engine, with the input after a RAR 4 and a RAR 5
//! signature. The fixtures in `testdata/rar` make a seed corpus.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::rar::{find_signature, read_listing, Source};
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fn list(bytes: &[u8]) {
    let read = |at: u64, n: usize| -> std::io::Result<Vec<u8>> {
        let s = usize::try_from(at).unwrap_or(usize::MAX).min(bytes.len());
        let e = s.saturating_add(n).min(bytes.len());
        Ok(bytes[s..e].to_vec())
    };
    if let Some((version, offset)) = find_signature(bytes) {
        let source = Source {
            len: bytes.len() as u64,
            read_at: &read,
        };
        let _ = read_listing(&source, version, offset);
    }
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    // The input as it is (a fixture seed), and after each signature.
    list(data);
    let _ = engine().scan_bytes("model.rar", data.to_vec());
    for sig in [&b"Rar!\x1a\x07\x00"[..], &b"Rar!\x1a\x07\x01\x00"[..]] {
        let mut v = sig.to_vec();
        v.extend_from_slice(data);
        list(&v);
        let _ = engine().scan_bytes("model.rar", v.clone());
        // Behind a program: read as a self-extracting archive.
        let mut sfx = b"MZ\x90\x00".to_vec();
        sfx.extend_from_slice(&v);
        let _ = engine().scan_bytes("setup.exe", sfx);
    }
});
