//! Python source parsed into an AST (ruff's parser, which recovers from syntax errors and so still
//! yields the statements around a malformed line) and searched for *reach*: every expression that
//! resolves, through imports, aliases, `getattr`, `sys.modules`, `__import__`, `importlib` and
//! constant-folded strings, to a callable that runs processes, evaluates code, loads native code,
//! unpickles, talks to the network or destroys/writes files outside the model.
//!
//! Resolution is flow-insensitive and file-wide on purpose: a name bound once to `os.system`
//! anywhere in the file is treated as `os.system` everywhere, because an attacker chooses the
//! binding and we only have to be sure no binding hides. Each hit records where it sits: module
//! level (runs on import), a function the framework calls while loading (`__init__`, `forward`,
//! `from_pretrained`, `load_context`, `predict`, …), an ordinary function, or an
//! `if __name__ == "__main__":` block (never runs on import).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::HashMap;

use base64::Engine as _;
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{
    self as ast, Expr, FStringPart, InterpolatedStringElement, Number, Operator, Stmt, UnaryOp,
};
use ruff_text_size::Ranged;

/// What a reached callable does, from worst to least bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Starts processes, evaluates or loads code, calls native code.
    Exec,
    /// Writes files at absolute, home or `..` paths.
    WriteOutside,
    /// Escapes through interpreter internals (`__subclasses__`, `__globals__`), or imports by
    /// a name computed at run time with `__import__`.
    Introspection,
    /// Unpickles or otherwise deserializes objects that run code.
    Deserialize,
    /// `eval`/`exec`/`compile` of a constant string (its code is analysed in place).
    ConstEval,
    /// Imports a module whose name is computed at run time.
    DynamicImport,
    /// Opens network connections or downloads.
    Network,
    /// Deletes files or trees.
    Delete,
}

/// Where in the file a hit sits, from most to least certain to run on load.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Context {
    /// Module level or a class body: runs when the file is imported.
    Module,
    /// Inside a function the framework calls while loading or running the model.
    LoadHook(String),
    /// Inside any other function.
    Function(String),
    /// Inside `if __name__ == "__main__":`, which an import never runs.
    MainBlock,
}

impl Context {
    /// Whether a loader runs this code by importing the file or loading the model.
    pub fn runs_on_load(&self) -> bool {
        matches!(self, Context::Module | Context::LoadHook(_))
    }
    pub fn describe(&self) -> String {
        match self {
            Context::Module => "module level (runs on import)".to_owned(),
            Context::LoadHook(f) => format!("function {f} (called when the model is loaded)"),
            Context::Function(f) => format!("function {f}"),
            Context::MainBlock => "if __name__ == \"__main__\" block".to_owned(),
        }
    }
}

/// One resolved dangerous reach.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Canonical dotted name (`os.system`, `builtins.eval`), or a description for computed reach.
    pub target: String,
    pub category: Category,
    pub what: &'static str,
    /// 1-based line.
    pub line: usize,
    pub context: Context,
    /// The source text of the expression that reached it (`o.system`, `getattr(os, 'sys'+'tem')`).
    pub via: String,
}

/// The result of analysing one file.
#[derive(Debug, Default)]
pub struct Analysis {
    pub hits: Vec<Hit>,
    /// Syntax errors (line, message); the AST around them was still analysed.
    pub errors: Vec<(usize, String)>,
}

/// Functions a framework calls while loading or first running a model: `transformers`
/// (`__init__`, `from_pretrained`, `post_init`, `_init_weights`, `forward`), sentence-transformers
/// (`load`, `forward`, `tokenize`), MLflow (`load_context`, `predict`, `_load_pyfunc`), pickle
/// protocol and class machinery that runs implicitly.
const LOAD_HOOKS: &[&str] = &[
    "__init__",
    "__new__",
    "__call__",
    "__init_subclass__",
    "__set_name__",
    "__setstate__",
    "__post_init__",
    "__getattr__",
    "forward",
    "load",
    "_load",
    "from_pretrained",
    "from_config",
    "_from_config",
    "post_init",
    "_init_weights",
    "load_context",
    "predict",
    "_load_pyfunc",
    "load_model",
    "tokenize",
    "setup",
];

