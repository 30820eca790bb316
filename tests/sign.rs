//! Signing and verification: round trips, every failure with its own error, refusal of
//! unapproved models, and interoperability with the reference implementation (`model_signing`,
//! located by the env var MODELGATE_MODEL_SIGNING; without it those tests print a notice and
//! return, unless CI is set).
#![allow(clippy::print_stderr)] // skip notices are printed on purpose

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use assert_cmd::Command;
use modelgate::sign::{
    self, KeyError, KeyType, PrivateKey, PublicKey, SignError, SignOptions, VerifyError,
    VerifyOptions,
};
use modelgate::Engine;

// ---------------------------------------------------------------------------------------------
// helpers

/// A minimal PyTorch zip archive (`archive/data.pkl`, one storage, the version record). Its
/// storage is classified as inert data, so the engine approves it today; the pickle is an empty
/// dict, benign for any pickle scanner.
fn torch_zip() -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file("archive/data.pkl", opts).expect("zip");
        z.write_all(b"\x80\x02}q\x00.").expect("zip");
        z.start_file("archive/data/0", opts).expect("zip");
        z.write_all(&[0u8; 64]).expect("zip");
        z.start_file("archive/version", opts).expect("zip");
        z.write_all(b"3\n").expect("zip");
        z.finish().expect("zip");
    }
    buf.into_inner()
}

/// A model directory the scanner approves: a torch archive, a config, a nested file, git junk.
fn approved_model(parent: &Path, name: &str) -> PathBuf {
    let m = parent.join(name);
    std::fs::create_dir_all(m.join("sub")).expect("mkdir");
    std::fs::create_dir_all(m.join(".git")).expect("mkdir");
    std::fs::write(m.join("model.pt"), torch_zip()).expect("write");
    std::fs::write(m.join("config.json"), b"{\"hidden_size\": 4}\n").expect("write");
    std::fs::write(m.join("sub/tokenizer.txt"), format!("tokens of {name}\n")).expect("write");
    std::fs::write(m.join(".git/HEAD"), b"ref: refs/heads/main\n").expect("write");
    m
}

fn engine() -> Engine {
    Engine::with_defaults().expect("engine")
}

fn no_progress(_: sign::Progress) {}

fn sign_model(model: &Path, key: &PrivateKey) -> sign::Signed {
    sign::sign_directory(&engine(), model, key, &SignOptions::default(), &no_progress)
        .expect("sign")
}

fn verify_model(model: &Path, key: &PublicKey) -> Result<sign::Verified, VerifyError> {
    sign::verify_directory(model, key, &VerifyOptions::default(), &no_progress)
}

fn key(kind: KeyType) -> PrivateKey {
    PrivateKey::generate(kind).expect("keygen")
}

fn modelgate() -> Command {
    Command::cargo_bin("modelgate").expect("binary")
}

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/sign")
}

/// The `model_signing` executable, or `None` (with a notice) when MODELGATE_MODEL_SIGNING is unset.
fn model_signing() -> Option<PathBuf> {
    match std::env::var_os("MODELGATE_MODEL_SIGNING") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but MODELGATE_MODEL_SIGNING (path to the model_signing executable) is not"
            );
            eprintln!("notice: MODELGATE_MODEL_SIGNING is not set; skipping the model_signing interoperability check");
            None
        }
    }
}

/// Runs `model_signing` with `args`; returns (success, combined output).
fn run_model_signing(exe: &Path, args: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = Proc::new(exe)
        .args(args)
        .output()
        .expect("run model_signing");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

// ---------------------------------------------------------------------------------------------
// round trips

#[test]
fn ed25519_round_trip_with_scan_attestation() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    let k = key(KeyType::Ed25519);
    let signed = sign_model(&m, &k);
    assert_eq!(signed.signature, m.join("model.sig"));
    assert_eq!(
        signed.scan_attestation.as_deref(),
        Some(m.join("model.sig.scan.json").as_path())
    );
    let names: Vec<&str> = signed
        .manifest
        .resources
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["config.json", "model.pt", "sub/tokenizer.txt"]);
    assert_eq!(
        signed.manifest.serialization.ignore_paths,
        [
            ".git",
            ".github",
            ".gitattributes",
            ".gitignore",
            "model.sig",
            "model.sig.scan.json"
        ]
    );

    let v = verify_model(&m, &k.public_key()).expect("verify");
    assert_eq!(v.files, 3);
    assert_eq!(v.key_type, KeyType::Ed25519);
    assert_eq!(v.root_digest, signed.root_digest);
    let scan = v.scan.expect("scan attestation verified");
    assert_eq!(scan.verdict, sign::attest::Verdict::Approved);
    assert_eq!(scan.policy.fail_on, modelgate::Severity::Low);
    assert_eq!(scan.model.files, 3);
    assert!(!scan.signature_database.digest.is_empty());
    assert!(scan.summary.scanned > 0);
}

