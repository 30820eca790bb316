//! RAR archives (testdata/rar, written byte by byte by testdata/generate/rar.py from RARLab's
//! technotes): stored members of RAR 4 and RAR 5 archives scanned through the engine, names read
//! the way `unrar` reads them (RAR 4 Unicode names, a NUL ending a name), a self-extractor, and
//! everything a scanner without a RAR decompressor cannot follow (compressed, encrypted and split
//! members, encrypted headers) reported as findings. The oracle is 7-Zip, the real extractor on
//! this platform: every file it extracts from a fixture must have been scanned, byte for byte, or
//! be reported as uninspectable. Never-panics property tests run random and mutated archives.

use std::collections::BTreeSet;
use std::path::Path;

use modelgate::{Engine, EngineOptions, Report, Severity, SignatureDb};
use proptest::prelude::*;

use super::{check_area, default_bound, has_finding, scan, scan_quickly, testdata, Kind};

#[test]
fn rar_fixtures() {
    check_area("rar", default_bound);
}

fn fixture(kind: &str, name: &str) -> Report {
    scan(&testdata().join("rar").join(kind).join(name))
}

fn has(r: &Report, code: &str, sev: Severity, member: &str) -> bool {
    has_finding(r, code, sev, member, "")
}

#[test]
fn stored_members_of_both_formats_are_scanned() {
    for name in ["v4-pickle.rar", "v5-pickle.rar"] {
        let r = fixture("malicious", name);
        assert!(
            has(&r, "pickle/unsafe-global", Severity::Critical, "model.pkl"),
            "{name}: {:#?}",
            r.findings
        );
    }
    for name in ["v4-stored.rar", "v5-stored.rar"] {
        let r = fixture("benign", name);
        assert!(
            r.artifacts
                .iter()
                .any(|a| a.location.inner == ["model/model.safetensors".to_owned()]),
            "{name}: {:#?}",
            r.artifacts
        );
    }
}

#[test]
fn rar4_names_are_read_like_unrar() {
    // The Unicode name wins over the ASCII one.
    let r = fixture("malicious", "v4-unicode-name.rar");
    assert!(has(
        &r,
        "pickle/unsafe-global",
        Severity::Critical,
        "data.pkl"
    ));
    // A name ends at its NUL, which is reported.
    let r = fixture("malicious", "v4-nul-name.rar");
    assert!(has(&r, "archive/name-nul", Severity::High, "model.pkl"));
    assert!(has(
        &r,
        "pickle/unsafe-global",
        Severity::Critical,
        "model.pkl"
    ));
}

#[test]
fn what_cannot_be_decoded_is_reported_not_skipped() {
    for (name, code) in [
        ("v5-compressed.rar", "engine/uninspectable"),
        ("v4-compressed.rar", "engine/uninspectable"),
        ("v5-encrypted-member.rar", "archive/encrypted"),
        ("v4-encrypted-member.rar", "archive/encrypted"),
        ("v5-split.part1.rar", "engine/uninspectable"),
        ("v4-split.part1.rar", "engine/uninspectable"),
    ] {
        let r = fixture("malicious", name);
        assert!(
            has(&r, code, Severity::High, "model.pkl"),
            "{name}: {:#?}",
            r.findings
        );
    }
    for name in ["v5-encrypted-headers.rar", "v4-encrypted-headers.rar"] {
        let r = fixture("malicious", name);
        assert!(
            r.findings
                .iter()
                .any(|f| f.code == "archive/encrypted" && f.severity == Severity::High),
            "{name}: {:#?}",
            r.findings
        );
    }
}

#[test]
fn a_broken_header_crc_is_reported_and_the_member_still_scanned() {
    // unrar warns and extracts; 7-Zip refuses. The lenient reading is the one scanned.
    for name in ["v5-header-crc.rar", "v4-header-crc.rar"] {
        let r = fixture("malicious", name);
        assert!(has(
            &r,
            "archive/crc-mismatch",
            Severity::Medium,
            "model.pkl"
        ));
        assert!(has(
            &r,
            "pickle/unsafe-global",
            Severity::Critical,
            "model.pkl"
        ));
    }
}

