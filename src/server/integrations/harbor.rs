//! Harbor's pluggable scanner adapter API (goharbor/pluggable-scanner-spec,
//! `api/spec/scanner-adapter-openapi-v1.2.yaml`), served under `/api/v1`:
//!
//! - `GET /api/v1/metadata`: the scanner and three capabilities: `vulnerability` (OCI and Docker
//!   v2 image manifests → the vulnerability report 1.1), `sbom` (→ the SBOM report 1.0 carrying
//!   modelgate's CycloneDX AI-BOM), and a model-security capability for CNCF ModelPack artifacts
//!   (`application/vnd.cncf.model.manifest.v1+json` → `application/vnd.security.model.report+json;
//!   version=1.0`, the report shape proposed for Harbor's model-security scanning).
//! - `POST /api/v1/scan`: 202 `{"id"}` at once; the artifact is pulled from the registry URL in
//!   the request with the robot credential it carries (`Basic …` or `Bearer …`) and scanned on
//!   the worker pool, through the same verdict cache as `/v1/scan`.
//! - `GET /api/v1/scan/{id}/report`: `302` with `Refresh-After` while pending (integer seconds,
//!   at most 127: Harbor parses the header as an 8-bit integer and falls back to 5 s otherwise),
//!   `200` with the report for the exact `Accept` media type, `404` for an unknown id, and `500`
//!   for a scan that failed, was inconclusive, or ran past the adapter's own deadline. Harbor
//!   keeps polling for as long as it gets 302 (its own 30-minute check is re-armed on each
//!   poll), so the deadline is the adapter's to enforce. A failed scan is never reported with
//!   severity `Unknown`: Harbor's "prevent vulnerable images from running" never blocks on
//!   `Unknown`, but it does block an artifact whose scan failed.
//!
//! Each finding is one vulnerability: `id` is the finding code (stable, so Harbor's CVE allowlist
//! can name it), `package` the file inside the artifact (or the Python distribution for
//! `package/*` findings), `severity` on Harbor's scale (info → `Negligible`), `description` the
//! finding's message with the code's summary, `links` the references `modelgate explain CODE`
//! prints, and the location chain in `vendor_attributes`. The report's `severity` is the worst
//! finding's (`None` when there is none, Harbor's own value below `Unknown`).
//!
//! Jobs live in memory, bounded by `[harbor] max_jobs`; a finished job's report is kept for
//! `keep_reports_secs` and then forgotten (a later poll gets 404, which Harbor records as a
//! failed scan). One audit row is written per scan, when it finishes, with route
//! `/api/v1/scan` and the scan id as request id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{HarborConfig, Scope};
use crate::finding::{Finding, Severity};
use crate::report::Report;
use crate::server::app::{self, App};
use crate::server::verdict::GateVerdict;
use crate::server::worker::{OciAccess, Target};
use crate::store::Decision;

/// `GET /metadata`'s media type.
pub const METADATA: &str = "application/vnd.scanner.adapter.metadata+json; version=1.1";
/// The vulnerability report.
pub const VULNERABILITY_REPORT: &str = "application/vnd.security.vulnerability.report; version=1.1";
/// The SBOM report.
pub const SBOM_REPORT: &str = "application/vnd.security.sbom.report+json; version=1.0";
/// The model-security report (Harbor's model-security scanning proposal).
pub const MODEL_REPORT: &str = "application/vnd.security.model.report+json; version=1.0";
/// The SBOM format inside the SBOM report.
pub const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
use crate::image::model::{DOCKER_MANIFEST, OCI_MANIFEST};
/// CNCF ModelPack's artifact type.
pub const MODEL_MANIFEST: &str = "application/vnd.cncf.model.manifest.v1+json";
const SCAN_RESPONSE: &str = "application/vnd.scanner.adapter.scan.response+json; version=1.0";
const ERROR: &str = "application/vnd.scanner.adapter.error+json; version=1.0";