#[test]
fn p256_round_trip_through_the_cli() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    let k = dir.path().join("signer");
    modelgate()
        .args(["keygen", "--type", "p256", "-o"])
        .arg(&k)
        .assert()
        .success();
    let pem = std::fs::read_to_string(&k).expect("key");
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&k).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "private key must be 0600");
    }
    let pub_pem = std::fs::read_to_string(dir.path().join("signer.pub")).expect("pub");
    assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    // keygen refuses to overwrite.
    modelgate()
        .args(["keygen", "-o"])
        .arg(&k)
        .assert()
        .failure();

    modelgate()
        .args(["sign", "-q"])
        .arg(&m)
        .arg("--key")
        .arg(&k)
        .assert()
        .success();
    let out = modelgate()
        .args(["verify", "-q"])
        .arg(&m)
        .arg("--key")
        .arg(dir.path().join("signer.pub"))
        .arg("--require-scan")
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("Verification succeeded: 3 file(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("scan attestation: approved"), "{stdout}");
}

#[test]
fn single_file_model() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("model.pt");
    std::fs::write(&f, torch_zip()).expect("write");
    let k = key(KeyType::P256);
    let signed = sign_model(&f, &k);
    assert_eq!(signed.signature, dir.path().join("model.pt.sig"));
    assert_eq!(signed.manifest.resources.len(), 1);
    assert_eq!(signed.manifest.resources[0].name, ".");
    verify_model(&f, &k.public_key()).expect("verify");
    std::fs::write(&f, b"replaced").expect("write");
    assert!(matches!(
        verify_model(&f, &k.public_key()),
        Err(VerifyError::ForeignModel { .. } | VerifyError::Mismatch(_))
    ));
}

#[test]
fn user_ignore_paths_are_recorded_and_honoured() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    std::fs::write(m.join("notes.txt"), b"local notes").expect("write");
    let k = key(KeyType::Ed25519);
    let opts = SignOptions {
        ignore: vec![PathBuf::from("notes.txt")],
        ..SignOptions::default()
    };
    let signed = sign::sign_directory(&engine(), &m, &k, &opts, &no_progress).expect("sign");
    assert!(signed
        .manifest
        .serialization
        .ignore_paths
        .contains(&"notes.txt".to_owned()));
    assert!(!signed
        .manifest
        .resources
        .iter()
        .any(|r| r.name == "notes.txt"));
    // The ignored file may change freely: the signature records that it is ignored.
    std::fs::write(m.join("notes.txt"), b"changed notes").expect("write");
    verify_model(&m, &k.public_key()).expect("ignored file is not checked");
    // model_signing's convention (relative to the current directory) works too.
    std::fs::write(m.join("more-notes.txt"), b"x").expect("write");
    let kp = dir.path().join("k");
    std::fs::write(&kp, k.to_pkcs8_pem().expect("pem").as_bytes()).expect("key");
    modelgate()
        .current_dir(dir.path())
        .args([
            "sign",
            "model",
            "-q",
            "--key",
            "k",
            "--ignore",
            "model/more-notes.txt",
        ])
        .assert()
        .success();
    let st = std::fs::read_to_string(m.join("model.sig")).expect("sig");
    let b = sign::Bundle::from_json(st.as_bytes()).expect("bundle");
    let payload = b.verify(&k.public_key()).expect("verify").payload;
    let text = String::from_utf8(payload).expect("utf8");
    assert!(text.contains("\"more-notes.txt\""), "{text}");
    // A path outside the model is refused.
    let bad = SignOptions {
        ignore: vec![PathBuf::from("../elsewhere")],
        ..SignOptions::default()
    };
    let e = sign::sign_directory(&engine(), &m, &k, &bad, &no_progress).expect_err("outside");
    assert!(
        matches!(e, SignError::Tree(sign::TreeError::IgnoreOutside(_))),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// each failure has its own error

#[test]
fn wrong_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    for kind in [
        KeyType::Ed25519,
        KeyType::P256,
        KeyType::P384,
        KeyType::P521,
    ] {
        sign_model(&m, &key(kind));
        let e = verify_model(&m, &key(kind).public_key()).expect_err("wrong key");
        assert!(matches!(e, VerifyError::WrongKey { .. }), "{e}");
        assert!(e.to_string().starts_with("wrong key"), "{e}");
    }
}

