//! A linter for Jinja templates that travel with models (GGUF `tokenizer.chat_template`, Hugging
//! Face `tokenizer_config.json` `chat_template`, …), looking for server-side template injection
//! (CVE-2024-34359 class).
//!
//! Chat templates are rendered by Python Jinja2. Even in its sandbox, a template that reaches
//! Python object internals (`''.__class__.__mro__[1].__subclasses__()`, `cycler.__init__.__globals__
//! .os.popen(…)`) runs code on the machine that loads the model; outside the sandbox (llama-cpp-python
//! < 0.2.72) nothing stops it. Benign chat templates never need any of that: they iterate over
//! messages, compare roles, concatenate strings and call a few string methods.
//!
//! The template is parsed with minijinja's real Jinja parser (its AST through the
//! `unstable_machinery` feature) and the tree is walked:
//!
//! * attribute or item access to dunder / underscore names, also when the name is assembled from
//!   pieces (`'_'*2 ~ 'class' ~ '_'*2`, `['__cla','ss__']|join`, `'%c'|format(95)`, reversed
//!   strings, escapes such as `\x5f`, variables set earlier);
//! * the `attr` filter and `attribute=` arguments with such names, or with names that cannot be
//!   computed statically;
//! * references to Python callables and modules (`eval`, `exec`, `__import__`, `getattr`, `os`,
//!   `popen`, `subprocess`, …) and to Jinja gadget globals (`self`, `cycler`, `joiner`, `lipsum`,
//!   `url_for`, `config`, `request`, …);
//! * `import`, `from … import`, `include` and `extends` statements.
//!
//! A template the parser rejects is reported (Python Jinja2 may still accept it) and then checked
//! lexically: every string literal and identifier is extracted and checked the same way.
//!
//! The entry point [`lint`] is independent of any container format, so every scanner that finds a
//! template can call it and map the issues to findings with [`issue_finding`].

#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::{HashMap, HashSet};

use minijinja::machinery::ast::{self, CallArg, Expr, Stmt};
use minijinja::machinery::parse;
use minijinja::syntax::SyntaxConfig;

use crate::codes::Code;
use crate::finding::clip;
use crate::finding::{Finding, Location, Severity};

pub const INJECTION: Code = Code {
    id: "template/code-execution",
    severity: Severity::Critical,
    summary: "A Jinja template reaches Python internals: server-side template injection.",
    detects: "Attribute or item access to dunder names (`__class__`, `__mro__`, `__subclasses__`, `__globals__`, `__builtins__`, `__init__`, `__import__`, …), also when the name is assembled from pieces (concatenation, `~`, `join`, `format`, `replace`, reversal, `\\x5f` escapes, variables); the `attr` filter on such names; calls to `eval`, `exec`, `__import__`, `getattr`, `open`; references to `os`, `subprocess`, `popen`, `system`.",
    why: "Chat templates are rendered by Python Jinja2 when the model is loaded or queried. Reaching object internals lets the template walk to `os.popen` and run commands on the server (CVE-2024-34359, \"Llama Drama\": llama-cpp-python rendered GGUF chat templates without a sandbox). Benign chat templates never need any of this.",
    example: "`{{ ''.__class__.__mro__[1].__subclasses__()[133].__init__.__globals__['popen']('id').read() }}`",
    remediation: "Do not load the model. Replace the template with the model vendor's original chat template and report the file.",
    references: &[
        "CVE-2024-34359",
        "https://github.com/abetlen/llama-cpp-python/security/advisories/GHSA-56xg-wfcc-g829",
        "https://jinja.palletsprojects.com/en/stable/sandbox/",
    ],
};

pub const SUSPICIOUS: Code = Code {
    id: "template/suspicious-construct",
    severity: Severity::High,
    summary: "A Jinja template uses constructs that chat templates do not need and that SSTI payloads rely on.",
    detects: "Access to underscore-prefixed attributes; the `attr` filter or an `attribute=` argument with a name that cannot be computed statically; Jinja gadget globals (`self`, `cycler`, `joiner`, `lipsum`, `url_for`, `config`, `request`, `get_flashed_messages`); `import`/`from … import`/`include`/`extends`; escaped underscores or `\\N{…}` escapes; character assembly with `%c`.",
    why: "These are the building blocks of sandbox escapes. They are not injections by themselves, but no mainstream chat template uses them, so their presence deserves a human look before the model is served.",
    example: "`{{ messages|attr(request.args.x) }}` or `{{ cycler }}`.",
    remediation: "Compare the template with the model vendor's original; remove the construct or reject the model.",
    references: &["CVE-2024-34359", "https://jinja.palletsprojects.com/en/stable/sandbox/"],
};

pub const UNPARSABLE: Code = Code {
    id: "template/unparsable",
    severity: Severity::Medium,
    summary: "A Jinja template could not be parsed; it was checked lexically only.",
    detects: "A chat template that the Jinja parser rejects (syntax error, nesting deeper than the parser's limit, unknown tags).",
    why: "Python Jinja2 and the parser used here differ in corner cases. A template that only one of them accepts may hide constructs from the structural check; the lexical fallback catches dunder names and dangerous identifiers but not every assembled string.",
    example: "`{% generation %}…` (a transformers-only tag) or a truncated `{% if %}` block.",
    remediation: "Inspect the template by hand; prefer the vendor's original template.",
    references: &["CVE-2024-34359"],
};

pub const TOO_DEEP: Code = Code {
    id: "template/too-deep",
    severity: Severity::Info,
    summary: "A Jinja template nests deeper than the parser allows; each tag and expression was checked on its own and none reaches dangerous names.",
    detects: "A chat template whose blocks nest (or whose single expression grows) beyond the parser's recursion limit, for which the block-by-block check and the token-level scan found no dunder names, dangerous callables or computed attribute walks.",
    why: "Deep nesting alone is not an attack, and Python Jinja2 renders such templates. Every `{{ … }}` and `{% … %}` was still parsed and checked on its own (and blocks too deep even for that were scanned token by token), so anything dangerous would have been reported separately at high or critical severity. What cannot be followed is only the flow of variables between distant blocks.",
    example: "300 nested `{% if %}` blocks generated by a template tool.",
    remediation: "None needed for a known vendor template; otherwise compare it with the vendor's original.",
    references: &["https://jinja.palletsprojects.com/en/stable/templates/"],
};

/// Every code this scanner reports.
pub static CODES: &[&Code] = &[&INJECTION, &SUSPICIOUS, &UNPARSABLE, &TOO_DEEP];

/// What kind of problem a template has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IssueKind {
    /// Reaches Python internals or dangerous callables ([`INJECTION`]).
    Injection,
    /// A construct only payloads need ([`SUSPICIOUS`]).
    Suspicious,
    /// The parser rejected the template ([`UNPARSABLE`]).
    Unparsable,
    /// Nesting beyond the parser's limit, and the block-by-block check found nothing
    /// ([`TOO_DEEP`]). Informational: a benign deep template must not fail a gate that
    /// stops at low.
    TooDeep,
}

/// One problem found in a template.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TemplateIssue {
    pub kind: IssueKind,
    pub severity: Severity,
    pub message: String,
    /// Byte offset in the template source, when known.
    pub offset: Option<usize>,
    /// The offending name or snippet.
    pub evidence: String,
}

/// Templates larger than this are linted lexically only (the AST of a huge template costs memory
/// proportional to its size; no real chat template comes near this).
pub const MAX_PARSE_BYTES: usize = 1024 * 1024;
/// Folded strings longer than this are not tracked.
const MAX_FOLD: usize = 4096;
/// Tokens (operators and names, outside string literals) allowed in one `{{ }}`/`{% %}` block
/// before the template is only checked lexically: the parser builds operator chains iteratively,
/// but walking and dropping a left-deep chain recurses once per link.
const MAX_BLOCK_TOKENS: usize = 1000;
/// Expression nodes visited by constant folding per template.
const FOLD_BUDGET: usize = 2_000_000;
/// Issues per template beyond this are dropped (the first ones tell the story).
const MAX_ISSUES: usize = 64;
/// Loop bodies re-walked once per literal item (`{% for k in ['__cla', 'ss__'] %}`) per template.
const MAX_REPLAYS: usize = 256;
/// Literal items a loop may have and still be re-walked item by item.
const MAX_LOOP_ITEMS: usize = 16;
/// Lists longer than this are not folded (names are assembled from a few pieces; bounds the
/// copies made when a list variable is referenced).
const MAX_SEQ_ITEMS: usize = 256;
/// Loops whose source is longer than this are walked once, with the target unknown.
const MAX_REPLAY_BYTES: u32 = 64 * 1024;

/// Methods that chat templates call on looked-up values (`message[key].strip()`): calling them
/// on a value fetched by a computed key is data handling, not an attribute walk.
const DATA_METHODS: &[&str] = &[
    "strip",
    "lstrip",
    "rstrip",
    "split",
    "rsplit",
    "splitlines",
    "lower",
    "upper",
    "title",
    "capitalize",
    "startswith",
    "endswith",
    "replace",
    "items",
    "keys",
    "values",
    "get",
    "join",
    "format",
    "count",
    "find",
    "rfind",
    "index",
    "append",
    "extend",
];

/// Dunder names whose use is a known sandbox-escape step.
const DANGEROUS_DUNDERS: &[&str] = &[
    "__class__",
    "__mro__",
    "__base__",
    "__bases__",
    "__subclasses__",
    "__globals__",
    "__builtins__",
    "__init__",
    "__import__",
    "__dict__",
    "__getattribute__",
    "__getattr__",
    "__reduce__",
    "__reduce_ex__",
    "__code__",
    "__func__",
    "__self__",
    "__module__",
    "__loader__",
    "__spec__",
    "__call__",
    "__getitem__",
    "__closure__",
    "__new__",
];

/// Names that reach code execution or interpreter internals when used as a variable, attribute,
/// item key or call target. None of them is a plausible chat-template field name.
const DANGEROUS_NAMES: &[&str] = &[
    "os",
    "subprocess",
    "popen",
    "popen2",
    "spawnl",
    "spawnlp",
    "spawnv",
    "spawnvp",
    "execl",
    "execlp",
    "execv",
    "execve",
    "execvp",
    "check_output",
    "check_call",
    "getoutput",
    "getstatusoutput",
    "eval",
    "exec",
    "execfile",
    "getattr",
    "setattr",
    "delattr",
    "globals",
    "locals",
    "builtins",
    "import_module",
    "load_module",
    "importlib",
    "func_globals",
    "func_code",
    "f_globals",
    "f_locals",
    "f_builtins",
    "f_back",
    "gi_frame",
    "gi_code",
    "cr_frame",
    "ag_frame",
    "tb_frame",
    "tb_next",
    "co_code",
    "mro",
    "subclasses",
    "breakpoint",
];

/// Names that are dangerous only when called (`os.system(…)`, `open(…)`): as plain fields they
/// are ordinary words (`message.system`, `tool_use.input`).
const CALL_ONLY_NAMES: &[&str] = &[
    "system", "open", "fdopen", "input", "compile", "vars", "remove", "unlink", "rmtree", "spawn",
];

/// Jinja/Flask globals used as entry points into Python internals.
const GADGET_GLOBALS: &[&str] = &[
    "self",
    "cycler",
    "joiner",
    "lipsum",
    "url_for",
    "config",
    "request",
    "get_flashed_messages",
];

/// Filters whose `attribute` argument names an attribute to fetch.
const ATTRIBUTE_FILTERS: &[&str] = &[
    "map",
    "selectattr",
    "rejectattr",
    "sort",
    "groupby",
    "sum",
    "unique",
    "min",
    "max",
];

/// Lints one template source. Never panics on any input; bounded in time and memory by the
/// source length.
pub fn lint(source: &str) -> Vec<TemplateIssue> {
    lint_with(source, &RenderContext::default())
}

/// Values the renderer passes to the template that travel in the same file, so they are as
/// much the model author's choice as the template: transformers' `apply_chat_template` passes
/// the tokenizer's special tokens (`bos_token`, `eos_token`, …, `additional_special_tokens`).
/// A key assembled from them (`messages[eos_token]` with `"eos_token": "__class__"`) folds like
/// a literal.
#[derive(Debug, Clone, Default)]
pub struct RenderContext {
    pub strings: Vec<(String, String)>,
    pub lists: Vec<(String, Vec<String>)>,
}

