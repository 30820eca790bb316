//! Python package inventory and allowlist vetting.
//!
//! The inventory is built from a filesystem view ([`FsView`]): the final, whiteout-applied view of
//! a container image, or a directory on disk. Installed distributions come from `*.dist-info`
//! (METADATA, RECORD, INSTALLER, WHEEL, direct_url.json), `*.egg-info` (PKG-INFO) and
//! `conda-meta/*.json`; requirement files, `pylock.toml` and `uv.lock` found next to model files
//! are secondary evidence (declared, not installed).
//!
//! With an [`Allowlist`], every installed distribution is vetted: not listed, wrong version,
//! confusable with a vetted name, installed from a direct URL, files that differ from the
//! package's own RECORD, and files that differ from the RECORD of the vetted mirror's wheel.
//! Start-up hooks (`.pth` code lines, `sitecustomize`) that no package owns are reported with or
//! without an allowlist ([`hooks`]).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codes::Code;
use crate::finding::Sink;
use crate::finding::{Finding, Location, Severity};

pub mod allowlist;
pub mod hooks;
pub mod lockfiles;
pub mod metadata;
pub mod names;

pub use allowlist::{Allowlist, AllowlistError, Decision};

/// Largest metadata file kept in memory for the inventory (METADATA, RECORD, lockfiles).
pub const MAX_CAPTURE: u64 = 32 * 1024 * 1024;
/// Most per-file findings reported for one package (the rest are counted in the last one).
const MAX_FILE_FINDINGS: usize = 50;

pub use crate::finding::{Package, PackageKind};

pub const UNVETTED: Code = Code {
    id: "package/unvetted",
    severity: Severity::High,
    summary: "A Python package is not in the allowlist mirror.",
    detects: "An installed distribution (dist-info, egg-info) whose normalised name appears in none of the allowlist sources. Declared requirements next to a model are reported at medium.",
    why: "Regulated environments install only vetted packages from a private mirror. A package from anywhere else bypassed that review and runs with the model's privileges when imported.",
    example: "`site-packages/fastjsonx-0.1.dist-info` in an image whose mirror only has `fastjson`.",
    remediation: "Remove the package, or have it vetted and added to the mirror, then rebuild the image from the mirror only (`pip install --index-url <mirror> --require-hashes`).",
    references: &["https://packaging.python.org/en/latest/specifications/simple-repository-api/"],
};

pub const VERSION_NOT_ALLOWED: Code = Code {
    id: "package/version-not-allowed",
    severity: Severity::High,
    summary: "A vetted Python package is installed in a version the allowlist does not contain.",
    detects: "The normalised name is in the allowlist but no entry allows the installed PEP 440 version (local variants such as `+cu121` must match exactly).",
    why: "Vetting covers specific releases. A different version was not reviewed and may be a compromised or yanked release.",
    example: "`requests 2.31.0` installed while the mirror only carries `requests 2.32.3`.",
    remediation: "Install a vetted version from the mirror, or get this version vetted.",
    references: &["https://packaging.python.org/en/latest/specifications/version-specifiers/"],
};

pub const TAMPERED: Code = Code {
    id: "package/tampered",
    severity: Severity::Critical,
    summary: "An installed file differs from the vetted wheel of the same name and version.",
    detects: "An installed file whose sha256 differs from the RECORD of the mirror's wheel for that version, or an installed RECORD entry the vetted wheel does not contain. Install-time files (INSTALLER, REQUESTED, direct_url.json, RECORD, bytecode, scripts) are excluded.",
    why: "The package has the right name and version but not the vetted content: it was modified after install or installed from a look-alike artifact. Name/version checks alone cannot see this.",
    example: "`site-packages/six.py` edited in a later image layer to add an import hook.",
    remediation: "Rebuild the image from the mirror; find out which build step modified the package.",
    references: &["https://packaging.python.org/en/latest/specifications/recording-installed-packages/"],
};

pub const RECORD_MISMATCH: Code = Code {
    id: "package/record-mismatch",
    severity: Severity::High,
    summary: "An installed file differs from the hash in its own package's RECORD.",
    detects: "A file listed in a dist-info RECORD with a sha256 that does not match the file's bytes in the final filesystem.",
    why: "pip writes RECORD at install time; a different hash means the file changed afterwards (a later layer, a build step, an attacker).",
    example: "RECORD says `six.py,sha256=...,34549` but the file in the image has other bytes.",
    remediation: "Reinstall the package from the mirror and find out what modified the file.",
    references: &["https://packaging.python.org/en/latest/specifications/recording-installed-packages/"],
};

