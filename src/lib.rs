//! # modelgate
//!
//! A scanner for machine-learning model files and container images that never executes what it
//! reads. The library does all the work; the `modelgate` binary is a thin command-line front end,
//! and the admission gate and batch auditor call the same [`Engine`].
//!
//! The flow is: targets are expanded into [`Artifact`]s (files, archive members, decompressed
//! streams), each artifact's [`Format`] is sniffed from its bytes, the matching [`Scanner`] reports
//! [`Finding`]s into a [`Sink`], nested content goes back through the same registry via
//! [`ScanContext::scan_nested`], and the result is one deterministic [`Report`].
//!
//! Nothing in this crate calls into Python, unpickles, or evaluates model content.

pub mod artifact;
pub mod catalog;
pub mod codes;
pub mod config;
pub mod context;
pub mod convert;
pub mod engine;
pub mod error;
pub mod finding;
pub mod format;
pub mod formats;
pub mod guard;
pub mod hash;
pub mod image;
pub mod packages;
pub mod pickle;
pub mod policy;
pub mod proto;
pub mod pyliteral;
pub mod readings;
pub mod report;
pub mod run;
pub mod scanners;
pub mod sign;
pub mod signatures;
pub mod walk;

pub use artifact::{Artifact, Content};
pub use config::Config;
pub use context::ScanContext;
pub use engine::{Engine, EngineOptions, Progress, ProgressEvent, Sink};
pub use error::{ScanError, SetupError};
pub use finding::{Finding, Location, Severity};
pub use format::Format;
pub use policy::{Policy, Verdict};
pub use report::Report;
pub use scanners::Scanner;
pub use signatures::SignatureDb;

/// The version string reported in every report.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
