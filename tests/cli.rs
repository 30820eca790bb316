//! The real binary: help output, explain, exit codes, output formats, the modelscan drop-in.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

fn modelgate() -> Command {
    Command::cargo_bin("modelgate").expect("binary")
}

#[test]
fn help_snapshots() {
    for args in [
        vec!["--help"],
        vec!["scan", "--help"],
        vec!["modelscan", "--help"],
    ] {
        let out = modelgate()
            .args(&args)
            .env("COLUMNS", "100")
            .output()
            .expect("run");
        assert!(out.status.success());
        insta::assert_snapshot!(
            format!("help_{}", args.join("_").replace('-', "")),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn missing_path_is_a_usage_error() {
    modelgate()
        .args(["scan", "/nonexistent/model.pt"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("no such file"));
    modelgate().args(["scan"]).assert().code(4);
    modelgate()
        .args(["modelscan", "-p", "/nonexistent"])
        .assert()
        .code(4);
    modelgate().args(["modelscan"]).assert().code(4);
}

#[test]
fn nothing_supported_exits_3() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("README.md"), "hello").expect("write");
    modelgate()
        .args(["scan", "-q"])
        .arg(dir.path())
        .assert()
        .code(3);
}

#[test]
fn scan_errors_exit_2() {
    // A container that cannot be opened is a failed artifact and a high `engine/uninspectable`
    // finding: exit 1 at the default threshold; with a threshold above high, exit 2.
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("model.7z");
    std::fs::write(
        &bad,
        b"7z\xbc\xaf\x27\x1c\x00\x04garbage-garbage-garbage-garbage",
    )
    .expect("write");
    modelgate().args(["scan", "-q"]).arg(&bad).assert().code(1);
    modelgate()
        .args(["scan", "-q", "--fail-on", "critical"])
        .arg(&bad)
        .assert()
        .code(2);
}

#[test]
fn findings_exit_1_and_fail_on_threshold() {
    let polyglot = common::testdata("archives/malicious/png-polyglot.pt");
    modelgate()
        .args(["scan", "-q"])
        .arg(&polyglot)
        .assert()
        .code(1);
    // The polyglot finding is medium: a critical threshold lets it through (the rest is clean).
    let out = modelgate()
        .args(["scan", "-q", "--fail-on", "critical", "-f", "json"])
        .arg(&polyglot)
        .output()
        .expect("run");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let worst = report["summary"]["max_severity"].as_str().unwrap_or("none");
    if worst == "critical" {
        assert_eq!(out.status.code(), Some(1));
    } else {
        assert_eq!(
            out.status.code(),
            Some(0),
            "max severity {worst} below --fail-on critical"
        );
    }
}

#[test]
fn json_output_is_one_document_with_the_report_schema() {
    let out = modelgate()
        .args(["scan", "-f", "json"])
        .arg(common::testdata("archives/malicious/traversal.zip"))
        .output()
        .expect("run");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON document");
    for key in [
        "tool",
        "version",
        "signatures",
        "targets",
        "summary",
        "findings",
        "artifacts",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["findings"][0]["code"], "archive/path-traversal");
}

#[test]
fn explain_prints_docs_and_lists_codes() {
    modelgate()
        .args(["explain", "archive/zip-header-mismatch"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("What it detects")
                .and(predicate::str::contains("CVE-2025-1944")),
        );
    modelgate()
        .args(["explain"])
        .assert()
        .success()
        .stdout(predicate::str::contains("archive/polyglot"));
    modelgate()
        .args(["explain", "no/such-code"])
        .assert()
        .code(4);
}

#[test]
fn every_code_is_fully_documented() {
    for c in modelgate::catalog::all() {
        let (scanner, hazard) = c.id.split_once('/').expect("codes are <scanner>/<hazard>");
        assert!(!scanner.is_empty() && !hazard.is_empty(), "{}", c.id);
        assert!(
            c.id.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '/'),
            "{} is not kebab-case",
            c.id
        );
        for (field, text) in [
            ("summary", c.summary),
            ("detects", c.detects),
            ("why", c.why),
            ("example", c.example),
            ("remediation", c.remediation),
        ] {
            assert!(text.len() > 10, "{}: {field} is missing", c.id);
        }
    }
}

#[test]
fn signatures_lists_the_database() {
    modelgate()
        .args(["signatures"])
        .assert()
        .success()
        .stdout(predicate::str::contains("signature database"));
    let out = modelgate()
        .args(["signatures", "--json"])
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["entries"].as_array().is_some_and(|e| !e.is_empty()));
}

#[test]
fn user_signatures_extend_the_database_and_change_the_digest() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("local.toml"),
        "[meta]\narea = \"local\"\n[[entry]]\nkind = \"pickle-global\"\nmodule = \"mycorp.models\"\nname = \"*\"\naction = \"allow\"\nreason = \"Our own model classes, reviewed.\"\n",
    )
    .expect("write");
    let base: serde_json::Value = serde_json::from_slice(
        &modelgate()
            .args(["signatures", "--json"])
            .output()
            .expect("run")
            .stdout,
    )
    .expect("json");
    let ext: serde_json::Value = serde_json::from_slice(
        &modelgate()
            .args(["signatures", "--json", "--signatures"])
            .arg(dir.path())
            .output()
            .expect("run")
            .stdout,
    )
    .expect("json");
    assert_ne!(base["info"]["digest"], ext["info"]["digest"]);
    assert_eq!(
        ext["info"]["entries"].as_u64(),
        base["info"]["entries"].as_u64().map(|n| n + 1)
    );
    // A malformed user file is a setup error, not a silent skip.
    std::fs::write(dir.path().join("bad.toml"), "[meta]\narea = 1\n").expect("write");
    modelgate()
        .args(["signatures", "--signatures"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.toml"));
}

#[test]
fn sarif_validates_against_the_2_1_0_schema() {
    let Some(schemas) = common::resource("MODELGATE_SCHEMAS", "schemas") else {
        return;
    };
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(schemas.join("sarif-2.1.0.json")).expect("schema"))
            .expect("schema json");
    let validator = jsonschema::validator_for(&schema).expect("compile schema");
    let out = modelgate()
        .args(["scan", "-f", "sarif"])
        .arg(common::testdata("archives"))
        .output()
        .expect("run");
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sarif json");
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "SARIF schema violations: {errors:#?}");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(!results.is_empty());
    assert!(
        results
            .iter()
            .any(|r| r["locations"][0]["physicalLocation"]["region"]["byteOffset"].is_u64())
            || results
                .iter()
                .all(|r| r["locations"][0]["physicalLocation"]["region"].is_null())
    );
}

