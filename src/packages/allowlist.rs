//! The allowlist mirror: the set of (name, version) pairs an organisation has vetted, read from
//! one or more sources (their union):
//! - a local PEP 503 simple-index directory (`<root>/<project>/index.html` plus the wheels and
//!   sdists it links to, or a plain directory of distribution files);
//! - a PEP 691 JSON / PEP 503 HTML index URL (devpi, Artifactory, Azure Artifacts, a static
//!   server); projects are looked up lazily, only for the names actually found;
//! - a pip requirements file (typically with `--hash` lines), `pylock.toml`, `uv.lock`;
//! - the native TOML format (`allowlist-version = 1`, `[[package]] name/version/sha256`).
//!
//! Names are PEP 503-normalised; versions are compared as PEP 440 versions (`pep440_rs`), so
//! `1.0 == 1.0.0` while a local variant (`2.3.0+cu121`) must match exactly.
//!
//! Wheels reachable from the mirror (local files, or URLs of an index) provide the RECORD used by
//! the `package/tampered` check.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use sha2::{Digest, Sha256};

use super::lockfiles::{self, Declared};
use super::metadata::{self, parse_dist_filename, RecordEntry};
use super::names::normalize;

/// Largest index page or root listing read (bytes).
const MAX_PAGE: u64 = 64 * 1024 * 1024;
/// Largest wheel downloaded or opened for its RECORD (bytes).
const MAX_WHEEL: u64 = 2 * 1024 * 1024 * 1024;
/// Largest RECORD read from a wheel.
const MAX_RECORD: u64 = 64 * 1024 * 1024;

/// A problem loading an allowlist source; aborts the run (a gate with a broken allowlist must not
/// silently approve or reject everything).
#[derive(Debug, thiserror::Error)]
pub enum AllowlistError {
    #[error("allowlist {source_name}: cannot read: {err}")]
    Read {
        source_name: String,
        err: std::io::Error,
    },
    #[error("allowlist {source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
    #[error("allowlist {source_name}: HTTP error: {message}")]
    Http {
        source_name: String,
        message: String,
    },
}

/// Where a vetted wheel can be read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WheelRef {
    Local(PathBuf),
    Remote { url: String, sha256: Option<String> },
}

/// One allowlist entry for a project.
#[derive(Debug, Clone)]
pub struct Allowed {
    /// Exact version; `None` with `specifiers: None` allows every version.
    pub version: Option<String>,
    pub specifiers: Option<VersionSpecifiers>,
    /// A distribution file of this version (for the RECORD comparison).
    pub file: Option<WheelRef>,
    /// Wheel compatibility tags of `file`, when it is a wheel.
    pub tags: Option<String>,
    /// The allowlist source this entry came from.
    pub source: String,
}

impl Allowed {
    /// Whether this entry allows `version` (PEP 440 comparison; plain string equality for
    /// versions that are not PEP 440).
    pub fn allows(&self, version: &str) -> bool {
        let parsed = Version::from_str(version.trim()).ok();
        if let Some(v) = &self.version {
            return match (Version::from_str(v.trim()).ok(), &parsed) {
                (Some(a), Some(b)) => a == *b,
                _ => v.trim() == version.trim(),
            };
        }
        if let Some(spec) = &self.specifiers {
            return parsed.is_some_and(|p| spec.contains(&p));
        }
        true
    }
}

/// The outcome of looking up an installed (name, version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// The project is vetted, this version is not; the allowed versions are listed.
    VersionNotAllowed(Vec<String>),
    NotListed,
}

/// A PEP 691/503 index reached over HTTP.
#[derive(Debug)]
struct RemoteIndex {
    base: String,
    /// Normalised names whose project page was fetched.
    fetched: BTreeSet<String>,
    /// The root listing, fetched on first need (for look-alike detection).
    names: Option<BTreeSet<String>>,
}

/// The union of all configured allowlist sources.
#[derive(Debug, Default)]
pub struct Allowlist {
    entries: BTreeMap<String, Vec<Allowed>>,
    remotes: Vec<RemoteIndex>,
    /// Source descriptions, for the report.
    pub sources: Vec<String>,
    http: Option<Http>,
}