/// The largest ScanRequest body.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The adapter's state: its scan jobs.
pub struct Harbor {
    jobs: Mutex<HashMap<String, ScanJob>>,
    deadline: Duration,
    refresh_after: u8,
    max_jobs: usize,
    keep: Duration,
}

struct ScanJob {
    started: Instant,
    state: JobState,
}

enum JobState {
    Pending,
    Finished { at: Instant, outcome: Arc<Outcome> },
}

/// What a finished job answers.
enum Outcome {
    Report(Box<Finished>),
    /// A failed or inconclusive scan: 500 with this message.
    Failed(String),
}

struct Finished {
    report: Report,
    artifact: Value,
    generated_at: DateTime<Utc>,
    /// `[policy] require_signature` and no valid signature: why.
    unsigned: Option<String>,
}

impl Harbor {
    pub fn new(c: &HarborConfig) -> Self {
        Harbor {
            jobs: Mutex::new(HashMap::new()),
            deadline: Duration::from_secs(c.deadline_secs.unwrap_or(900).max(1)),
            refresh_after: c.refresh_after_secs.unwrap_or(5).clamp(1, 127),
            max_jobs: c.max_jobs.unwrap_or(1024).max(1),
            keep: Duration::from_secs(c.keep_reports_secs.unwrap_or(3600)),
        }
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<String, ScanJob>> {
        // A panic while holding the lock cannot leave the map half-updated (every update is one
        // insert or one assignment), so a poisoned lock is still usable.
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new pending job, after forgetting expired ones; `None` when full.
    fn start(&self, id: &str) -> Option<()> {
        let now = Instant::now();
        let mut jobs = self.jobs();
        let (keep, deadline) = (self.keep, self.deadline);
        jobs.retain(|_, j| match &j.state {
            JobState::Finished { at, .. } => now.duration_since(*at) < keep,
            // A pending job past its deadline has answered 500 already (or will): it is kept as
            // long as a finished one would be.
            JobState::Pending => now.duration_since(j.started) < deadline.saturating_add(keep),
        });
        if jobs.len() >= self.max_jobs {
            return None;
        }
        jobs.insert(
            id.to_owned(),
            ScanJob {
                started: now,
                state: JobState::Pending,
            },
        );
        Some(())
    }

    fn finish(&self, id: &str, outcome: Outcome) {
        if let Some(j) = self.jobs().get_mut(id) {
            j.state = JobState::Finished {
                at: Instant::now(),
                outcome: Arc::new(outcome),
            };
        }
    }
}

/// The adapter's routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/scan", post(accept))
        .route("/api/v1/scan/{id}/report", get(report))
}

/// The metrics label of an adapter path.
pub fn route_label(path: &str) -> Option<&'static str> {
    match path {
        "/api/v1/metadata" => Some("/api/v1/metadata"),
        "/api/v1/scan" => Some("/api/v1/scan"),
        p if p.starts_with("/api/v1/scan/") && p.ends_with("/report") => {
            Some("/api/v1/scan/{id}/report")
        }
        _ => None,
    }
}

/// An error in the adapter API's shape: `{"error": {"message"}}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let mut r = (
        status,
        axum::Json(json!({"error": {"message": message.into()}})),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ERROR));
    r
}

fn with_type(mut r: Response, media_type: &'static str) -> Response {
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    r
}

fn scanner() -> Value {
    json!({"name": "modelgate", "vendor": "modelgate", "version": crate::finding::VERSION})
}

async fn metadata(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(e) = app::authorize(&app, &headers, Scope::Harbor) {
        return e.into_response();
    }
    let body = json!({
        "scanner": scanner(),
        "capabilities": [
            {
                "type": "vulnerability",
                "consumes_mime_types": [OCI_MANIFEST, DOCKER_MANIFEST],
                "produces_mime_types": [VULNERABILITY_REPORT],
            },
            {
                "type": "sbom",
                "consumes_mime_types": [OCI_MANIFEST, DOCKER_MANIFEST],
                "produces_mime_types": [SBOM_REPORT],
                "additional_attributes": {"sbom_media_types": [CYCLONEDX]},
            },
            {
                "type": "model",
                "consumes_mime_types": [MODEL_MANIFEST],
                "produces_mime_types": [MODEL_REPORT],
            },
        ],
        "properties": {
            "harbor.scanner-adapter/scanner-type": "model-security",
            "modelgate/signatures-digest": app.signatures_digest,
            "modelgate/policy-digest": app.policy_digest,
        },
    });
    with_type(axum::Json(body).into_response(), METADATA)
}