/// Dangerous callables by canonical dotted name. A trailing `*` matches any suffix of the last
/// component (`os.exec*`), a trailing `.*` any attribute of the module.
const TABLE: &[(&str, Category, &str)] = &[
    ("os.system", Category::Exec, "runs a shell command"),
    ("os.popen", Category::Exec, "runs a shell command"),
    (
        "os.exec*",
        Category::Exec,
        "replaces the process with another program",
    ),
    ("os.spawn*", Category::Exec, "starts a program"),
    ("os.posix_spawn*", Category::Exec, "starts a program"),
    ("subprocess.Popen", Category::Exec, "starts processes"),
    ("subprocess.run", Category::Exec, "starts processes"),
    ("subprocess.call", Category::Exec, "starts processes"),
    ("subprocess.check_call", Category::Exec, "starts processes"),
    (
        "subprocess.check_output",
        Category::Exec,
        "starts processes",
    ),
    ("subprocess.getoutput", Category::Exec, "starts processes"),
    (
        "subprocess.getstatusoutput",
        Category::Exec,
        "starts processes",
    ),
    ("_posixsubprocess.*", Category::Exec, "starts processes"),
    ("_winapi.CreateProcess", Category::Exec, "starts processes"),
    (
        "asyncio.create_subprocess_*",
        Category::Exec,
        "starts processes",
    ),
    ("pty.spawn", Category::Exec, "starts a shell"),
    ("platform.popen", Category::Exec, "runs a shell command"),
    ("commands.*", Category::Exec, "runs a shell command"),
    (
        "builtins.eval",
        Category::Exec,
        "evaluates dynamically built code",
    ),
    (
        "builtins.exec",
        Category::Exec,
        "executes dynamically built code",
    ),
    (
        "builtins.compile",
        Category::Exec,
        "compiles dynamically built code",
    ),
    ("marshal.loads", Category::Exec, "loads raw bytecode"),
    ("marshal.load", Category::Exec, "loads raw bytecode"),
    ("types.CodeType", Category::Exec, "builds a code object"),
    (
        "types.FunctionType",
        Category::Exec,
        "builds a function from a code object",
    ),
    ("runpy.*", Category::Exec, "runs a module or script"),
    ("code.interact", Category::Exec, "runs an interpreter"),
    (
        "code.InteractiveInterpreter",
        Category::Exec,
        "runs an interpreter",
    ),
    (
        "code.InteractiveConsole",
        Category::Exec,
        "runs an interpreter",
    ),
    // Loading libraries and calling or forging raw pointers; ctypes' data types are not reach.
    ("ctypes.CDLL", Category::Exec, "loads a native library"),
    ("ctypes.PyDLL", Category::Exec, "loads a native library"),
    ("ctypes.WinDLL", Category::Exec, "loads a native library"),
    ("ctypes.OleDLL", Category::Exec, "loads a native library"),
    (
        "ctypes.LibraryLoader",
        Category::Exec,
        "loads native libraries",
    ),
    ("ctypes.cdll.*", Category::Exec, "loads a native library"),
    ("ctypes.pydll.*", Category::Exec, "loads a native library"),
    ("ctypes.windll.*", Category::Exec, "loads a native library"),
    ("ctypes.oledll.*", Category::Exec, "loads a native library"),
    (
        "ctypes.pythonapi.*",
        Category::Exec,
        "calls the interpreter's C API",
    ),
    (
        "ctypes.CFUNCTYPE",
        Category::Exec,
        "calls native code through a pointer",
    ),
    (
        "ctypes.PYFUNCTYPE",
        Category::Exec,
        "calls native code through a pointer",
    ),
    (
        "ctypes.WINFUNCTYPE",
        Category::Exec,
        "calls native code through a pointer",
    ),
    ("ctypes.memmove", Category::Exec, "writes raw memory"),
    ("ctypes.memset", Category::Exec, "writes raw memory"),
    ("ctypes.cast", Category::Exec, "forges pointers"),
    ("_ctypes.*", Category::Exec, "calls native code"),
    ("cffi.FFI", Category::Exec, "calls native code"),
    (
        "torch.hub.load",
        Category::Exec,
        "downloads and runs a repository's hubconf.py",
    ),
    (
        "pickle.load",
        Category::Deserialize,
        "unpickles data (code execution on load)",
    ),
    (
        "pickle.loads",
        Category::Deserialize,
        "unpickles data (code execution on load)",
    ),
    (
        "pickle.Unpickler",
        Category::Deserialize,
        "unpickles data (code execution on load)",
    ),
    (
        "dill.load*",
        Category::Deserialize,
        "unpickles data (code execution on load)",
    ),
    (
        "cloudpickle.load*",
        Category::Deserialize,
        "unpickles data (code execution on load)",
    ),
    (
        "joblib.load",
        Category::Deserialize,
        "unpickles data (code execution on load)",
    ),
    (
        "shelve.open",
        Category::Deserialize,
        "unpickles data (code execution on load)",
    ),
    (
        "pandas.read_pickle",
        Category::Deserialize,
        "unpickles data (code execution on load)",
    ),
    (
        "yaml.unsafe_load*",
        Category::Deserialize,
        "loads YAML with arbitrary Python tags",
    ),
    (
        "jsonpickle.decode",
        Category::Deserialize,
        "unpickles data (code execution on load)",
    ),
    ("socket.*", Category::Network, "opens network sockets"),
    (
        "urllib.request.*",
        Category::Network,
        "makes network requests",
    ),
    (
        "urllib.urlopen",
        Category::Network,
        "makes network requests",
    ),
    ("urllib2.*", Category::Network, "makes network requests"),
    ("requests.*", Category::Network, "makes network requests"),
    ("httpx.*", Category::Network, "makes network requests"),
    ("urllib3.*", Category::Network, "makes network requests"),
    ("http.client.*", Category::Network, "makes network requests"),
    ("ftplib.*", Category::Network, "makes network requests"),
    ("smtplib.*", Category::Network, "makes network requests"),
    ("telnetlib.*", Category::Network, "makes network requests"),
    ("shutil.rmtree", Category::Delete, "deletes directory trees"),
    ("os.remove", Category::Delete, "deletes files"),
    ("os.unlink", Category::Delete, "deletes files"),
    ("os.rmdir", Category::Delete, "deletes directories"),
    ("os.removedirs", Category::Delete, "deletes directories"),
];

/// Modules whose attributes, reached by a name computed at run time, can be anything dangerous.
const SENSITIVE_MODULES: &[&str] = &[
    "os",
    "subprocess",
    "builtins",
    "pty",
    "ctypes",
    "importlib",
    "sys",
    "marshal",
    "pickle",
    "runpy",
    "socket",
    "shutil",
];

/// Canonical spelling of a dotted name: platform aliases of `os`, Python 2 names, C accelerators.
pub fn canonical(name: &str) -> String {
    let (head, rest) = match name.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (name, None),
    };
    let head = match head {
        "posix" | "nt" | "_posix" | "_nt" => "os",
        "__builtin__" | "__builtins__" => "builtins",
        "_pickle" | "cPickle" => "pickle",
        "_subprocess" => "subprocess",
        "_socket" => "socket",
        "_io" => "io",
        "_marshal" => "marshal",
        "_imp" => "imp",
        h => h,
    };
    let mut out = match rest {
        Some(r) => format!("{head}.{r}"),
        None => head.to_owned(),
    };
    for (from, to) in [
        ("importlib.__import__", "builtins.__import__"),
        ("io.open", "builtins.open"),
        ("os.path.os.", "os."),
        ("codecs.open", "builtins.open"),
        ("builtins.__builtins__", "builtins"),
    ] {
        if let Some(r) = out.strip_prefix(from) {
            out = format!("{to}{r}");
        }
    }
    out
}

/// The table entry a canonical dotted name matches.
pub fn classify(name: &str) -> Option<(Category, &'static str, &'static str)> {
    for (pat, cat, what) in TABLE {
        let ok = if let Some(module) = pat.strip_suffix(".*") {
            name.strip_prefix(module)
                .is_some_and(|r| r.starts_with('.') && r.len() > 1)
        } else if let Some(prefix) = pat.strip_suffix('*') {
            name.strip_prefix(prefix).is_some_and(|r| !r.contains('.'))
        } else {
            name == *pat
        };
        if ok {
            return Some((*cat, what, pat));
        }
    }
    None
}

fn is_sensitive_module(name: &str) -> bool {
    SENSITIVE_MODULES.contains(&name) || name == "sys.modules" || name == "builtins.__dict__"
}

/// Python builtins that matter for reach; any other free name is unknown (not resolved).
const BUILTINS: &[&str] = &[
    "eval",
    "exec",
    "compile",
    "__import__",
    "getattr",
    "open",
    "vars",
    "globals",
    "locals",
    "chr",
    "str",
    "bytes",
    "__builtins__",
];

