//! A small client of the MLflow tracking server's REST API (`/api/2.0/mlflow/…`) and its artifact
//! proxy (`/api/2.0/mlflow-artifacts/artifacts/…`): only the calls modelgate makes. It
//! authenticates as MLflow's own clients do, from the environment: `MLFLOW_TRACKING_TOKEN`
//! (a bearer token) or `MLFLOW_TRACKING_USERNAME` + `MLFLOW_TRACKING_PASSWORD` (basic).
//!
//! Every answer is read with a size cap and every call has a deadline, so a misbehaving server
//! costs a bounded amount of memory and time.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::MlflowError;

/// The largest JSON answer read from MLflow (a page of model versions with their tags).
const MAX_JSON_BYTES: usize = 32 << 20;
/// Model versions per search page.
const SEARCH_PAGE: u32 = 1000;

/// How the client proves who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Bearer(String),
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        f.write_str(match self {
            Auth::None => "None",
            Auth::Bearer(_) => "Bearer(..)",
            Auth::Basic { .. } => "Basic(..)",
        })
    }
}

impl Auth {
    /// MLflow's client variables: `MLFLOW_TRACKING_TOKEN`, else `MLFLOW_TRACKING_USERNAME` and
    /// `MLFLOW_TRACKING_PASSWORD`, else none.
    pub fn from_env() -> Auth {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(t) = var("MLFLOW_TRACKING_TOKEN") {
            return Auth::Bearer(t);
        }
        match (
            var("MLFLOW_TRACKING_USERNAME"),
            var("MLFLOW_TRACKING_PASSWORD"),
        ) {
            (Some(username), Some(password)) => Auth::Basic { username, password },
            _ => Auth::None,
        }
    }
}

/// A model version as the registry API returns it (`model_version`).
#[derive(Debug, Clone, Deserialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

impl ModelVersion {
    /// The value of tag `key`, if set.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

/// The answer of the calls that return one model version.
#[derive(Deserialize)]
struct VersionAnswer {
    model_version: ModelVersion,
}

/// One entry of an artifact-proxy listing.
#[derive(Debug, Clone, Deserialize)]
pub struct FileInfo {
    pub path: String,
    #[serde(default)]
    pub is_dir: bool,
    #[serde(default)]
    pub file_size: Option<u64>,
}

/// A client of one tracking server.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
    timeout: Duration,
}

impl Client {
    /// A client of the tracking server at `tracking_uri` (`http://` or `https://`, optionally
    /// with a path prefix), with `auth`; each API call must finish within `timeout`.
    pub fn new(tracking_uri: &str, auth: Auth, timeout: Duration) -> Result<Client, MlflowError> {
        let bad = |reason: &str| MlflowError::TrackingUri {
            uri: tracking_uri.to_owned(),
            reason: reason.to_owned(),
        };
        let base =
            Url::parse(tracking_uri.trim_end_matches('/')).map_err(|e| bad(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(bad(
                "the tracking server's URI must be http:// or https://HOST",
            ));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(bad(
                "put credentials in MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN, not in the URI",
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(timeout)
            // Redirects could lead the credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| bad(&e.to_string()))?;
        Ok(Client {
            http,
            base,
            auth,
            timeout,
        })
    }

    /// The tracking server's URI.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `base` + `/api/2.0/…segments`, each segment escaped.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut p) = url.path_segments_mut() {
            p.pop_if_empty().extend(segments);
        }
        url
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        let r = self.http.request(method, url);
        match &self.auth {
            Auth::None => r,
            Auth::Bearer(t) => r.bearer_auth(t),
            Auth::Basic { username, password } => r.basic_auth(username, Some(password)),
        }
    }

    /// Sends a registry call and reads its JSON answer.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<T, MlflowError> {
        let mut url = self.url(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut req = self.request(method, url).timeout(self.timeout);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.map_err(|e| http_error(what, &e))?;
        let status = resp.status();
        let bytes = read_capped(what, resp, MAX_JSON_BYTES).await?;
        if !status.is_success() {
            return Err(api_error(what, status, &bytes));
        }
        // Some calls answer `{}`; an empty body reads as that too.
        let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}".to_vec()
        } else {
            bytes
        };
        serde_json::from_slice(&bytes).map_err(|e| MlflowError::Protocol {
            what: what.to_owned(),
            message: e.to_string(),
        })
    }

    /// A registry call, `/api/2.0/mlflow/{path}`.
    async fn registry<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<T, MlflowError> {
        let mut segments = vec!["api", "2.0", "mlflow"];
        segments.extend(path.split('/'));
        self.call(what, method, &segments, query, body).await
    }

    /// A registry call that changes something and answers nothing of interest.
    async fn change(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: serde_json::Value,
    ) -> Result<(), MlflowError> {
        let _: serde_json::Value = self.registry(what, method, path, &[], Some(body)).await?;
        Ok(())
    }

    /// `GET model-versions/get`.
    pub async fn model_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<ModelVersion, MlflowError> {
        let what = format!("getting model {name:?} version {version}");
        let query = [("name", name), ("version", version)];
        let a: VersionAnswer = self
            .registry(&what, Method::GET, "model-versions/get", &query, None)
            .await?;
        Ok(a.model_version)
    }

    /// `GET registered-models/alias`: the version an alias points to.
    pub async fn version_by_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion, MlflowError> {
        let what = format!("resolving model {name:?} alias {alias:?}");
        let query = [("name", name), ("alias", alias)];
        let a: VersionAnswer = self
            .registry(&what, Method::GET, "registered-models/alias", &query, None)
            .await?;
        Ok(a.model_version)
    }

