#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! LightGBM text models (`Booster.save_model`, `model.txt`), read the way LightGBM's native
//! loader reads them (`src/boosting/gbdt_model_text.cpp` `GBDT::LoadModelFromString`,
//! `src/io/tree.cpp` `Tree::Tree(const char*, size_t*)`):
//!
//! * a header of `key=value` lines (`tree`, `version=v4`, `num_class`, `max_feature_idx`,
//!   `feature_names`, `tree_sizes`, …) up to the first `Tree=` line;
//! * with `tree_sizes`, each tree is parsed from `start + sum(sizes before it)` with no check
//!   against the end of the text (the trees are parsed in parallel from those offsets);
//! * each tree block is up to 22 `key=value` lines; the tree parser scans for `=` and for the
//!   end of the line without looking at the end of the buffer, and allocates its arrays from
//!   `num_leaves`, `num_cat` and the last `cat_boundaries` entry before parsing them;
//! * prediction follows `left_child`/`right_child` (negative values are leaves, `~leaf`) and
//!   indexes the feature vector by `split_feature` and the categorical bitsets by
//!   `threshold`/`cat_boundaries`, all unchecked.

use super::treegraph::find_cycle;
pub use super::xgboost::Problem;

/// Whether `head` starts like a LightGBM text model (`tree`, then `version=`).
pub fn looks_like_model(head: &[u8]) -> bool {
    let rest = head
        .strip_prefix(b"tree\r\n")
        .or_else(|| head.strip_prefix(b"tree\n"));
    rest.is_some_and(|r| r.starts_with(b"version="))
}

/// What a model says about itself, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub version: Option<String>,
    pub objective: Option<String>,
    pub num_class: Option<i64>,
    pub max_feature_idx: Option<i64>,
    pub trees: usize,
}

/// Problems are capped per model.
const MAX_PROBLEMS: usize = 20;

/// How many lines a tree block may have (`max_num_line` in `Tree::Tree`).
const MAX_TREE_LINES: usize = 22;

/// `Common::GetLine`: the length up to the first `\n` or `\r` (or the end).
fn line_len(b: &[u8]) -> usize {
    b.iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .unwrap_or(b.len())
}

/// `Common::SkipNewLine`: one `\r`, then one `\n`.
fn skip_newline(b: &[u8], mut p: usize) -> usize {
    if b.get(p) == Some(&b'\r') {
        p = p.saturating_add(1);
    }
    if b.get(p) == Some(&b'\n') {
        p = p.saturating_add(1);
    }
    p
}

/// `Common::Atoi`-like: the leading integer of `s` (spaces skipped), if any.
fn atoi(s: &str) -> Option<i64> {
    let t = s.trim_start_matches(' ');
    let end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map_or(t.len(), |(i, _)| i);
    t.get(..end)?.parse().ok()
}

/// The header's `key=value` lines, parsed as the loader does (a line with more than one `=` is
/// refused, except `feature_names` and `monotone_constraints`). Returns the map and where the
/// first `Tree=` line starts.
fn header(text: &[u8]) -> Result<(Vec<(String, String)>, usize), String> {
    let mut kv: Vec<(String, String)> = Vec::new();
    let mut p = 0usize;
    while p < text.len() {
        let rest = text.get(p..).unwrap_or_default();
        let n = line_len(rest);
        if n > 0 {
            let line = String::from_utf8_lossy(rest.get(..n).unwrap_or_default());
            if line.starts_with("Tree=") {
                return Ok((kv, p));
            }
            let parts: Vec<&str> = line.split('=').collect();
            let (k, v) = match parts.as_slice() {
                [k] => ((*k).to_owned(), String::new()),
                [k, v] => ((*k).to_owned(), (*v).to_owned()),
                [k, ..] if *k == "feature_names" || *k == "monotone_constraints" => (
                    (*k).to_owned(),
                    line.get(k.len().saturating_add(1)..)
                        .unwrap_or_default()
                        .to_owned(),
                ),
                _ => {
                    return Err(format!(
                        "header line {:?} has more than one '='",
                        clip(&line)
                    ))
                }
            };
            match kv.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => kv.push((k, v)),
            }
        }
        p = skip_newline(text, p.saturating_add(n));
    }
    Ok((kv, p))
}

