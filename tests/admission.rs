//! The Kubernetes validating admission webhook (`POST /k8s/validate`), sent AdmissionReviews
//! shaped as the API server sends them (`admission.k8s.io/v1`, kubernetes/api
//! `admission/v1/types.go`): Pods with tags, digests, init and ephemeral containers and OCI image
//! volumes, a Deployment and a CronJob, against images in the real Debian `docker-registry`
//! behind htpasswd auth, signed with `modelgate sign` (OCI referrers) or not, scanned by the gate
//! or not. Malformed reviews get a clean deny with a reason. Every review is one audit row.
//! The same registry serves the `[policy] require_signature` checks of `/v1/scan {"oci"}`.
//!
//! Without docker-registry and skopeo these tests print a notice and return (they fail under CI).

#![allow(clippy::print_stderr, clippy::indexing_slicing)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::gate::{self, Gate};
use common::registry::{self, Registry};
use common::{file, image, layer, npy, write_layout, Comp};
use modelgate::sign::{KeyType, PrivateKey};
use serde_json::{json, Value};

const ADMISSION_TOKEN: &str = "admission-token";
const SCAN_TOKEN: &str = "scan-token";
const AUDIT_TOKEN: &str = "audit-token";
const USER: (&str, &str) = ("alice", "s3cret");

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_mins(1))
        .build()
        .expect("client")
}

/// Pushes a one-layer image holding `files` to `repo:v1`.
fn push(reg: &Registry, dir: &Path, repo: &str, files: Vec<common::Entry>) {
    let layout = dir.join(repo.replace('/', "_"));
    write_layout(&layout, &[image(vec![layer(Comp::Gzip, files)])], "v1");
    reg.push_layout(&layout, "v1", repo);
}

/// An AdmissionReview as the API server sends it for `object` of `kind`.
fn review(uid: &str, kind: (&str, &str, &str), resource: &str, object: &Value) -> Value {
    let (group, version, kind) = kind;
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "requestKind": {"group": group, "version": version, "kind": kind},
            "requestResource": {"group": group, "version": version, "resource": resource},
            "name": object["metadata"]["name"],
            "namespace": "models",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:ci:deployer", "uid": "0b1c", "groups": ["system:serviceaccounts"]},
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        }
    })
}

fn pod(name: &str, spec: &Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "models"}, "spec": spec})
}

#[allow(clippy::needless_pass_by_value, reason = "callers pass json! literals")]
fn pod_review(uid: &str, name: &str, spec: Value) -> Value {
    review(uid, ("", "v1", "Pod"), "pods", &pod(name, &spec))
}

