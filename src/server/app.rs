//! The HTTP API: routes, the request id every response carries, JSON errors, and the scan
//! handler that turns an upload into a verdict.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;
use serde_json::value::RawValue;
use tokio::sync::Semaphore;

use crate::config::Scope;
use crate::policy::Policy;
use crate::report::Report;
use crate::store::{self, AsyncStore, CacheEntry, CacheKey, Decision, DecisionQuery};

use super::auth::{Denied, Tokens};
use super::hot::{HotCache, HotVerdict};
use super::metrics::{Metrics, RouteLabels, VerdictLabels};
use super::upload::{self, UploadError};
use super::verdict::{self, GatePolicy, GateVerdict};
use super::worker::{self, Job, OciAccess, Pool, Target};

/// Everything a request needs, shared by all of them.
pub struct App {
    pub tokens: Tokens,
    pub pool: Pool,
    pub metrics: Metrics,
    /// Scan slots: a request that finds none gets 503 at once.
    pub slots: Arc<Semaphore>,
    pub gate: GatePolicy,
    /// Severity overrides applied to every report before it is judged.
    pub policy: Policy,
    pub limits: RequestLimits,
    pub spool: PathBuf,
    /// The PEM public keys `/v1/verify` trusts (read when the gate starts).
    pub trusted_keys: Vec<String>,
    /// The registries `{"oci": …}` requests may name.
    pub registries: Vec<crate::config::RegistryConfig>,
    /// The audit trail and verdict cache.
    pub store: AsyncStore,
    /// The signature database the workers scan with, and the digest of the gate's policy: with
    /// an artifact's sha256, the verdict cache's key.
    pub signatures_digest: String,
    pub policy_digest: String,
    /// The verdicts this process answered or read lately, in front of the store's cache.
    pub hot: HotCache,
    /// Set when the signature database and workers are ready (`/readyz`).
    pub ready: std::sync::atomic::AtomicBool,
    /// `[policy] require_signature`: an admitted artifact must also carry a valid signature
    /// from a trusted key.
    pub require_signature: bool,
    /// The registry and cluster integrations that are enabled (`[harbor]`, `[kubernetes]`).
    pub integrations: super::integrations::Integrations,
    /// `[mlflow]`, when enabled.
    pub mlflow: Option<Arc<super::integrations::mlflow::Mlflow>>,
    next_job: std::sync::atomic::AtomicU64,
}

/// The in-process front of the verdict cache: a few thousand small reports, well inside the
/// gate's memory target.
const HOT_CACHE_BYTES: usize = 16 << 20;

/// The limits each request is held to (`[server]`).
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_body_bytes: u64,
    /// Uploads up to this size are kept in memory and sent to the worker in the job.
    pub memory_upload_bytes: u64,
    pub scan_timeout: Duration,
    pub read_timeout: Duration,
}

impl App {
    /// The gate for `config` with its effective `settings`, scanning on `pool`.
    pub fn new(
        config: &crate::config::Config,
        settings: &super::Settings,
        pool: Pool,
        store: AsyncStore,
        signatures_digest: String,
        trusted_keys: Vec<String>,
    ) -> Self {
        let (gate, policy) = super::gate_policy(config);
        let policy_digest = crate::hash::sha256_hex(
            serde_json::json!({"gate": gate, "overrides": policy.overrides})
                .to_string()
                .as_bytes(),
        );
        App {
            store,
            signatures_digest,
            policy_digest,
            tokens: Tokens::new(&config.tokens),
            pool,
            metrics: Metrics::default(),
            slots: Arc::new(Semaphore::new(settings.slots.max(1))),
            gate,
            policy,
            limits: settings.limits,
            spool: settings.spool.clone(),
            registries: config.registries.clone(),
            trusted_keys,
            hot: HotCache::new(HOT_CACHE_BYTES),
            ready: std::sync::atomic::AtomicBool::new(true),
            require_signature: config.policy.require_signature.unwrap_or(false),
            integrations: super::integrations::Integrations::new(config),
            mlflow: None,
            next_job: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// A job for the worker pool, with a fresh id.
    pub fn job(&self, target: Target) -> Job {
        Job {
            id: self
                .next_job
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            target,
        }
    }
}

/// The router over `app`.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/scan", post(scan))
        .route("/v1/decisions", get(decisions))
        .route("/v1/verify", post(verify))
        .merge(super::integrations::routes(&app))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such route") })
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

/// An error answer: `{"error": {"code", "message"}}`, never an internal path or a backtrace.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"modelgate\""),
            );
        }
        r
    }
}

