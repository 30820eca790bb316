//! Parsers for installed-package metadata (recording-installed-packages spec, PEP 376/610/627),
//! distribution file names (wheel and sdist), and conda-meta records. All of them read small
//! files held in memory and tolerate garbage: a malformed record yields `None` or fewer entries,
//! never a panic.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use base64::Engine as _;

/// Most header lines read from one METADATA / PKG-INFO file.
const MAX_HEADER_LINES: usize = 10_000;

/// `Name`, `Version` and the other single-valued core-metadata headers we use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreMetadata {
    pub name: Option<String>,
    pub version: Option<String>,
}

/// Parses the RFC 822-style header block of a METADATA or PKG-INFO file.
pub fn parse_core_metadata(bytes: &[u8]) -> CoreMetadata {
    let text = String::from_utf8_lossy(bytes);
    let mut out = CoreMetadata::default();
    for line in text.lines().take(MAX_HEADER_LINES) {
        if line.trim().is_empty() {
            break; // the body (long description) starts here
        }
        if line.starts_with([' ', '\t']) {
            continue; // continuation of a multi-line header we do not use
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if key.eq_ignore_ascii_case("name") && out.name.is_none() && !value.is_empty() {
            out.name = Some(value.to_owned());
        } else if key.eq_ignore_ascii_case("version") && out.version.is_none() && !value.is_empty()
        {
            out.version = Some(value.to_owned());
        }
    }
    out
}

/// One row of a RECORD file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEntry {
    /// The path as written (relative to the directory holding the `.dist-info`, `/`-separated).
    pub path: String,
    /// `(algorithm, urlsafe-base64 digest without padding)`, when a hash is recorded.
    pub hash: Option<(String, String)>,
    pub size: Option<u64>,
}

impl RecordEntry {
    /// The recorded sha256 as raw bytes, if the entry has one.
    pub fn sha256(&self) -> Option<[u8; 32]> {
        let (alg, digest) = self.hash.as_ref()?;
        if !alg.eq_ignore_ascii_case("sha256") {
            return None;
        }
        decode_record_digest(digest)
    }
}

/// Decodes a RECORD digest (urlsafe base64, padding optional) into 32 bytes.
pub fn decode_record_digest(s: &str) -> Option<[u8; 32]> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let v = engine.decode(s.trim()).ok()?;
    v.try_into().ok()
}

/// The RECORD form of a sha256 digest: urlsafe base64 without padding.
pub fn encode_record_digest(d: &[u8; 32]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)
}

/// Most rows read from one RECORD.
const MAX_RECORD_ROWS: usize = 1_000_000;

/// Parses a RECORD (CSV: path, hash, size). Unparseable rows are skipped.
pub fn parse_record(bytes: &[u8]) -> Vec<RecordEntry> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut out = Vec::new();
    for row in rdr.byte_records().take(MAX_RECORD_ROWS) {
        let Ok(row) = row else { continue };
        let Some(path) = row.get(0) else { continue };
        let path = String::from_utf8_lossy(path).trim().to_owned();
        if path.is_empty() {
            continue;
        }
        let hash = row
            .get(1)
            .map(|h| String::from_utf8_lossy(h).trim().to_owned())
            .and_then(|h| {
                h.split_once('=')
                    .map(|(a, d)| (a.to_owned(), d.to_owned()))
                    .filter(|(a, d)| !a.is_empty() && !d.is_empty())
            });
        let size = row
            .get(2)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.trim().parse().ok());
        out.push(RecordEntry { path, hash, size });
    }
    out
}

/// The origin recorded in `direct_url.json` (PEP 610), summarised for the report.
pub fn parse_direct_url(bytes: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let url = v.get("url").and_then(|u| u.as_str()).unwrap_or("");
    let kind = if v.get("vcs_info").is_some() {
        "vcs"
    } else if v
        .get("dir_info")
        .and_then(|d| d.get("editable"))
        .and_then(serde_json::Value::as_bool)
        == Some(true)
    {
        "editable"
    } else if v.get("dir_info").is_some() {
        "directory"
    } else {
        "archive"
    };
    Some(format!("{kind}: {url}"))
}

/// A conda-meta record (`conda-meta/<name>-<version>-<build>.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondaRecord {
    pub name: String,
    pub version: String,
    pub build: Option<String>,
    pub channel: Option<String>,
}

pub fn parse_conda_meta(bytes: &[u8]) -> Option<CondaRecord> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    Some(CondaRecord {
        name: s("name")?,
        version: s("version")?,
        build: s("build"),
        channel: s("channel").or_else(|| s("schannel")),
    })
}

