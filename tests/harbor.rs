//! The Harbor pluggable scanner adapter, driven as Harbor's scan job drives it
//! (goharbor/harbor `src/pkg/scan/rest/v1/client.go`): the metadata and scan-request media
//! types, a bearer token of scope `harbor`, polling `GET /scan/{id}/report` with the exact report
//! `Accept` type, following no redirects and waiting the `Refresh-After` seconds of each 302
//! (parsed as Harbor does, as an 8-bit integer), 404 for an unknown id and 500 for a failed scan.
//! Artifacts are pulled from the real Debian `docker-registry` behind htpasswd auth with a
//! robot-style credential carried in the scan request.
//!
//! Without docker-registry and skopeo these tests print a notice and return (they fail under CI).

#![allow(clippy::print_stderr, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::gate::{self, Gate};
use common::npy;
use common::registry::{self, ArtifactLayer, Registry};
use serde_json::{json, Value};

const HARBOR_TOKEN: &str = "harbor-token";
const AUDIT_TOKEN: &str = "audit-token";
const ROBOT: (&str, &str) = ("robot$modelgate-scan", "robot-s3cret");
const PAYLOAD: &[u8] = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.";

const VULN: &str = "application/vnd.security.vulnerability.report; version=1.1";
const SBOM: &str = "application/vnd.security.sbom.report+json; version=1.0";
const MODEL: &str = "application/vnd.security.model.report+json; version=1.0";
const MODEL_MANIFEST: &str = "application/vnd.cncf.model.manifest.v1+json";
const MODEL_CONFIG: &str = "application/vnd.cncf.model.config.v1+json";
const WEIGHT_RAW: &str = "application/vnd.cncf.model.weight.v1.raw";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        // Harbor's adapter client: 5 s per request, redirects are not followed.
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Pushes a ModelPack-style artifact with one raw weight layer; returns its digest.
fn push_model(reg: &Registry, repo: &str, title: &str, data: Vec<u8>) -> String {
    let config = json!({
        "descriptor": {"name": repo, "version": "1"},
        "config": {"format": "pickle"},
        "modelfs": {"type": "layers", "diffIds": []},
    });
    reg.push_artifact(
        repo,
        "v1",
        MODEL_MANIFEST,
        MODEL_CONFIG,
        &serde_json::to_vec(&config).expect("json"),
        &[ArtifactLayer {
            media_type: WEIGHT_RAW,
            title,
            data,
        }],
    )
}