/// Sends a review; returns the response (status 200 and an AdmissionReview every time).
async fn validate(base: &str, body: Vec<u8>) -> Value {
    let resp = client()
        .post(format!("{base}/k8s/validate"))
        .bearer_auth(ADMISSION_TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("validate");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1", "{v}");
    assert_eq!(v["kind"], "AdmissionReview", "{v}");
    v
}

async fn ask(base: &str, r: &Value) -> (bool, String) {
    let v = validate(base, serde_json::to_vec(r).expect("json")).await;
    assert_eq!(v["response"]["uid"], r["request"]["uid"], "{v}");
    (
        v["response"]["allowed"].as_bool().expect("allowed"),
        v["response"]["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn scan_oci(base: &str, reference: &str) -> Value {
    client()
        .post(format!("{base}/v1/scan"))
        .bearer_auth(SCAN_TOKEN)
        .json(&json!({ "oci": reference }))
        .send()
        .await
        .expect("scan")
        .json()
        .await
        .expect("json")
}

struct Setup {
    reg: Registry,
    _dir: tempfile::TempDir,
    pem: Vec<u8>,
    /// `sha256:<hex>` of the signed image, the unsigned one, and the signed malicious one.
    signed: String,
    unsigned: String,
}

fn setup() -> Setup {
    let reg = Registry::start(Some(USER));
    let dir = tempfile::tempdir().expect("tmp");
    let key = PrivateKey::generate(KeyType::P256).expect("key");
    let key_path = dir.path().join("signer");
    let pub_path =
        modelgate::sign::keys::write_key_pair(&key, &key_path, false).expect("write key");
    push(
        &reg,
        dir.path(),
        "models/signed",
        vec![file("opt/model/weights.npy", &npy(1))],
    );
    push(
        &reg,
        dir.path(),
        "models/unsigned",
        vec![file("opt/model/weights.npy", &npy(2))],
    );
    reg.sign_with_cli("models/signed:v1", &key_path);
    let digest = |repo: &str| {
        modelgate::sign::oci::resolve_digest(
            &format!("{}/{repo}:v1", reg.host()),
            &modelgate::image::ImageOptions {
                username: Some(USER.0.into()),
                password: Some(USER.1.into()),
                docker_config: false,
                ..modelgate::image::ImageOptions::default()
            },
        )
        .expect("resolve")
    };
    let (signed, unsigned) = (digest("models/signed"), digest("models/unsigned"));
    Setup {
        pem: std::fs::read(pub_path).expect("pub"),
        reg,
        _dir: dir,
        signed,
        unsigned,
    }
}

fn gate_config(reg: &Registry, kubernetes: &str, extra: &str) -> String {
    format!(
        "[kubernetes]\nenabled = true\n{kubernetes}\n[signing]\ntrusted_keys = [\"trusted.pub\"]\n\n\
         [[registries]]\nhost = \"{}\"\nusername = \"{}\"\npassword_env = \"MG_TEST_REGISTRY_PASSWORD\"\n\n{extra}\n{}{}{}",
        reg.host(),
        USER.0,
        gate::token("apiserver", ADMISSION_TOKEN, &["admission"]),
        gate::token("ci", SCAN_TOKEN, &["scan"]),
        gate::token("auditor", AUDIT_TOKEN, &["decisions"]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admission_reviews_admit_only_signed_and_scanned_digests() {
    if !registry::available() {
        return;
    }
    let s = tokio::task::block_in_place(setup);
    let host = s.reg.host();
    let gate = Gate::start_env(
        &gate_config(&s.reg, "", ""),
        &[("trusted.pub", &s.pem)],
        &[("MG_TEST_REGISTRY_PASSWORD", USER.1)],
    );
    let base = &gate.base;
    let signed_tag = format!("{host}/models/signed:v1");
    let signed_pinned = format!("{host}/models/signed@{}", s.signed);
    let unsigned_tag = format!("{host}/models/unsigned:v1");
    let mut reviews = 0;

    // Signed, not yet scanned by the gate: the default requirement wants both.
    let r = pod_review(
        "a1",
        "p1",
        json!({"containers": [{"name": "serve", "image": signed_tag}]}),
    );
    let (allowed, msg) = ask(base, &r).await;
    reviews += 1;
    assert!(!allowed, "{msg}");
    assert!(msg.contains("no admit verdict"), "{msg}");
    assert!(msg.contains(&s.signed), "the digest is named: {msg}");

    // Scanned by the gate (the tag is resolved, the digest recorded): now admitted.
    let v = scan_oci(base, &signed_tag).await;
    assert_eq!(v["verdict"], "admit", "{v}");
    assert_eq!(
        v["sha256"],
        s.signed.trim_start_matches("sha256:"),
        "a tag's scan is recorded under its digest: {v}"
    );
    let v = scan_oci(base, &unsigned_tag).await;
    assert_eq!(v["verdict"], "admit", "{v}");
    let (allowed, msg) = ask(base, &r).await;
    reviews += 1;
    assert!(allowed, "{msg}");
    assert!(msg.contains(&s.signed), "{msg}");

    // The same image by digest in an init container, an unsigned one as the main container.
    let r = pod_review(
        "a2",
        "p2",
        json!({
            "initContainers": [{"name": "fetch", "image": signed_pinned}],
            "containers": [{"name": "serve", "image": unsigned_tag}],
        }),
    );
    let (allowed, msg) = ask(base, &r).await;
    reviews += 1;
    assert!(!allowed, "{msg}");
    assert!(
        msg.contains(&unsigned_tag) && msg.contains(&s.unsigned),
        "{msg}"
    );
    assert!(msg.contains("no valid signature"), "{msg}");
    assert!(
        !msg.contains("initContainers[fetch]"),
        "only refusals are listed: {msg}"
    );

    // An ephemeral container added to a running pod (the subresource's UPDATE).
    let mut r = pod_review(
        "a3",
        "p3",
        json!({
            "containers": [{"name": "serve", "image": signed_pinned}],
            "ephemeralContainers": [{"name": "debug", "image": unsigned_tag, "targetContainerName": "serve"}],
        }),
    );
    r["request"]["operation"] = json!("UPDATE");
    r["request"]["subResource"] = json!("ephemeralcontainers");
    let (allowed, msg) = ask(base, &r).await;
    reviews += 1;
    assert!(
        !allowed && msg.contains("ephemeralContainers[debug]"),
        "{msg}"
    );

    // An OCI image volume (a model mounted read-only).
    let r = pod_review(
        "a4",
        "p4",
        json!({
            "containers": [{"name": "serve", "image": signed_pinned, "volumeMounts": [{"name": "model", "mountPath": "/model"}]}],
            "volumes": [{"name": "model", "image": {"reference": unsigned_tag, "pullPolicy": "IfNotPresent"}}],
        }),
    );
    let (allowed, msg) = ask(base, &r).await;
    reviews += 1;
    assert!(!allowed && msg.contains("volumes[model].image"), "{msg}");
    let r = pod_review(
        "a5",
        "p5",
        json!({
            "containers": [{"name": "serve", "image": signed_pinned}],
            "volumes": [{"name": "model", "image": {"reference": signed_tag}}, {"name": "tmp", "emptyDir": {}}],
        }),
    );
    let (allowed, msg) = ask(base, &r).await;
    reviews += 1;
    assert!(allowed, "{msg}");

    // Workloads through their pod templates.
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "server", "namespace": "models"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "s"}},
            "template": {"metadata": {"labels": {"app": "s"}},
                "spec": {"containers": [{"name": "serve", "image": signed_tag}]}}},
    });
    let (allowed, msg) = ask(
        base,
        &review(
            "a6",
            ("apps", "v1", "Deployment"),
            "deployments",
            &deployment,
        ),
    )
    .await;
    reviews += 1;
    assert!(allowed, "{msg}");
    let cronjob = json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "retrain", "namespace": "models"},
        "spec": {"schedule": "0 3 * * *",
            "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure",
                "containers": [{"name": "train", "image": unsigned_tag}]}}}}},
    });
    let (allowed, msg) = ask(
        base,
        &review("a7", ("batch", "v1", "CronJob"), "cronjobs", &cronjob),
    )
    .await;
    reviews += 1;
    assert!(!allowed && msg.contains(&s.unsigned), "{msg}");

    // A registry the gate does not know, and a tag that does not exist.
    let r = pod_review(
        "a8",
        "p8",
        json!({"containers": [{"name": "web", "image": "nginx"}]}),
    );
    let (allowed, msg) = ask(base, &r).await;
    reviews += 1;
    assert!(!allowed && msg.contains("docker.io"), "{msg}");
    let r = pod_review(
        "a9",
        "p9",
        json!({"containers": [{"name": "x", "image": format!("{host}/models/none:v9")}]}),
    );
    let (allowed, msg) = ask(base, &r).await;
    reviews += 1;
    assert!(!allowed && msg.contains("cannot resolve"), "{msg}");

    // Malformed reviews: a clean deny with a reason, never a crash.
    for (body, why) in [
        (b"{not json".to_vec(), "not JSON"),
        (
            serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "x"}})).expect("json"),
            "admission.k8s.io/v1",
        ),
        (
            serde_json::to_vec(&pod_review("m3", "p", json!({"containers": [{"name": "noimage"}]}))).expect("json"),
            "names no image",
        ),
        (
            serde_json::to_vec(&pod_review("m4", "p", json!({"containers": {"oops": 1}}))).expect("json"),
            "cannot be read",
        ),
        (vec![0xff; 64], "not JSON"),
    ] {
        let v = validate(base, body).await;
        reviews += 1;
        assert_eq!(v["response"]["allowed"], false, "{v}");
        let msg = v["response"]["status"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(why), "{why}: {v}");
        assert_eq!(v["response"]["status"]["code"], 403);
    }
    // The token is required (the API server sends the kubeconfig's token).
    let r = client()
        .post(format!("{base}/k8s/validate"))
        .json(&pod_review("u", "p", json!({"containers": []})))
        .send()
        .await
        .expect("validate");
    assert_eq!(r.status(), 401);
    reviews += 1;

    // One audit row per review (the unauthenticated one included, as a deny).
    let rows: Vec<Value> = gate
        .decisions(AUDIT_TOKEN, "")
        .await
        .into_iter()
        .filter(|r| r["route"] == "/k8s/validate")
        .collect();
    assert_eq!(rows.len(), reviews, "{rows:?}");
    assert!(rows
        .iter()
        .any(|r| r["verdict"] == "admit" && r["client"] == "apiserver"));
}

