//! NumPy `.npy` files (format versions 1.0–3.0). The header is read by the one `.npy` reader the
//! converter uses too ([`crate::formats::npy`]: `ast.literal_eval` and `descr_to_dtype` as numpy
//! applies them, never evaluated). A header the scanner cannot read but numpy might is a high
//! finding and its data is scanned as a pickle. Object arrays (`|O`, also inside structured
//! dtypes) carry a pickle after the header, which `np.load(allow_pickle=True)` unpickles: it is
//! scanned as a nested pickle. Other arrays are checked against the file size.
//!
//! `.npz` files are zips of `.npy` members and need nothing special: the archive walker sends
//! each member here.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use crate::artifact::{Artifact, Content};
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::formats::npy::{parse_npy, NpyError, HEAD_LEN};
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;

pub const OBJECT_ARRAY: Code = Code {
    id: "numpy/object-array",
    severity: Severity::Info,
    summary: "The .npy array holds Python objects stored as a pickle, which was scanned.",
    detects: "An object dtype (`|O`, also as a field of a structured dtype): the data after the header is a pickle that `np.load(..., allow_pickle=True)` unpickles.",
    why: "Loading object arrays runs the pickle machinery; the embedded pickle's own findings are reported under this file.",
    example: "`np.save('a.npy', np.array([{'k': 1}], dtype=object))`",
    remediation: "Prefer plain numeric arrays; load object arrays only after the embedded pickle scans clean.",
    references: &["CVE-2019-6446"],
};

pub const MALFORMED: Code = Code {
    id: "numpy/malformed",
    severity: Severity::Medium,
    summary: "The .npy header cannot be read the way numpy reads it.",
    detects: "A bad magic version, a header length past the end of the file, or a header that is not the dict literal numpy writes (`descr`, `fortran_order`, `shape`).",
    why: "numpy refuses such files; a scanner that guesses may miss an embedded pickle.",
    example: "A header `{'descr': __import__('os')}`.",
    remediation: "Re-export the array with numpy.",
    references: &[],
};

pub const SIZE_MISMATCH: Code = Code {
    id: "numpy/size-mismatch",
    severity: Severity::Medium,
    summary: "The array data does not match the size its header declares.",
    detects: "Fewer bytes than shape × itemsize (numpy raises), or extra bytes after the data (numpy ignores them).",
    why: "Extra bytes after the array are invisible to np.load but can carry another payload for a different reader.",
    example: "An `<f4` array of shape (2,) followed by a pickle.",
    remediation: "Re-export the array.",
    references: &[],
};

pub const UNPARSED_HEADER: Code = Code {
    id: "numpy/unparsed-header",
    severity: Severity::High,
    summary: "The .npy header could not be read completely, but numpy may accept it; the data was scanned as a pickle.",
    detects: "A header that `ast.literal_eval` may accept but the scanner cannot read (named escapes, a dtype spelling the scanner cannot size such as `'f8,O'` or `'(2,)O'`, a header larger than the scanner reads): numpy could resolve it to an object dtype and unpickle the data.",
    why: "`np.load(..., allow_pickle=True)` unpickles the data of any object dtype, however the header spells it; what the scanner cannot read must not pass as plain numbers.",
    example: "`{'descr': '(2,)O', 'fortran_order': False, 'shape': (1,)}` followed by a pickle.",
    remediation: "Re-export the array with numpy (`np.save`) so that the header is the canonical one.",
    references: &["CVE-2019-6446"],
};

pub static CODES: &[&Code] = &[&OBJECT_ARRAY, &MALFORMED, &SIZE_MISMATCH, &UNPARSED_HEADER];

pub struct NumpyScanner;

impl Scanner for NumpyScanner {
    fn id(&self) -> &'static str {
        "numpy"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Numpy]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        let head = a.content.head(HEAD_LEN)?;
        let header = match parse_npy(&head) {
            Ok(h) => h,
            Err(NpyError::Rejected(msg)) => {
                out.push(Finding::new(&MALFORMED, a.location.clone(), msg));
                return Ok(());
            }
            Err(NpyError::Unreadable {
                message,
                data_offset,
            }) => {
                // numpy may read this header as an object dtype: the data is what
                // `np.load(allow_pickle=True)` would unpickle.
                out.push(
                    Finding::new(&UNPARSED_HEADER, a.location.clone(), message)
                        .evidence("data_offset", data_offset.to_string()),
                );
                if let Some(c) = tail(&a.content, data_offset) {
                    cx.scan_nested(a, "npy-pickle", c, Some(Format::Pickle), out);
                }
                return Ok(());
            }
        };
        let total = a.content.len();
        let data_len = total.saturating_sub(header.data_offset);
        if header.dtype.object {
            out.push(
                Finding::new(
                    &OBJECT_ARRAY,
                    a.location.at(header.data_offset),
                    format!(
                        "object array (descr {}); the embedded pickle was scanned",
                        header.descr_text
                    ),
                )
                .evidence("descr", header.descr_text.clone()),
            );
            if let Some(c) = tail(&a.content, header.data_offset) {
                cx.scan_nested(a, "npy-pickle", c, Some(Format::Pickle), out);
            }
            return Ok(());
        }
        let Some(expected) = header.nbytes else {
            out.push(Finding::new(
                &MALFORMED,
                a.location.clone(),
                format!(
                    "the shape of dtype {} declares no readable size (numpy cannot read the data)",
                    header.descr_text
                ),
            ));
            return Ok(());
        };
        if data_len != expected {
            let msg = if data_len < expected {
                format!("the header declares {expected} data bytes but only {data_len} follow (numpy raises)")
            } else {
                format!(
                    "{} bytes follow the {expected} data bytes the header declares (numpy ignores them)",
                    data_len.saturating_sub(expected)
                )
            };
            out.push(
                Finding::new(&SIZE_MISMATCH, a.location.at(header.data_offset), msg)
                    .evidence("declared", expected.to_string())
                    .evidence("present", data_len.to_string()),
            );
        }
        Ok(())
    }
}

/// The content from `from` to its end (zero-copy for files).
fn tail(content: &Content, from: u64) -> Option<Content> {
    let len = content.len().checked_sub(from)?;
    content.slice(from, len).ok()
}
