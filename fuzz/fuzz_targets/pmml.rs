//! Fuzzes the XML event reader and the PMML document reader directly, and the PMML scanner
//! through the engine (the input as a `.pmml` file, and behind a `<PMML>` root so that every
//! input reaches the scanner past sniffing). The fixtures in `testdata/pmml` make a seed corpus.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::pmml::Document;
use modelgate::formats::xml::{read_events, root_name};
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    let _ = root_name(data);
    let _ = read_events(data, |_| true);
    let _ = Document::read(data);
    let _ = engine().scan_bytes("model.pmml", data.to_vec());
    let mut doc = b"<PMML version=\"4.4\">".to_vec();
    doc.extend_from_slice(data);
    let _ = engine().scan_bytes("model.xml", doc);
});