#[test]
fn modelscan_json_keys_and_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let out_file = dir.path().join("out.json");
    modelgate()
        .args(["modelscan", "-p"])
        .arg(common::testdata("archives/malicious"))
        .arg("-o")
        .arg(&out_file)
        .arg("--show-skipped")
        .assert()
        .code(1);
    let text = std::fs::read_to_string(&out_file).expect("report");
    assert!(
        !text.contains('\n'),
        "modelscan writes the -o file on one line"
    );
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let top: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(top, ["summary", "issues", "errors"]);
    let summary: Vec<&str> = v["summary"]
        .as_object()
        .expect("summary")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        summary,
        [
            "total_issues_by_severity",
            "total_issues",
            "input_path",
            "absolute_path",
            "modelscan_version",
            "timestamp",
            "scanned",
            "skipped"
        ]
    );
    let sev: Vec<&str> = v["summary"]["total_issues_by_severity"]
        .as_object()
        .expect("sev")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(sev, ["LOW", "MEDIUM", "HIGH", "CRITICAL"]);
    for issue in v["issues"].as_array().expect("issues") {
        let keys: Vec<&str> = issue
            .as_object()
            .expect("issue")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "description",
                "operator",
                "module",
                "source",
                "scanner",
                "severity"
            ]
        );
    }
    // Stdout JSON, when asked for, is one valid JSON document.
    let out = modelgate()
        .args(["modelscan", "-r", "json", "-p"])
        .arg(common::testdata("archives/benign/plain.zip"))
        .output()
        .expect("run");
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("stdout is pure JSON");
}

#[test]
fn invoked_as_modelscan_through_a_link() {
    let dir = tempfile::tempdir().expect("tmp");
    let link = dir.path().join("modelscan");
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("modelgate"), &link).expect("symlink");
    std::process::Command::new(&link)
        .args(["-p"])
        .arg(common::testdata("archives/malicious/traversal.zip"))
        .status()
        .map(|s| assert_eq!(s.code(), Some(1)))
        .expect("run");
}

#[test]
fn completions_are_generated() {
    modelgate()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("modelgate"));
}