pub const LOOKALIKE: Code = Code {
    id: "package/lookalike",
    severity: Severity::Critical,
    summary: "An unvetted package name is confusable with a vetted one (typosquatting).",
    detects: "An unvetted name that equals a vetted name after removing separators, after folding Unicode confusables and ASCII homoglyphs, or within a small Damerau–Levenshtein distance.",
    why: "Typosquats (`reqeusts`, `torch-vision`) are the most common malicious-package technique on PyPI; they run their payload at install or import.",
    example: "`reqeusts 2.31.0` installed next to a mirror that vets `requests`.",
    remediation: "Remove the package and the requirement that pulled it in; check the host for compromise (install-time code ran).",
    references: &["https://packaging.python.org/en/latest/specifications/name-normalization/"],
};

pub const DIRECT_URL: Code = Code {
    id: "package/direct-url",
    severity: Severity::High,
    summary: "A package was installed from a URL, VCS checkout or local directory, not an index.",
    detects: "A `direct_url.json` in the dist-info (PEP 610). High when an allowlist is in force; without one it is an info-level inventory note (editable installs of the application itself are common).",
    why: "Such installs bypass the mirror and its vetting: the content is whatever the URL served at build time.",
    example: "`pip install git+https://github.com/x/y` recorded as `vcs_info` in direct_url.json.",
    remediation: "Publish the package to the mirror after review and install it from there.",
    references: &["https://packaging.python.org/en/latest/specifications/direct-url/"],
};

pub const UNPINNED: Code = Code {
    id: "package/unpinned-requirement",
    severity: Severity::Low,
    summary: "A requirement file next to a model does not pin exact versions.",
    detects: "Requirement lines without `==` (or with a URL) in `requirements*.txt` found in a directory holding model files; lock entries without a version.",
    why: "Whoever installs the model's requirements later gets whatever version is newest, not the one that was reviewed.",
    example: "`torch>=2` in `models/requirements.txt`.",
    remediation: "Pin exact versions and add hashes (`pip-compile --generate-hashes`, `uv export`).",
    references: &["https://pip.pypa.io/en/stable/topics/secure-installs/"],
};

pub const UNHASHED: Code = Code {
    id: "package/unhashed-requirement",
    severity: Severity::Low,
    summary: "Pinned requirements next to a model carry no hashes.",
    detects: "`==` pinned requirement lines without `--hash` in a requirement file found next to model files, or lock entries without hashes.",
    why: "Without hashes, a compromised index or mirror can serve different bytes for the same version.",
    example: "`numpy==2.1.3` with no `--hash=sha256:` option.",
    remediation: "Generate hashes (`pip-compile --generate-hashes`, `uv export --format requirements-txt`) and install with `--require-hashes`.",
    references: &["https://pip.pypa.io/en/stable/topics/secure-installs/"],
};

/// Codes raised by the package inventory.
pub static CODES: &[&Code] = &[
    &UNVETTED,
    &VERSION_NOT_ALLOWED,
    &TAMPERED,
    &RECORD_MISMATCH,
    &LOOKALIKE,
    &DIRECT_URL,
    &UNPINNED,
    &UNHASHED,
    &hooks::STARTUP_HOOK,
];

/// One file of a filesystem view.
#[derive(Debug, Clone)]
pub struct ViewFile {
    /// Where it lives: `image → platform → layer digest → path`, or a disk path.
    pub location: Location,
    pub size: u64,
    /// Captured content (metadata and lock files only, see [`wants_content`]).
    pub data: Option<Arc<[u8]>>,
    /// sha256 computed while the layer was at hand (files named in a RECORD).
    pub sha256: Option<[u8; 32]>,
    /// For directory views: the file on disk, hashed on demand.
    pub disk: Option<PathBuf>,
}

impl ViewFile {
    fn digest(&self) -> Option<[u8; 32]> {
        if let Some(d) = self.sha256 {
            return Some(d);
        }
        let p = self.disk.as_ref()?;
        let mut f = std::fs::File::open(p).ok()?;
        crate::hash::sha256_reader(&mut f).ok()
    }
}

