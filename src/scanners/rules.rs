#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! A compiled view of `(module, name)` signature entries, shared by the Keras, TensorFlow and
//! Hydra policies. Module patterns match a dotted prefix (`keras` matches `keras.layers`); `*`
//! matches anything.
//!
//! Precedence: the most specific entry wins — an exact name beats `*`, then the longer module
//! pattern beats the shorter one; among equally specific entries the one loaded last wins, so a
//! user's `--signatures` file can override a default by repeating it.
//!
//! [`NamePolicy`] is the simpler view of kinds judged by name alone (Paddle operators, R
//! functions): the last entry for a name wins.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::finding::Severity;
use crate::signatures::{Action, SignatureDb};

/// One compiled entry.
#[derive(Debug, Clone)]
pub struct Rule {
    pub module: Cow<'static, str>,
    pub name: Cow<'static, str>,
    pub action: Action,
    pub severity: Option<Severity>,
    pub category: Cow<'static, str>,
    pub reason: Cow<'static, str>,
    pub source: Cow<'static, str>,
}

/// Entries of one kind, in load order, indexed by exact name.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    /// Indices of rules with an exact name, by name.
    by_name: std::collections::HashMap<Cow<'static, str>, Vec<usize>>,
    /// Indices of rules whose name is `*`.
    wildcard: Vec<usize>,
}

impl RuleSet {
    /// Every entry of `kind` in `db`.
    pub fn from_db(db: &SignatureDb, kind: &str) -> Self {
        let rules: Vec<Rule> = db
            .of_kind(kind)
            .map(|e| Rule {
                module: e.module.clone(),
                name: e.name.clone(),
                action: e.action,
                severity: e.severity,
                category: e.category.clone(),
                reason: e.reason.clone(),
                source: e.source.clone(),
            })
            .collect();
        let mut by_name: std::collections::HashMap<Cow<'static, str>, Vec<usize>> =
            std::collections::HashMap::new();
        let mut wildcard = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.name == "*" || r.name.is_empty() {
                wildcard.push(i);
            } else {
                by_name.entry(r.name.clone()).or_default().push(i);
            }
        }
        Self {
            rules,
            by_name,
            wildcard,
        }
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The deciding entry for `module.name`, if any entry matches.
    pub fn lookup(&self, module: &str, name: &str) -> Option<&Rule> {
        let mut best: Option<(u64, usize)> = None;
        let exact = self.by_name.get(name).map_or(&[][..], Vec::as_slice);
        for &i in self.wildcard.iter().chain(exact) {
            let Some(r) = self.rules.get(i) else {
                continue;
            };
            let Some(mscore) = module_score(&r.module, module) else {
                continue;
            };
            let nscore: u64 = if r.name == "*" || r.name.is_empty() {
                0
            } else if r.name == name {
                1 << 32
            } else {
                continue;
            };
            let score = nscore.saturating_add(mscore);
            // Later entries win ties: compare (score, load index).
            if best.is_none_or(|(b, j)| (score, i) >= (b, j)) {
                best = Some((score, i));
            }
        }
        best.and_then(|(_, i)| self.rules.get(i))
    }

    /// Whether any entry names `name` exactly (with any module).
    pub fn has_name(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }
}

/// How specifically `pattern` matches `module`: `None` when it does not match at all.
fn module_score(pattern: &str, module: &str) -> Option<u64> {
    if pattern == "*" || pattern.is_empty() {
        return Some(0);
    }
    if pattern == module {
        return Some((pattern.len() as u64).saturating_mul(2).saturating_add(1));
    }
    if module.len() > pattern.len()
        && module.starts_with(pattern)
        && module.as_bytes().get(pattern.len()) == Some(&b'.')
    {
        return Some((pattern.len() as u64).saturating_mul(2));
    }
    None
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    fn set(src: &str) -> RuleSet {
        let db = SignatureDb::from_sources(&[("t.toml".into(), src.into())]).expect("parse");
        RuleSet::from_db(&db, "k")
    }

    #[test]
    fn most_specific_wins() {
        let s = set(r#"
[meta]
area = "t"
[[entry]]
kind = "k"
module = "tensorflow"
name = "*"
action = "allow"
reason = "ns"
[[entry]]
kind = "k"
module = "tensorflow"
name = "py_function"
action = "deny"
severity = "critical"
reason = "py"
[[entry]]
kind = "k"
module = "tensorflow.io"
name = "*"
action = "deny"
severity = "high"
reason = "io"
"#);
        assert_eq!(
            s.lookup("tensorflow.math", "add").map(|r| r.action),
            Some(Action::Allow)
        );
        assert_eq!(
            s.lookup("tensorflow", "py_function").map(|r| r.action),
            Some(Action::Deny)
        );
        assert_eq!(
            s.lookup("tensorflow.io.gfile", "GFile").map(|r| &*r.reason),
            Some("io")
        );
        assert!(s.lookup("tensorflowx", "a").is_none());
        assert!(s.lookup("os", "system").is_none());
    }
}

/// A name a [`NamePolicy`] denies.
#[derive(Debug, Clone)]
pub struct Denial {
    pub severity: Severity,
    pub category: String,
    pub reason: String,
}

/// The entries of one kind keyed by name alone (the module is not used): a `deny` entry denies
/// the name (high unless it says otherwise), an `allow` or `tolerate` entry clears it; for the
/// same name the entry loaded last wins, so a user's `--signatures` file can override a default.
#[derive(Debug, Default)]
pub struct NamePolicy {
    rules: HashMap<String, Option<Denial>>,
}

impl NamePolicy {
    pub fn from_db(db: &SignatureDb, kind: &str) -> Self {
        let mut rules = HashMap::new();
        for e in db.of_kind(kind) {
            let rule = match e.action {
                Action::Deny => Some(Denial {
                    severity: e.severity.unwrap_or(Severity::High),
                    category: e.category.to_string(),
                    reason: e.reason.to_string(),
                }),
                Action::Allow | Action::Tolerate => None,
            };
            rules.insert(e.name.to_string(), rule);
        }
        Self { rules }
    }

    /// The denial of `name`, if any.
    pub fn denied(&self, name: &str) -> Option<&Denial> {
        self.rules.get(name).and_then(Option::as_ref)
    }
}
