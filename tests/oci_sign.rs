//! Signing container images in a real registry (Debian's docker-registry, distribution 2.8, which
//! has no referrers API) and verifying them: ed25519 and P-256, wrong key, a re-pushed tag, a
//! signature moved to another image, a tampered bundle, a malicious image that is refused with
//! nothing pushed, several signatures in one tag-schema index, and htpasswd credentials.
//!
//! Without docker-registry and skopeo these tests print a notice and return (they fail under CI).

#![allow(clippy::print_stderr, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::registry::{self, Registry};
use common::*;
use modelgate::image::ImageOptions;
use modelgate::sign::oci::{self, CandidateError, Listing, OciSignError, OciVerifyError};
use modelgate::sign::{KeyType, PrivateKey, VerifyError};
use modelgate::Engine;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::{json, Value};

const PICKLE: &[u8] = b"cos\nsystem\n(S'true'\ntR.";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn engine() -> Engine {
    Engine::with_defaults().expect("engine")
}

/// A benign image: a JSON config and a NumPy array (plain float data, scanned and clean).
fn clean_image(marker: &str) -> Image {
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    let mut h = header.as_bytes().to_vec();
    while !(h.len() + 11).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    npy.extend_from_slice(&u16::try_from(h.len()).expect("len").to_le_bytes());
    npy.extend_from_slice(&h);
    npy.extend_from_slice(&[0u8; 8]);
    image(vec![
        layer(
            Comp::Gzip,
            vec![
                file(
                    "app/config.json",
                    format!("{{\"m\": \"{marker}\"}}\n").as_bytes(),
                ),
                file("app/weights.npy", &npy),
            ],
        ),
        layer(Comp::Zstd, vec![file("app/README.md", b"hello\n")]),
    ])
}

fn evil_image() -> Image {
    image(vec![layer(
        Comp::Gzip,
        vec![file("app/model.pkl", PICKLE), file("app/README.md", b"x\n")],
    )])
}

fn push(reg: &Registry, dir: &Path, images: &[Image], repo: &str, tag: &str) -> Written {
    let _ = std::fs::remove_dir_all(dir);
    let w = write_layout(dir, images, tag);
    reg.push_layout(dir, tag, repo);
    w
}

fn opts_for(reg: &Registry) -> ImageOptions {
    let (username, password) = match &reg.auth {
        Some((u, p)) => (Some(u.clone()), Some(p.clone())),
        None => (None, None),
    };
    ImageOptions {
        username,
        password,
        docker_config: false,
        ..ImageOptions::default()
    }
}

fn sign_opts(reg: &Registry) -> oci::OciSignOptions {
    oci::OciSignOptions {
        image: opts_for(reg),
        ..oci::OciSignOptions::default()
    }
}

/// Raw registry access for the checks, independent of modelgate's code paths.
struct Raw {
    rt: tokio::runtime::Runtime,
    client: Client,
    host: String,
    auth: RegistryAuth,
}

impl Raw {
    fn new(reg: &Registry) -> Raw {
        let host = reg.host();
        Raw {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt"),
            client: Client::new(ClientConfig {
                protocol: ClientProtocol::HttpsExcept(vec![host.clone()]),
                platform_resolver: None,
                ..ClientConfig::default()
            }),
            auth: match &reg.auth {
                Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
                None => RegistryAuth::Anonymous,
            },
            host,
        }
    }

