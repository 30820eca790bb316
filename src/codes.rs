//! Finding codes raised by the engine and the archive walker. Every code is declared once, as a
//! [`Code`] constant with its default severity and its documentation, beside the module that
//! reports it (scanners list theirs via [`crate::Scanner::codes`]); [`crate::catalog`] gathers
//! them all for `modelgate explain` and the SARIF rule table.

pub use crate::finding::Code;

/// Codes raised by the engine and archive walker rather than a format scanner.
pub mod engine {
    use super::Code;
    use crate::finding::Severity;

    pub const UNSUPPORTED_FORMAT: Code = Code {
        id: "engine/unsupported-format",
        severity: Severity::Info,
        summary: "A file was not scanned because no scanner understands its format yet.",
        detects: "Artifacts whose content does not match any format modelgate scans (or a format whose scanner is not implemented yet).",
        why: "A file that was not read cannot be called clean. It is listed so that nobody mistakes silence for approval.",
        example: "A PNG image or a text file inside a model directory.",
        remediation: "Review the file by other means, or remove it from the artifact if it is not needed.",
        references: &[],
    };

    pub const EXTENSION_MISMATCH: Code = Code {
        id: "engine/extension-mismatch",
        severity: Severity::Low,
        summary: "The file's content does not match what its extension claims.",
        detects: "A sniffed format that differs from the format implied by the file extension, e.g. a pickle named `.safetensors` or a zip named `.pkl`.",
        why: "Loaders pick a code path by content, while people and some scanners trust the name. Disguised files are a classic way to slip a pickle past extension-based tooling.",
        example: "weights.safetensors whose first bytes are `\\x80\\x04\\x95` (a protocol-4 pickle).",
        remediation: "Rename the file to match its content, or find out why it was disguised.",
        references: &["CVE-2025-10155"],
    };

    pub const BUDGET_EXCEEDED: Code = Code {
        id: "engine/inconclusive",
        severity: Severity::High,
        summary: "A scan budget was exhausted, so part of the artifact was not analysed.",
        detects: "Nesting deeper than the depth limit, more archive members or uncompressed bytes than allowed, a compression ratio above the limit, or a parser budget (opcodes, memo, stack) running out.",
        why: "Attackers pad files to exhaust scanners. A partially read artifact cannot be declared clean, so the result is inconclusive rather than silent.",
        example: "A zip bomb, or an archive nested 20 levels deep.",
        remediation: "Inspect the artifact by hand, or raise the limit with the corresponding option if the file is legitimately large.",
        references: &[],
    };

    pub const READ_ERROR: Code = Code {
        id: "engine/read-error",
        severity: Severity::Medium,
        summary: "An artifact could not be read or decoded.",
        detects: "I/O errors, truncated compressed streams and containers that fail to open.",
        why: "What could not be read was not checked. A corrupt container may also be a deliberate parser differential: the real loader may read more than the scanner.",
        example: "A gzip stream truncated in the middle.",
        remediation: "Re-download or re-export the artifact and scan again.",
        references: &[],
    };

    pub const UNINSPECTABLE: Code = Code {
        id: "engine/uninspectable",
        severity: Severity::High,
        summary: "An artifact, or part of one, could not be inspected.",
        detects: "Containers or members that cannot be decoded (a compression method or filter without a decoder, a corrupt stream), an artifact whose scanner failed before the end, and files named like models whose content no scanner recognises.",
        why: "What cannot be read cannot be called clean. Loaders are often more lenient than scanners (they decode methods a scanner lacks, or read what a strict parser rejects), so an unreadable member is exactly where a payload hides.",
        example: "A zip member compressed with PPMd or Deflate64, a 7z folder using a filter without a decoder, a `model.pt` of unrecognisable bytes.",
        remediation: "Re-export the model in a standard format (safetensors, ONNX, a zip with stored or deflated members) and scan again; do not load it until it scans.",
        references: &[],
    };

    pub const ALTERNATE_READING: Code = Code {
        id: "engine/alternate-reading",
        severity: Severity::Info,
        summary: "The content is readable as more than one format, and was scanned as each.",
        detects: "Bytes that another loader reads differently: a zip found by its end record behind other content, a tar header with a valid checksum, an HDF5 file after a user block, a compressed stream chosen by joblib's prefix test.",
        why: "Files that are two things at once are read differently by different loaders; each reading is scanned, and its own hazards are reported under their own codes.",
        example: "A pickle whose last bytes are a zip archive that Keras opens with zipfile.",
        remediation: "Find out why the file carries two formats; ship each part separately.",
        references: &[],
    };

    pub static CODES: &[&Code] = &[
        &UNINSPECTABLE,
        &ALTERNATE_READING,
        &UNSUPPORTED_FORMAT,
        &EXTENSION_MISMATCH,
        &BUDGET_EXCEEDED,
        &READ_ERROR,
    ];
}
