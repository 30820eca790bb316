//! Signing approved models and verifying them, in the OpenSSF model-signing (OMS) format.
//!
//! [`sign_directory`] scans a model with the [`Engine`], refuses unless the report is approved at
//! the `--fail-on` threshold, hashes every file (in parallel, detecting files that change while
//! they are read), and writes:
//!
//! - `model.sig`: a Sigstore bundle v0.3 → DSSE envelope → in-toto Statement v1 with predicate
//!   `https://model_signing/signature/v1.0`, `files`/`sha256` serialization and the resource list.
//!   Signed with ECDSA P-256 it verifies with `model_signing verify key`; Ed25519 (modelgate's
//!   default key type) produces the same structure, which only modelgate verifies, because
//!   model_signing's key mode accepts NIST curves only.
//! - `model.sig.scan.json`: the scan attestation (see [`attest`]), bound to the same subject.
//!
//! [`verify_directory`] checks the bundle against a public key (key type, key hint, signature), the
//! statement (payload type, statement type, predicate, subject digest), then recomputes the digests
//! of the local tree with the recorded serialization (`files` or `shards`; sha256, blake2b or
//! blake3) and reports added, removed and modified files. It also verifies the scan attestation
//! when present (or when required).
//!
//! [`sign_subject`] / [`verify_subject`] sign and verify a statement about any digest (e.g. an OCI
//! image manifest) for callers that push bundles elsewhere; [`oci`] uses them to sign container
//! images in a registry and store the bundle as an OCI 1.1 referrer.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::Engine;
use crate::error::SetupError;
use crate::hash::{self, Algorithm, HashError};
use crate::policy::Policy;
use crate::report::Report;

pub mod attest;
pub mod bundle;
pub mod keys;
pub mod manifest;
pub mod oci;

pub use attest::{ScanPredicate, SCAN_PREDICATE_TYPE};
pub use bundle::{Bundle, Statement, Subject};
pub use keys::{KeyError, KeyType, PrivateKey, PublicKey};
pub use manifest::{Diff, IgnoreSet, Manifest, ManifestError, TreeError, PREDICATE_TYPE};

/// Default signature file name inside a model directory.
pub const DEFAULT_SIGNATURE_NAME: &str = "model.sig";

/// Largest signature or attestation file read. A manifest of a million files is ~200 MB of bundle;
/// the cap bounds the memory a hostile bundle can make the verifier use (a few times its size).
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;

/// Where the signature goes by default: `DIR/model.sig` for a directory, `FILE.sig` for a file.
pub fn default_signature_path(model: &Path) -> PathBuf {
    if model.is_dir() {
        model.join(DEFAULT_SIGNATURE_NAME)
    } else {
        let mut s = model.as_os_str().to_owned();
        s.push(".sig");
        PathBuf::from(s)
    }
}

/// Where the scan attestation of `signature` lives: `<signature>.scan.json`.
pub fn scan_attestation_path(signature: &Path) -> PathBuf {
    let mut s = signature.as_os_str().to_owned();
    s.push(".scan.json");
    PathBuf::from(s)
}

/// Why signing was refused: the policy's refusal, so `sign` refuses exactly when `scan` exits
/// non-zero at the same threshold.
pub use crate::policy::Refusal;