/// A RAR 2.x file header with an old-style comment inside: `unrar`'s CRC covers the fields it
/// reads (up to the name) and not the comment, so a changed comment byte passes and a changed
/// name byte is a mismatch.
#[test]
fn a_header_comment_is_outside_the_header_crc() {
    let base = std::fs::read(testdata().join("rar/benign/v4-file-comment.rar")).expect("fixture");
    // Marker (7) and archive header (13), then the file header: 7 + 25 bytes before the name.
    let (name_at, comment_at) = (20 + 7 + 25, 20 + 7 + 25 + 11 + 13);
    assert_eq!(&base[name_at..name_at + 11], b"config.json");
    assert_eq!(&base[comment_at..comment_at + 12], b"file comment");
    let crc_mismatch = |at: usize| {
        let r = super::engine().scan_bytes("c.rar", mutated(&base, &[(at, b'X')]));
        r.findings.iter().any(|f| f.code == "archive/crc-mismatch")
    };
    assert!(!crc_mismatch(comment_at));
    assert!(crc_mismatch(name_at));
}

#[test]
fn a_self_extractor_is_read_as_its_archive() {
    let r = fixture("malicious", "v5-sfx.exe");
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == "engine/alternate-reading" && f.message.contains("RAR")),
        "{:#?}",
        r.findings
    );
    assert!(has(
        &r,
        "pickle/unsafe-global",
        Severity::Critical,
        "model.pkl"
    ));
}

#[test]
fn structure_tricks_are_reported() {
    let r = fixture("malicious", "v5-traversal.rar");
    assert!(has(
        &r,
        "archive/path-traversal",
        Severity::High,
        "../../evil.pkl"
    ));
    let r = fixture("malicious", "v5-duplicate.rar");
    assert!(has(
        &r,
        "archive/duplicate-member",
        Severity::Medium,
        "model.pkl"
    ));
    // Both links point at /etc/passwd: out of the extraction directory, high as in a tar.
    for name in ["v5-symlink.rar", "v4-symlink.rar"] {
        let r = fixture("malicious", name);
        assert!(
            has_finding(
                &r,
                "archive/symlink",
                Severity::High,
                "weights.bin",
                "/etc/passwd"
            ),
            "{name}: {:#?}",
            r.findings
        );
    }
    // An NTFS stream is data unrar writes on Windows: scanned.
    let r = fixture("malicious", "v5-stream.rar");
    assert!(has(
        &r,
        "pickle/unsafe-global",
        Severity::Critical,
        "config.json:stream"
    ));
}

/// The engine with artifact hashes, to match what 7-Zip extracts byte for byte.
fn hashing_engine() -> &'static Engine {
    static E: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    E.get_or_init(|| {
        Engine::new(
            SignatureDb::embedded().expect("db"),
            EngineOptions {
                hash_artifacts: true,
                ..EngineOptions::default()
            },
        )
        .expect("engine")
    })
}

/// Regular files under `dir` (symbolic links are not followed), as `(relative path, bytes)`.
fn extracted(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let e = e.expect("entry");
            let t = e.file_type().expect("type");
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                let rel = e
                    .path()
                    .strip_prefix(dir)
                    .expect("under dir")
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(e.path()).expect("read")));
            }
        }
    }
    out
}