    fn tag_ref(&self, repo: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repo.into(), tag.into())
    }

    fn digest_ref(&self, repo: &str, digest: &str) -> Reference {
        Reference::with_digest(self.host.clone(), repo.into(), digest.into())
    }

    /// A manifest or index as JSON, `None` when missing.
    fn doc(&self, r: &Reference) -> Option<(Value, Vec<u8>)> {
        self.rt
            .block_on(
                self.client
                    .pull_manifest_raw(r, &self.auth, &[INDEX, MANIFEST]),
            )
            .ok()
            .map(|(b, _)| (serde_json::from_slice(&b).expect("json"), b.to_vec()))
    }

    fn blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let d = oci_client::manifest::OciDescriptor {
            digest: digest.into(),
            ..Default::default()
        };
        self.rt
            .block_on(
                self.client
                    .pull_blob(&self.digest_ref(repo, digest), &d, &mut out),
            )
            .expect("blob");
        out
    }

    fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = format!("sha256:{}", sha256_hex(data));
        let r = self.digest_ref(repo, &d);
        self.rt
            .block_on(async {
                self.client
                    .auth(&r, &self.auth, oci_client::RegistryOperation::Push)
                    .await?;
                self.client.push_blob(&r, data.to_vec(), &d).await
            })
            .expect("push blob");
        d
    }

    fn push_doc(&self, r: &Reference, v: &Value, media_type: &str) -> String {
        let body = serde_json::to_vec(v).expect("json");
        let d = format!("sha256:{}", sha256_hex(&body));
        self.rt
            .block_on(async {
                self.client
                    .auth(r, &self.auth, oci_client::RegistryOperation::Push)
                    .await?;
                self.client
                    .push_manifest_raw(r, body.clone(), media_type.parse().expect("ct"))
                    .await
            })
            .expect("push manifest");
        d
    }

    /// The tag-schema index of `digest` (`sha256-<hex>`).
    fn tag_index(&self, repo: &str, digest: &str) -> Option<Value> {
        self.doc(&self.tag_ref(repo, &digest.replace(':', "-")))
            .map(|(v, _)| v)
    }
}

fn keys() -> (PrivateKey, PrivateKey, PrivateKey) {
    (
        PrivateKey::generate(KeyType::Ed25519).expect("ed25519"),
        PrivateKey::generate(KeyType::P256).expect("p256"),
        PrivateKey::generate(KeyType::Ed25519).expect("other"),
    )
}

fn failures(e: &OciVerifyError) -> &[oci::CandidateFailure] {
    match e {
        OciVerifyError::Invalid { failures, .. } => failures,
        other => panic!("expected invalid signatures, got {other}"),
    }
}

