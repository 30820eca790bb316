//! The Python extension module `modelgate._native` (cargo feature `python`, built by maturin).
//!
//! A thin layer over the library's public API: each function sets up exactly what the matching
//! CLI command sets up, runs it with the GIL released (`Python::detach`, so other Python threads
//! keep running during a long scan), and hands back JSON text in the CLI's `--json`/`--format
//! json` shape, which the Python package (`python/modelgate/__init__.py`) turns into a dict.
//! Library errors become the exception classes below, carrying the library's message.
//!
//! Nothing imports this module; it may import anything in the library.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use crate::convert::{self as cv, PipelineError, Request, Target};
use crate::engine::{Engine, EngineOptions};
use crate::error::SetupError;
use crate::finding::Severity;
use crate::image::ImageOptions;
use crate::policy::Policy;
use crate::report::modelscan;
use crate::sign::{self as signing, PrivateKey, PublicKey, SignError};
use crate::signatures::SignatureDb;

create_exception!(
    modelgate,
    Error,
    PyException,
    "Base class of every modelgate error."
);
create_exception!(
    modelgate,
    UsageError,
    Error,
    "A bad argument: an unknown severity or finding code, a target that does not exist."
);
create_exception!(
    modelgate,
    ScanError,
    Error,
    "The scan could not be set up or run (signature files, engine options, image access)."
);
create_exception!(
    modelgate,
    RefusedError,
    Error,
    "The policy refused the model (sign, convert); `report` holds the scan report as a dict."
);
create_exception!(
    modelgate,
    SigningError,
    Error,
    "Signing failed after an approving scan."
);
create_exception!(modelgate, VerifyError, Error, "Verification failed.");
create_exception!(modelgate, ConvertError, Error, "Conversion failed.");

/// A severity name (`info`..`critical`, any case), or a usage error.
fn severity(name: &str) -> PyResult<Severity> {
    Severity::parse(name).ok_or_else(|| {
        UsageError::new_err(format!(
            "unknown severity {name:?}; expected info, low, medium, high or critical"
        ))
    })
}

/// A setup error as the exception a caller can act on: a missing target is the caller's mistake.
fn setup_err(e: &SetupError) -> PyErr {
    match e {
        SetupError::MissingTarget(_) => UsageError::new_err(e.to_string()),
        _ => ScanError::new_err(e.to_string()),
    }
}

/// The built-in signature database plus extra signature directories, and an engine over it.
fn engine(signatures: &[PathBuf], opts: EngineOptions) -> Result<Engine, SetupError> {
    let dirs: Vec<&Path> = signatures.iter().map(PathBuf::as_path).collect();
    Engine::new(SignatureDb::load(&dirs)?, opts)
}

