//! Fuzzes the signature-file parsers: Sigstore bundle JSON → DSSE → in-toto statement → OMS
//! manifest, and the PEM key readers. Run: `cargo +nightly fuzz run sign_bundle` in fuzz/.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelgate::sign::{bundle, Bundle, Manifest, PrivateKey, PublicKey};

/// A fixed P-256 public key (from testdata/sign/p256.pub).
const KEY: &str = include_str!("../../testdata/sign/p256.pub");

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = PublicKey::from_pem(KEY) {
        if let Ok(b) = Bundle::from_json(data) {
            let _ = b.verify(&key);
        }
    }
    // The statement layer, as if the signature had verified.
    if let Ok(st) = bundle::parse_statement(data) {
        let _ = Manifest::from_statement(&st);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = PrivateKey::from_pem(text);
        let _ = PublicKey::from_pem(text);
    }
});
