//! Fuzzes the executable scanner through the engine: the input behind each program magic (APE,
//! ELF, PE, Mach-O, `#!` with a NUL) under a llamafile name, so every input reaches the scanner's
//! GGUF search and the GGUF scanner on what it finds.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    for magic in [
        &b"MZqFpD='"[..],
        b"\x7fELF",
        b"MZ",
        b"\xcf\xfa\xed\xfe",
        b"#!/bin/sh\n\0",
    ] {
        let mut b = magic.to_vec();
        b.extend_from_slice(data);
        let _ = engine().scan_bytes("model.llamafile", b);
    }
});