#[derive(Deserialize)]
struct ScanRequest {
    registry: RegistryRef,
    artifact: ArtifactRef,
}

#[derive(Deserialize)]
struct RegistryRef {
    url: String,
    #[serde(default)]
    authorization: Option<String>,
}

#[derive(Deserialize, serde::Serialize, Clone)]
struct ArtifactRef {
    repository: String,
    digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mime_type: Option<String>,
}

/// What a ScanRequest asks to pull, checked: the reference (pinned to the digest) and how to
/// reach its registry.
fn access_of(req: &ScanRequest) -> Result<OciAccess, String> {
    let url = req.registry.url.trim().trim_end_matches('/');
    let (insecure, host) = if let Some(h) = url.strip_prefix("https://") {
        (false, h)
    } else if let Some(h) = url.strip_prefix("http://") {
        (true, h)
    } else {
        return Err(format!(
            "registry.url {url:?} is not an http:// or https:// URL"
        ));
    };
    if host.is_empty() || host.contains(['/', '@', '?', '#']) || host.contains(char::is_whitespace)
    {
        return Err(format!(
            "registry.url {url:?} must be a scheme and host[:port] only"
        ));
    }
    let a = &req.artifact;
    if app::digest_of(&format!("x@{}", a.digest)).is_none() {
        return Err(format!(
            "artifact.digest {:?} is not sha256:<64 hex digits>",
            a.digest
        ));
    }
    let repo_ok = !a.repository.is_empty()
        && a.repository.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'/')
        });
    if !repo_ok {
        return Err(format!(
            "artifact.repository {:?} is not a repository name",
            a.repository
        ));
    }
    if let Some(m) = &a.mime_type {
        if ![OCI_MANIFEST, DOCKER_MANIFEST, MODEL_MANIFEST].contains(&m.as_str()) {
            return Err(format!(
                "artifact.mime_type {m:?} is not one this scanner consumes"
            ));
        }
    }
    let (mut username, mut password, mut bearer_token) = (None, None, None);
    match req.registry.authorization.as_deref().map(str::trim) {
        None | Some("") => {}
        Some(h) => {
            if let Some(b) = h.strip_prefix("Basic ") {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .map_err(|_| "registry.authorization: Basic credentials are not base64")?;
                let text = String::from_utf8(raw)
                    .map_err(|_| "registry.authorization: Basic credentials are not UTF-8")?;
                let (u, p) = text
                    .split_once(':')
                    .ok_or("registry.authorization: Basic credentials lack user:password")?;
                username = Some(u.to_owned());
                password = Some(p.to_owned());
            } else if let Some(t) = h.strip_prefix("Bearer ") {
                bearer_token = Some(t.trim().to_owned());
            } else {
                return Err("registry.authorization must be `Basic …` or `Bearer …`".into());
            }
        }
    }
    Ok(OciAccess {
        reference: format!(
            "{}/{}@{}",
            host.to_ascii_lowercase(),
            a.repository,
            a.digest
        ),
        username,
        password,
        bearer_token,
        insecure,
    })
}