/// A fresh request id (16 random bytes, hex).
pub fn request_id() -> String {
    let mut raw = [0u8; 16];
    if getrandom::fill(&mut raw).is_err() {
        // Unique enough to correlate a response with its log line.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return format!("{t:032x}");
    }
    hex::encode(raw)
}

/// The request id of a request (set by [`observe`]).
#[derive(Clone)]
pub struct RequestId(pub String);

/// What a handler tells [`observe`] about a request for its audit row (a response extension).
#[derive(Clone, Default)]
pub struct Audit {
    pub client: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub verdict: Option<GateVerdict>,
    pub counts: store::SeverityCounts,
    pub cached: bool,
    pub reasons: Vec<String>,
}

/// Gives every request an id (echoed in `X-Request-Id`), counts responses by route and status,
/// and writes one audit row for every `/v1/` request before its response leaves: a client that
/// got an answer can find it in the trail. Refusals before a verdict are rows too: `deny` for
/// the client's fault (4xx), `error` for the gate's (5xx).
async fn observe(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let id = request_id();
    let started = Instant::now();
    req.extensions_mut().insert(RequestId(id.clone()));
    let path = req.uri().path().to_owned();
    let route = match path.as_str() {
        p @ ("/healthz" | "/readyz" | "/metrics" | "/v1/scan" | "/v1/verify" | "/v1/decisions") => {
            p.to_owned()
        }
        p => super::integrations::route_label(p)
            .unwrap_or("other")
            .to_owned(),
    };
    let mut resp = next.run(req).await;
    let status = resp.status();
    // A refused upload's body may be unread; the connection cannot carry another request, so
    // say so rather than let a client reuse it and race the close.
    if (route == "/v1/scan" || route == "/v1/verify") && status.as_u16() >= 400 {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    // Reading the trail is not a decision; every other /v1/ request is one.
    if (path.starts_with("/v1/") && path != "/v1/decisions")
        || super::integrations::is_decision(&path)
    {
        let audit = resp.extensions_mut().remove::<Audit>().unwrap_or_default();
        let verdict = audit.verdict.unwrap_or(if status.is_server_error() {
            GateVerdict::Error
        } else if status.is_success() {
            GateVerdict::Admit
        } else {
            GateVerdict::Deny
        });
        let mut reasons = audit.reasons;
        if !status.is_success() {
            reasons.push(format!("HTTP {}", status.as_u16()));
        }
        let mut row = Decision::new("gate", &id, &path, verdict);
        row.client = audit.client;
        row.sha256 = audit.sha256;
        row.size = audit.size;
        row.counts = audit.counts;
        row.cached = audit.cached;
        row.signatures_digest.clone_from(&app.signatures_digest);
        row.policy_digest.clone_from(&app.policy_digest);
        row.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        row.reasons = serde_json::to_string(&reasons).unwrap_or_else(|_| "[]".into());
        if let Err(e) = app.store.record_decision(row).await {
            // The answer must not leave without its audit row.
            app.metrics.reject("audit-write-failed");
            resp = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit-unavailable",
                format!("the decision could not be recorded: {e}"),
            )
            .into_response();
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    app.metrics
        .requests
        .get_or_create(&RouteLabels {
            route,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}

pub fn authorize<'a>(app: &'a App, headers: &HeaderMap, scope: Scope) -> Result<&'a str, ApiError> {
    let h = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    app.tokens.check(h, scope).map_err(|d| {
        app.metrics.reject(match d {
            Denied::Unauthenticated => "unauthenticated",
            Denied::Forbidden => "forbidden",
        });
        match d {
            Denied::Unauthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "a valid bearer token is required",
            ),
            Denied::Forbidden => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("the token may not use this route (needs scope {scope:?})"),
            ),
        }
    })
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    if app.ready.load(std::sync::atomic::Ordering::Relaxed) && app.store.ping().await.is_ok() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "not ready").into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&app, &headers, Scope::Metrics)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response())
}

