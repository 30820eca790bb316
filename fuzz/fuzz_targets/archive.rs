//! Fuzzes the whole engine entry point on one in-memory file: format sniffing, the lenient zip
//! reader, tar, 7z and every decompressor, plus whatever scanner the content routes to.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Decoder panics that the engine catches and reports (modelgate::guard) are not crashes;
    // every other panic still reaches libFuzzer's hook.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    thread_local! {
        static ENGINE: modelgate::Engine = modelgate::Engine::with_defaults().expect("engine");
    }
    ENGINE.with(|e| {
        let _ = e.scan_bytes("fuzz.bin", data.to_vec());
    });
});