/// A filesystem view: normalised path (no leading `/` or `./`) → file.
#[derive(Debug, Clone, Default)]
pub struct FsView {
    pub files: BTreeMap<String, ViewFile>,
}

/// Normalises a tar or RECORD path: `/`-separated, no leading `./` or `/`, `.` segments dropped,
/// `..` resolved; `None` when it climbs above the root.
pub fn normalize_path(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s),
        }
    }
    Some(out.join("/"))
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Whether the inventory needs the content of `path` (metadata and declaration files, start-up
/// hooks and the file lists that own them).
pub fn wants_content(path: &str) -> bool {
    if hooks::wants_content(path) {
        return true;
    }
    let base = base_name(path);
    let dir = base_name(parent_dir(path));
    if dir.ends_with(".dist-info") {
        return matches!(
            base,
            "METADATA" | "RECORD" | "INSTALLER" | "WHEEL" | "direct_url.json"
        );
    }
    if dir.ends_with(".egg-info") || dir == "EGG-INFO" {
        return base == "PKG-INFO";
    }
    if base.ends_with(".egg-info") {
        return true; // single-file egg-info (distutils) holds PKG-INFO content
    }
    if dir == "conda-meta" && base.ends_with(".json") {
        return true;
    }
    lockfiles::lock_kind(base).is_some()
}

/// Whether a file name looks like a model artifact (used to find requirement files "next to" a
/// model). Site-packages content never counts (`.pth` there is a path hook, not a model).
pub fn is_model_like(path: &str) -> bool {
    if path.contains("site-packages/") || path.contains("dist-packages/") {
        return false;
    }
    let base = base_name(path).to_ascii_lowercase();
    let ext = base.rsplit_once('.').map_or("", |(_, e)| e);
    // Beyond what loaders are pointed at: generic weight names (`.bin`, `.model`) and Flax/Core ML
    // files, which a requirements file may equally sit beside.
    crate::format::model_like_name(&base) || matches!(ext, "bin" | "msgpack" | "mlmodel" | "model")
}

/// The installed paths (normalised) that the RECORD files in `view` list, so an image reader can
/// hash exactly these while a layer is at hand.
pub fn record_targets(view: &FsView) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (path, f) in &view.files {
        if base_name(path) != "RECORD" || !base_name(parent_dir(path)).ends_with(".dist-info") {
            continue;
        }
        let Some(data) = &f.data else { continue };
        let root = parent_dir(parent_dir(path));
        for e in metadata::parse_record(data) {
            if e.hash.is_none() {
                continue;
            }
            if let Some(p) = join(root, &e.path) {
                out.insert(p);
            }
        }
    }
    out
}

fn join(root: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return normalize_path(rel);
    }
    normalize_path(&format!("{root}/{rel}"))
}

/// Builds a view of a directory tree (for `modelgate packages DIR` and directory scans).
pub fn view_of_directory(root: &Path, display: &str) -> FsView {
    let mut view = FsView::default();
    for e in walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
    {
        if !e.file_type().is_file() {
            continue;
        }
        let Ok(rel) = e.path().strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        let Some(rel) = normalize_path(&rel) else {
            continue;
        };
        let size = e.metadata().map_or(0, |m| m.len());
        let data = if wants_content(&rel) && size <= MAX_CAPTURE {
            let mut buf = Vec::new();
            std::fs::File::open(e.path())
                .and_then(|f| f.take(MAX_CAPTURE).read_to_end(&mut buf))
                .ok()
                .map(|_| Arc::from(buf))
        } else {
            None
        };
        let location = Location::file(format!("{}/{rel}", display.trim_end_matches('/')));
        view.files.insert(
            rel,
            ViewFile {
                location,
                size,
                data,
                sha256: None,
                disk: Some(e.path().to_path_buf()),
            },
        );
    }
    view
}

/// One installed distribution found in a view.
struct Installed {
    pkg: Package,
    /// Path of the `.dist-info` directory (for RECORD-relative paths).
    info_dir: Option<String>,
    record: Vec<metadata::RecordEntry>,
    record_location: Option<Location>,
    wheel_tags: Vec<String>,
}

