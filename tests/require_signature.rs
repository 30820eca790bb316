//! `[policy] require_signature` for uploads, and `POST /v1/verify` of an uploaded model
//! directory: a tar or zip of a directory signed with `modelgate sign` (its `model.sig` inside)
//! is admitted only when the signature is from a trusted key and covers exactly the files in
//! the upload. Unsigned, tampered, extended and foreign-signed uploads are denied; the gate
//! (the real binary) does the unpacking and verification in its workers.

#![allow(clippy::print_stderr, clippy::indexing_slicing)]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use common::gate::{self, Gate};
use modelgate::sign::{KeyType, PrivateKey};
use serde_json::Value;

const SCAN_TOKEN: &str = "scan-token";
const VERIFY_TOKEN: &str = "verify-token";
const PLAIN: &[u8] = b"\x80\x02]q\x00(K\x01K\x02e.";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_mins(1))
        .build()
        .expect("client")
}

async fn post(base: &str, route: &str, token: &str, name: &str, body: Vec<u8>) -> Value {
    let resp = client()
        .post(format!("{base}{route}"))
        .bearer_auth(token)
        .header("x-modelgate-filename", name)
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

/// A model directory signed by `key` with the CLI.
fn signed_model(root: &Path, name: &str, key: &Path) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("model.pkl"), PLAIN).expect("model");
    std::fs::write(dir.join("extra.pkl"), PLAIN).expect("model");
    let out = assert_cmd::Command::cargo_bin("modelgate")
        .expect("bin")
        .args(["sign", "-q"])
        .arg(&dir)
        .arg("--key")
        .arg(key)
        .output()
        .expect("sign");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("model.sig").is_file());
    dir
}

fn tar_of(dir: &Path, extra: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let t = tempfile::NamedTempFile::new().expect("tmp");
    common::tar_dir(dir, t.path(), extra);
    std::fs::read(t.path()).expect("tar")
}

fn zip_of(dir: &Path) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
        .collect();
    names.sort();
    for n in names {
        w.start_file(
            n.as_str(),
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated),
        )
        .expect("zip entry");
        w.write_all(&std::fs::read(dir.join(&n)).expect("read"))
            .expect("zip write");
    }
    w.finish().expect("zip").into_inner()
}

fn reasons(v: &Value) -> String {
    v["reasons"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_need_a_model_sig_from_a_trusted_key_covering_exactly_them() {
    let t = tempfile::tempdir().expect("tmp");
    let trusted = PrivateKey::generate(KeyType::P256).expect("key");
    let other = PrivateKey::generate(KeyType::Ed25519).expect("key");
    let trusted_path = t.path().join("trusted");
    let other_path = t.path().join("other");
    let pub_path =
        modelgate::sign::keys::write_key_pair(&trusted, &trusted_path, false).expect("key");
    modelgate::sign::keys::write_key_pair(&other, &other_path, false).expect("key");
    let good = signed_model(t.path(), "good", &trusted_path);
    let foreign = signed_model(t.path(), "foreign", &other_path);
    let pem = std::fs::read(&pub_path).expect("pem");
    let gate = Gate::start(
        &format!(
            "[policy]\nrequire_signature = true\n\n[signing]\ntrusted_keys = [\"trusted.pub\"]\n{}{}",
            gate::token("ci", SCAN_TOKEN, &["scan"]),
            gate::token("verifier", VERIFY_TOKEN, &["verify"]),
        ),
        &[("trusted.pub", &pem)],
    );
    let base = &gate.base;

    // Signed by the trusted key, exactly these files: admitted (tar and zip alike).
    let v = post(base, "/v1/scan", SCAN_TOKEN, "good.tar", tar_of(&good, &[])).await;
    assert_eq!(v["verdict"], "admit", "{v}");
    let v = post(base, "/v1/scan", SCAN_TOKEN, "good.zip", zip_of(&good)).await;
    assert_eq!(v["verdict"], "admit", "{v}");

    // No model.sig.
    let plain = t.path().join("plain");
    std::fs::create_dir_all(&plain).expect("dir");
    std::fs::write(plain.join("model.pkl"), PLAIN).expect("model");
    let v = post(
        base,
        "/v1/scan",
        SCAN_TOKEN,
        "plain.tar",
        tar_of(&plain, &[]),
    )
    .await;
    assert_eq!(v["verdict"], "deny", "{v}");
    assert!(reasons(&v).contains("require_signature"), "{v}");

    // A single file carries no model.sig: denied.
    let v = post(base, "/v1/scan", SCAN_TOKEN, "model.pkl", PLAIN.to_vec()).await;
    assert_eq!(v["verdict"], "deny", "{v}");

    // A file added after signing, and a file changed after signing.
    let v = post(
        base,
        "/v1/scan",
        SCAN_TOKEN,
        "added.tar",
        tar_of(&good, &[("smuggled.pkl", PLAIN.to_vec())]),
    )
    .await;
    assert_eq!(v["verdict"], "deny", "{v}");
    assert!(reasons(&v).contains("smuggled.pkl"), "{v}");
    let tampered = t.path().join("tampered");
    std::fs::create_dir_all(&tampered).expect("dir");
    for f in ["model.pkl", "extra.pkl", "model.sig", "model.sig.scan.json"] {
        if good.join(f).exists() {
            std::fs::copy(good.join(f), tampered.join(f)).expect("copy");
        }
    }
    std::fs::write(tampered.join("extra.pkl"), b"\x80\x02]q\x00(K\x01K\x03e.").expect("w");
    let v = post(
        base,
        "/v1/scan",
        SCAN_TOKEN,
        "t.tar",
        tar_of(&tampered, &[]),
    )
    .await;
    assert_eq!(v["verdict"], "deny", "{v}");
    assert!(reasons(&v).contains("extra.pkl"), "{v}");
    assert!(
        !reasons(&v).contains("/tmp/"),
        "no spool path leaks into the reasons: {v}"
    );

    // Signed by a key the gate does not trust.
    let v = post(base, "/v1/scan", SCAN_TOKEN, "f.tar", tar_of(&foreign, &[])).await;
    assert_eq!(v["verdict"], "deny", "{v}");

    // /v1/verify of a model directory archive (no bundle header: the model.sig inside).
    let v = post(
        base,
        "/v1/verify",
        VERIFY_TOKEN,
        "good.tar",
        tar_of(&good, &[]),
    )
    .await;
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["details"]["files"], 2, "{v}");
    let v = post(
        base,
        "/v1/verify",
        VERIFY_TOKEN,
        "t.tar",
        tar_of(&tampered, &[]),
    )
    .await;
    assert_eq!(v["verified"], false, "{v}");
    assert_eq!(v["verdict"], "deny", "{v}");
    let v = post(base, "/v1/verify", VERIFY_TOKEN, "junk.bin", vec![7u8; 600]).await;
    assert_eq!(v["verified"], false, "{v}");
    assert!(reasons(&v).contains("neither a tar nor a zip"), "{v}");
}