/// The loader oracle: 7-Zip (`7z x`, p7zip's RAR handlers) extracts every fixture; each
/// non-empty file it writes was scanned with exactly those bytes, or its member carries a high
/// finding (what modelgate could not decode). 7-Zip is the extractor a pipeline on Linux runs.
#[test]
fn everything_7zip_extracts_was_scanned() {
    let Some(seven) = which_7z() else {
        return;
    };
    let mut checked = 0;
    for kind in [Kind::Benign, Kind::Malicious, Kind::Malformed] {
        for path in super::fixtures("rar", kind) {
            let tmp = tempfile::tempdir().expect("tmp");
            // The exit status is not the oracle (7-Zip fails on compressed members, CRC errors):
            // what it wrote is.
            let _ = std::process::Command::new(&seven)
                .arg("x")
                .arg("-y")
                .arg(format!("-o{}", tmp.path().display()))
                .arg(&path)
                .output()
                .expect("run 7z");
            let files = extracted(tmp.path());
            if files.iter().all(|(_, b)| b.is_empty()) {
                continue;
            }
            let r = hashing_engine()
                .scan_paths(std::slice::from_ref(&path))
                .expect("scan");
            let hashes: BTreeSet<&str> = r
                .artifacts
                .iter()
                .filter_map(|a| a.sha256.as_deref())
                .collect();
            for (rel, bytes) in files.iter().filter(|(_, b)| !b.is_empty()) {
                let digest = modelgate::hash::sha256_hex(bytes);
                let flagged = r
                    .findings
                    .iter()
                    .any(|f| f.severity >= Severity::High && f.location.inner.last() == Some(rel));
                assert!(
                    hashes.contains(digest.as_str()) || flagged,
                    "{}: 7-Zip extracted {rel} ({} bytes), which modelgate neither scanned nor reported: {:#?}",
                    path.display(),
                    bytes.len(),
                    r.artifacts
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "7-Zip extracted only {checked} files");
}

/// 7-Zip from PATH (tests/setup.sh installs p7zip-full); required in CI.
#[allow(clippy::print_stderr)] // the skip notice is the point
fn which_7z() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("7z"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "7z missing: run tests/setup.sh"
        );
        eprintln!("7z not found; skipping the 7-Zip oracle");
    }
    found
}

/// Signatures followed by random bytes, and fixtures with random bytes overwritten.
/// Eighteen real RAR 2.x, 3.x and 5 archives written by RARLab's rar, from rarfile 4.2's sdist
/// (test/files, tests/real_models/fetch_formats_c.sh; those whose members are stored: rar's
/// compressed, encrypted, split and symlinked members are findings by policy): each is expanded,
/// its members scanned, and nothing is above info (rar202-comment-nopsw.rar holds file headers
/// with old-style comments, whose CRC leaves the comment out).
#[test]
fn real_models_scan_clean() {
    let Some(dir) = super::real_models() else {
        return;
    };
    let dir = dir.join("rarfile/test/files");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("rarfile test files: run tests/setup.sh") {
        let path = entry.expect("entry").path();
        n += 1;
        let r = scan(&path);
        super::assert_nothing_above_info(&r, &path);
        assert!(
            r.artifacts
                .iter()
                .any(|a| a.location.inner.is_empty() && a.status == modelgate::Status::Expanded),
            "{}: {:#?}",
            path.display(),
            r.artifacts
        );
        assert!(
            r.artifacts.iter().any(|a| !a.location.inner.is_empty()),
            "{}: no member: {:#?}",
            path.display(),
            r.artifacts
        );
    }
    assert_eq!(n, 18, "{}", dir.display());
}

fn mutated(base: &[u8], edits: &[(usize, u8)]) -> Vec<u8> {
    let mut v = base.to_vec();
    for &(at, b) in edits {
        if !v.is_empty() {
            let i = at % v.len();
            v[i] = b;
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_headers_never_panic(v5 in any::<bool>(), rest in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = if v5 { b"Rar!\x1a\x07\x01\x00".to_vec() } else { b"Rar!\x1a\x07\x00".to_vec() };
        b.extend_from_slice(&rest);
        scan_quickly("m.rar", b);
    }

    #[test]
    fn mutated_fixtures_never_panic(which in 0usize..4, edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let name = ["benign/v5-stored.rar", "benign/v4-stored.rar", "malicious/v4-unicode-name.rar", "malicious/v5-stream.rar"][which];
        let base = std::fs::read(testdata().join("rar").join(name)).expect("fixture");
        scan_quickly("m.rar", mutated(&base, &edits));
    }
}