/// [`lint`] with the render-time variables known from the template's container.
pub fn lint_with(source: &str, context: &RenderContext) -> Vec<TemplateIssue> {
    let mut l = Linter {
        issues: Vec::new(),
        fold_budget: std::cell::Cell::new(FOLD_BUDGET),
        vars: context
            .strings
            .iter()
            .filter(|(_, v)| v.len() <= MAX_FOLD)
            .cloned()
            .collect(),
        numeric: HashSet::new(),
        lists: context
            .lists
            .iter()
            .filter(|(_, v)| v.len() <= MAX_SEQ_ITEMS)
            .cloned()
            .collect(),
        tainted: HashMap::new(),
        macro_params: HashSet::new(),
        current_macro: None,
        param_callers: HashSet::new(),
        caller_taint: HashSet::new(),
        replays: MAX_REPLAYS,
        offset_base: 0,
        source,
    };
    l.escapes();
    if source.len() > MAX_PARSE_BYTES {
        l.issue(
            IssueKind::Unparsable,
            Severity::Medium,
            format!(
                "template is {} bytes, above the {MAX_PARSE_BYTES}-byte limit for parsing as a whole; each tag and expression was checked on its own",
                source.len()
            ),
            None,
            String::new(),
        );
        l.blockwise(source);
    } else {
        // `{% generation %}` is a transformers-only tag (assistant-token masks) with no effect on
        // rendering; blank it out (same length, so offsets stay valid) so the parser accepts it.
        let cleaned = blank_generation_tags(source);
        let parsed = if max_block_tokens(&cleaned) > MAX_BLOCK_TOKENS {
            Err((
                true,
                format!("an expression has more than {MAX_BLOCK_TOKENS} tokens"),
            ))
        } else {
            parse(&cleaned, "<template>", SyntaxConfig::default()).map_err(|e| {
                let line = e
                    .line()
                    .map(|n| format!(" at line {n}"))
                    .unwrap_or_default();
                let detail = e.detail().unwrap_or("syntax error");
                (detail.contains("recursion"), format!("{detail}{line}"))
            })
        };
        match parsed {
            Ok(tree) => l.stmt(&tree),
            Err((too_deep, why)) => {
                l.blockwise(&cleaned);
                let dangerous = l.issues.iter().any(|i| i.severity >= Severity::High);
                if too_deep && !dangerous {
                    l.issue(
                        IssueKind::TooDeep,
                        Severity::Info,
                        format!("template too deep to parse as a whole ({why}); each tag and expression was parsed on its own and a token-level scan found no dangerous names"),
                        None,
                        String::new(),
                    );
                } else {
                    l.issue(
                        IssueKind::Unparsable,
                        Severity::Medium,
                        format!("template does not parse: {why}; each tag and expression was checked on its own"),
                        None,
                        String::new(),
                    );
                }
            }
        }
    }
    let mut issues = l.issues;
    issues.sort();
    issues.dedup();
    issues
}

/// Does this string look like a Jinja template (worth linting)?
pub fn looks_like_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// The finding code for an issue kind.
pub fn code_for(kind: IssueKind) -> &'static Code {
    match kind {
        IssueKind::Injection => &INJECTION,
        IssueKind::Suspicious => &SUSPICIOUS,
        IssueKind::Unparsable => &UNPARSABLE,
        IssueKind::TooDeep => &TOO_DEEP,
    }
}

/// Turns an issue into a finding at `location`; `what` names the template (e.g. the GGUF key).
pub fn issue_finding(issue: &TemplateIssue, location: Location, what: &str) -> Finding {
    let mut f = Finding::new(
        code_for(issue.kind),
        location,
        format!("{what}: {}", issue.message),
    )
    .severity(issue.severity)
    .evidence("template", what);
    if !issue.evidence.is_empty() {
        f = f.evidence("construct", clip(&issue.evidence, 200));
    }
    if let Some(o) = issue.offset {
        f = f.evidence("template_offset", o.to_string());
    }
    f
}

fn blank_generation_tags(s: &str) -> String {
    let mut out = s.to_owned();
    for tag in ["generation", "endgeneration"] {
        for open in ["{%-", "{%"] {
            for close in ["-%}", "%}"] {
                for sp in [" ", ""] {
                    let pat = format!("{open}{sp}{tag}{sp}{close}");
                    if out.contains(&pat) {
                        out = out.replace(&pat, &" ".repeat(pat.len()));
                    }
                }
            }
        }
    }
    out
}

fn is_dunder(name: &str) -> bool {
    name.len() > 4
        && name.starts_with("__")
        && name.ends_with("__")
        && name
            .trim_matches('_')
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.trim_matches('_').is_empty()
}

/// Python's `str.format`/`%`-style and Jinja's `\N{…}` are not decoded by the parser; fold the
/// one spelling of `_` that payloads use.
fn normalise(s: &str) -> String {
    s.replace("\\N{LOW LINE}", "_")
        .replace("\\N{low line}", "_")
}

struct Linter<'s> {
    issues: Vec<TemplateIssue>,
    /// Expression nodes folding may still visit (bounds pathological templates).
    fold_budget: std::cell::Cell<usize>,
    /// Variables assigned a statically known string (`{% set a = '_' %}`).
    vars: HashMap<String, String>,
    /// Variables known to hold numbers (`range` loop targets, `{% set i = 0 %}`): an item
    /// lookup by a number is an index, never an attribute name.
    numeric: HashSet<String>,
    /// Variables assigned a list of statically known strings (`{% set p = ['__cla', 'ss__'] %}`).
    lists: HashMap<String, Vec<String>>,
    /// Variables (and namespace attributes, `ns.o`) bound to a value reached through computed
    /// lookups, with how many: `{% set a = x[k] %}{{ a[j][i]() }}` is the same walk as
    /// `{{ x[k][j][i]() }}`, so the count carries into chains that start from the variable.
    tainted: HashMap<String, usize>,
    /// Arguments of the macros whose body is being walked.
    macro_params: HashSet<String>,
    /// The macro whose body is being walked.
    current_macro: Option<String>,
    /// Macros that call one of their arguments (or a chain rooted at one): handing them a value
    /// reached through a computed lookup calls it.
    param_callers: HashSet<String>,
    /// Macros that pass a value reached through a computed lookup to `caller(…)`: the
    /// arguments of a `{% call(f) m() %}` block of theirs hold it.
    caller_taint: HashSet<String>,
    /// Loop bodies still allowed to be re-walked once per literal item (bounds nested loops).
    replays: usize,
    /// Added to every issue offset (block-by-block fallback parses each block on its own).
    offset_base: usize,
    source: &'s str,
}

