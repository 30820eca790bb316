//! The marshalled-code-object header reader used for Keras Lambda bytecode.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = modelgate::scanners::keras::marshal::read_code(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(raw) = modelgate::scanners::keras::marshal::decode_func_dump(text) {
            let _ = modelgate::scanners::keras::marshal::read_code(&raw);
        }
    }
});