/// `POST /v1/scan`: the artifact as the raw body (or `{"oci": …}`).
async fn scan(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let client = match authorize(&app, &headers, Scope::Scan) {
        Ok(c) => c.to_owned(),
        Err(e) => return e.into_response(),
    };
    let resp = scan_for(&app, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    attribute(resp, client)
}

async fn scan_for(app: &Arc<App>, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let slot = take_slot(app)?;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > app.limits.max_body_bytes {
            app.metrics.reject("too-large");
            return Err(too_large(app.limits.max_body_bytes));
        }
    }
    let is_json = is_json(headers);
    if is_json {
        return scan_reference(app, body, slot).await;
    }
    let upload = receive(app, headers, body).await?;
    let (sha256, size) = (Some(upload.sha256.clone()), upload.size);
    if app.require_signature {
        // The scan and the signature check read the same spooled file; both hold the directory.
        let name = upload.name.clone();
        let dir = Arc::new(
            upload
                .into_dir(&app.spool)
                .map_err(|e| upload_error(app, &e))?,
        );
        let root = dir.path().to_path_buf();
        let scan = Target::Upload {
            root: root.clone(),
            name: name.clone(),
        };
        let mut j = judge(
            app,
            move || scan,
            (dir.clone(), slot),
            sha256.as_deref(),
            size,
        )
        .await;
        let check = Target::VerifyModelArchive {
            root,
            name,
            keys: app.trusted_keys.clone(),
        };
        // The signature bundle itself is a file no scanner reads; when it is the only thing
        // that kept the upload from being admitted, the signature check decides.
        let unscanned = unscanned_only_signature(app, &j).then(|| std::mem::take(&mut j.reasons));
        if unscanned.is_some() {
            j.verdict = GateVerdict::Admit;
        }
        let mut j = require_signed(app, j, check, dir).await;
        if let (Some(why), true) = (unscanned, j.verdict != GateVerdict::Admit) {
            j.reasons.splice(0..0, why);
        }
        return Ok(answer(j, sha256, size));
    }
    let name = upload.name;
    Ok(match upload.data {
        // Encoded for the worker only on a cache miss: a cached answer costs no copy of the body.
        upload::Data::Memory(bytes) => {
            let target = move || Target::UploadBytes {
                name,
                base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
            };
            judge_job(app, target, slot, sha256, size).await
        }
        // The directory lives until the worker is done with the file in it.
        upload::Data::Spooled(dir) => {
            let target = Target::Upload {
                root: dir.path().to_path_buf(),
                name,
            };
            judge_job(app, move || target, (dir, slot), sha256, size).await
        }
    })
}

/// The request body, named by `X-Modelgate-Filename` (never a path the client chose), received
/// under the gate's limits.
async fn receive(app: &App, headers: &HeaderMap, body: Body) -> Result<upload::Upload, ApiError> {
    let hint = headers
        .get("x-modelgate-filename")
        .and_then(|v| v.to_str().ok());
    // Counted until this future ends, however it ends (a client that goes away drops it).
    let _receiving = GaugeGuard::inc(&app.metrics.uploads);
    upload::receive(
        body,
        &app.spool,
        upload::file_name(hint),
        app.limits.max_body_bytes,
        app.limits.memory_upload_bytes,
        app.limits.read_timeout,
    )
    .await
    .map_err(|e| upload_error(app, &e))
}

/// Holds a gauge one higher for as long as it lives.
struct GaugeGuard<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl<'a> GaugeGuard<'a> {
    fn inc(gauge: &'a prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        GaugeGuard(gauge)
    }
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The largest JSON request body (`{"oci": …}`).
const MAX_JSON_BYTES: usize = 64 * 1024;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanRequest {
    oci: String,
}

/// How to reach `reference`'s registry, if the configuration allows it (403 otherwise).
pub fn oci_access(app: &App, reference: &str) -> Result<OciAccess, ApiError> {
    let host = worker::registry_host(reference);
    let Some(registry) = app
        .registries
        .iter()
        .find(|r| r.host.eq_ignore_ascii_case(&host))
    else {
        app.metrics.reject("registry-not-allowed");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "registry-not-allowed",
            format!("registry {host} is not in the gate's [[registries]]"),
        ));
    };
    let env = |name: &Option<String>| name.as_ref().and_then(|n| std::env::var(n).ok());
    Ok(OciAccess {
        reference: reference.to_owned(),
        username: registry.username.clone(),
        password: env(&registry.password_env),
        bearer_token: env(&registry.token_env),
        insecure: registry.insecure,
    })
}

/// The image reference of a JSON request body `{"oci": "…"}`.
async fn reference_of(body: Body) -> Result<String, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_JSON_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad-body",
                format!("a JSON request is at most {MAX_JSON_BYTES} bytes"),
            )
        })?;
    let req: ScanRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!("expected {{\"oci\": \"REGISTRY/REPO@sha256:…\"}}: {e}"),
        )
    })?;
    let reference = req.oci.trim().trim_start_matches("oci://").to_owned();
    if reference.is_empty() || reference.chars().any(char::is_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "the image reference is empty or contains whitespace",
        ));
    }
    Ok(reference)
}