impl Linter<'_> {
    fn issue(
        &mut self,
        kind: IssueKind,
        severity: Severity,
        message: String,
        offset: Option<usize>,
        evidence: String,
    ) {
        if self.issues.len() < MAX_ISSUES {
            self.issues.push(TemplateIssue {
                kind,
                severity,
                message,
                offset: offset.map(|o| o.saturating_add(self.offset_base)),
                evidence,
            });
        }
    }

    /// Escaped underscores and `\N{…}` escapes in the raw source: obfuscation, never needed.
    fn escapes(&mut self) {
        const PATTERNS: &[&str] = &[
            "\\x5f",
            "\\x5F",
            "\\u005f",
            "\\u005F",
            "\\U0000005f",
            "\\U0000005F",
            "\\137",
            "\\N{",
        ];
        for p in PATTERNS {
            if let Some(pos) = self.source.find(p) {
                self.issue(
                    IssueKind::Suspicious,
                    Severity::High,
                    format!("escape sequence '{p}' spells a character in obfuscated form (typical of payloads that assemble '__' names)"),
                    Some(pos),
                    (*p).to_owned(),
                );
            }
        }
    }

    /// Checks a name used as an attribute, item key or `attr` argument.
    fn check_name(&mut self, name: &str, how: &str, assembled: bool, offset: Option<usize>) {
        let name = normalise(name);
        let lower = name.to_ascii_lowercase();
        let how_full = if assembled {
            format!("{how} (name assembled from pieces)")
        } else {
            how.to_owned()
        };
        if is_dunder(&name) {
            let known = DANGEROUS_DUNDERS.contains(&name.as_str());
            self.issue(
                IssueKind::Injection,
                Severity::Critical,
                format!(
                    "{how_full} to '{}'{}",
                    clip(&name, 80),
                    if known {
                        ", a Python internals gadget"
                    } else {
                        ", a Python dunder name"
                    }
                ),
                offset,
                name.clone(),
            );
        } else if DANGEROUS_NAMES.contains(&lower.as_str()) {
            self.issue(
                IssueKind::Injection,
                Severity::Critical,
                format!(
                    "{how_full} to '{}', which reaches code execution or the interpreter",
                    clip(&name, 80)
                ),
                offset,
                name.clone(),
            );
        } else if name.starts_with('_') {
            self.issue(
                IssueKind::Suspicious,
                if assembled {
                    Severity::Critical
                } else {
                    Severity::High
                },
                format!(
                    "{how_full} to private name '{}' (blocked by the Jinja sandbox, used by escapes)",
                    clip(&name, 80)
                ),
                offset,
                name.clone(),
            );
        } else if name.contains("__") && (name.contains("class") || name.contains("global")) {
            self.issue(
                IssueKind::Injection,
                Severity::Critical,
                format!("{how_full} to '{}'", clip(&name, 80)),
                offset,
                name.clone(),
            );
        }
    }

    /// Checks a string literal (not used as a name): a bare dunder spelled in a string is how
    /// payloads smuggle names into `attr`, `getattr` or dictionary lookups.
    fn check_literal(&mut self, s: &str, offset: Option<usize>) {
        let s = normalise(s);
        let t = s.trim();
        if is_dunder(t) {
            let known = DANGEROUS_DUNDERS.contains(&t);
            self.issue(
                if known {
                    IssueKind::Injection
                } else {
                    IssueKind::Suspicious
                },
                if known {
                    Severity::Critical
                } else {
                    Severity::High
                },
                format!("string literal '{}' names a Python dunder", clip(t, 80)),
                offset,
                t.to_owned(),
            );
        }
    }

    fn stmts(&mut self, body: &[Stmt<'_>]) {
        for s in body {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt<'_>) {
        match s {
            Stmt::Template(t) => self.stmts(&t.children),
            Stmt::EmitExpr(e) => self.expr(&e.expr),
            Stmt::EmitRaw(_) | Stmt::Continue(_) | Stmt::Break(_) => {}
            Stmt::ForLoop(f) => {
                self.expr(&f.target);
                self.expr(&f.iter);
                if let Some(e) = &f.filter_expr {
                    self.expr(e);
                }
                let names = target_names(&f.target);
                let saved = self.save(&names);
                let span = f.span();
                let small = span.end_offset.saturating_sub(span.start_offset) <= MAX_REPLAY_BYTES;
                match (&f.target, self.loop_items(&f.iter)) {
                    // `{% for k in ['__cla', 'ss__'] %}`: the body is walked once per item, so
                    // keys assembled from the loop variable fold like any other.
                    (Expr::Var(v), Some(items)) if small && items.len() <= self.replays => {
                        self.replays = self.replays.saturating_sub(items.len());
                        for item in items {
                            self.forget(v.id);
                            self.vars.insert(v.id.to_owned(), item);
                            self.stmts(&f.body);
                        }
                    }
                    _ => {
                        // Loop targets are unknown at lint time (messages, tools, dict keys),
                        // except `range(…)` indices.
                        let numeric = matches!(&f.iter, Expr::Call(c)
                            if matches!(&c.expr, Expr::Var(v) if v.id == "range"));
                        // Items of a value reached through computed lookups are reached the
                        // same way (`{% for f in [x[k]] %}`).
                        let taint = self.taint_of(&f.iter);
                        for n in &names {
                            self.forget(n);
                            if taint > 0 {
                                self.tainted.insert(n.clone(), taint);
                            }
                            if numeric {
                                self.numeric.insert(n.clone());
                            } else {
                                self.numeric.remove(n);
                            }
                        }
                        self.stmts(&f.body);
                    }
                }
                self.restore(saved);
                self.stmts(&f.else_body);
            }
            Stmt::IfCond(i) => {
                self.expr(&i.expr);
                self.stmts(&i.true_body);
                self.stmts(&i.false_body);
            }
            Stmt::WithBlock(w) => {
                for (t, e) in &w.assignments {
                    self.assign(t, e);
                }
                self.stmts(&w.body);
            }
            Stmt::Set(st) => self.assign(&st.target, &st.expr),
            Stmt::SetBlock(sb) => {
                // `{% set s %}__class__{% endset %}`: a raw-text body is a string assignment.
                if let Expr::Var(v) = &sb.target {
                    let mut text = String::new();
                    let all_raw = sb.body.iter().all(|b| match b {
                        Stmt::EmitRaw(r) => {
                            text.push_str(r.raw);
                            true
                        }
                        _ => false,
                    });
                    if all_raw && text.len() <= MAX_FOLD {
                        self.check_literal(&text, Some(sb.span().start_offset as usize));
                        self.vars.insert(v.id.to_owned(), text);
                    } else {
                        self.vars.remove(v.id);
                    }
                }
                self.expr(&sb.target);
                if let Some(f) = &sb.filter {
                    self.expr(f);
                }
                self.stmts(&sb.body);
            }
            Stmt::AutoEscape(a) => {
                self.expr(&a.enabled);
                self.stmts(&a.body);
            }
            Stmt::FilterBlock(fb) => {
                self.expr(&fb.filter);
                self.stmts(&fb.body);
            }
            Stmt::Block(b) => self.stmts(&b.body),
            Stmt::Import(i) => {
                self.statement_issue("import", Some(i.span().start_offset as usize));
                self.expr(&i.expr);
            }
            Stmt::FromImport(fi) => {
                self.statement_issue("from … import", Some(fi.span().start_offset as usize));
                self.expr(&fi.expr);
                for (n, alias) in &fi.names {
                    self.expr(n);
                    if let Some(a) = alias {
                        self.expr(a);
                    }
                }
            }
            Stmt::Extends(e) => {
                self.statement_issue("extends", Some(e.span().start_offset as usize));
                self.expr(&e.name);
            }
            Stmt::Include(i) => {
                self.statement_issue("include", Some(i.span().start_offset as usize));
                self.expr(&i.name);
            }
            Stmt::Macro(m) => self.macro_decl(m, 0),
            Stmt::CallBlock(cb) => {
                self.call(&cb.call);
                let taint = match &cb.call.expr {
                    Expr::Var(v) if self.caller_taint.contains(v.id) => 1,
                    _ => 0,
                };
                self.macro_decl(&cb.macro_decl, taint);
            }
            Stmt::Do(d) => self.call(&d.call),
        }
    }

    fn statement_issue(&mut self, what: &str, offset: Option<usize>) {
        self.issue(
            IssueKind::Suspicious,
            Severity::High,
            format!("'{what}' statement loads other templates; chat templates are self-contained"),
            offset,
            what.to_owned(),
        );
    }

    /// Macro arguments are unknown inside the body (callers pass anything): they shadow outer
    /// variables of the same name while the body is walked.
    fn macro_decl(&mut self, m: &ast::Macro<'_>, taint: usize) {
        for a in &m.args {
            self.expr(a);
        }
        for d in &m.defaults {
            self.expr(d);
        }
        let names: Vec<String> = m.args.iter().flat_map(target_names).collect();
        let saved = self.save(&names);
        for n in &names {
            self.forget(n);
            if taint > 0 {
                self.tainted.insert(n.clone(), taint);
            }
        }
        let outer_params =
            std::mem::replace(&mut self.macro_params, names.iter().cloned().collect());
        let outer_macro = self.current_macro.replace(m.name.to_owned());
        self.stmts(&m.body);
        self.macro_params = outer_params;
        self.current_macro = outer_macro;
        self.restore(saved);
    }

    /// The most computed lookups any argument's value went through.
    fn args_taint(&self, args: &[CallArg<'_>]) -> usize {
        args.iter()
            .map(|a| match a {
                CallArg::Pos(e) | CallArg::PosSplat(e) | CallArg::KwargSplat(e) => self.taint_of(e),
                CallArg::Kwarg(_, e) => self.taint_of(e),
            })
            .max()
            .unwrap_or(0)
    }

    /// The variable a lookup/call chain starts from (`f` in `f.a[k](1)|x`).
    fn chain_root<'e>(mut e: &'e Expr<'e>) -> Option<&'e str> {
        loop {
            e = match e {
                Expr::GetItem(g) => &g.expr,
                Expr::GetAttr(g) => &g.expr,
                Expr::Filter(f) => f.expr.as_ref()?,
                Expr::Call(c) => &c.expr,
                Expr::Var(v) => return Some(v.id),
                _ => return None,
            };
        }
    }

    /// The current bindings of `names`, to put back when a scope ends.
    fn save(&self, names: &[String]) -> Vec<Saved> {
        names
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    self.vars.get(n).cloned(),
                    self.lists.get(n).cloned(),
                    self.numeric.contains(n),
                    self.tainted.get(n).copied(),
                )
            })
            .collect()
    }

    /// Forgets what is known about `name` (it now holds a value unknown at lint time).
    fn forget(&mut self, name: &str) {
        self.vars.remove(name);
        self.lists.remove(name);
        self.numeric.remove(name);
        self.tainted.remove(name);
    }

    fn restore(&mut self, saved: Vec<Saved>) {
        for (n, v, list, num, taint) in saved {
            match taint {
                Some(t) => self.tainted.insert(n.clone(), t),
                None => self.tainted.remove(&n),
            };
            match v {
                Some(v) => self.vars.insert(n.clone(), v),
                None => self.vars.remove(&n),
            };
            match list {
                Some(l) => self.lists.insert(n.clone(), l),
                None => self.lists.remove(&n),
            };
            if num {
                self.numeric.insert(n);
            } else {
                self.numeric.remove(&n);
            }
        }
    }

    /// Literal loop items that all fold to strings (`['__cla', 'ss__']`), if few enough.
    fn loop_items(&self, iter: &Expr<'_>) -> Option<Vec<String>> {
        let items = self.fold_seq(iter, 0)?;
        (!items.is_empty() && items.len() <= MAX_LOOP_ITEMS).then_some(items)
    }

    /// Records what an assignment binds: folded strings, numbers, and namespace attributes
    /// (`{% set ns = namespace(k='__cla') %}`, `{% set ns.k = … %}`) under `ns.k`.
    fn bind(&mut self, name: &str, value: &Expr<'_>) {
        match self.fold_seq(value, 0) {
            Some(items) => self.lists.insert(name.to_owned(), items),
            None => self.lists.remove(name),
        };
        match self.fold(value, 0) {
            Some((s, _)) => self.vars.insert(name.to_owned(), s),
            None => self.vars.remove(name),
        };
        if self.is_numeric(value) {
            self.numeric.insert(name.to_owned());
        } else {
            self.numeric.remove(name);
        }
        match self.taint_of(value) {
            0 => self.tainted.remove(name),
            n => self.tainted.insert(name.to_owned(), n),
        };
    }

    /// How many computed lookups the value of `e` went through (its chain's, or the most of
    /// either branch of `a if c else b` / `a or b`).
    fn taint_of(&self, e: &Expr<'_>) -> usize {
        match e {
            Expr::IfExpr(i) => self
                .taint_of(&i.true_expr)
                .max(i.false_expr.as_ref().map_or(0, |f| self.taint_of(f))),
            Expr::BinOp(b) if matches!(b.op, ast::BinOpKind::ScOr | ast::BinOpKind::ScAnd) => {
                self.taint_of(&b.left).max(self.taint_of(&b.right))
            }
            Expr::List(l) => l.items.iter().map(|x| self.taint_of(x)).max().unwrap_or(0),
            Expr::Tuple(t) => t.items.iter().map(|x| self.taint_of(x)).max().unwrap_or(0),
            Expr::Map(m) => m.values.iter().map(|x| self.taint_of(x)).max().unwrap_or(0),
            _ => self.computed_in_chain(e),
        }
    }

    fn assign(&mut self, target: &Expr<'_>, value: &Expr<'_>) {
        self.expr(value);
        match target {
            Expr::Var(v) => {
                let prefix = format!("{}.", v.id);
                self.vars.retain(|k, _| !k.starts_with(&prefix));
                self.lists.retain(|k, _| !k.starts_with(&prefix));
                self.numeric.retain(|k| !k.starts_with(&prefix));
                self.tainted.retain(|k, _| !k.starts_with(&prefix));
                self.bind(v.id, value);
                if let Expr::Call(c) = value {
                    if matches!(&c.expr, Expr::Var(f) if f.id == "namespace" || f.id == "dict") {
                        for a in &c.args {
                            if let CallArg::Kwarg(k, e) = a {
                                self.bind(&format!("{prefix}{k}"), e);
                            }
                        }
                    }
                }
            }
            Expr::GetAttr(g) => {
                if let Expr::Var(ns) = &g.expr {
                    self.bind(&format!("{}.{}", ns.id, g.name), value);
                }
                self.expr(target);
            }
            _ => {
                let taint = self.taint_of(value);
                for n in target_names(target) {
                    self.forget(&n);
                    if taint > 0 {
                        self.tainted.insert(n, taint);
                    }
                }
                self.expr(target);
            }
        }
    }

    /// Is `e` certainly a number (or a boolean)? Lookups by numbers are list indices: Jinja's
    /// attribute fallback only applies to string keys.
    fn is_numeric(&self, e: &Expr<'_>) -> bool {
        use ast::BinOpKind as K;
        match e {
            Expr::Const(c) => matches!(
                c.value.kind(),
                minijinja::value::ValueKind::Number | minijinja::value::ValueKind::Bool
            ),
            Expr::Var(v) => self.numeric.contains(v.id),
            Expr::UnaryOp(_) | Expr::Compare(_) | Expr::Test(_) => true,
            Expr::BinOp(b) => match b.op {
                K::Sub | K::Div | K::FloorDiv | K::Pow => true,
                K::Eq | K::Ne | K::Lt | K::Lte | K::Gt | K::Gte | K::In => true,
                K::Add | K::Mul | K::Rem | K::ScAnd | K::ScOr => {
                    self.is_numeric(&b.left) && self.is_numeric(&b.right)
                }
                K::Concat => false,
            },
            Expr::GetAttr(g) => match &g.expr {
                Expr::Var(v) if v.id == "loop" => matches!(
                    g.name,
                    "index" | "index0" | "revindex" | "revindex0" | "length" | "depth" | "depth0"
                ),
                Expr::Var(v) => self.numeric.contains(&format!("{}.{}", v.id, g.name)),
                _ => false,
            },
            Expr::Filter(f) => matches!(
                f.name,
                "length" | "count" | "int" | "float" | "abs" | "round" | "sum"
            ),
            Expr::IfExpr(i) => {
                self.is_numeric(&i.true_expr)
                    && i.false_expr.as_ref().is_some_and(|f| self.is_numeric(f))
            }
            _ => false,
        }
    }

    /// An item lookup whose key is neither a string known at lint time nor a number: Jinja
    /// tries the item and then falls back to the attribute of that name (and `getattr` falls
    /// back to the item), so the template reaches whatever attribute the key names at render
    /// time.
    fn computed_lookup(&self, e: &Expr<'_>) -> bool {
        match e {
            Expr::GetItem(g) => {
                self.fold(&g.subscript_expr, 0).is_none() && !self.is_numeric(&g.subscript_expr)
            }
            _ => false,
        }
    }

    /// How many computed lookups the attribute/item chain ending in `e` contains
    /// (`x[k].a[j]|first` has two).
    fn computed_in_chain(&self, mut e: &Expr<'_>) -> usize {
        let mut n = 0usize;
        loop {
            e = match e {
                Expr::GetItem(g) => {
                    if self.computed_lookup(e) {
                        n = n.saturating_add(1);
                    }
                    &g.expr
                }
                Expr::GetAttr(g) => {
                    // `ns.o` of a namespace that holds a computed value.
                    if let Expr::Var(v) = &g.expr {
                        if let Some(t) = self.tainted.get(&format!("{}.{}", v.id, g.name)) {
                            return n.saturating_add(*t);
                        }
                    }
                    &g.expr
                }
                // A call or filter may return what its arguments hold (`loop.cycle(x[k])`,
                // `d.get('a', x[k])`, `undefined|default(x[k])`).
                Expr::Filter(f) => {
                    n = n.saturating_add(self.args_taint(&f.args));
                    // `ns|attr('f')` is `ns.f`.
                    if f.name == "attr" {
                        if let (Some(Expr::Var(v)), Some(CallArg::Pos(a))) =
                            (&f.expr, f.args.first())
                        {
                            if let Some((name, _)) = self.fold(a, 0) {
                                if let Some(t) = self.tainted.get(&format!("{}.{name}", v.id)) {
                                    return n.saturating_add(*t);
                                }
                            }
                        }
                    }
                    match &f.expr {
                        Some(x) => x,
                        None => return n,
                    }
                }
                Expr::Call(c) => {
                    n = n.saturating_add(self.args_taint(&c.args));
                    &c.expr
                }
                // A variable bound to a value reached through computed lookups.
                Expr::Var(v) => {
                    return n.saturating_add(self.tainted.get(v.id).copied().unwrap_or(0))
                }
                // A literal container holding such a value (`[x[k]][0]`, `{'f': x[k]}.f`).
                Expr::List(_) | Expr::Tuple(_) | Expr::Map(_) | Expr::IfExpr(_) => {
                    return n.saturating_add(self.taint_of(e))
                }
                Expr::BinOp(b) if matches!(b.op, ast::BinOpKind::ScOr | ast::BinOpKind::ScAnd) => {
                    return n.saturating_add(self.taint_of(e))
                }
                _ => return n,
            };
        }
    }

    fn computed_issue(&mut self, what: &str, offset: Option<usize>, evidence: &str) {
        self.issue(
            IssueKind::Suspicious,
            Severity::High,
            format!(
                "attribute name computed at render time: {what} (Jinja's item lookup falls back to attributes, so the key can walk to Python internals)"
            ),
            offset,
            evidence.to_owned(),
        );
    }

    fn args(&mut self, args: &[CallArg<'_>]) {
        for a in args {
            match a {
                CallArg::Pos(e) | CallArg::PosSplat(e) | CallArg::KwargSplat(e) => self.expr(e),
                CallArg::Kwarg(name, e) => {
                    if is_dunder(name) || name.starts_with('_') {
                        // `dict(__class__=1)|first` smuggles a name through a keyword.
                        self.check_name(name, "keyword argument name", true, None);
                    }
                    self.expr(e);
                }
            }
        }
    }

    fn call(&mut self, c: &ast::Call<'_>) {
        let offset = Some(c.expr.span().start_offset as usize);
        // `x['system']('id')`: the item lookup falls back to the attribute.
        if let Expr::GetItem(g) = &c.expr {
            if let Some((name, _)) = self.fold(&g.subscript_expr, 0) {
                if CALL_ONLY_NAMES.contains(&name.as_str()) {
                    self.issue(
                        IssueKind::Injection,
                        Severity::Critical,
                        format!("call of item '{name}', which Jinja resolves to the attribute (runs commands or touches files)"),
                        offset,
                        name,
                    );
                }
            }
        }
        // Calling what a computed lookup reached, directly or further down the chain
        // (`x[k](…)`, `x[k].y.z(…)`, `x[k]['y'](…)`); string and dict methods on looked-up data
        // (`props[name].strip()`) are data handling.
        let data_method = matches!(&c.expr, Expr::GetAttr(g) if DATA_METHODS.contains(&g.name));
        if !data_method && self.computed_in_chain(&c.expr) > 0 {
            let what = match &c.expr {
                Expr::GetAttr(g) => format!(
                    "method '.{}(…)' is called on a value reached through a computed lookup",
                    g.name
                ),
                _ => "a value reached through a computed lookup is called".to_owned(),
            };
            self.computed_issue(&what, offset, "x[…](…)");
        }
        if let Expr::GetAttr(g) = &c.expr {
            if CALL_ONLY_NAMES.contains(&g.name) {
                self.issue(
                    IssueKind::Injection,
                    Severity::Critical,
                    format!(
                        "method call '.{}(…)', which runs commands or touches files",
                        g.name
                    ),
                    Some(g.span().start_offset as usize),
                    g.name.to_owned(),
                );
            }
        }
        if let Expr::Var(v) = &c.expr {
            let id = v.id;
            if DANGEROUS_NAMES.contains(&id) || CALL_ONLY_NAMES.contains(&id) || is_dunder(id) {
                self.issue(
                    IssueKind::Injection,
                    Severity::Critical,
                    format!("call to '{id}'"),
                    Some(v.span().start_offset as usize),
                    id.to_owned(),
                );
            }
        }
        if let Some(root) = Self::chain_root(&c.expr) {
            if self.macro_params.contains(root) {
                if let Some(m) = &self.current_macro {
                    self.param_callers.insert(m.clone());
                }
            }
        }
        let arg_taint = self.args_taint(&c.args);
        if arg_taint > 0 {
            match &c.expr {
                // `l.append(x[k])`, `d.update({'f': x[k]})`: the container now holds it.
                Expr::GetAttr(g)
                    if matches!(
                        g.name,
                        "append" | "extend" | "insert" | "update" | "setdefault" | "add"
                    ) =>
                {
                    // `ns.a.append(…)` taints the namespace attribute; a container reached
                    // any other way (`l[0].append(…)`, `f().append(…)`) taints the variable it
                    // hangs from, whose every part is then computed.
                    let key = match &g.expr {
                        Expr::GetAttr(a) if matches!(a.expr, Expr::Var(_)) => {
                            Self::chain_root(&a.expr).map(|v| format!("{v}.{}", a.name))
                        }
                        e => Self::chain_root(e).map(str::to_owned),
                    };
                    if let Some(key) = key {
                        let t = self.tainted.entry(key).or_insert(0);
                        *t = (*t).max(arg_taint);
                    }
                }
                Expr::Var(v) if v.id == "caller" => {
                    if let Some(m) = &self.current_macro {
                        self.caller_taint.insert(m.clone());
                    }
                }
                _ => {}
            }
        }
        if let Expr::Var(v) = &c.expr {
            if self.param_callers.contains(v.id) {
                let tainted_arg = c.args.iter().any(|a| match a {
                    CallArg::Pos(e) | CallArg::PosSplat(e) | CallArg::KwargSplat(e) => {
                        self.taint_of(e) > 0
                    }
                    CallArg::Kwarg(_, e) => self.taint_of(e) > 0,
                });
                if tainted_arg {
                    self.computed_issue(
                        &format!("a value reached through a computed lookup is passed to macro '{}', which calls its argument", v.id),
                        offset,
                        "m(x[…])",
                    );
                }
            }
        }
        self.expr(&c.expr);
        self.args(&c.args);
    }

    fn expr(&mut self, e: &Expr<'_>) {
        let offset = Some(e.span().start_offset as usize);
        // Assembled names: an expression that is not a plain literal but folds to a string.
        if !matches!(e, Expr::Const(_) | Expr::Var(_)) {
            if let Some((s, true)) = self.fold(e, 0) {
                let t = normalise(&s);
                if is_dunder(t.trim()) || DANGEROUS_NAMES.contains(&t.trim()) {
                    self.check_name(t.trim(), "string assembled", true, offset);
                }
            }
        }
        match e {
            Expr::Var(v) => {
                let id = v.id;
                if is_dunder(id) || DANGEROUS_NAMES.contains(&id) {
                    self.issue(
                        IssueKind::Injection,
                        Severity::Critical,
                        format!("reference to '{id}'"),
                        offset,
                        id.to_owned(),
                    );
                } else if GADGET_GLOBALS.contains(&id) {
                    self.issue(
                        IssueKind::Suspicious,
                        Severity::High,
                        format!("reference to Jinja global '{id}', an entry point of known sandbox escapes"),
                        offset,
                        id.to_owned(),
                    );
                } else if id.starts_with('_') {
                    self.check_name(id, "reference", false, offset);
                }
            }
            Expr::Const(c) => {
                if let Some(s) = c.value.as_str() {
                    let s = s.to_owned();
                    self.check_literal(&s, offset);
                }
            }
            Expr::Slice(s) => {
                self.expr(&s.expr);
                for x in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.expr(x);
                }
            }
            Expr::UnaryOp(u) => self.expr(&u.expr),
            Expr::BinOp(b) => {
                self.expr(&b.left);
                self.expr(&b.right);
            }
            Expr::Compare(c) => {
                self.expr(&c.expr);
                for op in &c.ops {
                    self.expr(&op.expr);
                }
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr);
                self.expr(&i.true_expr);
                if let Some(f) = &i.false_expr {
                    self.expr(f);
                }
            }
            Expr::Filter(f) => self.filter(f, offset),
            Expr::Test(t) => {
                self.expr(&t.expr);
                self.args(&t.args);
            }
            Expr::GetAttr(g) => {
                self.check_name(g.name, "attribute access", false, offset);
                self.expr(&g.expr);
            }
            Expr::GetItem(g) => {
                if let Some((s, assembled)) = self.fold(&g.subscript_expr, 0) {
                    self.check_name(&s, "item access", assembled, offset);
                    if assembled && CALL_ONLY_NAMES.contains(&normalise(&s).as_str()) {
                        self.issue(
                            IssueKind::Injection,
                            Severity::Critical,
                            format!("item access to '{s}' (name assembled from pieces), a callable that runs commands or touches files"),
                            offset,
                            s,
                        );
                    }
                } else if self.computed_lookup(e)
                    && self.computed_in_chain(e) >= 3
                    && self.computed_in_chain(&g.expr) < 3
                {
                    // Two computed hops are ordinary schema rendering
                    // (`properties[name][field]`); three walk an object graph.
                    self.computed_issue(
                        "three lookups by computed keys in one chain",
                        offset,
                        "x[…][…][…]",
                    );
                }
                self.expr(&g.expr);
                self.expr(&g.subscript_expr);
            }
            Expr::Call(c) => self.call(c),
            Expr::List(l) => {
                for i in &l.items {
                    self.expr(i);
                }
            }
            Expr::Tuple(t) => {
                for i in &t.items {
                    self.expr(i);
                }
            }
            Expr::Map(m) => {
                for k in &m.keys {
                    self.expr(k);
                }
                for v in &m.values {
                    self.expr(v);
                }
            }
        }
    }

    fn filter(&mut self, f: &ast::Filter<'_>, offset: Option<usize>) {
        if let Some(e) = &f.expr {
            self.expr(e);
        }
        self.args(&f.args);
        let attr_arg = if f.name == "attr" {
            f.args.first().and_then(|a| match a {
                CallArg::Pos(e) | CallArg::Kwarg(_, e) => Some(e),
                _ => None,
            })
        } else if ATTRIBUTE_FILTERS.contains(&f.name) {
            f.args
                .iter()
                .find_map(|a| match a {
                    CallArg::Kwarg("attribute", e) => Some(e),
                    _ => None,
                })
                .or_else(|| {
                    // selectattr/rejectattr/groupby take the attribute as first positional
                    // argument (`map('lower')` names a filter instead).
                    if matches!(f.name, "selectattr" | "rejectattr" | "groupby") {
                        f.args.first().and_then(|a| match a {
                            CallArg::Pos(e) => Some(e),
                            _ => None,
                        })
                    } else {
                        None
                    }
                })
        } else {
            None
        };
        if f.name == "attr"
            && f.expr
                .as_ref()
                .is_some_and(|b| self.computed_in_chain(b) > 0)
        {
            self.computed_issue(
                "the 'attr' filter is applied to a value looked up by a computed key",
                offset,
                "x[…]|attr(…)",
            );
        }
        if let Some(arg) = attr_arg {
            match self.fold(arg, 0) {
                Some((name, assembled)) => {
                    // Dotted paths (`attribute='a.b'`) are looked up segment by segment.
                    for seg in name.split('.') {
                        self.check_name(
                            seg,
                            &format!("'{}' filter lookup", f.name),
                            assembled,
                            offset,
                        );
                    }
                }
                None => self.issue(
                    IssueKind::Suspicious,
                    Severity::High,
                    format!(
                        "'{}' filter with an attribute name computed at render time",
                        f.name
                    ),
                    offset,
                    f.name.to_owned(),
                ),
            }
        }
        if f.name == "format" {
            if let Some(Expr::Const(c)) = &f.expr {
                if c.value.as_str().is_some_and(|s| s.contains("%c")) {
                    self.issue(
                        IssueKind::Suspicious,
                        Severity::High,
                        "'%c' format builds characters from numbers (used to assemble '_')"
                            .to_owned(),
                        offset,
                        "%c".to_owned(),
                    );
                }
            }
        }
    }

    /// Statically evaluates string-valued expressions: literals, known variables, `~`, `+`,
    /// `*` with an integer, `join`, `format`, `replace`, `reverse`, `lower`, `upper`, `string`,
    /// `trim`, slices and the matching string methods. Returns the value and whether any
    /// operation (rather than a single literal) produced it.
    fn fold(&self, e: &Expr<'_>, depth: u32) -> Option<(String, bool)> {
        if depth > 32 {
            return None;
        }
        let left = self.fold_budget.get();
        if left == 0 {
            return None;
        }
        self.fold_budget.set(left.saturating_sub(1));
        let d = depth.saturating_add(1);
        let r = match e {
            Expr::Const(c) => {
                if let Some(s) = c.value.as_str() {
                    (s.to_owned(), false)
                } else if let Some(i) = c.value.as_i64() {
                    (i.to_string(), false)
                } else {
                    return None;
                }
            }
            Expr::Var(v) => (self.vars.get(v.id)?.clone(), true),
            Expr::GetItem(g) => (self.fold_index(g, d)?, true),
            Expr::GetAttr(g) => match &g.expr {
                Expr::Var(v) => (
                    self.vars.get(&format!("{}.{}", v.id, g.name))?.clone(),
                    true,
                ),
                _ => return None,
            },
            Expr::BinOp(b) => {
                use ast::BinOpKind as K;
                match b.op {
                    K::Concat | K::Add => {
                        let (l, _) = self.fold(&b.left, d)?;
                        let (r, _) = self.fold(&b.right, d)?;
                        (cap(format!("{l}{r}"))?, true)
                    }
                    K::Mul => {
                        let (l, _) = self.fold(&b.left, d)?;
                        let (r, _) = self.fold(&b.right, d)?;
                        let (s, n) = match (l.parse::<usize>(), r.parse::<usize>()) {
                            (_, Ok(n)) => (l, n),
                            (Ok(n), _) => (r, n),
                            _ => return None,
                        };
                        if s.len().saturating_mul(n) > MAX_FOLD {
                            return None;
                        }
                        (s.repeat(n), true)
                    }
                    K::Rem => {
                        let (fmt, _) = self.fold(&b.left, d)?;
                        let args = match &b.right {
                            Expr::Tuple(t) => self.fold_all(&t.items, d)?,
                            other => vec![self.fold(other, d)?.0],
                        };
                        (percent_format(&fmt, &args)?, true)
                    }
                    _ => return None,
                }
            }
            Expr::Filter(f) => {
                let base_expr = f.expr.as_ref()?;
                if matches!(f.name, "first" | "last") {
                    if let Some(items) = self.fold_seq(base_expr, d) {
                        let item = if f.name == "first" {
                            items.into_iter().next()
                        } else {
                            items.into_iter().last()
                        };
                        return Some((item?, true));
                    }
                }
                let base = if f.name == "join" {
                    String::new()
                } else {
                    self.fold(base_expr, d)?.0
                };
                let pos: Vec<&Expr<'_>> = f
                    .args
                    .iter()
                    .filter_map(|a| match a {
                        CallArg::Pos(e) => Some(e),
                        _ => None,
                    })
                    .collect();
                (self.apply(f.name, base, base_expr, &pos, d)?, true)
            }
            Expr::Call(c) => {
                let Expr::GetAttr(g) = &c.expr else {
                    return None;
                };
                let pos: Vec<&Expr<'_>> = c
                    .args
                    .iter()
                    .filter_map(|a| match a {
                        CallArg::Pos(e) => Some(e),
                        _ => None,
                    })
                    .collect();
                if g.name == "join" {
                    // 'sep'.join([...])
                    let (sep, _) = self.fold(&g.expr, d)?;
                    let items = self.fold_list(pos.first()?, d)?;
                    (cap(items.join(&sep))?, true)
                } else {
                    let (base, _) = self.fold(&g.expr, d)?;
                    (self.apply(g.name, base, &g.expr, &pos, d)?, true)
                }
            }
            Expr::Slice(s) => {
                let (base, _) = self.fold(&s.expr, d)?;
                let num = |x: &Option<Expr<'_>>| -> Option<Option<i64>> {
                    match x {
                        None => Some(None),
                        Some(Expr::Const(c)) => c.value.as_i64().map(Some),
                        Some(Expr::UnaryOp(u)) if matches!(u.op, ast::UnaryOpKind::Neg) => match &u
                            .expr
                        {
                            Expr::Const(c) => c.value.as_i64().map(|v| Some(v.saturating_neg())),
                            _ => None,
                        },
                        _ => None,
                    }
                };
                (
                    py_slice(&base, num(&s.start)?, num(&s.stop)?, num(&s.step)?)?,
                    true,
                )
            }
            _ => return None,
        };
        Some(r)
    }

    fn fold_all(&self, items: &[Expr<'_>], d: u32) -> Option<Vec<String>> {
        items.iter().map(|i| self.fold(i, d).map(|x| x.0)).collect()
    }

    /// A sequence of statically known strings, or a string's characters.
    fn fold_list(&self, e: &Expr<'_>, d: u32) -> Option<Vec<String>> {
        self.fold_seq(e, d)
            .or_else(|| Some(self.fold(e, d)?.0.chars().map(String::from).collect()))
    }

    /// A list whose items are all statically known strings: literals, list variables,
    /// `|list`/`|reverse` of those (or of a string: its characters), `'…'.split(…)`.
    fn fold_seq(&self, e: &Expr<'_>, d: u32) -> Option<Vec<String>> {
        if d > 32 {
            return None;
        }
        let d = d.saturating_add(1);
        let small = |items: Vec<String>| {
            (items.len() <= MAX_SEQ_ITEMS
                && items.iter().map(String::len).sum::<usize>() <= MAX_FOLD)
                .then_some(items)
        };
        match e {
            Expr::List(l) if l.items.len() <= MAX_SEQ_ITEMS => small(self.fold_all(&l.items, d)?),
            Expr::Tuple(t) if t.items.len() <= MAX_SEQ_ITEMS => small(self.fold_all(&t.items, d)?),
            Expr::Var(v) => self.lists.get(v.id).cloned(),
            // `[…]|list`, `[…]|reverse`, `'…'|list`: the same items (reversed).
            Expr::Filter(f) if matches!(f.name, "list" | "reverse") && f.args.is_empty() => {
                let base = f.expr.as_ref()?;
                let mut items = match self.fold_seq(base, d) {
                    Some(items) => items,
                    None if f.name == "list" => {
                        self.fold(base, d)?.0.chars().map(String::from).collect()
                    }
                    None => return None,
                };
                if f.name == "reverse" {
                    items.reverse();
                }
                small(items)
            }
            Expr::Call(c) => {
                let Expr::GetAttr(g) = &c.expr else {
                    return None;
                };
                if g.name != "split" {
                    return None;
                }
                let (base, _) = self.fold(&g.expr, d)?;
                let sep = match c.args.first() {
                    Some(CallArg::Pos(e)) => Some(self.fold(e, d)?.0),
                    None => None,
                    _ => return None,
                };
                match sep {
                    Some(sep) if !sep.is_empty() => {
                        small(base.split(sep.as_str()).map(str::to_owned).collect())
                    }
                    Some(_) => None,
                    None => small(base.split_whitespace().map(str::to_owned).collect()),
                }
            }
            _ => None,
        }
    }

    /// `seq[i]` or `{'k': v}['k']` over statically known values.
    fn fold_index(&self, g: &ast::GetItem<'_>, d: u32) -> Option<String> {
        if let Expr::Map(m) = &g.expr {
            let (key, _) = self.fold(&g.subscript_expr, d)?;
            for (k, v) in m.keys.iter().zip(&m.values) {
                if self.fold(k, d)?.0 == key {
                    return Some(self.fold(v, d)?.0);
                }
            }
            return None;
        }
        let i = match &g.subscript_expr {
            Expr::Const(c) => c.value.as_i64()?,
            Expr::UnaryOp(u) if matches!(u.op, ast::UnaryOpKind::Neg) => match &u.expr {
                Expr::Const(c) => c.value.as_i64()?.checked_neg()?,
                _ => return None,
            },
            _ => return None,
        };
        let pick = |items: &[String]| {
            let n = i64::try_from(items.len()).ok()?;
            let i = if i < 0 { i.checked_add(n)? } else { i };
            items.get(usize::try_from(i).ok()?).cloned()
        };
        // A list variable is indexed in place (no copy per reference).
        if let Expr::Var(v) = &g.expr {
            return pick(self.lists.get(v.id)?);
        }
        pick(&self.fold_seq(&g.expr, d)?)
    }

    /// Applies a filter or string method `name` to a folded `base`.
    fn apply(
        &self,
        name: &str,
        base: String,
        base_expr: &Expr<'_>,
        pos: &[&Expr<'_>],
        d: u32,
    ) -> Option<String> {
        let arg = |i: usize| -> Option<String> { self.fold(pos.get(i)?, d).map(|x| x.0) };
        let out = match name {
            "join" => {
                let sep = pos.first().map_or(Some(String::new()), |_| arg(0))?;
                match base_expr {
                    Expr::Var(v) if self.lists.contains_key(v.id) => {
                        self.lists.get(v.id)?.join(&sep)
                    }
                    _ => self.fold_list(base_expr, d)?.join(&sep),
                }
            }
            "replace" => {
                let from = arg(0)?;
                if from.is_empty() {
                    return None;
                }
                base.replace(&from, &arg(1)?)
            }
            "reverse" => base.chars().rev().collect(),
            "lower" | "casefold" => base.to_lowercase(),
            "upper" => base.to_uppercase(),
            "title" => py_title(&base),
            "capitalize" => {
                let mut cs = base.chars();
                match cs.next() {
                    Some(f) => f
                        .to_uppercase()
                        .chain(cs.flat_map(char::to_lowercase))
                        .collect(),
                    None => String::new(),
                }
            }
            "swapcase" => base
                .chars()
                .flat_map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<Vec<_>>()
                    } else {
                        c.to_uppercase().collect()
                    }
                })
                .collect(),
            "string" | "safe" | "e" | "escape" | "d" | "default" | "forceescape" | "striptags" => {
                base
            }
            "trim" | "strip" => base.trim().to_owned(),
            "format" => {
                let args = pos
                    .iter()
                    .map(|p| self.fold(p, d).map(|x| x.0))
                    .collect::<Option<Vec<_>>>()?;
                if base.contains('{') {
                    brace_format(&base, &args)?
                } else {
                    percent_format(&base, &args)?
                }
            }
            "first" => base.chars().next()?.to_string(),
            "last" => base.chars().last()?.to_string(),
            _ => return None,
        };
        cap(out)
    }
}

