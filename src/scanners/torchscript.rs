//! TorchScript archives (`torch.jit.save`): a zip with `<prefix>/code/**.py` (TorchScript source),
//! `constants.pkl`, `data.pkl` and, for lite-interpreter files, `bytecode.pkl`.
//!
//! Two parts:
//! * [`classify_listing`] runs from the zip walker (through the engine's `archive_listed` hook) right after the central directory is read (it sees
//!   the member names, not their bytes): it reports the archive as TorchScript (info) and reports
//!   a TorchScript archive that is named like a weights file (`.bin`, `.pth`, `.safetensors`, …),
//!   the CVE-2025-32434 delivery: `torch.load(weights_only=True)` in torch ≤ 2.5.1 handed such
//!   files to the TorchScript loader. The pickles inside are scanned by the pickle scanner as usual.
//! * [`TorchScriptScanner`] reads each `code/**.py` member (tagged [`Format::TorchScriptCode`] by
//!   the walker) and flags code that reaches the file system, custom native ops, or Python
//!   features TorchScript cannot compile (which only a hand-edited archive contains).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::scanners::code::pytokens;
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;

pub const ARCHIVE: Code = Code {
    id: "torchscript/archive",
    severity: Severity::Info,
    summary: "The archive is a TorchScript program, not just weights.",
    detects: "A zip with `code/**.py` TorchScript sources next to `constants.pkl` / `data.pkl` (or a lite-interpreter `bytecode.pkl`).",
    why: "Loading it compiles and runs the TorchScript program inside (`torch.jit.load`); reviewers should know the artifact carries code. Its pickles and code are scanned separately.",
    example: "`silero_vad.jit` with `silero_vad/code/__torch__/vad/model/vad_annotator.py`.",
    remediation: "None needed if the code findings are clean; prefer weights-only formats (safetensors) where you only need the parameters.",
    references: &["https://pytorch.org/docs/stable/jit.html"],
};

pub const DISGUISED_WEIGHTS: Code = Code {
    id: "torchscript/disguised-weights",
    severity: Severity::High,
    summary: "A TorchScript program is named like a weights file.",
    detects: "A TorchScript archive whose file name ends in `.bin`, `.pth`, `.ckpt`, `.safetensors`, `.pkl` or `.model`. (`.pt` is not reported: `torch.jit.save` tutorials use it for TorchScript, so it would flag benign exports; the archive is still listed as `torchscript/archive` and its code and pickles are scanned.)",
    why: "Pipelines load weights with `torch.load(weights_only=True)` believing it safe; in torch ≤ 2.5.1 a TorchScript archive makes that call run the TorchScript loader instead (CVE-2025-32434), and newer versions refuse it, so the file is not what its name says.",
    example: "`pytorch_model.bin` that contains `archive/code/__torch__/…py`.",
    remediation: "Reject the file; ask for plain weights (safetensors or a `torch.save` state dict).",
    references: &["CVE-2025-32434", "GHSA-53q9-r3pm-6pq6"],
};

pub const DANGEROUS_CODE: Code = Code {
    id: "torchscript/dangerous-code",
    severity: Severity::High,
    summary: "TorchScript code reaches files, native libraries or non-TorchScript Python.",
    detects: "In `code/**.py`: `torch.from_file` / `aten::from_file` (reads, and with `shared=True` writes, arbitrary files), `torch.save`/`torch.load`, calls into custom op namespaces `torch.ops.<ns>` outside the standard ones (native kernels from a loaded library), and Python features the TorchScript compiler does not offer (`os.`, `subprocess`, `__import__`, `eval`, `exec`, `open`, `getattr` on modules, `importlib`), which only appear in hand-edited archives.",
    why: "TorchScript runs when the model is loaded or called; file-mapping ops let a model read or overwrite files on the host (the CVE-2025-32434 exploit path), and custom ops run native code.",
    example: "`torch.from_file(\"/home/user/.ssh/authorized_keys\", True, 4096)` in `code/__torch__/model.py`.",
    remediation: "Do not load the model; re-export it from reviewed source.",
    references: &["CVE-2025-32434"],
};

pub static CODES: &[&Code] = &[&ARCHIVE, &DISGUISED_WEIGHTS, &DANGEROUS_CODE];

/// Weights-file extensions and the severity of a TorchScript archive carrying them.
const WEIGHT_EXTENSIONS: &[(&str, Severity)] = &[
    ("bin", Severity::High),
    ("pth", Severity::High),
    ("ckpt", Severity::High),
    ("safetensors", Severity::High),
    ("model", Severity::High),
    ("pkl", Severity::High),
];