fn clip(s: &str) -> String {
    crate::finding::clip(s, 80)
}

fn get<'a>(kv: &'a [(String, String)], k: &str) -> Option<&'a str> {
    kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
}

/// Checks a whole text model.
pub fn check_model(text: &[u8]) -> (Summary, Vec<Problem>) {
    let mut s = Summary::default();
    let mut out = Vec::new();
    let (kv, trees_at) = match header(text) {
        Ok(h) => h,
        Err(e) => {
            out.push(Problem::Malformed(e));
            return (s, out);
        }
    };
    s.version = get(&kv, "version").map(str::to_owned);
    s.objective = get(&kv, "objective").map(str::to_owned);
    s.num_class = get(&kv, "num_class").and_then(atoi);
    s.max_feature_idx = get(&kv, "max_feature_idx").and_then(atoi);
    for required in [
        "num_class",
        "label_index",
        "max_feature_idx",
        "feature_names",
        "feature_infos",
    ] {
        if get(&kv, required).is_none() {
            out.push(Problem::Malformed(format!("the header has no {required}")));
            return (s, out);
        }
    }
    let num_features = s.max_feature_idx.unwrap_or(-1).saturating_add(1);
    let names = get(&kv, "feature_names")
        .unwrap_or_default()
        .split(' ')
        .filter(|t| !t.is_empty())
        .count();
    if names as i64 != num_features {
        out.push(Problem::Malformed(format!(
            "{names} feature names for max_feature_idx {}",
            num_features.saturating_sub(1)
        )));
    }
    let rest = text.len().saturating_sub(trees_at) as u64;
    let mut starts = Vec::new();
    if let Some(sizes) = get(&kv, "tree_sizes") {
        let mut at = 0u64;
        for (i, tok) in sizes.split(' ').filter(|t| !t.is_empty()).enumerate() {
            let Ok(size) = tok.parse::<u64>() else {
                out.push(Problem::Malformed(format!("tree_sizes entry {tok:?}")));
                return (s, out);
            };
            if at >= rest {
                out.push(Problem::Unsafe(format!(
                    "tree_sizes puts tree {i} at byte {at} of the {rest} bytes of trees: the loader parses it from past the end of the model"
                )));
                return (s, out);
            }
            starts.push(trees_at.saturating_add(at as usize));
            at = at.saturating_add(size);
        }
    } else {
        let mut p = trees_at;
        while p < text.len() {
            let line = text.get(p..).unwrap_or_default();
            let n = line_len(line);
            if !line.starts_with(b"Tree=") {
                break;
            }
            starts.push(p);
            let body = skip_newline(text, p.saturating_add(n));
            match tree_block(text, body) {
                Ok((_, used)) => p = skip_newline(text, body.saturating_add(used)),
                Err(e) => {
                    out.push(e);
                    return (s, out);
                }
            }
            // Blank lines between trees.
            while p < text.len() && line_len(text.get(p..).unwrap_or_default()) == 0 {
                let q = skip_newline(text, p);
                if q == p {
                    break;
                }
                p = q;
            }
        }
    }
    s.trees = starts.len();
    for (i, &start) in starts.iter().enumerate() {
        if out.len() >= MAX_PROBLEMS {
            break;
        }
        let line = text.get(start..).unwrap_or_default();
        if !line.starts_with(b"Tree=") {
            out.push(Problem::Malformed(format!(
                "tree {i}: no \"Tree=\" line where tree_sizes puts it"
            )));
            continue;
        }
        let body = skip_newline(text, start.saturating_add(line_len(line)));
        match tree_block(text, body) {
            Ok((kv, _)) => check_tree(i, &kv, num_features, &mut out),
            Err(e) => out.push(e),
        }
    }
    (s, out)
}