/// Python's `str.title`: upper-case the first letter of every run of letters.
fn py_title(s: &str) -> String {
    let mut out = String::new();
    let mut prev_letter = false;
    for c in s.chars() {
        if prev_letter {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        prev_letter = c.is_alphabetic();
    }
    out
}

/// A binding saved when a scope starts: name, string value, list value, numeric.
type Saved = (
    String,
    Option<String>,
    Option<Vec<String>>,
    bool,
    Option<usize>,
);

/// Variable names an assignment or loop target binds (`a`, `a, b`, `(a, (b, c))`).
fn target_names(e: &Expr<'_>) -> Vec<String> {
    match e {
        Expr::Var(v) => vec![v.id.to_owned()],
        Expr::Tuple(t) => t.items.iter().flat_map(target_names).collect(),
        Expr::List(l) => l.items.iter().flat_map(target_names).collect(),
        _ => Vec::new(),
    }
}

fn cap(s: String) -> Option<String> {
    (s.len() <= MAX_FOLD).then_some(s)
}

/// Python `%`-formatting for `%s`, `%d`, `%i`, `%c` and `%%`.
fn percent_format(fmt: &str, args: &[String]) -> Option<String> {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        match chars.next()? {
            '%' => out.push('%'),
            's' | 'd' | 'i' | 'r' => out.push_str(it.next()?),
            'c' => {
                let a = it.next()?;
                match a.parse::<u32>() {
                    Ok(n) => out.push(char::from_u32(n)?),
                    Err(_) => out.push_str(a),
                }
            }
            _ => return None,
        }
        if out.len() > MAX_FOLD {
            return None;
        }
    }
    Some(out)
}