impl Allowlist {
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Loads every source (see the module docs for the accepted forms).
    pub fn load(sources: &[String]) -> Result<Self, AllowlistError> {
        let mut a = Allowlist::default();
        for s in sources {
            a.add_source(s)?;
        }
        Ok(a)
    }

    /// Adds one source, classified by its form: an `http(s)://` URL is an index, `file://` and a
    /// directory are local indexes, and files are recognised by name and content.
    pub fn add_source(&mut self, spec: &str) -> Result<(), AllowlistError> {
        self.sources.push(spec.to_owned());
        if spec.starts_with("http://") || spec.starts_with("https://") {
            let base = if spec.ends_with('/') {
                spec.to_owned()
            } else {
                format!("{spec}/")
            };
            // Fail early on an unreachable or non-index URL: fetch the root listing now.
            let names = self.http()?.project_list(&base, spec)?;
            self.remotes.push(RemoteIndex {
                base,
                fetched: BTreeSet::new(),
                names: Some(names),
            });
            return Ok(());
        }
        let path = PathBuf::from(spec.strip_prefix("file://").unwrap_or(spec));
        let read_err = |err| AllowlistError::Read {
            source_name: spec.to_owned(),
            err,
        };
        let meta = std::fs::metadata(&path).map_err(read_err)?;
        if meta.is_dir() {
            return self.add_index_dir(&path, spec);
        }
        let text = std::fs::read_to_string(&path).map_err(read_err)?;
        let invalid = |message: String| AllowlistError::Invalid {
            source_name: spec.to_owned(),
            message,
        };
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let declared = match lockfiles::lock_kind(&base) {
            Some(lockfiles::LockKind::Pylock) => {
                lockfiles::parse_pylock(&text).map_err(|e| invalid(e.to_string()))?
            }
            Some(lockfiles::LockKind::UvLock) => {
                lockfiles::parse_uv_lock(&text).map_err(|e| invalid(e.to_string()))?
            }
            _ if Path::new(&base)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("toml")) =>
            {
                return self.add_native(&text, spec);
            }
            _ => lockfiles::parse_requirements(&text),
        };
        if declared.is_empty() {
            return Err(invalid("no packages found".into()));
        }
        self.add_declared(&declared, spec);
        Ok(())
    }

    fn add_declared(&mut self, declared: &[Declared], source: &str) {
        for d in declared {
            let specifiers = d
                .specifier
                .as_deref()
                .and_then(|s| VersionSpecifiers::from_str(s).ok());
            self.push(
                &d.name,
                Allowed {
                    version: d.version.clone(),
                    specifiers,
                    file: None,
                    tags: None,
                    source: source.to_owned(),
                },
            );
        }
    }

    fn push(&mut self, name: &str, entry: Allowed) {
        self.entries.entry(normalize(name)).or_default().push(entry);
    }

    /// The native format:
    /// ```toml
    /// allowlist-version = 1
    /// [[package]]
    /// name = "numpy"
    /// version = "2.1.3"          # or: specifier = ">=2,<3"; neither = any version
    /// sha256 = ["<hex>"]         # optional
    /// wheel = "path/or/url.whl"  # optional: enables the RECORD comparison
    /// ```
    fn add_native(&mut self, text: &str, spec: &str) -> Result<(), AllowlistError> {
        let invalid = |message: String| AllowlistError::Invalid {
            source_name: spec.to_owned(),
            message,
        };
        let v: toml::Value = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        match v.get("allowlist-version").and_then(toml::Value::as_integer) {
            Some(1) => {}
            other => {
                return Err(invalid(format!(
                    "allowlist-version must be 1 (found {other:?})"
                )))
            }
        }
        let base_dir = Path::new(spec.strip_prefix("file://").unwrap_or(spec))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let packages = v
            .get("package")
            .and_then(toml::Value::as_array)
            .ok_or_else(|| invalid("no [[package]] entries".into()))?;
        for (i, p) in packages.iter().enumerate() {
            let name = p
                .get("name")
                .and_then(toml::Value::as_str)
                .ok_or_else(|| invalid(format!("package #{} has no name", i.saturating_add(1))))?;
            let version = p
                .get("version")
                .and_then(toml::Value::as_str)
                .map(str::to_owned);
            let specifiers = match p.get("specifier").and_then(toml::Value::as_str) {
                Some(s) => Some(
                    VersionSpecifiers::from_str(s)
                        .map_err(|e| invalid(format!("{name}: bad specifier {s:?}: {e}")))?,
                ),
                None => None,
            };
            if let Some(v) = &version {
                Version::from_str(v)
                    .map_err(|e| invalid(format!("{name}: bad version {v:?}: {e}")))?;
            }
            let file = p.get("wheel").and_then(toml::Value::as_str).map(|w| {
                if w.starts_with("http://") || w.starts_with("https://") {
                    WheelRef::Remote {
                        url: w.to_owned(),
                        sha256: p
                            .get("sha256")
                            .and_then(toml::Value::as_array)
                            .and_then(|a| a.first())
                            .and_then(toml::Value::as_str)
                            .map(str::to_owned),
                    }
                } else {
                    WheelRef::Local(base_dir.join(w))
                }
            });
            let tags = p
                .get("wheel")
                .and_then(toml::Value::as_str)
                .and_then(parse_dist_filename)
                .and_then(|d| d.tags);
            self.push(
                name,
                Allowed {
                    version,
                    specifiers,
                    file,
                    tags,
                    source: spec.to_owned(),
                },
            );
        }
        Ok(())
    }

    /// A local PEP 503 tree: distribution files anywhere below `root` (4 levels), and the links
    /// of every `index.html` (relative links resolved on disk, absolute ones kept as URLs).
    fn add_index_dir(&mut self, root: &Path, spec: &str) -> Result<(), AllowlistError> {
        let mut found = 0usize;
        for e in walkdir::WalkDir::new(root)
            .max_depth(4)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
        {
            if !e.file_type().is_file() {
                continue;
            }
            let fname = e.file_name().to_string_lossy().into_owned();
            if let Some(d) = parse_dist_filename(&fname) {
                found = found.saturating_add(1);
                self.push(
                    &d.name,
                    Allowed {
                        version: Some(d.version),
                        specifiers: None,
                        file: Some(WheelRef::Local(e.path().to_path_buf())),
                        tags: d.tags,
                        source: spec.to_owned(),
                    },
                );
            } else if fname.eq_ignore_ascii_case("index.html") {
                let html = read_capped(e.path(), MAX_PAGE).map_err(|err| AllowlistError::Read {
                    source_name: spec.to_owned(),
                    err,
                })?;
                let dir = e.path().parent().unwrap_or(root);
                for (href, text) in anchors(&String::from_utf8_lossy(&html)) {
                    let (url, frag) = href.split_once('#').unwrap_or((href.as_str(), ""));
                    let fname = url.rsplit('/').next().unwrap_or(url);
                    let Some(d) = parse_dist_filename(fname).or_else(|| parse_dist_filename(&text))
                    else {
                        continue;
                    };
                    let file = if url.starts_with("http://") || url.starts_with("https://") {
                        WheelRef::Remote {
                            url: url.to_owned(),
                            sha256: frag.strip_prefix("sha256=").map(str::to_owned),
                        }
                    } else {
                        let local = dir.join(url.strip_prefix("file://").unwrap_or(url));
                        if !local.is_file() {
                            continue; // listed but not mirrored here; name/version still vetted below
                        }
                        WheelRef::Local(local)
                    };
                    found = found.saturating_add(1);
                    self.push(
                        &d.name,
                        Allowed {
                            version: Some(d.version),
                            specifiers: None,
                            file: Some(file),
                            tags: d.tags,
                            source: spec.to_owned(),
                        },
                    );
                }
            }
        }
        if found == 0 {
            return Err(AllowlistError::Invalid {
                source_name: spec.to_owned(),
                message: "no wheels, sdists or index pages found".into(),
            });
        }
        Ok(())
    }

    fn http(&mut self) -> Result<&Http, AllowlistError> {
        if self.http.is_none() {
            self.http = Some(Http::new().map_err(|message| AllowlistError::Http {
                source_name: "client".into(),
                message,
            })?);
        }
        self.http.as_ref().ok_or_else(|| AllowlistError::Http {
            source_name: "client".into(),
            message: "no HTTP client".into(),
        })
    }

    /// Fetches the project pages of `normalized` from every remote index (once per name).
    fn ensure_remote(&mut self, normalized: &str) -> Result<(), AllowlistError> {
        for i in 0..self.remotes.len() {
            let Some(r) = self.remotes.get(i) else { break };
            if r.fetched.contains(normalized) {
                continue;
            }
            if r.names.as_ref().is_some_and(|n| !n.contains(normalized)) {
                continue; // not listed in the root: not in this index
            }
            let base = r.base.clone();
            let files = self.http()?.project_files(&base, normalized)?;
            for (filename, url, sha) in files {
                let Some(d) = parse_dist_filename(&filename) else {
                    continue;
                };
                self.push(
                    &d.name,
                    Allowed {
                        version: Some(d.version),
                        specifiers: None,
                        file: Some(WheelRef::Remote { url, sha256: sha }),
                        tags: d.tags,
                        source: base.clone(),
                    },
                );
            }
            if let Some(r) = self.remotes.get_mut(i) {
                r.fetched.insert(normalized.to_owned());
            }
        }
        Ok(())
    }

    /// Decides whether `name` `version` is vetted.
    pub fn decide(&mut self, name: &str, version: &str) -> Result<Decision, AllowlistError> {
        let n = normalize(name);
        self.ensure_remote(&n)?;
        let Some(entries) = self.entries.get(&n) else {
            let listed = self
                .remotes
                .iter()
                .any(|r| r.names.as_ref().is_some_and(|s| s.contains(&n)));
            return Ok(if listed {
                Decision::VersionNotAllowed(Vec::new())
            } else {
                Decision::NotListed
            });
        };
        if entries.iter().any(|e| e.allows(version)) {
            return Ok(Decision::Allowed);
        }
        let mut versions: Vec<String> = entries
            .iter()
            .map(|e| {
                e.version.clone().unwrap_or_else(|| {
                    e.specifiers
                        .as_ref()
                        .map_or_else(|| "*".to_owned(), ToString::to_string)
                })
            })
            .collect();
        versions.sort();
        versions.dedup();
        Ok(Decision::VersionNotAllowed(versions))
    }

    /// Every vetted (normalised) name known without fetching per-project pages.
    pub fn vetted_names(&self) -> BTreeSet<String> {
        let mut s: BTreeSet<String> = self.entries.keys().cloned().collect();
        for r in &self.remotes {
            if let Some(n) = &r.names {
                s.extend(n.iter().cloned());
            }
        }
        s
    }

    /// The RECORD of a vetted wheel of `name` `version`, preferring a wheel whose tags match
    /// `tags` (the installed WHEEL file's `Tag:` lines). `Ok(None)` when no wheel is reachable.
    pub fn wheel_record(
        &mut self,
        name: &str,
        version: &str,
        tags: &[String],
    ) -> Result<Option<(String, Vec<RecordEntry>)>, AllowlistError> {
        let n = normalize(name);
        self.ensure_remote(&n)?;
        let Some(entries) = self.entries.get(&n) else {
            return Ok(None);
        };
        let mut candidates: Vec<(WheelRef, bool)> = entries
            .iter()
            .filter(|e| e.version.is_some() && e.allows(version))
            .filter_map(|e| {
                let f = e.file.clone()?;
                let wheel_tags = e.tags.clone()?; // wheels only: an sdist has no RECORD
                let matches = tags.iter().any(|t| t == &wheel_tags)
                    || wheel_tags.split('-').collect::<Vec<_>>().len() == 3
                        && tags.iter().any(|t| tag_set_contains(&wheel_tags, t));
                Some((f, matches))
            })
            .collect();
        candidates.sort_by_key(|(_, m)| !*m);
        let Some((file, _)) = candidates.into_iter().next() else {
            return Ok(None);
        };
        let bytes_source = match &file {
            WheelRef::Local(p) => p.display().to_string(),
            WheelRef::Remote { url, .. } => url.clone(),
        };
        let wheel = match &file {
            WheelRef::Local(p) => {
                crate::artifact::Content::file(p.clone()).map_err(|err| AllowlistError::Read {
                    source_name: p.display().to_string(),
                    err,
                })?
            }
            WheelRef::Remote { url, sha256 } => {
                crate::artifact::Content::from_vec(self.http()?.download(url, sha256.as_deref())?)
            }
        };
        let record = read_wheel_record(&wheel).map_err(|message| AllowlistError::Invalid {
            source_name: bytes_source.clone(),
            message,
        })?;
        Ok(Some((bytes_source, record)))
    }
}