#[test]
fn wrong_key_type() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    sign_model(&m, &key(KeyType::P256));
    let e = verify_model(&m, &key(KeyType::Ed25519).public_key()).expect_err("type");
    assert!(
        matches!(
            e,
            VerifyError::KeyTypeMismatch {
                key: KeyType::Ed25519,
                signature: KeyType::P256
            }
        ),
        "{e}"
    );
    sign_model(&m, &key(KeyType::Ed25519));
    let e = verify_model(&m, &key(KeyType::P256).public_key()).expect_err("type");
    assert!(
        matches!(
            e,
            VerifyError::KeyTypeMismatch {
                key: KeyType::P256,
                signature: KeyType::Ed25519
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("key type mismatch"), "{e}");
}

#[test]
fn truncated_or_corrupted_pem() {
    let dir = tempfile::tempdir().expect("tmp");
    let k = key(KeyType::P256);
    let pem = k.to_pkcs8_pem().expect("pem").to_string();
    let truncated = &pem[..pem.len() / 2];
    assert!(matches!(
        PrivateKey::from_pem(truncated),
        Err(KeyError::Pem { .. })
    ));
    let mut lines: Vec<String> = pem.lines().map(str::to_owned).collect();
    lines[1].replace_range(10..12, "%%");
    let corrupted = lines.join("\n");
    let e = PrivateKey::from_pem(&corrupted).expect_err("corrupted");
    assert!(matches!(e, KeyError::Pem { .. }), "{e}");
    assert!(e.to_string().contains("corrupted or truncated PEM"), "{e}");
    // A PEM whose base64 is fine but whose DER is garbage.
    let garbage = "-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n";
    assert!(matches!(
        PrivateKey::from_pem(garbage),
        Err(KeyError::Malformed { .. })
    ));
    let pub_pem = k.public_key().to_pem();
    let e = PublicKey::from_pem(&pub_pem[..pub_pem.len() - 10]).expect_err("truncated pub");
    assert!(matches!(e, KeyError::Pem { .. }), "{e}");

    // Through the CLI: sign with a truncated key fails with the PEM message, writes nothing.
    let m = approved_model(dir.path(), "model");
    let kp = dir.path().join("trunc.pem");
    std::fs::write(&kp, truncated).expect("write");
    let out = modelgate()
        .arg("sign")
        .arg(&m)
        .arg("--key")
        .arg(&kp)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("corrupted or truncated PEM"), "{err}");
    assert!(!m.join("model.sig").exists());
    // Verify with a truncated public key: exit 1 with the PEM message.
    let pp = dir.path().join("trunc.pub");
    std::fs::write(&pp, &pub_pem[..pub_pem.len() - 10]).expect("write");
    let out = modelgate()
        .arg("verify")
        .arg(&m)
        .arg("--key")
        .arg(&pp)
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("corrupted or truncated PEM"), "{err}");
}

#[test]
fn private_and_public_keys_are_not_interchangeable() {
    let k = key(KeyType::Ed25519);
    let e = PrivateKey::from_pem(&k.public_key().to_pem()).expect_err("public as private");
    assert!(matches!(e, KeyError::ExpectedPrivate(_)), "{e}");
    let e = PublicKey::from_pem(&k.to_pkcs8_pem().expect("pem")).expect_err("private as public");
    assert!(matches!(e, KeyError::ExpectedPublic(_)), "{e}");
}

#[test]
fn corrupted_bundle_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    let k = key(KeyType::P256);
    sign_model(&m, &k);
    let sig = m.join("model.sig");
    let good = std::fs::read(&sig).expect("read");

    std::fs::write(&sig, &good[..good.len() / 2]).expect("truncate");
    let e = verify_model(&m, &k.public_key()).expect_err("truncated");
    assert!(matches!(e, VerifyError::BundleJson(_)), "{e}");
    assert!(e.to_string().contains("not valid JSON"), "{e}");

    // Valid JSON, right media type, broken structure.
    std::fs::write(
        &sig,
        br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"x"}},"dsseEnvelope":{"payload":"!!","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}"#,
    )
    .expect("write");
    let e = verify_model(&m, &k.public_key()).expect_err("malformed");
    assert!(matches!(e, VerifyError::MalformedBundle(_)), "{e}");

    // Another format altogether.
    std::fs::write(&sig, br#"{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1","verificationMaterial":{}}"#).expect("write");
    let e = verify_model(&m, &k.public_key()).expect_err("unknown");
    assert!(matches!(e, VerifyError::UnknownFormat(_)), "{e}");

    // A flipped byte in the payload: the signature no longer matches.
    let mut v: serde_json::Value = serde_json::from_slice(&good).expect("json");
    let payload = v["dsseEnvelope"]["payload"]
        .as_str()
        .expect("payload")
        .to_owned();
    let mut raw = base64_decode(&payload);
    let pos = raw.windows(6).position(|w| w == b"sha256").expect("sha256");
    raw[pos] = b'S';
    v["dsseEnvelope"]["payload"] = base64_encode(&raw).into();
    std::fs::write(&sig, serde_json::to_vec(&v).expect("json")).expect("write");
    let e = verify_model(&m, &k.public_key()).expect_err("tampered");
    assert!(matches!(e, VerifyError::BadSignature), "{e}");

    // Missing signature file.
    std::fs::remove_file(&sig).expect("rm");
    let e = verify_model(&m, &k.public_key()).expect_err("missing");
    assert!(matches!(e, VerifyError::MissingSignature(_)), "{e}");
}

