//! The pickle import policy, compiled from the `pickle-global` entries of the signature database
//! (`signatures/pickle.toml` plus user files) into a fast lookup.
//!
//! Matching rules:
//! - `module` names a module and, by inheritance, every submodule (`os` covers `os.path`);
//!   `module = "*"` is a catch-all below every module entry.
//! - `name` is an exact attribute name (`getattr`), a dotted path (`Trace.run`), a prefix glob
//!   ending in `*` (`__pyx_unpickle_*`), `*` (everything), or `<class>`: any undotted name that
//!   starts with an upper-case letter, optionally after one underscore, the PEP 8 spelling of a
//!   (private) class (used to allow the estimator classes of a library without allowing its
//!   functions).
//! - The most specific entry wins: a longer module beats a shorter one; within a module, an exact
//!   name beats a dotted-prefix deny, which beats a glob, which beats `<class>`, which beats `*`.
//!   For equal specificity the entry loaded later wins, so user files override the defaults.
//! - Allow entries never cover dotted names unless they spell them exactly: allowing a class is
//!   not allowing its methods (`Foo.__init__.__globals__`, `Path.write_text`). Deny entries do
//!   cover them (`trace.Trace` denies `trace.Trace.run`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::error::SetupError;
use crate::finding::Severity;
use crate::signatures::{Action, SignatureDb};

/// The signature kind this policy reads.
pub const KIND: &str = "pickle-global";

/// One compiled signature entry.
#[derive(Debug, Clone)]
pub struct Rule {
    pub action: Action,
    pub severity: Option<Severity>,
    pub category: Arc<str>,
    pub reason: Arc<str>,
    /// The entry as written (`module:name`), for evidence.
    pub pattern: Arc<str>,
    /// The file the entry came from.
    pub source: Arc<str>,
    order: usize,
}

#[derive(Debug, Default, Clone)]
struct ModuleRules {
    star: Option<Rule>,
    class: Option<Rule>,
    names: HashMap<Cow<'static, str>, Rule>,
    /// Prefix globs (`name*`), longest first after compilation.
    globs: Vec<(String, Rule)>,
}