/// Whether a compressed tag set (`py2.py3-none-any`) contains the single tag `t` (`py3-none-any`).
fn tag_set_contains(set: &str, t: &str) -> bool {
    let s: Vec<&str> = set.split('-').collect();
    let x: Vec<&str> = t.split('-').collect();
    s.len() == 3 && x.len() == 3 && s.iter().zip(&x).all(|(a, b)| a.split('.').any(|p| p == *b))
}

/// Reads `<name>.dist-info/RECORD` from a wheel (the vetted mirror's own file).
fn read_wheel_record(w: &crate::artifact::Content) -> Result<Vec<RecordEntry>, String> {
    // The walker's own zip reader: one way to read zips in the project.
    let index = crate::walk::read_central_directory(w).map_err(|e| format!("not a wheel: {e}"))?;
    let entry = index
        .entries
        .iter()
        .find(|e| e.name.ends_with(".dist-info/RECORD") && e.name.matches('/').count() == 1)
        .ok_or_else(|| "wheel has no .dist-info/RECORD".to_owned())?;
    let buf = crate::walk::read_member(w, entry, MAX_RECORD).map_err(|e| e.to_string())?;
    Ok(metadata::parse_record(&buf))
}

fn read_capped(p: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::fs::File::open(p)?.take(cap).read_to_end(&mut buf)?;
    Ok(buf)
}

