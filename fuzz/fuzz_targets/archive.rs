//! Fuzzes the whole engine entry point on one in-memory file: format sniffing, the lenient zip
//! reader, tar, 7z and every decompressor, plus whatever scanner the content routes to.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static ENGINE: modelgate::Engine = modelgate::Engine::with_defaults().expect("engine");
    }
    ENGINE.with(|e| {
        let _ = e.scan_bytes("fuzz.bin", data.to_vec());
    });
});
