//! R serialized objects (`.rds` from `saveRDS`, `.rda`/`.RData` from `save`; see
//! [`crate::formats::rds`]): what R builds that runs code, and when.
//!
//! * An **unforced promise** runs its code the first time the value is touched (CVE-2024-27322:
//!   R before 4.4 returned a top-level promise from `readRDS`, R 4.4 refuses only that one, and
//!   promises inside lists and environments still run on access): `r/promise`, high.
//! * An **active binding** in a serialized environment runs its function on every access to
//!   the variable: `r/active-binding`, high.
//! * **Closures, calls, expression vectors and byte code** run when something calls or
//!   evaluates them (a model's `predict` calls the functions it carries, glm families hold
//!   closures): listed at info (`r/code`), and every name their code refers to, by symbol or by
//!   string, is judged against `signatures/r.toml` (`system`, `eval`, `dyn.load`, … are
//!   `r/dangerous-call` at the entry's severity). Byte code is judged by its constant pool, which
//!   holds every symbol the instructions can name.
//! * **Native calls** (`.Call`, `.External`, …) run compiled code chosen by their first argument.
//!   A closure that is nothing but `.Call(routine, arguments…)` whose routine symbol R provably
//!   finds in an R package's namespace (glm families: `.Call(C_logit_link, mu)` in stats) calls
//!   a routine that package registered, listed in `signatures/r.toml` (`r-native-routine`):
//!   info. A routine named by string, computed, bound by the file itself, or reached through the
//!   global environment keeps the entry's severity (R looks strings up in every loaded library).
//! * **Known closures** R's own packages put into the objects they return (an nls model's
//!   `predict`, which `eval`s the model formula; inverse.gaussian's `simulate`, which calls
//!   `requireNamespace`) are listed in `signatures/r.toml` (`r-known-closure`) by the digest of
//!   their formals and body ([`crate::formats::rds::CodeObject::digest`]). A listed closure
//!   whose every denied name R provably finds in the listing package's namespace is info; its
//!   environment is not part of the digest and is judged as usual (a formula nls evaluates that
//!   calls `system` is critical), and a file whose environments bind the denied name (R would
//!   call the file's function) gets no such trust.
//! * **Namespaces** R looks up while reading are loaded then (their load hooks run): R's own
//!   packages at info, others low (`r/namespace`); ALTREP classes name the package that is loaded
//!   to read them.
//! * A stream R refuses or that does not read to the end is `r/malformed` (medium); the names
//!   found before the error are still judged.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::{HashMap, HashSet};
use std::io::BufReader;

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::{Finding, Severity, Sink};
use crate::format::Format;
use crate::formats::rds::{
    parse, unpack_version, CodeKind, CodeObject, Encoding, Parsed, RdsError, Stream, MAX_DEPTH,
    NATIVE_INTERFACE, READ_STACK,
};
use crate::scanners::rules::{Denial, NamePolicy};
use crate::scanners::{Scanner, ScannerContext};
use crate::signatures::{Action, SignatureDb};

const REFS: &[&str] = &[
    "https://github.com/wch/r-source/blob/trunk/src/main/serialize.c",
    "CVE-2024-27322",
    "https://hiddenlayer.com/innovation-hub/r-bitrary-code-execution/",
];

pub const OBJECT: Code = Code {
    id: "r/object",
    severity: Severity::Info,
    summary: "An R serialized object or workspace, with the R version that wrote it.",
    detects: "A `saveRDS` stream (`X\\n`, `B\\n`, `A\\n`) or a `save` workspace (`RDX3\\n`, …), after any gzip, bzip2 or xz wrapping.",
    why: "Informational: R objects can carry code (functions, promises, calls); what they carry is reported separately.",
    example: "`model.rds` written by R 4.3.2 (XDR, serialization version 3).",
    remediation: "None needed.",
    references: REFS,
};

pub const CODE: Code = Code {
    id: "r/code",
    severity: Severity::Info,
    summary: "The R object carries code: functions, calls, expressions or byte code.",
    detects: "Closures, language objects (calls, formulas), expression vectors, byte code and primitive references in the stream, with the names their code refers to.",
    why: "This code runs when the object's user calls or evaluates it (a model's `predict` calls the functions it carries). The names it refers to are judged separately (`r/dangerous-call`).",
    example: "A glm's `family` object holds closures such as `linkinv <- function(eta) .Call(C_logit_linkinv, eta)`.",
    remediation: "None needed when no dangerous call is reported; review the functions of objects from unknown sources.",
    references: REFS,
};