fn base64_decode(s: &str) -> Vec<u8> {
    sign::bundle::decode_base64(s).expect("base64")
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn unknown_predicate_and_statement_types() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    let k = key(KeyType::Ed25519);
    let sig = m.join("model.sig");
    let other = sign::sign_subject(
        sign::Subject::sha256("model", "00"),
        "https://slsa.dev/provenance/v1",
        &serde_json::json!({}),
        &k,
    )
    .expect("sign");
    std::fs::write(&sig, other.to_json()).expect("write");
    let e = verify_model(&m, &k.public_key()).expect_err("predicate");
    assert!(
        matches!(e, VerifyError::UnknownPredicate(ref p) if p.contains("slsa")),
        "{e}"
    );

    let b = sign::Bundle::sign(br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#, &k);
    std::fs::write(&sig, b.to_json()).expect("write");
    let e = verify_model(&m, &k.public_key()).expect_err("statement");
    assert!(matches!(e, VerifyError::UnknownStatementType(_)), "{e}");

    // A scan attestation passed as the signature is named as such.
    sign_model(&m, &k);
    let opts = VerifyOptions {
        signature: Some(m.join("model.sig.scan.json")),
        ..VerifyOptions::default()
    };
    let e = sign::verify_directory(&m, &k.public_key(), &opts, &no_progress).expect_err("scan");
    assert!(e.to_string().contains("this is a scan attestation"), "{e}");
}

#[test]
fn bundle_for_another_directory() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = approved_model(dir.path(), "alpha");
    let b = approved_model(dir.path(), "beta");
    std::fs::write(b.join("model.pt"), b"not the same archive").expect("write");
    std::fs::write(b.join("config.json"), b"{\"hidden_size\": 8}\n").expect("write");
    let k = key(KeyType::Ed25519);
    sign_model(&a, &k);
    let opts = VerifyOptions {
        signature: Some(a.join("model.sig")),
        ..VerifyOptions::default()
    };
    let e = sign::verify_directory(&b, &k.public_key(), &opts, &no_progress).expect_err("other");
    assert!(
        matches!(e, VerifyError::ForeignModel { ref signed_name, .. } if signed_name == "alpha"),
        "{e}"
    );
    assert!(
        e.to_string().contains("signature is for another model"),
        "{e}"
    );
}

#[test]
fn added_removed_and_modified_files_are_each_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    std::fs::write(m.join("extra-a.txt"), b"a").expect("write");
    std::fs::write(m.join("extra-b.txt"), b"b").expect("write");
    let k = key(KeyType::P256);
    sign_model(&m, &k);
    let check = |want: (&[&str], &[&str], &[&str])| {
        let e = verify_model(&m, &k.public_key()).expect_err("mismatch");
        let VerifyError::Mismatch(d) = &e else {
            panic!("expected a mismatch, got {e}");
        };
        assert_eq!(d.added, want.0, "added");
        assert_eq!(d.removed, want.1, "removed");
        assert_eq!(d.modified, want.2, "modified");
        e.to_string()
    };
    std::fs::write(m.join("sub/new.bin"), b"new").expect("write");
    let msg = check((&["sub/new.bin"], &[], &[]));
    assert!(msg.contains("1 added (sub/new.bin)"), "{msg}");
    std::fs::remove_file(m.join("sub/new.bin")).expect("rm");
    std::fs::remove_file(m.join("extra-a.txt")).expect("rm");
    let msg = check((&[], &["extra-a.txt"], &[]));
    assert!(msg.contains("1 removed (extra-a.txt)"), "{msg}");
    std::fs::write(m.join("extra-a.txt"), b"a").expect("restore");
    std::fs::write(m.join("config.json"), b"{\"hidden_size\": 5}\n").expect("write");
    let msg = check((&[], &[], &["config.json"]));
    assert!(msg.contains("1 modified (config.json)"), "{msg}");
    // All three at once.
    std::fs::write(m.join("zz.txt"), b"z").expect("write");
    std::fs::remove_file(m.join("extra-b.txt")).expect("rm");
    check((&["zz.txt"], &["extra-b.txt"], &["config.json"]));
    // Files in ignored git paths never count.
    std::fs::remove_file(m.join("zz.txt")).expect("rm");
    std::fs::write(m.join("extra-b.txt"), b"b").expect("restore");
    std::fs::write(m.join("config.json"), b"{\"hidden_size\": 4}\n").expect("restore");
    std::fs::write(m.join(".git/index"), b"git").expect("write");
    verify_model(&m, &k.public_key()).expect("restored model verifies");
}

#[test]
fn a_file_changed_while_signing_is_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    let big = m.join("weights.bin");
    std::fs::write(&big, vec![1u8; 8 << 20]).expect("write");
    let k = key(KeyType::Ed25519);
    let once = std::sync::Once::new();
    let writer = |p: sign::Progress| {
        if let sign::Progress::Hashed(_) = p {
            once.call_once(|| {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&big)
                    .expect("open");
                f.write_all(b"tampered").expect("append");
            });
        }
    };
    let e = sign::sign_directory(&engine(), &m, &k, &SignOptions::default(), &writer)
        .expect_err("changed");
    assert!(
        matches!(
            e,
            SignError::Manifest(sign::ManifestError::Hash(
                modelgate::hash::HashError::Changed { .. }
            ))
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("changed while it was being hashed"),
        "{e}"
    );
    assert!(
        !m.join("model.sig").exists(),
        "no signature after a failed run"
    );

    // And while verifying.
    sign_model(&m, &k);
    let once = std::sync::Once::new();
    let writer = |p: sign::Progress| {
        if let sign::Progress::Hashed(_) = p {
            once.call_once(|| {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&big)
                    .expect("open");
                f.write_all(b"tampered").expect("append");
            });
        }
    };
    let e = sign::verify_directory(&m, &k.public_key(), &VerifyOptions::default(), &writer)
        .expect_err("changed");
    assert!(
        e.to_string().contains("changed while it was being hashed"),
        "{e}"
    );
}

