//! Safe conversion: PyTorch checkpoints and NumPy arrays to safetensors, scikit-learn estimators to
//! ONNX, without executing anything.
//!
//! Every pickle goes through the symbolic VM ([`crate::pickle::vm`]), which never imports or calls
//! anything. The converters then check every global the pickle names against their own
//! allowlist (formats.md §8.2 and §8.3): a global outside it refuses the conversion (naming it),
//! a small set of known-inert globals becomes an opaque placeholder that is reported, and the
//! allowlisted shapes are pattern-matched by typed interpreters.
//!
//! Entry points: [`convert_file`] (to any writer) and [`convert_to_path`] (temp file in the
//! destination directory, renamed on success, so a failure never leaves a partial artifact).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

pub mod ndarray;
pub mod numpy;
pub mod onnx;
pub mod pipeline;
pub mod sklearn;
pub mod st;
pub mod torch;

pub use pipeline::{convert_approved, Converted, PipelineError, Request};

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::artifact::Content;
use crate::format::Format;
use crate::pickle::vm::{GlobalRef, VmError};
use crate::sniff::{sniff, SNIFF_LEN};

/// What to convert to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Safetensors,
    Onnx,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Safetensors => "safetensors",
            Target::Onnx => "onnx",
        }
    }
}

/// Options of one conversion.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Add a ZipMap to classifier graphs (skl2onnx-style `output_probability`).
    pub zipmap: bool,
    /// The source file's sha256 when the caller already computed it (hex); computed otherwise.
    pub source_sha256: Option<String>,
}

/// Why a conversion failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("pickle: {0}")]
    Pickle(#[from] VmError),
    #[error("refused: the pickle imports {global} (offset {offset}), which the {converter} converter does not allow{reason}")]
    Forbidden {
        global: String,
        module: String,
        name: String,
        offset: u64,
        converter: &'static str,
        reason: String,
    },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("malformed input: {0}")]
    Malformed(String),
}

/// One tensor written to a safetensors file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TensorSummary {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
}

/// What a conversion did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    /// `pytorch-zip`, `pytorch-legacy`, `npy`, `npz`, `sklearn`.
    pub input_kind: String,
    pub source_sha256: String,
    /// sha256 of the bytes written.
    pub output_sha256: String,
    pub output_bytes: u64,
    pub tensors: Vec<TensorSummary>,
    /// `(alias, kept)`: names dropped because they share storage with `kept` (also in
    /// `__metadata__`).
    pub aliases: Vec<(String, String)>,
    /// Non-tensor leaves that were not converted (`epoch = 3`).
    pub skipped: Vec<String>,
    /// Tolerated inert globals kept as opaque placeholders (never called).
    pub placeholders: Vec<String>,
    /// Other remarks (views copied, states ignored, estimator description).
    pub notes: Vec<String>,
}

/// How a converter treats one global.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Interpreted by the converter.
    Interpret,
    /// Known inert; kept as an opaque placeholder and reported.
    Tolerate,
    /// Not allowed; the reason is appended to the refusal.
    Refuse(&'static str),
}

/// Checks every global against a converter's allowlist. Returns the tolerated ones.
pub fn check_globals(
    globals: &[GlobalRef],
    converter: &'static str,
    admit: impl Fn(&str, &str) -> Admit,
) -> Result<Vec<String>, ConvertError> {
    let mut tolerated: Vec<String> = Vec::new();
    for g in globals {
        match admit(&g.module, &g.name) {
            Admit::Interpret => {}
            Admit::Tolerate => {
                let q = g.qualified();
                if !tolerated.contains(&q) {
                    tolerated.push(q);
                }
            }
            Admit::Refuse(why) => {
                return Err(ConvertError::Forbidden {
                    global: g.qualified(),
                    module: g.module.clone(),
                    name: g.name.clone(),
                    offset: g.offset,
                    converter,
                    reason: if why.is_empty() {
                        String::new()
                    } else {
                        format!(": {why}")
                    },
                });
            }
        }
    }
    Ok(tolerated)
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex::encode(h.finalize()))
}

/// A writer that hashes and counts what passes through it. Hashing runs on a helper thread fed
/// through a small bounded channel, so it overlaps the copy instead of adding to it.
pub struct HashWriter<W> {
    inner: W,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    worker: Option<std::thread::JoinHandle<String>>,
    pending: Vec<u8>,
    written: u64,
}