/// Name and version parsed from a distribution file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFile {
    pub name: String,
    pub version: String,
    /// Compatibility tags (`py3-none-any`), wheels only.
    pub tags: Option<String>,
    pub is_wheel: bool,
}

/// Parses `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl` or
/// `{name}-{version}.tar.gz` / `.zip` (sdist). Returns `None` for other files.
pub fn parse_dist_filename(filename: &str) -> Option<DistFile> {
    let base = filename.rsplit('/').next().unwrap_or(filename);
    if let Some(stem) = base.strip_suffix(".whl") {
        let parts: Vec<&str> = stem.split('-').collect();
        if !(5..=6).contains(&parts.len()) {
            return None;
        }
        let n = parts.len();
        let tags = parts.get(n.checked_sub(3)?..)?.join("-");
        return Some(DistFile {
            name: (*parts.first()?).to_owned(),
            version: (*parts.get(1)?).to_owned(),
            tags: Some(tags),
            is_wheel: true,
        });
    }
    let stem = [".tar.gz", ".zip", ".tar.bz2", ".tgz"]
        .iter()
        .find_map(|s| base.strip_suffix(s))?;
    // sdist names may contain '-' in unnormalised old uploads: the version starts at the last '-'
    // that is followed by a digit.
    let idx = stem
        .char_indices()
        .filter(|(i, c)| {
            *c == '-'
                && stem
                    .get(i.saturating_add(1)..)
                    .and_then(|r| r.chars().next())
                    .is_some_and(|d| d.is_ascii_digit())
        })
        .map(|(i, _)| i)
        .next_back()?;
    let name = stem.get(..idx)?;
    let version = stem.get(idx.saturating_add(1)..)?;
    if name.is_empty() || version.is_empty() {
        return None;
    }
    Some(DistFile {
        name: name.to_owned(),
        version: version.to_owned(),
        tags: None,
        is_wheel: false,
    })
}

/// Name and version from a `.dist-info` / `.egg-info` directory name, used when METADATA lacks
/// them (`six-1.16.0.dist-info`, `foo-1.0-py3.11.egg-info`).
pub fn parse_info_dirname(dir: &str) -> Option<(String, String)> {
    let stem = dir
        .strip_suffix(".dist-info")
        .or_else(|| dir.strip_suffix(".egg-info"))?;
    let mut parts = stem.splitn(3, '-');
    let name = parts.next()?.to_owned();
    let version = parts.next()?.to_owned();
    (!name.is_empty() && !version.is_empty()).then_some((name, version))
}

/// The `Tag:` lines of a WHEEL file (`py3-none-any`).
pub fn parse_wheel_tags(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .take(1000)
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("tag"))
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_headers() {
        let m = parse_core_metadata(
            b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nSummary: x\n  more\n\nName: body\n",
        );
        assert_eq!(m.name.as_deref(), Some("six"));
        assert_eq!(m.version.as_deref(), Some("1.16.0"));
    }

    #[test]
    fn record_rows() {
        let r = parse_record(
            b"six.py,sha256=1e61c37477a1626ab5bd0ed5386d4bcbaa5f1ba87d3f8b4e2d6a2f2c1e2e1e0f,34549\n\"a,b.py\",,\nsix-1.16.0.dist-info/RECORD,,\n",
        );
        assert_eq!(r.len(), 3);
        assert_eq!(r.first().map(|e| e.size), Some(Some(34549)));
        assert_eq!(r.get(1).map(|e| e.path.as_str()), Some("a,b.py"));
        assert!(r.get(2).is_some_and(|e| e.hash.is_none()));
    }

    #[test]
    fn dist_filenames() {
        let w = parse_dist_filename("six-1.16.0-py2.py3-none-any.whl").expect("wheel");
        assert_eq!((w.name.as_str(), w.version.as_str()), ("six", "1.16.0"));
        assert_eq!(w.tags.as_deref(), Some("py2.py3-none-any"));
        let s = parse_dist_filename("python-dateutil-2.9.0.tar.gz").expect("sdist");
        assert_eq!(
            (s.name.as_str(), s.version.as_str()),
            ("python-dateutil", "2.9.0")
        );
        assert!(parse_dist_filename("README.md").is_none());
        assert_eq!(
            parse_info_dirname("typing_extensions-4.12.2.dist-info"),
            Some(("typing_extensions".into(), "4.12.2".into()))
        );
    }

    #[test]
    fn digests_roundtrip() {
        let d = [7u8; 32];
        assert_eq!(decode_record_digest(&encode_record_digest(&d)), Some(d));
        assert_eq!(decode_record_digest("!!"), None);
    }
}