/// Python `str.format` for `{}`, `{N}` and `{:c}` / `{N:c}`.
fn brace_format(fmt: &str, args: &[String]) -> Option<String> {
    let mut out = String::new();
    let mut auto = 0usize;
    let mut rest = fmt;
    while let Some(open) = rest.find('{') {
        out.push_str(rest.get(..open)?);
        let after = rest.get(open.checked_add(1)?..)?;
        if let Some(stripped) = after.strip_prefix('{') {
            out.push('{');
            rest = stripped;
            continue;
        }
        let close = after.find('}')?;
        let field = after.get(..close)?;
        let (idx, spec) = field.split_once(':').unwrap_or((field, ""));
        let i = if idx.is_empty() {
            let i = auto;
            auto = auto.checked_add(1)?;
            i
        } else {
            idx.parse().ok()?
        };
        let a = args.get(i)?;
        if spec == "c" {
            out.push(char::from_u32(a.parse().ok()?)?);
        } else {
            out.push_str(a);
        }
        rest = after.get(close.checked_add(1)?..)?;
        if out.len() > MAX_FOLD {
            return None;
        }
    }
    out.push_str(&rest.replace("}}", "}"));
    Some(out)
}

/// Python slicing of a string by characters.
fn py_slice(s: &str, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    let n = i64::try_from(chars.len()).ok()?;
    let step = step.unwrap_or(1);
    if step == 0 {
        return None;
    }
    let norm = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
    let mut out = String::new();
    if step > 0 {
        let mut i = start.map_or(0, norm).clamp(0, n);
        let end = stop.map_or(n, norm).clamp(0, n);
        while i < end {
            out.push(*chars.get(usize::try_from(i).ok()?)?);
            i = i.saturating_add(step);
        }
    } else {
        let mut i = start
            .map_or(n.saturating_sub(1), norm)
            .clamp(-1, n.saturating_sub(1));
        let end = stop.map_or(-1, norm).clamp(-1, n.saturating_sub(1));
        while i > end {
            out.push(*chars.get(usize::try_from(i).ok()?)?);
            i = i.saturating_add(step);
        }
    }
    Some(out)
}