fn installed(view: &FsView) -> Vec<Installed> {
    let mut out = Vec::new();
    let text = |p: &str| {
        view.files
            .get(p)
            .and_then(|f| f.data.as_ref())
            .map(|d| String::from_utf8_lossy(d).trim().to_owned())
    };
    let mut seen_info: BTreeSet<&str> = BTreeSet::new();
    for (path, f) in &view.files {
        let base = base_name(path);
        let dir = parent_dir(path);
        let dirname = base_name(dir);
        let Some(data) = &f.data else { continue };
        if base == "METADATA" && dirname.ends_with(".dist-info") {
            if !seen_info.insert(dir) {
                continue;
            }
            let md = metadata::parse_core_metadata(data);
            let fallback = metadata::parse_info_dirname(dirname);
            let (Some(name), Some(version)) = (
                md.name.or_else(|| fallback.as_ref().map(|f| f.0.clone())),
                md.version
                    .or_else(|| fallback.as_ref().map(|f| f.1.clone())),
            ) else {
                continue;
            };
            let record_path = format!("{dir}/RECORD");
            let record_file = view.files.get(&record_path);
            let record = record_file
                .and_then(|r| r.data.as_ref())
                .map(|d| metadata::parse_record(d))
                .unwrap_or_default();
            let direct_url = view
                .files
                .get(&format!("{dir}/direct_url.json"))
                .and_then(|d| d.data.as_ref())
                .and_then(|d| metadata::parse_direct_url(d));
            let wheel_tags = view
                .files
                .get(&format!("{dir}/WHEEL"))
                .and_then(|d| d.data.as_ref())
                .map(|d| metadata::parse_wheel_tags(d))
                .unwrap_or_default();
            let mut location = f.location.clone();
            if let Some(last) = location.inner.last_mut() {
                dir.clone_into(last);
            } else {
                let p = parent_dir(&location.path).to_owned();
                location.path = p;
            }
            out.push(Installed {
                pkg: Package {
                    location,
                    ecosystem: "pypi".into(),
                    name,
                    version,
                    kind: PackageKind::Installed,
                    installer: text(&format!("{dir}/INSTALLER")).filter(|s| !s.is_empty()),
                    direct_url,
                    vetting: None,
                    content: None,
                },
                info_dir: Some(dir.to_owned()),
                record,
                record_location: record_file.map(|r| r.location.clone()),
                wheel_tags,
            });
        } else if (base == "PKG-INFO" && (dirname.ends_with(".egg-info") || dirname == "EGG-INFO"))
            || base.ends_with(".egg-info")
        {
            let md = metadata::parse_core_metadata(data);
            let fallback =
                metadata::parse_info_dirname(if base == "PKG-INFO" { dirname } else { base });
            let (Some(name), Some(version)) = (
                md.name.or_else(|| fallback.as_ref().map(|f| f.0.clone())),
                md.version
                    .or_else(|| fallback.as_ref().map(|f| f.1.clone())),
            ) else {
                continue;
            };
            out.push(Installed {
                pkg: Package {
                    location: f.location.clone(),
                    ecosystem: "pypi".into(),
                    name,
                    version,
                    kind: PackageKind::Installed,
                    installer: None,
                    direct_url: None,
                    vetting: None,
                    content: None,
                },
                info_dir: None,
                record: Vec::new(),
                record_location: None,
                wheel_tags: Vec::new(),
            });
        } else if dirname == "conda-meta" && base.ends_with(".json") {
            if let Some(c) = metadata::parse_conda_meta(data) {
                out.push(Installed {
                    pkg: Package {
                        location: f.location.clone(),
                        ecosystem: "conda".into(),
                        name: c.name,
                        version: c.version,
                        kind: PackageKind::Installed,
                        installer: c.channel,
                        direct_url: None,
                        vetting: None,
                        content: None,
                    },
                    info_dir: None,
                    record: Vec::new(),
                    record_location: None,
                    wheel_tags: Vec::new(),
                });
            }
        }
    }
    out
}

/// Files written at install time, never part of a wheel's content.
fn install_time_file(rel: &str) -> bool {
    let base = base_name(rel);
    rel.starts_with("../")
        || rel.contains("__pycache__/")
        || base.ends_with(".pyc")
        || (parent_dir(rel).ends_with(".dist-info")
            && matches!(
                base,
                "INSTALLER" | "REQUESTED" | "direct_url.json" | "RECORD"
            ))
}