/// A signing failure.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The scan did not approve the model; nothing was written.
    #[error("refusing to sign: {reason}")]
    Refused {
        reason: Refusal,
        report: Box<Report>,
    },
    #[error("nothing to sign: {0} contains no files (after ignores)")]
    NothingToSign(PathBuf),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("scan setup failed: {0}")]
    Scan(#[from] SetupError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode the statement: {0}")]
    Encode(#[from] serde_json::Error),
}

/// A verification failure. Every variant has its own message; the CLI exits 1 on any of them.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("no signature file at {0}")]
    MissingSignature(PathBuf),
    #[error("cannot read signature {path}: {source}")]
    ReadSignature {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("signature file is larger than {MAX_BUNDLE_BYTES} bytes")]
    SignatureTooLarge,
    #[error("signature file is not valid JSON (corrupted or truncated): {0}")]
    BundleJson(String),
    #[error("unknown signature format: {0}; expected a Sigstore bundle v0.3 (application/vnd.dev.sigstore.bundle.v0.3+json) as written by model_signing or modelgate")]
    UnknownFormat(String),
    #[error("malformed signature bundle: {0}")]
    MalformedBundle(String),
    #[error("unsupported signature bundle: {0}")]
    UnsupportedBundle(String),
    #[error("unknown DSSE payload type {0:?}; expected application/vnd.in-toto+json")]
    UnknownPayloadType(String),
    #[error("unknown statement type {0:?}; expected https://in-toto.io/Statement/v1")]
    UnknownStatementType(String),
    #[error("malformed in-toto statement: {0}")]
    MalformedStatement(String),
    #[error("unknown predicate type {0:?}; expected https://model_signing/signature/v1.0")]
    UnknownPredicate(String),
    #[error("key type mismatch: the signature was made with an {signature} key but the given public key is {key}")]
    KeyTypeMismatch { key: KeyType, signature: KeyType },
    #[error(
        "wrong key: the signature names key {bundle_hint}, the given public key is {key_hint}"
    )]
    WrongKey {
        bundle_hint: String,
        key_hint: String,
    },
    #[error("bad signature: the bundle's signature does not verify with this key (the statement was altered or re-signed)")]
    BadSignature,
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("the model does not match its signature: {}", describe_diff(.0))]
    Mismatch(Box<Diff>),
    #[error("this signature is for another model ({signed_name:?}, {signed_files} file(s)): {} of its resources match {path}; {}", .diff.unchanged, describe_diff(.diff))]
    ForeignModel {
        signed_name: String,
        signed_files: usize,
        path: PathBuf,
        diff: Box<Diff>,
    },
    #[error("scan attestation {path}: {source}")]
    ScanAttestation {
        path: PathBuf,
        source: Box<VerifyError>,
    },
    #[error("no scan attestation at {0} (required)")]
    MissingScanAttestation(PathBuf),
    #[error("the statement is about another subject: {0}")]
    SubjectMismatch(String),
}

fn list_some(v: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut s = v.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if v.len() > SHOWN {
        let _ = write!(s, ", … ({} more)", v.len() - SHOWN);
    }
    s
}

fn describe_diff(d: &Diff) -> String {
    let mut parts = Vec::new();
    if !d.modified.is_empty() {
        parts.push(format!(
            "{} modified ({})",
            d.modified.len(),
            list_some(&d.modified)
        ));
    }
    if !d.added.is_empty() {
        parts.push(format!("{} added ({})", d.added.len(), list_some(&d.added)));
    }
    if !d.removed.is_empty() {
        parts.push(format!(
            "{} removed ({})",
            d.removed.len(),
            list_some(&d.removed)
        ));
    }
    parts.join("; ")
}

/// Progress events, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// The scan is starting.
    Scanning,
    /// Hashing is starting; this many bytes will be read.
    Hashing { total_bytes: u64 },
    /// This many more bytes were hashed.
    Hashed(u64),
}

/// Options for [`sign_directory`].
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// Signature path; default [`default_signature_path`].
    pub signature: Option<PathBuf>,
    /// Extra paths to leave out, relative to the model root (or absolute inside it).
    pub ignore: Vec<PathBuf>,
    /// Ignore `.git`, `.github`, `.gitattributes`, `.gitignore` (model_signing's default).
    pub ignore_git_paths: bool,
    /// Judges the scan before signing: findings at or above `policy.fail_on` (after the
    /// policy's severity overrides) refuse signing.
    pub policy: Policy,
    /// Write the scan attestation beside the signature.
    pub scan_attestation: bool,
    /// Hashing threads; default [`hash::default_threads`].
    pub threads: Option<usize>,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            signature: None,
            ignore: Vec::new(),
            ignore_git_paths: true,
            policy: Policy::default(),
            scan_attestation: true,
            threads: None,
        }
    }
}

/// The result of a successful signing.
#[derive(Debug, Clone)]
pub struct Signed {
    pub signature: PathBuf,
    pub scan_attestation: Option<PathBuf>,
    pub manifest: Manifest,
    /// The subject digest (hex SHA-256 over the file digests).
    pub root_digest: String,
    pub bytes: u64,
    pub key_type: KeyType,
    /// The approving scan report.
    pub report: Report,
}