impl Linter<'_> {
    /// Fallback for templates the parser rejects as a whole (nesting beyond its recursion
    /// limit, an unknown tag, a missing `endif`): every `{{ … }}` and `{% … %}` is parsed on its
    /// own, closed with its end tag where it opens one, and walked in source order so that
    /// `{% set %}` variables still fold. A block that does not parse even alone is scanned
    /// token by token.
    fn blockwise(&mut self, src: &str) {
        let mut pos = 0usize;
        let mut blocks = 0usize;
        while let Some(open) = src.get(pos..).and_then(find_tag_open) {
            blocks = blocks.saturating_add(1);
            if blocks > 100_000 {
                // Past this many blocks the rest is only scanned token by token.
                self.offset_base = 0;
                let start = pos.saturating_add(open);
                let Some(rest) = src.get(start..) else { break };
                self.lex_block(rest, start);
                break;
            }
            let start = pos.saturating_add(open);
            let Some(kind) = src.get(start.saturating_add(1)..start.saturating_add(2)) else {
                break;
            };
            let inner_start = start.saturating_add(2);
            let Some(tail) = src.get(inner_start..) else {
                break;
            };
            if kind == "#" {
                // Comments render nothing.
                let end = tail.find("#}").map_or(tail.len(), |e| e.saturating_add(2));
                pos = inner_start.saturating_add(end);
                continue;
            }
            let end_rel = find_block_close(tail).unwrap_or(tail.len());
            let inner = tail.get(..end_rel).unwrap_or_default();
            pos = inner_start.saturating_add(end_rel).saturating_add(2);
            let body = inner
                .trim_start_matches(['-', '+'])
                .trim_end_matches(['-', '+']);
            let lead = inner
                .len()
                .saturating_sub(inner.trim_start_matches(['-', '+']).len());
            let body_at = inner_start.saturating_add(lead);
            if kind == "%" {
                let word = body.split_whitespace().next().unwrap_or_default();
                if word == "raw" {
                    // Verbatim text up to `endraw`.
                    let Some(rest) = src.get(pos..) else { break };
                    let end = rest
                        .find("endraw")
                        .map_or(rest.len(), |e| e.saturating_add(6));
                    pos = pos.saturating_add(end);
                    continue;
                }
                if word.starts_with("end")
                    || matches!(word, "else" | "generation" | "continue" | "break")
                {
                    continue;
                }
            }
            self.block_alone(kind, body, body_at);
        }
        self.offset_base = 0;
    }

    /// Parses and walks one block on its own (see [`Linter::blockwise`]).
    fn block_alone(&mut self, kind: &str, body: &str, body_at: usize) {
        let word = body.split_whitespace().next().unwrap_or_default();
        let rest = body.trim_start().get(word.len()..).unwrap_or_default();
        let (prefix, suffix) = if kind == "{" {
            ("{{".to_owned(), "}}".to_owned())
        } else {
            match word {
                "elif" => ("{% if".to_owned(), "%}{% endif %}".to_owned()),
                "if" | "for" | "with" | "macro" | "call" | "filter" | "autoescape" => {
                    (format!("{{% {word}"), format!("%}}{{% end{word} %}}"))
                }
                // `{% set x %}…{% endset %}` (no `=`) captures a block.
                "set" if !rest.contains('=') => ("{% set".to_owned(), "%}{% endset %}".to_owned()),
                _ => (format!("{{% {word}"), "%}".to_owned()),
            }
        };
        let rest = if kind == "{" { body } else { rest };
        let snippet = format!("{prefix}{rest}{suffix}");
        let rest_at = if kind == "{" {
            body_at
        } else {
            body_at
                .saturating_add(body.len().saturating_sub(body.trim_start().len()))
                .saturating_add(word.len())
        };
        let parsed = if max_block_tokens(&snippet) > MAX_BLOCK_TOKENS {
            None
        } else {
            parse(&snippet, "<block>", SyntaxConfig::default()).ok()
        };
        match parsed {
            Some(tree) => {
                self.offset_base = rest_at.saturating_sub(prefix.len());
                self.stmt(&tree);
                self.offset_base = 0;
            }
            None => {
                self.offset_base = 0;
                self.lex_block(body, body_at);
            }
        }
    }

    fn lex_block(&mut self, block: &str, base: usize) {
        let bytes = block.as_bytes();
        let mut i = 0usize;
        let mut pending: Option<String> = None;
        let mut joined = false;
        // Open `[` positions, to judge what a subscript that is then called contains.
        let mut brackets: Vec<usize> = Vec::new();
        while let Some(&b) = bytes.get(i) {
            if b == b'[' && brackets.len() < 256 {
                brackets.push(i);
            } else if b == b']' {
                if let Some(open) = brackets.pop() {
                    let key = block.get(open.saturating_add(1)..i).unwrap_or_default();
                    let called = block
                        .get(i.saturating_add(1)..)
                        .is_some_and(|r| r.trim_start().starts_with('('));
                    if called && !static_key(key) {
                        self.computed_issue(
                            "the looked-up value is called (seen token by token)",
                            Some(base.saturating_add(open)),
                            &clip(key, 80),
                        );
                    }
                }
            }
            if b == b'\'' || b == b'"' {
                let mut j = i.saturating_add(1);
                let mut lit = Vec::new();
                while let Some(&c) = bytes.get(j) {
                    if c == b'\\' {
                        lit.push(c);
                        if let Some(&n) = bytes.get(j.saturating_add(1)) {
                            lit.push(n);
                        }
                        j = j.saturating_add(2);
                        continue;
                    }
                    if c == b {
                        break;
                    }
                    lit.push(c);
                    j = j.saturating_add(1);
                }
                let raw = String::from_utf8_lossy(&lit).into_owned();
                let val = py_unescape(&raw);
                let off = Some(base.saturating_add(i));
                self.check_literal(&val, off);
                let combined = match pending.take() {
                    // Names worth assembling are short; longer runs are restarted.
                    Some(p) if joined && p.len().saturating_add(val.len()) <= 128 => {
                        format!("{p}{val}")
                    }
                    _ => val,
                };
                if is_dunder(combined.trim()) {
                    self.check_name(combined.trim(), "string assembled", true, off);
                }
                pending = Some(combined);
                joined = false;
                i = j.saturating_add(1);
            } else if b == b'~' || b == b'+' {
                joined = true;
                i = i.saturating_add(1);
            } else if b.is_ascii_alphabetic() || b == b'_' {
                let mut j = i;
                while bytes
                    .get(j)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    j = j.saturating_add(1);
                }
                let ident = block.get(i..j).unwrap_or_default();
                let off = Some(base.saturating_add(i));
                let after_dot = i > 0 && bytes.get(i.saturating_sub(1)) == Some(&b'.');
                if let Some(val) = self.vars.get(ident).filter(|_| !after_dot).cloned() {
                    // A variable set by an earlier block (`{% set a = '__cla' %}`) joins like
                    // the string it holds.
                    let combined = match pending.take() {
                        Some(p) if joined && p.len().saturating_add(val.len()) <= 128 => {
                            format!("{p}{val}")
                        }
                        _ => val,
                    };
                    let t = combined.trim();
                    if is_dunder(t) || DANGEROUS_NAMES.contains(&t) {
                        self.check_name(t, "string assembled", true, off);
                    }
                    pending = Some(combined);
                    joined = false;
                    i = j;
                    continue;
                }
                if ident == "import" || ident == "include" || ident == "extends" {
                    self.statement_issue(ident, off);
                } else if is_dunder(ident)
                    || DANGEROUS_NAMES.contains(&ident)
                    || (CALL_ONLY_NAMES.contains(&ident)
                        && block
                            .get(j..)
                            .is_some_and(|r| r.trim_start().starts_with('(')))
                {
                    if CALL_ONLY_NAMES.contains(&ident) {
                        self.issue(
                            IssueKind::Injection,
                            Severity::Critical,
                            format!("call to '{ident}(…)' in a template that could not be parsed"),
                            off,
                            ident.to_owned(),
                        );
                    } else {
                        self.check_name(
                            ident,
                            if after_dot {
                                "attribute access"
                            } else {
                                "reference"
                            },
                            false,
                            off,
                        );
                    }
                } else if GADGET_GLOBALS.contains(&ident) && !after_dot {
                    self.issue(
                        IssueKind::Suspicious,
                        Severity::High,
                        format!("reference to Jinja global '{ident}'"),
                        off,
                        ident.to_owned(),
                    );
                } else if ident == "attr" {
                    self.issue(
                        IssueKind::Suspicious,
                        Severity::High,
                        "'attr' filter in a template that could not be parsed".to_owned(),
                        off,
                        ident.to_owned(),
                    );
                }
                pending = None;
                i = j;
            } else {
                if !b.is_ascii_whitespace() && b != b'(' && b != b')' {
                    pending = None;
                }
                i = i.saturating_add(1);
            }
        }
    }
}

/// Token-level judgement of a subscript's text: a single string literal or something numeric
/// (`0`, `-1`, `i + 1`, `loop.index0`) is not a computed attribute name.
fn static_key(key: &str) -> bool {
    let k = key.trim();
    let inner = k.get(1..k.len().saturating_sub(1)).unwrap_or_default();
    let quoted = k.len() >= 2
        && ['\'', '"']
            .iter()
            .any(|&q| k.starts_with(q) && k.ends_with(q) && !inner.contains(q));
    quoted || k.starts_with("loop.") || k.chars().all(|c| c.is_ascii_digit() || " +-*".contains(c))
}

/// Offset of the next `{{`, `{%` or `{#` in `s` (one pass).
fn find_tag_open(s: &str) -> Option<usize> {
    s.as_bytes()
        .windows(2)
        .position(|w| w.first() == Some(&b'{') && matches!(w.get(1), Some(b'{' | b'%' | b'#')))
}

/// Offset of the next `}}` or `%}` in `s` (one pass).
fn find_block_close(s: &str) -> Option<usize> {
    s.as_bytes()
        .windows(2)
        .position(|w| matches!(w.first(), Some(b'}' | b'%')) && w.get(1) == Some(&b'}'))
}

/// The largest number of tokens (operators and names outside string literals) in one block.
fn max_block_tokens(src: &str) -> usize {
    let b = src.as_bytes();
    let mut i = 0usize;
    let mut max = 0usize;
    let mut in_block = false;
    let mut quote: Option<u8> = None;
    let mut tokens = 0usize;
    let mut in_word = false;
    while let Some(&c) = b.get(i) {
        let next = b.get(i.saturating_add(1)).copied();
        if !in_block {
            if c == b'{' && matches!(next, Some(b'{' | b'%')) {
                in_block = true;
                tokens = 0;
                i = i.saturating_add(2);
                continue;
            }
            i = i.saturating_add(1);
            continue;
        }
        if let Some(q) = quote {
            if c == b'\\' {
                i = i.saturating_add(2);
                continue;
            }
            if c == q {
                quote = None;
            }
            i = i.saturating_add(1);
            continue;
        }
        if matches!(c, b'}' | b'%') && next == Some(b'}') {
            in_block = false;
            max = max.max(tokens);
            i = i.saturating_add(2);
            continue;
        }
        let word = c.is_ascii_alphanumeric() || c == b'_';
        if c == b'\'' || c == b'"' || (word && !in_word) || (!word && !c.is_ascii_whitespace()) {
            tokens = tokens.saturating_add(1);
        }
        if c == b'\'' || c == b'"' {
            quote = Some(c);
        }
        in_word = word;
        i = i.saturating_add(1);
    }
    max.max(tokens)
}

