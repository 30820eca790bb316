//! Lua Torch7 files (`.t7`, see [`crate::formats::torch7`]).
//!
//! * A **function** (type 6, 7 or 8) is Lua byte code that `torch.load` hands to `loadstring`
//!   while reading: LuaJIT does not verify byte code, so loading crafted byte code alone can
//!   corrupt the interpreter, and the function runs whenever the model calls it. Critical
//!   (`torch7/function`), with the strings of its constant pool as evidence.
//! * Every **class** the file instantiates is listed (`torch7/object`); classes other than
//!   torch's tensors and storages and the `nn`, `cudnn`, `cunn`, `nngraph`, `rnn` and `dpnn`
//!   module families are `torch7/unknown-class` (medium): `torch.factory` instantiates whatever
//!   class of that name the loading process has registered, and a class with its own `read`
//!   method runs it on the file.
//! * A file that does not read to the end (unknown type tag, negative length, a tensor with
//!   more than 64 dimensions, sizes past the end) is `torch7/malformed` (medium); bytes after the
//!   object, which `torch.load` never reads, are reported at low.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::io::BufReader;

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::{Finding, Severity, Sink};
use crate::format::Format;
use crate::formats::torch7::{
    element_size, parse, Encoding, Parsed, T7Error, MAX_DEPTH, READ_STACK,
};
use crate::scanners::{Scanner, ScannerContext};

const REFS: &[&str] = &[
    "https://github.com/torch/torch7/blob/master/File.lua",
    "https://github.com/torch/torch7/blob/master/doc/serialization.md",
];

pub const OBJECT: Code = Code {
    id: "torch7/object",
    severity: Severity::Info,
    summary: "A Lua Torch7 file, with the classes it instantiates.",
    detects: "A `torch.save` file (binary or ascii): the torch classes named in it and how often.",
    why: "Informational: the classes decide which reader code runs; functions and unknown classes are reported separately.",
    example: "`model.t7`: nn.Sequential×1, nn.Linear×2, torch.FloatTensor×4, torch.FloatStorage×4.",
    remediation: "None needed.",
    references: REFS,
};

pub const FUNCTION: Code = Code {
    id: "torch7/function",
    severity: Severity::Critical,
    summary: "The Torch7 file holds a Lua function as byte code, loaded while the file is read.",
    detects: "An object of type 6, 7 or 8 (`TYPE_FUNCTION`, `TYPE_RECUR_FUNCTION`): a `string.dump` of a Lua function and its upvalues.",
    why: "`torch.load` passes the byte code to `loadstring` on read; LuaJIT does not verify byte code (crafted byte code escapes the VM), and the function runs with the user's privileges whenever the model calls it (a hook, a custom `forward`).",
    example: "A module whose `updateOutput` field is a dumped function calling `os.execute`.",
    remediation: "Do not load the file; convert the weights with a reader that does not load functions.",
    references: REFS,
};

pub const UNKNOWN_CLASS: Code = Code {
    id: "torch7/unknown-class",
    severity: Severity::Medium,
    summary: "The Torch7 file instantiates a class outside torch's tensors and the common nn families.",
    detects: "A torch object whose class is not a torch tensor or storage and not `nn.*`, `cudnn.*`, `cunn.*`, `nngraph.*`, `rnn.*`, `dpnn.*`.",
    why: "`torch.factory(className)` builds whatever class the loading process registered under that name, and its `read` method (if any) runs on the file's bytes.",
    example: "`{className: \"mypkg.Loader\"}`",
    remediation: "Check that the class's package is one you trust.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "torch7/malformed",
    severity: Severity::Medium,
    summary: "The Torch7 file could not be read the way torch7's File.lua reads it.",
    detects: "An unknown type tag, a negative length, a tensor with more than 64 dimensions, sizes past the end of the file, nesting deeper than 2,000 levels; bytes after the object (low).",
    why: "What was not read cannot be judged; bytes `torch.load` never reads can hide a second payload for another reader.",
    example: "A `.t7` cut off inside a storage.",
    remediation: "Re-save the object and scan again.",
    references: REFS,
};

pub static CODES: &[&Code] = &[&OBJECT, &FUNCTION, &UNKNOWN_CLASS, &MALFORMED];

/// Class families whose objects are plain tables of fields (read by `File.lua` itself).
const KNOWN_FAMILIES: &[&str] = &["nn.", "cudnn.", "cunn.", "nngraph.", "rnn.", "dpnn."];