fn model_name(model: &Path) -> String {
    let name = model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty() || name == ".." || name == "." {
        std::fs::canonicalize(model)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default()
    } else {
        name
    }
}

/// Adds user ignore paths. A relative path names a path under the model root; when nothing exists
/// there but the path exists relative to the current directory inside the root (model_signing's
/// convention, e.g. `--ignore model/notes.txt`), that path is used. Absolute paths must lie inside
/// the root.
fn add_user_ignores(
    ignore: &mut IgnoreSet,
    root: &Path,
    user: &[PathBuf],
) -> Result<(), TreeError> {
    for p in user {
        let cwd_relative = !p.is_absolute()
            && root.is_dir()
            && std::fs::symlink_metadata(root.join(p)).is_err()
            && std::fs::symlink_metadata(p).is_ok();
        if cwd_relative && ignore.add_fs_path(root, p) {
            continue;
        }
        if p.is_absolute() {
            if !ignore.add_fs_path(root, p) {
                return Err(TreeError::IgnoreOutside(p.display().to_string()));
            }
        } else {
            let s = p.to_string_lossy().replace('\\', "/");
            if s.split('/').any(|c| c == "..") {
                return Err(TreeError::IgnoreOutside(s));
            }
            ignore.add(&s);
        }
    }
    Ok(())
}

/// Writes `data` to `path` through a temporary file in the same directory and a rename, so readers
/// never see a partial file.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), SignError> {
    let err = |source| SignError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(err)?;
    tmp.write_all(data).map_err(err)?;
    // Signatures are public: readable by everyone, like any file written with the usual umask
    // (the temporary file is created 0600).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(err)?;
    }
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// Scans `model` (a directory or a single file), and when `opts.policy` approves the scan,
/// signs it with `key`. See the module documentation for what is written.
pub fn sign_directory(
    engine: &Engine,
    model: &Path,
    key: &PrivateKey,
    opts: &SignOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Signed, SignError> {
    let signature = opts
        .signature
        .clone()
        .unwrap_or_else(|| default_signature_path(model));
    let scan_path = scan_attestation_path(&signature);

    let mut ignore = IgnoreSet::new();
    if opts.ignore_git_paths {
        for g in manifest::GIT_PATHS {
            ignore.add(g);
        }
    }
    add_user_ignores(&mut ignore, model, &opts.ignore)?;
    if model.is_dir() {
        ignore.add_fs_path(model, &signature);
        if opts.scan_attestation {
            ignore.add_fs_path(model, &scan_path);
        }
    }

    let files = manifest::list_files(model, &ignore)?;
    if files.is_empty() {
        return Err(SignError::NothingToSign(model.to_path_buf()));
    }

    // Scan exactly the files that will be signed.
    progress(Progress::Scanning);
    let targets: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    let mut report = engine.scan_paths(&targets)?;
    if let Some(reason) = opts.policy.judge(&mut report).refusal() {
        return Err(SignError::Refused {
            reason,
            report: Box::new(report),
        });
    }

    let total: u64 = files.iter().map(|f| f.stamp.len).sum();
    progress(Progress::Hashing { total_bytes: total });
    let serialization = manifest::Serialization {
        method: manifest::Method::Files,
        hash: Algorithm::Sha256,
        allow_symlinks: false,
        ignore_paths: ignore.to_strings(),
    };
    let threads = opts.threads.unwrap_or_else(hash::default_threads);
    let m = manifest::build(&model_name(model), &files, serialization, threads, &|n| {
        progress(Progress::Hashed(n));
    })?;
    // Nothing may have changed between listing, scanning and hashing.
    manifest::check_unchanged(&files)?;

    let root_digest = m.root_digest()?;
    let subject = Subject::sha256(m.model_name.clone(), root_digest.clone());
    let statement = Statement::new(vec![subject.clone()], PREDICATE_TYPE, m.predicate());
    let payload = statement.to_payload()?;
    let oms = Bundle::sign(&payload, key);

    let mut scan_written = None;
    if opts.scan_attestation {
        let policy = attest::Policy::of(&opts.policy, engine.options().strict);
        let pred = ScanPredicate::from_report(
            &report,
            policy,
            &model.display().to_string(),
            attest::ModelRef {
                files: files.len(),
                bytes: total,
                oms_payload_sha256: hash::sha256_hex(&payload),
            },
        );
        let scan_bundle = sign_subject(subject, SCAN_PREDICATE_TYPE, &pred, key)?;
        write_atomic(&scan_path, scan_bundle.to_json().as_bytes())?;
        scan_written = Some(scan_path);
    }
    write_atomic(&signature, oms.to_json().as_bytes())?;

    Ok(Signed {
        signature,
        scan_attestation: scan_written,
        manifest: m,
        root_digest,
        bytes: total,
        key_type: key.key_type(),
        report,
    })
}

/// Signs an in-toto statement about `subject` (any artifact named by a digest, e.g. an OCI image
/// manifest `sha256:...`) with `predicate_type`/`predicate`, returning the bundle.
pub fn sign_subject<P: Serialize>(
    subject: Subject,
    predicate_type: &str,
    predicate: &P,
    key: &PrivateKey,
) -> Result<Bundle, SignError> {
    let statement = Statement::new(vec![subject], predicate_type, predicate);
    Ok(Bundle::sign(&statement.to_payload()?, key))
}

/// Verifies a bundle with `key` and returns its statement, checking that one subject carries the
/// SHA-256 `expected_digest` (hex) and that the predicate type is `predicate_type`.
pub fn verify_subject(
    bundle_json: &[u8],
    key: &PublicKey,
    predicate_type: &str,
    expected_digest: &str,
) -> Result<Statement<serde_json::Value>, VerifyError> {
    let b = Bundle::from_json(bundle_json)?;
    let v = b.verify(key)?;
    let st = bundle::parse_statement(&v.payload)?;
    if st.predicate_type != predicate_type {
        return Err(VerifyError::UnknownPredicate(st.predicate_type));
    }
    let found = st.subject.iter().any(|s| {
        s.digest
            .get("sha256")
            .is_some_and(|d| d.eq_ignore_ascii_case(expected_digest))
    });
    if !found {
        return Err(VerifyError::SubjectMismatch(format!(
            "no subject has sha256 {expected_digest}"
        )));
    }
    Ok(st)
}

/// Options for [`verify_directory`].
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Signature path; default [`default_signature_path`].
    pub signature: Option<PathBuf>,
    /// Extra local paths to leave out (relative to the model root, or absolute inside it).
    pub ignore: Vec<PathBuf>,
    /// Fail when the scan attestation is missing.
    pub require_scan_attestation: bool,
    /// Hashing threads; default [`hash::default_threads`].
    pub threads: Option<usize>,
}

