//! Fuzzes the skops `schema.json` reader directly, and the skops scanner through the engine: the
//! input is the `schema.json` of a stored zip named `.skops`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::skops::{parse, protocol_problem, SCHEMA_PATH};
use modelgate::Engine;

mod stored_zip;
use stored_zip::stored_zip;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    if let Ok((_, schema)) = parse(data) {
        let _ = protocol_problem(schema.protocol.as_ref());
        for n in &schema.nodes {
            let _ = n.type_name();
        }
    }
    let zip = stored_zip(&[(SCHEMA_PATH, data)]);
    let _ = engine().scan_bytes("model.skops", zip);
});
