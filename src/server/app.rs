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
use serde_json::json;
use tokio::sync::Semaphore;

use crate::config::Scope;
use crate::policy::Policy;

use super::auth::{Denied, Tokens};
use super::metrics::{Metrics, RouteLabels, VerdictLabels};
use super::upload::{self, UploadError};
use super::verdict::{self, GatePolicy, GateVerdict};
use super::worker::{self, Job, Pool, Target};

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
    /// The registries `{"oci": …}` requests may name.
    pub registries: Vec<crate::config::RegistryConfig>,
    /// Set when the signature database and workers are ready (`/readyz`).
    pub ready: std::sync::atomic::AtomicBool,
    next_job: std::sync::atomic::AtomicU64,
}

/// The limits each request is held to (`[server]`).
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_body_bytes: u64,
    pub scan_timeout: Duration,
    pub read_timeout: Duration,
}

impl App {
    /// The gate for `config` with its effective `settings`, scanning on `pool`.
    pub fn new(config: &crate::config::Config, settings: &super::Settings, pool: Pool) -> Self {
        let (gate, policy) = super::gate_policy(config);
        App {
            tokens: Tokens::new(&config.tokens),
            pool,
            metrics: Metrics::default(),
            slots: Arc::new(Semaphore::new(settings.slots.max(1))),
            gate,
            policy,
            limits: settings.limits,
            spool: settings.spool.clone(),
            registries: config.registries.clone(),
            ready: std::sync::atomic::AtomicBool::new(true),
            next_job: std::sync::atomic::AtomicU64::new(1),
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
fn request_id() -> String {
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

/// Gives every request an id (echoed in `X-Request-Id`) and counts responses by route and status.
async fn observe(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let id = request_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = match req.uri().path() {
        p @ ("/healthz" | "/readyz" | "/metrics" | "/v1/scan") => p.to_owned(),
        _ => "other".to_owned(),
    };
    let mut resp = next.run(req).await;
    // A refused upload's body may be unread; the connection cannot carry another request, so
    // say so rather than let a client reuse it and race the close.
    if route == "/v1/scan" && resp.status().as_u16() >= 400 {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
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

fn authorize<'a>(app: &'a App, headers: &HeaderMap, scope: Scope) -> Result<&'a str, ApiError> {
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
    if app.ready.load(std::sync::atomic::Ordering::Relaxed) {
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

/// `POST /v1/scan`: the artifact as the raw body.
async fn scan(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(&app, &headers, Scope::Scan)?;
    let Ok(slot) = app.slots.clone().try_acquire_owned() else {
        app.metrics.reject("saturated");
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "saturated",
            "every scan slot is busy; retry later",
        );
        e.retry_after = Some(1);
        return Err(e);
    };
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
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if is_json {
        return scan_reference(&app, body, slot).await;
    }
    let hint = headers
        .get("x-modelgate-filename")
        .and_then(|v| v.to_str().ok());
    let name = upload::file_name(hint);
    let upload = upload::receive(
        body,
        &app.spool,
        name,
        app.limits.max_body_bytes,
        app.limits.read_timeout,
    )
    .await
    .map_err(|e| {
        let (status, code) = match &e {
            UploadError::TooLarge { limit } => {
                app.metrics.reject("too-large");
                return too_large(*limit);
            }
            UploadError::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "slow-client"),
            UploadError::Body(_) => (StatusCode::BAD_REQUEST, "bad-body"),
            UploadError::Spool(_) => (StatusCode::INTERNAL_SERVER_ERROR, "spool"),
        };
        app.metrics.reject(code);
        let message = match &e {
            // The spool path is internal.
            UploadError::Spool(_) => "the upload could not be stored".to_owned(),
            _ => e.to_string(),
        };
        ApiError::new(status, code, message)
    })?;
    let target = Target::Upload {
        root: upload.dir.path().to_path_buf(),
        name: upload.name.clone(),
    };
    let (sha256, size) = (Some(upload.sha256.clone()), upload.size);
    Ok(judge_job(&app, target, (upload, slot), sha256, size).await)
}

/// The largest JSON request body (`{"oci": …}`).
const MAX_JSON_BYTES: usize = 64 * 1024;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanRequest {
    oci: String,
}

/// `POST /v1/scan` with `{"oci": "REGISTRY/REPO@sha256:…"}` (or a tag): an image or OCI artifact
/// from a registry in `[[registries]]`, pulled and scanned by a worker.
async fn scan_reference(
    app: &Arc<App>,
    body: Body,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> Result<Response, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_JSON_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad-body",
                format!("a JSON scan request is at most {MAX_JSON_BYTES} bytes"),
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
    let host = worker::registry_host(&reference);
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
    let target = Target::Oci {
        reference: reference.clone(),
        username: registry.username.clone(),
        password: env(&registry.password_env),
        bearer_token: env(&registry.token_env),
        insecure: registry.insecure,
    };
    // Pinned references name their manifest digest; a tag's digest is in the report.
    let sha256 = reference
        .rsplit_once("@sha256:")
        .map(|(_, d)| d.to_ascii_lowercase());
    Ok(judge_job(app, target, slot, sha256, 0).await)
}

/// Runs `target` on a worker and answers with its verdict. `keep` (the upload and the scan slot)
/// lives until the worker is done.
async fn judge_job<K: Send + 'static>(
    app: &Arc<App>,
    target: Target,
    keep: K,
    sha256: Option<String>,
    size: u64,
) -> Response {
    let started = Instant::now();
    app.metrics.in_flight.inc();
    let job = Job {
        id: app
            .next_job
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        target,
    };
    let outcome = app.pool.scan(job, app.limits.scan_timeout, keep).await;
    app.metrics.in_flight.dec();
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
    app.metrics
        .verdicts
        .get_or_create(&VerdictLabels {
            verdict: verdict.as_str().to_owned(),
        })
        .inc();
    Json(json!({
        "verdict": verdict,
        "reasons": reasons,
        "sha256": sha256,
        "size": size,
        "cached": false,
        "report": report,
    }))
    .into_response()
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        format!("the upload is larger than the limit of {limit} bytes"),
    )
}
