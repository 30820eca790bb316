//! Property tests for the formats-b parsers: hostile bytes never panic or hang, whatever the
//! entry point (marshal reader, Python tokenizer, HDF5, SavedModel / keras_metadata protobufs,
//! Keras JSON configs, YAML / MLmodel, TorchScript code in a zip).

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};

use modelgate::scanners::code::pytokens;
use modelgate::scanners::keras::marshal;
use modelgate::Engine;
use proptest::prelude::*;

const LIMIT: Duration = Duration::from_secs(5);

fn engine() -> &'static Engine {
    use std::sync::OnceLock;
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

fn scan_quickly(name: &str, bytes: Vec<u8>) {
    let t = Instant::now();
    let _ = engine().scan_bytes(name, bytes);
    assert!(t.elapsed() < LIMIT, "{name}: scan took {:?}", t.elapsed());
}

/// A real marshalled code object (CPython 3.11) to mutate.
const CODE: &str = "4wEAAAAAAAAAAAAAAAMAAAADAAAA80YAAACXAHQBAAAAAAAAAAAAAGQBpgEAAKsBAAAAAAAAAACgAQAAAAAAAAAAAAAAAAAAAAAAAAAAZAKmAQAAqwEAAAAAAAAAAFMAKQNO2gJvc9oEdHJ1ZSkC2gpfX2ltcG9ydF9f2gZzeXN0ZW0pAdoBeHMBAAAAIPoIPHN0cmluZz76CDxsYW1iZGE+cggAAAADAAAAcxwAAACAAI1KkHTRDBzUDBzXDCPSDCOgRtEMK9QMK4AA8wAAAAA=";

fn stored_zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (n, d) in members {
            z.start_file(*n, opts).expect("start");
            z.write_all(d).expect("write");
        }
        z.finish().expect("finish");
    }
    buf.into_inner()
}

fn h5_seed() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/formats_b/benign/keras2_model.h5"
    ))
    .expect("fixture")
}

fn pb_seed() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/formats_b/malicious/saved_model_pyfunc/saved_model.pb"
    ))
    .expect("fixture")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn marshal_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = marshal::read_code(&bytes);
    }

    #[test]
    fn marshal_reader_survives_mutations(pos in 0usize..400, val in any::<u8>(), cut in 0usize..400) {
        let mut raw = marshal::decode_func_dump(CODE).expect("sample");
        if let Some(b) = raw.get_mut(pos) { *b = val; }
        raw.truncate(cut.max(1));
        let _ = marshal::read_code(&raw);
    }

    #[test]
    fn python_tokenizer_never_panics(text in "\\PC{0,400}") {
        let code = pytokens::code_only(&text);
        prop_assert_eq!(code.lines().count() <= text.lines().count() + 1, true);
        let _ = pytokens::find_token(&code, "eval(", true);
    }

    #[test]
    fn hdf5_never_panics(pos in 0usize..4096, vals in proptest::collection::vec(any::<u8>(), 1..16), cut in 64usize..20000) {
        let mut b = h5_seed();
        for (i, v) in vals.iter().enumerate() {
            if let Some(x) = b.get_mut(pos.saturating_add(i * 97)) { *x = *v; }
        }
        b.truncate(cut);
        scan_quickly("model.h5", b);
    }

    #[test]
    fn hdf5_random_body_never_panics(body in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut b = b"\x89HDF\r\n\x1a\n".to_vec();
        b.extend(body);
        scan_quickly("x.h5", b);
    }

    #[test]
    fn saved_model_never_panics(pos in 0usize..2000, val in any::<u8>(), cut in 1usize..2000) {
        let mut b = pb_seed();
        if let Some(x) = b.get_mut(pos) { *x = val; }
        b.truncate(cut);
        scan_quickly("saved_model.pb", b.clone());
        scan_quickly("keras_metadata.pb", b.clone());
        scan_quickly("saved_model.pbtxt", b);
    }

    #[test]
    fn keras_config_never_panics(depth in 0usize..200, text in "[\\[\\]{}\":,a-z_ 0-9]{0,300}") {
        let mut s = String::new();
        for _ in 0..depth { s.push_str("{\"class_name\": \"Lambda\", \"config\": {\"layer\": "); }
        s.push_str(&text);
        scan_quickly("config.json", s.into_bytes());
    }

    #[test]
    fn yaml_and_mlmodel_never_panic(text in "[\\-:&*!{}\\[\\], a-z_\n0-9]{0,400}") {
        scan_quickly("MLmodel", text.clone().into_bytes());
        scan_quickly("model_config.yaml", text.into_bytes());
    }

    #[test]
    fn torchscript_code_never_panics(code in "\\PC{0,400}") {
        let zip = stored_zip(&[
            ("archive/constants.pkl", b"\x80\x02)."),
            ("archive/data.pkl", b"\x80\x02)."),
            ("archive/code/__torch__.py", code.as_bytes()),
        ]);
        scan_quickly("model.jit", zip);
    }
}

#[test]
fn yaml_alias_bomb_is_bounded() {
    let mut y = String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    let mut prev = 'a';
    for c in 'b'..='z' {
        let refs = vec![format!("*{prev}"); 9].join(",");
        let _ = writeln!(y, "{c}: &{c} [{refs}]");
        prev = c;
    }
    let t = Instant::now();
    let r = engine().scan_bytes("model_config.yaml", y.into_bytes());
    assert!(t.elapsed() < LIMIT);
    assert!(r.findings.iter().any(|f| f.code == "code/malformed-config"));
}

#[test]
fn deeply_nested_json_is_reported() {
    let s = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let r = engine().scan_bytes("config.json", s.into_bytes());
    assert!(r.findings.iter().any(|f| f.code == "code/malformed-config"));
}
