//! A Kubernetes validating admission webhook: `POST /k8s/validate` takes an
//! `admission.k8s.io/v1` AdmissionReview (kubernetes/api `admission/v1/types.go`) for a Pod, or a
//! Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob through its pod template, and
//! allows it only when every image it would run passes `[kubernetes] require`:
//!
//! - every image is named: `containers`, `initContainers` and `ephemeralContainers` (`image`)
//!   and OCI image volumes (`volumes[].image.reference`, Kubernetes 1.31+);
//! - each reference is resolved to the digest the registry serves for it (a tag is resolved
//!   against the registry with the credentials of its `[[registries]]` entry; a registry that is
//!   not listed is a deny), and the answer names that digest;
//! - the digest has a valid modelgate signature referrer from a `[signing] trusted_keys` key (the
//!   check `/v1/verify {"oci"}` makes) and/or an `admit` verdict in the store under the gate's
//!   current signature database and policy (the verdict cache, or the trail of `/v1/scan` and
//!   Harbor scans), per `require`.
//!
//! The answer is always an AdmissionReview with the request's `uid`, `allowed`, and a
//! `status.message` naming each image and digest that decided it. A review that cannot be read
//! (not JSON, another API version, no pod spec, an image with no name) is denied with the
//! reason, never a crash and never an allow. Every review is one audit row (route
//! `/k8s/validate`).
//!
//! The API server's webhook timeout (10 s by default, at most 30 s) bounds how long a review may
//! take; with `failurePolicy: Fail` a timeout denies. Resolving and verifying run on the worker
//! pool shared with scans.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{AdmissionRequirement, KubernetesConfig, Scope};
use crate::server::app::{self, App, Audit, SignatureProblem};
use crate::server::verdict::GateVerdict;
use crate::server::worker::Target;
use crate::store::{CacheKey, DecisionQuery, Verdict};

/// The webhook's path.
pub const ROUTE: &str = "/k8s/validate";
/// The largest AdmissionReview read (an object is at most ~1.5 MB in etcd; a review of an
/// UPDATE carries it twice).
const MAX_REVIEW_BYTES: usize = 8 << 20;
/// The most images one review may name.
const MAX_IMAGES: usize = 256;
/// The longest `status.message`.
const MAX_MESSAGE: usize = 4096;
/// Routes whose `admit` rows are scan verdicts (not this webhook's own decisions).
const SCAN_ROUTES: &[&str] = &["/v1/scan", "/api/v1/scan"];

/// The webhook's settings.
pub struct Kubernetes {
    require: AdmissionRequirement,
}

impl Kubernetes {
    pub fn new(c: &KubernetesConfig) -> Self {
        Kubernetes {
            require: c.require.unwrap_or_default(),
        }
    }
}

pub fn routes() -> Router<Arc<App>> {
    Router::new().route(ROUTE, post(validate))
}

/// The parts of a pod spec that name images.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    #[serde(default)]
    containers: Vec<Container>,
    #[serde(default)]
    init_containers: Vec<Container>,
    #[serde(default)]
    ephemeral_containers: Vec<Container>,
    #[serde(default)]
    volumes: Vec<Volume>,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    name: String,
    image: Option<String>,
}

#[derive(Deserialize)]
struct Volume {
    #[serde(default)]
    name: String,
    image: Option<ImageVolume>,
}

#[derive(Deserialize)]
struct ImageVolume {
    reference: Option<String>,
}

/// The review's request: its uid and what it asks about.
struct Review {
    uid: String,
    images: Vec<(String, String)>,
}