/// `POST /v1/scan` with `{"oci": "REGISTRY/REPO@sha256:…"}` (or a tag): an image or OCI artifact
/// from a registry in `[[registries]]`, pulled and scanned by a worker.
async fn scan_reference(
    app: &Arc<App>,
    body: Body,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> Result<Response, ApiError> {
    let reference = reference_of(body).await?;
    let mut access = oci_access(app, &reference)?;
    // A tag is resolved first and the digest it names is what is scanned (and checked for a
    // signature), so the verdict is about exactly one artifact and is cached under its digest.
    let sha256 = match digest_of(&reference) {
        Some(d) => d,
        None => match resolve(app, &access).await {
            Ok(digest) => {
                access.reference = pin(&reference, &digest);
                digest_of(&access.reference).unwrap_or_default()
            }
            Err(why) => {
                let j = Judged {
                    verdict: GateVerdict::Error,
                    reasons: vec![format!("resolving {reference}: {why}")],
                    report: None,
                    counts: store::SeverityCounts::default(),
                    cached: false,
                };
                return Ok(answer(j, None, 0));
            }
        },
    };
    let check = Target::VerifyOci {
        access: access.clone(),
        keys: app.trusted_keys.clone(),
    };
    let j = judge(app, move || Target::Oci(access), slot, Some(&sha256), 0).await;
    let j = if app.require_signature {
        require_signed(app, j, check, ()).await
    } else {
        j
    };
    Ok(answer(j, Some(sha256), 0))
}

/// The lower-case hex SHA-256 digest a pinned reference (`…@sha256:<hex>`) names.
pub fn digest_of(reference: &str) -> Option<String> {
    reference
        .rsplit_once("@sha256:")
        .map(|(_, d)| d.to_ascii_lowercase())
        .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `reference` pinned to `digest` (`sha256:<hex>`): its repository, without tag, `@digest`.
pub fn pin(reference: &str, digest: &str) -> String {
    let repo = reference.split_once('@').map_or(reference, |(r, _)| r);
    // A tag is a `:` after the last `/` (a `:` before it is the registry's port).
    let slash = repo.rfind('/').unwrap_or(0);
    let repo = match repo.get(slash..).and_then(|tail| tail.rfind(':')) {
        Some(colon) => repo.get(..slash.saturating_add(colon)).unwrap_or(repo),
        None => repo,
    };
    format!("{repo}@{digest}")
}

/// The digest (`sha256:<hex>`) `access.reference` resolves to, asked of a worker.
pub async fn resolve(app: &App, access: &OciAccess) -> Result<String, String> {
    let job = app.job(Target::Resolve(access.clone()));
    match app.pool.submit(job, app.limits.scan_timeout, ()).await {
        Ok(worker::Reply::Resolved { digest, .. }) => Ok(digest),
        Ok(_) => Err("the worker answered something else".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Whether `j` is a `deny` only because files were not scanned, and every such file is a
/// `model.sig` (a Sigstore bundle, which no model loader reads and the signature check parses).
fn unscanned_only_signature(app: &App, j: &Judged) -> bool {
    if j.verdict != GateVerdict::Deny {
        return false;
    }
    let Some(report) = j
        .report
        .as_ref()
        .and_then(|r| serde_json::from_str::<Report>(r.get()).ok())
    else {
        return false;
    };
    let lax = GatePolicy {
        deny_on_unscanned: false,
        ..app.gate.clone()
    };
    report.omitted.is_empty()
        && verdict::judge(&report, &lax).0 == GateVerdict::Admit
        && report
            .artifacts
            .iter()
            .filter(|a| matches!(a.status, crate::finding::Status::Skipped { .. }))
            .all(|a| {
                a.location
                    .inner
                    .last()
                    .unwrap_or(&a.location.path)
                    .rsplit('/')
                    .next()
                    == Some(crate::sign::DEFAULT_SIGNATURE_NAME)
            })
}

/// Why a signature check did not establish a valid signature.
pub enum SignatureProblem {
    /// The check ran: no valid signature from a trusted key (the reasons say what was found).
    Unsigned(Vec<String>),
    /// The check itself failed (a worker that died, a deadline).
    Failed(String),
}

/// Runs the signature verification `check` on a worker.
pub async fn check_signature<K: Send + 'static>(
    app: &App,
    check: Target,
    keep: K,
) -> Result<(), SignatureProblem> {
    let job = app.job(check);
    match app.pool.submit(job, app.limits.scan_timeout, keep).await {
        Ok(worker::Reply::Verification { verified: true, .. }) => Ok(()),
        Ok(worker::Reply::Verification { reasons, .. }) => Err(SignatureProblem::Unsigned(reasons)),
        Ok(_) => Err(SignatureProblem::Failed(
            "the worker answered something else".into(),
        )),
        Err(e) => Err(SignatureProblem::Failed(e.to_string())),
    }
}

/// `[policy] require_signature`: an `admit` stands only when `check` (a signature verification
/// of exactly the judged artifact) verifies; otherwise it becomes `deny` (or `error` when the
/// check itself failed). `deny` and `error` are left as they are.
pub async fn require_signed<K: Send + 'static>(
    app: &App,
    mut j: Judged,
    check: Target,
    keep: K,
) -> Judged {
    if j.verdict != GateVerdict::Admit {
        return j;
    }
    match check_signature(app, check, keep).await {
        Ok(()) => {}
        Err(SignatureProblem::Unsigned(reasons)) => {
            j.verdict = GateVerdict::Deny;
            j.reasons.push(format!(
                "require_signature: no valid signature from a trusted key covers the artifact: {}",
                reasons.join("; ")
            ));
        }
        Err(SignatureProblem::Failed(why)) => {
            j.verdict = GateVerdict::Error;
            j.reasons.push(format!(
                "require_signature: the signature check failed: {why}"
            ));
        }
    }
    j
}

/// The largest signature bundle or scan attestation accepted in a header (base64).
const MAX_SIGNATURE_HEADER: usize = 256 * 1024;

/// `POST /v1/verify`: `{"oci": REF}` (the image's signature referrers), or a single-file model
/// as the raw body with its bundle in `X-Modelgate-Signature` (base64) and optionally its scan
/// attestation in `X-Modelgate-Scan-Attestation` (base64), checked against `[signing]
/// trusted_keys` by a worker. Answers `{"verified", "reasons", "sha256", "details"}`, the
/// details holding the verified scan attestation when there is one.
async fn verify(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let client = match authorize(&app, &headers, Scope::Verify) {
        Ok(c) => c.to_owned(),
        Err(e) => return e.into_response(),
    };
    let resp = verify_for(&app, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    attribute(resp, client)
}

/// Names the client in the response's audit row.
pub fn attribute(mut resp: Response, client: String) -> Response {
    let ext = resp.extensions_mut();
    if let Some(a) = ext.get_mut::<Audit>() {
        a.client = Some(client);
    } else {
        ext.insert(Audit {
            client: Some(client),
            ..Audit::default()
        });
    }
    resp
}

/// A scan slot, or 503 with `Retry-After` when every one is busy.
fn take_slot(app: &App) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    app.slots.clone().try_acquire_owned().map_err(|_| {
        app.metrics.reject("saturated");
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "saturated",
            "every scan slot is busy; retry later",
        );
        e.retry_after = Some(1);
        e
    })
}

/// Whether the request body is JSON (`{"oci": …}`) rather than an artifact.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// The answer to an upload that was not received.
fn upload_error(app: &App, e: &UploadError) -> ApiError {
    let (status, code) = match e {
        UploadError::TooLarge { limit } => {
            app.metrics.reject("too-large");
            return too_large(*limit);
        }
        UploadError::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "slow-client"),
        UploadError::Body(_) => (StatusCode::BAD_REQUEST, "bad-body"),
        UploadError::Spool(_) => (StatusCode::INTERNAL_SERVER_ERROR, "spool"),
    };
    app.metrics.reject(code);
    let message = match e {
        // The spool path is internal.
        UploadError::Spool(_) => "the upload could not be stored".to_owned(),
        _ => e.to_string(),
    };
    ApiError::new(status, code, message)
}

async fn verify_for(app: &Arc<App>, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let slot = take_slot(app)?;
    let keys = app.trusted_keys.clone();
    let is_json = is_json(headers);
    let (target, sha256, size, keep): (Target, Option<String>, u64, Box<dyn Send>) = if is_json {
        let reference = reference_of(body).await?;
        let access = oci_access(app, &reference)?;
        let sha = reference
            .rsplit_once("@sha256:")
            .map(|(_, d)| d.to_ascii_lowercase());
        (Target::VerifyOci { access, keys }, sha, 0, Box::new(slot))
    } else {
        let decode = |name: &str| -> Result<Option<Vec<u8>>, ApiError> {
            let Some(v) = headers.get(name) else {
                return Ok(None);
            };
            let bad = || {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad-signature",
                    format!("{name} must be base64 of at most {MAX_SIGNATURE_HEADER} bytes"),
                )
            };
            if v.len() > MAX_SIGNATURE_HEADER {
                return Err(bad());
            }
            base64::engine::general_purpose::STANDARD
                .decode(v.as_bytes())
                .map(Some)
                .map_err(|_| bad())
        };
        // Without a bundle header the upload is a model directory (tar or zip) carrying its
        // own `model.sig`.
        let bundle = decode("x-modelgate-signature")?;
        let attestation = decode("x-modelgate-scan-attestation")?;
        let upload = receive(app, headers, body).await?;
        let (name, sha, size) = (upload.name.clone(), upload.sha256.clone(), upload.size);
        let dir = upload
            .into_dir(&app.spool)
            .map_err(|e| upload_error(app, &e))?;
        let Some(bundle) = bundle else {
            let target = Target::VerifyModelArchive {
                root: dir.path().to_path_buf(),
                name,
                keys,
            };
            return Ok(verification(app, target, Some(sha), size, Box::new((dir, slot))).await);
        };
        let sig = dir.path().join(format!("{name}.sig"));
        let spool_error = |_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "spool",
                "the signature could not be stored",
            )
        };
        std::fs::write(&sig, bundle).map_err(spool_error)?;
        if let Some(a) = attestation {
            std::fs::write(crate::sign::scan_attestation_path(&sig), a).map_err(spool_error)?;
        }
        let target = Target::VerifyUpload {
            root: dir.path().to_path_buf(),
            name,
            keys,
        };
        (target, Some(sha), size, Box::new((dir, slot)))
    };
    Ok(verification(app, target, sha256, size, keep).await)
}