#[test]
fn sign_verify_second_signature_wrong_key_retag_and_tampering() {
    if !registry::available() {
        return;
    }
    let reg = Registry::start(None);
    let raw = Raw::new(&reg);
    let t = tempfile::tempdir().expect("tmp");
    let (ed, p256, other) = keys();
    let repo = "test/app";
    let reference = format!("{}/{repo}:v1", reg.host());
    push(&reg, &t.path().join("a"), &[clean_image("a")], repo, "v1");

    // ed25519: sign, check what was pushed, verify
    let s1 = oci::sign_image(&engine(), &reference, &ed, &sign_opts(&reg)).expect("sign ed25519");
    assert_eq!(s1.media_type, MANIFEST);
    assert_eq!(s1.listing, Listing::TagSchema(s1.digest.replace(':', "-")));
    assert!(s1.report.summary.scanned > 0, "{:#?}", s1.report.summary);
    let (root, root_bytes) = raw.doc(&raw.tag_ref(repo, "v1")).expect("image");
    let _ = root;
    assert_eq!(s1.digest, format!("sha256:{}", sha256_hex(&root_bytes)));
    let (m, _) = raw
        .doc(&raw.digest_ref(repo, &s1.referrer))
        .expect("referrer manifest");
    assert_eq!(m["artifactType"], BUNDLE);
    assert_eq!(m["mediaType"], MANIFEST);
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(
        m["config"]["digest"],
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert_eq!(m["subject"]["digest"], s1.digest.as_str());
    assert_eq!(m["subject"]["size"], root_bytes.len());
    assert_eq!(m["subject"]["mediaType"], MANIFEST);
    assert_eq!(m["layers"][0]["mediaType"], BUNDLE);
    assert_eq!(
        m["annotations"]["dev.sigstore.bundle.content"],
        "dsse-envelope"
    );
    assert_eq!(
        m["annotations"]["dev.sigstore.bundle.predicateType"],
        "https://modelgate.dev/scan/v1"
    );
    assert!(m["annotations"]["org.opencontainers.image.created"].is_string());
    let bundle: Value =
        serde_json::from_slice(&raw.blob(repo, m["layers"][0]["digest"].as_str().expect("d")))
            .expect("bundle json");
    assert_eq!(bundle["mediaType"], BUNDLE);
    let payload = modelgate::sign::bundle::decode_base64(
        bundle["dsseEnvelope"]["payload"].as_str().expect("payload"),
    )
    .expect("base64");
    let st: Value = serde_json::from_slice(&payload).expect("statement");
    assert_eq!(st["subject"][0]["name"], repo);
    assert_eq!(
        st["subject"][0]["digest"]["sha256"],
        s1.digest.trim_start_matches("sha256:")
    );
    assert_eq!(st["predicate"]["verdict"], "approved");
    assert!(st["predicate"]["signature_database"]["digest"].is_string());
    let idx = raw.tag_index(repo, &s1.digest).expect("tag-schema index");
    assert_eq!(idx["mediaType"], INDEX);
    assert_eq!(idx["manifests"].as_array().expect("list").len(), 1);
    assert_eq!(idx["manifests"][0]["digest"], s1.referrer.as_str());
    assert_eq!(idx["manifests"][0]["artifactType"], BUNDLE);
    assert_eq!(
        idx["manifests"][0]["annotations"]["dev.sigstore.bundle.content"],
        "dsse-envelope"
    );

    let v = oci::verify_image(&reference, &ed.public_key(), &opts_for(&reg)).expect("verify");
    assert_eq!(v.digest, s1.digest);
    assert_eq!(v.referrer, s1.referrer);
    assert_eq!(v.key_type, KeyType::Ed25519);

    // a second signature (P-256) is added to the index, not replacing the first
    let s2 = oci::sign_image(&engine(), &reference, &p256, &sign_opts(&reg)).expect("sign p256");
    assert_eq!(s2.digest, s1.digest);
    assert_ne!(s2.referrer, s1.referrer);
    let idx = raw.tag_index(repo, &s1.digest).expect("index");
    let listed: Vec<&str> = idx["manifests"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["digest"].as_str())
        .collect();
    assert_eq!(listed, [s1.referrer.as_str(), s2.referrer.as_str()]);
    let v = oci::verify_image(&reference, &p256.public_key(), &opts_for(&reg)).expect("p256");
    assert_eq!(v.referrer, s2.referrer);
    assert_eq!(v.key_type, KeyType::P256);
    oci::verify_image(&reference, &ed.public_key(), &opts_for(&reg)).expect("ed25519 still");
    // by digest too
    oci::verify_image(
        &format!("{}/{repo}@{}", reg.host(), s1.digest),
        &ed.public_key(),
        &opts_for(&reg),
    )
    .expect("by digest");

    // wrong key: both candidates fail with their own reason
    let e =
        oci::verify_image(&reference, &other.public_key(), &opts_for(&reg)).expect_err("wrong key");
    let f = failures(&e);
    assert_eq!(f.len(), 2, "{e}");
    assert!(f.iter().any(|c| matches!(
        c.error,
        CandidateError::Verify(VerifyError::WrongKey { .. })
    )));
    assert!(f.iter().any(|c| matches!(
        c.error,
        CandidateError::Verify(VerifyError::KeyTypeMismatch { .. })
    )));

    // re-push another image under the same tag: no signature for the new digest
    push(&reg, &t.path().join("b"), &[clean_image("b")], repo, "v1");
    let e = oci::verify_image(&reference, &ed.public_key(), &opts_for(&reg))
        .expect_err("re-tagged image");
    let OciVerifyError::NoSignature { digest, .. } = &e else {
        panic!("expected no signature, got {e}");
    };
    assert_ne!(digest, &s1.digest);
    assert!(e.to_string().contains("no signature found"), "{e}");
    let new_digest = digest.clone();
    // the old image is still signed, by digest
    oci::verify_image(
        &format!("{}/{repo}@{}", reg.host(), s1.digest),
        &ed.public_key(),
        &opts_for(&reg),
    )
    .expect("old digest");

    // a signature moved to the new image: the old index copied to the new digest's tag (the
    // referrers' subject is the old image) ...
    let old_idx = raw.tag_index(repo, &s1.digest).expect("old index");
    raw.push_doc(
        &raw.tag_ref(repo, &new_digest.replace(':', "-")),
        &old_idx,
        INDEX,
    );
    let e =
        oci::verify_image(&reference, &ed.public_key(), &opts_for(&reg)).expect_err("copied index");
    assert!(failures(&e)
        .iter()
        .all(|c| matches!(c.error, CandidateError::ForeignReferrer(_))));
    // ... and a referrer whose subject is the new image but whose bundle signs the old one
    let (mut forged, _) = raw.doc(&raw.digest_ref(repo, &s1.referrer)).expect("m");
    let (_, new_bytes) = raw.doc(&raw.tag_ref(repo, "v1")).expect("new image");
    forged["subject"] =
        json!({"mediaType": MANIFEST, "digest": new_digest, "size": new_bytes.len()});
    let body = serde_json::to_vec(&forged).expect("json");
    let forged_d = format!("sha256:{}", sha256_hex(&body));
    raw.push_doc(&raw.digest_ref(repo, &forged_d), &forged, MANIFEST);
    raw.push_doc(
        &raw.tag_ref(repo, &new_digest.replace(':', "-")),
        &json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
            {"mediaType": MANIFEST, "digest": forged_d, "size": body.len(), "artifactType": BUNDLE}
        ]}),
        INDEX,
    );
    let e = oci::verify_image(&reference, &ed.public_key(), &opts_for(&reg))
        .expect_err("moved signature");
    let f = failures(&e);
    assert!(
        matches!(&f[0].error, CandidateError::OtherImage { signed, expected }
            if signed.contains(s1.digest.trim_start_matches("sha256:")) && *expected == new_digest),
        "{e}"
    );
    assert!(e.to_string().contains("signature for another image"), "{e}");

    // a tampered bundle re-pushed consistently (valid digests, altered statement)
    let mut b = bundle.clone();
    let mut st2 = st.clone();
    st2["subject"][0]["digest"]["sha256"] = json!(new_digest.trim_start_matches("sha256:"));
    b["dsseEnvelope"]["payload"] = json!(base64_std(&serde_json::to_vec(&st2).expect("st")));
    let bb = serde_json::to_vec(&b).expect("bundle");
    let bd = raw.push_blob(repo, &bb);
    let mut m2 = forged.clone();
    m2["layers"][0]["digest"] = json!(bd);
    m2["layers"][0]["size"] = json!(bb.len());
    let body = serde_json::to_vec(&m2).expect("json");
    let m2d = format!("sha256:{}", sha256_hex(&body));
    raw.push_doc(&raw.digest_ref(repo, &m2d), &m2, MANIFEST);
    raw.push_doc(
        &raw.tag_ref(repo, &new_digest.replace(':', "-")),
        &json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
            {"mediaType": MANIFEST, "digest": m2d, "size": body.len(), "artifactType": BUNDLE}
        ]}),
        INDEX,
    );
    let e = oci::verify_image(&reference, &ed.public_key(), &opts_for(&reg))
        .expect_err("tampered statement");
    assert!(
        matches!(
            failures(&e)[0].error,
            CandidateError::Verify(VerifyError::BadSignature)
        ),
        "{e}"
    );

    // the bundle blob altered in the registry's storage: its digest no longer matches
    let old = format!("{}/{repo}@{}", reg.host(), s1.digest);
    let blob_file = reg.blob_file(m["layers"][0]["digest"].as_str().expect("d"));
    let mut stored = std::fs::read(&blob_file).expect("stored bundle");
    let pos = stored.len() / 2;
    stored[pos] ^= 0x01;
    std::fs::write(&blob_file, stored).expect("tamper");
    let e = oci::verify_image(&old, &ed.public_key(), &opts_for(&reg)).expect_err("tampered");
    assert!(
        failures(&e)
            .iter()
            .any(|c| matches!(c.error, CandidateError::BlobDigest(_))),
        "{e}"
    );
    // the P-256 signature is untouched
    oci::verify_image(&old, &p256.public_key(), &opts_for(&reg)).expect("p256 untouched");
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn multi_platform_index_is_signed_as_a_whole() {
    if !registry::available() {
        return;
    }
    let reg = Registry::start(None);
    let raw = Raw::new(&reg);
    let t = tempfile::tempdir().expect("tmp");
    let key = PrivateKey::generate(KeyType::P256).expect("key");
    let mut arm = clean_image("arm");
    arm.arch = "arm64".into();
    arm.variant = Some("v8".into());
    let w = push(
        &reg,
        &t.path().join("mp"),
        &[clean_image("amd"), arm],
        "test/multi",
        "v1",
    );
    let reference = format!("{}/test/multi:v1", reg.host());
    let s = oci::sign_image(&engine(), &reference, &key, &sign_opts(&reg)).expect("sign");
    assert_eq!(s.media_type, INDEX);
    let (_, idx_bytes) = raw.doc(&raw.tag_ref("test/multi", "v1")).expect("index");
    assert_eq!(s.digest, format!("sha256:{}", sha256_hex(&idx_bytes)));
    assert!(w.index_digest.is_some());
    // both platforms were scanned
    let platforms: std::collections::BTreeSet<String> = s
        .report
        .artifacts
        .iter()
        .filter(|a| {
            a.location
                .inner
                .last()
                .is_some_and(|l| l == "app/weights.npy")
        })
        .filter_map(|a| a.location.inner.first().cloned())
        .collect();
    assert_eq!(
        platforms.into_iter().collect::<Vec<_>>(),
        ["linux/amd64", "linux/arm64/v8"]
    );
    let v = oci::verify_image(&reference, &key.public_key(), &opts_for(&reg)).expect("verify");
    assert_eq!(v.media_type, INDEX);

    // a referrers tag holding something else (here: a platform manifest) is never overwritten,
    // and nothing is pushed
    let (idx, _) = raw.doc(&raw.tag_ref("test/multi", "v1")).expect("index");
    let child = idx["manifests"][1]["digest"].as_str().expect("child");
    let (child_doc, _) = raw
        .doc(&raw.digest_ref("test/multi", child))
        .expect("child");
    let tag = child.replace(':', "-");
    raw.push_doc(&raw.tag_ref("test/multi", &tag), &child_doc, MANIFEST);
    let e = oci::sign_image(
        &engine(),
        &format!("{}/test/multi@{child}", reg.host()),
        &key,
        &sign_opts(&reg),
    )
    .expect_err("conflict");
    assert!(matches!(e, OciSignError::IndexConflict { .. }), "{e}");
    let (still, _) = raw.doc(&raw.tag_ref("test/multi", &tag)).expect("tag kept");
    assert_eq!(still, child_doc);
    // a platform manifest on its own is a different digest, not signed
    let (idx, _) = raw.doc(&raw.tag_ref("test/multi", "v1")).expect("index");
    let child = idx["manifests"][0]["digest"].as_str().expect("child");
    let e = oci::verify_image(
        &format!("{}/test/multi@{child}", reg.host()),
        &key.public_key(),
        &opts_for(&reg),
    )
    .expect_err("child manifest");
    assert!(matches!(e, OciVerifyError::NoSignature { .. }), "{e}");
}

