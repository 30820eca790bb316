//! Code and configuration that travel with models and decide what runs when the model is used:
//!
//! * Python files (`*.py`): listed, and checked token-wise (comments and string literals blanked
//!   out) for process execution, dynamic code, unsafe deserialization and network access —
//!   Hugging Face `trust_remote_code`, MLflow `code/` and custom-layer files are executed as-is;
//! * JSON configs: Hugging Face `auto_map` / `custom_pipelines` (the model needs
//!   `trust_remote_code`), Hydra/NeMo `_target_` entries, and Keras object configs found under any
//!   JSON name;
//! * YAML configs: Hydra/NeMo `_target_` entries (CVE-2025-23304), conda environments;
//! * MLflow `MLmodel` manifests: flavors, `loader_module`, and the pickles they name
//!   (`python_model`, `pickled_model`, …), cross-referenced with the directory being scanned;
//! * `requirements*.txt`: listed, with non-default package indexes and direct URLs flagged.

pub mod lenient;
pub mod model_side;
pub mod pyast;
pub mod pytokens;

use std::path::Path;

use serde_json::Value;

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::scanners::keras;
use crate::scanners::rules::RuleSet;
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;
use crate::signatures::{Action, SignatureDb};

pub const PYTHON_FILE: Code = Code {
    id: "code/python-file",
    severity: Severity::Info,
    summary: "A Python source file travels with the model.",
    detects: "Every `*.py` file in a model directory or archive (outside TorchScript archives, which have their own scanner).",
    why: "Loaders execute these files (`trust_remote_code=True`, MLflow `code/`, Keras custom layers); reviewers need to know they are there even when no dangerous call is found.",
    example: "`modeling_custom.py` next to `config.json`.",
    remediation: "Review the code before enabling remote code for this model.",
    references: &["https://huggingface.co/docs/transformers/custom_models"],
};

pub const DANGEROUS_CALL: Code = Code {
    id: "code/dangerous-call",
    severity: Severity::High,
    summary: "Python code shipped with the model runs commands, evaluates code, unpickles or opens network connections.",
    detects: "Python is parsed into a syntax tree and every reference is resolved through imports, aliases (`import os as o`, `from os import system as run`, assignments, parameter defaults), `posix`/`nt`, `sys.modules[...]`, `getattr(builtins, ...)`, `vars(m)[...]`, `__import__`, `importlib.import_module` and constant-folded names (`'sys' + 'tem'`, `''.join`, `[::-1]`, `chr`, base64). Reported: process execution (`os.system`, `os.popen`, `os.exec*`, `os.spawn*`, `os.posix_spawn*`, `subprocess.*`, `pty.spawn`), `eval`/`exec`/`compile` of computed code (a constant string is parsed and its own reach reported where it runs; the call itself is medium), `marshal.loads`, `runpy`, native libraries through `ctypes`/`cffi`, `torch.hub.load`, computed imports and attributes of process modules, files written at absolute, home or `..` paths, interpreter escapes (`__subclasses__`, `__globals__`) (high; process and code execution is critical at module level, in functions frameworks call on load such as `__init__`, `forward`, `load`, `from_pretrained`, `load_context`, `predict`, and anywhere in files a config names as model-side code); unpickling (`pickle`, `dill`, `joblib`, `cloudpickle`, `torch.load` without `weights_only=True`, `numpy.load(allow_pickle=True)`, `yaml.load` without a safe loader), network clients, `importlib.import_module` of a computed name, deleting files (medium). Code under `if __name__ == \"__main__\":` never runs on import and stays high. Files that do not parse are also scanned token by token (comments and strings blanked). One finding per target and file, with the first line, the count, the expression that reached it and its context.",
    why: "This code runs with the loading user's privileges when the model is loaded: with `trust_remote_code`, through sentence-transformers custom modules (no opt-in for local paths), MLflow models from code and loader modules, or custom layers.",
    example: "`os.system(\"curl … | sh\")` in `modeling_x.py`.",
    remediation: "Review the code; do not enable `trust_remote_code` for models whose code you have not read.",
    references: &["https://huggingface.co/docs/transformers/custom_models#using-a-model-with-custom-code"],
};

pub const REMOTE_CODE: Code = Code {
    id: "code/remote-code",
    severity: Severity::Medium,
    summary: "The model config asks the loader to import code shipped with the model (trust_remote_code).",
    detects: "Hugging Face `auto_map` (in `config.json`, `tokenizer_config.json`, processor configs) and `custom_pipelines` entries. Entries of the form `other/repo--module.Class` pull code from another repository and are high.",
    why: "Loading the model with `trust_remote_code=True` imports and runs the named Python modules; a repository that points at another repository's code can change what runs without changing its own files.",
    example: "`\"auto_map\": {\"AutoModel\": \"modeling_x.XModel\"}`",
    remediation: "Review the referenced Python files (they are scanned as `code/python-file`), pin the revision, or use a model that needs no remote code.",
    references: &["https://huggingface.co/docs/transformers/custom_models"],
};

pub const HYDRA_TARGET: Code = Code {
    id: "code/hydra-target",
    severity: Severity::Medium,
    summary: "A config instantiates a Python object by name (Hydra `_target_`).",
    detects: "`_target_` values in YAML and JSON configs (NeMo `model_config.yaml`, Hydra configs), and in a NeMo model config also the model's `target`/`cls` class and Hydra 0.x `cls`/`target` entries with `params` (the `nemo` scanner), that are denied by, or missing from, the `hydra-target` signature entries (signatures/hydra.toml).",
    why: "`hydra.utils.instantiate` imports the named module and calls the named object with the config's arguments: `_target_: os.system` runs a command when the model is restored (CVE-2025-23304).",
    example: "`_target_: subprocess.check_output` with `args: [[\"sh\", \"-c\", \"…\"]]`",
    remediation: "Do not restore the model; if the target is the publisher's own trusted class, add an `allow` entry of kind `hydra-target`.",
    references: &["CVE-2025-23304", "https://hydra.cc/docs/advanced/instantiate_objects/overview/"],
};

pub const MLFLOW_MODEL: Code = Code {
    id: "code/mlflow-model",
    severity: Severity::Info,
    summary: "An MLflow model manifest, with the flavors and files it loads.",
    detects: "An `MLmodel` file: its flavors, the `python_function` loader module, the pickles and data it names (`python_model`, `pickled_model`, `model_data`, `data`), its `code` directory and environment files.",
    why: "Informational: `mlflow.pyfunc.load_model` imports the loader module and unpickles the named files, so those files decide what runs. They are scanned as part of the model directory.",
    example: "`flavors: {python_function: {loader_module: mlflow.pyfunc.model, python_model: python_model.pkl}}`",
    remediation: "Scan the whole model directory, not only the manifest.",
    references: &["https://mlflow.org/docs/latest/models.html"],
};

pub const MLFLOW_LOADER: Code = Code {
    id: "code/mlflow-loader",
    severity: Severity::Medium,
    summary: "An MLflow model is loaded by a module outside MLflow.",
    detects: "A `loader_module` (at any depth of the MLmodel) that is not allowed by the `mlflow-loader` signature entries (MLflow's own flavors), or that is denied; and every `model_code_path` (\"models from code\") and `code_paths` entry, whose Python MLflow runs or puts on `sys.path` when loading. Those files are scanned as model-side code.",
    why: "`mlflow.pyfunc.load_model` imports the loader module and calls its `_load_pyfunc`; a custom loader is arbitrary code, often shipped in the model's `code/` directory.",
    example: "`loader_module: my_loader` with `code: code` holding `my_loader.py`.",
    remediation: "Review the loader module's code.",
    references: &["https://mlflow.org/docs/latest/python_api/mlflow.pyfunc.html"],
};