/// Runs the verification `target` on a worker and answers with its result and audit facts.
async fn verification(
    app: &App,
    target: Target,
    sha256: Option<String>,
    size: u64,
    keep: Box<dyn Send>,
) -> Response {
    let job = app.job(target);
    let (verified, reasons, details) =
        match app.pool.submit(job, app.limits.scan_timeout, keep).await {
            Ok(worker::Reply::Verification {
                verified,
                reasons,
                details,
                ..
            }) => (Some(verified), reasons, details),
            Ok(_) => (
                None,
                vec!["the worker answered something else".into()],
                serde_json::Value::Null,
            ),
            Err(e) => (None, vec![e.to_string()], serde_json::Value::Null),
        };
    let verdict = match verified {
        Some(true) => GateVerdict::Admit,
        Some(false) => GateVerdict::Deny,
        None => GateVerdict::Error,
    };
    let mut resp = Json(json!({
        "verified": verified.unwrap_or(false),
        "verdict": verdict,
        "reasons": reasons,
        "sha256": sha256,
        "details": details,
    }))
    .into_response();
    resp.extensions_mut().insert(Audit {
        client: None,
        sha256,
        size: Some(size),
        verdict: Some(verdict),
        counts: store::SeverityCounts::default(),
        cached: false,
        reasons,
    });
    resp
}