#[cfg(unix)]
#[test]
fn symlinks_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    std::fs::write(dir.path().join("outside.txt"), b"secret").expect("write");
    std::os::unix::fs::symlink(dir.path().join("outside.txt"), m.join("link.txt")).expect("link");
    let k = key(KeyType::Ed25519);
    let e = sign::sign_directory(&engine(), &m, &k, &SignOptions::default(), &no_progress)
        .expect_err("symlink");
    assert!(
        matches!(e, SignError::Tree(sign::TreeError::Symlink { .. })),
        "{e}"
    );
    // Ignored paths may hold links.
    let opts = SignOptions {
        ignore: vec![PathBuf::from("link.txt")],
        ..SignOptions::default()
    };
    sign::sign_directory(&engine(), &m, &k, &opts, &no_progress).expect("ignored link");
}

// ---------------------------------------------------------------------------------------------
// scan attestation

#[test]
fn scan_attestation_is_bound_to_the_signature() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    let k = key(KeyType::P256);
    sign_model(&m, &k);
    let scan = m.join("model.sig.scan.json");
    let first = std::fs::read(&scan).expect("scan");

    // An attestation from another signing run of the same files (e.g. with other ignore paths)
    // does not accompany this signature.
    std::fs::write(m.join("notes.txt"), b"x").expect("write");
    let opts = SignOptions {
        ignore: vec![PathBuf::from("notes.txt")],
        ..SignOptions::default()
    };
    sign::sign_directory(&engine(), &m, &k, &opts, &no_progress).expect("sign");
    std::fs::write(&scan, &first).expect("swap attestation");
    let e = verify_model(&m, &k.public_key()).expect_err("swapped");
    assert!(matches!(e, VerifyError::ScanAttestation { .. }), "{e}");

    // A corrupted attestation fails; a missing one only when required.
    std::fs::write(&scan, b"{").expect("corrupt");
    assert!(matches!(
        verify_model(&m, &k.public_key()),
        Err(VerifyError::ScanAttestation { .. })
    ));
    std::fs::remove_file(&scan).expect("rm");
    let v = verify_model(&m, &k.public_key()).expect("optional");
    assert!(v.scan.is_none());
    let opts = VerifyOptions {
        require_scan_attestation: true,
        ..VerifyOptions::default()
    };
    let e = sign::verify_directory(&m, &k.public_key(), &opts, &no_progress).expect_err("required");
    assert!(matches!(e, VerifyError::MissingScanAttestation(_)), "{e}");
}

// ---------------------------------------------------------------------------------------------
// refusal

/// A protocol-0 pickle that calls os.system('true') when loaded (inert payload).
const MALICIOUS_PICKLE: &[u8] = b"cos\nsystem\n(S'true'\ntR.";

#[test]
fn sign_refuses_disguised_pickle() {
    // Flagged by the engine today: a pickle named .safetensors (engine/extension-mismatch).
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    std::fs::write(m.join("model.safetensors"), MALICIOUS_PICKLE).expect("write");
    let k = dir.path().join("k");
    modelgate()
        .args(["keygen", "-o"])
        .arg(&k)
        .assert()
        .success();
    let out = modelgate()
        .arg("sign")
        .arg(&m)
        .arg("--key")
        .arg(&k)
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stdout.contains("model.safetensors"), "{stdout}");
    assert!(stderr.contains("refusing to sign"), "{stderr}");
    assert!(!m.join("model.sig").exists());
    assert!(!m.join("model.sig.scan.json").exists());

    let e = sign::sign_directory(
        &engine(),
        &m,
        &key(KeyType::Ed25519),
        &SignOptions::default(),
        &no_progress,
    )
    .expect_err("refused");
    let SignError::Refused { reason, report } = e else {
        panic!("expected a refusal, got {e}");
    };
    assert!(matches!(reason, sign::Refusal::Findings { .. }));
    assert!(report
        .findings
        .iter()
        .any(|f| f.code == "engine/extension-mismatch"));
}