/// Bytes handed to the hashing thread at a time.
const HASH_BATCH: usize = 4 << 20;

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let worker = std::thread::spawn(move || {
            let mut h = Sha256::new();
            for chunk in rx {
                h.update(&chunk);
            }
            hex::encode(h.finalize())
        });
        Self {
            inner,
            tx: Some(tx),
            worker: Some(worker),
            pending: Vec::with_capacity(HASH_BATCH),
            written: 0,
        }
    }

    fn send_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(HASH_BATCH));
        if let Some(tx) = &self.tx {
            // The worker only stops when the sender is dropped; a send error cannot happen
            // before `finish`, and would surface there as a wrong (never a missing) digest.
            let _ = tx.send(chunk);
        }
    }

    /// `(inner writer, sha256 hex, bytes written)`.
    pub fn finish(mut self) -> (W, String, u64) {
        self.send_pending();
        self.tx = None;
        let digest = self
            .worker
            .take()
            .and_then(|w| w.join().ok())
            .unwrap_or_default();
        (self.inner, digest, self.written)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let done = buf.get(..n).unwrap_or_default();
        self.pending.extend_from_slice(done);
        self.written = self.written.saturating_add(n as u64);
        if self.pending.len() >= HASH_BATCH {
            self.send_pending();
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What an input file is, for conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    TorchZip,
    TorchLegacy,
    Npy,
    Npz,
    /// A pickle or joblib stream (possibly compressed with the given format).
    Pickle(Format),
}

/// Decides what `path` is from its content (the same sniffing the scanner uses).
pub fn detect(path: &Path) -> Result<InputKind, ConvertError> {
    let content = Content::file(path.to_path_buf())?;
    let head = content.head(SNIFF_LEN)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(match sniff(&head, &name) {
        Format::Zip => {
            let index = crate::walk::read_central_directory(&content)
                .map_err(|e| ConvertError::Malformed(e.to_string()))?;
            if index
                .entries
                .iter()
                .any(|e| e.name == "data.pkl" || e.name.ends_with("/data.pkl"))
            {
                InputKind::TorchZip
            } else if index
                .entries
                .iter()
                .any(|e| e.name.to_ascii_lowercase().ends_with(".npy"))
            {
                InputKind::Npz
            } else {
                return Err(ConvertError::Unsupported(
                    "a zip archive that is neither a PyTorch checkpoint (no data.pkl) nor an .npz"
                        .into(),
                ));
            }
        }
        Format::PytorchLegacy => InputKind::TorchLegacy,
        Format::Numpy => InputKind::Npy,
        Format::Pickle => InputKind::Pickle(Format::Pickle),
        // Protocol 0/1 pickles are not identified by sniffing (no PROTO); the converter's own
        // symbolic VM reads them the way the scanner's fallback reading does.
        Format::Unknown if crate::sniff::pickle_like(&head) => InputKind::Pickle(Format::Pickle),
        f @ (Format::Gzip
        | Format::Zlib
        | Format::Bzip2
        | Format::Xz
        | Format::Lzma
        | Format::Lz4) => InputKind::Pickle(f),
        Format::Tar => {
            return Err(ConvertError::Unsupported(
                "legacy PyTorch tar checkpoints (torch 0.1.x) are not converted; torch itself refuses them with weights_only".into(),
            ))
        }
        Format::Safetensors => {
            return Err(ConvertError::Unsupported(
                "the input is already safetensors".into(),
            ))
        }
        Format::Onnx => return Err(ConvertError::Unsupported("the input is already ONNX".into())),
        other => {
            return Err(ConvertError::Unsupported(format!(
                "{} files cannot be converted (supported: PyTorch zip and legacy checkpoints, .npy, .npz, scikit-learn pickles and joblib files)",
                other.name()
            )))
        }
    })
}

/// Converts `input` into `out`. The target must fit the input: PyTorch and NumPy inputs become
/// safetensors, scikit-learn pickles become ONNX.
pub fn convert_file<W: Write>(
    input: &Path,
    target: Target,
    out: W,
    opts: &ConvertOptions,
) -> Result<Summary, ConvertError> {
    let kind = detect(input)?;
    let sha = match &opts.source_sha256 {
        Some(s) => s.clone(),
        None => sha256_file(input)?,
    };
    let mut out = HashWriter::new(out);
    let mut summary = match (kind, target) {
        (InputKind::TorchZip, Target::Safetensors) => torch::convert_zip(input, &sha, &mut out)?,
        (InputKind::TorchLegacy, Target::Safetensors) => {
            torch::convert_legacy(input, &sha, &mut out)?
        }
        (InputKind::Npy, Target::Safetensors) => numpy::convert_npy(input, &sha, &mut out)?,
        (InputKind::Npz, Target::Safetensors) => numpy::convert_npz(input, &sha, &mut out)?,
        (InputKind::Pickle(f), Target::Onnx) => sklearn::convert(input, f, &sha, opts, &mut out)?,
        (InputKind::Pickle(_), Target::Safetensors) => {
            return Err(ConvertError::Unsupported(
                "a plain pickle converts to ONNX (scikit-learn estimators); PyTorch checkpoints are zip or legacy torch.save files".into(),
            ))
        }
        (_, Target::Onnx) => {
            return Err(ConvertError::Unsupported(
                "only scikit-learn pickles and joblib files convert to ONNX; PyTorch and NumPy inputs convert to safetensors".into(),
            ))
        }
    };
    out.flush()?;
    let (_, out_sha, n) = out.finish();
    summary.source_sha256 = sha;
    summary.output_sha256 = out_sha;
    summary.output_bytes = n;
    Ok(summary)
}

/// Converts `input` to the file `output`: written to a temporary file in the destination
/// directory and renamed into place on success; on any error nothing is left behind.
pub fn convert_to_path(
    input: &Path,
    target: Target,
    output: &Path,
    opts: &ConvertOptions,
) -> Result<Summary, ConvertError> {
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".modelgate-convert-")
        .tempfile_in(&dir)?;
    let summary = {
        let w = io::BufWriter::with_capacity(1 << 20, tmp.as_file());
        let s = convert_file(input, target, w, opts)?;
        tmp.as_file().sync_data()?;
        s
    };
    tmp.persist(output).map_err(|e| ConvertError::Io(e.error))?;
    Ok(summary)
}