/// Answers with the cached verdict of the same artifact under the same rules, or runs `target`
/// on a worker and answers with its verdict (caching `admit` and `deny`, never `error`). `keep`
/// (the upload and the scan slot) lives until the worker is done.
async fn judge_job<K: Send + 'static>(
    app: &Arc<App>,
    target: impl FnOnce() -> Target + Send,
    keep: K,
    sha256: Option<String>,
    size: u64,
) -> Response {
    let j = judge(app, target, keep, sha256.as_deref(), size).await;
    answer(j, sha256, size)
}

/// A verdict on one artifact, with the report it was judged on.
pub struct Judged {
    pub verdict: GateVerdict,
    pub reasons: Vec<String>,
    /// The report as JSON (absent when the scan failed).
    pub report: Option<Box<RawValue>>,
    pub counts: store::SeverityCounts,
    pub cached: bool,
}

/// The cached verdict of the same artifact under the same rules, or `target()` scanned on a
/// worker and judged (caching `admit` and `deny`, never `error`). `target` is only called on a
/// miss, so what it costs to build (an upload's bytes encoded for the worker) is not paid for a
/// cached answer. `keep` (the upload and the scan slot) lives until the worker is done.
pub async fn judge<K: Send + 'static>(
    app: &Arc<App>,
    target: impl FnOnce() -> Target + Send,
    keep: K,
    sha256: Option<&str>,
    size: u64,
) -> Judged {
    let key =
        sha256.and_then(|h| CacheKey::new(h, &app.signatures_digest, &app.policy_digest).ok());
    if let Some(key) = &key {
        if let Some(hit) = cached(app, key).await {
            app.metrics.cache_hits.inc();
            count_verdict(app, hit.verdict);
            return Judged {
                verdict: hit.verdict,
                reasons: hit.reasons.clone(),
                report: hit.report.clone(),
                counts: hit.counts,
                cached: true,
            };
        }
    }
    let started = Instant::now();
    let job = app.job(target());
    let outcome = {
        // A guard, not inc/dec: a client that goes away mid-scan drops this future.
        let _scanning = GaugeGuard::inc(&app.metrics.in_flight);
        app.pool.scan(job, app.limits.scan_timeout, keep).await
    };
    app.metrics
        .scan_seconds
        .observe(started.elapsed().as_secs_f64());
    app.metrics.bytes_scanned.inc_by(size);
    app.metrics.cache_misses.inc();
    let (verdict, reasons, report) = match outcome {
        Ok(mut report) => {
            app.policy.apply(&mut report);
            let (v, why) = verdict::judge(&report, &app.gate);
            (v, why, Some(report))
        }
        Err(e) => (GateVerdict::Error, vec![e.to_string()], None),
    };
    count_verdict(app, verdict);
    let counts = report.as_ref().map(counts_of).unwrap_or_default();
    // Serialized once, for the cache and for the answer.
    let report_json = report
        .as_ref()
        .and_then(|r| serde_json::to_string(r).ok())
        .and_then(|s| RawValue::from_string(s).ok());
    // A report with artifacts that could not be read (a registry that refused the pull, a
    // connection that dropped) says nothing lasting about the content: not cached, so the next
    // request reads it again.
    let lasting =
        verdict != GateVerdict::Error && report.as_ref().is_some_and(|r| r.summary.failed == 0);
    if let (Some(key), Some(report), true) = (&key, &report_json, lasting) {
        let entry = CacheEntry::new(
            verdict,
            &serde_json::to_string(&reasons).unwrap_or_else(|_| "[]".into()),
        )
        .with_report(report.get().to_owned());
        // A report too large to cache is simply scanned again next time.
        if let Ok(stored) = app.store.cache_verdict(key, &entry).await {
            // The first writer of a key wins; keep what the store holds, which may be another
            // replica's verdict under the same rules.
            app.hot.put(key.sha256(), Arc::new(hot_verdict(stored)));
        }
    }
    Judged {
        verdict,
        reasons,
        report: report_json,
        counts,
        cached: false,
    }
}

