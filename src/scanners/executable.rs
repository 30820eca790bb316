//! Programs shipped as models: llamafile (an Actually Portable Executable that carries its GGUF
//! weights in a zip appended to the program), and ELF, PE, Mach-O binaries or `#!` scripts under
//! a model's name ([`crate::sniff::program_kind`]). Running "the model" runs the program, so the
//! file is reported as one whatever it carries; the weights it carries are then found and scanned
//! like any other: an appended zip through the zip walker, GGUF streams appended or embedded raw
//! through the GGUF scanner.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::io::Read as _;

use crate::artifact::{has_zip_trailer, Artifact};
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;

/// How many raw GGUF streams are looked for after the program (llamafile carries one; more are
/// scanned too, up to this many).
const MAX_EMBEDDED: usize = 8;

/// Bytes read per step of the search for raw GGUF streams.
const CHUNK: usize = 1 << 20;

pub const PROGRAM: Code = Code {
    id: "executable/program",
    severity: Severity::High,
    summary: "The model file is a program.",
    detects: "Files that start like an Actually Portable Executable (`MZqFpD='`, llamafile), or like an ELF, PE or Mach-O binary or a `#!` script followed by binary data under a model's name (`.llamafile`, `.gguf`, `.bin`, `.pt`, `.safetensors`, …).",
    why: "Using such a model means running it: the program runs with the user's privileges before any weights are read, and nothing in the weights format constrains what it does. A llamafile is a legitimate way to ship a model, but it is a native program all the same and needs the trust given to one.",
    example: "`mistral-7b-instruct.llamafile`: a cosmopolitan binary with the GGUF weights in an appended zip.",
    remediation: "Run only programs from publishers you trust, checked against their published digests; to use the weights alone, take the GGUF file (scanned here as an embedded model) and load it with your own runtime.",
    references: &[
        "https://github.com/Mozilla-Ocho/llamafile",
        "https://justine.lol/ape.html",
    ],
};

pub const EMBEDDED_MODEL: Code = Code {
    id: "executable/embedded-model",
    severity: Severity::Info,
    summary: "A program carries model weights, which were scanned.",
    detects: "A zip appended to the program (llamafile's way of carrying its GGUF weights; the engine scans its members as the file's zip reading), or else GGUF streams (magic `GGUF` and version 1–3) inside it, each scanned from its offset.",
    why: "Informational: the weights are scanned as members (zip) or as GGUF from their offset, so their own findings (chat templates, layout) are listed with them.",
    example: "`mistral.llamafile` with `mistral-7b.Q4_K_M.gguf` stored in its zip.",
    remediation: "None needed for the weights; see `executable/program` for the program itself.",
    references: &["https://github.com/Mozilla-Ocho/llamafile"],
};

pub static CODES: &[&Code] = &[&PROGRAM, &EMBEDDED_MODEL];

pub struct ExecutableScanner;

impl Scanner for ExecutableScanner {
    fn id(&self) -> &'static str {
        "executable"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Executable]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        let head = a.content.head(crate::sniff::SNIFF_LEN)?;
        let kind = crate::sniff::program_kind(&head).unwrap_or("program");
        out.push(
            Finding::new(
                &PROGRAM,
                a.location.clone(),
                format!(
                    "{} is a program ({kind}): using it as a model runs it",
                    a.name
                ),
            )
            .evidence("kind", kind),
        );
        // The engine reads content with a zip end record as a zip as well (the alternate reading
        // `zipfile` would find), so the members of llamafile's zip are scanned there.
        if has_zip_trailer(&a.content)? {
            out.push(Finding::new(
                &EMBEDDED_MODEL,
                a.location.clone(),
                "a zip is appended to the program (llamafile's weights); its members are scanned as the zip reading of this file",
            ));
            return Ok(());
        }
        for offset in gguf_offsets(a)? {
            let len = a.content.len().saturating_sub(offset);
            out.push(
                Finding::new(
                    &EMBEDDED_MODEL,
                    a.location.at(offset),
                    format!("a GGUF stream starts at byte {offset}; scanned from there"),
                )
                .evidence("offset", offset.to_string()),
            );
            let content = a.content.slice(offset, len)?;
            cx.scan_nested(
                a,
                &format!("[gguf@{offset}]"),
                content,
                Some(Format::Gguf),
                out,
            );
        }
        Ok(())
    }
}

/// Offsets of `GGUF` magics followed by a version 1–3, streamed in [`CHUNK`]s (a match across a
/// chunk boundary is found through the carried tail), at most [`MAX_EMBEDDED`].
fn gguf_offsets(a: &Artifact) -> Result<Vec<u64>, ScanError> {
    const TAIL: usize = 7;
    let mut r = a.content.open()?;
    let mut found = Vec::new();
    let mut window: Vec<u8> = Vec::new();
    let mut base: u64 = 0; // file offset of window[0]
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        window.extend_from_slice(buf.get(..n).unwrap_or_default());
        let mut i = 0usize;
        while let Some(rel) = window
            .get(i..)
            .and_then(|w| w.windows(4).position(|x| x == b"GGUF"))
        {
            let at = i.saturating_add(rel);
            let version = window
                .get(at.saturating_add(4)..at.saturating_add(8))
                .and_then(|v| <[u8; 4]>::try_from(v).ok())
                .map(u32::from_le_bytes);
            match version {
                Some(1..=3) => {
                    found.push(base.saturating_add(at as u64));
                    if found.len() >= MAX_EMBEDDED {
                        return Ok(found);
                    }
                }
                // The version is in the next chunk: keep the magic in the carried tail.
                None => break,
                Some(_) => {}
            }
            i = at.saturating_add(1);
        }
        let keep = window.len().min(TAIL);
        let drop = window.len().saturating_sub(keep);
        window.drain(..drop);
        base = base.saturating_add(drop as u64);
    }
    Ok(found)
}