/// Lua functions that run commands or load code, looked for among a function's constants.
const DANGEROUS_NAMES: &[&str] = &[
    "execute",
    "popen",
    "system",
    "loadstring",
    "dofile",
    "loadfile",
    "require",
    "ffi",
    "cdef",
];

pub struct Torch7Scanner;

impl Scanner for Torch7Scanner {
    fn id(&self) -> &'static str {
        "torch7"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Torch7]
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
        let len = a.content.len();
        let src = a.content.open()?;
        let parsed = std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("torch7".into())
                .stack_size(READ_STACK)
                .spawn_scoped(s, move || {
                    parse(BufReader::with_capacity(1 << 16, src), len)
                })
                .ok()?
                .join()
                .ok()
        });
        match parsed {
            Some(p) => report(&p, a, out),
            None => out.push(malformed(
                a,
                "the file could not be read (reader thread failed)",
            )),
        }
        Ok(())
    }
}

fn malformed(a: &Artifact, why: &str) -> Finding {
    Finding::new(&MALFORMED, a.location.clone(), format!("{}: {why}", a.name))
}

fn report(p: &Parsed, a: &Artifact, out: &mut Sink) {
    let f = &p.file;
    let encoding = match f.encoding {
        Some(Encoding::Binary { long_size }) => format!("binary, {long_size}-byte longs"),
        Some(Encoding::Ascii) => "ascii".to_owned(),
        None => "unknown".to_owned(),
    };
    let classes = f
        .classes
        .iter()
        .take(40)
        .map(|(c, n)| format!("{c}×{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    out.push(
        Finding::new(
            &OBJECT,
            a.location.clone(),
            format!(
                "Torch7 file ({encoding}): {} objects; classes: {classes}",
                f.objects
            ),
        )
        .evidence("encoding", encoding)
        .evidence("objects", f.objects.to_string()),
    );
    for func in &f.functions {
        let dangerous: Vec<&str> = func
            .strings
            .iter()
            .filter(|s| DANGEROUS_NAMES.iter().any(|d| s.contains(d)))
            .map(String::as_str)
            .take(10)
            .collect();
        let mut finding = Finding::new(
            &FUNCTION,
            a.location.clone(),
            format!(
                "a Lua function ({} byte code, {} bytes, type {}) at byte {} is loaded when the file is read{}",
                func.dialect,
                func.bytecode_len,
                func.tag,
                func.offset,
                if dangerous.is_empty() {
                    String::new()
                } else {
                    format!("; its constants name {}", dangerous.join(", "))
                }
            ),
        )
        .evidence("dialect", func.dialect)
        .evidence("bytes", func.bytecode_len.to_string())
        .evidence("offset", func.offset.to_string());
        if !func.strings.is_empty() {
            finding = finding.evidence(
                "strings",
                crate::finding::clip(&func.strings.join(" "), 512),
            );
        }
        out.push(finding);
    }
    if f.functions_dropped > 0 {
        out.push(
            Finding::new(
                &FUNCTION,
                a.location.clone(),
                format!("{} more Lua functions", f.functions_dropped),
            )
            .evidence("count", f.functions_dropped.to_string()),
        );
    }
    for (class, n) in &f.classes {
        let known = element_size(class).is_some()
            || KNOWN_FAMILIES.iter().any(|fam| class.starts_with(fam));
        if !known {
            out.push(
                Finding::new(
                    &UNKNOWN_CLASS,
                    a.location.clone(),
                    format!("the file instantiates class {class} ({n} objects)"),
                )
                .evidence("class", class.clone()),
            );
        }
    }
    match &p.error {
        None if p.trailing > 0 => out.push(
            malformed(
                a,
                &format!(
                    "{} bytes follow the object; torch.load never reads them",
                    p.trailing
                ),
            )
            .severity(Severity::Low)
            .evidence("trailing-bytes", p.trailing.to_string()),
        ),
        None => {}
        Some(T7Error::TooDeep) => out.push(
            Finding::new(
                &crate::codes::engine::BUDGET_EXCEEDED,
                a.location.clone(),
                format!("objects are nested deeper than {MAX_DEPTH} levels; the rest was not read"),
            )
            .evidence("limit", "torch7-depth"),
        ),
        Some(e) => out.push(malformed(a, &e.to_string())),
    }
}