fn robot_basic() -> String {
    let raw = format!("{}:{}", ROBOT.0, ROBOT.1);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// `POST /api/v1/scan` as Harbor sends it; returns the status and body.
async fn request_scan(base: &str, url: &str, auth: &str, repo: &str, digest: &str) -> (u16, Value) {
    let body = json!({
        "registry": {"url": url, "authorization": auth},
        "artifact": {"repository": repo, "digest": digest, "tag": "v1", "mime_type": MODEL_MANIFEST},
        "enabled_capabilities": [
            {"type": "vulnerability", "produces_mime_types": [VULN]},
            {"type": "sbom", "produces_mime_types": [SBOM], "parameters": {"sbom_media_types": ["application/vnd.cyclonedx+json"]}},
        ],
    });
    let resp = client()
        .post(format!("{base}/api/v1/scan"))
        .bearer_auth(HARBOR_TOKEN)
        .header(
            "content-type",
            "application/vnd.scanner.adapter.scan.request+json; version=1.1",
        )
        .header(
            "accept",
            "application/vnd.scanner.adapter.scan.response+json; version=1.0",
        )
        .body(serde_json::to_vec(&body).expect("json"))
        .send()
        .await
        .expect("scan request");
    let status = resp.status().as_u16();
    if status == 202 {
        assert_eq!(
            resp.headers()["content-type"],
            "application/vnd.scanner.adapter.scan.response+json; version=1.0"
        );
    }
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Polls the report as Harbor does: every 302 must carry `Refresh-After` that Harbor's
/// `strconv.ParseInt(v, 10, 8)` accepts; returns the final status, content type and body.
async fn poll(base: &str, id: &str, accept: &str) -> (u16, String, Value) {
    let started = Instant::now();
    loop {
        let resp = client()
            .get(format!("{base}/api/v1/scan/{id}/report"))
            .bearer_auth(HARBOR_TOKEN)
            .header("accept", accept)
            .send()
            .await
            .expect("report request");
        let status = resp.status().as_u16();
        if status == 302 {
            let wait: i8 = resp.headers()["refresh-after"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("Refresh-After parses as an 8-bit integer");
            assert!(wait > 0, "Refresh-After {wait}");
            assert!(started.elapsed() < Duration::from_mins(3), "still pending");
            tokio::time::sleep(Duration::from_secs(u64::from(wait.unsigned_abs()))).await;
            continue;
        }
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        return (status, ct, resp.json().await.unwrap_or(Value::Null));
    }
}

fn start_gate(harbor: &str) -> Gate {
    Gate::start(
        &format!(
            "[harbor]\nenabled = true\nrefresh_after_secs = 1\n{harbor}\n{}{}",
            gate::token("harbor", HARBOR_TOKEN, &["harbor"]),
            gate::token("auditor", AUDIT_TOKEN, &["decisions"])
        ),
        &[],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn harbor_scan_jobs_report_as_harbor_expects() {
    if !registry::available() {
        return;
    }
    // The registry client blocks on a runtime of its own: outside this test's runtime.
    let (reg, evil, clean, broken, private) = tokio::task::block_in_place(|| {
        let reg = Registry::start(Some(ROBOT));
        let evil = push_model(&reg, "models/evil", "model.pkl", PAYLOAD.to_vec());
        let clean = push_model(&reg, "models/clean", "weights.npy", npy(0));
        // Its own bytes, so that cutting its blob short leaves the clean artifact's intact.
        let broken = push_model(&reg, "models/broken", "weights.npy", npy(1));
        // Cut the weight layer short in the registry's storage: the registry serves fewer bytes
        // than the manifest promises.
        let manifest: Value = {
            let path = reg.blob_file(&broken);
            serde_json::from_slice(&std::fs::read(path).expect("manifest")).expect("json")
        };
        let layer = manifest["layers"][0]["digest"].as_str().expect("digest");
        let blob = reg.blob_file(layer);
        let bytes = std::fs::read(&blob).expect("blob");
        std::fs::write(&blob, &bytes[..bytes.len() / 2]).expect("truncate");
        let private = push_model(&reg, "models/private", "weights.npy", npy(2));
        (reg, evil, clean, broken, private)
    });
    let gate = start_gate("");
    let base = &gate.base;
    let url = format!("http://{}", reg.host());

    // Metadata: the media type and the three capabilities.
    let resp = client()
        .get(format!("{base}/api/v1/metadata"))
        .bearer_auth(HARBOR_TOKEN)
        .header(
            "accept",
            "application/vnd.scanner.adapter.metadata+json; version=1.1",
        )
        .send()
        .await
        .expect("metadata");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.scanner.adapter.metadata+json; version=1.1"
    );
    let meta: Value = resp.json().await.expect("json");
    assert_eq!(meta["scanner"]["name"], "modelgate");
    let caps = meta["capabilities"].as_array().expect("capabilities");
    let produces = |t: &str| -> Vec<Value> {
        caps.iter()
            .filter(|c| c["type"] == t)
            .flat_map(|c| {
                c["produces_mime_types"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    };
    assert_eq!(produces("vulnerability"), [json!(VULN)]);
    assert_eq!(produces("sbom"), [json!(SBOM)]);
    assert!(caps.iter().any(|c| c["consumes_mime_types"]
        .as_array()
        .is_some_and(|m| m.contains(&json!(MODEL_MANIFEST)))
        && c["produces_mime_types"] == json!([MODEL])));
    let sbom_cap = caps.iter().find(|c| c["type"] == "sbom").expect("sbom");
    assert_eq!(
        sbom_cap["additional_attributes"]["sbom_media_types"],
        json!(["application/vnd.cyclonedx+json"])
    );

    // Tokens: none is 401, another scope 403.
    let r = client()
        .get(format!("{base}/api/v1/metadata"))
        .send()
        .await
        .expect("metadata");
    assert_eq!(r.status(), 401);
    let r = client()
        .get(format!("{base}/api/v1/metadata"))
        .bearer_auth(AUDIT_TOKEN)
        .send()
        .await
        .expect("metadata");
    assert_eq!(r.status(), 403);

    // A malicious ModelPack artifact: a Critical report, whichever report type is asked for;
    // several pollers at once.
    let (s, v) = request_scan(base, &url, &robot_basic(), "models/evil", &evil).await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().expect("id").to_owned();
    let polls: Vec<_> = (0..4).map(|_| poll(base, &id, VULN)).collect();
    for (status, ct, report) in futures_util::future::join_all(polls).await {
        assert_eq!(status, 200, "{report}");
        assert_eq!(ct, VULN);
        assert_eq!(report["severity"], "Critical", "{report}");
        assert_eq!(report["artifact"]["digest"], evil);
        let v = report["vulnerabilities"]
            .as_array()
            .expect("vulnerabilities")
            .iter()
            .find(|v| v["severity"] == "Critical")
            .expect("a critical vulnerability")
            .clone();
        assert!(
            v["id"].as_str().is_some_and(|i| i.starts_with("pickle/")),
            "{v}"
        );
        assert_eq!(v["package"], "model.pkl", "{v}");
        assert!(v["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(v["vendor_attributes"]["chain"]
            .as_str()
            .is_some_and(|c| c.contains(&evil) || c.contains("model.pkl")));
        assert_eq!(
            v["vendor_attributes"]["explain"],
            format!("modelgate explain {}", v["id"].as_str().expect("id"))
        );
    }
    let (status, ct, report) = poll(base, &id, MODEL).await;
    assert_eq!((status, ct.as_str()), (200, MODEL), "{report}");
    assert_eq!(report["severity"], "Critical");
    assert!(report["findings"][0]["why"]
        .as_str()
        .is_some_and(|w| !w.is_empty()));
    let (status, ct, report) = poll(base, &id, SBOM).await;
    assert_eq!((status, ct.as_str()), (200, SBOM), "{report}");
    assert_eq!(report["media_type"], "application/vnd.cyclonedx+json");
    assert_eq!(report["sbom"]["bomFormat"], "CycloneDX");
    // An SBOM format this scanner does not write: 400.
    let r = client()
        .get(format!(
            "{base}/api/v1/scan/{id}/report?sbom_media_type=application/spdx%2Bjson"
        ))
        .bearer_auth(HARBOR_TOKEN)
        .header("accept", SBOM)
        .send()
        .await
        .expect("report");
    assert_eq!(r.status(), 400);
    // A report type nobody advertised: 501 (no capability for it).
    let r = client()
        .get(format!("{base}/api/v1/scan/{id}/report"))
        .bearer_auth(HARBOR_TOKEN)
        .header(
            "accept",
            "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0",
        )
        .send()
        .await
        .expect("report");
    assert_eq!(r.status(), 501);

    // A benign one: a clean report.
    let (s, v) = request_scan(base, &url, &robot_basic(), "models/clean", &clean).await;
    assert_eq!(s, 202, "{v}");
    let (status, _, report) = poll(base, v["id"].as_str().expect("id"), VULN).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["vulnerabilities"], json!([]), "{report}");
    assert_eq!(report["severity"], "None", "{report}");

    // A truncated layer: a failed scan (500), never a report.
    let (s, v) = request_scan(base, &url, &robot_basic(), "models/broken", &broken).await;
    assert_eq!(s, 202, "{v}");
    let (status, _, err) = poll(base, v["id"].as_str().expect("id"), VULN).await;
    assert_eq!(status, 500, "{err}");
    assert!(err["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));

    // The wrong robot secret for an artifact not judged before: the pull fails, so does the
    // scan. (An artifact already judged under the same rules is answered from the verdict
    // cache by its digest, whatever the credential: the content is the same.)
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:nope", ROBOT.0))
    );
    let (s, v) = request_scan(base, &url, &wrong, "models/private", &private).await;
    assert_eq!(s, 202, "{v}");
    let (status, _, err) = poll(base, v["id"].as_str().expect("id"), VULN).await;
    assert_eq!(status, 500, "{err}");

    // Unknown ids are 404; malformed requests 400/422.
    let (status, _, _) = poll(base, "no-such-scan", VULN).await;
    assert_eq!(status, 404);
    let (s, _) = request_scan(base, "ftp://x", &robot_basic(), "models/evil", &evil).await;
    assert_eq!(s, 422);
    let r = client()
        .post(format!("{base}/api/v1/scan"))
        .bearer_auth(HARBOR_TOKEN)
        .body("{not json")
        .send()
        .await
        .expect("scan");
    assert_eq!(r.status(), 400);

    // One audit row per scan, under the artifact's digest.
    for (digest, verdict) in [(&evil, "deny"), (&clean, "admit")] {
        let rows = gate
            .decisions(
                AUDIT_TOKEN,
                &format!("sha256={}", digest.trim_start_matches("sha256:")),
            )
            .await;
        let harbor: Vec<&Value> = rows
            .iter()
            .filter(|r| r["route"] == "/api/v1/scan")
            .collect();
        assert!(!harbor.is_empty(), "{rows:?}");
        assert!(harbor.iter().all(|r| r["client"] == "harbor"), "{rows:?}");
        assert_eq!(harbor[0]["verdict"], verdict, "{rows:?}");
    }
    let rows = gate
        .decisions(
            AUDIT_TOKEN,
            &format!("sha256={}", private.trim_start_matches("sha256:")),
        )
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_ne!(rows[0]["verdict"], "admit", "{rows:?}");
    // and the failure is not cached: with the right secret the artifact is read and judged.
    let (s, v) = request_scan(base, &url, &robot_basic(), "models/private", &private).await;
    assert_eq!(s, 202, "{v}");
    let (status, _, report) = poll(base, v["id"].as_str().expect("id"), VULN).await;
    assert_eq!(status, 200, "{report}");
}

/// Harbor polls for as long as it gets 302: a scan that never finishes (a registry that
/// accepts the connection and never answers) is a 500 once the adapter's deadline passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scan_past_the_adapters_deadline_fails() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = silent.local_addr().expect("addr").port();
    // Accept connections and hold them open without answering.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming().flatten() {
            held.push(s);
        }
    });
    let gate = start_gate("deadline_secs = 3\n");
    let digest = format!("sha256:{}", "0".repeat(64));
    let (s, v) = request_scan(
        &gate.base,
        &format!("http://127.0.0.1:{port}"),
        &robot_basic(),
        "models/slow",
        &digest,
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let started = Instant::now();
    let (status, _, err) = poll(&gate.base, v["id"].as_str().expect("id"), VULN).await;
    assert_eq!(status, 500, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("deadline")),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    // The failed scan is a decision too: one `error` row.
    let rows = gate
        .decisions(AUDIT_TOKEN, &format!("sha256={}", "0".repeat(64)))
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["verdict"], "error", "{rows:?}");
    assert_eq!(rows[0]["route"], "/api/v1/scan", "{rows:?}");
}

/// `[policy] require_signature` in the Harbor flow: a clean artifact signed by a trusted key
/// (`modelgate sign oci://…`) gets a clean report; the same content unsigned gets a Critical
/// `policy/signature-required` vulnerability, so Harbor blocks it at any threshold.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn harbor_scans_require_a_trusted_signature_when_configured() {
    if !registry::available() {
        return;
    }
    let t = tempfile::tempdir().expect("tmp");
    let key = modelgate::sign::PrivateKey::generate(modelgate::sign::KeyType::P256).expect("key");
    let key_path = t.path().join("signer");
    let pub_path = modelgate::sign::keys::write_key_pair(&key, &key_path, false).expect("key");
    let (reg, signed, unsigned) = tokio::task::block_in_place(|| {
        let reg = Registry::start(Some(ROBOT));
        let signed = push_model(&reg, "models/signed", "weights.npy", npy(3));
        let unsigned = push_model(&reg, "models/unsigned", "weights.npy", npy(4));
        reg.sign_with_cli(&format!("models/signed@{signed}"), &key_path);
        (reg, signed, unsigned)
    });
    let pem = std::fs::read(pub_path).expect("pem");
    let gate = Gate::start(
        &format!(
            "[harbor]\nenabled = true\nrefresh_after_secs = 1\n\n[policy]\nrequire_signature = true\n\n[signing]\ntrusted_keys = [\"trusted.pub\"]\n{}",
            gate::token("harbor", HARBOR_TOKEN, &["harbor"]),
        ),
        &[("trusted.pub", &pem)],
    );
    let url = format!("http://{}", reg.host());
    let (s, v) = request_scan(&gate.base, &url, &robot_basic(), "models/signed", &signed).await;
    assert_eq!(s, 202, "{v}");
    let (status, _, report) = poll(&gate.base, v["id"].as_str().expect("id"), VULN).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["severity"], "None", "{report}");
    let (s, v) = request_scan(
        &gate.base,
        &url,
        &robot_basic(),
        "models/unsigned",
        &unsigned,
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let (status, _, report) = poll(&gate.base, v["id"].as_str().expect("id"), VULN).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["severity"], "Critical", "{report}");
    assert_eq!(
        report["vulnerabilities"][0]["id"], "policy/signature-required",
        "{report}"
    );
}