pub const DANGEROUS_CALL: Code = Code {
    id: "r/dangerous-call",
    severity: Severity::Critical,
    summary: "Code in the R object refers to a function that runs commands, evaluates text, loads native code or reaches the system.",
    detects: "A closure, promise, active binding, call, expression or byte code constant pool naming a function of `signatures/r.toml` (`system`, `system2`, `pipe`, `eval(parse(...))`, `dyn.load`, `do.call`, `download.file`, …), as a symbol or as a string.",
    why: "The code runs when the object is used, or on first access for a promise or active binding: an object read with `readRDS` or `load` then runs commands with the user's privileges. A closure that is only `.Call(routine, arguments…)` whose routine R provably finds in an R package's installed namespace, as a routine `signatures/r.toml` lists for it (`r-native-routine`: a glm family's `.Call(C_logit_link, mu)`), is reported at info. So is a closure R's own package creates whose formals and body match a digest `signatures/r.toml` lists (`r-known-closure`: nls's `predict`, which `eval`s the model formula held in its environment, judged on its own; inverse.gaussian's `simulate`, which calls `requireNamespace`), when R provably finds each denied name it calls in that package's namespace, not in the file.",
    example: "`e <- new.env(); delayedAssign(\"x\", system(\"id\"), assign.env = e); saveRDS(e, \"m.rds\")`",
    remediation: "Do not load the object. Models can be shared as data (coefficients, PMML, ONNX) instead of live R objects.",
    references: REFS,
};

pub const PROMISE: Code = Code {
    id: "r/promise",
    severity: Severity::High,
    summary: "The R object holds an unevaluated promise: its code runs the first time the value is used.",
    detects: "A `PROMSXP` whose value is unbound (not yet forced) and whose code makes a call. An unforced promise holding only a constant or a variable name (what `substitute()`d arguments leave behind, as in a glm's family) is info; forced promises only return their stored value and are not reported.",
    why: "R evaluates a promise silently on first access (CVE-2024-27322: `readRDS` of a top-level promise ran it as soon as the result was used; R 4.4 refuses only top-level ones, so promises in lists, environments and closures still run on access).",
    example: "An environment saved after `delayedAssign(\"x\", system(\"id\"))`.",
    remediation: "Do not load the object unless the promise's code is expected; force it before saving.",
    references: REFS,
};

pub const ACTIVE_BINDING: Code = Code {
    id: "r/active-binding",
    severity: Severity::High,
    summary: "A serialized environment has an active binding: a function that runs on every access to a variable.",
    detects: "An environment frame cell with the active-binding bit set (`makeActiveBinding`).",
    why: "Reading the variable calls the function, so merely looking at the object (printing it, `ls.str`) runs code.",
    example: "`makeActiveBinding(\"coef\", function() system(\"id\"), e)`",
    remediation: "Do not load the object unless the binding is expected.",
    references: REFS,
};

pub const NAMESPACE: Code = Code {
    id: "r/namespace",
    severity: Severity::Low,
    summary: "Reading the R object loads an installed package's namespace.",
    detects: "A namespace reference (`NAMESPACESXP`), or an ALTREP class whose package is not loaded, naming a package other than R's own (base, stats, utils, methods, …, which are info).",
    why: "R loads the namespace while reading (`..getNamespace`), running the package's load hooks: an object can pull in any installed package (and fails to read where it is missing).",
    example: "A closure whose environment is the namespace of `mypkg`.",
    remediation: "Check that the package is one you trust.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "r/malformed",
    severity: Severity::Medium,
    summary: "The R stream could not be read to the end the way R reads it.",
    detects: "An unknown format line or version, a truncated stream, an unknown item type, a bad reference or length, a version-1 workspace, persistent references (only a restore hook reads them), a workspace whose magic and stream disagree.",
    why: "What was not read cannot be judged; another reader (or R version) may still build objects from it.",
    example: "A `.rds` cut off in the middle of a vector.",
    remediation: "Re-save the object with `saveRDS` and scan again.",
    references: REFS,
};

pub static CODES: &[&Code] = &[
    &OBJECT,
    &CODE,
    &DANGEROUS_CALL,
    &PROMISE,
    &ACTIVE_BINDING,
    &NAMESPACE,
    &MALFORMED,
];