    /// `GET model-versions/get-download-uri`: where the version's files are (its storage
    /// location, which for a version registered from a logged model is the model's artifact
    /// location rather than its `models:/m-…` source).
    pub async fn download_uri(&self, name: &str, version: &str) -> Result<String, MlflowError> {
        #[derive(Deserialize)]
        struct Answer {
            artifact_uri: String,
        }
        let what = format!("locating model {name:?} version {version}");
        let query = [("name", name), ("version", version)];
        let a: Answer = self
            .registry(
                &what,
                Method::GET,
                "model-versions/get-download-uri",
                &query,
                None,
            )
            .await?;
        Ok(a.artifact_uri)
    }

    /// `POST model-versions/set-tag`.
    pub async fn set_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<(), MlflowError> {
        self.change(
            &format!("tagging model {name:?} version {version}"),
            Method::POST,
            "model-versions/set-tag",
            json!({"name": name, "version": version, "key": key, "value": value}),
        )
        .await
    }

    /// `POST registered-models/alias`: points `alias` at `version`.
    pub async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> Result<(), MlflowError> {
        self.change(
            &format!("setting alias {alias:?} of model {name:?}"),
            Method::POST,
            "registered-models/alias",
            json!({"name": name, "alias": alias, "version": version}),
        )
        .await
    }

    /// `DELETE registered-models/alias`.
    pub async fn delete_alias(&self, name: &str, alias: &str) -> Result<(), MlflowError> {
        self.change(
            &format!("removing alias {alias:?} of model {name:?}"),
            Method::DELETE,
            "registered-models/alias",
            json!({"name": name, "alias": alias}),
        )
        .await
    }

    /// Every model version (of model `name` when given), through all pages of
    /// `GET model-versions/search`.
    pub async fn search_versions(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<ModelVersion>, MlflowError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            model_versions: Vec<ModelVersion>,
            #[serde(default)]
            next_page_token: Option<String>,
        }
        let filter = name.map(name_filter).transpose()?;
        let max = SEARCH_PAGE.to_string();
        let mut token: Option<String> = None;
        let mut out = Vec::new();
        loop {
            let mut query = vec![("max_results", max.as_str())];
            if let Some(f) = &filter {
                query.push(("filter", f.as_str()));
            }
            if let Some(t) = &token {
                query.push(("page_token", t.as_str()));
            }
            let page: Page = self
                .registry(
                    "searching model versions",
                    Method::GET,
                    "model-versions/search",
                    &query,
                    None,
                )
                .await?;
            out.extend(page.model_versions);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// The entries directly under `path` in the artifact proxy.
    pub async fn list_artifacts(&self, path: &str) -> Result<Vec<FileInfo>, MlflowError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            files: Vec<FileInfo>,
        }
        let a: Answer = self
            .call(
                &format!("listing artifacts under {path:?}"),
                Method::GET,
                &["api", "2.0", "mlflow-artifacts", "artifacts"],
                &[("path", path)],
                None,
            )
            .await?;
        Ok(a.files)
    }

    /// Streams the artifact at `path` (relative to the artifact root) from the proxy into
    /// `dest`, failing once more than `limit` bytes arrived. Returns the bytes written.
    pub async fn download_artifact(
        &self,
        path: &str,
        dest: &Path,
        limit: u64,
    ) -> Result<u64, MlflowError> {
        let what = format!("downloading artifact {path:?}");
        let mut segments = vec!["api", "2.0", "mlflow-artifacts", "artifacts"];
        segments.extend(path.split('/').filter(|s| !s.is_empty()));
        // No overall deadline: a large file takes long; a stalled one hits the read timeout.
        let resp = self
            .request(Method::GET, self.url(&segments))
            .send()
            .await
            .map_err(|e| http_error(&what, &e))?;
        let status = resp.status();
        if !status.is_success() {
            let body = read_capped(&what, resp, 64 * 1024)
                .await
                .unwrap_or_default();
            return Err(api_error(&what, status, &body));
        }
        let io = |error| MlflowError::Io {
            what: what.clone(),
            error,
        };
        let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
        let mut resp = resp;
        let mut written = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(|e| http_error(&what, &e))? {
            written = written.saturating_add(chunk.len() as u64);
            if written > limit {
                return Err(MlflowError::TooLarge { limit });
            }
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        Ok(written)
    }
}

/// `name = '…'` for the search filter, quoted the way MLflow's filter parser reads it.
fn name_filter(name: &str) -> Result<String, MlflowError> {
    if !name.contains('\'') {
        Ok(format!("name = '{name}'"))
    } else if !name.contains('"') {
        Ok(format!("name = \"{name}\""))
    } else {
        Err(MlflowError::ModelUri(format!(
            "model name {name:?} holds both quote characters; MLflow's search filter cannot name it"
        )))
    }
}

async fn read_capped(
    what: &str,
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, MlflowError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| http_error(what, &e))? {
        if out.len().saturating_add(chunk.len()) > limit {
            return Err(MlflowError::Protocol {
                what: what.to_owned(),
                message: format!("the answer is larger than {limit} bytes"),
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn http_error(what: &str, e: &reqwest::Error) -> MlflowError {
    // Without the URL: it is the configured server's, and a query may hold names only.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    MlflowError::Http {
        what: what.to_owned(),
        message,
    }
}

/// MLflow's errors are `{"error_code": …, "message": …}`.
fn api_error(what: &str, status: StatusCode, body: &[u8]) -> MlflowError {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        error_code: String,
        #[serde(default)]
        message: String,
    }
    let (code, message) = match serde_json::from_slice::<Body>(body) {
        Ok(b) => (b.error_code, b.message),
        Err(_) => (
            String::new(),
            String::from_utf8_lossy(body.get(..body.len().min(300)).unwrap_or_default())
                .into_owned(),
        ),
    };
    MlflowError::Api {
        what: what.to_owned(),
        status: status.as_u16(),
        code,
        message,
    }
}