/// `POST /api/v1/scan`.
async fn accept(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let client = match app::authorize(&app, &headers, Scope::Harbor) {
        Ok(c) => c.to_owned(),
        Err(e) => return e.into_response(),
    };
    let Some(harbor) = &app.integrations.harbor else {
        return error(StatusCode::NOT_FOUND, "the Harbor adapter is not enabled");
    };
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("a scan request is at most {MAX_REQUEST_BYTES} bytes"),
        );
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")),
    };
    let req: ScanRequest = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a ScanRequest: {e}")),
    };
    let access = match access_of(&req) {
        Ok(a) => a,
        Err(why) => return error(StatusCode::UNPROCESSABLE_ENTITY, why),
    };
    // Random (as request ids are), so one client cannot read another's reports by counting.
    let id = app::request_id();
    if harbor.start(&id).is_none() {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many scan jobs are kept; retry when finished ones expire",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(60u32));
        return r;
    }
    let artifact = serde_json::to_value(&req.artifact).unwrap_or(Value::Null);
    let job_id = id.clone();
    let job_app = app.clone();
    tokio::spawn(async move {
        let deadline = job_app
            .integrations
            .harbor
            .as_ref()
            .map_or(Duration::ZERO, |h| h.deadline);
        let started = Instant::now();
        let sha256 = app::digest_of(&access.reference);
        let run = run(&job_app, &job_id, &client, access, artifact);
        let outcome = match tokio::time::timeout(deadline, run).await {
            Ok(o) => o,
            Err(_) => {
                let why = format!(
                    "the scan did not finish within the adapter's deadline of {} s",
                    deadline.as_secs()
                );
                let j = app::Judged {
                    verdict: GateVerdict::Error,
                    reasons: vec![why.clone()],
                    report: None,
                    counts: crate::store::SeverityCounts::default(),
                    cached: false,
                };
                match record(&job_app, &job_id, &client, sha256, started, &j).await {
                    Ok(()) => Outcome::Failed(why),
                    Err(e) => Outcome::Failed(e),
                }
            }
        };
        if let Some(h) = &job_app.integrations.harbor {
            h.finish(&job_id, outcome);
        }
    });
    let mut r = (StatusCode::ACCEPTED, axum::Json(json!({ "id": id }))).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCAN_RESPONSE),
    );
    r
}

/// Scans one artifact for Harbor: waits for a scan slot, judges it through the verdict cache,
/// checks its signature under `require_signature`, and records the decision.
async fn run(
    app: &Arc<App>,
    id: &str,
    client: &str,
    access: OciAccess,
    artifact: Value,
) -> Outcome {
    let started = Instant::now();
    let sha256 = app::digest_of(&access.reference);
    let Ok(slot) = app.slots.clone().acquire_owned().await else {
        return Outcome::Failed("the gate is shutting down".into());
    };
    let check = Target::VerifyOci {
        access: access.clone(),
        keys: app.trusted_keys.clone(),
    };
    let j = app::judge(app, move || Target::Oci(access), slot, sha256.as_deref(), 0).await;
    let scanned = j.verdict;
    let j = if app.require_signature {
        app::require_signed(app, j, check, ()).await
    } else {
        j
    };
    // An admitted scan that the signature check turned into a deny: the artifact is unsigned.
    let unsigned = (scanned == GateVerdict::Admit && j.verdict == GateVerdict::Deny)
        .then(|| j.reasons.last().cloned().unwrap_or_default());
    let report = j
        .report
        .as_ref()
        .and_then(|r| serde_json::from_str::<Report>(r.get()).ok());
    let failure = match (&report, j.verdict) {
        (_, GateVerdict::Error) | (None, _) => {
            Some(format!("the scan failed: {}", j.reasons.join("; ")))
        }
        (Some(r), _) => inconclusive(r, &app.gate),
    };
    if let Err(e) = record(app, id, client, sha256, started, &j).await {
        return Outcome::Failed(e);
    }
    match (failure, report) {
        (None, Some(report)) => Outcome::Report(Box::new(Finished {
            report,
            artifact,
            generated_at: Utc::now(),
            unsigned,
        })),
        (Some(why), _) => Outcome::Failed(why),
        (None, None) => Outcome::Failed("the scan produced no report".into()),
    }
}