/// `[policy] require_signature`: `/v1/scan {"oci"}` admits only an image whose digest carries a
/// valid signature referrer from a trusted key; `[kubernetes] require = "signature"` admits a
/// signed image nobody scanned through the gate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn require_signature_for_images() {
    if !registry::available() {
        return;
    }
    let s = tokio::task::block_in_place(setup);
    let host = s.reg.host();
    let gate = Gate::start_env(
        &gate_config(
            &s.reg,
            "require = \"signature\"\n",
            "[policy]\nrequire_signature = true\n",
        ),
        &[("trusted.pub", &s.pem)],
        &[("MG_TEST_REGISTRY_PASSWORD", USER.1)],
    );
    let base = &gate.base;
    let v = scan_oci(base, &format!("{host}/models/signed:v1")).await;
    assert_eq!(v["verdict"], "admit", "{v}");
    let v = scan_oci(base, &format!("{host}/models/unsigned:v1")).await;
    assert_eq!(v["verdict"], "deny", "{v}");
    assert!(
        v["reasons"].as_array().is_some_and(|r| r
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains("require_signature")))),
        "{v}"
    );
    // Signature only: admitted without a scan verdict for it in the store.
    let r = pod_review(
        "s1",
        "p",
        json!({"containers": [{"name": "serve", "image": format!("{host}/models/signed@{}", s.signed)}]}),
    );
    let (allowed, msg) = ask(base, &r).await;
    assert!(allowed, "{msg}");
}