/// Op namespaces that ship with PyTorch itself.
const STANDARD_OP_NAMESPACES: &[&str] = &[
    "aten",
    "prim",
    "quantized",
    "_quantized",
    "prepacked",
    "_caffe2",
    "profiler",
    "cuda",
    "xnnpack",
    "mkldnn",
    "mkldnn_prepacked",
    "onednn",
    "c10d",
    "_c10d_functional",
    "_c10d_functional_autograd",
    "_dtensor",
    "fbgemm",
    "sparse",
    "q",
    "_test",
    "inductor",
    "higher_order",
    "torchvision",
    "torchaudio",
    "torchtext",
];

/// What the member list says about a TorchScript archive.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ArchiveKind {
    pub code_files: usize,
    pub bytecode: bool,
    pub constants: bool,
}

/// Classifies a zip from its member names; `None` when it is not TorchScript.
pub fn torchscript_kind(names: &[&str]) -> Option<ArchiveKind> {
    let mut k = ArchiveKind::default();
    for &n in names {
        let rest = n.split_once('/').map_or(n, |(_, r)| r);
        if (rest.starts_with("code/") || n.starts_with("code/")) && n.ends_with(".py") {
            k.code_files = k.code_files.saturating_add(1);
        }
        if rest == "bytecode.pkl" || n == "bytecode.pkl" {
            k.bytecode = true;
        }
        if rest == "constants.pkl" || n == "constants.pkl" {
            k.constants = true;
        }
    }
    ((k.code_files > 0 && k.constants) || k.bytecode).then_some(k)
}

/// The zip walker's classification hook: reports TorchScript archives (and those disguised as
/// weights) from the central directory alone.
pub fn classify_listing(a: &Artifact, names: &[&str], out: &mut Sink) {
    let Some(kind) = torchscript_kind(names) else {
        return;
    };
    out.push(
        Finding::new(
            &ARCHIVE,
            a.location.clone(),
            format!(
                "TorchScript archive with {} code file(s){}",
                kind.code_files,
                if kind.bytecode {
                    " and lite-interpreter bytecode"
                } else {
                    ""
                }
            ),
        )
        .evidence("code-files", kind.code_files.to_string())
        .evidence("bytecode", kind.bytecode.to_string()),
    );
    let lower = a.name.to_ascii_lowercase();
    if let Some(ext) = lower.rsplit_once('.').map(|(_, e)| e) {
        if let Some((_, sev)) = WEIGHT_EXTENSIONS.iter().find(|(e, _)| *e == ext) {
            out.push(
                Finding::new(
                    &DISGUISED_WEIGHTS,
                    a.location.clone(),
                    format!(
                        "{} is named like a weights file but is a TorchScript program",
                        a.name
                    ),
                )
                .severity(*sev)
                .evidence("extension", ext.to_owned()),
            );
        }
    }
}

/// One pattern in TorchScript code.
struct Pattern {
    needle: &'static str,
    /// The needle must not be preceded by an identifier character or `.` (a free call).
    free: bool,
    severity: Severity,
    what: &'static str,
}

const PATTERNS: &[Pattern] = &[
    Pattern {
        needle: "from_file(",
        free: false,
        severity: Severity::High,
        what: "maps a file on the host into a tensor (aten::from_file)",
    },
    Pattern {
        needle: "torch.save(",
        free: false,
        severity: Severity::High,
        what: "writes a file (torch.save)",
    },
    Pattern {
        needle: "torch.load(",
        free: false,
        severity: Severity::High,
        what: "reads and unpickles a file (torch.load)",
    },
    Pattern {
        needle: "ops.aten.save",
        free: false,
        severity: Severity::High,
        what: "writes a file (aten::save)",
    },
    Pattern {
        needle: "load_library",
        free: false,
        severity: Severity::Critical,
        what: "loads a native library",
    },
    Pattern {
        needle: "__import__",
        free: false,
        severity: Severity::Critical,
        what: "imports a Python module (not TorchScript)",
    },
    Pattern {
        needle: "importlib",
        free: false,
        severity: Severity::Critical,
        what: "imports a Python module (not TorchScript)",
    },
    Pattern {
        needle: "subprocess",
        free: false,
        severity: Severity::Critical,
        what: "starts processes (not TorchScript)",
    },
    Pattern {
        needle: "os.system",
        free: true,
        severity: Severity::Critical,
        what: "runs a shell command (not TorchScript)",
    },
    Pattern {
        needle: "os.popen",
        free: true,
        severity: Severity::Critical,
        what: "runs a shell command (not TorchScript)",
    },
    Pattern {
        needle: "os.",
        free: true,
        severity: Severity::High,
        what: "uses the os module (not TorchScript)",
    },
    Pattern {
        needle: "builtins",
        free: true,
        severity: Severity::High,
        what: "reaches Python builtins (not TorchScript)",
    },
    Pattern {
        needle: "eval(",
        free: true,
        severity: Severity::Critical,
        what: "evaluates Python source (not TorchScript)",
    },
    Pattern {
        needle: "exec(",
        free: true,
        severity: Severity::Critical,
        what: "executes Python source (not TorchScript)",
    },
    Pattern {
        needle: "open(",
        free: true,
        severity: Severity::High,
        what: "opens a file (not TorchScript)",
    },
    Pattern {
        needle: "socket",
        free: true,
        severity: Severity::High,
        what: "opens network connections (not TorchScript)",
    },
];