/// The audit row of one Harbor scan (route `/api/v1/scan`, the scan id as request id). No
/// report leaves without it: an error here fails the scan.
async fn record(
    app: &App,
    id: &str,
    client: &str,
    sha256: Option<String>,
    started: Instant,
    j: &app::Judged,
) -> Result<(), String> {
    let mut row = Decision::new("gate", id, "/api/v1/scan", j.verdict);
    row.client = Some(client.to_owned());
    row.sha256 = sha256;
    row.counts = j.counts;
    row.cached = j.cached;
    row.signatures_digest.clone_from(&app.signatures_digest);
    row.policy_digest.clone_from(&app.policy_digest);
    row.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    row.reasons = serde_json::to_string(&j.reasons).unwrap_or_else(|_| "[]".into());
    app.store
        .record_decision(row)
        .await
        .map(|_| ())
        .map_err(|e| format!("the decision could not be recorded: {e}"))
}

/// Why a report cannot stand as a scan result (Harbor must see a failed scan, not a clean or
/// `Unknown` one): part of the artifact could not be read or ran out of a budget, the registry
/// served blobs that are not the artifact's (cut short, replaced, unreadable), or nothing was
/// scanned at all. Files the engine has no scanner for count only under the gate's
/// `deny_on_unscanned`, as in `/v1/scan`.
fn inconclusive(r: &Report, gate: &crate::server::verdict::GatePolicy) -> Option<String> {
    let s = &r.summary;
    if s.failed > 0 {
        return Some(format!(
            "the scan is inconclusive: {} artifact(s) could not be read to the end",
            s.failed
        ));
    }
    // The registry served something other than the artifact (a blob cut short, replaced, or
    // unreadable): what was scanned is not what Harbor would let clients pull.
    let unreadable = [
        crate::image::MALFORMED.id,
        crate::image::SIZE_MISMATCH.id,
        crate::image::DIGEST_MISMATCH.id,
    ];
    if let Some(f) = r
        .findings
        .iter()
        .find(|f| unreadable.contains(&f.code.as_str()))
    {
        return Some(format!(
            "the artifact could not be read as published ({}: {} at {})",
            f.code, f.message, f.location
        ));
    }
    if r.findings
        .iter()
        .any(|f| f.code == crate::codes::engine::BUDGET_EXCEEDED.id)
    {
        return Some("the scan is inconclusive: a scan budget ran out".into());
    }
    if s.scanned == 0 && s.total_findings == 0 {
        return Some("the scan is inconclusive: nothing in the artifact could be scanned".into());
    }
    if gate.deny_on_unscanned && s.skipped > 0 && s.total_findings == 0 {
        return Some(format!(
            "the scan is inconclusive: {} file(s) were not scanned (deny_on_unscanned)",
            s.skipped
        ));
    }
    None
}

#[derive(Deserialize)]
struct ReportQuery {
    sbom_media_type: Option<String>,
}

/// `Accept` reduced to compare media types exactly, whatever the spacing and case.
fn normalise(media_type: &str) -> String {
    media_type
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// `GET /api/v1/scan/{id}/report`.
async fn report(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Response {
    if let Err(e) = app::authorize(&app, &headers, Scope::Harbor) {
        return e.into_response();
    }
    let Some(harbor) = &app.integrations.harbor else {
        return error(StatusCode::NOT_FOUND, "the Harbor adapter is not enabled");
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(normalise)
        .unwrap_or_default();
    let Some(kind) = [VULNERABILITY_REPORT, SBOM_REPORT, MODEL_REPORT]
        .into_iter()
        .find(|t| normalise(t) == accept)
    else {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "Accept must be one of {VULNERABILITY_REPORT:?}, {SBOM_REPORT:?}, {MODEL_REPORT:?}"
            ),
        );
    };
    if kind == SBOM_REPORT {
        if let Some(m) = q.sbom_media_type.as_deref().filter(|m| *m != CYCLONEDX) {
            return error(
                StatusCode::BAD_REQUEST,
                format!("sbom_media_type {m:?} is not supported; this scanner writes {CYCLONEDX}"),
            );
        }
    }
    let state = {
        let jobs = harbor.jobs();
        match jobs.get(&id) {
            None => None,
            Some(ScanJob {
                state: JobState::Finished { outcome, .. },
                ..
            }) => Some(Ok(outcome.clone())),
            Some(ScanJob {
                started,
                state: JobState::Pending,
            }) => Some(Err(started.elapsed())),
        }
    };
    match state {
        None => error(StatusCode::NOT_FOUND, format!("no scan request {id:?}")),
        Some(Err(elapsed)) if elapsed >= harbor.deadline => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "the scan did not finish within the adapter's deadline of {} s",
                harbor.deadline.as_secs()
            ),
        ),
        Some(Err(_)) => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert(
                "refresh-after",
                HeaderValue::from(u16::from(harbor.refresh_after)),
            );
            r
        }
        Some(Ok(outcome)) => match outcome.as_ref() {
            Outcome::Failed(why) => error(StatusCode::INTERNAL_SERVER_ERROR, why.clone()),
            Outcome::Report(f) => {
                let body = match kind {
                    SBOM_REPORT => sbom_report(f),
                    MODEL_REPORT => model_report(f),
                    _ => vulnerability_report(f),
                };
                with_type(axum::Json(body).into_response(), kind)
            }
        },
    }
}