/// Decodes the Python escapes payloads use (`\xNN`, `\uNNNN`, `\UNNNNNNNN`, octal, `\N{LOW LINE}`)
/// for the lexical fallback.
fn py_unescape(s: &str) -> String {
    let s = normalise(s);
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(n) = it.next() else {
            out.push('\\');
            break;
        };
        let hex = |it: &mut std::iter::Peekable<std::str::Chars<'_>>, k: usize| {
            let h: String = it.by_ref().take(k).collect();
            u32::from_str_radix(&h, 16).ok().and_then(char::from_u32)
        };
        match n {
            'x' => out.extend(hex(&mut it, 2)),
            'u' => out.extend(hex(&mut it, 4)),
            'U' => out.extend(hex(&mut it, 8)),
            '0'..='7' => {
                let mut v = n.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match it.peek().and_then(|c| c.to_digit(8)) {
                        Some(dg) => {
                            v = v.saturating_mul(8).saturating_add(dg);
                            it.next();
                        }
                        None => break,
                    }
                }
                out.extend(char::from_u32(v));
            }
            'n' => out.push('\n'),
            't' => out.push('\t'),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]
    use super::*;

    fn worst(src: &str) -> Option<(IssueKind, Severity)> {
        lint(src)
            .into_iter()
            .map(|i| (i.kind, i.severity))
            .max_by_key(|x| x.1)
    }

    fn injection(src: &str) {
        let issues = lint(src);
        assert!(
            issues
                .iter()
                .any(|i| i.kind == IssueKind::Injection && i.severity == Severity::Critical),
            "expected an injection in {src:?}, got {issues:?}"
        );
    }

    #[test]
    fn classic_payloads() {
        injection("{{ ''.__class__.__mro__[1].__subclasses__() }}");
        injection("{{ cycler.__init__.__globals__.os.popen('id').read() }}");
        injection("{{ self._TemplateReference__context.joiner.__init__.__globals__.os }}");
        injection("{{ lipsum.__globals__['os'].popen('true') }}");
        injection("{{ x|attr('__class__') }}");
        injection("{{ x|attr('\\x5f\\x5fclass\\x5f\\x5f') }}");
        injection("{{ x[['__cla','ss__']|join] }}");
        injection("{% set u = '_' %}{{ x|attr(u*2 ~ 'class' ~ u*2) }}");
        injection("{{ x|attr('__ssalc__'|reverse) }}");
        injection("{{ x|attr('__ssalc__'[::-1]) }}");
        injection("{{ x|attr('%c%cclass%c%c'|format(95,95,95,95)) }}");
        injection("{{ x|attr('{0}{0}class{0}{0}'.format('_')) }}");
        injection("{{ x|attr('XXclassXX'|replace('X','_')) }}");
        injection("{{ x|attr('_'.join(['','','class','',''])) }}");
        injection("{{ x['__cl' 'ass__'] }}");
        injection("{{ x|map(attribute='__class__')|list }}");
        injection("{{ eval('1') }}");
        injection("{{ namespace.__init__.__globals__ }}");
        injection("{{ dict(__class__=1)|first }}");
    }

    #[test]
    fn suspicious_constructs() {
        assert_eq!(
            worst("{{ x|attr(y) }}"),
            Some((IssueKind::Suspicious, Severity::High))
        );
        assert_eq!(
            worst("{% import 'x.j2' as m %}{{ m }}"),
            Some((IssueKind::Suspicious, Severity::High))
        );
        assert_eq!(
            worst("{{ cycler }}"),
            Some((IssueKind::Suspicious, Severity::High))
        );
    }

    #[test]
    fn unparsable_falls_back_to_lexical() {
        let issues = lint("{% if %}{{ x.__class__ }}");
        assert!(issues.iter().any(|i| i.kind == IssueKind::Unparsable));
        assert!(issues.iter().any(|i| i.kind == IssueKind::Injection));
    }

    #[test]
    fn benign_chatml_is_clean() {
        let t = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
        assert_eq!(lint(t), vec![]);
    }

    #[test]
    fn generation_tag_is_accepted() {
        let t =
            "{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}";
        assert_eq!(lint(t), vec![]);
    }

    fn corpus(kind: &str) -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/gguf/templates")
            .join(kind);
        let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jinja"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
        v.sort();
        assert!(v.len() >= 10, "template corpus {kind} missing");
        v
    }

    #[test]
    fn benign_corpus_is_clean() {
        for (name, src) in corpus("benign") {
            assert_eq!(lint(&src), vec![], "{name}");
        }
    }

    #[test]
    fn malicious_corpus_is_flagged() {
        for (name, src) in corpus("malicious") {
            let issues = lint(&src);
            assert!(
                issues
                    .iter()
                    .any(|i| i.severity >= Severity::High && i.kind != IssueKind::Unparsable),
                "{name}: {issues:?}"
            );
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(py_slice("abc", None, None, Some(-1)).unwrap(), "cba");
        assert_eq!(py_slice("abcdef", Some(1), Some(-1), None).unwrap(), "bcde");
        assert_eq!(
            percent_format("%c%s", &["95".into(), "a".into()]).unwrap(),
            "_a"
        );
        assert_eq!(brace_format("{0}{0}x", &["_".into()]).unwrap(), "__x");
        assert_eq!(brace_format("{:c}", &["95".into()]).unwrap(), "_");
        assert_eq!(py_unescape("\\x5f\\137\\u005f"), "___");
    }
}

#[cfg(test)]
mod deep {
    fn run(kind: &str, n: usize) {
        let src = match kind {
            "ifs" => "{% if x %}".repeat(n) + &"{% endif %}".repeat(n),
            "parens" => format!("{{{{ {}x{} }}}}", "(".repeat(n), ")".repeat(n)),
            "concat" => format!("{{{{ x|attr({}'_') }}}}", "'_' ~ ".repeat(n)),
            "filters" => format!("{{{{ x{} }}}}", "|reverse".repeat(n)),
            _ => format!("{{{{ x{} }}}}", ".a".repeat(n)),
        };
        let _ = super::lint(&src);
    }
    #[test]
    fn deep_inputs_do_not_overflow_or_crawl() {
        let t = std::time::Instant::now();
        for kind in ["ifs", "parens", "concat", "filters", "attrs"] {
            // Just inside the token limit (structural walk) and far beyond it (lexical only).
            for n in [300, 5000, 200_000] {
                run(kind, n);
            }
        }
        // A guard against a hang or a quadratic walk (minutes), not a speed target: on a
        // quiet machine this takes a few seconds, and a loaded CI machine must not fail it.
        // Speed is measured in benches/.
        assert!(t.elapsed().as_secs() < 120, "{:?}", t.elapsed());
    }
}