const MAX_CODE_BYTES: u64 = 32 * 1024 * 1024;
const MAX_FINDINGS_PER_FILE: usize = 50;

pub struct TorchScriptScanner;

impl Scanner for TorchScriptScanner {
    fn id(&self) -> &'static str {
        "torchscript"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::TorchScriptCode]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(
        &self,
        a: &Artifact,
        _cx: &dyn ScannerContext,
        out: &mut Sink,
    ) -> Result<(), ScanError> {
        let Some(bytes) = a.content.read_all(MAX_CODE_BYTES)? else {
            return Err(ScanError::Budget(format!(
                "TorchScript source larger than {MAX_CODE_BYTES} bytes"
            )));
        };
        let text = String::from_utf8_lossy(&bytes);
        let code = pytokens::code_only(&text);
        let mut reported = 0usize;
        for (lineno, line) in code.lines().enumerate() {
            if reported >= MAX_FINDINGS_PER_FILE {
                break;
            }
            let mut hits: Vec<(&Pattern, &str)> = Vec::new();
            for p in PATTERNS {
                if pytokens::find_token(line, p.needle, p.free).is_some()
                    && !hits.iter().any(|(q, _)| q.what == p.what)
                {
                    hits.push((p, p.needle));
                }
            }
            for ns in custom_op_namespaces(line) {
                out.push(
                    Finding::new(
                        &DANGEROUS_CODE,
                        a.location.clone(),
                        format!(
                            "line {}: calls custom op namespace torch.ops.{ns} (native code from a loaded library)",
                            lineno.saturating_add(1)
                        ),
                    )
                    .severity(Severity::Medium)
                    .evidence("line", lineno.saturating_add(1).to_string())
                    .evidence("namespace", ns),
                );
                reported = reported.saturating_add(1);
            }
            // Report the most severe hit per line.
            if let Some((p, needle)) = hits.iter().max_by_key(|(p, _)| p.severity) {
                let original = text.lines().nth(lineno).unwrap_or("").trim();
                let snippet: String = original.chars().take(160).collect();
                out.push(
                    Finding::new(
                        &DANGEROUS_CODE,
                        a.location.clone(),
                        format!("line {}: {}", lineno.saturating_add(1), p.what),
                    )
                    .severity(p.severity)
                    .evidence("line", lineno.saturating_add(1).to_string())
                    .evidence("pattern", (*needle).to_owned())
                    .evidence("code", snippet),
                );
                reported = reported.saturating_add(1);
            }
        }
        Ok(())
    }
}

/// `torch.ops.<ns>.` / `ops.<ns>.` namespaces on a line that are not part of PyTorch.
fn custom_op_namespaces(line: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("ops.") {
        let before = rest.get(..i).and_then(|b| b.chars().last());
        let after = rest.get(i.saturating_add(4)..).unwrap_or("");
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let ns: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ns.is_empty() || !after.get(ns.len()..).is_some_and(|r| r.starts_with('.')) {
            continue;
        }
        if !STANDARD_OP_NAMESPACES.contains(&ns.as_str()) && !v.contains(&ns) {
            v.push(ns);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        assert!(custom_op_namespaces("x = ops.aten.add(a, b)").is_empty());
        assert!(custom_op_namespaces("torch.ops.prim.NumToTensor(x)").is_empty());
        assert_eq!(
            custom_op_namespaces("y = torch.ops.evil.run(x)"),
            vec!["evil"]
        );
        assert!(custom_op_namespaces("myops.thing(x)").is_empty());
    }
}