/// Parses JSON text made by this module (cannot fail in practice) into a Python object.
fn json_to_py(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// A refusal exception with the refused scan's report attached as `report`.
fn refused(py: Python<'_>, message: String, report: &crate::report::Report) -> PyErr {
    let err = RefusedError::new_err(message);
    if let Ok(r) = json_to_py(py, &report.to_json()) {
        // Attaching the report is best effort: the exception and its message stand without it.
        let _ = err.value(py).setattr("report", r);
    }
    err
}

/// Scans files, directories, image layouts, image tarballs or `oci://` references and returns
/// the report as JSON text (the CLI's `--format json`), judged at `fail_on`.
#[pyfunction]
#[pyo3(signature = (paths, fail_on = "low", strict = false, signatures = None, jobs = None))]
fn scan(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    fail_on: &str,
    strict: bool,
    signatures: Option<Vec<PathBuf>>,
    jobs: Option<usize>,
) -> PyResult<String> {
    let policy = Policy::at(severity(fail_on)?);
    if jobs == Some(0) {
        return Err(UsageError::new_err("jobs must be at least 1"));
    }
    if paths.is_empty() {
        return Err(UsageError::new_err("no paths to scan"));
    }
    let targets: Vec<OsString> = paths.into_iter().map(PathBuf::into_os_string).collect();
    let signatures = signatures.unwrap_or_default();
    py.detach(move || {
        let opts = EngineOptions {
            strict,
            jobs,
            ..EngineOptions::default()
        };
        let engine = engine(&signatures, opts)?;
        let mut report = crate::run::scan(&engine, &targets, &ImageOptions::default(), None)?;
        policy.judge(&mut report);
        Ok(report.to_json())
    })
    .map_err(|e: SetupError| setup_err(&e))
}

/// The documentation of one finding code, as `modelgate explain CODE` prints it.
#[pyfunction]
fn explain(code: &str) -> PyResult<String> {
    crate::catalog::find(code)
        .map(crate::catalog::describe)
        .ok_or_else(|| UsageError::new_err(format!("unknown finding code {code:?}")))
}

/// Every finding code with its severity and summary, as `(code, severity, summary)` tuples.
#[pyfunction]
fn codes() -> Vec<(String, String, String)> {
    crate::catalog::all()
        .into_iter()
        .map(|c| {
            (
                c.id.to_owned(),
                c.severity.to_string(),
                c.summary.to_owned(),
            )
        })
        .collect()
}

/// Verifies a model directory or file against its signature; JSON as `modelgate verify --json`.
#[pyfunction]
#[pyo3(signature = (path, key, signature = None, require_scan = false))]
fn verify(
    py: Python<'_>,
    path: PathBuf,
    key: PathBuf,
    signature: Option<PathBuf>,
    require_scan: bool,
) -> PyResult<String> {
    py.detach(move || {
        let key = PublicKey::load(&key).map_err(|e| e.to_string())?;
        let opts = signing::VerifyOptions {
            signature,
            require_scan_attestation: require_scan,
            ..signing::VerifyOptions::default()
        };
        signing::verify_directory(&path, &key, &opts, &|_| {})
            .map(|v| v.to_json().to_string())
            .map_err(|e| e.to_string())
    })
    .map_err(VerifyError::new_err)
}

/// Scans a model directory or file and signs it when the policy approves.
#[pyfunction]
#[pyo3(signature = (path, key, signature = None, fail_on = "low", ignore = Vec::new(), scan_attestation = true, strict = false, signatures = None))]
#[allow(clippy::too_many_arguments)]
fn sign(
    py: Python<'_>,
    path: PathBuf,
    key: PathBuf,
    signature: Option<PathBuf>,
    fail_on: &str,
    ignore: Vec<PathBuf>,
    scan_attestation: bool,
    strict: bool,
    signatures: Option<Vec<PathBuf>>,
) -> PyResult<String> {
    let policy = Policy::at(severity(fail_on)?);
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(UsageError::new_err(format!(
            "no such file or directory: {}",
            path.display()
        )));
    }
    let signatures = signatures.unwrap_or_default();
    let result = py.detach(move || -> PyResult<_> {
        let key = PrivateKey::load(&key).map_err(|e| SigningError::new_err(e.to_string()))?;
        let opts = EngineOptions {
            strict,
            ..EngineOptions::default()
        };
        let engine = engine(&signatures, opts).map_err(|e| setup_err(&e))?;
        let opts = signing::SignOptions {
            signature,
            ignore,
            policy,
            scan_attestation,
            ..signing::SignOptions::default()
        };
        Ok((
            signing::sign_directory(&engine, &path, &key, &opts, &|_| {}),
            path,
        ))
    });
    let (result, path) = result?;
    match result {
        Ok(s) => Ok(serde_json::json!({
            "signed": true,
            "signature": s.signature,
            "scan_attestation": s.scan_attestation,
            "files": s.manifest.resources.len(),
            "bytes": s.bytes,
            "key_type": s.key_type.as_str(),
            "subject_sha256": s.root_digest,
        })
        .to_string()),
        Err(SignError::Refused { reason, report }) => Err(refused(
            py,
            format!(
                "refusing to sign {}: {reason}; no signature written",
                path.display()
            ),
            &report,
        )),
        Err(SignError::Scan(e)) => Err(setup_err(&e)),
        Err(e) => Err(SigningError::new_err(e.to_string())),
    }
}

