//! CatBoost binary models (`.cbm`, see [`crate::formats::catboost`]): the descriptor, the core
//! size CatBoost allocates before reading, the FlatBuffers core (walked with the bounded reader:
//! CatBoost verifies it, so a core this reader cannot walk is one CatBoost refuses), its format
//! version, info map and the model parts serialized after it.
//!
//! A pickled CatBoost estimator is a pickle (its state holds these bytes): it goes through the
//! pickle scanner, whose policy allows CatBoost's classes.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::{clip, Finding, Severity, Sink};
use crate::format::Format;
use crate::formats::catboost::{self as cb, CORE_FORMAT};
use crate::formats::flatbuffer::FbError;
use crate::scanners::{Scanner, ScannerContext};

const REFS: &[&str] = &[
    "https://catboost.ai/docs/en/concepts/python-reference_catboost_save_model",
    "https://github.com/catboost/catboost/blob/master/catboost/libs/model/model.cpp",
];

pub const MODEL: Code = Code {
    id: "catboost/model",
    severity: Severity::Info,
    summary: "A CatBoost binary model and what it holds.",
    detects: "CatBoost `.cbm` models (`CBM1`), recognised by content whatever their name: the core's format version, its info map (CatBoost version, training parameters) and the model parts after the core.",
    why: "Informational: the header and core were read the way CatBoost reads them.",
    example: "`model.cbm` with `catboost_version_info` and a `static_provider_v1` part.",
    remediation: "None needed.",
    references: REFS,
};

pub const OVERSIZED: Code = Code {
    id: "catboost/oversized",
    severity: Severity::High,
    summary: "The CatBoost model declares a core larger than the file.",
    detects: "A core size (32-bit, or 64-bit after `0xFFFFFFFF`) larger than the bytes after the header.",
    why: "`TFullModel::Load` allocates the declared size (`new ui8[coreSize]`) before reading it: the file alone decides how much memory the loading process takes, up to 2^64 bytes. No writer produces it.",
    example: "`CBM1`, `0xFFFFFFFF`, then a 64-bit size of 2^60.",
    remediation: "Do not load the model; re-export it.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "catboost/malformed",
    severity: Severity::Medium,
    summary: "A CatBoost model does not read, or CatBoost would refuse it.",
    detects: "A truncated header, a core the FlatBuffers walk rejects (offsets, vtables, strings or vectors outside the core), a format version other than `FlabuffersModel_v1`, model parts named but missing.",
    why: "What could not be read was not checked, and another reader may read it differently.",
    example: "A `.cbm` cut off in the middle of its core.",
    remediation: "Re-export the model and scan again.",
    references: REFS,
};

pub const TRAILING_DATA: Code = Code {
    id: "catboost/trailing-data",
    severity: Severity::Low,
    summary: "Bytes follow the CatBoost core that no model part accounts for.",
    detects: "Bytes after the core of a model whose core names no parts.",
    why: "CatBoost never reads them; they can carry a second payload for another reader (a polyglot file).",
    example: "A zip appended to a `.cbm`.",
    remediation: "Re-export the model.",
    references: &[],
};

pub static CODES: &[&Code] = &[&MODEL, &OVERSIZED, &MALFORMED, &TRAILING_DATA];

/// Cores are read whole (CatBoost does the same).
const MAX_CORE: u64 = 1024 * 1024 * 1024;

pub struct CatboostScanner;

impl Scanner for CatboostScanner {
    fn id(&self) -> &'static str {
        "catboost"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Catboost]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(
        &self,
        a: &Artifact,
        _cx: &dyn ScannerContext,
        out: &mut Sink,
    ) -> Result<(), ScanError> {
        let malformed = |m: String| Finding::new(&MALFORMED, a.location.clone(), m);
        let head = a.content.head(16)?;
        let h = match cb::header(&head) {
            Ok(h) => h,
            Err(e) => {
                out.push(malformed(e));
                return Ok(());
            }
        };
        let total = a.content.len();
        let left = total.saturating_sub(h.core_offset);
        if h.core_len > left {
            out.push(
                Finding::new(
                    &OVERSIZED,
                    a.location.clone(),
                    format!(
                        "the core is declared as {} bytes but {left} follow the header: CatBoost allocates the declared size before reading",
                        h.core_len
                    ),
                )
                .evidence("core-size", h.core_len.to_string()),
            );
            return Ok(());
        }
        if h.core_len > MAX_CORE {
            return Err(ScanError::Budget(format!(
                "CatBoost core larger than {MAX_CORE} bytes"
            )));
        }
        let core = a.content.read_at(
            h.core_offset,
            usize::try_from(h.core_len).unwrap_or(usize::MAX),
        )?;
        let c = match cb::read_core(&core) {
            Ok(c) => c,
            Err(FbError::Budget { steps }) => {
                return Err(ScanError::Budget(format!(
                    "CatBoost core: more than {steps} tables and elements"
                )))
            }
            Err(e) => {
                out.push(malformed(format!(
                    "the core does not verify ({e}): CatBoost refuses it"
                )));
                return Ok(());
            }
        };
        let version = c
            .info
            .iter()
            .find(|(k, _)| k == "catboost_version_info")
            .map(|(_, v)| clip(v, 120));
        let mut f = Finding::new(
            &MODEL,
            a.location.clone(),
            format!(
                "CatBoost model: core {} bytes, {} info entries, parts [{}]",
                h.core_len,
                c.info.len(),
                c.parts.join(", ")
            ),
        )
        .evidence("core-size", h.core_len.to_string())
        .evidence(
            "info-keys",
            clip(
                &c.info
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                400,
            ),
        );
        if let Some(v) = version {
            f = f.evidence("catboost-version", v);
        }
        out.push(f);
        if c.format_version.as_deref() != Some(CORE_FORMAT) {
            out.push(malformed(format!(
                "core format {:?} is not {CORE_FORMAT:?}: CatBoost refuses it",
                c.format_version
            )));
        }
        let after = left.saturating_sub(h.core_len);
        if c.parts.is_empty() && after > 0 {
            out.push(
                Finding::new(
                    &TRAILING_DATA,
                    a.location.clone(),
                    format!("{after} bytes follow the core, which names no model parts"),
                )
                .evidence("bytes", after.to_string()),
            );
        } else if !c.parts.is_empty() && after == 0 {
            out.push(malformed(format!(
                "the core names parts [{}] but nothing follows it",
                c.parts.join(", ")
            )));
        }
        Ok(())
    }
}