/// The images a review asks to run, each with where it was named; or why the review cannot be
/// judged. `uid` is returned even for an unreadable review when it can be found.
fn read_review(v: &Value) -> Result<Review, (String, String)> {
    let uid = v
        .pointer("/request/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let fail = |why: String| Err((uid.clone(), why));
    if v.get("apiVersion").and_then(Value::as_str) != Some("admission.k8s.io/v1")
        || v.get("kind").and_then(Value::as_str) != Some("AdmissionReview")
    {
        return fail("not an admission.k8s.io/v1 AdmissionReview".into());
    }
    if uid.is_empty() {
        return fail("the AdmissionReview has no request.uid".into());
    }
    let kind = v
        .pointer("/request/kind/kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let operation = v
        .pointer("/request/operation")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if operation == "DELETE" || operation == "CONNECT" {
        // Nothing is run by deleting or connecting.
        return Ok(Review {
            uid,
            images: Vec::new(),
        });
    }
    let spec_path = match kind {
        "Pod" => "/request/object/spec",
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => "/request/object/spec/template/spec",
        "CronJob" => "/request/object/spec/jobTemplate/spec/template/spec",
        "" => return fail("the AdmissionReview has no request.kind.kind".into()),
        other => {
            return fail(format!(
                "kind {other} is not a workload this webhook checks"
            ))
        }
    };
    let Some(spec) = v.pointer(spec_path) else {
        return fail(format!("the {kind} has no pod spec at {spec_path}"));
    };
    let spec: PodSpec = match serde_json::from_value(spec.clone()) {
        Ok(s) => s,
        Err(e) => return fail(format!("the {kind}'s pod spec cannot be read: {e}")),
    };
    let mut images = Vec::new();
    for (field, list) in [
        ("containers", &spec.containers),
        ("initContainers", &spec.init_containers),
        ("ephemeralContainers", &spec.ephemeral_containers),
    ] {
        for c in list {
            let at = format!("{field}[{}]", c.name);
            match c.image.as_deref().map(str::trim) {
                Some(i) if !i.is_empty() => images.push((i.to_owned(), at)),
                _ => return fail(format!("{at} names no image")),
            }
        }
    }
    for vol in &spec.volumes {
        if let Some(img) = &vol.image {
            let at = format!("volumes[{}].image", vol.name);
            match img.reference.as_deref().map(str::trim) {
                Some(r) if !r.is_empty() => images.push((r.to_owned(), at)),
                _ => return fail(format!("{at} names no reference")),
            }
        }
    }
    if images.len() > MAX_IMAGES {
        return fail(format!("more than {MAX_IMAGES} images in one object"));
    }
    Ok(Review { uid, images })
}

/// `name` as a full reference, as the container runtime reads it: Docker Hub for a name without
/// a registry (`library/` for a single component), `:latest` without a tag or digest.
fn full_reference(name: &str) -> String {
    let host = crate::server::worker::registry_host(name);
    let first_is_host = name
        .split_once('/')
        .is_some_and(|(first, _)| first.eq_ignore_ascii_case(&host));
    let mut r = if first_is_host {
        name.to_owned()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let last = r.rsplit('/').next().unwrap_or_default();
    if !last.contains(':') && !last.contains('@') {
        r.push_str(":latest");
    }
    r
}

/// One image's outcome: its digest when known, and why it is refused (`None`: admitted).
struct Checked {
    image: String,
    at: String,
    digest: Option<String>,
    refusal: Option<String>,
    /// The refusal is the gate's failure (a worker, the store), not the image's.
    error: bool,
}

async fn check_image(
    app: &App,
    require: AdmissionRequirement,
    image: String,
    at: String,
) -> Checked {
    let mut out = Checked {
        image: image.clone(),
        at,
        digest: None,
        refusal: None,
        error: false,
    };
    let reference = full_reference(&image);
    let Ok(mut access) = app::oci_access(app, &reference) else {
        out.refusal = Some(format!(
            "registry {} is not in the gate's [[registries]]",
            crate::server::worker::registry_host(&reference)
        ));
        return out;
    };
    let digest = match app::digest_of(&reference) {
        Some(hex) => format!("sha256:{hex}"),
        None => match app::resolve(app, &access).await {
            Ok(d) => d,
            Err(why) => {
                out.refusal = Some(format!("cannot resolve the tag to a digest: {why}"));
                out.error = true;
                return out;
            }
        },
    };
    access.reference = app::pin(&reference, &digest);
    out.digest = Some(digest.clone());
    let hex = digest.trim_start_matches("sha256:").to_owned();
    let want_sig = !matches!(require, AdmissionRequirement::Verdict);
    let want_verdict = !matches!(require, AdmissionRequirement::Signature);
    let signature = if want_sig {
        let check = Target::VerifyOci {
            access,
            keys: app.trusted_keys.clone(),
        };
        Some(match app::check_signature(app, check, ()).await {
            Ok(()) => Ok(()),
            Err(SignatureProblem::Unsigned(r)) => Err((
                format!("no valid signature from a trusted key ({})", r.join("; ")),
                false,
            )),
            Err(SignatureProblem::Failed(why)) => {
                Err((format!("the signature check failed: {why}"), true))
            }
        })
    } else {
        None
    };
    let verdict = if want_verdict {
        Some(match admitted(app, &hex).await {
            Ok(true) => Ok(()),
            Ok(false) => Err((
                "no admit verdict in the store under the current signature database and policy (scan it with POST /v1/scan {\"oci\": …} or through Harbor)".to_owned(),
                false,
            )),
            Err(why) => Err((format!("the store could not be read: {why}"), true)),
        })
    } else {
        None
    };
    let problems: Vec<(String, bool)> = [signature, verdict]
        .into_iter()
        .flatten()
        .filter_map(Result::err)
        .collect();
    let passed = match require {
        AdmissionRequirement::SignatureOrVerdict => problems.len() < 2,
        _ => problems.is_empty(),
    };
    if !passed {
        out.error = problems.iter().any(|(_, e)| *e);
        out.refusal = Some(
            problems
                .into_iter()
                .map(|(m, _)| m)
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    out
}

/// Whether the store holds an `admit` verdict for the digest `hex` under the gate's current
/// signature database and policy: in the verdict cache, or (for reports too large to cache) a
/// scan's row in the audit trail.
async fn admitted(app: &App, hex: &str) -> Result<bool, String> {
    let key = CacheKey::new(hex, &app.signatures_digest, &app.policy_digest)
        .map_err(|e| e.to_string())?;
    if let Some(hit) = app
        .store
        .cached_verdict(&key)
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(hit.verdict == Verdict::Admit);
    }
    let page = app
        .store
        .decisions(&DecisionQuery {
            sha256: Some(hex.to_owned()),
            verdict: Some(Verdict::Admit),
            limit: Some(100),
            ..DecisionQuery::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(page.decisions.iter().any(|d| {
        let d = &d.decision;
        SCAN_ROUTES.contains(&d.route.as_str())
            && d.signatures_digest == app.signatures_digest
            && d.policy_digest == app.policy_digest
    }))
}

/// The AdmissionReview answer.
fn review_response(uid: &str, allowed: bool, message: &str) -> Value {
    let mut message = message.to_owned();
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        message.truncate(end);
        message.push('…');
    }
    let mut status = json!({"message": message});
    if !allowed {
        status["code"] = json!(403);
        status["reason"] = json!("Forbidden");
    }
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": allowed, "status": status},
    })
}

fn answer(
    uid: &str,
    verdict: GateVerdict,
    reasons: Vec<String>,
    sha256: Option<String>,
) -> Response {
    let allowed = verdict == GateVerdict::Admit;
    let message = if reasons.is_empty() {
        "modelgate: nothing to check".to_owned()
    } else {
        format!("modelgate: {}", reasons.join("; "))
    };
    let mut resp = Json(review_response(uid, allowed, &message)).into_response();
    resp.extensions_mut().insert(Audit {
        sha256,
        verdict: Some(verdict),
        reasons,
        ..Audit::default()
    });
    resp
}

/// `POST /k8s/validate`.
async fn validate(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let client = match app::authorize(&app, &headers, Scope::Admission) {
        Ok(c) => c.to_owned(),
        Err(e) => return e.into_response(),
    };
    let resp = review(&app, body).await;
    app::attribute(resp, client)
}

async fn review(app: &App, body: Body) -> Response {
    let Some(k8s) = &app.integrations.kubernetes else {
        return answer(
            "",
            GateVerdict::Deny,
            vec!["the webhook is not enabled".into()],
            None,
        );
    };
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REVIEW_BYTES).await else {
        return answer(
            "",
            GateVerdict::Deny,
            vec![format!(
                "the AdmissionReview is larger than {MAX_REVIEW_BYTES} bytes or was not received"
            )],
            None,
        );
    };
    let v: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return answer(
                "",
                GateVerdict::Deny,
                vec![format!("the AdmissionReview is not JSON: {e}")],
                None,
            )
        }
    };
    let review = match read_review(&v) {
        Ok(r) => r,
        Err((uid, why)) => return answer(&uid, GateVerdict::Deny, vec![why], None),
    };
    if review.images.is_empty() {
        return answer(&review.uid, GateVerdict::Admit, Vec::new(), None);
    }
    let checks = review
        .images
        .into_iter()
        .map(|(image, at)| check_image(app, k8s.require, image, at));
    let checked = futures_util::future::join_all(checks).await;
    let refused = checked.iter().any(|c| c.refusal.is_some());
    let verdict = if !refused {
        GateVerdict::Admit
    } else if checked.iter().any(|c| c.error) {
        GateVerdict::Error
    } else {
        GateVerdict::Deny
    };
    let mut digests: Vec<&str> = checked.iter().filter_map(|c| c.digest.as_deref()).collect();
    digests.sort_unstable();
    digests.dedup();
    let sha256 = match digests.as_slice() {
        [one] => Some(one.trim_start_matches("sha256:").to_owned()),
        _ => None,
    };
    let reasons = checked
        .iter()
        .filter(|c| !refused || c.refusal.is_some())
        .map(|c| {
            let at = c
                .digest
                .as_deref()
                .map_or(String::new(), |d| format!("@{d}"));
            match &c.refusal {
                Some(why) => format!("{} {}{at} is refused: {why}", c.at, c.image),
                None => format!("{} {}{at} is admitted", c.at, c.image),
            }
        })
        .collect();
    answer(&review.uid, verdict, reasons, sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_completed_as_the_runtime_reads_them() {
        assert_eq!(full_reference("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(full_reference("org/app:v1"), "docker.io/org/app:v1");
        assert_eq!(
            full_reference("127.0.0.1:5000/m/x"),
            "127.0.0.1:5000/m/x:latest"
        );
        let d = format!("127.0.0.1:5000/m/x@sha256:{}", "a".repeat(64));
        assert_eq!(full_reference(&d), d);
    }

    #[test]
    fn every_place_a_pod_names_an_image_is_read() {
        let v = json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u1", "kind": {"group": "batch", "version": "v1", "kind": "CronJob"},
                "operation": "CREATE",
                "object": {"spec": {"jobTemplate": {"spec": {"template": {"spec": {
                    "containers": [{"name": "a", "image": "r/a:1"}],
                    "initContainers": [{"name": "b", "image": "r/b:1"}],
                    "ephemeralContainers": [{"name": "c", "image": "r/c:1"}],
                    "volumes": [{"name": "m", "image": {"reference": "r/m:1"}}, {"name": "e", "emptyDir": {}}]
                }}}}}}}
        });
        let r = read_review(&v).map_err(|e| e.1).expect("readable");
        assert_eq!(r.uid, "u1");
        let names: Vec<&str> = r.images.iter().map(|(i, _)| i.as_str()).collect();
        assert_eq!(names, ["r/a:1", "r/b:1", "r/c:1", "r/m:1"]);
    }

    #[test]
    fn unreadable_reviews_are_refused_with_a_reason() {
        for (v, why) in [
            (
                json!({"kind": "AdmissionReview"}),
                "not an admission.k8s.io/v1",
            ),
            (
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}}),
                "no request.uid",
            ),
            (
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "object": {}}}),
                "no pod spec",
            ),
            (
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "object": {"spec": {"containers": [{"name": "x"}]}}}}),
                "names no image",
            ),
            (
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "object": {"spec": {"containers": "x"}}}}),
                "cannot be read",
            ),
            (
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", "kind": {"kind": "Service"}, "operation": "CREATE", "object": {}}}),
                "not a workload",
            ),
        ] {
            let e = read_review(&v).err().expect("refused").1;
            assert!(e.contains(why), "{e}");
        }
    }
}