/// Inventories `view`, vets it against `allow` (when given), and reports packages and findings
/// into `sink`. Errors come only from allowlist sources (an unreachable index).
pub fn check(
    view: &FsView,
    mut allow: Option<&mut Allowlist>,
    sink: &mut Sink,
) -> Result<(), AllowlistError> {
    let vetted_names = allow.as_deref().map(Allowlist::vetted_names);
    for mut inst in installed(view) {
        self_check(view, &inst, sink);
        let with_allowlist = allow.is_some();
        if let Some(url) = &inst.pkg.direct_url {
            sink.push(
                Finding::new(
                    &DIRECT_URL,
                    inst.pkg.location.clone(),
                    format!(
                        "{} {} was installed from a direct source ({url}), not from an index",
                        inst.pkg.name, inst.pkg.version
                    ),
                )
                .severity(if with_allowlist {
                    DIRECT_URL.severity
                } else {
                    Severity::Info
                })
                .evidence("package", &inst.pkg.name)
                .evidence("direct-url", url),
            );
        }
        if let (Some(a), true) = (allow.as_deref_mut(), inst.pkg.ecosystem == "pypi") {
            vet(
                a,
                vetted_names.as_ref(),
                view,
                &mut inst,
                Severity::High,
                sink,
            )?;
        }
        sink.packages.push(inst.pkg);
    }
    hooks::check(view, sink);
    declared(view, allow, vetted_names.as_ref(), sink)
}

/// RECORD self-consistency: installed bytes vs the package's own RECORD.
fn self_check(view: &FsView, inst: &Installed, sink: &mut Sink) {
    let Some(dir) = &inst.info_dir else { return };
    let root = parent_dir(dir);
    let mut reported = 0usize;
    for e in &inst.record {
        let Some(expected) = e.sha256() else { continue };
        let Some(path) = join(root, &e.path) else {
            continue;
        };
        let Some(file) = view.files.get(&path) else {
            continue; // deleted after install (slim images remove tests, docs): not a mismatch
        };
        let Some(actual) = file.digest() else {
            continue;
        };
        if actual == expected {
            continue;
        }
        reported = reported.saturating_add(1);
        if reported > MAX_FILE_FINDINGS {
            continue;
        }
        sink.push(
            Finding::new(
                &RECORD_MISMATCH,
                file.location.clone(),
                format!(
                    "{} differs from the RECORD of {} {}",
                    e.path, inst.pkg.name, inst.pkg.version
                ),
            )
            .evidence("package", &inst.pkg.name)
            .evidence("recorded", metadata::encode_record_digest(&expected))
            .evidence("actual", metadata::encode_record_digest(&actual)),
        );
    }
    if reported > MAX_FILE_FINDINGS {
        if let Some(loc) = &inst.record_location {
            sink.push(Finding::new(
                &RECORD_MISMATCH,
                loc.clone(),
                format!(
                    "{} more files of {} differ from its RECORD",
                    reported.saturating_sub(MAX_FILE_FINDINGS),
                    inst.pkg.name
                ),
            ));
        }
    }
}

fn lookalike_of(normalized: &str, vetted: Option<&BTreeSet<String>>) -> Option<(String, String)> {
    let vetted = vetted?;
    vetted
        .iter()
        .find_map(|v| names::confusable(normalized, v).map(|c| (v.clone(), c.describe())))
}

fn vet(
    allow: &mut Allowlist,
    vetted: Option<&BTreeSet<String>>,
    view: &FsView,
    inst: &mut Installed,
    severity: Severity,
    sink: &mut Sink,
) -> Result<(), AllowlistError> {
    let p = &mut inst.pkg;
    match allow.decide(&p.name, &p.version)? {
        Decision::Allowed => {
            p.vetting = Some("allowed".into());
            if p.kind == PackageKind::Installed && inst.info_dir.is_some() {
                tamper_check(allow, view, inst, sink)?;
            }
        }
        Decision::VersionNotAllowed(versions) => {
            p.vetting = Some("version-not-allowed".into());
            sink.push(
                Finding::new(
                    &VERSION_NOT_ALLOWED,
                    p.location.clone(),
                    format!(
                        "{} {} is not a vetted version (allowed: {})",
                        p.name,
                        p.version,
                        if versions.is_empty() {
                            "none listed".to_owned()
                        } else {
                            versions.join(", ")
                        }
                    ),
                )
                .severity(severity)
                .evidence("package", &p.name)
                .evidence("version", &p.version),
            );
        }
        Decision::NotListed => {
            p.vetting = Some("unvetted".into());
            let n = names::normalize(&p.name);
            sink.push(
                Finding::new(
                    &UNVETTED,
                    p.location.clone(),
                    format!("{} {} is not in the allowlist mirror", p.name, p.version),
                )
                .severity(severity)
                .evidence("package", &p.name)
                .evidence("version", &p.version),
            );
            if let Some((similar, how)) = lookalike_of(&n, vetted) {
                sink.push(
                    Finding::new(
                        &LOOKALIKE,
                        p.location.clone(),
                        format!(
                            "unvetted package {:?} {how} from vetted {similar:?}",
                            p.name
                        ),
                    )
                    .evidence("package", &p.name)
                    .evidence("similar-to", similar),
                );
            }
        }
    }
    Ok(())
}