/// What the policy says about one resolved global.
#[derive(Debug, Clone, Copy)]
pub enum Verdict<'p> {
    Allow(&'p Rule),
    Deny(&'p Rule),
    Tolerate(&'p Rule),
    /// Neither allowed nor denied.
    Unknown,
}

/// The compiled policy.
#[derive(Debug, Default, Clone)]
pub struct Policy {
    modules: HashMap<Cow<'static, str>, ModuleRules>,
    entries: usize,
}

fn keep_later(slot: &mut Option<Rule>, r: Rule) {
    if slot.as_ref().is_none_or(|old| old.order <= r.order) {
        *slot = Some(r);
    }
}

/// Whether `name` looks like a class name (PEP 8): undotted, starting with an upper-case letter,
/// optionally after one underscore (a private class such as scikit-learn's `_BinMapper`).
pub fn is_class_name(name: &str) -> bool {
    let bare = name.strip_prefix('_').unwrap_or(name);
    !name.contains('.') && bare.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

impl Policy {
    /// Compiles the `pickle-global` entries of `db`.
    pub fn compile(db: &SignatureDb) -> Result<Self, SetupError> {
        let mut p = Policy::default();
        for (order, e) in db.of_kind(KIND).enumerate() {
            if e.module.trim().is_empty() || e.name.trim().is_empty() {
                return Err(SetupError::Signature {
                    file: e.source.to_string(),
                    message: format!(
                        "pickle-global entry needs module and name ({}:{})",
                        e.module, e.name
                    ),
                });
            }
            let rule = Rule {
                action: e.action,
                severity: e.severity,
                category: Arc::from(&*e.category),
                reason: Arc::from(&*e.reason),
                pattern: Arc::from(format!("{}:{}", e.module, e.name).as_str()),
                source: Arc::from(&*e.source),
                order,
            };
            let m = p.modules.entry(e.module.clone()).or_default();
            match &*e.name {
                "*" => keep_later(&mut m.star, rule),
                "<class>" => keep_later(&mut m.class, rule),
                n if n.ends_with('*') => {
                    let prefix = n.trim_end_matches('*').to_owned();
                    m.globs.retain(|(g, _)| *g != prefix);
                    m.globs.push((prefix, rule));
                }
                _ => {
                    m.names.insert(e.name.clone(), rule);
                }
            }
            p.entries += 1;
        }
        for m in p.modules.values_mut() {
            m.globs
                .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(b.1.order.cmp(&a.1.order)));
        }
        Ok(p)
    }

    /// Number of compiled entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The most specific rule for `module`.`name` (see the module docs), if any.
    pub fn rule(&self, module: &str, name: &str) -> Option<&Rule> {
        let dotted = name.contains('.');
        let mut prefix = module;
        let mut exact_module = true;
        loop {
            if let Some(m) = self.modules.get(prefix) {
                if exact_module {
                    if let Some(r) = m.names.get(name) {
                        return Some(r);
                    }
                    if dotted {
                        // `Class.method` inherits a deny on `Class` (longest prefix first).
                        let mut n = name;
                        while let Some((head, _)) = n.rsplit_once('.') {
                            if let Some(r) = m.names.get(head) {
                                if r.action == Action::Deny {
                                    return Some(r);
                                }
                            }
                            n = head;
                        }
                    }
                    if let Some((_, r)) = m.globs.iter().find(|(g, r)| {
                        name.starts_with(g.as_str()) && (!dotted || r.action == Action::Deny)
                    }) {
                        return Some(r);
                    }
                }
                // `<class>` covers the classes of the module and of its submodules.
                if let Some(r) = &m.class {
                    if is_class_name(name) {
                        return Some(r);
                    }
                }
                if let Some(r) = &m.star {
                    if !dotted || r.action == Action::Deny {
                        return Some(r);
                    }
                }
            }
            if prefix == "*" {
                return None;
            }
            match prefix.rsplit_once('.') {
                Some((parent, _)) => prefix = parent,
                None => prefix = "*",
            }
            exact_module = false;
        }
    }

    /// The verdict for `module`.`name`.
    pub fn verdict(&self, module: &str, name: &str) -> Verdict<'_> {
        match self.rule(module, name) {
            Some(r) => match r.action {
                Action::Allow => Verdict::Allow(r),
                Action::Deny => Verdict::Deny(r),
                Action::Tolerate => Verdict::Tolerate(r),
            },
            None => Verdict::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_include_private_classes_only() {
        assert!(is_class_name("StandardScaler"));
        assert!(is_class_name("_BinMapper"));
        assert!(!is_class_name("__class__"));
        assert!(!is_class_name("__Mangled"));
        assert!(!is_class_name("_private_helper"));
        assert!(!is_class_name("csr_matrix"));
        assert!(!is_class_name("Trace.run"));
    }

    fn policy(toml: &str) -> Policy {
        let db = SignatureDb::from_sources(&[("t.toml".into(), toml.into())]).unwrap();
        Policy::compile(&db).unwrap()
    }

    const T: &str = r#"
[meta]
area = "t"
[[entry]]
kind = "pickle-global"
module = "os"
name = "*"
action = "deny"
severity = "critical"
reason = "r"
[[entry]]
kind = "pickle-global"
module = "trace"
name = "Trace"
action = "deny"
severity = "high"
reason = "r"
[[entry]]
kind = "pickle-global"
module = "sklearn.linear_model"
name = "<class>"
action = "allow"
reason = "r"
[[entry]]
kind = "pickle-global"
module = "sklearn.linear_model._base"
name = "make_dataset"
action = "deny"
severity = "medium"
reason = "r"
[[entry]]
kind = "pickle-global"
module = "torch"
name = "*"
action = "deny"
severity = "high"
reason = "r"
[[entry]]
kind = "pickle-global"
module = "torch._utils"
name = "_rebuild_tensor_v2"
action = "allow"
reason = "r"
[[entry]]
kind = "pickle-global"
module = "os"
name = "getcwd"
action = "allow"
reason = "user override"
"#;

    #[test]
    fn specificity_and_inheritance() {
        let p = policy(T);
        assert!(matches!(p.verdict("os", "system"), Verdict::Deny(_)));
        assert!(matches!(p.verdict("os.path", "join"), Verdict::Deny(_)));
        assert!(matches!(p.verdict("os", "getcwd"), Verdict::Allow(_)));
        assert!(matches!(p.verdict("trace", "Trace.run"), Verdict::Deny(_)));
        assert!(matches!(p.verdict("trace", "Other"), Verdict::Unknown));
        assert!(matches!(
            p.verdict("sklearn.linear_model._base", "LinearRegression"),
            Verdict::Allow(_)
        ));
        assert!(matches!(
            p.verdict("sklearn.linear_model._base", "make_dataset"),
            Verdict::Deny(_)
        ));
        assert!(matches!(
            p.verdict("sklearn.linear_model._base", "LinearRegression.fit"),
            Verdict::Unknown
        ));
        assert!(matches!(
            p.verdict("sklearn.linear_model", "helper"),
            Verdict::Unknown
        ));
        assert!(matches!(
            p.verdict("torch._utils", "_rebuild_tensor_v2"),
            Verdict::Allow(_)
        ));
        assert!(matches!(p.verdict("torch.hub", "load"), Verdict::Deny(_)));
        assert!(matches!(p.verdict("numpy", "load"), Verdict::Unknown));
    }
}