/// The cached verdict for `key`: from this process's front ([`HotCache`]) or else the store,
/// which then fills the front.
async fn cached(app: &App, key: &CacheKey) -> Option<Arc<HotVerdict>> {
    if let Some(hit) = app.hot.get(key.sha256()) {
        return Some(hit);
    }
    let stored = app.store.cached_verdict(key).await.ok()??;
    let hot = Arc::new(hot_verdict(stored));
    app.hot.put(key.sha256(), Arc::clone(&hot));
    Some(hot)
}

/// A stored cache entry as the gate sends it. The report goes out as the text it was stored as;
/// only its summary is read, once, for the audit row's counts (parsing the whole report into a
/// tree and writing it out again was most of a cache hit's work).
fn hot_verdict(stored: store::CachedVerdict) -> HotVerdict {
    let reasons: Vec<String> = serde_json::from_str(&stored.reasons).unwrap_or_default();
    let report = stored.report.and_then(|r| RawValue::from_string(r).ok());
    let counts = report
        .as_ref()
        .and_then(|r| serde_json::from_str::<SummaryOnly>(r.get()).ok())
        .map(|s| counts_in(&s.summary.findings_by_severity))
        .unwrap_or_default();
    HotVerdict {
        verdict: stored.verdict,
        reasons,
        report,
        counts,
    }
}

fn count_verdict(app: &App, verdict: GateVerdict) {
    app.metrics
        .verdicts
        .get_or_create(&VerdictLabels {
            verdict: verdict.as_str().to_owned(),
        })
        .inc();
}