/// Compares installed files with the RECORD of the vetted wheel of the same version.
fn tamper_check(
    allow: &mut Allowlist,
    view: &FsView,
    inst: &mut Installed,
    sink: &mut Sink,
) -> Result<(), AllowlistError> {
    let Some(dir) = inst.info_dir.clone() else {
        return Ok(());
    };
    let Some((wheel, wheel_record)) =
        allow.wheel_record(&inst.pkg.name, &inst.pkg.version, &inst.wheel_tags)?
    else {
        inst.pkg.content = Some("no-mirror-wheel".into());
        return Ok(());
    };
    let vetted: BTreeMap<&str, Option<[u8; 32]>> = wheel_record
        .iter()
        .map(|e| (e.path.as_str(), e.sha256()))
        .collect();
    let root = parent_dir(&dir);
    let mut bad = 0usize;
    for e in &inst.record {
        if install_time_file(&e.path) || e.hash.is_none() {
            continue;
        }
        let Some(path) = join(root, &e.path) else {
            continue;
        };
        let Some(file) = view.files.get(&path) else {
            continue;
        };
        let Some(actual) = file.digest() else {
            continue;
        };
        let problem = match vetted.get(e.path.as_str()) {
            None => Some("is not part of the vetted wheel".to_owned()),
            Some(Some(v)) if *v != actual => Some("differs from the vetted wheel".to_owned()),
            _ => None,
        };
        let Some(problem) = problem else { continue };
        bad = bad.saturating_add(1);
        if bad > MAX_FILE_FINDINGS {
            continue;
        }
        sink.push(
            Finding::new(
                &TAMPERED,
                file.location.clone(),
                format!(
                    "{} of {} {} {problem}",
                    e.path, inst.pkg.name, inst.pkg.version
                ),
            )
            .evidence("package", &inst.pkg.name)
            .evidence("wheel", &wheel)
            .evidence("actual", metadata::encode_record_digest(&actual)),
        );
    }
    inst.pkg.content = Some(
        if bad == 0 {
            "matches-mirror"
        } else {
            "tampered"
        }
        .into(),
    );
    Ok(())
}