/// One tree block's `key=value` lines, as `Tree::Tree` reads them, and how many bytes it used.
fn tree_block(text: &[u8], start: usize) -> Result<(Vec<(String, String)>, usize), Problem> {
    let mut kv: Vec<(String, String)> = Vec::new();
    let mut p = start;
    for _ in 0..MAX_TREE_LINES {
        match text.get(p) {
            Some(b'\r' | b'\n') => break,
            None => {
                return Err(Problem::Unsafe(format!(
                    "a tree block runs to the end of the model at byte {p}: the tree parser scans past the end of its buffer"
                )))
            }
            Some(_) => {}
        }
        let rest = text.get(p..).unwrap_or_default();
        let Some(eq) = rest.iter().position(|&c| c == b'=') else {
            return Err(Problem::Unsafe(format!(
                "a tree line at byte {p} has no '=' before the end of the model: the tree parser scans past the end of its buffer"
            )));
        };
        let key = String::from_utf8_lossy(rest.get(..eq).unwrap_or_default()).into_owned();
        let vstart = eq.saturating_add(1);
        let vrest = rest.get(vstart..).unwrap_or_default();
        let Some(vlen) = vrest.iter().position(|&c| c == b'\r' || c == b'\n') else {
            return Err(Problem::Unsafe(format!(
                "the tree line {key:?} at byte {p} does not end before the end of the model: the tree parser scans past the end of its buffer"
            )));
        };
        let value = String::from_utf8_lossy(vrest.get(..vlen).unwrap_or_default()).into_owned();
        match kv.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => kv.push((key, value)),
        }
        p = p.saturating_add(vstart).saturating_add(vlen);
        p = skip_newline(text, p);
    }
    Ok((kv, p.saturating_sub(start)))
}

/// The numbers of a space-separated array the loader sizes to `n` before parsing. More than the
/// text could hold is an allocation driven by the file alone.
fn array(kv: &[(String, String)], key: &str, n: i64, tree: usize) -> Result<Vec<i64>, Problem> {
    let Some(v) = get(kv, key) else {
        return Err(Problem::Malformed(format!("tree {tree}: no {key}")));
    };
    let items: Vec<i64> = v
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(|t| {
            atoi(t)
                .or_else(|| t.parse::<f64>().ok().map(|f| f as i64))
                .unwrap_or(0)
        })
        .collect();
    if n < 0 || n > (v.len() as i64).saturating_mul(2).saturating_add(16) {
        return Err(Problem::Unsafe(format!(
            "tree {tree}: {key} is sized {n} from the file but holds {} values: the loader allocates {n} entries first",
            items.len()
        )));
    }
    if items.len() as i64 != n {
        return Err(Problem::Malformed(format!(
            "tree {tree}: {key} has {} values, {n} declared",
            items.len()
        )));
    }
    Ok(items)
}

