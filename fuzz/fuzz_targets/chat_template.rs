//! Fuzzes the Jinja chat-template linter (parser, constant folding, lexical fallback).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = modelgate::scanners::template::lint(s);
    }
});