/// Upper bound on how deep the syntax tree of `source` can be: per logical line, the deepest
/// bracket nesting plus the longest stretch without a comma or bracket (operator and attribute
/// chains nest one level per token). String literals and comments are blanked first.
pub fn nesting_bound(source: &str) -> usize {
    let code = super::pytokens::code_only(source);
    let mut depth = 0usize;
    let mut max_depth = 0usize;
    let mut run = 0usize;
    let mut max_run = 0usize;
    let mut indent = 0usize;
    let mut max_indent = 0usize;
    let mut at_line_start = true;
    for ch in code.chars() {
        match ch {
            '(' | '[' | '{' => {
                depth = depth.saturating_add(1);
                max_depth = max_depth.max(depth);
                run = 0;
            }
            ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                run = 0;
            }
            ',' | ';' => run = 0,
            '\n' => {
                if depth == 0 {
                    run = 0;
                }
                at_line_start = true;
                indent = 0;
                continue;
            }
            c if c.is_whitespace() => {
                if at_line_start {
                    indent = indent.saturating_add(1);
                    max_indent = max_indent.max(indent);
                }
                continue;
            }
            _ => {
                run = run.saturating_add(1);
                max_run = max_run.max(run);
            }
        }
        at_line_start = false;
    }
    max_depth.saturating_add(max_run).saturating_add(max_indent)
}

/// Largest source analysed as a tree (the tree takes about 25 times the source in memory);
/// larger files, which real model code never is, are token-scanned instead.
pub const MAX_SOURCE_BYTES: usize = 8 * 1024 * 1024;
/// Deepest syntax tree analysed; deeper sources are reported and token-scanned instead.
pub const MAX_NESTING: usize = 50_000;
/// Trees at most this deep are analysed on the calling thread (a scanner thread has at least
/// the 2 MiB default stack; a level takes well under 4 KiB even in debug builds); deeper ones
/// get their own thread with [`ANALYSIS_STACK`].
const INLINE_NESTING: usize = 200;
/// Stack for the analysis thread: parsing, walking and dropping a tree of [`MAX_NESTING`] levels.
const ANALYSIS_STACK: usize = 512 * 1024 * 1024;

/// Analyses `source` on a thread with a stack big enough for [`MAX_NESTING`] levels (the
/// visitor and the tree's destructor recurse). `None` when the source is nested too deeply to
/// analyse safely, or the thread could not be started.
pub fn analyze_bounded(source: &str) -> Option<Analysis> {
    let bound = nesting_bound(source);
    if source.len() > MAX_SOURCE_BYTES || bound > MAX_NESTING {
        return None;
    }
    if bound <= INLINE_NESTING {
        return Some(analyze(source));
    }
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("pyast".into())
            .stack_size(ANALYSIS_STACK)
            .spawn_scoped(s, || analyze(source))
            .ok()?
            .join()
            .ok()
    })
}

/// Parses and analyses Python source on the current thread. Deep nesting needs a deep stack:
/// use [`analyze_bounded`] for untrusted input.
pub fn analyze(source: &str) -> Analysis {
    let parsed = ruff_python_parser::parse_unchecked_source(source, ast::PySourceType::Python);
    let lines = LineIndex::new(source);
    let errors = parsed
        .errors()
        .iter()
        .take(20)
        .map(|e| {
            (
                lines.line(e.location.start().to_usize()),
                e.error.to_string(),
            )
        })
        .collect();
    let module = parsed.syntax();
    let mut env = Env::default();
    // Bindings first (two rounds, so `b = a` after `a = os` resolves whatever the order).
    for _ in 0..2 {
        let mut b = Binder { env: &mut env };
        b.visit_body(&module.body);
    }
    let mut w = Walker {
        env: &env,
        source,
        lines: &lines,
        hits: Vec::new(),
        context: vec![Context::Module],
        nested: 0,
    };
    w.visit_body(&module.body);
    Analysis {
        hits: w.hits,
        errors,
    }
}

/// Byte offsets of line starts.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(s: &str) -> Self {
        let mut v = vec![0usize];
        v.extend(
            s.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i.saturating_add(1)),
        );
        LineIndex(v)
    }
    fn line(&self, off: usize) -> usize {
        match self.0.binary_search(&off) {
            Ok(i) => i.saturating_add(1),
            Err(i) => i,
        }
    }
}

/// Names bound in the file: to dotted names (`o` → `os`, `run` → `os.system`) and to constant
/// strings (`n = "sys" + "tem"`).
#[derive(Default)]
struct Env {
    names: HashMap<String, String>,
    consts: HashMap<String, String>,
    /// Modules imported with `from m import *`.
    star: Vec<String>,
    /// Names the file defines or binds itself (functions, classes, parameters, assignment and
    /// loop targets): a bare, uncalled reference to one of them is not the builtin.
    shadowed: std::collections::HashSet<String>,
}

const MAX_DEPTH: u32 = 64;

impl Env {
    /// The canonical dotted name an expression refers to, if it can be known statically.
    fn resolve(&self, e: &Expr, depth: u32) -> Option<String> {
        if depth > MAX_DEPTH {
            return None;
        }
        let d = depth.saturating_add(1);
        match e {
            Expr::Name(n) => self.resolve_name(n.id.as_str()),
            Expr::Attribute(a) => {
                let base = self.resolve(&a.value, d)?;
                Some(canonical(&format!("{base}.{}", a.attr.id.as_str())))
            }
            Expr::Subscript(s) => {
                let base = self.resolve(&s.value, d)?;
                let key = self.const_str(&s.slice, d)?;
                match base.as_str() {
                    "sys.modules" => Some(canonical(&key)),
                    "builtins" | "builtins.__dict__" | "builtins.globals()" => {
                        Some(canonical(&format!("builtins.{key}")))
                    }
                    b => b
                        .strip_suffix(".__dict__")
                        .or_else(|| b.strip_suffix(".vars()"))
                        .map(|m| canonical(&format!("{m}.{key}"))),
                }
            }
            Expr::Call(c) => {
                // `operator.attrgetter("system")(os)`, `operator.methodcaller("system", …)(os)`
                if let Expr::Call(inner) = c.func.as_ref() {
                    let maker = self.resolve(&inner.func, d);
                    if matches!(
                        maker.as_deref(),
                        Some("operator.attrgetter" | "operator.methodcaller")
                    ) {
                        let attr = self.const_str(inner.arguments.args.first()?, d)?;
                        let base = self.resolve(c.arguments.args.first()?, d)?;
                        return Some(canonical(&format!("{base}.{attr}")));
                    }
                }
                let func = self.resolve(&c.func, d)?;
                let args = &c.arguments.args;
                let arg_str = |i: usize| args.get(i).and_then(|a| self.const_str(a, d));
                match func.as_str() {
                    "builtins.__import__" => {
                        let m = arg_str(0)?;
                        let fromlist = args.len() >= 4
                            || c.arguments.keywords.iter().any(|k| {
                                k.arg.as_ref().is_some_and(|a| a.id.as_str() == "fromlist")
                            });
                        if fromlist {
                            Some(canonical(&m))
                        } else {
                            Some(canonical(m.split('.').next().unwrap_or(&m)))
                        }
                    }
                    "importlib.import_module" | "sys.modules.get" | "sys.modules.__getitem__" => {
                        arg_str(0).map(|m| canonical(&m))
                    }
                    "builtins.getattr" => {
                        let base = self.resolve(args.first()?, d)?;
                        let attr = arg_str(1)?;
                        Some(canonical(&format!("{base}.{attr}")))
                    }
                    "builtins.vars" => {
                        let base = self.resolve(args.first()?, d)?;
                        Some(format!("{base}.vars()"))
                    }
                    "builtins.globals" => Some("builtins.globals()".to_owned()),
                    f => {
                        // X.__getattribute__("name"), X.__dict__.get("name")
                        if let Some(base) = f
                            .strip_suffix(".__getattribute__")
                            .or_else(|| f.strip_suffix(".__dict__.get"))
                            .or_else(|| f.strip_suffix(".__getattr__"))
                        {
                            let attr = arg_str(0)?;
                            return Some(canonical(&format!("{base}.{attr}")));
                        }
                        None
                    }
                }
            }
            _ => None,
        }
    }

