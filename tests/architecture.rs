//! The module map as a test: the top-level modules of `src/` (a file `src/x.rs` or a folder
//! `src/x/`) import each other without a circle, and each stays on its floor of the design map
//! (`finding`/`format` at the ground, the engine above the scanners it dispatches to, the run
//! layer, policy and reports above the engine, the commands' library parts above those). An
//! import is any `crate::x` in code (comments, strings and `#[cfg(test)]` modules do not count;
//! the binary in `src/bin/` is a client of the library, not a floor of it).
//!
//! When this fails, the message names the arrow and the files that draw it. Fix the code, or, if
//! the map itself should change, change [`FLOORS`] here and the design map together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors of the library, bottom up. A module may import modules on its own floor or below,
/// never above; modules on the same floor must not form a circle (checked separately).
const FLOORS: &[&[&str]] = &[
    // Ground: data every layer speaks, and parsers of plain syntaxes.
    &[
        "finding",
        "error",
        "format",
        "guard",
        "hash",
        "pyliteral",
        "proto",
    ],
    // The finding codes, signature database, one parser per format, sniffing, artifacts.
    &["codes", "signatures", "formats", "sniff", "artifact"],
    // Pickle analysis over the opcode reader.
    &["pickle"],
    // What the walker and the scanners see of the engine; the fallback readings.
    &["context", "readings"],
    // The archive walker.
    &["walk"],
    // Format scanners.
    &["scanners"],
    // The engine that dispatches to them.
    &["engine"],
    // Readers that drive the engine over larger things: package inventories, images.
    &["packages", "image"],
    // Every finding code, gathered.
    &["catalog"],
    // Reports, the verdict, the typed config, the run layer.
    &["report", "policy", "config", "run"],
    // What is done with an approved report; the audit trail and verdict cache (which stores
    // digests, counts, verdicts and JSON text its callers give it, and imports nothing).
    // The MLflow registry client (REST, artifact fetching, verdict tags), shared by the gate's
    // webhook and the CLI.
    &["sign", "convert", "store", "mlflow"],
    // The admission gate; the batch audit.
    &["server", "audit"],
    // The Python extension module (feature `python`): over everything, imported by nothing.
    &["python"],
];

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `text` without comments, string and character literals, and `#[cfg(test)]` items, so that a
/// doc link or a test helper does not count as an import.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            let mut depth = 0usize;
            while i < b.len() {
                if text[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if text[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(len) = raw_string_len(rest) {
            out.push_str("\"\"");
            i += len;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if let Some(len) = char_literal_len(rest) {
            i += len;
        } else {
            let c = rest.chars().next().expect("non-empty");
            out.push(c);
            i += c.len_utf8();
        }
    }
    drop_test_items(&out)
}

/// The length of a raw string literal (`r"…"`, `r#"…"#`, `br#"…"#`) at the start of `s`.
fn raw_string_len(s: &str) -> Option<usize> {
    let t = s.strip_prefix('b').unwrap_or(s);
    let t = t.strip_prefix('r')?;
    let hashes = t.len() - t.trim_start_matches('#').len();
    let body = t[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = body.find(&close)?;
    Some(s.len() - body.len() + end + close.len())
}

/// The length of a character literal at the start of `s` (not a lifetime).
fn char_literal_len(s: &str) -> Option<usize> {
    let t = s.strip_prefix('\'')?;
    if let Some(esc) = t.strip_prefix('\\') {
        let end = esc.find('\'')?;
        return (end <= 10).then_some(end + 3);
    }
    let c = t.chars().next()?;
    t[c.len_utf8()..]
        .starts_with('\'')
        .then_some(c.len_utf8() + 2)
}

/// Removes every item marked `#[cfg(test)]` (a test module or helper) up to its closing brace.
fn drop_test_items(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let Some(open) = after.find(['{', ';']) else {
            return out;
        };
        if after.as_bytes()[open] == b';' {
            rest = &after[open + 1..];
            continue;
        }
        let mut depth = 0usize;
        let mut end = after.len();
        for (k, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The top-level modules named by `crate::…` paths in `code`, `use crate::{a, b::c}` included.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        // `modelgate_crate::` or `$crate::` are not this crate's paths.
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        refs.insert(first_ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            refs.insert(first_ident(&item));
        } else {
            refs.insert(first_ident(rest));
        }
    }
    refs.remove("");
    refs.remove("self");
    refs
}

fn first_ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level module a file belongs to (`src/walk/zipread.rs` → `walk`), or `None` for the
/// crate root and the binary.
fn top_module(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    if first == "bin" || first == "lib.rs" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_string())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Arrows between top-level modules, each with the files that draw it.
fn graph() -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut arrows: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src()).expect("under src").to_path_buf();
        let Some(from) = top_module(&rel) else {
            continue;
        };
        let text = std::fs::read_to_string(&f).expect("read source");
        for to in crate_refs(&code_only(&text)) {
            if to != from {
                arrows
                    .entry((from.clone(), to))
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    arrows
}

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|f| f.contains(&module))
}

#[test]
fn every_module_has_a_floor() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut missing = BTreeSet::new();
    for f in files {
        let rel = f.strip_prefix(src()).expect("under src").to_path_buf();
        if let Some(m) = top_module(&rel) {
            if floor_of(&m).is_none() {
                missing.insert(m);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "modules without a floor in tests/architecture.rs FLOORS (add them where they belong): {missing:?}"
    );
}

#[test]
fn no_module_imports_one_on_a_higher_floor() {
    let mut wrong = Vec::new();
    for ((from, to), files) in graph() {
        // `crate::VERSION` and other root re-exports: the root is the crate's face, not a floor.
        let (Some(a), Some(b)) = (floor_of(&from), floor_of(&to)) else {
            if floor_of(&to).is_none() {
                wrong.push(format!("{from} -> crate::{to} (not a module: import it from where it is defined) in {files:?}"));
            }
            continue;
        };
        if b > a {
            wrong.push(format!(
                "{from} (floor {}) -> {to} (floor {}) in {files:?}",
                a + 1,
                b + 1
            ));
        }
    }
    assert!(wrong.is_empty(), "arrows running up:\n{}", wrong.join("\n"));
}

/// Depth-first search for a back edge; returns the circle it closes.
fn visit<'a>(
    m: &'a str,
    next: &BTreeMap<&'a str, Vec<&'a str>>,
    path: &mut Vec<&'a str>,
    done: &mut BTreeSet<&'a str>,
) -> Option<Vec<&'a str>> {
    if let Some(at) = path.iter().position(|p| *p == m) {
        let mut circle = path[at..].to_vec();
        circle.push(m);
        return Some(circle);
    }
    if !done.insert(m) {
        return None;
    }
    path.push(m);
    for n in next.get(m).into_iter().flatten() {
        if let Some(c) = visit(n, next, path, done) {
            return Some(c);
        }
    }
    path.pop();
    None
}