fn counts_of(report: &Report) -> store::SeverityCounts {
    use crate::finding::Severity as S;
    let n = |s: S| {
        report
            .summary
            .findings_by_severity
            .get(&s)
            .map_or(0, |&n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    store::SeverityCounts {
        info: n(S::Info),
        low: n(S::Low),
        medium: n(S::Medium),
        high: n(S::High),
        critical: n(S::Critical),
    }
}

/// The part of a report's JSON the audit row needs.
#[derive(serde::Deserialize)]
struct SummaryOnly {
    summary: SummaryCounts,
}

#[derive(serde::Deserialize)]
struct SummaryCounts {
    findings_by_severity: std::collections::BTreeMap<crate::finding::Severity, u64>,
}

/// Finding counts from a report's `summary.findings_by_severity`.
fn counts_in(
    by_severity: &std::collections::BTreeMap<crate::finding::Severity, u64>,
) -> store::SeverityCounts {
    use crate::finding::Severity as S;
    let n = |s: S| {
        by_severity
            .get(&s)
            .map_or(0, |&v| u32::try_from(v).unwrap_or(u32::MAX))
    };
    store::SeverityCounts {
        info: n(S::Info),
        low: n(S::Low),
        medium: n(S::Medium),
        high: n(S::High),
        critical: n(S::Critical),
    }
}

/// The verdict response, carrying its audit row's facts for [`observe`].
fn answer(j: Judged, sha256: Option<String>, size: u64) -> Response {
    /// The scan answer as sent. Typed rather than `json!`: a `json!` value would parse the
    /// report's stored text into a tree only to write it out again, on every cache hit.
    #[derive(serde::Serialize)]
    struct Answer<'a> {
        verdict: GateVerdict,
        reasons: &'a [String],
        sha256: Option<&'a str>,
        size: u64,
        cached: bool,
        report: Option<&'a RawValue>,
    }
    let mut resp = Json(Answer {
        verdict: j.verdict,
        reasons: &j.reasons,
        sha256: sha256.as_deref(),
        size,
        cached: j.cached,
        report: j.report.as_deref(),
    })
    .into_response();
    resp.extensions_mut().insert(Audit {
        client: None,
        sha256,
        size: Some(size),
        verdict: Some(j.verdict),
        counts: j.counts,
        cached: j.cached,
        reasons: j.reasons,
    });
    resp
}

/// `GET /v1/decisions?since=&verdict=&sha256=&limit=&cursor=`: the audit trail, newest first.
async fn decisions(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<DecisionsQuery>,
) -> Result<Response, ApiError> {
    authorize(&app, &headers, Scope::Decisions)?;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "bad-query", m);
    let since = q
        .since
        .as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.with_timezone(&chrono::Utc))
                .map_err(|e| bad(format!("since: {e} (RFC 3339 expected)")))
        })
        .transpose()?;
    let verdict = q
        .verdict
        .as_deref()
        .map(|v| {
            store::Verdict::parse(v)
                .ok_or_else(|| bad(format!("verdict: {v:?} is not admit, deny or error")))
        })
        .transpose()?;
    let query = DecisionQuery {
        since,
        verdict,
        sha256: q.sha256,
        limit: q.limit,
        cursor: q.cursor,
    };
    let page = app.store.decisions(&query).await.map_err(|e| match e {
        store::StoreError::InvalidInput { .. } | store::StoreError::BadCursor => bad(e.to_string()),
        _ => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "the audit trail could not be read",
        ),
    })?;
    let rows: Vec<serde_json::Value> = page
        .decisions
        .iter()
        .map(|d| {
            let x = &d.decision;
            json!({
                "id": d.id,
                "time": x.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "request_id": x.request_id,
                "client": x.client,
                "route": x.route,
                "sha256": x.sha256,
                "size": x.size,
                "verdict": x.verdict.as_str(),
                "findings": x.counts,
                "signatures_digest": x.signatures_digest,
                "policy_digest": x.policy_digest,
                "duration_ms": x.duration_ms,
                "cached": x.cached,
                "reasons": serde_json::from_str::<serde_json::Value>(&x.reasons).unwrap_or_default(),
                "source": x.source,
            })
        })
        .collect();
    Ok(Json(json!({"decisions": rows, "next_cursor": page.next_cursor})).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionsQuery {
    since: Option<String>,
    verdict: Option<String>,
    sha256: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        format!("the upload is larger than the limit of {limit} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_pinned_without_their_tag() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            pin("127.0.0.1:5000/models/bert:v3", &d),
            format!("127.0.0.1:5000/models/bert@{d}")
        );
        assert_eq!(
            pin("127.0.0.1:5000/models/bert", &d),
            format!("127.0.0.1:5000/models/bert@{d}")
        );
        assert_eq!(
            pin(&format!("reg.io/m:v1@sha256:{}", "cd".repeat(32)), &d),
            format!("reg.io/m@{d}")
        );
        assert_eq!(digest_of(&pin("r/m:v1", &d)), Some("ab".repeat(32)));
        assert_eq!(digest_of("r/m@sha256:xyz"), None);
    }
}