#[test]
fn sign_refuses_malicious_pickle() {
    // Needs the pickle scanner: without one, a .pkl is skipped (not scanned), the rest of the
    // model is approved, and this test has nothing to check.
    if modelgate::scanners::for_format(modelgate::Format::Pickle).is_none() {
        eprintln!("notice: no pickle scanner in this build; sign_refuses_malicious_pickle needs the pickle scanner merge");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    std::fs::write(m.join("payload.pkl"), MALICIOUS_PICKLE).expect("write");
    let e = sign::sign_directory(
        &engine(),
        &m,
        &key(KeyType::Ed25519),
        &SignOptions::default(),
        &no_progress,
    )
    .expect_err("refused");
    assert!(
        matches!(
            e,
            SignError::Refused {
                reason: sign::Refusal::Findings { .. },
                ..
            }
        ),
        "{e}"
    );
    assert!(!m.join("model.sig").exists());
}

#[test]
fn sign_refuses_when_nothing_could_be_scanned() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = dir.path().join("notes");
    std::fs::create_dir(&m).expect("mkdir");
    std::fs::write(m.join("a.unknownformat"), b"\x00\x01\x02 opaque").expect("write");
    let e = sign::sign_directory(
        &engine(),
        &m,
        &key(KeyType::Ed25519),
        &SignOptions::default(),
        &no_progress,
    )
    .expect_err("refused");
    assert!(
        matches!(
            e,
            SignError::Refused {
                reason: sign::Refusal::NothingScanned,
                ..
            }
        ),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// reference bundles (committed, made by model_signing; see testdata/generate/sign.py)

#[test]
fn reference_bundles_verify_and_detect_tampering() {
    let key = PublicKey::load(&testdata().join("p256.pub")).expect("pub");
    let sigs = [
        "files-sha256",
        "files-blake2b",
        "files-blake3",
        "shards-sha256",
        "shards-blake2b",
    ];
    let dir = tempfile::tempdir().expect("tmp");
    for name in sigs {
        let sig = testdata().join(format!("signatures/{name}.sig"));
        let opts = VerifyOptions {
            signature: Some(sig.clone()),
            ..VerifyOptions::default()
        };
        let v = sign::verify_directory(&testdata().join("model"), &key, &opts, &no_progress)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            v.hash.name(),
            name.split('-').nth(1).expect("alg"),
            "{name}"
        );
        // Tamper with a copy: change one byte of the sharded file.
        let copy = dir.path().join(name);
        copy_tree(&testdata().join("model"), &copy);
        let mut w = std::fs::read(copy.join("weights.bin")).expect("read");
        w[17] ^= 1;
        std::fs::write(copy.join("weights.bin"), w).expect("write");
        let e = sign::verify_directory(&copy, &key, &opts, &no_progress).expect_err("tampered");
        let VerifyError::Mismatch(d) = &e else {
            panic!("{name}: expected mismatch, got {e}");
        };
        assert_eq!(d.modified, ["weights.bin"], "{name}");
    }
    // P-384: verifies with its key; the P-256 key is a key type mismatch only by curve, so it is
    // reported as such.
    let key384 = PublicKey::load(&testdata().join("p384.pub")).expect("p384 pub");
    assert_eq!(key384.key_type(), KeyType::P384);
    let opts = VerifyOptions {
        signature: Some(testdata().join("signatures/p384-files-sha256.sig")),
        ..VerifyOptions::default()
    };
    sign::verify_directory(&testdata().join("model"), &key384, &opts, &no_progress).expect("p384");
    let e = sign::verify_directory(&testdata().join("model"), &key, &opts, &no_progress)
        .expect_err("p256 key for a p384 signature");
    assert!(
        matches!(
            e,
            VerifyError::KeyTypeMismatch {
                key: KeyType::P256,
                signature: KeyType::P384
            }
        ),
        "{e}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.expect("walk");
        let rel = e.path().strip_prefix(from).expect("rel");
        let dst = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dst).expect("mkdir");
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// interoperability with model_signing (independent reference)

#[test]
fn model_signing_verifies_modelgate_p256_bundles() {
    let Some(ms) = model_signing() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    let k = dir.path().join("signer");
    modelgate()
        .args(["keygen", "--type", "p256", "-o"])
        .arg(&k)
        .assert()
        .success();
    modelgate()
        .args(["sign", "-q"])
        .arg(&m)
        .arg("--key")
        .arg(&k)
        .assert()
        .success();
    let pub_key = dir.path().join("signer.pub");
    let verify = || {
        run_model_signing(
            &ms,
            &[
                os("verify"),
                os("key"),
                m.as_os_str(),
                os("--signature"),
                m.join("model.sig").as_os_str(),
                os("--public_key"),
                pub_key.as_os_str(),
            ],
        )
    };
    let (ok, out) = verify();
    assert!(ok && out.contains("Verification succeeded"), "{out}");
    assert!(!out.contains("WARNING"), "{out}");
    expect_both_fail_after_tampering(&m, &pub_key, &m.join("model.sig"), &verify);

    // The other NIST curves model_signing accepts.
    for kind in ["p384", "p521"] {
        let k = dir.path().join(kind);
        modelgate()
            .args(["keygen", "--type", kind, "-o"])
            .arg(&k)
            .assert()
            .success();
        modelgate()
            .args(["sign", "-q"])
            .arg(&m)
            .arg("--key")
            .arg(&k)
            .assert()
            .success();
        let (ok, out) = run_model_signing(
            &ms,
            &[
                os("verify"),
                os("key"),
                m.as_os_str(),
                os("--signature"),
                m.join("model.sig").as_os_str(),
                os("--public_key"),
                dir.path().join(format!("{kind}.pub")).as_os_str(),
            ],
        );
        assert!(
            ok && out.contains("Verification succeeded"),
            "{kind}: {out}"
        );
    }
}

#[test]
fn modelgate_verifies_model_signing_bundles() {
    let Some(ms) = model_signing() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let m = approved_model(dir.path(), "model");
    let (priv_key, pub_key) = (dir.path().join("p256.pem"), dir.path().join("p256.pub"));
    reference_p256_key(&ms, &priv_key, &pub_key);
    let sig = dir.path().join("model.sig");
    let (ok, out) = run_model_signing(
        &ms,
        &[
            os("sign"),
            os("key"),
            m.as_os_str(),
            os("--private_key"),
            priv_key.as_os_str(),
            os("--signature"),
            sig.as_os_str(),
        ],
    );
    assert!(ok, "model_signing sign: {out}");
    // modelgate also reads the SEC1 key model_signing was given.
    if std::fs::read_to_string(&priv_key)
        .expect("key")
        .contains("EC PRIVATE KEY")
    {
        assert_eq!(
            PrivateKey::load(&priv_key).expect("sec1").key_type(),
            KeyType::P256
        );
    }
    modelgate()
        .args(["verify", "-q"])
        .arg(&m)
        .arg("--key")
        .arg(&pub_key)
        .arg("--signature")
        .arg(&sig)
        .assert()
        .success();
    let verify = || {
        run_model_signing(
            &ms,
            &[
                os("verify"),
                os("key"),
                m.as_os_str(),
                os("--signature"),
                sig.as_os_str(),
                os("--public_key"),
                pub_key.as_os_str(),
            ],
        )
    };
    expect_both_fail_after_tampering(&m, &pub_key, &sig, &verify);
}

/// A P-256 key pair from an independent tool: `openssl ecparam -genkey` (SEC1), or Python
/// `cryptography` from model_signing's interpreter when openssl is missing.
fn reference_p256_key(ms: &Path, priv_key: &Path, pub_key: &Path) {
    let openssl = Proc::new("openssl")
        .args(["ecparam", "-name", "prime256v1", "-genkey", "-out"])
        .arg(priv_key)
        .output();
    if matches!(openssl, Ok(ref o) if o.status.success()) {
        let o = Proc::new("openssl")
            .args(["ec", "-pubout", "-in"])
            .arg(priv_key)
            .arg("-out")
            .arg(pub_key)
            .output()
            .expect("openssl ec");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        return;
    }
    let script = std::fs::read_to_string(ms).expect("read model_signing");
    let python = script
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("#!"))
        .expect("model_signing has a shebang")
        .trim()
        .to_owned();
    let code = "import sys\nfrom cryptography.hazmat.primitives import serialization as s\nfrom cryptography.hazmat.primitives.asymmetric import ec\nk=ec.generate_private_key(ec.SECP256R1())\nopen(sys.argv[1],'wb').write(k.private_bytes(s.Encoding.PEM,s.PrivateFormat.PKCS8,s.NoEncryption()))\nopen(sys.argv[2],'wb').write(k.public_key().public_bytes(s.Encoding.PEM,s.PublicFormat.SubjectPublicKeyInfo))\n";
    let st = Proc::new(python)
        .args(["-c", code])
        .arg(priv_key)
        .arg(pub_key)
        .status()
        .expect("python");
    assert!(st.success());
}

/// A named change to a model tree and its undo.
type Change<'a> = (&'a str, Box<dyn Fn() + 'a>, Box<dyn Fn() + 'a>);

