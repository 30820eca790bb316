//! # modelgate
//!
//! A scanner for machine-learning model files and container images that never executes what it
//! reads. The library does all the work; the `modelgate` binary is a thin command-line front end,
//! and the admission gate, the batch auditor and the Python bindings call the same API.
//!
//! The flow is: targets are expanded into [`Artifact`]s (files, archive members, decompressed
//! streams), each artifact's [`Format`] is sniffed from its bytes, the matching scanner reports
//! [`Finding`]s into a [`Sink`], nested content goes back through the same registry via
//! [`ScanContext::scan_nested`], and the result is one deterministic [`Report`], which a
//! [`Policy`] turns into one [`Verdict`].
//!
//! ```
//! use modelgate::{Engine, Policy, Severity};
//!
//! let engine = Engine::with_defaults()?;
//! // A protocol-2 pickle that would run `os.system("true")` when loaded.
//! let payload = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.".to_vec();
//! let mut report = engine.scan_bytes("model.pkl", payload);
//! assert!(report.findings.iter().any(|f| f.code == "pickle/unsafe-global"));
//!
//! // One verdict decides exit codes, signing and conversion alike.
//! let verdict = Policy::at(Severity::Low).judge(&mut report);
//! assert!(!verdict.is_approved());
//!
//! // Files, directories, archives and images go through the run layer.
//! let dir = std::env::temp_dir().join("modelgate-doctest");
//! std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("config.json"), r#"{"architectures": ["BertModel"]}"#)?;
//! let report = modelgate::run::scan(&engine, &[dir.into_os_string()], &Default::default(), None)?;
//! assert!(Policy::default().judge(&mut report.clone()).is_approved());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Nothing in this crate calls into Python, unpickles, or evaluates model content.
//!
//! ## The API
//! [`engine`] (scan artifacts), [`run`] (scan what a user names: files, directories, images),
//! [`report`] (the report model and its renderings), [`policy`] (the verdict), [`config`] (the
//! typed `modelgate.toml`), [`server`] (the admission gate and its scan workers), [`sign`] (sign
//! and verify approved models), [`convert`] (convert approved models to safe formats), [`store`]
//! (the audit trail and verdict cache of the gate and the audit, on SQLite or PostgreSQL),
//! [`catalog`] (every finding code and its documentation), and
//! the data they speak: [`finding`], [`format`], [`artifact`], [`error`], [`signatures`],
//! [`image`] (image options and readers), [`packages`] (package allowlists).
//!
//! The modules under "Parsers" are public only so that cargo-fuzz targets, property tests and
//! benchmarks can drive one parser directly; they are hidden from the documentation and carry
//! no stability promise.

pub mod artifact;
pub mod audit;
pub mod catalog;
pub mod config;
pub mod convert;
pub mod engine;
pub mod error;
pub mod finding;
pub mod format;
pub mod image;
pub mod mlflow;
pub mod packages;
pub mod policy;
pub mod report;
pub mod run;
pub mod server;
pub mod sign;
pub mod signatures;
pub mod store;

// Parsers: public for fuzz targets, property tests and benchmarks only.
#[doc(hidden)]
pub mod formats;
#[doc(hidden)]
pub mod guard;
#[doc(hidden)]
pub mod hash;
#[doc(hidden)]
pub mod pickle;
#[doc(hidden)]
pub mod scanners;
#[doc(hidden)]
pub mod sniff;
#[doc(hidden)]
pub mod walk;

// Internal.
pub(crate) mod codes;
pub(crate) mod context;
pub(crate) mod proto;
pub(crate) mod pyliteral;
pub(crate) mod readings;

// The Python extension module `modelgate._native` (maturin builds it with `--features python`).
#[cfg(feature = "python")]
mod python;

pub use artifact::{Artifact, Content};
pub use config::Config;
pub use context::{Limits, ScanContext};
pub use engine::{Engine, EngineOptions, Progress, ProgressEvent};
pub use error::{ScanError, SetupError};
pub use finding::{Code, Finding, Location, Severity, Sink, Status, VERSION};
pub use format::Format;
pub use policy::{Policy, Refusal, Verdict};
pub use report::Report;
pub use scanners::Scanner;
pub use signatures::SignatureDb;
