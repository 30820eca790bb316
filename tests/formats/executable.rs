//! Programs shipped as models (testdata/executable, written by testdata/generate/executable.py
//! from the documented layouts): llamafile (APE with its GGUF in an appended zip), ELF/PE/Mach-O
//! headers and `#!` preludes under model names, the GGUF they carry scanned (a template
//! injection inside a llamafile is found), ordinary binaries under ordinary names left alone, and
//! never-panics property tests.

use modelgate::{Format, Severity};
use proptest::prelude::*;

use super::{check_area, default_bound, engine, has_finding, scan, scan_quickly, testdata};

#[test]
fn executable_fixtures() {
    check_area("executable", default_bound);
}

#[test]
fn every_program_kind_is_reported_with_the_gguf_it_carries() {
    for (name, kind) in [
        ("ape-without-name", "Actually Portable Executable"),
        ("elf-appended-gguf.gguf", "ELF"),
        ("pe-appended-gguf.bin", "PE"),
        ("macho-appended-gguf.bin", "Mach-O"),
        ("script-prelude.llamafile", "#!"),
    ] {
        let r = scan(&testdata().join("executable/malicious").join(name));
        let program = r
            .findings
            .iter()
            .find(|f| f.code == "executable/program")
            .unwrap_or_else(|| panic!("{name}: {:?}", r.findings));
        assert_eq!(program.severity, Severity::High, "{name}");
        assert!(
            program.message.contains(kind),
            "{name}: {}",
            program.message
        );
        // The GGUF stream was scanned from its offset.
        assert!(
            r.artifacts.iter().any(|a| a.format == Format::Gguf
                && a.location
                    .inner
                    .last()
                    .is_some_and(|m| m.starts_with("[gguf@"))),
            "{name}: {:?}",
            r.artifacts
        );
    }
}

#[test]
fn a_llamafiles_zip_is_walked_and_its_gguf_scanned() {
    let r = scan(&testdata().join("executable/malicious/template-injection.llamafile"));
    assert!(r
        .findings
        .iter()
        .any(|f| f.code == "executable/program" && f.severity == Severity::High));
    assert!(has_finding(
        &r,
        "template/code-execution",
        Severity::Critical,
        "model.gguf",
        ""
    ));
    let r = scan(&testdata().join("executable/malicious/gemma.llamafile"));
    assert!(r
        .artifacts
        .iter()
        .any(|a| a.format == Format::Gguf && a.location.inner == ["gemma-it.gguf".to_owned()]));
}

#[test]
fn the_ai_bom_lists_the_program_as_a_model() {
    let r = scan(&testdata().join("executable/malicious/elf-appended-gguf.gguf"));
    let doc = modelgate::report::cyclonedx::document(&r);
    let top = doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| {
            c["properties"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == "modelgate:format" && p["value"] == "executable")
            })
        })
        .expect("the program's component");
    assert_eq!(top["type"], "machine-learning-model", "{top:#}");
}

#[test]
fn binaries_under_ordinary_names_are_not_models() {
    let elf = b"\x7fELF\x02\x01\x01\x00rest of a binary".to_vec();
    for name in ["usr/bin/ls", "libcustom_ops.so", "run.sh"] {
        let r = engine().scan_bytes(name, elf.clone());
        assert!(
            r.findings.iter().all(|f| f.code != "executable/program"),
            "{name}"
        );
    }
    // A Python file with a #! line stays Python, a shell script stays unknown.
    let py = b"#!/usr/bin/env python3\nimport os\n".to_vec();
    assert_eq!(modelgate::sniff::sniff(&py, "convert.py"), Format::Python);
    assert_eq!(
        modelgate::sniff::sniff(b"#!/bin/sh\necho hi\n", "download.sh"),
        Format::Unknown
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random bytes behind each program magic, with a GGUF magic planted somewhere.
    #[test]
    fn random_programs_never_panic(
        magic in prop::sample::select(vec![&b"MZqFpD='"[..], b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"#!/bin/sh\n\0"]),
        tail in proptest::collection::vec(any::<u8>(), 0..1024),
        at in any::<prop::sample::Index>(),
    ) {
        let mut b = magic.to_vec();
        b.extend_from_slice(&tail);
        let i = at.index(b.len());
        b.splice(i..i, b"GGUF\x03\x00\x00\x00".iter().copied());
        scan_quickly("model.llamafile", b);
    }
}