pub const MISSING_ARTIFACT: Code = Code {
    id: "code/missing-artifact",
    severity: Severity::Medium,
    summary: "Model metadata names a file that is not in the scanned directory.",
    detects: "MLflow `MLmodel` references (`python_model`, `pickled_model`, `model_data`, `data`) that do not exist next to the manifest.",
    why: "The loader will load that file from wherever it comes from at load time; the scan did not see it, so it cannot vouch for it.",
    example: "`python_model: python_model.pkl` with no such file in the directory.",
    remediation: "Scan the complete model directory, including every file the manifest names.",
    references: &[],
};

pub const DEPENDENCIES: Code = Code {
    id: "code/dependencies",
    severity: Severity::Info,
    summary: "The model declares Python dependencies that will be installed with it.",
    detects: "`requirements*.txt`, `conda.yaml`, `python_env.yaml` and similar environment files.",
    why: "Informational: installing the model's environment installs these packages (and runs their install hooks).",
    example: "`requirements.txt` listing `torch==2.5.1`.",
    remediation: "Pin and review dependencies; install from your approved index.",
    references: &[],
};

pub const DEPENDENCY_SOURCE: Code = Code {
    id: "code/dependency-source",
    severity: Severity::Medium,
    summary: "A model's dependency list installs from a non-default index or a direct URL.",
    detects: "`--index-url`, `--extra-index-url`, `-i`, `--find-links`, `--trusted-host` options and direct `git+`/`http(s)://`/local path requirements in requirements files and conda `pip:` sections.",
    why: "Extra indexes enable dependency confusion and direct URLs bypass package review: installing the model's environment can fetch attacker-controlled code.",
    example: "`--extra-index-url https://pypi.example.net/simple` in `requirements.txt`.",
    remediation: "Install only from your approved index; replace direct URLs with reviewed, pinned packages.",
    references: &["https://pip.pypa.io/en/stable/reference/requirements-file-format/"],
};

pub const MALFORMED: Code = Code {
    id: "code/malformed-config",
    severity: Severity::Medium,
    summary: "A model config file could not be parsed.",
    detects: "JSON or YAML configs (including `MLmodel`) that are invalid even for a lenient reader, too deep, use excessive aliasing or repeat keys (medium; the raw text is still searched for `_target_`, `auto_map`, `loader_module`, `python_model`, `model_code_path` and `code_paths` entries, which are reported under their own codes). JSON that only lenient readers accept (a byte-order mark, comments, trailing commas, `NaN`/`Infinity`) is read as they read it and noted at info level.",
    why: "A lenient loader may still read a config the scanner's strict parser rejects (a parser differential), so a config that does not parse is not harmless.",
    example: "A `model_config.yaml` with an unterminated flow mapping.",
    remediation: "Fix or re-export the config and scan again.",
    references: &[],
};

pub const UNPARSABLE_PYTHON: Code = Code {
    id: "code/unparsable-python",
    severity: Severity::Medium,
    summary: "A Python file shipped with the model could not be parsed completely.",
    detects: "Python files with syntax errors, or larger (8 MiB) or more deeply nested (50,000 levels) than the syntax-tree analysis accepts. The statements around an error are still analysed (the parser recovers) and the whole file is also scanned token by token for dangerous names; those results are reported separately as `code/dangerous-call`.",
    why: "A loader that gets a SyntaxError runs nothing, but the scanner's parser and CPython's can disagree (a parser differential), so a file that does not parse here must not be taken as harmless.",
    example: "`modeling_x.py` with an unterminated bracket, or 60,000 nested parentheses.",
    remediation: "Fix the file (or ask the publisher to) and scan again; review the token-level findings.",
    references: &["https://docs.python.org/3/reference/grammar.html"],
};

pub const SOURCE_ENCODING: Code = Code {
    id: "code/source-encoding",
    severity: Severity::High,
    summary: "A Python file declares a source encoding that changes what the code says.",
    detects: "A PEP 263 coding declaration (`# -*- coding: … -*-`) in the first two lines naming anything other than UTF-8, ASCII or Latin-1 (for example `utf-7`, `rot13`-style or UTF-16 codecs).",
    why: "CPython decodes the file with the declared codec before parsing, so code can be hidden from text-based review and scanners (`+AG8AcwAu-system` in UTF-7 is `os.system`). Real model code never needs such an encoding.",
    example: "`# coding: utf-7` followed by UTF-7 encoded statements.",
    remediation: "Do not load the model; ask for the file re-saved as UTF-8.",
    references: &["https://peps.python.org/pep-0263/"],
};

pub const CUSTOM_MODULE: Code = Code {
    id: "code/custom-module",
    severity: Severity::High,
    summary: "A sentence-transformers `modules.json` loads a module that is not part of sentence-transformers.",
    detects: "Entries of `modules.json` whose `type` is not a `sentence_transformers.*` class. When the named module file is in the model directory the entry is medium (the file is scanned as model-side code); when it is not there, or the type points at another repository (`org/repo--module.Class`), it is high.",
    why: "sentence-transformers resolves such types with `get_class_from_dynamic_module` from the model directory whenever the model is a local path, without `trust_remote_code`, and otherwise imports whatever installed module the type names; either way code runs when the model is loaded.",
    example: "`[{\"idx\": 0, \"path\": \"\", \"type\": \"custom_st.Transformer\"}]` with `custom_st.py` next to it.",
    remediation: "Review the module's code (its own findings are listed as `code/dangerous-call`) or use a model built only from sentence-transformers modules.",
    references: &["https://sbert.net/docs/sentence_transformer/usage/custom_models.html"],
};

pub static CODES: &[&Code] = &[
    &PYTHON_FILE,
    &DANGEROUS_CALL,
    &UNPARSABLE_PYTHON,
    &SOURCE_ENCODING,
    &CUSTOM_MODULE,
    &REMOTE_CODE,
    &HYDRA_TARGET,
    &MLFLOW_MODEL,
    &MLFLOW_LOADER,
    &MISSING_ARTIFACT,
    &DEPENDENCIES,
    &DEPENDENCY_SOURCE,
    &MALFORMED,
];

const MAX_TEXT_BYTES: u64 = 64 * 1024 * 1024;
const MAX_TARGETS: usize = 200;

/// Policies for `_target_` values and MLflow loader modules.
#[derive(Debug, Clone, Default)]
pub struct CodePolicy {
    pub hydra: RuleSet,
    pub mlflow_loader: RuleSet,
}

impl CodePolicy {
    pub fn new(db: &SignatureDb) -> Self {
        Self {
            hydra: RuleSet::from_db(db, "hydra-target"),
            mlflow_loader: RuleSet::from_db(db, "mlflow-loader"),
        }
    }
}

pub struct CodeScanner;

impl Scanner for CodeScanner {
    fn id(&self) -> &'static str {
        "code"
    }
    fn formats(&self) -> &'static [Format] {
        &[
            Format::Python,
            Format::TorchServeCode,
            Format::JsonConfig,
            Format::Yaml,
            Format::MlflowModel,
            Format::Requirements,
            Format::JinjaTemplate,
        ]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        let Some(bytes) = a.content.read_all(MAX_TEXT_BYTES)? else {
            return Err(ScanError::Budget(format!(
                "{} larger than {MAX_TEXT_BYTES} bytes",
                a.format.name()
            )));
        };
        match a.format {
            Format::Python | Format::TorchServeCode => scan_python(&bytes, a, out),
            Format::JsonConfig => scan_json(&bytes, a, cx, out),
            Format::Yaml => scan_yaml(&bytes, a, cx, out),
            Format::MlflowModel => scan_mlmodel(&bytes, a, cx, out),
            Format::Requirements => scan_requirements(&String::from_utf8_lossy(&bytes), a, out),
            Format::JinjaTemplate => {
                lint_template(
                    &String::from_utf8_lossy(&bytes),
                    &a.name,
                    &crate::scanners::template::RenderContext::default(),
                    a,
                    out,
                );
            }
            _ => {}
        }
        Ok(())
    }
}