fn check_tree(i: usize, kv: &[(String, String)], num_features: i64, out: &mut Vec<Problem>) {
    let Some(leaves) = get(kv, "num_leaves").and_then(atoi) else {
        out.push(Problem::Malformed(format!("tree {i}: no num_leaves")));
        return;
    };
    let num_cat = get(kv, "num_cat").and_then(atoi).unwrap_or(0);
    if leaves <= 1 || leaves > i64::from(i32::MAX) {
        return;
    }
    let internal = leaves.saturating_sub(1);
    let res = (|| -> Result<(), Problem> {
        let left = array(kv, "left_child", internal, i)?;
        let right = array(kv, "right_child", internal, i)?;
        let split = array(kv, "split_feature", internal, i)?;
        let n = internal as usize;
        let child_ok = |c: i64| {
            if c >= 0 {
                c < internal
            } else {
                (!c) < leaves
            }
        };
        for k in 0..n {
            let (l, r) = (
                left.get(k).copied().unwrap_or_default(),
                right.get(k).copied().unwrap_or_default(),
            );
            if !child_ok(l) || !child_ok(r) {
                return Err(Problem::Unsafe(format!(
                    "tree {i}, node {k}: children ({l}, {r}) outside the {internal} nodes and {leaves} leaves: prediction follows them out of bounds"
                )));
            }
            let f = split.get(k).copied().unwrap_or_default();
            if f < 0 || f >= num_features {
                return Err(Problem::Unsafe(format!(
                    "tree {i}, node {k}: split feature {f} outside the {num_features} features: prediction reads past the feature vector"
                )));
            }
        }
        let children = |k: usize| {
            let c = |v: &[i64]| {
                v.get(k)
                    .copied()
                    .filter(|&x| x >= 0)
                    .and_then(|x| usize::try_from(x).ok())
            };
            [c(&left), c(&right)]
        };
        if let Some(c) = find_cycle(n, 0, children) {
            return Err(Problem::Unsafe(format!(
                "tree {i}: the child links loop back to node {c}: prediction never ends"
            )));
        }
        if num_cat > 0 {
            let bounds = array(kv, "cat_boundaries", num_cat.saturating_add(1), i)?;
            let last = bounds.last().copied().unwrap_or_default();
            let thresholds = array(kv, "cat_threshold", last, i)?;
            if bounds.windows(2).any(|w| w.first() > w.get(1)) || bounds.first() != Some(&0) {
                return Err(Problem::Unsafe(format!(
                    "tree {i}: cat_boundaries are not increasing from 0"
                )));
            }
            let decision = get(kv, "decision_type").map(|v| {
                v.split(' ')
                    .filter(|t| !t.is_empty())
                    .map(|t| atoi(t).unwrap_or(0))
                    .collect::<Vec<_>>()
            });
            let thresh: Vec<f64> = get(kv, "threshold")
                .unwrap_or_default()
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(|t| t.parse().unwrap_or(0.0))
                .collect();
            for k in 0..n {
                let categorical = decision
                    .as_ref()
                    .and_then(|d| d.get(k))
                    .is_some_and(|d| d & 1 == 1);
                if !categorical {
                    continue;
                }
                let idx = thresh.get(k).copied().unwrap_or(0.0) as i64;
                if idx < 0 || idx >= num_cat {
                    return Err(Problem::Unsafe(format!(
                        "tree {i}, node {k}: categorical split {idx} outside the {num_cat} category sets"
                    )));
                }
            }
            if thresholds.iter().any(|&t| t < 0) {
                return Err(Problem::Malformed(format!(
                    "tree {i}: negative cat_threshold"
                )));
            }
        }
        Ok(())
    })();
    if let Err(p) = res {
        out.push(p);
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    const MODEL: &str = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\nobjective=regression\nfeature_names=a b\nfeature_infos=[0:1] [0:1]\ntree_sizes=XX\n\nTree=0\nnum_leaves=3\nnum_cat=0\nsplit_feature=0 1\nthreshold=0.5 0.5\ndecision_type=2 2\nleft_child=1 -1\nright_child=-2 -3\nleaf_value=1 2 3\nshrinkage=1\n\n\nend of trees\n";

    fn model(left: &str) -> String {
        let m = MODEL.replace("left_child=1 -1", left);
        let start = m.find("Tree=0").unwrap();
        let end = m.find("end of trees").unwrap();
        m.replace("XX", &(end - start).to_string())
    }

    #[test]
    fn a_good_model_has_no_problems() {
        let m = model("left_child=1 -1");
        let (s, p) = check_model(m.as_bytes());
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(s.trees, 1);
        assert!(looks_like_model(m.as_bytes()));
    }

    #[test]
    fn bad_links_are_unsafe() {
        for bad in ["left_child=7 -1", "left_child=0 -1", "left_child=1 -9"] {
            let m = model(bad);
            let (_, p) = check_model(m.as_bytes());
            assert!(
                matches!(p.first(), Some(Problem::Unsafe(_))),
                "{bad}: {p:?}"
            );
        }
    }
}