    fn resolve_name(&self, id: &str) -> Option<String> {
        if let Some(v) = self.names.get(id) {
            return Some(v.clone());
        }
        if id == "__builtins__" {
            return Some("builtins".to_owned());
        }
        if BUILTINS.contains(&id) {
            return Some(format!("builtins.{id}"));
        }
        // `from m import *` brings m's public names into scope.
        for m in &self.star {
            let cand = canonical(&format!("{m}.{id}"));
            if classify(&cand).is_some() {
                return Some(cand);
            }
        }
        None
    }

    /// Constant-folds string expressions: literals, `+`, `%`-free f-strings, `"".join([...])`,
    /// `[::-1]`, `chr(n)`, `.lower()`/`.upper()`/`.strip()`, base64 `b64decode(...).decode()` and
    /// names bound to constants.
    fn const_str(&self, e: &Expr, depth: u32) -> Option<String> {
        if depth > MAX_DEPTH {
            return None;
        }
        let d = depth.saturating_add(1);
        match e {
            Expr::StringLiteral(s) => Some(s.value.to_str().to_owned()),
            Expr::BytesLiteral(b) => {
                let v: Vec<u8> = b.value.bytes().collect();
                String::from_utf8(v).ok()
            }
            Expr::FString(f) => {
                let mut out = String::new();
                for part in &f.value {
                    match part {
                        FStringPart::Literal(l) => out.push_str(&l.value),
                        FStringPart::FString(fs) => {
                            for el in &fs.elements {
                                match el {
                                    InterpolatedStringElement::Literal(l) => out.push_str(&l.value),
                                    InterpolatedStringElement::Interpolation(i) => {
                                        out.push_str(&self.const_str(&i.expression, d)?);
                                    }
                                }
                            }
                        }
                    }
                }
                Some(out)
            }
            Expr::Name(n) => self.consts.get(n.id.as_str()).cloned(),
            Expr::BinOp(b) if b.op == Operator::Add => {
                let mut l = self.const_str(&b.left, d)?;
                l.push_str(&self.const_str(&b.right, d)?);
                (l.len() <= 4096).then_some(l)
            }
            Expr::Subscript(s) => {
                let base = self.const_str(&s.value, d)?;
                if let Expr::Slice(sl) = s.slice.as_ref() {
                    let step = sl.step.as_deref().and_then(const_int);
                    if sl.lower.is_none() && sl.upper.is_none() && step == Some(-1) {
                        return Some(base.chars().rev().collect());
                    }
                }
                None
            }
            Expr::Call(c) => {
                let args = &c.arguments.args;
                if let Expr::Attribute(a) = c.func.as_ref() {
                    let method = a.attr.id.as_str();
                    match method {
                        "join" => {
                            let sep = self.const_str(&a.value, d)?;
                            let items = match args.first()? {
                                Expr::List(l) => &l.elts,
                                Expr::Tuple(t) => &t.elts,
                                _ => return None,
                            };
                            let parts: Option<Vec<String>> =
                                items.iter().map(|x| self.const_str(x, d)).collect();
                            return Some(parts?.join(&sep));
                        }
                        "lower" | "upper" | "strip" | "decode" | "encode" => {
                            // `base64.b64decode("...").decode()`
                            if method == "decode" {
                                if let Expr::Call(inner) = a.value.as_ref() {
                                    let f = self.resolve(&inner.func, d);
                                    if matches!(
                                        f.as_deref(),
                                        Some("base64.b64decode" | "base64.standard_b64decode")
                                    ) {
                                        let s = self.const_str(inner.arguments.args.first()?, d)?;
                                        let raw = base64::engine::general_purpose::STANDARD
                                            .decode(s.trim())
                                            .ok()?;
                                        return String::from_utf8(raw).ok();
                                    }
                                }
                            }
                            let s = self.const_str(&a.value, d)?;
                            return Some(match method {
                                "lower" => s.to_lowercase(),
                                "upper" => s.to_uppercase(),
                                "strip" => s.trim().to_owned(),
                                _ => s,
                            });
                        }
                        _ => {}
                    }
                }
                let f = self.resolve(&c.func, d)?;
                match f.as_str() {
                    "builtins.chr" => {
                        let n = const_int(args.first()?)?;
                        char::from_u32(u32::try_from(n).ok()?).map(String::from)
                    }
                    "builtins.str" => self.const_str(args.first()?, d),
                    "base64.b64decode" => {
                        let s = self.const_str(args.first()?, d)?;
                        let raw = base64::engine::general_purpose::STANDARD
                            .decode(s.trim())
                            .ok()?;
                        String::from_utf8(raw).ok()
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

fn const_int(e: &Expr) -> Option<i64> {
    match e {
        Expr::NumberLiteral(n) => match &n.value {
            Number::Int(i) => i.as_i64(),
            _ => None,
        },
        Expr::UnaryOp(u) if u.op == UnaryOp::USub => const_int(&u.operand).map(i64::saturating_neg),
        _ => None,
    }
}

/// Collects bindings: imports, assignments, walrus, parameter defaults.
struct Binder<'e> {
    env: &'e mut Env,
}

impl Binder<'_> {
    fn bind(&mut self, name: &str, value: &Expr) {
        if self.env.names.len() > 10_000 {
            return;
        }
        if let Some(s) = self.env.const_str(value, 0) {
            self.env.consts.insert(name.to_owned(), s);
        }
        if let Some(q) = self.env.resolve(value, 0) {
            let replace = match self.env.names.get(name) {
                None => true,
                // Keep the most dangerous meaning a name can have anywhere in the file.
                Some(_) => classify(&q).is_some() || is_sensitive_module(&q),
            };
            if replace {
                self.env.names.insert(name.to_owned(), q);
            }
        }
    }

    fn bind_target(&mut self, target: &Expr, value: &Expr) {
        match (target, value) {
            (Expr::Name(n), v) => self.bind(n.id.as_str(), v),
            (Expr::Tuple(t), Expr::Tuple(v)) if t.elts.len() == v.elts.len() => {
                for (a, b) in t.elts.iter().zip(v.elts.iter()) {
                    self.bind_target(a, b);
                }
            }
            (Expr::List(t), Expr::List(v)) if t.elts.len() == v.elts.len() => {
                for (a, b) in t.elts.iter().zip(v.elts.iter()) {
                    self.bind_target(a, b);
                }
            }
            _ => {}
        }
    }

    fn shadow(&mut self, name: &str) {
        if self.env.shadowed.len() < 10_000 {
            self.env.shadowed.insert(name.to_owned());
        }
    }

    fn params(&mut self, p: &ast::Parameters) {
        for v in p.vararg.iter().chain(p.kwarg.iter()) {
            self.shadow(v.name.id.as_str());
        }
        for pd in p
            .posonlyargs
            .iter()
            .chain(p.args.iter())
            .chain(p.kwonlyargs.iter())
        {
            self.shadow(pd.parameter.name.id.as_str());
        }
        for pd in p
            .posonlyargs
            .iter()
            .chain(p.args.iter())
            .chain(p.kwonlyargs.iter())
        {
            if let Some(def) = pd.default.as_deref() {
                self.bind(pd.parameter.name.id.as_str(), def);
            }
        }
    }
}

impl<'a> Visitor<'a> for Binder<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(i) => {
                for a in &i.names {
                    let full = a.name.id.as_str();
                    match &a.asname {
                        Some(as_) => {
                            self.env
                                .names
                                .insert(as_.id.as_str().to_owned(), canonical(full));
                        }
                        None => {
                            let head = full.split('.').next().unwrap_or(full);
                            self.env
                                .names
                                .entry(head.to_owned())
                                .or_insert_with(|| canonical(head));
                        }
                    }
                }
            }
            Stmt::ImportFrom(f) if f.level == 0 => {
                let module = f.module.as_ref().map_or("", |m| m.id.as_str());
                for a in &f.names {
                    let n = a.name.id.as_str();
                    if n == "*" {
                        if self.env.star.len() < 64 {
                            self.env.star.push(canonical(module));
                        }
                        continue;
                    }
                    let bound = a.asname.as_ref().map_or(n, |x| x.id.as_str());
                    self.env
                        .names
                        .insert(bound.to_owned(), canonical(&format!("{module}.{n}")));
                }
            }
            Stmt::Assign(a) => {
                for t in &a.targets {
                    self.bind_target(t, &a.value);
                }
            }
            Stmt::AnnAssign(a) => {
                if let Some(v) = a.value.as_deref() {
                    self.bind_target(&a.target, v);
                }
            }
            Stmt::FunctionDef(f) => {
                self.shadow(f.name.id.as_str());
                self.params(&f.parameters);
            }
            Stmt::ClassDef(c) => self.shadow(c.name.id.as_str()),
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Named(n) => self.bind_target(&n.target, &n.value),
            Expr::Name(n) if n.ctx == ast::ExprContext::Store => self.shadow(n.id.as_str()),
            Expr::Lambda(l) => {
                if let Some(p) = l.parameters.as_deref() {
                    self.params(p);
                }
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

/// Finds reach, tracking the context each expression runs in.
struct Walker<'e, 's> {
    env: &'e Env,
    source: &'s str,
    lines: &'s LineIndex,
    hits: Vec<Hit>,
    context: Vec<Context>,
    /// How many constant strings deep (`exec("exec('...')")`) this walker is.
    nested: u32,
}

/// Constant strings given to `eval`/`exec`/`compile` are analysed up to this depth and size.
const MAX_NESTED_EVAL: u32 = 3;
const MAX_NESTED_SOURCE: usize = 256 * 1024;

const MAX_HITS: usize = 2000;

impl Walker<'_, '_> {
    fn ctx(&self) -> Context {
        self.context.last().cloned().unwrap_or(Context::Module)
    }

    fn text(&self, e: &impl Ranged) -> String {
        let r = e.range();
        let s = self
            .source
            .get(r.start().to_usize()..r.end().to_usize())
            .unwrap_or("");
        s.chars().take(160).collect()
    }

    fn push(&mut self, target: String, category: Category, what: &'static str, at: &impl Ranged) {
        if self.hits.len() >= MAX_HITS {
            return;
        }
        let hit = Hit {
            target,
            category,
            what,
            line: self.lines.line(at.range().start().to_usize()),
            context: self.ctx(),
            via: self.text(at),
        };
        self.hits.push(hit);
    }

    /// Checks a reference; returns whether it was reported. A called reference counts for
    /// every category. An uncalled one (`callbacks = [os.popen]`, `map(exec, …)`) counts only
    /// for process and code execution, and not for type checks (`isinstance(f,
    /// types.FunctionType)`), exception classes or a bare name the file binds itself.
    fn reference(&mut self, e: &Expr, called: bool) -> bool {
        let Some(q) = self.env.resolve(e, 0) else {
            return false;
        };
        let Some((cat, what, pat)) = classify(&q) else {
            return false;
        };
        if !called {
            if cat != Category::Exec || pat.starts_with("types.") {
                return false;
            }
            if let Expr::Name(n) = e {
                if q.starts_with("builtins.") && self.env.shadowed.contains(n.id.as_str()) {
                    return false;
                }
            }
        }
        self.push(q, cat, what, e);
        true
    }

    fn call(&mut self, c: &ast::ExprCall) -> bool {
        let func = self.env.resolve(&c.func, 0);
        let args = &c.arguments.args;
        let kw = |name: &str| {
            c.arguments
                .keywords
                .iter()
                .find(|k| k.arg.as_ref().is_some_and(|a| a.id.as_str() == name))
                .map(|k| &k.value)
        };
        let e = c;
        match func.as_deref() {
            Some("builtins.__import__" | "importlib.import_module" | "importlib.__import__") => {
                let name_const = args.first().and_then(|a| self.env.const_str(a, 0));
                if name_const.is_none() {
                    let (cat, what) = if func.as_deref() == Some("builtins.__import__") {
                        (Category::Introspection, "imports a module by computed name")
                    } else {
                        (Category::DynamicImport, "imports a module by computed name")
                    };
                    self.push(
                        format!("{}(<computed>)", func.unwrap_or_default()),
                        cat,
                        what,
                        e,
                    );
                    return true;
                }
                return false;
            }
            Some("builtins.getattr" | "builtins.setattr" | "builtins.delattr") => {
                let base = args.first().and_then(|a| self.env.resolve(a, 0));
                let attr_const = args.get(1).and_then(|a| self.env.const_str(a, 0));
                if let (Some(b), None) = (&base, &attr_const) {
                    if is_sensitive_module(b) {
                        self.push(
                            format!("{b}.<computed>"),
                            Category::Exec,
                            "reaches an attribute of a process/code module by a computed name",
                            e,
                        );
                        return true;
                    }
                }
                if let (Some(b), Some(a)) = (&base, &attr_const) {
                    if matches!(
                        a.as_str(),
                        "__subclasses__" | "__globals__" | "__builtins__"
                    ) {
                        self.push(
                            format!("{b}.{a}"),
                            Category::Introspection,
                            "reaches interpreter internals",
                            e,
                        );
                        return true;
                    }
                }
            }
            Some(f @ ("builtins.exec" | "builtins.eval" | "builtins.compile")) => {
                let Some(code) = args.first().and_then(|a| self.env.const_str(a, 0)) else {
                    return false;
                };
                // The code is in the file: analyse it where it runs, and report the eval itself
                // at medium. A string too large or nested too deep stays a full dynamic eval.
                if self.nested >= MAX_NESTED_EVAL
                    || code.len() > MAX_NESTED_SOURCE
                    || nesting_bound(&code) > INLINE_NESTING
                {
                    return false;
                }
                self.nested_source(&code, e);
                self.push(
                    f.to_owned(),
                    Category::ConstEval,
                    "evaluates a constant string (its code is analysed here)",
                    e,
                );
                return true;
            }
            Some("torch.load") => {
                let safe = kw("weights_only")
                    .is_some_and(|v| matches!(v, Expr::BooleanLiteral(b) if b.value));
                if !safe {
                    self.push(
                        "torch.load".to_owned(),
                        Category::Deserialize,
                        "loads a checkpoint without weights_only=True (unpickles)",
                        e,
                    );
                    return true;
                }
                return false;
            }
            Some("numpy.load") => {
                let unsafe_ = kw("allow_pickle")
                    .is_some_and(|v| !matches!(v, Expr::BooleanLiteral(b) if !b.value));
                if unsafe_ {
                    self.push(
                        "numpy.load".to_owned(),
                        Category::Deserialize,
                        "loads arrays with allow_pickle (unpickles)",
                        e,
                    );
                    return true;
                }
                return false;
            }
            Some("yaml.load" | "yaml.load_all") => {
                let loader = kw("Loader")
                    .or_else(|| args.get(1))
                    .map(|l| self.text(l))
                    .unwrap_or_default();
                if !loader.contains("Safe") {
                    self.push(
                        "yaml.load".to_owned(),
                        Category::Deserialize,
                        "loads YAML without a safe loader",
                        e,
                    );
                    return true;
                }
                return false;
            }
            Some("builtins.open" | "pathlib.Path.write_text") => {
                let mode = kw("mode")
                    .or_else(|| args.get(1))
                    .and_then(|m| self.env.const_str(m, 0))
                    .unwrap_or_else(|| "r".to_owned());
                let path = args.first().and_then(|p| self.env.const_str(p, 0));
                if mode.contains(['w', 'a', 'x', '+']) {
                    if let Some(p) = path.filter(|p| outside_path(p)) {
                        self.push(
                            format!("open({p:?}, {mode:?})"),
                            Category::WriteOutside,
                            "writes a file outside the model directory",
                            e,
                        );
                        return true;
                    }
                }
                return false;
            }
            Some(f) if f.starts_with("shutil.copy") || f == "shutil.move" => {
                let dst = args.get(1).and_then(|p| self.env.const_str(p, 0));
                if let Some(p) = dst.filter(|p| outside_path(p)) {
                    self.push(
                        format!("{f} to {p:?}"),
                        Category::WriteOutside,
                        "writes a file outside the model directory",
                        e,
                    );
                    return true;
                }
            }
            _ => {}
        }
        // `spec.loader.exec_module(m)`, `loader.load_module()`: runs a Python file.
        if let Expr::Attribute(a) = c.func.as_ref() {
            if matches!(a.attr.id.as_str(), "exec_module" | "load_module") {
                self.push(
                    format!("<loader>.{}", a.attr.id.as_str()),
                    Category::Exec,
                    "loads and runs a Python file",
                    e,
                );
                return true;
            }
        }
        false
    }
}

impl Walker<'_, '_> {
    /// Analyses code given as a constant string, reporting its reach at the line and in the
    /// context of the call that runs it.
    fn nested_source(&mut self, code: &str, at: &ast::ExprCall) {
        let parsed = ruff_python_parser::parse_unchecked_source(code, ast::PySourceType::Python);
        let mut env = Env::default();
        for _ in 0..2 {
            let mut b = Binder { env: &mut env };
            b.visit_body(&parsed.syntax().body);
        }
        let lines = LineIndex::new(code);
        let mut w = Walker {
            env: &env,
            source: code,
            lines: &lines,
            hits: Vec::new(),
            context: vec![self.ctx()],
            nested: self.nested.saturating_add(1),
        };
        w.visit_body(&parsed.syntax().body);
        let line = self.lines.line(at.range().start().to_usize());
        let via = self.text(at);
        for mut h in w.hits {
            h.line = line;
            h.context = self.ctx();
            h.via = format!("{via} → {}", h.via);
            if self.hits.len() < MAX_HITS {
                self.hits.push(h);
            }
        }
    }
}

/// Absolute, home-relative or traversing path (where a model's code has no business writing).
pub fn outside_path(p: &str) -> bool {
    let p = p.trim();
    p.starts_with('/')
        || p.starts_with('\\')
        || p.starts_with('~')
        || p.get(1..3).is_some_and(|s| s == ":\\" || s == ":/")
        || p.split(['/', '\\']).any(|c| c == "..")
}

fn is_main_guard(test: &Expr) -> bool {
    let Expr::Compare(c) = test else { return false };
    let is_name = |e: &Expr| matches!(e, Expr::Name(n) if n.id.as_str() == "__name__");
    let is_main = |e: &Expr| matches!(e, Expr::StringLiteral(s) if s.value.to_str() == "__main__");
    let Some(right) = c.comparators.first() else {
        return false;
    };
    (is_name(&c.left) && is_main(right)) || (is_main(&c.left) && is_name(right))
}

impl<'a> Visitor<'a> for Walker<'_, '_> {
    /// Annotations name types; they are not calls (`cache: dict[str, ctypes.CDLL]`).
    fn visit_annotation(&mut self, _expr: &'a Expr) {}

    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(f) => {
                // Decorators, defaults and annotations run where the def is.
                for d in &f.decorator_list {
                    self.visit_decorator(d);
                }
                self.visit_parameters(&f.parameters);
                if let Some(r) = f.returns.as_deref() {
                    self.visit_annotation(r);
                }
                let name = f.name.id.as_str().to_owned();
                let outer = self.ctx();
                let inner = match outer {
                    Context::LoadHook(ref h) => Context::LoadHook(format!("{h}.{name}")),
                    _ if LOAD_HOOKS.contains(&name.as_str()) => Context::LoadHook(name),
                    Context::MainBlock => Context::MainBlock,
                    _ => Context::Function(name),
                };
                self.context.push(inner);
                self.visit_body(&f.body);
                self.context.pop();
            }
            Stmt::If(i) if is_main_guard(&i.test) && self.ctx() == Context::Module => {
                self.context.push(Context::MainBlock);
                self.visit_body(&i.body);
                self.context.pop();
                for c in &i.elif_else_clauses {
                    self.visit_elif_else_clause(c);
                }
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Call(c) => {
                if self.call(c) {
                    self.visit_arguments(&c.arguments);
                    return;
                }
                if self.reference(&c.func, true) {
                    self.visit_arguments(&c.arguments);
                    return;
                }
                // The call's value itself: `getattr(os, "system")` passed along uncalled.
                if self.reference(expr, false) {
                    self.visit_arguments(&c.arguments);
                    return;
                }
            }
            Expr::Attribute(a) => {
                if self.reference(expr, false) {
                    return;
                }
                if matches!(a.attr.id.as_str(), "__subclasses__" | "__globals__") {
                    self.push(
                        format!("<object>.{}", a.attr.id.as_str()),
                        Category::Introspection,
                        "reaches interpreter internals",
                        expr,
                    );
                }
            }
            // A name being bound (`run = ...`) is not a use; the bound value is checked.
            Expr::Name(n) if n.ctx != ast::ExprContext::Load => {}
            Expr::Name(_) | Expr::Subscript(_) if self.reference(expr, false) => return,
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(src: &str) -> Vec<String> {
        analyze(src).hits.into_iter().map(|h| h.target).collect()
    }

    fn reaches(src: &str, t: &str) {
        let got = targets(src);
        assert!(
            got.iter().any(|g| g == t),
            "{src:?}: expected {t}, got {got:?}"
        );
    }

    #[test]
    fn aliases_and_imports() {
        reaches("import os as o\no.system('x')", "os.system");
        reaches("from os import system as run\nrun('x')", "os.system");
        reaches("import posix\nposix.system('x')", "os.system");
        reaches("from nt import spawnv\nspawnv(0, 'x', [])", "os.spawnv");
        reaches("import os\nf = os.execvp\nf('sh', [])", "os.execvp");
        reaches(
            "import os\nos.posix_spawnp('sh', [], {})",
            "os.posix_spawnp",
        );
        reaches("from subprocess import *\nPopen('x')", "subprocess.Popen");
        reaches(
            "import subprocess as sp\nsp.check_output(['x'])",
            "subprocess.check_output",
        );
        reaches("import pty\npty.spawn('/bin/sh')", "pty.spawn");
        reaches("import os.path\nos.system('x')", "os.system");
        reaches(
            "def f(run=__import__('os').system):\n    run('x')",
            "os.system",
        );
        reaches("import os\na, b = os.popen, 1\na('x')", "os.popen");
        reaches(
            "if (s := __import__('os').system):\n    s('x')",
            "os.system",
        );
    }

    #[test]
    fn dynamic_lookups() {
        reaches("import sys\nsys.modules['os'].system('x')", "os.system");
        reaches(
            "import sys\nsys.modules.get('posix').system('x')",
            "os.system",
        );
        reaches(
            "import builtins\ngetattr(builtins, 'exec')('x')",
            "builtins.exec",
        );
        reaches("getattr(__import__('os'), 'system')('x')", "os.system");
        reaches("import os\ngetattr(os, 'sys' + 'tem')('x')", "os.system");
        reaches(
            "import os\nn = 'sys' + 'tem'\ngetattr(os, n)('x')",
            "os.system",
        );
        reaches(
            "import os\ngetattr(os, ''.join(['sy', 'stem']))('x')",
            "os.system",
        );
        reaches("import os\ngetattr(os, 'metsys'[::-1])('x')", "os.system");
        reaches(
            "import os, base64\ngetattr(os, base64.b64decode('c3lzdGVt').decode())('x')",
            "os.system",
        );
        reaches(
            "import importlib\nimportlib.import_module('subprocess').run(['x'])",
            "subprocess.run",
        );
        reaches("m = __import__('o' + 's')\nm.popen('x')", "os.popen");
        reaches("__builtins__['eval']('1')", "builtins.eval");
        reaches(
            "import builtins\nbuiltins.__dict__['exec']('1')",
            "builtins.exec",
        );
        reaches("import os\nvars(os)['system']('x')", "os.system");
        reaches("import os\nos.__dict__['system']('x')", "os.system");
        reaches("import os\nos.__getattribute__('system')('x')", "os.system");
        reaches("import os\ngetattr(os, f'sys{\"tem\"}')('x')", "os.system");
        reaches(
            "import os\ngetattr(os, chr(115) + 'ystem')('x')",
            "os.system",
        );
    }

    #[test]
    fn benign_shapes_are_not_reach() {
        for src in [
            "import types\nisinstance(f, types.FunctionType)",
            "import socket\ntry:\n    pass\nexcept socket.timeout:\n    pass",
            "import requests\nE = requests.exceptions.HTTPError",
            "def build(compile=True):\n    if compile:\n        pass",
            "import re\nre.compile('x')",
            "class M:\n    def eval(self):\n        return self.eval()",
            "import os\npid = os.fork if hasattr(os, 'fork') else None",
            "import ctypes\ncache: dict[str, ctypes.CDLL] = {}\ndef f(x: ctypes.CDLL) -> ctypes.CDLL:\n    pass",
        ] {
            assert!(targets(src).is_empty(), "{src}: {:?}", targets(src));
        }
    }

    #[test]
    fn operator_getters() {
        reaches(
            "import operator, os\noperator.attrgetter('system')(os)('x')",
            "os.system",
        );
        reaches(
            "import operator, os\noperator.methodcaller('system', 'x')(os)",
            "os.system",
        );
        reaches("globals()['__builtins__']['eval']('1')", "builtins.eval");
        reaches("list(map(exec, ['1']))", "builtins.exec");
    }

    #[test]
    fn constant_strings_are_analysed() {
        let a = analyze("exec(\"import os; os.system('x')\")\n");
        let t: Vec<(&str, Category)> = a
            .hits
            .iter()
            .map(|h| (h.target.as_str(), h.category))
            .collect();
        assert!(t.contains(&("os.system", Category::Exec)), "{t:?}");
        assert!(t.contains(&("builtins.exec", Category::ConstEval)), "{t:?}");
        let a = analyze("eval('lambda x: x')\n");
        assert!(a.hits.iter().all(|h| h.category == Category::ConstEval));
        reaches("x = input()\neval(x)", "builtins.eval");
        assert!(analyze("x = input()\neval(x)")
            .hits
            .iter()
            .all(|h| h.category == Category::Exec));
        // exec("exec(...)") nests; past the limit the string is a full dynamic exec.
        reaches("exec('exec(\"import os; os.system(1)\")')", "os.system");
    }

    #[test]
    fn ctypes_types_are_not_reach() {
        assert!(targets(
            "import ctypes\nx = ctypes.c_int(1)\nclass S(ctypes.Structure):\n    pass"
        )
        .is_empty());
        reaches(
            "import ctypes\nctypes.cdll.LoadLibrary('x')",
            "ctypes.cdll.LoadLibrary",
        );
    }

    #[test]
    fn uncalled_references() {
        reaches(
            "import os\nlist(map(getattr(os, 'system'), ['x']))",
            "os.system",
        );
        reaches("import os\ncallbacks = [os.popen]", "os.popen");
    }

    #[test]
    fn computed_names_are_reported() {
        reaches(
            "import os\nname = input()\ngetattr(os, name)('x')",
            "os.<computed>",
        );
        reaches("m = __import__(x)", "builtins.__import__(<computed>)");
        reaches(
            "import importlib\nimportlib.import_module(name)",
            "importlib.import_module(<computed>)",
        );
        reaches(
            "().__class__.__base__.__subclasses__()",
            "<object>.__subclasses__",
        );
    }

    #[test]
    fn families() {
        reaches("eval('1')", "builtins.eval");
        reaches("exec('1')", "builtins.exec");
        reaches("compile('1', 'f', 'exec')", "builtins.compile");
        reaches("import marshal\nmarshal.loads(b'')", "marshal.loads");
        reaches("import pickle\npickle.loads(b'')", "pickle.loads");
        reaches("import _pickle\n_pickle.loads(b'')", "pickle.loads");
        reaches("import ctypes\nctypes.CDLL('x')", "ctypes.CDLL");
        reaches("from cffi import FFI\nFFI()", "cffi.FFI");
        reaches("import socket\nsocket.socket()", "socket.socket");
        reaches(
            "import urllib.request\nurllib.request.urlopen('http://x')",
            "urllib.request.urlopen",
        );
        reaches("import requests\nrequests.get('http://x')", "requests.get");
        reaches("import shutil\nshutil.rmtree('/')", "shutil.rmtree");
        reaches(
            "open('/etc/cron.d/x', 'w')",
            "open(\"/etc/cron.d/x\", \"w\")",
        );
        reaches(
            "open('../../.bashrc', mode='a')",
            "open(\"../../.bashrc\", \"a\")",
        );
        reaches("import torch\ntorch.load('x.bin')", "torch.load");
        reaches("import runpy\nrunpy.run_path('x.py')", "runpy.run_path");
        reaches("import importlib.util\ns = importlib.util.spec_from_file_location('m', 'x.py')\ns.loader.exec_module(m)", "<loader>.exec_module");
    }

    #[test]
    fn benign_code_has_no_reach() {
        let src = r#"
import math, logging, os
from typing import Optional
import torch
from torch import nn
logger = logging.getLogger(__name__)

class M(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.path = os.path.join(config.dir, "x")
        self.eval()
        self.re = __import__("re").compile("x")
    def forward(self, x):
        return torch.tanh(x) * math.sqrt(2.0)
    def load(self, p):
        sd = torch.load(p, map_location="cpu", weights_only=True)
        open(os.path.join(p, "out.txt"), "w").write("x")
        return sd
"#;
        let a = analyze(src);
        assert!(a.errors.is_empty());
        assert!(a.hits.is_empty(), "{:?}", a.hits);
    }

    #[test]
    fn strings_and_comments_are_not_code() {
        assert!(targets("x = 'os.system(1)'  # eval(2)\n").is_empty());
    }

    #[test]
    fn contexts() {
        let a = analyze(
            "import os\nos.system('a')\nclass C:\n    def forward(self):\n        os.system('b')\n    def helper(self):\n        os.system('c')\nif __name__ == '__main__':\n    os.system('d')\n",
        );
        let ctx: Vec<(usize, Context)> =
            a.hits.iter().map(|h| (h.line, h.context.clone())).collect();
        assert_eq!(
            ctx,
            vec![
                (2, Context::Module),
                (5, Context::LoadHook("forward".into())),
                (7, Context::Function("helper".into())),
                (9, Context::MainBlock),
            ]
        );
    }

    #[test]
    fn syntax_errors_keep_the_rest() {
        let a = analyze("import os\ndef f(:\n    pass\nos.system('x')\n");
        assert!(!a.errors.is_empty());
        assert!(a.hits.iter().any(|h| h.target == "os.system"));
    }

    #[test]
    fn hostile_nesting_does_not_crash() {
        let just_under = MAX_NESTING.saturating_sub(10);
        for src in [
            "(".repeat(just_under),
            format!("x = {}1", "-".repeat(just_under)),
            format!("x = {}0", "not ".repeat(just_under / 4)),
            format!("x = {}1", "1+".repeat(just_under / 2)),
            format!("x = a{}", ".b".repeat(just_under / 2)),
            format!(
                "x = {}1{}",
                "f(".repeat(just_under / 3),
                ")".repeat(just_under / 3)
            ),
            format!("x = {}1", "lambda:".repeat(just_under / 8)),
            format!("x = {}", "[".repeat(just_under)),
        ] {
            assert!(nesting_bound(&src) <= MAX_NESTING);
            assert!(analyze_bounded(&src).is_some());
        }
        assert!(analyze_bounded(&"(".repeat(MAX_NESTING + 1)).is_none());
        // Just under the inline limit, on a thread with the smallest stack a scanner gets.
        let src = format!(
            "x = {}1{}",
            "f(".repeat(INLINE_NESTING / 3),
            ")".repeat(INLINE_NESTING / 3)
        );
        assert!(nesting_bound(&src) <= INLINE_NESTING);
        let small = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || analyze_bounded(&src).is_some())
            .expect("thread");
        assert!(small.join().expect("no overflow"));
        let src = format!("x = {}1", "-".repeat(INLINE_NESTING - 8));
        let small = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || analyze_bounded(&src).is_some())
            .expect("thread");
        assert!(small.join().expect("no overflow"));
    }

    #[test]
    fn flat_data_is_not_deep() {
        let data = format!("X = [{}]", "-1.0, ".repeat(200_000));
        assert!(nesting_bound(&data) < 100);
    }
}