#[test]
fn convert_sign_verify_round_trip() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("key");
    modelgate()
        .args(["keygen", "--type", "p256", "-o"])
        .arg(&key)
        .assert()
        .success();
    let out = dir.path().join("arrays.safetensors");
    modelgate()
        .args(["convert", "--to", "safetensors"])
        .arg(common::testdata("convert/benign/arrays.npz"))
        .arg("-o")
        .arg(&out)
        .arg("--sign")
        .arg(&key)
        .assert()
        .success()
        .stdout(predicate::str::contains("signed:"));
    let sig = dir.path().join("arrays.safetensors.sig");
    assert!(sig.is_file(), "signature written next to the output");
    let pubkey = dir.path().join("key.pub");
    modelgate()
        .arg("verify")
        .arg(&out)
        .arg("--key")
        .arg(&pubkey)
        .assert()
        .success();
    // Any change to the converted file breaks the signature.
    let mut bytes = std::fs::read(&out).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&out, bytes).expect("write");
    modelgate()
        .arg("verify")
        .arg(&out)
        .arg("--key")
        .arg(&pubkey)
        .assert()
        .code(1);
}

#[test]
fn convert_refuses_a_malicious_input_and_signs_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("key");
    modelgate()
        .args(["keygen", "-o"])
        .arg(&key)
        .assert()
        .success();
    let out = dir.path().join("evil.safetensors");
    modelgate()
        .args(["convert", "--to", "safetensors"])
        .arg(common::testdata("archives/malicious/nested.zip"))
        .arg("-o")
        .arg(&out)
        .arg("--sign")
        .arg(&key)
        .assert()
        .code(1);
    assert!(!out.exists() && !dir.path().join("evil.safetensors.sig").exists());
}

#[test]
fn names_from_scanned_content_cannot_drive_the_terminal() {
    // A member name with an escape sequence (clear screen, colour), a newline that would forge a
    // report line, and a bidirectional override: printed escaped, never raw.
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("m.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
    let name = "evil\u{1b}[2J\u{1b}[31m\nCRITICAL fake\u{202e}lkp.pkl";
    z.start_file(name, zip::write::SimpleFileOptions::default())
        .expect("member");
    z.write_all(b"cos\nsystem\n(S'echo'\ntR.").expect("write");
    z.finish().expect("finish");
    let out = modelgate()
        .args(["scan", "--show-skipped"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(!text.contains('\u{202e}'), "{text}");
    assert!(text.contains("evil\\x1b[2J"), "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("CRITICAL fake")),
        "{text}"
    );
}

#[test]
fn jobs_are_capped_with_a_clear_message() {
    modelgate()
        .args(["scan", "-q", "--jobs", "100000"])
        .arg(common::testdata("samples"))
        .assert()
        .code(4)
        .stderr(predicate::str::contains("threads per core"));
    modelgate()
        .args(["scan", "-q", "--jobs", "0"])
        .arg(common::testdata("samples"))
        .assert()
        .code(4);
}

#[test]
fn findings_dominate_a_report_that_cannot_be_written() {
    let unwritable = "/nonexistent-modelgate-dir/report.json";
    modelgate()
        .args(["scan", "-q", "--format", "json", "--output", unwritable])
        .arg(common::testdata("samples"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("writing"));
    modelgate()
        .args(["modelscan", "-p"])
        .arg(common::testdata("samples"))
        .args(["-o", unwritable])
        .assert()
        .code(1);
}

#[cfg(unix)]
#[test]
fn paths_that_are_not_utf8_are_scanned_and_kept_in_json() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().expect("dir");
    let name = std::ffi::OsStr::from_bytes(b"bad\xffname.pkl");
    let path = dir.path().join(name);
    std::fs::write(
        &path,
        b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00idq\x00\x85R.",
    )
    .expect("write");
    let out = modelgate()
        .args(["scan", "--format", "json"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let loc = &v["findings"][0]["location"];
    let raw = hex::decode(loc["path_bytes"].as_str().expect("path_bytes")).expect("hex");
    assert_eq!(raw, path.as_os_str().as_bytes());
}

#[test]
fn limit_flags_reach_the_engine() {
    // A 4 MiB gzip of zeros with a 1 MiB decompression budget given on the command line.
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("dir");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&vec![0u8; 4 << 20]).expect("gzip");
    let path = dir.path().join("zeros.bin.gz");
    std::fs::write(&path, e.finish().expect("gzip")).expect("write");
    let out = modelgate()
        .args(["scan", "--format", "json", "--max-decompressed", "1M"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .any(|f| f["evidence"]["limit"] == "max-total-uncompressed"));
    let bad = modelgate()
        .args(["scan", "--max-temp", "12Q"])
        .arg(&path)
        .output()
        .expect("run");
    assert_ne!(bad.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("size suffix"));
}
