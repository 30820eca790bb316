//! Lua Torch7 files (`.t7`, testdata/torch7, written by testdata/generate/torch7.py from
//! File.lua's layout, with real Lua 5.1 byte code): tensors, storages and nn modules in binary
//! (8- and 4-byte longs) and ascii, dumped functions, classes outside the nn families, broken
//! files, and never-panics property tests for the reader.

use std::io::Cursor;

use modelgate::formats::torch7::parse;
use modelgate::{Report, Severity};
use proptest::prelude::*;

use super::{assert_bom_framework, check_area, default_bound, scan, scan_quickly, testdata, Kind};

#[test]
fn torch7_fixtures() {
    check_area("torch7", |kind, name| match kind {
        // An unknown class is reported at medium: it runs only if the loading process has it.
        Kind::Malicious if name == "unknown-class.t7" => Severity::Medium,
        _ => default_bound(kind, name),
    });
}

fn fixture(kind: &str, name: &str) -> Report {
    scan(&testdata().join("torch7").join(kind).join(name))
}

fn has(r: &Report, code: &str, sev: Severity, text: &str) -> bool {
    r.findings
        .iter()
        .any(|f| f.code == code && f.severity == sev && f.message.contains(text))
}

#[test]
fn modules_and_tensors_are_listed_in_every_encoding() {
    for (name, text) in [
        ("linear.t7", "nn.Linear×1"),
        ("sequential-ascii.t7", "nn.ReLU×1"),
        ("table-longsize4.t7", "4-byte longs"),
    ] {
        let r = fixture("benign", name);
        assert!(
            has(&r, "torch7/object", Severity::Info, text),
            "{name}: {:#?}",
            r.findings
        );
    }
    assert_bom_framework(&fixture("benign", "linear.t7"), "torch7", "torch7");
}

#[test]
fn dumped_functions_are_critical() {
    for name in ["function-in-module.t7", "bare-function.t7"] {
        let r = fixture("malicious", name);
        assert!(
            has(&r, "torch7/function", Severity::Critical, "execute"),
            "{name}: {:#?}",
            r.findings
        );
    }
    let r = fixture("malicious", "unknown-class.t7");
    assert!(has(
        &r,
        "torch7/unknown-class",
        Severity::Medium,
        "evil.Loader"
    ));
}

#[test]
fn broken_files_are_malformed() {
    for (name, text) in [
        ("truncated-storage.t7", "ends at byte"),
        ("unknown-tag.t7", "unknown object type 9"),
        ("negative-length.t7", "negative length"),
        ("seventy-dimensions.t7", "70 dimensions"),
    ] {
        let r = fixture("malformed", name);
        assert!(
            has(&r, "torch7/malformed", Severity::Medium, text),
            "{name}: {:#?}",
            r.findings
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_reader_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..512), ascii in any::<bool>()) {
        let mut bytes = if ascii { b"4\n1\n3\nV 1\n".to_vec() } else { b"\x04\0\0\0\x01\0\0\0\x03\0\0\0V 1".to_vec() };
        bytes.extend(tail);
        let _ = parse(Cursor::new(&bytes), bytes.len() as u64);
        scan_quickly("model.t7", bytes);
    }
}
