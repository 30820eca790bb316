//! Fuzzes the ExecuTorch program reader (extended header, layout and flatbuffer walk) directly,
//! and the executorch scanner through the engine, as given and with the `ET12` identifier forced
//! at bytes 4..8 (the `.pte` name routes the rest there too; the `testdata/executorch` fixtures
//! make a seed corpus).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::executorch::{layout, parse, read_header, Program};
use modelgate::formats::flatbuffer::Reader;
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    let l = layout(&read_header(data), data.len() as u64);
    let n = usize::try_from(l.program_len)
        .unwrap_or(data.len())
        .min(data.len());
    let program = &data[..n];
    let _ = parse(&Reader::new(&program, 1_000_000), &mut Program::default());
    let _ = engine().scan_bytes("model.pte", data.to_vec());
    let mut b = data.to_vec();
    if b.len() >= 8 {
        b[4..8].copy_from_slice(b"ET12");
    }
    let _ = engine().scan_bytes("weights.bin", b);
});