fn malformed(a: &Artifact, msg: &str) -> Finding {
    Finding::new(&MALFORMED, a.location.clone(), msg.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Python

struct CallPattern {
    needle: &'static str,
    free: bool,
    severity: Severity,
    what: &'static str,
}

const CALLS: &[CallPattern] = &[
    CallPattern {
        needle: "os.system",
        free: true,
        severity: Severity::High,
        what: "runs a shell command",
    },
    CallPattern {
        needle: "os.popen",
        free: true,
        severity: Severity::High,
        what: "runs a shell command",
    },
    CallPattern {
        needle: "os.exec",
        free: true,
        severity: Severity::High,
        what: "replaces the process with another program",
    },
    CallPattern {
        needle: "os.spawn",
        free: true,
        severity: Severity::High,
        what: "starts a program",
    },
    CallPattern {
        needle: "os.posix_spawn",
        free: true,
        severity: Severity::High,
        what: "starts a program",
    },
    CallPattern {
        needle: "subprocess",
        free: true,
        severity: Severity::High,
        what: "starts processes",
    },
    CallPattern {
        needle: "pty.spawn",
        free: true,
        severity: Severity::High,
        what: "starts a shell",
    },
    CallPattern {
        needle: "exec(",
        free: true,
        severity: Severity::High,
        what: "executes dynamically built code",
    },
    CallPattern {
        needle: "eval(",
        free: true,
        severity: Severity::High,
        what: "evaluates dynamically built code",
    },
    CallPattern {
        needle: "compile(",
        free: true,
        severity: Severity::High,
        what: "compiles dynamically built code",
    },
    CallPattern {
        needle: "__import__(",
        free: true,
        severity: Severity::High,
        what: "imports a module by computed name",
    },
    CallPattern {
        needle: "importlib.import_module",
        free: true,
        severity: Severity::Medium,
        what: "imports a module by computed name",
    },
    CallPattern {
        needle: "runpy.",
        free: true,
        severity: Severity::High,
        what: "runs a module or script",
    },
    CallPattern {
        needle: "marshal.loads",
        free: true,
        severity: Severity::High,
        what: "loads raw bytecode",
    },
    CallPattern {
        needle: "ctypes",
        free: true,
        severity: Severity::High,
        what: "calls native code",
    },
    CallPattern {
        needle: "posix.",
        free: true,
        severity: Severity::High,
        what: "uses the os module under its platform name",
    },
    CallPattern {
        needle: "nt.",
        free: true,
        severity: Severity::High,
        what: "uses the os module under its platform name",
    },
    CallPattern {
        needle: "sys.modules",
        free: true,
        severity: Severity::High,
        what: "looks modules up by name",
    },
    CallPattern {
        needle: "__builtins__",
        free: true,
        severity: Severity::High,
        what: "reaches the builtins by name",
    },
    CallPattern {
        needle: "cffi",
        free: true,
        severity: Severity::High,
        what: "calls native code",
    },
    CallPattern {
        needle: "_posixsubprocess",
        free: true,
        severity: Severity::High,
        what: "starts processes",
    },
    CallPattern {
        needle: "pickle.load",
        free: false,
        severity: Severity::Medium,
        what: "unpickles data (code execution on load)",
    },
    CallPattern {
        needle: "dill.load",
        free: true,
        severity: Severity::Medium,
        what: "unpickles data (code execution on load)",
    },
    CallPattern {
        needle: "joblib.load",
        free: true,
        severity: Severity::Medium,
        what: "unpickles data (code execution on load)",
    },
    CallPattern {
        needle: "yaml.unsafe_load",
        free: true,
        severity: Severity::High,
        what: "loads YAML with arbitrary Python tags",
    },
    CallPattern {
        needle: "requests.",
        free: true,
        severity: Severity::Medium,
        what: "makes network requests",
    },
    CallPattern {
        needle: "urllib.request",
        free: true,
        severity: Severity::Medium,
        what: "makes network requests",
    },
    CallPattern {
        needle: "urlopen(",
        free: false,
        severity: Severity::Medium,
        what: "makes network requests",
    },
    CallPattern {
        needle: "http.client",
        free: true,
        severity: Severity::Medium,
        what: "makes network requests",
    },
    CallPattern {
        needle: "socket.",
        free: true,
        severity: Severity::Medium,
        what: "opens network sockets",
    },
    CallPattern {
        needle: "shutil.rmtree",
        free: true,
        severity: Severity::Medium,
        what: "deletes directory trees",
    },
    CallPattern {
        needle: "os.remove",
        free: true,
        severity: Severity::Medium,
        what: "deletes files",
    },
    CallPattern {
        needle: "os.unlink",
        free: true,
        severity: Severity::Medium,
        what: "deletes files",
    },
];

/// PEP 263: a `coding[:=]name` comment on one of the first two lines.
fn coding_cookie(bytes: &[u8]) -> Option<String> {
    for line in bytes.split(|b| *b == b'\n').take(2) {
        let l = String::from_utf8_lossy(line);
        let t = l.trim_start();
        if !t.starts_with('#') {
            // Only a comment line may carry the declaration, and the second line only counts
            // when the first is a comment (a shebang) or blank.
            if t.trim().is_empty() {
                continue;
            }
            return None;
        }
        let Some(pos) = t.find("coding") else {
            continue;
        };
        let rest = t.get(pos.saturating_add(6)..).unwrap_or("");
        let Some(rest) = rest.strip_prefix([':', '=']) else {
            continue;
        };
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        if !name.is_empty() {
            return Some(name.to_ascii_lowercase().replace('_', "-"));
        }
    }
    None
}

/// Decodes Python source the way CPython would for the encodings real code uses; `Err` with the
/// codec name for any other declared encoding.
fn decode_source(bytes: &[u8]) -> (String, Option<String>) {
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match coding_cookie(body).as_deref() {
        None | Some("utf-8" | "utf8" | "ascii" | "us-ascii" | "utf-8-sig") => {
            (String::from_utf8_lossy(body).into_owned(), None)
        }
        Some(
            "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "l1" | "cp1252" | "windows-1252"
            | "iso-8859-15" | "latin-9",
        ) => (body.iter().map(|b| char::from(*b)).collect(), None),
        // Decodable here: scanned as CPython will read it, and still reported (real model code
        // never needs these encodings).
        Some("utf-7" | "utf7" | "unicode-1-1-utf-7") => match decode_utf7(body) {
            Some(t) => (t, Some("utf-7".to_owned())),
            None => (
                String::from_utf8_lossy(body).into_owned(),
                Some("utf-7".to_owned()),
            ),
        },
        Some(other) => (
            String::from_utf8_lossy(body).into_owned(),
            Some(other.to_owned()),
        ),
    }
}

/// RFC 2152 UTF-7 as Python's codec reads it: `+` starts modified base64 of UTF-16BE that runs
/// to the first non-base64 character (a `-` there is absorbed), `+-` is a literal `+`.
fn decode_utf7(bytes: &[u8]) -> Option<String> {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        i = i.saturating_add(1);
        if b != b'+' {
            out.push(char::from(b));
            continue;
        }
        if bytes.get(i) == Some(&b'-') {
            out.push('+');
            i = i.saturating_add(1);
            continue;
        }
        let mut bits: u32 = 0;
        let mut nbits = 0u32;
        let mut units: Vec<u16> = Vec::new();
        while let Some(pos) = bytes.get(i).and_then(|c| B64.iter().position(|x| x == c)) {
            i = i.saturating_add(1);
            bits = (bits << 6) | u32::try_from(pos).ok()?;
            nbits = nbits.saturating_add(6);
            if nbits >= 16 {
                nbits = nbits.saturating_sub(16);
                units.push(u16::try_from((bits >> nbits) & 0xffff).ok()?);
                bits &= (1u32 << nbits).saturating_sub(1);
            }
        }
        if bytes.get(i) == Some(&b'-') {
            i = i.saturating_add(1);
        }
        out.push_str(&String::from_utf16_lossy(&units));
    }
    Some(out)
}

fn severity_of(h: &pyast::Hit, model_side: bool) -> Severity {
    use pyast::Category as C;
    match h.category {
        C::Exec if h.context == pyast::Context::MainBlock => Severity::High,
        C::Exec if model_side || h.context.runs_on_load() => Severity::Critical,
        C::Exec | C::WriteOutside | C::Introspection => Severity::High,
        C::Deserialize if h.target.starts_with("yaml.unsafe") => Severity::High,
        C::Deserialize | C::ConstEval | C::DynamicImport | C::Network | C::Delete => {
            Severity::Medium
        }
    }
}

/// Why Python inside a TorchServe archive is model-side code.
const TORCHSERVE_REASON: &str = "in a TorchServe archive: the model's worker runs with the extracted archive on its Python path and imports the handler from it when the model is registered";

/// Hits of one target in one file.
struct Agg {
    hit: pyast::Hit,
    severity: Severity,
    count: usize,
}

fn scan_python(bytes: &[u8], a: &Artifact, out: &mut Sink) {
    let (text, odd_encoding) = decode_source(bytes);
    let orig_lines: Vec<&str> = text.lines().collect();
    out.push(
        Finding::new(
            &PYTHON_FILE,
            a.location.clone(),
            format!("Python source {} ({} lines)", a.name, orig_lines.len()),
        )
        .evidence("lines", orig_lines.len().to_string()),
    );
    if let Some(enc) = &odd_encoding {
        out.push(
            Finding::new(
                &SOURCE_ENCODING,
                a.location.clone(),
                format!("{} declares the source encoding {enc:?}; CPython decodes the file with it before running it, so the code is not what the text shows", a.name),
            )
            .evidence("encoding", enc.clone()),
        );
    }
    let model_side = if a.format == Format::TorchServeCode {
        Some(TORCHSERVE_REASON.to_owned())
    } else if a.location.inner.is_empty() {
        model_side::reason(Path::new(&a.location.path))
    } else {
        None
    };
    let analysis = pyast::analyze_bounded(&text);
    let mut token_lines: Vec<usize> = Vec::new();
    match &analysis {
        Some(an) if an.errors.is_empty() => {}
        _ => {
            let why = match &analysis {
                None => format!(
                    "{} is too large or nested too deeply to analyse as a syntax tree (limits: {} bytes, {} levels)",
                    a.name,
                    pyast::MAX_SOURCE_BYTES,
                    pyast::MAX_NESTING
                ),
                Some(an) => match an.errors.first() {
                    Some((line, e)) => format!(
                        "{} does not parse as Python (line {line}: {e}; {} error(s))",
                        a.name,
                        an.errors.len()
                    ),
                    None => format!("{} could not be analysed", a.name),
                },
            };
            let mut f = Finding::new(&UNPARSABLE_PYTHON, a.location.clone(), why);
            if let Some((line, e)) = analysis.as_ref().and_then(|an| an.errors.first()) {
                f = f
                    .evidence("line", line.to_string())
                    .evidence("error", e.clone());
            }
            out.push(f);
            token_lines = token_scan(&text, a, out);
        }
    }
    let Some(an) = analysis else { return };
    // One finding per target: first line, count, worst severity and its context.
    let mut agg: Vec<Agg> = Vec::new();
    for h in an.hits {
        if token_lines.contains(&h.line) {
            continue; // already reported by the token scan of an unparsable file
        }
        let sev = severity_of(&h, model_side.is_some());
        if let Some(g) = agg.iter_mut().find(|g| g.hit.target == h.target) {
            g.count = g.count.saturating_add(1);
            if sev > g.severity {
                g.severity = sev;
                g.hit = h;
            }
        } else if agg.len() < 100 {
            agg.push(Agg {
                hit: h,
                severity: sev,
                count: 1,
            });
        }
    }
    for g in agg {
        let h = &g.hit;
        let snippet: String = orig_lines
            .get(h.line.saturating_sub(1))
            .map(|l| l.trim().chars().take(160).collect())
            .unwrap_or_default();
        let mut f = Finding::new(
            &DANGEROUS_CALL,
            a.location.clone(),
            format!(
                "line {}: {} ({}; {}; {} occurrence(s))",
                h.line,
                h.what,
                h.target,
                h.context.describe(),
                g.count
            ),
        )
        .severity(g.severity)
        .evidence("pattern", h.target.clone())
        .evidence("line", h.line.to_string())
        .evidence("occurrences", g.count.to_string())
        .evidence("context", h.context.describe())
        .evidence("code", snippet);
        if !h.via.is_empty() && h.via != h.target {
            f = f.evidence("via", h.via.clone());
        }
        if let Some(r) = &model_side {
            f = f.evidence("model-side", r.clone());
        }
        out.push(f);
    }
}

/// The token-level scan (comments and strings blanked) used when the AST is incomplete; returns
/// the lines it reported.
fn token_scan(text: &str, a: &Artifact, out: &mut Sink) -> Vec<usize> {
    let code = pytokens::code_only(text);
    // (pattern) -> (severity, what, first line, count, snippet)
    let mut hits: Vec<(String, Severity, &'static str, usize, usize, String)> = Vec::new();
    let mut lines_hit: Vec<usize> = Vec::new();
    let mut record = |key: &str, sev: Severity, what: &'static str, line: usize, orig: &str| {
        if lines_hit.len() < 10_000 {
            lines_hit.push(line);
        }
        if let Some(h) = hits.iter_mut().find(|h| h.0 == key) {
            h.4 = h.4.saturating_add(1);
        } else if hits.len() < 100 {
            let snippet: String = orig.trim().chars().take(160).collect();
            hits.push((key.to_owned(), sev, what, line, 1, snippet));
        }
    };
    let orig_lines: Vec<&str> = text.lines().collect();
    for (i, line) in code.lines().enumerate() {
        let orig = orig_lines.get(i).copied().unwrap_or("");
        for p in CALLS {
            if pytokens::find_token(line, p.needle, p.free).is_some() {
                record(p.needle, p.severity, p.what, i.saturating_add(1), orig);
            }
        }
        if pytokens::find_token(line, "torch.load(", false).is_some()
            && !orig.replace(' ', "").contains("weights_only=True")
        {
            record(
                "torch.load(",
                Severity::Medium,
                "loads a checkpoint without weights_only=True (unpickles)",
                i.saturating_add(1),
                orig,
            );
        }
        if pytokens::find_token(line, "yaml.load(", true).is_some()
            && !orig.contains("SafeLoader")
            && !orig.contains("safe_load")
        {
            record(
                "yaml.load(",
                Severity::Medium,
                "loads YAML without a safe loader",
                i.saturating_add(1),
                orig,
            );
        }
    }
    for (needle, sev, what, line, count, snippet) in hits {
        out.push(
            Finding::new(
                &DANGEROUS_CALL,
                a.location.clone(),
                format!("line {line}: {what} ({needle}; {count} occurrence(s); token scan of an unparsable file)"),
            )
            .severity(sev)
            .evidence("pattern", needle)
            .evidence("line", line.to_string())
            .evidence("occurrences", count.to_string())
            .evidence("context", "token scan".to_owned())
            .evidence("code", snippet),
        );
    }
    lines_hit
}

// ---------------------------------------------------------------------------------------------
// JSON and YAML configs

/// Checks a parsed JSON config: Keras object configs, `auto_map`, `custom_pipelines`, `_target_`.
/// Lints a Jinja template that travels with a model (chat templates) for server-side template
/// injection, with the same linter the GGUF scanner uses.
fn lint_template(
    source: &str,
    what: &str,
    context: &crate::scanners::template::RenderContext,
    a: &Artifact,
    out: &mut Sink,
) {
    for issue in crate::scanners::template::lint_with(source, context) {
        out.push(crate::scanners::template::issue_finding(
            &issue,
            a.location.clone(),
            what,
        ));
    }
}

pub fn check_json_value(v: &Value, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    // tokenizer_config.json, chat_template.json, processor configs (and any config that embeds
    // one): every named template is linted, not only the default one.
    let mut templates = Vec::new();
    chat_templates(v, "$", &mut templates, 0);
    if !templates.is_empty() {
        let context = special_tokens(v);
        for (what, s) in templates {
            lint_template(s, &what, &context, a, out);
        }
    }
    if keras::is_keras_config(v) || keras::in_keras_archive(a) {
        let origin = keras::Origin {
            location: a.location.clone(),
            label: a.name.clone(),
        };
        keras::check_config(v, &origin, a, cx, out);
        return;
    }
    // Keras 3 also loads a directory holding `config.json` (`saving_lib.load_model`'s
    // `is_keras_dir`, and `hf://` repositories), and deserializes every nested object of a
    // config whose top level is a plain dict: Keras objects nested in such a file get the
    // Keras policy as they would inside a `.keras` archive.
    if a.name == "config.json" && keras::has_nested_keras_object(v) {
        let origin = keras::Origin {
            location: a.location.clone(),
            label: a.name.clone(),
        };
        keras::check_config(v, &origin, a, cx, out);
    }
    if model_side::is_modules_json(v) {
        custom_modules(v, a, out);
    }
    for (path, key, val) in lenient::find_keys(v, lenient::CODE_KEYS)
        .into_iter()
        .take(MAX_TARGETS)
    {
        match key.as_str() {
            "auto_map" | "custom_pipelines" => remote_code(&key, val, a, out),
            "_target_" => {
                if let Some(t) = lenient::strings_of(val).first() {
                    check_target(t, &path, Some(v), a, cx, out);
                }
            }
            "loader_module" => {
                if let Some(l) = lenient::strings_of(val).first() {
                    check_loader(l, a, cx, out);
                }
            }
            _ => {}
        }
    }
}

/// The special tokens transformers passes to `apply_chat_template` (its `special_tokens_map`),
/// as stored in the same config: strings or `AddedToken` objects (`{"content": …}`).
fn special_tokens(v: &Value) -> crate::scanners::template::RenderContext {
    let mut cx = crate::scanners::template::RenderContext::default();
    let Some(obj) = v.as_object() else {
        return cx;
    };
    let text = |x: &Value| -> Option<String> {
        match x {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        }
    };
    for key in [
        "bos_token",
        "eos_token",
        "unk_token",
        "sep_token",
        "pad_token",
        "cls_token",
        "mask_token",
    ] {
        if let Some(t) = obj.get(key).and_then(text) {
            cx.strings.push((key.to_owned(), t));
        }
    }
    if let Some(Value::Array(items)) = obj.get("additional_special_tokens") {
        let items: Option<Vec<String>> = items.iter().map(text).collect();
        if let Some(items) = items {
            cx.lists
                .push(("additional_special_tokens".to_owned(), items));
        }
    }
    cx
}

/// Every Jinja template stored under a `chat_template` / `chat_templates` key, at any depth:
/// a string, a list of `{name, template}` (tokenizer_config.json since transformers 4.43), or a
/// `{name: template}` object (what transformers builds from that list, and accepts as is).
/// Returns `(label, template)`; the label names the template the way transformers does.
fn chat_templates<'v>(v: &'v Value, path: &str, out: &mut Vec<(String, &'v str)>, depth: u32) {
    if depth > 64 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "chat_template" || k == "chat_templates" {
                    let label = if path == "$" {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    template_value(x, &label, out);
                } else {
                    chat_templates(x, &format!("{path}.{k}"), out, depth.saturating_add(1));
                }
            }
        }
        Value::Array(xs) => {
            for (i, x) in xs.iter().enumerate() {
                chat_templates(x, &format!("{path}[{i}]"), out, depth.saturating_add(1));
            }
        }
        _ => {}
    }
}