#[cfg(test)]
mod computed {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]
    use super::*;

    fn worst(src: &str) -> Option<Severity> {
        lint(src).into_iter().map(|i| i.severity).max()
    }

    fn critical(src: &str) {
        let issues = lint(src);
        assert!(
            issues.iter().any(|i| i.severity == Severity::Critical
                && matches!(i.kind, IssueKind::Injection | IssueKind::Suspicious)),
            "expected critical for {src:?}, got {issues:?}"
        );
    }

    fn high(src: &str) {
        let issues = lint(src);
        assert!(
            issues
                .iter()
                .any(|i| i.severity >= Severity::High && i.kind != IssueKind::Unparsable),
            "expected high for {src:?}, got {issues:?}"
        );
    }

    fn quiet(src: &str) {
        let w = worst(src);
        assert!(w < Some(Severity::Medium), "{src:?}: {:?}", lint(src));
    }

    #[test]
    fn keys_that_fold_to_dunders() {
        critical("{% set a = '__cla' %}{% set b = 'ss__' %}{{ x[a ~ b] }}");
        critical("{{ x['__cla' + 'ss__'] }}");
        critical("{{ x[('_' * 2) ~ 'class' ~ ('_' * 2)] }}");
        critical("{{ x[2 * '_' ~ 'globals' ~ '_' * 2] }}");
        critical(
            "{% set ns = namespace(k='__gl') %}{% set ns.k = ns.k ~ 'obals__' %}{{ x[ns.k] }}",
        );
        critical("{% set ns = namespace(a='__cla', b='ss__') %}{{ x[ns.a ~ ns.b] }}");
        critical("{{ x[[ '__', 'class', '__' ]|join] }}");
        critical("{{ x[('__', 'class', '__')|join('')] }}");
        critical("{{ x[['__ssalc__', 'y']|first|reverse] }}");
        critical("{{ x['__klass__'|replace('k', 'c')] }}");
        critical("{{ x['%c%c' % (95, 95) ~ 'class' ~ '%c%c' % (95, 95)] }}");
        critical("{{ x['%c%cinit%c%c'|format(95, 95, 95, 95)] }}");
        critical("{{ x['{0}{0}mro{0}{0}'.format('_')] }}");
        critical("{% set name = '__CLASS__' %}{{ x[name|lower] }}");
        critical("{{ x['__CLASS__'|lower] }}");
        critical("{{ x['__CLASS__'.lower()] }}");
        critical("{{ x['__Class__'|casefold] }}");
        critical("{{ x['__BASE__'.swapcase()] }}");
        critical("{% set s = '__ssalc__' %}{{ x[s[::-1]] }}");
        critical("{{ x['\\x5f\\x5fclass\\x5f\\x5f'] }}");
        critical("{{ x['\\137\\137class\\137\\137'] }}");
        critical("{{ x|attr('__cla' ~ 'ss__') }}");
        critical("{{ x|map(attribute='__cla' ~ 'ss__')|list }}");
        critical("{% set k = '__bu' ~ 'iltins__' %}{{ x[k] }}");
        critical("{% for k in ['__cla' ~ 'ss__'] %}{{ x[k] }}{% endfor %}");
        critical(
            "{% for a in ['__cla'] %}{% for b in ['ss__'] %}{{ x[a ~ b] }}{% endfor %}{% endfor %}",
        );
        critical("{{ x['__ssalc__'|list|reverse|join] }}");
        critical("{{ x['_'|string * 2 ~ 'subclasses' ~ '__'] }}");
        critical("{% set p %}__glo{% endset %}{{ x[p ~ 'bals__'] }}");
        critical("{{ x['func_' ~ 'globals'] }}");
        critical("{{ x['gi_' ~ 'frame'] }}");
        critical("{{ x['f_' ~ 'globals'] }}");
        critical("{{ x[('__getattri' ~ 'bute__')] }}");
        critical("{{ x['__' ~ 'dict' ~ '__'] }}");
        critical("{{ x['__' ~ 'code' ~ '__'] }}");
        critical("{{ x['__' ~ 'import' ~ '__']('os') }}");
        critical("{% set p = ['__cla', 'ss__'] %}{{ x[p[0] ~ p[1]] }}");
        critical("{% set p = ['__cla', 'ss__'] %}{{ x[p|join] }}");
        critical("{% set p = ['ss__', '__cla'] %}{{ x[p|reverse|join] }}");
        critical("{% set p = ['ss__', '__cla'] %}{{ x[p[-1] ~ p|first] }}");
        critical("{% set p = ['__cla', 'ss__'] %}{% for a in p %}{{ x[a ~ 'ss__'] }}{% endfor %}");
        critical("{{ x[{'a': '__cla', 'b': 'ss__'}['a'] ~ 'ss__'] }}");
        critical("{{ x['__cla ss__'.split(' ')|join] }}");
        critical("{{ x['__cla,ss__'.split(',')|join] }}");
    }

    #[test]
    fn keys_that_fold_to_dangerous_callables() {
        for name in [
            "popen",
            "system",
            "eval",
            "exec",
            "import_module",
            "load_module",
            "spawn",
            "check_output",
            "getstatusoutput",
            "open",
        ] {
            let (a, b) = name.split_at(2);
            critical(&format!("{{{{ m['{a}' ~ '{b}'] }}}}"));
            critical(&format!("{{{{ m['{name}']('id') }}}}"));
        }
        critical("{{ x.os['po' + 'pen']('id').read() }}");
    }

    #[test]
    fn computed_keys_that_are_called_or_chained() {
        // Keys the linter cannot fold (unknown filters, runtime data, macro arguments).
        high("{{ x[k|center(9)]() }}");
        high("{{ x[a|wordwrap(3)][b|wordwrap(3)][c|wordwrap(3)] }}");
        high("{% macro m(k, j) %}{{ x[k][j]['y'](1) }}{% endmacro %}");
        high("{% macro m(k) %}{{ x[k].y.z('id') }}{% endmacro %}");
        high("{% macro m(k) %}{{ x[k]('id') }}{% endmacro %}{{ m('popen') }}");
        high("{% for k in messages %}{{ cycler_like[k].read() }}{% endfor %}");
        high("{{ x[messages[0]['content']]|attr('y') }}");
        high("{% for t in tools %}{{ t[t.name](1) }}{% endfor %}");
        high("{% set k = messages|last %}{{ x[k.content][k.role][k.name] }}");
        high("{% macro m(k) %}{{ x[k].a|attr('b') }}{% endmacro %}");
    }

    /// A computed lookup stored in a variable or namespace attribute and called or walked
    /// further later is the same chain (rendered by Jinja2: `''.__class__.__mro__[1]
    /// .__subclasses__()` through `set` aliases, then `os._wrap_close.__init__.__globals__`).
    #[test]
    fn computed_values_carried_by_set_stay_computed() {
        let p = "''.ljust(2,'_')";
        high(&format!(
            "{{% set a = ''[{p} ~ 'class' ~ {p}] %}}{{{{ a() }}}}"
        ));
        high(&format!(
            "{{% set ns = namespace() %}}{{% set ns.c = x[{p} ~ 'class' ~ {p}] %}}{{{{ ns.c() }}}}"
        ));
        high(&format!(
            "{{% set a = ''[{p} ~ 'class' ~ {p}] %}}{{% set b = a[{p} ~ 'mro' ~ {p}] %}}{{% set d = b[1][{p} ~ 'subclasses' ~ {p}] %}}{{{{ d()|length }}}}"
        ));
        high(&format!(
            "{{% set ns = namespace(o=messages) %}}{{% for x in ['class','base','subclasses'] %}}{{% set ns.o = ns.o[{p} ~ x ~ {p}] %}}{{% endfor %}}{{{{ ns.o() }}}}"
        ));
        high("{% set ns = namespace(o=messages) %}{% for x in messages[0].content.split(',') %}{% set ns.o = ns.o[x] %}{% endfor %}{{ ns.o() }}");
        high(&format!(
            "{{% set a = x[{p}] if c else none %}}{{% set b = a[k] %}}{{{{ b[j] }}}}"
        ));
        high("{% with a = x[k] %}{{ a.y('id') }}{% endwith %}");
        // Containers, loop targets, unpacking and macro arguments carry it too.
        high("{% set l = [x[k]] %}{{ l[0]('id') }}");
        high("{% set d = {'f': x[k]} %}{{ d.f('id') }}");
        high("{% for f in [x[k]] %}{{ f('id') }}{% endfor %}");
        high("{% set f, g = x[k], 1 %}{{ f('id') }}");
        high("{% set f = [x[k]]|first %}{{ f('id') }}");
        high("{% for a, f in {'y': x[k]}.items() %}{{ f('id') }}{% endfor %}");
        high("{% macro m(f) %}{{ f('id') }}{% endmacro %}{{ m(x[k]) }}");
        high("{% set l = [] %}{% set _ = l.append(x[k]) %}{{ l[0]('id') }}");
        high("{% set ns = namespace(l=[]) %}{% set _ = ns.l.append(x[k]) %}{{ ns.l[0]('id') }}");
        high("{% set l = [[]] %}{% set _ = l[0].append(x[k]) %}{{ l[0][0]('id') }}");
        high("{% set d = {} %}{% set _ = d.update({'f': x[k]}) %}{{ d.f('id') }}");
        high("{% macro m() %}{{ caller(x[k]) }}{% endmacro %}{% call(f) m() %}{{ f('id') }}{% endcall %}");
        quiet("{% set l = [] %}{% for k in props %}{% set _ = l.append(props[k]) %}{% endfor %}{{ l|tojson }}{{ l|join(', ') }}");
        // What a call or filter returns from its arguments.
        high("{% for i in [1] %}{{ loop.cycle(x[k])('id') }}{% endfor %}");
        high("{{ {}.get('a', x[k])('id') }}");
        high("{{ (nothing|default(x[k]))('id') }}");
        high("{% set ns = namespace(f=none) %}{% set ns.f = x[k] %}{{ (ns|attr('f'))('id') }}");
        quiet("{% for k in props %}{{ (props[k]|default('')).strip() }}{{ props.get(k, {}).get('type') }}{% endfor %}");
        quiet("{% macro m(p) %}{{ p.description }}{{ p|tojson }}{% endmacro %}{% for k in props %}{{ m(props[k]) }}{% endfor %}");
        quiet("{% for k in props %}{% for a, b in props[k].items() %}{{ a }}: {{ b|tojson }}{% endfor %}{% endfor %}");
        // Data handling through a variable stays quiet.
        quiet("{% for k in props %}{% set p = props[k] %}{{ p.description }}{{ p.strip() }}{{ p|tojson }}{% if p.get('enum') %}{{ p['enum']|join(',') }}{% endif %}{% endfor %}");
        quiet("{% for k in props %}{% set p = props[k] %}{% for f in p %}{{ p[f] }}{% endfor %}{% endfor %}");
        quiet("{% set m = messages[i] %}{% set c = m['content'] %}{{ c.strip() }}{% set m = 1 %}{{ m }}");
    }

    #[test]
    fn ordinary_data_lookups_stay_quiet() {
        quiet("{% for m in messages %}{{ m['role'] }}{{ m[key] }}{% endfor %}");
        quiet("{% for k in tool %}{% if tool[k] == 1 %}{{ tool[k] }}{% endif %}{% endfor %}");
        quiet("{% for m in messages %}{{ messages[loop.index0 - 1]['role'] }}{{ messages[loop.index]['content'] }}{% endfor %}");
        quiet("{% for i in range(messages|length) %}{{ messages[i]['content'].strip() }}{{ messages[i](1) if false }}{% endfor %}");
        quiet("{% for k in props %}{{ props[k]['type'] }}{{ props[k].description }}{{ props[k].strip() }}{{ props[k]|tojson }}{% endfor %}");
        quiet(
            "{{ tool['function']['name'] }}{{ message['tool_calls'][0]['function']['arguments'] }}",
        );
        quiet("{% set ns = namespace(i=0) %}{% set ns.i = ns.i + 1 %}{{ messages[ns.i]['role'] }}{{ messages[ns.i](1) if false }}");
        quiet("{{ messages[-1]['content'] }}{{ messages[(loop_messages|length) - 1]['role'] }}");
        quiet("{% for a, b in x|items %}{{ b[a] }}{% endfor %}");
        quiet("{{ 'system'|upper }}{% if messages[0]['role'] == 'system' %}{% endif %}");
        quiet("{{ message['system'] }}");
        quiet("{% for pn in params.properties %}{% for key in params.properties[pn] %}{{ params.properties[pn][key] }}{{ params.properties[pn][key]|tojson }}{{ params.properties[pn][key].strip() }}{% endfor %}{% endfor %}");
    }

    /// Idioms of current tool-calling templates (vLLM and llama.cpp ship dozens): lookups by
    /// keys taken from the tool schema or by computed indices, printed, tested or filtered.
    #[test]
    fn tool_template_idioms_stay_quiet() {
        quiet("{% macro extra(d, skip) %}{% for k in d if k not in skip %}{% if d[k] is mapping or (d[k] is sequence and d[k] is not string) %}{{ d[k]|tojson|safe }}{% else %}{{ d[k]|string }}{% endif %}{% endfor %}{% endmacro %}{{ extra(tool, ['name']) }}");
        quiet("{% for i in range(msgs|length) %}{% if msgs[i]['role'] == 'user' %}{% set ns.last = i %}{% endif %}{% endfor %}{% for j in range(loop.index0 - 1, -1, -1) %}{{ msgs[j]['role'] }}{% endfor %}");
        quiet("{% for k in range(loop.index0 + 1, msgs|length) %}{% set follow = msgs[k] %}{{ follow.get('name')|default('unknown', true) }}{% endfor %}");
        quiet("{% for key, value in props|dictsort %}{{ value['items']['required']|default([]) }}{{ value['type']|upper }}{{ value['enum']|map('upper')|list }}{% endfor %}");
        quiet("{% for part in text.split('<x>') %}{{ part.split('<y>')[0] }}{% endfor %}{{ message.get('reasoning') or message.get('reasoning_content') }}");
        quiet("{% set ns = namespace(name=none) %}{% for tc in message['tool_calls'] %}{% if tc.get('id') == follow.get('tool_call_id') %}{% set ns.name = tc['function']['name'] %}{% endif %}{% endfor %}{{ ns.name }}");
        quiet("{% for name, schema in tool.parameters.properties|items %}{{ types[schema.type] if schema.type in types else 'any' }}{{ schema[field]|tojson }}{% endfor %}");
    }

    #[test]
    fn special_tokens_from_the_same_file_fold() {
        let cx = RenderContext {
            strings: vec![
                ("eos_token".into(), "__class__".into()),
                ("bos_token".into(), "po".into()),
            ],
            lists: vec![(
                "additional_special_tokens".into(),
                vec!["<x>".into(), "__glo".into()],
            )],
        };
        let crit = |src: &str| {
            let issues = lint_with(src, &cx);
            assert!(
                issues.iter().any(|i| i.severity == Severity::Critical),
                "{src}: {issues:?}"
            );
        };
        crit("{{ messages[eos_token] }}");
        crit("{{ messages[bos_token ~ 'pen']('id') }}");
        crit("{{ messages[additional_special_tokens[1] ~ 'bals__'] }}");
        // Ordinary tokens stay quiet.
        let plain = RenderContext {
            strings: vec![("eos_token".into(), "</s>".into())],
            lists: vec![],
        };
        assert_eq!(
            lint_with("{{ messages[0]['content'] ~ eos_token }}", &plain),
            vec![]
        );
    }

    #[test]
    fn helpers_fold() {
        assert_eq!(py_title("hello wORLD_x"), "Hello World_X");
    }

    #[test]
    fn deep_benign_templates_get_an_info_verdict() {
        for n in [200, 300, 1000] {
            let src = "{% if x %}a".repeat(n) + &"{% endif %}".repeat(n);
            let issues = lint(&src);
            assert!(
                issues.iter().all(|i| i.severity <= Severity::Info),
                "{n}: {issues:?}"
            );
            assert!(issues.iter().any(|i| i.kind == IssueKind::TooDeep), "{n}");
        }
        let chain = "{% for m in messages %}{% if m.role == 'user' %}{{ m['content'] }}"
            .repeat(200)
            + &"{% endif %}{% endfor %}".repeat(200);
        let issues = lint(&chain);
        assert!(
            issues.iter().all(|i| i.severity <= Severity::Info),
            "{issues:?}"
        );
        let long = format!("{{{{ {} 'x' }}}}", "'a' ~ ".repeat(2000));
        assert!(worst(&long) <= Some(Severity::Info), "{:?}", lint(&long));
    }

    #[test]
    fn deep_malicious_templates_stay_critical() {
        let wrap = |payload: &str| "{% if x %}".repeat(300) + payload + &"{% endif %}".repeat(300);
        for p in [
            "{{ x.__class__ }}",
            "{% set a = '__cla' %}{% set b = 'ss__' %}{{ x[a ~ b] }}",
            "{{ x['po' ~ 'pen']('id') }}",
            "{{ cycler.__init__.__globals__.os.popen('id') }}",
        ] {
            let issues = lint(&wrap(p));
            assert!(
                issues.iter().any(|i| i.severity == Severity::Critical),
                "{p}: {issues:?}"
            );
            assert!(!issues.iter().any(|i| i.kind == IssueKind::TooDeep), "{p}");
        }
        // Computed lookups still count, also in blocks only seen token by token.
        high(&wrap("{% macro m(k) %}{{ x[k]('id') }}{% endmacro %}"));
        high(&format!(
            "{{{{ {}x[k|center(5)]('id'){} }}}}",
            "(".repeat(400),
            ")".repeat(400)
        ));
        let quiet_deep = format!(
            "{{{{ {}m['content'] ~ m[0] ~ messages[loop.index0 - 1]['role'] ~ m.strip(){} }}}}",
            "(".repeat(400),
            ")".repeat(400)
        );
        assert!(
            worst(&quiet_deep) <= Some(Severity::Info),
            "{:?}",
            lint(&quiet_deep)
        );
        // A deep expression falls back to tokens and still sees dunders, and variables set
        // by earlier blocks still join.
        let expr = format!(
            "{{{{ {}x.__class__{} }}}}",
            "(".repeat(400),
            ")".repeat(400)
        );
        critical(&expr);
        let expr = format!(
            "{{% set a = '__cla' %}}{{{{ x[{}a ~ 'ss__'{}] }}}}",
            "(".repeat(400),
            ")".repeat(400)
        );
        critical(&expr);
    }

    #[test]
    fn syntax_errors_still_check_each_block() {
        let issues = lint("{% if %}{% set a = '__cla' %}{{ x[a ~ 'ss__'] }}");
        assert!(issues
            .iter()
            .any(|i| i.kind == IssueKind::Unparsable && i.severity == Severity::Medium));
        assert!(
            issues.iter().any(|i| i.severity == Severity::Critical),
            "{issues:?}"
        );
    }
}