#[test]
fn no_import_circle_among_top_level_modules() {
    let arrows = graph();
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in arrows.keys() {
        next.entry(from).or_default().push(to);
    }
    let mut done = BTreeSet::new();
    for m in next.keys() {
        let mut path = Vec::new();
        if let Some(circle) = visit(m, &next, &mut path, &mut done) {
            let why: Vec<String> = circle
                .windows(2)
                .map(|w| {
                    format!(
                        "{} -> {} in {:?}",
                        w[0],
                        w[1],
                        arrows[&(w[0].to_string(), w[1].to_string())]
                    )
                })
                .collect();
            panic!("import circle:\n{}", why.join("\n"));
        }
    }
}

#[test]
fn the_reader_skips_comments_strings_and_tests() {
    let code = code_only(
        "use crate::a::X; // crate::b\n/* crate::c /* nested */ crate::d */\nlet s = \"crate::e\";\nlet r = r#\"crate::f\"#;\nlet c = '\"'; let l: &'static str = crate::g::Y;\nuse crate::{h, i::{J, K}};\n#[cfg(test)]\nmod tests { use crate::k; }\nfn z() { crate::m::n() }\n",
    );
    let refs: Vec<String> = crate_refs(&code).into_iter().collect();
    assert_eq!(refs, ["a", "g", "h", "i", "m"]);
}