/// Converts an approved model file to safetensors or ONNX; JSON as `modelgate convert --json`.
#[pyfunction]
#[pyo3(signature = (path, to, output = None, fail_on = "medium", zipmap = false, sign_key = None, signatures = None))]
// PyO3 hands arguments over as owned values; the pipeline only borrows them.
#[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
fn convert(
    py: Python<'_>,
    path: PathBuf,
    to: &str,
    output: Option<PathBuf>,
    fail_on: &str,
    zipmap: bool,
    sign_key: Option<PathBuf>,
    signatures: Option<Vec<PathBuf>>,
) -> PyResult<String> {
    let target = match to {
        "safetensors" => Target::Safetensors,
        "onnx" => Target::Onnx,
        _ => {
            return Err(UsageError::new_err(format!(
                "unknown conversion target {to:?}; expected safetensors or onnx"
            )))
        }
    };
    let policy = Policy::at(severity(fail_on)?);
    if !path.is_file() {
        return Err(UsageError::new_err(format!(
            "no such file: {}",
            path.display()
        )));
    }
    let output = output.unwrap_or_else(|| cv::default_output(&path, target));
    if output.exists() && std::fs::canonicalize(&output).ok() == std::fs::canonicalize(&path).ok() {
        return Err(UsageError::new_err("the output would overwrite the input"));
    }
    let signatures = signatures.unwrap_or_default();
    let result = py.detach(|| -> PyResult<_> {
        let key = match &sign_key {
            Some(k) => Some(PrivateKey::load(k).map_err(|e| SigningError::new_err(e.to_string()))?),
            None => None,
        };
        let engine = engine(&signatures, EngineOptions::default()).map_err(|e| setup_err(&e))?;
        let request = Request {
            input: &path,
            target,
            output: &output,
            policy: &policy,
            zipmap,
            sign_key: key.as_ref(),
        };
        Ok(cv::convert_approved(&engine, &request))
    })?;
    match result {
        Ok(done) => Ok(done.to_json(&path, &output).to_string()),
        Err(e @ (PipelineError::Refused { .. } | PipelineError::OutputRefused { .. })) => {
            let message = format!("refused to convert {}: {e}", path.display());
            match e {
                PipelineError::Refused { report, .. }
                | PipelineError::OutputRefused { report, .. } => Err(refused(py, message, &report)),
                _ => Err(RefusedError::new_err(message)),
            }
        }
        Err(PipelineError::Scan(e)) => Err(setup_err(&e)),
        Err(PipelineError::Signing { error, .. }) => Err(SigningError::new_err(error.to_string())),
        Err(e) => Err(ConvertError::new_err(e.to_string())),
    }
}

/// The modelscan drop-in's scan of `path`: modelscan 0.8.8's result dict as JSON text (skipped
/// files listed). `settings_json` is a modelscan settings dict as JSON; only its
/// `unsafe_globals` are read, and they only add denied globals.
#[pyfunction]
#[pyo3(signature = (path, settings_json = None))]
fn modelscan_scan(
    py: Python<'_>,
    path: PathBuf,
    settings_json: Option<String>,
) -> PyResult<String> {
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(UsageError::new_err(format!(
            "Path '{}' does not exist.",
            path.display()
        )));
    }
    let settings = match settings_json {
        Some(text) => {
            let value: toml::Value = serde_json::from_str(&text)
                .map_err(|e| UsageError::new_err(format!("modelscan settings: {e}")))?;
            Some(
                toml::to_string(&value)
                    .map_err(|e| UsageError::new_err(format!("modelscan settings: {e}")))?,
            )
        }
        None => None,
    };
    py.detach(move || {
        let named = settings
            .as_deref()
            .map(|t| ("modelscan settings".to_owned(), t));
        let report = crate::run::modelscan(&path, named)?;
        let value = modelscan::to_value(
            &report,
            &path.display().to_string(),
            true,
            &modelscan::timestamp_now(),
        );
        Ok(value.to_string())
    })
    .map_err(|e: SetupError| setup_err(&e))
}

/// The extension module: the functions above and the exception classes.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", crate::finding::VERSION)?;
    m.add("Error", py.get_type::<Error>())?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add("ScanError", py.get_type::<ScanError>())?;
    m.add("RefusedError", py.get_type::<RefusedError>())?;
    m.add("SigningError", py.get_type::<SigningError>())?;
    m.add("VerifyError", py.get_type::<VerifyError>())?;
    m.add("ConvertError", py.get_type::<ConvertError>())?;
    m.add_function(wrap_pyfunction!(scan, m)?)?;
    m.add_function(wrap_pyfunction!(explain, m)?)?;
    m.add_function(wrap_pyfunction!(codes, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(sign, m)?)?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(modelscan_scan, m)?)?;
    Ok(())
}