/// `(href, text)` of every `<a>` element in an HTML page (a tolerant scan; simple-index pages are
/// machine-written). Entities `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#39;` are decoded.
pub fn anchors(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut pos = 0usize;
    while let Some(rel) = lower.get(pos..).and_then(|s| s.find("<a")) {
        let start = pos.saturating_add(rel);
        let Some(tag_end) = lower.get(start..).and_then(|s| s.find('>')) else {
            break;
        };
        let tag_end = start.saturating_add(tag_end);
        let tag = html.get(start..tag_end).unwrap_or("");
        let text_end = lower
            .get(tag_end..)
            .and_then(|s| s.find("</a"))
            .map_or(tag_end, |e| tag_end.saturating_add(e));
        let text = html
            .get(tag_end.saturating_add(1)..text_end)
            .unwrap_or("")
            .trim();
        if let Some(href) = attr(tag, "href") {
            out.push((unescape(&href), unescape(text)));
        }
        pos = tag_end.saturating_add(1);
        if out.len() > 1_000_000 {
            break;
        }
    }
    out
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0usize;
    while let Some(i) = lower.get(from..).and_then(|s| s.find(name)) {
        let i = from.saturating_add(i);
        let before_ok = i == 0
            || lower
                .as_bytes()
                .get(i.saturating_sub(1))
                .is_some_and(u8::is_ascii_whitespace);
        let rest = tag.get(i.saturating_add(name.len())..)?.trim_start();
        if before_ok {
            if let Some(v) = rest.strip_prefix('=') {
                let v = v.trim_start();
                return Some(match v.chars().next() {
                    Some(q @ ('"' | '\'')) => v.get(1..)?.split(q).next()?.to_owned(),
                    _ => v.split_whitespace().next()?.to_owned(),
                });
            }
        }
        from = i.saturating_add(name.len());
    }
    None
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// A small blocking HTTP client over reqwest on a private current-thread runtime.
#[derive(Debug)]
struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

const ACCEPT: &str =
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

impl Http {
    fn new() -> Result<Self, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("modelgate/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_mins(2))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { rt, client })
    }

    /// GET `url`; `(status, content type, body)` with the body capped at `cap` bytes.
    fn get(
        &self,
        url: &str,
        accept: &str,
        cap: u64,
        source: &str,
    ) -> Result<(u16, String, Vec<u8>), AllowlistError> {
        let herr = |message: String| AllowlistError::Http {
            source_name: source.to_owned(),
            message,
        };
        self.rt.block_on(async {
            use futures_util::StreamExt as _;
            let resp = self
                .client
                .get(url)
                .header("Accept", accept)
                .send()
                .await
                .map_err(|e| herr(format!("{url}: {e}")))?;
            let status = resp.status().as_u16();
            let ctype = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let mut body = Vec::new();
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| herr(format!("{url}: {e}")))?;
                if (body.len() as u64).saturating_add(chunk.len() as u64) > cap {
                    return Err(herr(format!("{url}: response larger than {cap} bytes")));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, ctype, body))
        })
    }

    /// The normalised project names listed at the index root.
    fn project_list(&self, base: &str, source: &str) -> Result<BTreeSet<String>, AllowlistError> {
        let (status, ctype, body) = self.get(base, ACCEPT, MAX_PAGE, source)?;
        if status != 200 {
            return Err(AllowlistError::Http {
                source_name: source.to_owned(),
                message: format!("{base}: HTTP {status}"),
            });
        }
        if ctype.contains("json") {
            let v: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| AllowlistError::Invalid {
                    source_name: source.to_owned(),
                    message: format!("bad PEP 691 JSON: {e}"),
                })?;
            check_api_version(&v, source)?;
            return Ok(v
                .get("projects")
                .and_then(|p| p.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.get("name").and_then(|n| n.as_str()))
                        .map(normalize)
                        .collect()
                })
                .unwrap_or_default());
        }
        Ok(anchors(&String::from_utf8_lossy(&body))
            .into_iter()
            .map(|(_, text)| normalize(&text))
            .filter(|n| !n.is_empty())
            .collect())
    }

    /// `(filename, absolute url, sha256)` for each file of a project; empty on 404.
    fn project_files(
        &self,
        base: &str,
        normalized: &str,
    ) -> Result<Vec<(String, String, Option<String>)>, AllowlistError> {
        let url = format!("{base}{normalized}/");
        let (status, ctype, body) = self.get(&url, ACCEPT, MAX_PAGE, base)?;
        if status == 404 {
            return Ok(Vec::new());
        }
        if status != 200 {
            return Err(AllowlistError::Http {
                source_name: base.to_owned(),
                message: format!("{url}: HTTP {status}"),
            });
        }
        let page = reqwest::Url::parse(&url).map_err(|e| AllowlistError::Invalid {
            source_name: base.to_owned(),
            message: e.to_string(),
        })?;
        let resolve = |href: &str| {
            page.join(href)
                .map_or_else(|_| href.to_owned(), |u| u.to_string())
        };
        if ctype.contains("json") {
            let v: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| AllowlistError::Invalid {
                    source_name: base.to_owned(),
                    message: format!("bad PEP 691 JSON: {e}"),
                })?;
            check_api_version(&v, base)?;
            return Ok(v
                .get("files")
                .and_then(|f| f.as_array())
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|f| {
                    let filename = f.get("filename")?.as_str()?.to_owned();
                    let url = resolve(f.get("url")?.as_str()?);
                    let sha = f
                        .get("hashes")
                        .and_then(|h| h.get("sha256"))
                        .and_then(|s| s.as_str())
                        .map(str::to_owned);
                    Some((filename, url, sha))
                })
                .collect());
        }
        Ok(anchors(&String::from_utf8_lossy(&body))
            .into_iter()
            .map(|(href, text)| {
                let (u, frag) = href.split_once('#').unwrap_or((href.as_str(), ""));
                let sha = frag.strip_prefix("sha256=").map(str::to_owned);
                let filename = if text.is_empty() {
                    u.rsplit('/').next().unwrap_or(u).to_owned()
                } else {
                    text
                };
                (filename, resolve(u), sha)
            })
            .collect())
    }

    /// Downloads a wheel, verifying its sha256 when the index gave one.
    fn download(&self, url: &str, sha256: Option<&str>) -> Result<Vec<u8>, AllowlistError> {
        let (status, _, body) = self.get(url, "*/*", MAX_WHEEL, url)?;
        if status != 200 {
            return Err(AllowlistError::Http {
                source_name: url.to_owned(),
                message: format!("HTTP {status}"),
            });
        }
        if let Some(expected) = sha256 {
            let actual = hex::encode(Sha256::digest(&body));
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(AllowlistError::Invalid {
                    source_name: url.to_owned(),
                    message: format!("wheel sha256 {actual} differs from the index's {expected}"),
                });
            }
        }
        Ok(body)
    }
}

