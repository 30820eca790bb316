//! Readers for the files that *declare* Python packages: pip requirement files (with `--hash`
//! options), `pylock.toml` (PEP 751) and `uv.lock`. They serve twice: as allowlist sources (a
//! hashed lockfile is a vetted set) and as secondary evidence found next to models in an image.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::str::FromStr;

use pep440_rs::{Operator, VersionSpecifiers};

/// Most logical lines read from one requirement file.
const MAX_LINES: usize = 100_000;

/// One declared requirement or locked package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// As written.
    pub name: String,
    /// The exact version when pinned with `==` / `===` (or given by a lockfile).
    pub version: Option<String>,
    /// The specifier as written when not an exact pin (`>=1.0`), or `None`.
    pub specifier: Option<String>,
    /// `sha256:<hex>` strings (from `--hash` or lockfile hashes).
    pub hashes: Vec<String>,
    /// A URL, VCS or path source instead of an index (`pkg @ https://...`, `-e ./dir`).
    pub direct: Option<String>,
    /// 1-based line in the file (requirement files), 0 for lockfiles.
    pub line: usize,
}

/// Which kind of declaration file a name denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    Requirements,
    Pylock,
    UvLock,
}

/// Classifies a file by its base name: `requirements*.txt` (and `*.in`), `pylock.toml` /
/// `pylock.<name>.toml`, `uv.lock`.
pub fn lock_kind(base: &str) -> Option<LockKind> {
    let lower = base.to_ascii_lowercase();
    if lower == "uv.lock" {
        Some(LockKind::UvLock)
    } else if lower == "pylock.toml" || (lower.starts_with("pylock.") && lower.ends_with(".toml")) {
        Some(LockKind::Pylock)
    } else if (lower.contains("requirements") || lower.starts_with("constraints"))
        && (lower.ends_with(".txt") || lower.ends_with(".in"))
    {
        Some(LockKind::Requirements)
    } else {
        None
    }
}

/// Errors reading a lockfile used as an allowlist.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("invalid TOML: {0}")]
    Toml(String),
    #[error("unsupported {file} version {version:?}")]
    Version { file: &'static str, version: String },
}

/// Parses a pip requirements file. Option lines (`-r`, `--index-url`, …) are skipped except `-e`,
/// which is a direct (editable) requirement.
pub fn parse_requirements(text: &str) -> Vec<Declared> {
    let mut out = Vec::new();
    let mut logical = String::new();
    let mut start_line = 0usize;
    for (i, raw) in text.lines().enumerate().take(MAX_LINES) {
        if logical.is_empty() {
            start_line = i.saturating_add(1);
        }
        let line = strip_comment(raw);
        if let Some(cont) = line.trim_end().strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let l = std::mem::take(&mut logical);
        if let Some(d) = parse_requirement_line(l.trim(), start_line) {
            out.push(d);
        }
    }
    if !logical.trim().is_empty() {
        if let Some(d) = parse_requirement_line(logical.trim(), start_line) {
            out.push(d);
        }
    }
    out
}

fn strip_comment(line: &str) -> &str {
    // A comment starts at '#' at the line start or after whitespace (a URL fragment is not one).
    let mut prev_ws = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_ws {
            return line.get(..i).unwrap_or(line);
        }
        prev_ws = c.is_whitespace();
    }
    line
}

fn parse_requirement_line(line: &str, lineno: usize) -> Option<Declared> {
    if line.is_empty() {
        return None;
    }
    let mut hashes = Vec::new();
    let mut req = String::new();
    let mut editable = false;
    let mut tokens = line.split_whitespace().peekable();
    while let Some(t) = tokens.next() {
        if let Some(h) = t.strip_prefix("--hash=") {
            hashes.push(h.to_owned());
        } else if t == "--hash" {
            if let Some(h) = tokens.next() {
                hashes.push(h.to_owned());
            }
        } else if t == "-e" || t == "--editable" {
            editable = true;
        } else if t.starts_with('-') && req.is_empty() && !editable {
            return None; // -r, -c, --index-url ... : not a requirement
        } else if t.starts_with("--") {
            // per-requirement options such as --config-settings: skip the option (and its value
            // when given separately)
            if !t.contains('=') {
                tokens.next();
            }
        } else {
            if !req.is_empty() {
                req.push(' ');
            }
            req.push_str(t);
        }
    }
    if req.is_empty() {
        return None;
    }
    if editable {
        return Some(Declared {
            name: egg_name(&req).unwrap_or_else(|| req.clone()),
            version: None,
            specifier: None,
            hashes,
            direct: Some(req),
            line: lineno,
        });
    }
    let (name, rest) = split_name(&req)?;
    let rest = rest.split(';').next().unwrap_or("").trim();
    if let Some(url) = rest.strip_prefix('@') {
        return Some(Declared {
            name,
            version: None,
            specifier: None,
            hashes,
            direct: Some(url.trim().to_owned()),
            line: lineno,
        });
    }
    let spec = rest.trim_start_matches('(').trim_end_matches(')').trim();
    let (version, specifier) = exact_pin(spec);
    Some(Declared {
        name,
        version,
        specifier,
        hashes,
        direct: None,
        line: lineno,
    })
}