/// The signature kind of the R code policy.
pub const KIND: &str = "r-function";
/// The signature kind of routines R packages register for their own native calls (module: the
/// package, name: the variable its namespace binds to the routine).
pub const ROUTINE_KIND: &str = "r-native-routine";
/// The signature kind of closures R's own packages create (module: the package, name: the
/// closure's digest, [`crate::formats::rds::CodeObject::digest`]; reason: the function that
/// creates it and the R version it was taken from).
pub const KNOWN_CLOSURE_KIND: &str = "r-known-closure";

/// R's own packages (shipped with R): loading them runs no third-party code.
const BASE_PACKAGES: &[&str] = &[
    "base",
    "compiler",
    "datasets",
    "graphics",
    "grDevices",
    "grid",
    "methods",
    "parallel",
    "splines",
    "stats",
    "stats4",
    "tcltk",
    "tools",
    "utils",
];

/// The R function policy (`r-function` entries; later entries win) and the routines R's own
/// packages register (`r-native-routine`).
#[derive(Debug, Default)]
pub struct RPolicy {
    functions: NamePolicy,
    /// (package, variable) of registered routines.
    routines: HashSet<(String, String)>,
    /// Known closures by digest: (package, what it is).
    known: HashMap<String, (String, String)>,
}

impl RPolicy {
    pub fn new(db: &SignatureDb) -> Self {
        let mut known = HashMap::new();
        for e in db.of_kind(KNOWN_CLOSURE_KIND) {
            match e.action {
                Action::Allow | Action::Tolerate => {
                    known.insert(
                        e.name.to_string(),
                        (e.module.to_string(), e.reason.to_string()),
                    );
                }
                Action::Deny => {
                    known.remove(e.name.as_ref());
                }
            }
        }
        let mut routines = HashSet::new();
        for e in db.of_kind(ROUTINE_KIND) {
            let key = (e.module.to_string(), e.name.to_string());
            match e.action {
                Action::Allow | Action::Tolerate => routines.insert(key),
                Action::Deny => routines.remove(&key),
            };
        }
        Self {
            functions: NamePolicy::from_db(db, KIND),
            routines,
            known,
        }
    }

    /// The rule denying `name`, if any.
    pub fn denied(&self, name: &str) -> Option<&Denial> {
        self.functions.denied(name)
    }

    /// The package and description of the known closure with `digest`.
    pub fn known_closure(&self, digest: &str) -> Option<(&str, &str)> {
        self.known
            .get(digest)
            .map(|(p, r)| (p.as_str(), r.as_str()))
    }

    /// Whether `package`'s namespace binds `name` to a routine the package registered.
    pub fn routine(&self, package: &str, name: &str) -> bool {
        self.routines
            .contains(&(package.to_owned(), name.to_owned()))
    }
}

pub struct RScanner;

impl Scanner for RScanner {
    fn id(&self) -> &'static str {
        "r"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::RSerialized]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        let len = a.content.len();
        let src = a.content.open()?;
        let parsed = std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("rds".into())
                .stack_size(READ_STACK)
                .spawn_scoped(s, move || {
                    parse(BufReader::with_capacity(1 << 16, src), len)
                })
                .ok()?
                .join()
                .ok()
        });
        let Some(parsed) = parsed else {
            out.push(malformed(
                a,
                "the stream could not be read (reader thread failed)",
            ));
            return Ok(());
        };
        report(&parsed, a, cx, out);
        Ok(())
    }
}

fn malformed(a: &Artifact, why: &str) -> Finding {
    Finding::new(&MALFORMED, a.location.clone(), format!("{}: {why}", a.name))
}