/// The registry's storage for `test/evil` holds only the image: its one tag `v1` (no
/// `sha256-<hex>` referrers tag) and its own two blobs (config and layer; no bundle, no empty config).
fn assert_nothing_pushed(reg: &Registry, raw: &Raw, digest: &str) {
    assert!(raw.tag_index("test/evil", digest).is_none());
    let repo = reg
        .dir
        .path()
        .join("data/docker/registry/v2/repositories/test/evil");
    let names = |d: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(repo.join(d))
            .expect("registry storage")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("_manifests/tags"), ["v1"]);
    assert_eq!(
        names("_layers/sha256").len(),
        2,
        "{:?}",
        names("_layers/sha256")
    );
    assert_eq!(names("_manifests/revisions/sha256").len(), 1);
}

#[test]
fn malicious_image_is_refused_and_nothing_is_pushed() {
    if !registry::available() {
        return;
    }
    let reg = Registry::start(None);
    let raw = Raw::new(&reg);
    let t = tempfile::tempdir().expect("tmp");
    let key = PrivateKey::generate(KeyType::Ed25519).expect("key");
    push(
        &reg,
        &t.path().join("evil"),
        &[evil_image()],
        "test/evil",
        "v1",
    );
    let reference = format!("{}/test/evil:v1", reg.host());
    let (_, bytes) = raw.doc(&raw.tag_ref("test/evil", "v1")).expect("image");
    let digest = format!("sha256:{}", sha256_hex(&bytes));

    let e = oci::sign_image(&engine(), &reference, &key, &sign_opts(&reg)).expect_err("refused");
    let OciSignError::Refused { report, .. } = &e else {
        panic!("expected a refusal, got {e}");
    };
    assert!(
        report.findings.iter().any(|f| f
            .location
            .inner
            .last()
            .is_some_and(|l| l == "app/model.pkl")),
        "{:#?}",
        report.findings
    );
    assert_nothing_pushed(&reg, &raw, &digest);

    // the CLI prints the report and exits 1; still nothing pushed
    let kp = t.path().join("k");
    modelgate::sign::keys::write_key_pair(&key, &kp, false).expect("write key");
    let out = Command::cargo_bin("modelgate")
        .expect("bin")
        .env("DOCKER_CONFIG", t.path())
        .args(["sign", &format!("oci://{reference}"), "--key"])
        .arg(&kp)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("app/model.pkl"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing pushed"));
    assert_nothing_pushed(&reg, &raw, &digest);
    let e = oci::verify_image(&reference, &key.public_key(), &opts_for(&reg)).expect_err("none");
    assert!(matches!(e, OciVerifyError::NoSignature { .. }), "{e}");
}

#[test]
fn cli_with_htpasswd_registry() {
    if !registry::available() {
        return;
    }
    let reg = Registry::start(Some(("alice", "s3cret")));
    let t = tempfile::tempdir().expect("tmp");
    push(
        &reg,
        &t.path().join("a"),
        &[clean_image("p")],
        "private/app",
        "v1",
    );
    let target = format!("oci://{}/private/app:v1", reg.host());
    let key = PrivateKey::generate(KeyType::P256).expect("key");
    let kp = t.path().join("signer");
    let pub_path = modelgate::sign::keys::write_key_pair(&key, &kp, false).expect("write key");
    let other = PrivateKey::generate(KeyType::P256).expect("key");
    let op = t.path().join("other");
    let other_pub = modelgate::sign::keys::write_key_pair(&other, &op, false).expect("key");
    let cfg = t.path().join("nocreds");
    std::fs::create_dir_all(&cfg).expect("dir");
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut c = Command::cargo_bin("modelgate").expect("bin");
        c.env("DOCKER_CONFIG", &cfg).args(args);
        if let Some(s) = stdin {
            c.write_stdin(s);
        }
        c.output().expect("run")
    };
    let kps = kp.to_str().expect("utf8");
    let pubs = pub_path.to_str().expect("utf8");

    // anonymous signing is refused by the registry: nothing to sign, exit 2
    let anon = run(&["sign", &target, "--key", kps], None);
    assert_eq!(anon.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&anon.stderr)
            .to_lowercase()
            .contains("authori"),
        "{}",
        String::from_utf8_lossy(&anon.stderr)
    );

    let creds = ["--username", "alice", "--password-stdin"];
    let mut a = vec!["sign", &target, "--key", kps];
    a.extend(creds);
    let ok = run(&a, Some("s3cret\n"));
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains("tag-schema index sha256-"), "{out}");

    let mut a = vec!["verify", &target, "--key", pubs, "--json"];
    a.extend(creds);
    let v = run(&a, Some("s3cret\n"));
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
    let j: Value = serde_json::from_slice(&v.stdout).expect("json");
    assert_eq!(j["verified"], true);
    assert_eq!(j["key_type"], "p256");
    assert_eq!(j["scan"]["verdict"], "approved");

    // the wrong key: exit 1, says so
    let ops = other_pub.to_str().expect("utf8");
    let mut a = vec!["verify", &target, "--key", ops];
    a.extend(creds);
    let bad = run(&a, Some("s3cret\n"));
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("wrong key"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    // without credentials verification cannot read the registry: exit 1 with the reason
    let anon = run(&["verify", &target, "--key", pubs], None);
    assert_eq!(anon.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&anon.stderr)
        .to_lowercase()
        .contains("authori"));

    // directory-only options are usage errors for images
    let u = run(
        &["sign", &target, "--key", kps, "--signature", "x.sig"],
        None,
    );
    assert_eq!(u.status.code(), Some(4));
}
