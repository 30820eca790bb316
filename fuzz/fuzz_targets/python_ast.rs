//! The Python AST analyser and the lenient config readers on arbitrary input: parse, resolve
//! and walk without panicking, overflowing the stack or running away (deep nesting is bounded
//! by `nesting_bound` and analysed on a thread with a large stack).
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelgate::scanners::code::{lenient, pyast};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = pyast::analyze_bounded(&text);
    if let Ok((v, _)) = lenient::parse_json(data) {
        let _ = lenient::find_keys(&v, lenient::CODE_KEYS);
    }
    let _ = lenient::raw_key_values(&text, lenient::CODE_KEYS);
});