/// What a successful verification established.
#[derive(Debug, Clone)]
pub struct Verified {
    pub model_name: String,
    pub predicate_type: String,
    pub key_type: KeyType,
    /// Whether the bundle named its key (model_signing warns when it does not).
    pub hint_present: bool,
    pub files: usize,
    pub resources: usize,
    pub bytes: u64,
    pub hash: Algorithm,
    pub method: manifest::Method,
    pub root_digest: String,
    /// The verified scan attestation, when one was found.
    pub scan: Option<ScanPredicate>,
}

impl Verified {
    /// What `modelgate verify --json` prints for a verified model (and the Python API's
    /// `verify` returns): one shape for every caller.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "verified": true,
            "model": self.model_name,
            "key_type": self.key_type.as_str(),
            "files": self.files,
            "bytes": self.bytes,
            "hash": self.hash.name(),
            "subject_sha256": self.root_digest,
            "scan": self.scan,
        })
    }
}

fn read_bundle_file(path: &Path) -> Result<Vec<u8>, VerifyError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(VerifyError::MissingSignature(path.to_path_buf()))
        }
        Err(source) => {
            return Err(VerifyError::ReadSignature {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if meta.len() > MAX_BUNDLE_BYTES {
        return Err(VerifyError::SignatureTooLarge);
    }
    std::fs::read(path).map_err(|source| VerifyError::ReadSignature {
        path: path.to_path_buf(),
        source,
    })
}

/// Verifies `model` against its OMS signature with `key`. See the module documentation.
pub fn verify_directory(
    model: &Path,
    key: &PublicKey,
    opts: &VerifyOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Verified, VerifyError> {
    let signature = opts
        .signature
        .clone()
        .unwrap_or_else(|| default_signature_path(model));
    let raw = read_bundle_file(&signature)?;
    let b = Bundle::from_json(&raw)?;
    let verified = b.verify(key)?;
    let st = bundle::parse_statement(&verified.payload)?;
    if st.predicate_type == SCAN_PREDICATE_TYPE {
        return Err(VerifyError::UnknownPredicate(format!(
            "{SCAN_PREDICATE_TYPE} (this is a scan attestation; pass the model signature)"
        )));
    }
    let expected = Manifest::from_statement(&st)?;

    if !model.exists() {
        return Err(VerifyError::Manifest(ManifestError::Tree(
            TreeError::Missing(model.to_path_buf()),
        )));
    }
    let mut ignore = IgnoreSet::new();
    for p in &expected.serialization.ignore_paths {
        ignore.add(p);
    }
    // model_signing's CLI always ignores the git paths when verifying, unless the signature
    // covers files under them.
    for g in manifest::GIT_PATHS {
        let gp = manifest::RelPath::parse(g);
        let covered = expected.resources.iter().any(|r| {
            manifest::RelPath::parse(r.name.split(':').next().unwrap_or_default()).starts_with(&gp)
        });
        if !covered {
            ignore.add(g);
        }
    }
    add_user_ignores(&mut ignore, model, &opts.ignore).map_err(ManifestError::from)?;
    let scan_path = scan_attestation_path(&signature);
    if model.is_dir() {
        ignore.add_fs_path(model, &signature);
        ignore.add_fs_path(model, &scan_path);
    }
    let files = manifest::list_files(model, &ignore).map_err(ManifestError::from)?;
    let total: u64 = files.iter().map(|f| f.stamp.len).sum();
    progress(Progress::Hashing { total_bytes: total });
    let actual = manifest::build(
        &expected.model_name,
        &files,
        expected.serialization.clone(),
        opts.threads.unwrap_or_else(hash::default_threads),
        &|n| {
            progress(Progress::Hashed(n));
        },
    )?;
    let d = manifest::diff(&expected, &actual);
    if !d.is_empty() {
        // "Another model": nothing matches, or the names differ and most files differ.
        let local_name = model_name(model);
        let foreign = d.unchanged == 0
            || (local_name != expected.model_name
                && d.unchanged.saturating_mul(2) < expected.resources.len());
        if foreign && !expected.resources.is_empty() {
            return Err(VerifyError::ForeignModel {
                signed_name: expected.model_name.clone(),
                signed_files: expected.file_count(),
                path: model.to_path_buf(),
                diff: Box::new(d),
            });
        }
        return Err(VerifyError::Mismatch(Box::new(d)));
    }
    let root_digest = expected.root_digest()?;

    let scan = if scan_path.exists() {
        let wrap = |e: VerifyError| VerifyError::ScanAttestation {
            path: scan_path.clone(),
            source: Box::new(e),
        };
        let raw_scan = read_bundle_file(&scan_path).map_err(wrap)?;
        let st = verify_subject(&raw_scan, key, SCAN_PREDICATE_TYPE, &root_digest).map_err(wrap)?;
        let pred: ScanPredicate = serde_json::from_value(st.predicate)
            .map_err(|e| wrap(VerifyError::MalformedStatement(e.to_string())))?;
        let payload_digest = hash::sha256_hex(&verified.payload);
        if !pred
            .model
            .oms_payload_sha256
            .eq_ignore_ascii_case(&payload_digest)
        {
            return Err(wrap(VerifyError::SubjectMismatch(
                "it accompanies a different signature of this model".into(),
            )));
        }
        Some(pred)
    } else if opts.require_scan_attestation {
        return Err(VerifyError::MissingScanAttestation(scan_path));
    } else {
        None
    };

    Ok(Verified {
        model_name: expected.model_name.clone(),
        predicate_type: st.predicate_type.clone(),
        key_type: key.key_type(),
        hint_present: verified.hint_present,
        files: expected.file_count(),
        resources: expected.resources.len(),
        bytes: total,
        hash: expected.serialization.hash,
        method: expected.serialization.method.clone(),
        root_digest,
        scan,
    })
}