/// Modifying, adding or removing a file makes both verifiers fail; restoring makes both pass.
fn expect_both_fail_after_tampering(
    m: &Path,
    pub_key: &Path,
    sig: &Path,
    reference: &dyn Fn() -> (bool, String),
) {
    let ours = || {
        modelgate()
            .args(["verify", "-q"])
            .arg(m)
            .arg("--key")
            .arg(pub_key)
            .arg("--signature")
            .arg(sig)
            .output()
            .expect("run")
            .status
            .code()
    };
    let cfg = m.join("config.json");
    let original = std::fs::read(&cfg).expect("read");
    let changes: Vec<Change<'_>> = vec![
        (
            "modified",
            Box::new(|| std::fs::write(&cfg, b"{\"hidden_size\": 9}\n").expect("write")),
            Box::new(|| std::fs::write(&cfg, &original).expect("restore")),
        ),
        (
            "added",
            Box::new(|| std::fs::write(m.join("sub/added.bin"), b"new").expect("write")),
            Box::new(|| std::fs::remove_file(m.join("sub/added.bin")).expect("rm")),
        ),
        (
            "removed",
            Box::new(|| std::fs::remove_file(&cfg).expect("rm")),
            Box::new(|| std::fs::write(&cfg, &original).expect("restore")),
        ),
    ];
    for (what, apply, undo) in &changes {
        apply();
        let (ok, out) = reference();
        assert!(!ok, "model_signing accepted a {what} file: {out}");
        assert_eq!(ours(), Some(1), "modelgate accepted a {what} file");
        undo();
        let (ok, out) = reference();
        assert!(ok, "model_signing rejects the restored model: {out}");
        assert_eq!(ours(), Some(0), "modelgate rejects the restored model");
    }
}