/// `#egg=name` of an editable VCS/path requirement.
fn egg_name(req: &str) -> Option<String> {
    let frag = req.split_once("#egg=")?.1;
    let name: String = frag
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Splits `name[extras] spec` into the name and the rest (extras dropped).
fn split_name(req: &str) -> Option<(String, &str)> {
    let end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(req.len());
    let name = req.get(..end)?;
    if name.is_empty() {
        return None;
    }
    let mut rest = req.get(end..)?.trim_start();
    if rest.starts_with('[') {
        rest = rest.split_once(']').map_or("", |(_, r)| r);
    }
    Some((name.to_owned(), rest))
}

/// `(Some(version), None)` for `==1.2` / `===1.2`; `(None, Some(spec))` otherwise.
fn exact_pin(spec: &str) -> (Option<String>, Option<String>) {
    if spec.is_empty() {
        return (None, None);
    }
    if let Some(v) = spec.strip_prefix("===") {
        return (Some(v.trim().to_owned()), None);
    }
    if let Ok(specs) = VersionSpecifiers::from_str(spec) {
        if let [one] = &*specs {
            if *one.operator() == Operator::Equal {
                return (Some(one.version().to_string()), None);
            }
        }
    }
    (None, Some(spec.to_owned()))
}

/// Parses `pylock.toml` (PEP 751). An unknown major `lock-version` is an error, as the spec requires.
pub fn parse_pylock(text: &str) -> Result<Vec<Declared>, LockError> {
    let v: toml::Value = toml::from_str(text).map_err(|e| LockError::Toml(e.to_string()))?;
    let lv = v
        .get("lock-version")
        .and_then(toml::Value::as_str)
        .unwrap_or("");
    if lv.split('.').next() != Some("1") {
        return Err(LockError::Version {
            file: "pylock.toml",
            version: lv.to_owned(),
        });
    }
    let mut out = Vec::new();
    for p in v
        .get("packages")
        .and_then(toml::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let Some(name) = p.get("name").and_then(toml::Value::as_str) else {
            continue;
        };
        let mut hashes = Vec::new();
        let mut collect = |t: &toml::Value| {
            if let Some(h) = t
                .get("hashes")
                .and_then(|h| h.get("sha256"))
                .and_then(toml::Value::as_str)
            {
                hashes.push(format!("sha256:{h}"));
            }
        };
        if let Some(s) = p.get("sdist") {
            collect(s);
        }
        for w in p
            .get("wheels")
            .and_then(toml::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            collect(w);
        }
        if let Some(a) = p.get("archive") {
            collect(a);
        }
        let direct = ["vcs", "directory", "archive"].iter().find_map(|k| {
            p.get(*k).map(|t| {
                let url = t
                    .get("url")
                    .or_else(|| t.get("path"))
                    .and_then(toml::Value::as_str)
                    .unwrap_or("");
                format!("{k}: {url}")
            })
        });
        out.push(Declared {
            name: name.to_owned(),
            version: p
                .get("version")
                .and_then(toml::Value::as_str)
                .map(str::to_owned),
            specifier: None,
            hashes,
            direct,
            line: 0,
        });
    }
    Ok(out)
}

/// Parses `uv.lock` (`version = 1`, `[[package]]` with `source`, `sdist`, `wheels`).
pub fn parse_uv_lock(text: &str) -> Result<Vec<Declared>, LockError> {
    let v: toml::Value = toml::from_str(text).map_err(|e| LockError::Toml(e.to_string()))?;
    if let Some(ver) = v.get("version").and_then(toml::Value::as_integer) {
        if ver != 1 {
            return Err(LockError::Version {
                file: "uv.lock",
                version: ver.to_string(),
            });
        }
    }
    let mut out = Vec::new();
    for p in v
        .get("package")
        .and_then(toml::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let Some(name) = p.get("name").and_then(toml::Value::as_str) else {
            continue;
        };
        let mut hashes = Vec::new();
        if let Some(h) = p
            .get("sdist")
            .and_then(|s| s.get("hash"))
            .and_then(toml::Value::as_str)
        {
            hashes.push(h.to_owned());
        }
        for w in p
            .get("wheels")
            .and_then(toml::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let Some(h) = w.get("hash").and_then(toml::Value::as_str) {
                hashes.push(h.to_owned());
            }
        }
        let source = p.get("source");
        let direct = source.and_then(|s| {
            ["git", "url", "path", "directory", "editable"]
                .iter()
                .find_map(|k| {
                    s.get(*k)
                        .and_then(toml::Value::as_str)
                        .map(|u| format!("{k}: {u}"))
                })
        });
        // The project itself appears as a `virtual`/`editable` source: not a third-party package.
        if source.is_some_and(|s| s.get("virtual").is_some()) {
            continue;
        }
        out.push(Declared {
            name: name.to_owned(),
            version: p
                .get("version")
                .and_then(toml::Value::as_str)
                .map(str::to_owned),
            specifier: None,
            hashes,
            direct,
            line: 0,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements() {
        let r = parse_requirements(
            "# c\nsix==1.16.0 \\\n    --hash=sha256:aa --hash=sha256:bb\nrequests>=2\n-r other.txt\n--index-url https://x/simple\nfoo[bar]==1.0 ; python_version>'3'\n-e git+https://x/y.git#egg=yy\nbaz @ https://x/baz.whl\nattrs\n",
        );
        let names: Vec<_> = r.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["six", "requests", "foo", "yy", "baz", "attrs"]);
        let six = r.first().expect("six");
        assert_eq!(six.version.as_deref(), Some("1.16.0"));
        assert_eq!(six.hashes, ["sha256:aa", "sha256:bb"]);
        assert_eq!(six.line, 2);
        assert_eq!(r.get(1).and_then(|d| d.specifier.as_deref()), Some(">=2"));
        assert_eq!(r.get(2).and_then(|d| d.version.as_deref()), Some("1.0"));
        assert!(r.get(3).is_some_and(|d| d.direct.is_some()));
        assert!(r.get(4).is_some_and(|d| d.direct.is_some()));
        assert!(r
            .get(5)
            .is_some_and(|d| d.version.is_none() && d.specifier.is_none()));
    }

    #[test]
    fn pylock_and_uv() {
        let p = parse_pylock(
            "lock-version = \"1.0\"\n[[packages]]\nname = \"six\"\nversion = \"1.16.0\"\n[[packages.wheels]]\nname = \"six-1.16.0-py2.py3-none-any.whl\"\nhashes = {sha256 = \"ab\"}\n",
        )
        .expect("pylock");
        assert_eq!(p.len(), 1);
        assert_eq!(
            p.first().map(|d| d.hashes.clone()),
            Some(vec!["sha256:ab".to_owned()])
        );
        assert!(parse_pylock("lock-version = \"2.0\"\n").is_err());
        let u = parse_uv_lock(
            "version = 1\n[[package]]\nname = \"six\"\nversion = \"1.16.0\"\nsource = { registry = \"https://pypi.org/simple\" }\nwheels = [{ url = \"x\", hash = \"sha256:cd\" }]\n[[package]]\nname = \"me\"\nversion = \"0.1.0\"\nsource = { virtual = \".\" }\n",
        )
        .expect("uv");
        assert_eq!(u.len(), 1);
        assert_eq!(
            lock_kind("requirements-dev.txt"),
            Some(LockKind::Requirements)
        );
        assert_eq!(lock_kind("pylock.cuda.toml"), Some(LockKind::Pylock));
        assert_eq!(lock_kind("Cargo.toml"), None);
    }
}