fn report(p: &Parsed, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    let s = &p.stream;
    if let Some(h) = &s.header {
        let encoding = match h.encoding {
            Encoding::Xdr => "xdr",
            Encoding::Binary { big_endian: false } => "binary (little-endian)",
            Encoding::Binary { big_endian: true } => "binary (big-endian)",
            Encoding::Ascii => "ascii",
        };
        let mut f = Finding::new(
            &OBJECT,
            a.location.clone(),
            format!(
                "R {} written by R {} ({encoding}, serialization version {})",
                if h.workspace.is_some() {
                    "workspace"
                } else {
                    "object"
                },
                unpack_version(h.writer),
                h.version
            ),
        )
        .evidence("encoding", encoding)
        .evidence("version", h.version.to_string())
        .evidence("writer", unpack_version(h.writer));
        if let Some(w) = &h.workspace {
            f = f.evidence("workspace", w.clone());
        }
        if let Some(e) = &h.native_encoding {
            f = f.evidence("native-encoding", e.clone());
        }
        out.push(f);
    }
    let policy = cx.policies().r();
    let mut carried: HashMap<&'static str, u64> = HashMap::new();
    for c in &s.code {
        judge(c, s, policy, a, out);
        let n = carried.entry(c.kind.as_str()).or_default();
        *n = n.saturating_add(1);
    }
    if !carried.is_empty() {
        let mut kinds: Vec<_> = carried.into_iter().collect();
        kinds.sort_unstable();
        let list = kinds
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut f = Finding::new(
            &CODE,
            a.location.clone(),
            format!("the object carries code that runs when used: {list}"),
        );
        for (k, n) in &kinds {
            f = f.evidence(k.replace(' ', "-"), n.to_string());
        }
        out.push(f);
    }
    if s.code_dropped > 0 {
        out.push(
            Finding::new(
                &crate::codes::engine::BUDGET_EXCEEDED,
                a.location.clone(),
                format!(
                    "{} more code objects than the {} recorded; their names were judged with the last one",
                    s.code_dropped,
                    crate::formats::rds::MAX_CODE_OBJECTS
                ),
            )
            .evidence("limit", "r-code-objects"),
        );
    }
    let altrep_packages = s.altrep.iter().map(|(_, p)| p);
    for ns in s.namespaces.iter().chain(altrep_packages) {
        let base = BASE_PACKAGES.contains(&ns.as_str());
        out.push(
            Finding::new(
                &NAMESPACE,
                a.location.clone(),
                format!("reading the object loads the namespace of package {ns}"),
            )
            .severity(if base { Severity::Info } else { Severity::Low })
            .evidence("package", ns.clone()),
        );
    }
    if s.persistent > 0 {
        out.push(malformed(
            a,
            &format!(
                "{} persistent references: only a restore hook (not readRDS or load) reads them",
                s.persistent
            ),
        ));
    }
    match &p.error {
        None => {}
        Some(RdsError::TooDeep) => out.push(
            Finding::new(
                &crate::codes::engine::BUDGET_EXCEEDED,
                a.location.clone(),
                format!("items are nested deeper than {MAX_DEPTH} levels; the rest was not read"),
            )
            .evidence("limit", "r-depth"),
        ),
        Some(e) => out.push(malformed(a, &e.to_string())),
    }
}

/// The registered routines (`package::variable`) a closure calls, when it provably calls nothing
/// else: it is only `.Call(routine, arguments…)` (and kin): no strings, every symbol a
/// native-interface function, a routine or one of its own arguments, no byte code of another
/// shape, and every routine R looks up from the closure's environment ends in a package
/// namespace (no frame of the file binds it, the global environment is not reached) that
/// `signatures/r.toml` says registers it. `None` when any of that is not proven.
fn registered_routines(c: &CodeObject, s: &Stream, policy: &RPolicy) -> Option<Vec<String>> {
    let plain = c.kind == CodeKind::Closure
        && !c.native_opaque
        && !c.names_truncated
        && c.strings.is_empty()
        && s.code_dropped == 0
        && !c.native_targets.is_empty();
    if !plain {
        return None;
    }
    let only_calls = c.symbols.iter().all(|n| {
        NATIVE_INTERFACE.contains(&n.as_str())
            || c.native_targets.contains(n)
            || c.formals.contains(n)
    });
    if !only_calls {
        return None;
    }
    let env = c.env.as_ref()?;
    c.native_targets
        .iter()
        .map(|t| {
            if c.formals.contains(t) {
                return None;
            }
            let package = s.namespace_of(env, t)?;
            policy
                .routine(package, t)
                .then(|| format!("{package}::{t}"))
        })
        .collect()
}

