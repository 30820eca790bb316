//! The run layer: turns what a user names (files, directories, image references, OCI layouts,
//! image tarballs) into scans on the engine and one report. Every command that scans goes
//! through here (`scan`, `packages`, `sign`, `convert`, the modelscan drop-in), and so will the
//! gate and the audit: target expansion and the choice between the file walker and the image
//! reader live in one place. `image/` only reads images; the engine only scans what it is given.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::artifact::Artifact;
use crate::engine::{Budget, Engine};
use crate::error::SetupError;
use crate::finding::Location;
use crate::finding::{ArtifactRecord, Sink, Status};
use crate::format::Format;
use crate::image::{detect, scan_image, ImageOptions};
use crate::packages::{self, Allowlist};
use crate::report::Report;
use crate::walk;

impl Engine {
    /// A report of `sink` under this engine's signature database and report cap.
    pub fn report(&self, targets: Vec<String>, sink: Sink) -> Report {
        Report::build(
            targets,
            self.signatures().info(),
            self.options().limits.max_report_entries,
            sink,
        )
    }

    /// Scans one in-memory artifact (library and gate entry point).
    pub fn scan_bytes(&self, name: &str, bytes: Vec<u8>) -> Report {
        let budget = Budget::new(bytes.len() as u64);
        let mut sink = Sink::default();
        self.context(&budget)
            .scan_artifact(&Artifact::from_bytes(name, bytes), &mut sink);
        self.report(vec![name.to_owned()], sink)
    }

    /// Scans files and directories. Paths in the report are shown as given.
    pub fn scan_paths(&self, targets: &[PathBuf]) -> Result<Report, SetupError> {
        let mut sink = Sink::default();
        self.scan_paths_into(targets, &mut sink)?;
        Ok(self.report(
            targets.iter().map(|t| t.display().to_string()).collect(),
            sink,
        ))
    }

    /// Like [`Engine::scan_paths`], reporting into `out` (lets callers combine file targets with
    /// image targets in one report). A target that does not exist is an error before anything
    /// is scanned.
    pub fn scan_paths_into(&self, targets: &[PathBuf], out: &mut Sink) -> Result<(), SetupError> {
        for t in targets {
            if !t.exists() && t.symlink_metadata().is_err() {
                return Err(SetupError::MissingTarget(t.clone()));
            }
        }
        self.scan_entries(&walk::expand_targets(targets), out)
    }
}

/// Scans a mix of targets (image references, layouts, image tarballs, and ordinary files or
/// directories) into one report. Ordinary directories are also inventoried for Python packages
/// when an allowlist is given.
pub fn scan(
    engine: &Engine,
    targets: &[OsString],
    opts: &ImageOptions,
    mut allow: Option<&mut Allowlist>,
) -> Result<Report, SetupError> {
    let mut sink = Sink::default();
    let mut files: Vec<PathBuf> = Vec::new();
    for t in targets {
        // Image references are text; a path may be any bytes the file system allows.
        if let Some((text, img)) = t.to_str().and_then(|s| detect(s).map(|i| (s, i))) {
            scan_image(engine, &img, text, opts, allow.as_deref_mut(), &mut sink);
        } else {
            files.push(PathBuf::from(t));
            if let Some(a) = allow.as_deref_mut() {
                let p = Path::new(t);
                if p.is_dir() {
                    packages::check_directory(p, &t.to_string_lossy(), Some(a), &mut sink)
                        .map_err(|e| SetupError::Invalid(e.to_string()))?;
                }
            }
        }
    }
    if !files.is_empty() {
        engine.scan_paths_into(&files, &mut sink)?;
    }
    let shown = targets
        .iter()
        .map(|t| t.to_string_lossy().into_owned())
        .collect();
    Ok(engine.report(shown, sink))
}

/// Inventory and vetting only (`modelgate packages`): images are read and verified but their
/// layers are not scanned; directories are inventoried in place.
pub fn inventory(
    engine: &Engine,
    targets: &[String],
    opts: &ImageOptions,
    mut allow: Option<&mut Allowlist>,
) -> Result<Report, SetupError> {
    let mut sink = Sink::default();
    let opts = ImageOptions {
        scan_layers: false,
        ..opts.clone()
    };
    for t in targets {
        if let Some(img) = detect(t) {
            scan_image(engine, &img, t, &opts, allow.as_deref_mut(), &mut sink);
        } else {
            let p = Path::new(t);
            if !p.is_dir() {
                return Err(SetupError::Invalid(format!(
                    "{t} is neither an image nor a directory"
                )));
            }
            packages::check_directory(p, t, allow.as_deref_mut(), &mut sink)
                .map_err(|e| SetupError::Invalid(e.to_string()))?;
            sink.artifacts.push(ArtifactRecord {
                location: Location::file(t.clone()),
                format: Format::Unknown,
                size: 0,
                status: Status::Scanned {
                    scanner: "packages".into(),
                },
                sha256: None,
            });
        }
    }
    Ok(engine.report(targets.to_vec(), sink))
}

/// The modelscan drop-in's scan (the `modelscan` command and the Python `ModelScan` shim):
/// `path` under the built-in signatures plus the `unsafe_globals` of a modelscan settings file
/// (`settings` is its name and TOML text), which can only add denied globals.
pub fn modelscan(path: &Path, settings: Option<(String, &str)>) -> Result<Report, SetupError> {
    let mut extra = Vec::new();
    if let Some((name, text)) = settings {
        extra.push((name, crate::signatures::from_modelscan_settings(text)?));
    }
    let db = crate::signatures::SignatureDb::load_with(&[], extra)?;
    let engine = Engine::new(db, crate::engine::EngineOptions::default())?;
    engine.scan_paths(&[path.to_path_buf()])
}