fn check_api_version(v: &serde_json::Value, source: &str) -> Result<(), AllowlistError> {
    let ver = v
        .get("meta")
        .and_then(|m| m.get("api-version"))
        .and_then(|a| a.as_str())
        .unwrap_or("1.0");
    if ver.split('.').next() != Some("1") {
        return Err(AllowlistError::Invalid {
            source_name: source.to_owned(),
            message: format!("unsupported simple API version {ver}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_scan() {
        let a = anchors(
            "<html><a href=\"../../files/six-1.16.0-py2.py3-none-any.whl#sha256=ab\">six-1.16.0-py2.py3-none-any.whl</a><br/><A HREF='x.tar.gz?a=1&amp;b=2' data-requires-python=\"&gt;=3\">x-1.0.tar.gz</A>",
        );
        assert_eq!(a.len(), 2);
        assert_eq!(
            a.first().map(|x| x.0.as_str()),
            Some("../../files/six-1.16.0-py2.py3-none-any.whl#sha256=ab")
        );
        assert_eq!(a.get(1).map(|x| x.0.as_str()), Some("x.tar.gz?a=1&b=2"));
    }

    #[test]
    fn version_matching() {
        let e = Allowed {
            version: Some("1.0".into()),
            specifiers: None,
            file: None,
            tags: None,
            source: String::new(),
        };
        assert!(e.allows("1.0.0"));
        assert!(e.allows("1.0"));
        assert!(!e.allows("1.0.1"));
        assert!(!e.allows("1.0+local"));
        let s = Allowed {
            version: None,
            specifiers: VersionSpecifiers::from_str(">=2,<3").ok(),
            file: None,
            tags: None,
            source: String::new(),
        };
        assert!(s.allows("2.5"));
        assert!(!s.allows("3.0"));
        assert!(tag_set_contains("py2.py3-none-any", "py3-none-any"));
    }

    #[test]
    fn native_format() {
        let mut a = Allowlist::default();
        a.add_native(
            "allowlist-version = 1\n[[package]]\nname = \"Six\"\nversion = \"1.16.0\"\n[[package]]\nname = \"numpy\"\nspecifier = \">=2\"\n",
            "x.toml",
        )
        .expect("native");
        assert_eq!(
            a.decide("six", "1.15").ok(),
            Some(Decision::VersionNotAllowed(vec!["1.16.0".into()]))
        );
        assert_eq!(a.decide("SIX", "1.16.0").ok(), Some(Decision::Allowed));
        assert_eq!(a.decide("numpy", "2.1").ok(), Some(Decision::Allowed));
        assert_eq!(a.decide("torch", "2.1").ok(), Some(Decision::NotListed));
        assert!(a.add_native("allowlist-version = 2\n", "y.toml").is_err());
    }
}