/// What a closure is when R's own package `package` created it (`signatures/r.toml`,
/// `r-known-closure`) and every name of its code the policy denies provably means what it
/// meant there: its formals and body have a listed digest, all its names were recorded, and
/// R's lookup of each denied name from the closure's environment ends in `package`'s
/// namespace (no frame of the file binds it, it is not an argument, the global environment is
/// not reached), and it calls no compiled code. Its own names are then not dangerous calls; everything its environment holds
/// (formulas it evaluates, closures it calls, promises) is read and judged on its own.
fn known_closure<'p>(c: &CodeObject, s: &Stream, policy: &'p RPolicy) -> Option<&'p str> {
    if c.kind != CodeKind::Closure || c.names_truncated || s.code_dropped > 0 {
        return None;
    }
    // Compiled code is chosen by names the environment may rebind: `registered_routines`.
    if c.symbols
        .iter()
        .any(|n| NATIVE_INTERFACE.contains(&n.as_str()))
    {
        return None;
    }
    let (package, what) = policy.known_closure(c.digest.as_deref()?)?;
    let env = c.env.as_ref()?;
    let provable = c
        .symbols
        .iter()
        .chain(&c.strings)
        .filter(|n| policy.denied(n).is_some())
        .all(|n| !c.formals.contains(n) && s.namespace_of(env, n) == Some(package));
    provable.then_some(what)
}

fn judge(c: &CodeObject, s: &Stream, policy: &RPolicy, a: &Artifact, out: &mut Sink) {
    let at = format!("byte {}", c.offset);
    let routines = registered_routines(c, s, policy);
    let known = known_closure(c, s, policy);
    match c.kind {
        CodeKind::Promise { forced: false } => out.push(
            if c.calls {
                Finding::new(
                    &PROMISE,
                    a.location.clone(),
                    format!("an unevaluated promise ({at}) runs its code the first time the value is used"),
                )
            } else {
                // `substitute()`d arguments stay unforced: a constant or a variable lookup.
                Finding::new(
                    &PROMISE,
                    a.location.clone(),
                    format!("an unevaluated promise ({at}) holds a constant or a variable name, no call"),
                )
                .severity(Severity::Info)
            }
            .evidence("offset", c.offset.to_string())
            .evidence("names", names(c)),
        ),
        CodeKind::ActiveBinding => out.push(
            Finding::new(
                &ACTIVE_BINDING,
                a.location.clone(),
                format!("an active binding ({at}) runs a function on every access to its variable"),
            )
            .evidence("offset", c.offset.to_string())
            .evidence("names", names(c)),
        ),
        _ => {}
    }
    let by_symbol = c.symbols.iter().map(|s| (s, "refers to"));
    let by_string = c.strings.iter().map(|s| (s, "names by string"));
    for (name, how) in by_symbol.chain(by_string) {
        let Some(rule) = policy.denied(name) else {
            continue;
        };
        let when = match c.kind {
            CodeKind::Promise { forced: false } => "on first access",
            CodeKind::ActiveBinding => "on every access",
            CodeKind::Promise { forced: true } => "never (the promise was forced)",
            _ => "when called or evaluated",
        };
        let registered = routines
            .as_ref()
            .filter(|_| NATIVE_INTERFACE.contains(&name.as_str()));
        let severity = match c.kind {
            _ if registered.is_some() || known.is_some() => Severity::Info,
            CodeKind::Promise { forced: true } => Severity::Low.min(rule.severity),
            _ => rule.severity,
        };
        let only = match (registered, known) {
            (Some(r), _) => format!(
                "; it only calls {}, registered by R's package (R finds the routine in the installed namespace, not in the file)",
                r.join(", ")
            ),
            (None, Some(k)) => format!(
                "; the closure is R's own {k} (its formals and body match signatures/r.toml, and R finds {name} in the installed namespace, not in the file)"
            ),
            (None, None) => String::new(),
        };
        let message = format!(
            "a {} ({at}) {how} {name}: {}; it runs {when}{only}",
            c.kind.as_str(),
            rule.reason
        );
        let mut f = Finding::new(&DANGEROUS_CALL, a.location.clone(), message)
            .severity(severity)
            .evidence("function", name.clone())
            .evidence("category", rule.category.clone())
            .evidence("code", c.kind.as_str())
            .evidence("offset", c.offset.to_string());
        if let Some(r) = registered {
            f = f.evidence("routines", r.join(" "));
        }
        if let (Some(k), Some(d)) = (known, &c.digest) {
            f = f.evidence("known-closure", k).evidence("digest", d.clone());
        }
        out.push(f);
    }
}

/// The names a code object refers to, for evidence (at most 20).
fn names(c: &CodeObject) -> String {
    let mut v: Vec<&str> = c.symbols.iter().map(String::as_str).take(20).collect();
    if c.symbols.len() > 20 || c.names_truncated {
        v.push("…");
    }
    v.join(" ")
}