/// The default output path: the input with the target's extension.
pub fn default_output(input: &Path, target: Target) -> PathBuf {
    let ext = match target {
        Target::Safetensors => "safetensors",
        Target::Onnx => "onnx",
    };
    let mut p = input.to_path_buf();
    // `model.joblib.gz` → `model.onnx`.
    while let Some(e) = p.extension().and_then(|e| e.to_str()) {
        if matches!(
            e.to_ascii_lowercase().as_str(),
            "gz" | "z" | "bz2" | "xz" | "lzma" | "lz4"
        ) {
            p.set_extension("");
        } else {
            break;
        }
    }
    p.set_extension(ext);
    p
}

/// The decoded bytes of a zip member, read by the scanner's zip reader
/// ([`crate::walk::read_member`], the decoders the archive walker scans with), so the converter
/// reads exactly the bytes that were scanned; a member larger than `limit` is refused.
pub fn zip_member(
    content: &Content,
    entry: &crate::walk::ZipEntry,
    limit: u64,
) -> Result<Vec<u8>, ConvertError> {
    let out =
        crate::walk::read_member(content, entry, limit.saturating_add(1)).map_err(|e| match e {
            crate::error::ScanError::Unsupported(m) => ConvertError::Unsupported(m),
            other => ConvertError::Malformed(other.to_string()),
        })?;
    if out.len() as u64 > limit {
        return Err(ConvertError::Unsupported(format!(
            "{} is larger than {limit} bytes",
            entry.name
        )));
    }
    Ok(out)
}

/// Decompresses a whole compressed stream (joblib compression), at most `limit` bytes.
pub fn decompress(format: Format, input: impl Read, limit: u64) -> Result<Vec<u8>, ConvertError> {
    let mut r: Box<dyn Read> = match format {
        Format::Pickle => Box::new(input),
        f if f.is_compression() && f != Format::JoblibZfile => {
            crate::walk::decoder(f, Box::new(input)).map_err(|e| match e {
                crate::error::ScanError::Unsupported(m) => ConvertError::Unsupported(m),
                other => ConvertError::Malformed(format!("{}: {other}", f.name())),
            })?
        }
        other => {
            return Err(ConvertError::Unsupported(format!(
                "{} compression",
                other.name()
            )))
        }
    };
    let mut out = Vec::new();
    r.by_ref()
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| ConvertError::Malformed(format!("{}: {e}", format.name())))?;
    if out.len() as u64 > limit {
        return Err(ConvertError::Unsupported(format!(
            "decompressed stream larger than {limit} bytes"
        )));
    }
    Ok(out)
}