/// Requirement and lock files next to model files: inventory as declared packages, flag unpinned
/// and unhashed lines, and vet the declared names (one severity lower than installed ones).
fn declared(
    view: &FsView,
    mut allow: Option<&mut Allowlist>,
    vetted: Option<&BTreeSet<String>>,
    sink: &mut Sink,
) -> Result<(), AllowlistError> {
    let model_dirs: BTreeSet<&str> = view
        .files
        .keys()
        .filter(|p| is_model_like(p))
        .map(|p| parent_dir(p))
        .collect();
    let near_model = |dir: &str| {
        model_dirs.iter().any(|m| {
            *m == dir
                || parent_dir(m) == dir
                || (!dir.is_empty() && m.starts_with(&format!("{dir}/")))
        })
    };
    for (path, f) in &view.files {
        let base = base_name(path);
        let Some(kind) = lockfiles::lock_kind(base) else {
            continue;
        };
        if path.contains("site-packages/") || path.contains("dist-packages/") {
            continue;
        }
        if !near_model(parent_dir(path)) {
            continue;
        }
        let Some(data) = &f.data else { continue };
        let text = String::from_utf8_lossy(data);
        let entries = match kind {
            lockfiles::LockKind::Requirements => lockfiles::parse_requirements(&text),
            lockfiles::LockKind::Pylock => lockfiles::parse_pylock(&text).unwrap_or_default(),
            lockfiles::LockKind::UvLock => lockfiles::parse_uv_lock(&text).unwrap_or_default(),
        };
        let unpinned: Vec<&str> = entries
            .iter()
            .filter(|d| d.version.is_none())
            .map(|d| d.name.as_str())
            .collect();
        let unhashed: Vec<&str> = entries
            .iter()
            .filter(|d| d.version.is_some() && d.hashes.is_empty() && d.direct.is_none())
            .map(|d| d.name.as_str())
            .collect();
        if !unpinned.is_empty() {
            sink.push(
                Finding::new(
                    &UNPINNED,
                    f.location.clone(),
                    format!(
                        "{} requirement(s) next to a model are not pinned to an exact version: {}",
                        unpinned.len(),
                        unpinned.join(", ")
                    ),
                )
                .evidence("requirements", unpinned.join(", ")),
            );
        }
        if !unhashed.is_empty() {
            sink.push(
                Finding::new(
                    &UNHASHED,
                    f.location.clone(),
                    format!(
                        "{} pinned requirement(s) next to a model have no hashes: {}",
                        unhashed.len(),
                        unhashed.join(", ")
                    ),
                )
                .evidence("requirements", unhashed.join(", ")),
            );
        }
        for d in entries {
            let mut location = f.location.clone();
            if d.line > 0 {
                location = location.at(d.line as u64);
            }
            let mut inst = Installed {
                pkg: Package {
                    location,
                    ecosystem: "pypi".into(),
                    name: d.name.clone(),
                    version: d
                        .version
                        .clone()
                        .or(d.specifier.clone())
                        .unwrap_or_default(),
                    kind: PackageKind::Declared,
                    installer: None,
                    direct_url: d.direct.clone(),
                    vetting: None,
                    content: None,
                },
                info_dir: None,
                record: Vec::new(),
                record_location: None,
                wheel_tags: Vec::new(),
            };
            if let Some(a) = allow.as_deref_mut() {
                if let Some(v) = &d.version {
                    let _ = v;
                    vet(a, vetted, view, &mut inst, Severity::Medium, sink)?;
                } else {
                    // Unpinned: only the name can be vetted.
                    let n = names::normalize(&d.name);
                    let listed = a.vetted_names().contains(&n);
                    inst.pkg.vetting = Some(if listed { "allowed" } else { "unvetted" }.into());
                    if !listed {
                        sink.push(
                            Finding::new(
                                &UNVETTED,
                                inst.pkg.location.clone(),
                                format!(
                                    "declared requirement {} is not in the allowlist mirror",
                                    d.name
                                ),
                            )
                            .severity(Severity::Medium)
                            .evidence("package", &d.name),
                        );
                        if let Some((similar, how)) = lookalike_of(&n, vetted) {
                            sink.push(
                                Finding::new(
                                    &LOOKALIKE,
                                    inst.pkg.location.clone(),
                                    format!(
                                        "declared requirement {:?} {how} from vetted {similar:?}",
                                        d.name
                                    ),
                                )
                                .evidence("package", &d.name)
                                .evidence("similar-to", similar),
                            );
                        }
                    }
                }
            }
            sink.packages.push(inst.pkg);
        }
    }
    Ok(())
}

/// Inventories and vets a directory (a virtualenv, a `site-packages`, an unpacked root
/// filesystem, a model repository with requirement files).
pub fn check_directory(
    root: &Path,
    display: &str,
    allow: Option<&mut Allowlist>,
    sink: &mut Sink,
) -> Result<(), AllowlistError> {
    let view = view_of_directory(root, display);
    check(&view, allow, sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            normalize_path("./usr//lib/./x").as_deref(),
            Some("usr/lib/x")
        );
        assert_eq!(
            join("usr/lib/python3/site-packages", "../../../bin/x").as_deref(),
            Some("usr/bin/x")
        );
        assert_eq!(join("a", "../../x"), None);
        assert!(wants_content(
            "usr/lib/python3/site-packages/six-1.16.0.dist-info/RECORD"
        ));
        assert!(wants_content("opt/model/requirements.txt"));
        assert!(!wants_content("usr/lib/python3/site-packages/six.py"));
        assert!(is_model_like("opt/model/model.pkl"));
        assert!(!is_model_like(
            "usr/lib/python3/site-packages/distutils-precedence.pth"
        ));
    }
}