fn template_value<'v>(v: &'v Value, label: &str, out: &mut Vec<(String, &'v str)>) {
    match v {
        Value::String(s) => out.push((label.to_owned(), s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => out.push((format!("{label}[{i}]"), s)),
                    Value::Object(o) => {
                        let name = o
                            .get("name")
                            .and_then(Value::as_str)
                            .map_or_else(|| i.to_string(), str::to_owned);
                        match o.get("template") {
                            Some(Value::String(s)) => out.push((format!("{label}[{name}]"), s)),
                            Some(other) => template_value(other, &format!("{label}[{name}]"), out),
                            None => {}
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Object(o) => {
            for (name, x) in o {
                template_value(x, &format!("{label}[{name}]"), out);
            }
        }
        _ => {}
    }
}

/// A JSON config, parsed leniently; what does not parse at all is reported and token-scanned.
fn scan_json(bytes: &[u8], a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    match lenient::parse_json(bytes) {
        Ok((v, quirks)) => {
            if !quirks.is_empty() {
                out.push(
                    malformed(
                        a,
                        &format!(
                            "config is not strict JSON ({}); read as lenient loaders do",
                            quirks.join(", ")
                        ),
                    )
                    .severity(Severity::Info)
                    .evidence("quirks", quirks.join(",")),
                );
            }
            check_json_value(&v, a, cx, out);
            hidden_duplicates(bytes, &v, a, cx, out);
        }
        Err(e) => {
            out.push(malformed(a, &format!("invalid JSON: {e}")));
            raw_code_keys(bytes, a, cx, out);
        }
    }
}

/// JSON objects that repeat a key keep only the last value (in serde and in Python's `json`),
/// but other readers keep the first: values of `_target_` and `loader_module` that appear in
/// the raw text and not in the parsed config are reported and checked too.
fn hidden_duplicates(
    bytes: &[u8],
    v: &Value,
    a: &Artifact,
    cx: &dyn ScannerContext,
    out: &mut Sink,
) {
    const KEYS: &[&str] = &["_target_", "loader_module"];
    let text = String::from_utf8_lossy(lenient::strip_bom(bytes));
    let parsed: Vec<String> = lenient::find_keys(v, KEYS)
        .into_iter()
        .flat_map(|(_, _, x)| lenient::strings_of(x))
        .collect();
    let hidden: Vec<(String, String)> = lenient::raw_key_values(&text, KEYS)
        .into_iter()
        .filter(|(_, val)| !val.is_empty() && !parsed.contains(val))
        .collect();
    if hidden.is_empty() {
        return;
    }
    out.push(
        malformed(
            a,
            &format!(
                "config repeats keys; values a last-wins reader drops: {}",
                hidden
                    .iter()
                    .map(|(k, x)| format!("{k}={x}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .evidence("reason", "duplicate keys".to_owned()),
    );
    for (key, val) in hidden {
        let path = format!("(duplicate key) {key}");
        if key == "_target_" {
            check_target(&val, &path, None, a, cx, out);
        } else {
            check_loader(&val, a, cx, out);
        }
    }
}

/// Token-level fallback for configs that do not parse: every code-naming `key: value` pair in
/// the raw text is checked as if it had been parsed.
pub(crate) fn raw_code_keys(bytes: &[u8], a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    let text = String::from_utf8_lossy(lenient::strip_bom(bytes));
    for (key, value) in lenient::raw_key_values(&text, lenient::CODE_KEYS) {
        let path = format!("(raw text) {key}");
        match key.as_str() {
            "_target_" if !value.is_empty() => check_target(&value, &path, None, a, cx, out),
            "loader_module" if !value.is_empty() => check_loader(&value, a, cx, out),
            "auto_map" | "custom_pipelines" => out.push(
                Finding::new(
                    &REMOTE_CODE,
                    a.location.clone(),
                    format!("{key} found in a config that does not parse: the loader may import code shipped with the model"),
                )
                .evidence("key", key.clone()),
            ),
            "model_code_path" | "python_model" | "code_paths" => out.push(mlflow_code(
                a,
                &key,
                &value,
                "found in a config that does not parse",
            )),
            _ => {}
        }
    }
}

/// sentence-transformers `modules.json` entries whose type is not a sentence-transformers class.
fn custom_modules(v: &Value, a: &Artifact, out: &mut Sink) {
    let dir = a
        .location
        .inner
        .is_empty()
        .then(|| Path::new(&a.location.path).parent())
        .flatten();
    for (i, t) in model_side::custom_module_types(v) {
        let module = model_side::module_of_ref(&t);
        let cross_repo = t.contains("--");
        let shipped = match (&module, dir) {
            (Some(m), Some(d)) if !cross_repo => d.join(format!("{m}.py")).is_file(),
            _ => false,
        };
        let (sev, how) = if shipped {
            (
                Severity::Medium,
                "imported from the model directory on load, without trust_remote_code (the module file is scanned as model-side code)",
            )
        } else if cross_repo {
            (
                Severity::High,
                "fetched from another repository and imported on load",
            )
        } else {
            (
                Severity::High,
                "not shipped with the model: sentence-transformers imports whatever installed module the type names",
            )
        };
        out.push(
            Finding::new(
                &CUSTOM_MODULE,
                a.location.clone(),
                format!("modules.json entry {i} has type {t}: {how}"),
            )
            .severity(sev)
            .evidence("entry", i.to_string())
            .evidence("type", t.clone())
            .evidence(
                "module-file",
                module.map(|m| format!("{m}.py")).unwrap_or_default(),
            ),
        );
    }
}

fn remote_code(key: &str, m: &Value, a: &Artifact, out: &mut Sink) {
    let mut refs: Vec<String> = Vec::new();
    let mut collect = |s: &str| {
        if refs.len() < 64 && !refs.iter().any(|r| r == s) {
            refs.push(s.to_owned());
        }
    };
    match m {
        Value::Object(map) => {
            for v in map.values() {
                match v {
                    Value::String(s) => collect(s),
                    Value::Array(xs) => xs.iter().filter_map(Value::as_str).for_each(&mut collect),
                    // custom_pipelines: {"task": {"impl": "pipeline.Cls", …}}
                    Value::Object(o) => {
                        if let Some(s) = o.get("impl").and_then(Value::as_str) {
                            collect(s);
                        }
                    }
                    _ => {}
                }
            }
        }
        // Odd types (a list, a number): whatever strings it holds.
        other => lenient::strings_of(other).iter().for_each(|s| collect(s)),
    }
    if refs.is_empty() {
        return;
    }
    let cross_repo: Vec<&String> = refs.iter().filter(|r| r.contains("--")).collect();
    let mut f = Finding::new(
        &REMOTE_CODE,
        a.location.clone(),
        format!(
            "{key} makes the loader import code shipped with the model: {}",
            refs.join(", ")
        ),
    )
    .evidence("key", key.to_owned())
    .evidence("references", refs.join(","));
    if !cross_repo.is_empty() {
        f = f.severity(Severity::High).evidence(
            "other-repositories",
            cross_repo
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    // Next to a config on disk, say which module files are present (they are scanned as Python).
    if a.location.inner.is_empty() {
        if let Some(dir) = Path::new(&a.location.path).parent() {
            let missing: Vec<String> = refs
                .iter()
                .filter(|r| !r.contains("--"))
                .filter_map(|r| r.rsplit_once('.').map(|(m, _)| m.replace('.', "/")))
                .filter(|m| !dir.join(format!("{m}.py")).exists())
                .collect();
            if !missing.is_empty() {
                f = f.evidence("modules-not-in-directory", missing.join(","));
            }
        }
    }
    out.push(f);
}

/// Checks a Hydra `_target_`. OmegaConf resolves `${a.b}` interpolations before `instantiate`
/// imports the target, so they are resolved here against the config (`root`); a target that
/// still depends on something only known at run time (a resolver such as `${oc.env:X}`, a
/// relative or missing key) cannot be vetted and is high.
pub(crate) fn check_target(
    target: &str,
    path: &str,
    root: Option<&Value>,
    a: &Artifact,
    cx: &dyn ScannerContext,
    out: &mut Sink,
) {
    if target.contains("${") {
        let resolved = root.map_or_else(
            || Err("the config could not be read to resolve it".to_owned()),
            |r| interpolate(target, r, 0),
        );
        match resolved {
            Ok(t) => check_target(&t, &format!("{path} (= {target})"), root, a, cx, out),
            Err(why) => out.push(
                Finding::new(
                    &HYDRA_TARGET,
                    a.location.clone(),
                    format!("_target_ {target} at {path} is computed by interpolation when the config is instantiated ({why}); it cannot be vetted"),
                )
                .severity(Severity::High)
                .evidence("json-path", path.to_owned()),
            ),
        }
        return;
    }
    let policy = cx.policies().code();
    let (module, name) = target.rsplit_once('.').unwrap_or(("builtins", target));
    match policy.hydra.lookup(module, name) {
        Some(r) if r.action == Action::Deny => out.push(
            Finding::new(
                &HYDRA_TARGET,
                a.location.clone(),
                format!("_target_ {target} at {path}: {}", r.reason),
            )
            .severity(r.severity.unwrap_or(Severity::High))
            .global(module, name)
            .evidence("json-path", path.to_owned())
            .evidence("category", r.category.clone())
            .evidence("signature", r.source.clone()),
        ),
        Some(_) => {}
        None => out.push(
            Finding::new(
                &HYDRA_TARGET,
                a.location.clone(),
                format!("_target_ {target} at {path} is not on the allowlist; instantiating the config imports and calls it"),
            )
            .severity(cx.unknown_severity())
            .global(module, name)
            .evidence("json-path", path.to_owned()),
        ),
    }
}

/// OmegaConf string interpolation over the config `root`: each `${a.b.c}` (an absolute key
/// path; list items by index) is replaced by that value, itself resolved, to a small depth.
/// Resolvers (`${oc.env:X}`), relative keys (`${.x}`), nested interpolations and missing keys
/// are errors: their value is only known when the config is instantiated.
fn interpolate(s: &str, root: &Value, depth: u32) -> Result<String, String> {
    if depth > 8 {
        return Err("interpolations nest too deeply".to_owned());
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(rest.get(..i).unwrap_or_default());
        let after = rest.get(i.saturating_add(2)..).unwrap_or_default();
        let Some(end) = after.find('}') else {
            return Err("an unterminated interpolation".to_owned());
        };
        let key = after.get(..end).unwrap_or_default().trim();
        if key.contains(':') || key.contains("${") {
            return Err(format!("the resolver or nested interpolation ${{{key}}}"));
        }
        if key.starts_with('.') || key.is_empty() {
            return Err(format!("the relative key ${{{key}}}"));
        }
        let mut node = root;
        for part in key.split('.') {
            node = match node {
                Value::Object(m) => m.get(part),
                Value::Array(xs) => part.parse::<usize>().ok().and_then(|i| xs.get(i)),
                _ => None,
            }
            .ok_or_else(|| format!("the missing key ${{{key}}}"))?;
        }
        let text = match node {
            Value::String(t) => interpolate(t, root, depth.saturating_add(1))?,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(format!("${{{key}}} is not a scalar")),
        };
        out.push_str(&text);
        rest = after.get(end.saturating_add(1)..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

/// YAML documents as JSON values (non-string keys are rendered as strings). Aliases are expanded
/// by the parser under its repetition limit; nesting is capped by its recursion limit.
pub(crate) fn yaml_documents(bytes: &[u8]) -> Result<Vec<Value>, String> {
    use serde::Deserialize as _;
    let mut docs = Vec::new();
    for de in serde_yaml_ng::Deserializer::from_slice(bytes) {
        let v = serde_yaml_ng::Value::deserialize(de).map_err(|e| e.to_string())?;
        docs.push(yaml_to_json(v, 0));
        if docs.len() > 64 {
            break;
        }
    }
    Ok(docs)
}

fn yaml_to_json(v: serde_yaml_ng::Value, depth: u32) -> Value {
    use serde_yaml_ng::Value as Y;
    if depth > 256 {
        return Value::Null;
    }
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(xs) => Value::Array(
            xs.into_iter()
                .map(|x| yaml_to_json(x, depth.saturating_add(1)))
                .collect(),
        ),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_yaml_ng::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    };
                    (key, yaml_to_json(v, depth.saturating_add(1)))
                })
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(t.value, depth.saturating_add(1)),
    }
}

fn is_environment_file(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "conda.yaml" | "conda.yml" | "environment.yaml" | "environment.yml" | "python_env.yaml"
    )
}

fn scan_yaml(bytes: &[u8], a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    let docs = match yaml_documents(bytes) {
        Ok(d) => d,
        Err(e) => {
            out.push(malformed(a, &format!("invalid YAML: {e}")));
            raw_code_keys(bytes, a, cx, out);
            return;
        }
    };
    if is_environment_file(&a.name) {
        let mut deps: Vec<String> = Vec::new();
        for d in &docs {
            collect_env_deps(d, &mut deps);
        }
        dependency_findings(&deps, a, out);
    }
    for d in &docs {
        check_json_value(d, a, cx, out);
    }
}

/// `dependencies:` (strings and `pip:` lists) of conda and python_env files.
fn collect_env_deps(v: &Value, deps: &mut Vec<String>) {
    let Some(o) = v.as_object() else { return };
    for key in ["dependencies", "build_dependencies"] {
        if let Some(Value::Array(xs)) = o.get(key) {
            for x in xs {
                match x {
                    Value::String(s) => deps.push(s.clone()),
                    Value::Object(m) => {
                        if let Some(Value::Array(pip)) = m.get("pip") {
                            deps.extend(pip.iter().filter_map(Value::as_str).map(str::to_owned));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

fn scan_requirements(text: &str, a: &Artifact, out: &mut Sink) {
    let deps: Vec<String> = text
        .lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    dependency_findings(&deps, a, out);
}

fn dependency_findings(deps: &[String], a: &Artifact, out: &mut Sink) {
    let shown: Vec<&str> = deps.iter().take(50).map(String::as_str).collect();
    out.push(
        Finding::new(
            &DEPENDENCIES,
            a.location.clone(),
            format!("{} declares {} dependency line(s)", a.name, deps.len()),
        )
        .evidence("dependencies", shown.join("; ")),
    );
    for d in deps {
        let l = d.trim();
        let option = [
            "--index-url",
            "--extra-index-url",
            "-i ",
            "--find-links",
            "-f ",
            "--trusted-host",
        ]
        .iter()
        .find(|o| l.starts_with(**o));
        let direct = l.contains("git+")
            || l.contains("://")
            || l.starts_with("-e ")
            || l.starts_with("--editable")
            || l.starts_with("./")
            || l.starts_with('/');
        if option.is_some() || direct {
            out.push(
                Finding::new(
                    &DEPENDENCY_SOURCE,
                    a.location.clone(),
                    format!("dependency installed from outside the default index: {l}"),
                )
                .evidence("line", l.to_owned()),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// MLflow

/// Flavor keys that name files or directories the flavor loads.
const MLFLOW_FILE_KEYS: &[&str] = &[
    "python_model",
    "pickled_model",
    "model_data",
    "data",
    "model_path",
    "saved_model_dir",
    "artifacts",
];

fn scan_mlmodel(bytes: &[u8], a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    let docs = match yaml_documents(bytes) {
        Ok(d) => d,
        Err(e) => {
            out.push(malformed(a, &format!("invalid MLmodel YAML: {e}")));
            raw_code_keys(bytes, a, cx, out);
            return;
        }
    };
    let Some(doc) = docs.first() else {
        out.push(malformed(a, "MLmodel is empty"));
        return;
    };
    if !doc.is_object() {
        out.push(malformed(a, "MLmodel is not a mapping"));
    }
    let flavors = doc.get("flavors");
    let names: Vec<String> = flavors
        .and_then(Value::as_object)
        .map(|f| f.keys().cloned().collect())
        .unwrap_or_default();
    let mut referenced: Vec<(String, String)> = Vec::new();
    // Files the flavors load, at any depth under `flavors` and whatever the value's type.
    if let Some(fl) = flavors {
        let mut keys: Vec<&str> = MLFLOW_FILE_KEYS.to_vec();
        keys.extend(["code", "env"]);
        for (path, _key, val) in lenient::find_keys(fl, &keys) {
            for s in lenient::strings_of(val) {
                referenced.push((path.trim_start_matches("$.").to_owned(), s));
            }
        }
    }
    // Code MLflow imports or runs, anywhere in the document.
    for d in &docs {
        for (path, key, val) in
            lenient::find_keys(d, &["loader_module", "model_code_path", "code_paths"])
        {
            let values = lenient::strings_of(val);
            match key.as_str() {
                "loader_module" => {
                    for l in values.iter().take(4) {
                        check_loader(l, a, cx, out);
                    }
                }
                _ => {
                    for v in values.iter().take(64) {
                        referenced.push((path.trim_start_matches("$.").to_owned(), v.clone()));
                        out.push(mlflow_code(
                            a,
                            &key,
                            v,
                            "MLflow runs this code when the model is loaded (models from code / code paths)",
                        ));
                    }
                }
            }
        }
    }
    out.push(
        Finding::new(
            &MLFLOW_MODEL,
            a.location.clone(),
            format!("MLflow model with flavors {}", names.join(", ")),
        )
        .evidence("flavors", names.join(","))
        .evidence(
            "files",
            referenced
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    );
    // Cross-reference with the directory on disk (inside archives the walker scans every member).
    if a.location.inner.is_empty() {
        if let Some(dir) = Path::new(&a.location.path).parent() {
            for (key, file) in &referenced {
                if crate::walk::is_traversal(file) || Path::new(file).is_absolute() {
                    out.push(
                        Finding::new(
                            &MISSING_ARTIFACT,
                            a.location.clone(),
                            format!("{key} points outside the model directory: {file}"),
                        )
                        .severity(Severity::High)
                        .evidence("reference", file.clone()),
                    );
                    continue;
                }
                if !dir.join(file).exists() {
                    out.push(
                        Finding::new(
                            &MISSING_ARTIFACT,
                            a.location.clone(),
                            format!("{key} names {file}, which is not in the model directory"),
                        )
                        .evidence("reference", file.clone()),
                    );
                }
            }
        }
    }
    // MLmodel files may also carry `_target_`-style entries in metadata; check generically.
    for d in &docs {
        for (path, _k, val) in lenient::find_keys(d, &["_target_"]) {
            if let Some(t) = lenient::strings_of(val).first() {
                check_target(t, &path, Some(d), a, cx, out);
            }
        }
    }
}

/// An MLflow key that names code to run or import (`model_code_path`, `code_paths`, …).
fn mlflow_code(a: &Artifact, key: &str, value: &str, note: &str) -> Finding {
    Finding::new(
        &MLFLOW_LOADER,
        a.location.clone(),
        format!("{key} {value}: {note}"),
    )
    .evidence("key", key.to_owned())
    .evidence("reference", value.to_owned())
}

fn check_loader(loader: &str, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    let policy = cx.policies().code();
    let (module, name) = loader.rsplit_once('.').unwrap_or((loader, ""));
    let rule = policy
        .mlflow_loader
        .lookup(loader, "*")
        .or_else(|| policy.mlflow_loader.lookup(module, name));
    match rule {
        Some(r) if r.action == Action::Deny => out.push(
            Finding::new(
                &MLFLOW_LOADER,
                a.location.clone(),
                format!("loader_module {loader}: {}", r.reason),
            )
            .severity(r.severity.unwrap_or(Severity::High))
            .evidence("loader-module", loader.to_owned()),
        ),
        Some(_) => {}
        None => out.push(
            Finding::new(
                &MLFLOW_LOADER,
                a.location.clone(),
                format!(
                    "loader_module {loader} is not an MLflow flavor; loading the model imports it"
                ),
            )
            .severity(cx.unknown_severity())
            .evidence("loader-module", loader.to_owned()),
        ),
    }
}

#[cfg(test)]
mod source_tests {
    use super::*;

    #[test]
    fn coding_cookies() {
        assert_eq!(
            coding_cookie(b"#!/usr/bin/env python\n# -*- coding: UTF_7 -*-\n").as_deref(),
            Some("utf-7")
        );
        assert_eq!(coding_cookie(b"x = 1\n# coding=latin-1\n"), None);
        assert_eq!(
            coding_cookie(b"# vim: set fileencoding=utf-8 :\n").as_deref(),
            Some("utf-8")
        );
    }

    #[test]
    fn utf7_is_decoded_like_python() {
        // Python: b"+AG8AcwAuAHMAeQBzAHQAZQBt-('x') a+-b".decode("utf-7")
        let (t, enc) = decode_source(b"# coding: utf-7\n+AG8AcwAuAHMAeQBzAHQAZQBt-('x') a+-b\n");
        assert_eq!(enc.as_deref(), Some("utf-7"));
        assert!(t.contains("os.system('x') a+b"), "{t}");
    }

    #[test]
    fn raw_values_match_parsed_ones() {
        // What hidden_duplicates compares: the raw scan sees both values, serde keeps the last.
        let text = r#"{"m": {"_target_": "os.system", "_target_": "torch.nn.Linear"}}"#;
        let v: Value = serde_json::from_str(text).expect("json");
        let parsed: Vec<String> = lenient::find_keys(&v, &["_target_"])
            .into_iter()
            .flat_map(|(_, _, x)| lenient::strings_of(x))
            .collect();
        assert_eq!(parsed, vec!["torch.nn.Linear".to_owned()]);
        let raw = lenient::raw_key_values(text, &["_target_"]);
        assert_eq!(raw.len(), 2);
        assert!(raw.iter().any(|(_, x)| x == "os.system"));
    }

    #[test]
    fn latin1_and_bom() {
        let (t, enc) = decode_source(b"\xef\xbb\xbfx = 1\n");
        assert_eq!((t.as_str(), enc), ("x = 1\n", None));
        let (t, _) = decode_source(b"# coding: latin-1\ns = '\xe9'\n");
        assert!(t.contains('\u{e9}'));
    }
}

#[cfg(test)]
mod interpolation_tests {
    use super::*;

    #[test]
    fn omegaconf_interpolations_resolve_against_the_config() {
        let root = serde_json::json!({
            "vars": {"m": "subprocess", "n": "check_output", "both": "${vars.m}.${vars.n}"},
            "list": ["os", "system"],
        });
        assert_eq!(
            interpolate("${vars.m}.${vars.n}", &root, 0).as_deref(),
            Ok("subprocess.check_output")
        );
        assert_eq!(
            interpolate("${vars.both}", &root, 0).as_deref(),
            Ok("subprocess.check_output")
        );
        assert_eq!(
            interpolate("${list.0}.${list.1}", &root, 0).as_deref(),
            Ok("os.system")
        );
        for unresolvable in [
            "${oc.env:T}",
            "${.m}",
            "${vars.missing}",
            "${vars",
            "${${vars.m}}",
        ] {
            assert!(
                interpolate(unresolvable, &root, 0).is_err(),
                "{unresolvable}"
            );
        }
        let cyclic = serde_json::json!({"a": "${b}", "b": "${a}"});
        assert!(interpolate("${a}", &cyclic, 0).is_err());
    }
}

#[cfg(test)]
mod chat_template_tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]
    use super::*;

    fn labels(v: &Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        chat_templates(v, "$", &mut out, 0);
        out.into_iter().map(|(l, s)| (l, s.to_owned())).collect()
    }

    #[test]
    fn special_tokens_are_the_render_context() {
        let v = serde_json::json!({
            "bos_token": "<s>",
            "eos_token": {"content": "__class__", "lstrip": false},
            "additional_special_tokens": ["<a>", {"content": "<b>"}],
            "chat_template": "x",
        });
        let cx = special_tokens(&v);
        assert!(cx.strings.contains(&("bos_token".into(), "<s>".into())));
        assert!(cx
            .strings
            .contains(&("eos_token".into(), "__class__".into())));
        assert_eq!(
            cx.lists,
            vec![(
                "additional_special_tokens".to_owned(),
                vec!["<a>".to_owned(), "<b>".to_owned()]
            )]
        );
    }

    #[test]
    fn every_named_template_is_found() {
        let v = serde_json::json!({
            "chat_template": [
                {"name": "default", "template": "a"},
                {"name": "tool_use", "template": "b"},
                {"template": "c"},
            ],
            "processor": {"chat_template": {"rag": "d"}},
            "chat_templates": ["e"],
        });
        let got = labels(&v);
        for (l, s) in [
            ("chat_template[default]", "a"),
            ("chat_template[tool_use]", "b"),
            ("chat_template[2]", "c"),
            ("$.processor.chat_template[rag]", "d"),
            ("chat_templates[0]", "e"),
        ] {
            assert!(got.contains(&(l.to_owned(), s.to_owned())), "{l}: {got:?}");
        }
        // More than the old 64-item cap.
        let many: Vec<Value> = (0..200)
            .map(|i| serde_json::json!({"name": format!("t{i}"), "template": "x"}))
            .collect();
        assert_eq!(
            labels(&serde_json::json!({ "chat_template": many })).len(),
            200
        );
        assert_eq!(
            labels(&serde_json::json!({"chat_template": "s"})),
            vec![("chat_template".to_owned(), "s".to_owned())]
        );
    }
}
