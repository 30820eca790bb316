//! The finding model: what was found, how bad it is, and exactly where.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How dangerous a finding is. Ordered, so thresholds (`--fail-on`) are comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses the lower- or upper-case name used in signature files and settings.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an artifact or finding lives: the path given on the command line (or found under a
/// directory), then the chain of containers inside it (`archive.zip` → `model.pt` → `archive/data.pkl`),
/// then an optional byte offset inside the innermost member.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Location {
    /// The path as text; bytes that are not UTF-8 show as U+FFFD (see `path_bytes`).
    pub path: String,
    /// The path's raw bytes in hex, present only when they are not valid UTF-8, so the exact
    /// file can still be found from a JSON report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inner: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl Location {
    pub fn file(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            path_bytes: None,
            inner: Vec::new(),
            offset: None,
        }
    }

    /// The location of a file on disk shown as `display`, keeping the raw bytes of a path that
    /// is not UTF-8.
    pub fn of_path(display: impl Into<String>, path: &std::path::Path) -> Self {
        let mut l = Self::file(display);
        if path.to_str().is_none() {
            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStrExt;
                l.path_bytes = Some(hex::encode(path.as_os_str().as_bytes()));
            }
        }
        l
    }

    /// A location one level deeper, inside the member `name`.
    #[must_use]
    pub fn child(&self, name: impl Into<String>) -> Self {
        let mut inner = self.inner.clone();
        inner.push(name.into());
        Self {
            path: self.path.clone(),
            path_bytes: self.path_bytes.clone(),
            inner,
            offset: None,
        }
    }

    #[must_use]
    pub fn at(&self, offset: u64) -> Self {
        Self {
            offset: Some(offset),
            ..self.clone()
        }
    }

    /// `path:member:member` — the same shape modelscan uses for archive members.
    pub fn display_chain(&self) -> String {
        let mut s = self.path.clone();
        for i in &self.inner {
            s.push(':');
            s.push_str(i);
        }
        s
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_chain())?;
        if let Some(o) = self.offset {
            write!(f, "@{o}")?;
        }
        Ok(())
    }
}

/// A Python global (`module.name`) a finding is about, as the loader would resolve it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GlobalRef {
    pub module: String,
    pub name: String,
}

/// One thing a scanner reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Namespaced kebab-case code, `<scanner>/<hazard>`; see `modelgate explain CODE`.
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub location: Location,
    /// The global involved, for pickle-style findings (also feeds modelscan's `module`/`operator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<GlobalRef>,
    /// Extra machine-readable evidence (opcode, reason from the signature database, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub evidence: BTreeMap<String, String>,
}

impl Finding {
    pub fn new(code: &crate::codes::Code, location: Location, message: impl Into<String>) -> Self {
        Self {
            code: code.id.to_owned(),
            severity: code.severity,
            message: message.into(),
            location,
            global: None,
            evidence: BTreeMap::new(),
        }
    }

    #[must_use]
    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }

    #[must_use]
    pub fn global(mut self, module: impl Into<String>, name: impl Into<String>) -> Self {
        self.global = Some(GlobalRef {
            module: module.into(),
            name: name.into(),
        });
        self
    }

    #[must_use]
    pub fn evidence(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.evidence.insert(key.into(), value.into());
        self
    }

    /// Total order used to make reports deterministic regardless of scan parallelism.
    pub fn sort_key(&self) -> (&Location, &str, std::cmp::Reverse<Severity>, &str) {
        (
            &self.location,
            &self.code,
            std::cmp::Reverse(self.severity),
            &self.message,
        )
    }
}