/// Harbor's severity for a modelgate severity.
pub fn harbor_severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "Negligible",
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

/// The code that stands for a missing signature under `require_signature`.
pub const UNSIGNED: &str = "policy/signature-required";

/// The worst severity among the findings (and the missing signature, which is critical: it
/// must block whatever the project's threshold).
fn worst(f: &Finished) -> &'static str {
    if f.unsigned.is_some() {
        return "Critical";
    }
    f.report
        .summary
        .max_severity
        .map_or("None", harbor_severity)
}

/// The file a finding is about: the innermost member of its location chain (the path inside
/// the layer), or the Python distribution of a `package/*` finding.
fn package_of(f: &Finding) -> String {
    if f.code.starts_with("package/") {
        if let Some(p) = f.evidence.get("package") {
            return p.clone();
        }
    }
    f.location
        .inner
        .last()
        .cloned()
        .unwrap_or_else(|| f.location.path.clone())
}

fn links_of(code: &str) -> Vec<&'static str> {
    crate::catalog::find(code).map_or_else(Vec::new, |c| c.references.to_vec())
}

fn summary_of(code: &str) -> &'static str {
    crate::catalog::find(code).map_or("", |c| c.summary)
}

fn vulnerability_report(f: &Finished) -> Value {
    let mut vulns: Vec<Value> = f
        .report
        .findings
        .iter()
        .map(|x| {
            let summary = summary_of(&x.code);
            json!({
                "id": x.code,
                "package": package_of(x),
                "version": "",
                "fix_version": "",
                "severity": harbor_severity(x.severity),
                "description": if summary.is_empty() { x.message.clone() } else { format!("{} {summary}", x.message) },
                "links": links_of(&x.code),
                "vendor_attributes": {
                    "location": x.location,
                    "chain": x.location.to_string(),
                    "explain": format!("modelgate explain {}", x.code),
                    "global": x.global,
                    "evidence": x.evidence,
                },
            })
        })
        .collect();
    if let Some(why) = &f.unsigned {
        vulns.push(json!({
            "id": UNSIGNED,
            "package": f.artifact.get("repository").cloned().unwrap_or(Value::Null),
            "version": "",
            "fix_version": "",
            "severity": "Critical",
            "description": why,
            "links": [],
            "vendor_attributes": {"explain": "sign the artifact with `modelgate sign oci://…` using a trusted key"},
        }));
    }
    json!({
        "generated_at": f.generated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "artifact": f.artifact,
        "scanner": scanner(),
        "severity": worst(f),
        "vulnerabilities": vulns,
    })
}

fn sbom_report(f: &Finished) -> Value {
    json!({
        "generated_at": f.generated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "artifact": f.artifact,
        "scanner": scanner(),
        "media_type": CYCLONEDX,
        "sbom": crate::report::cyclonedx::document(&f.report),
        "vendor_attributes": {"severity": worst(f)},
    })
}

