//! Fuzzes the R serialization reader directly (as given, and behind each stream header), and the
//! R scanner through the engine under an `.rds` name.
#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelgate::formats::rds::parse;
use modelgate::Engine;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

const HEADERS: &[&[u8]] = &[
    b"X\n\0\0\0\x03\0\x04\x02\x02\0\x03\x05\0\0\0\0\x05UTF-8",
    b"B\n\x03\0\0\0\x02\x02\x04\0\0\x05\x03\0\x05\0\0\0UTF-8",
    b"A\n3\n263170\n197888\n5\nUTF-8\n",
];

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(modelgate::guard::install_quiet_hook);
    let _ = parse(Cursor::new(data), data.len() as u64);
    let which = data.first().map_or(0, |b| usize::from(*b) % HEADERS.len());
    let mut bytes = HEADERS[which].to_vec();
    bytes.extend_from_slice(data.get(1..).unwrap_or_default());
    let _ = parse(Cursor::new(&bytes), bytes.len() as u64);
    let _ = engine().scan_bytes("model.rds", bytes);
});