// ---------------------------------------------------------------------------------------------
// parsers never panic on hostile input

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            prop_oneof![
                Just("files".to_owned()),
                Just("shards".to_owned()),
                Just("sha256".to_owned()),
                Just("blake3".to_owned()),
                Just(sign::PREDICATE_TYPE.to_owned()),
                Just("https://in-toto.io/Statement/v1".to_owned()),
                "[a-z0-9:/._-]{0,12}",
            ]
            .prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let keys = prop_oneof![
                Just("_type".to_owned()),
                Just("subject".to_owned()),
                Just("predicateType".to_owned()),
                Just("predicate".to_owned()),
                Just("serialization".to_owned()),
                Just("resources".to_owned()),
                Just("method".to_owned()),
                Just("hash_type".to_owned()),
                Just("shard_size".to_owned()),
                Just("ignore_paths".to_owned()),
                Just("name".to_owned()),
                Just("digest".to_owned()),
                Just("algorithm".to_owned()),
                Just("sha256".to_owned()),
                "[a-z]{1,6}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(keys, inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn pem_parsers(text in ".{0,300}", der in prop::collection::vec(any::<u8>(), 0..200),
                       label in prop_oneof![Just("PRIVATE KEY"), Just("EC PRIVATE KEY"), Just("PUBLIC KEY"), Just("X")]) {
            use base64::Engine as _;
            let _ = PrivateKey::from_pem(&text);
            let _ = PublicKey::from_pem(&text);
            let body = base64::engine::general_purpose::STANDARD.encode(&der);
            let wrapped: Vec<String> = body.as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
            let pem = format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", wrapped.join("\n"));
            let _ = PrivateKey::from_pem(&pem);
            let _ = PublicKey::from_pem(&pem);
        }

        #[test]
        fn bundle_parser_and_verifier(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let k = PublicKey::from_pem(&std::fs::read_to_string(testdata().join("p256.pub")).expect("pub")).expect("key");
            if let Ok(b) = sign::Bundle::from_json(&bytes) {
                let _ = b.verify(&k);
            }
        }

        #[test]
        fn structured_bundles(v in json_value(), sig in prop::collection::vec(any::<u8>(), 0..80)) {
            use base64::Engine as _;
            let e = base64::engine::general_purpose::STANDARD;
            let payload = serde_json::to_vec(&v).expect("json");
            let bundle = serde_json::json!({
                "mediaType": sign::bundle::BUNDLE_MEDIA_TYPE,
                "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": []},
                "dsseEnvelope": {"payload": e.encode(&payload), "payloadType": sign::bundle::INTOTO_PAYLOAD_TYPE,
                                 "signatures": [{"sig": e.encode(&sig), "keyid": ""}]}
            });
            let k = PrivateKey::generate(KeyType::Ed25519).expect("key");
            let b = sign::Bundle::from_json(&serde_json::to_vec(&bundle).expect("json")).expect("bundle");
            prop_assert!(b.verify(&k.public_key()).is_err());
            // The statement layer, as if the signature had verified.
            if let Ok(st) = sign::bundle::parse_statement(&payload) {
                let _ = sign::Manifest::from_statement(&st);
            }
            let _ = sign::manifest::Serialization::from_json(&v);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Validly signed but hostile statements go through the whole verifier without panicking,
        /// and never verify a tree they do not describe.
        #[test]
        fn signed_hostile_statements(v in json_value(), ignore in prop::collection::vec("[./a-z]{0,8}", 0..4)) {
            let dir = tempfile::tempdir().expect("tmp");
            let m = dir.path().join("m");
            std::fs::create_dir(&m).expect("mkdir");
            std::fs::write(m.join("f"), b"content").expect("write");
            let mut v = v;
            if let Some(ser) = v.pointer_mut("/predicate/serialization") {
                if let Some(o) = ser.as_object_mut() {
                    o.insert("ignore_paths".into(), serde_json::json!(ignore));
                }
            }
            let k = PrivateKey::generate(KeyType::Ed25519).expect("key");
            let b = sign::Bundle::sign(&serde_json::to_vec(&v).expect("json"), &k);
            let sig = dir.path().join("m.sig");
            std::fs::write(&sig, b.to_json()).expect("write");
            let opts = VerifyOptions { signature: Some(sig), ..VerifyOptions::default() };
            let r = sign::verify_directory(&m, &k.public_key(), &opts, &no_progress);
            prop_assert!(r.is_err(), "random statement verified: {v}");
        }
    }
}