fn model_report(f: &Finished) -> Value {
    let mut findings: Vec<Value> = f
        .report
        .findings
        .iter()
        .map(|x| {
            let code = crate::catalog::find(&x.code);
            json!({
                "id": x.code,
                "severity": harbor_severity(x.severity),
                "message": x.message,
                "why": code.map_or("", |c| c.why),
                "file": package_of(x),
                "location": x.location.to_string(),
                "scanner": x.code.split('/').next().unwrap_or_default(),
                "details": {"evidence": x.evidence, "global": x.global, "location": x.location},
                "links": links_of(&x.code),
            })
        })
        .collect();
    if let Some(why) = &f.unsigned {
        findings.push(json!({
            "id": UNSIGNED,
            "severity": "Critical",
            "message": why,
            "why": "[policy] require_signature is set: only artifacts signed by a trusted key may be pulled.",
            "file": "",
            "location": "",
            "scanner": "policy",
            "details": {},
            "links": [],
        }));
    }
    let by_severity: serde_json::Map<String, Value> = f
        .report
        .summary
        .findings_by_severity
        .iter()
        .map(|(s, n)| (harbor_severity(*s).to_owned(), json!(n)))
        .collect();
    json!({
        "generated_at": f.generated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "artifact": f.artifact,
        "scanner": scanner(),
        "severity": worst(f),
        "summary": {
            "total": findings.len(),
            "by_severity": by_severity,
            "scanned": f.report.summary.scanned,
            "skipped": f.report.summary.skipped,
        },
        "findings": findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, auth: Option<&str>, digest: &str) -> ScanRequest {
        serde_json::from_value(json!({
            "registry": {"url": url, "authorization": auth},
            "artifact": {"repository": "library/model", "digest": digest, "mime_type": MODEL_MANIFEST},
        }))
        .expect("request")
    }

    #[test]
    fn scan_requests_become_pinned_references_with_their_credential() {
        let d = format!("sha256:{}", "a".repeat(64));
        let a = access_of(&request(
            "http://127.0.0.1:5000",
            Some("Basic cm9ib3Qkc2Nhbjpz"),
            &d,
        ))
        .expect("valid");
        assert_eq!(a.reference, format!("127.0.0.1:5000/library/model@{d}"));
        assert!(a.insecure);
        assert_eq!(
            (a.username.as_deref(), a.password.as_deref()),
            (Some("robot$scan"), Some("s"))
        );
        let b = access_of(&request("https://harbor.example", Some("Bearer tok"), &d)).expect("ok");
        assert_eq!(b.bearer_token.as_deref(), Some("tok"));
        assert!(!b.insecure);
        for (url, auth, digest) in [
            ("ftp://x", None, d.as_str()),
            ("https://x/path", None, d.as_str()),
            ("https://x", Some("Digest abc"), d.as_str()),
            ("https://x", None, "sha256:zz"),
        ] {
            assert!(
                access_of(&request(url, auth, digest)).is_err(),
                "{url} {auth:?} {digest}"
            );
        }
    }

    #[test]
    fn refresh_after_fits_in_harbors_8_bit_parse() {
        let h = Harbor::new(&HarborConfig {
            refresh_after_secs: Some(255),
            ..HarborConfig::default()
        });
        assert_eq!(h.refresh_after, 127);
    }

    #[test]
    fn finished_jobs_expire_and_the_table_is_bounded() {
        let h = Harbor::new(&HarborConfig {
            max_jobs: Some(2),
            keep_reports_secs: Some(0),
            ..HarborConfig::default()
        });
        assert!(h.start("a").is_some());
        assert!(h.start("b").is_some());
        assert!(
            h.start("c").is_none(),
            "two pending jobs fill a table of two"
        );
        h.finish("a", Outcome::Failed("x".into()));
        assert!(
            h.start("c").is_some(),
            "a finished job past its keep time is forgotten"
        );
        assert!(!h.jobs().contains_key("a"));
    }
}
