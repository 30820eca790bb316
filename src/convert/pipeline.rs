//! Scan → convert → rescan → sign: the only way an artifact converted by modelgate leaves it.
//!
//! The input is converted only when the policy approves its scan; what was written is scanned
//! again, as any artifact entering the organisation is, and removed unless approved; only then
//! is it signed. Lives in the library (not the binary) so the gate and the audit convert with the
//! same checks in the same order.

use std::path::{Path, PathBuf};

use super::{convert_to_path, sha256_file, ConvertError, ConvertOptions, Summary, Target};
use crate::engine::Engine;
use crate::error::SetupError;
use crate::policy::{Policy, Refusal, Verdict};
use crate::report::Report;
use crate::sign::{self, PrivateKey, SignError, Signed};

/// One conversion request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub input: &'a Path,
    pub target: Target,
    pub output: &'a Path,
    /// Judges the scan of the input and of the output.
    pub policy: &'a Policy,
    /// Add a ZipMap to classifier graphs (see [`ConvertOptions::zipmap`]).
    pub zipmap: bool,
    /// Sign the approved output with this key (bundle at `OUTPUT.sig`, plus the attestation).
    pub sign_key: Option<&'a PrivateKey>,
}

/// A conversion that passed every step.
#[derive(Debug)]
pub struct Converted {
    pub summary: Summary,
    /// The approving scan of the input.
    pub report: Report,
    pub signed: Option<Signed>,
}

impl Converted {
    /// What `modelgate convert --json` prints (and the Python API's `convert` returns).
    pub fn to_json(&self, input: &Path, output: &Path) -> serde_json::Value {
        serde_json::json!({
            "input": input,
            "output": output,
            "summary": self.summary,
            "signature": self.signed.as_ref().map(|s| &s.signature),
        })
    }
}

/// Why the pipeline stopped. Each step that can refuse has its own variant, so callers can say
/// what happened to the output (never written, removed, or kept but unsigned).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The scan of the input was not approved; nothing was written.
    #[error("the scan did not approve the input: {refusal}")]
    Refused {
        refusal: Refusal,
        report: Box<Report>,
    },
    /// The converter refused or failed; nothing was written. The input's scan report is kept
    /// so a refusal naming a global can be matched with the scan's findings.
    #[error("conversion failed: {error}")]
    Conversion {
        error: Box<ConvertError>,
        report: Box<Report>,
    },
    /// The written output did not pass its own scan; it has been removed.
    #[error("the converted output did not pass the scan: {refusal}")]
    OutputRefused {
        refusal: Refusal,
        report: Box<Report>,
    },
    /// The output is approved and kept, but signing it failed.
    #[error("converted {} but signing failed: {error}", output.display())]
    Signing {
        output: PathBuf,
        error: Box<SignError>,
    },
    #[error("reading {}: {error}", path.display())]
    Hash {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Scan(#[from] SetupError),
}

impl PipelineError {
    /// The process exit code: the input's verdict when refused (1 findings, 2 scan errors,
    /// 3 nothing scanned); 1 when the converter refused a global; 2 for every other failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            PipelineError::Refused { refusal, .. } => Verdict::Refused(*refusal).exit_code(),
            PipelineError::Conversion { error, .. }
                if matches!(**error, ConvertError::Forbidden { .. }) =>
            {
                1
            }
            _ => 2,
        }
    }
}

/// Scans `req.input`, converts it when approved, rescans the output and signs it when asked.
pub fn convert_approved(engine: &Engine, req: &Request<'_>) -> Result<Converted, PipelineError> {
    // The source hash goes into the output's metadata; compute it while the scan runs.
    let (report, sha) = std::thread::scope(|s| {
        let hasher = s.spawn(|| sha256_file(req.input));
        let report = engine.scan_paths(&[req.input.to_path_buf()]);
        let sha = hasher
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("hashing thread panicked")));
        (report, sha)
    });
    let mut report = report?;
    let sha = sha.map_err(|error| PipelineError::Hash {
        path: req.input.to_path_buf(),
        error,
    })?;
    if let Some(refusal) = req.policy.judge(&mut report).refusal() {
        return Err(PipelineError::Refused {
            refusal,
            report: Box::new(report),
        });
    }
    let opts = ConvertOptions {
        zipmap: req.zipmap,
        source_sha256: Some(sha),
    };
    let summary = match convert_to_path(req.input, req.target, req.output, &opts) {
        Ok(s) => s,
        Err(error) => {
            return Err(PipelineError::Conversion {
                error: Box::new(error),
                report: Box::new(report),
            })
        }
    };
    let mut after = engine.scan_paths(&[req.output.to_path_buf()])?;
    if let Some(refusal) = req.policy.judge(&mut after).refusal() {
        let _ = std::fs::remove_file(req.output);
        return Err(PipelineError::OutputRefused {
            refusal,
            report: Box::new(after),
        });
    }
    let signed =
        match req.sign_key {
            Some(key) => {
                let opts = sign::SignOptions {
                    policy: req.policy.clone(),
                    ..sign::SignOptions::default()
                };
                let signed = sign::sign_directory(engine, req.output, key, &opts, &|_| {})
                    .map_err(|error| PipelineError::Signing {
                        output: req.output.to_path_buf(),
                        error: Box::new(error),
                    })?;
                Some(signed)
            }
            None => None,
        };
    Ok(Converted {
        summary,
        report,
        signed,
    })
}
