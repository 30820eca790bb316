#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! Recognising formats from content. This is the only place that guesses what bytes are, and it
//! trusts content first: loaders choose their code path by bytes, not by name, so a scanner that
//! routes by extension sees different bytes than the loader. The name is used only to break ties
//! and to report mismatches. It sits above the format parsers ([`crate::formats`]) because some
//! readings need a parser (a protocol-0 pickle is recognised by reading its first opcodes).

use crate::format::Format;
use crate::formats::pickle::OpCode;

/// How many leading bytes [`sniff`] wants to see. Tar needs the ustar magic at offset 257.
pub const SNIFF_LEN: usize = 512;

/// Guesses the format of `head` (the first bytes of the content, up to [`SNIFF_LEN`]), with `name`
/// (the file or member name) as a secondary hint.
pub fn sniff(head: &[u8], name: &str) -> Format {
    let found = sniff_content(head, name);
    let lower = name.to_ascii_lowercase();
    let base = lower.rsplit(['/', '\\']).next().unwrap_or(&lower);
    // TensorFlow checkpoint shards and SavedModel side files are read by TensorFlow's own readers
    // only as tensors and table records, never as code: random tensor bytes that happen to look
    // like a pickle or zlib header must not raise alarms. Formats with a real magic number stay.
    if is_tf_data_name(base) && !(found.is_archive() || found.identifies_itself()) {
        return Format::Data;
    }
    found
}

/// Actually Portable Executable magics (cosmopolitan's `MZqFpD='` and its `jartsr='` variant):
/// llamafile starts with one.
const APE_MAGICS: &[&[u8]] = &[b"MZqFpD='", b"jartsr='"];

/// Mach-O magics (64- and 32-bit, both byte orders, and the universal "fat" header).
const MACHO: &[[u8; 4]] = &[
    [0xcf, 0xfa, 0xed, 0xfe],
    [0xce, 0xfa, 0xed, 0xfe],
    [0xfe, 0xed, 0xfa, 0xcf],
    [0xfe, 0xed, 0xfa, 0xce],
    [0xca, 0xfe, 0xba, 0xbe],
];

/// What kind of program `head` starts, if any: APE, ELF, PE, Mach-O or a `#!` script.
pub fn program_kind(head: &[u8]) -> Option<&'static str> {
    if APE_MAGICS.iter().any(|m| head.starts_with(m)) {
        return Some("Actually Portable Executable (llamafile)");
    }
    if head.starts_with(b"\x7fELF") {
        return Some("ELF executable");
    }
    if head.starts_with(b"MZ") {
        return Some("PE (Windows) executable");
    }
    if MACHO.iter().any(|m| head.starts_with(m)) {
        return Some("Mach-O executable");
    }
    if head.starts_with(b"#!") {
        return Some("script with a #! interpreter line");
    }
    None
}

/// A program where a model is expected: an APE anywhere (nothing but a program starts so), and
/// other programs under a name that says "model" (`.llamafile`, `.bin` as in `pytorch_model.bin`,
/// and every model extension: `.gguf`, `.pt`, …). A
/// `#!` script under such a name counts only with binary bytes in its head (a payload after the
/// script). Plain binaries under ordinary names (an image's `/usr/bin`) are not models.
fn is_program(head: &[u8], base: &str) -> bool {
    if APE_MAGICS.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    let model_name = base.ends_with(".llamafile")
        || base.ends_with(".bin")
        || crate::format::model_like_name(base);
    match program_kind(head) {
        Some(k) if k.starts_with('s') => {
            model_name && (head.contains(&0) || base.ends_with(".llamafile"))
        }
        Some(_) => model_name,
        None => false,
    }
}

/// `variables.index`, `fingerprint.pb` and checkpoint shards `*.data-00000-of-00001` (by base
/// name). TensorFlow reads these only as tensors and table records; the engine still walks them
/// as pickles (leniently) because names never decide that bytes are harmless.
pub fn is_tf_data_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let base = lower.rsplit(['/', '\\']).next().unwrap_or(&lower);
    if base == "variables.index" || base == "fingerprint.pb" {
        return true;
    }
    // `<stem>.data-NNNNN-of-NNNNN`
    let Some((_, tail)) = base.rsplit_once(".data-") else {
        return false;
    };
    let mut parts = tail.split("-of-");
    let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !a.is_empty()
        && !b.is_empty()
        && a.bytes().all(|c| c.is_ascii_digit())
        && b.bytes().all(|c| c.is_ascii_digit())
}

/// The XML model formats, by their root element (or, when a long prolog pushes the root past
/// the head, by the DOCTYPE's root name): `<PMML>`, and `<net>` for OpenVINO IR when the name
/// is an `.xml` or `<layers>` follows (a `<net>` root alone is too common a word to claim every
/// such document). A `.pmml` name whose content is not XML at all still goes to the PMML
/// scanner, which reports what is wrong.
fn xml_model(head: &[u8], base: &str) -> Option<Format> {
    let root = crate::formats::xml::root_name(head);
    let local = root.as_deref().map(crate::formats::xml::local_name);
    match local {
        Some("PMML") => Some(Format::Pmml),
        Some("net") if base.ends_with(".xml") || contains(head, b"<layers") => {
            Some(Format::OpenVinoIr)
        }
        _ if base.ends_with(".pmml") => Some(Format::Pmml),
        _ => None,
    }
}

/// Whether `head` starts (after whitespace and a BOM) like a JSON document a lenient reader
/// accepts: an object, an array (sentence-transformers' `modules.json`), or a comment.
fn starts_json_document(head: &[u8]) -> bool {
    let h = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    matches!(
        h.iter().find(|c| !c.is_ascii_whitespace()),
        Some(b'{' | b'[' | b'/')
    )
}

/// The head of a UTF-16 or UTF-32 JSON document (by BOM or by the zero bytes of its first
/// four, as Python's `json.detect_encoding` decides), decoded; `None` for anything else.
fn wide_json_head(head: &[u8]) -> Option<String> {
    let (body, width, be) = match head {
        [0, 0, 0xfe, 0xff, r @ ..] => (r, 4, true),
        [0xff, 0xfe, 0, 0, r @ ..] => (r, 4, false),
        [0xfe, 0xff, r @ ..] => (r, 2, true),
        [0xff, 0xfe, r @ ..] => (r, 2, false),
        [0, 0, _, _, ..] => (head, 4, true),
        [0, _, _, _, ..] => (head, 2, true),
        [_, 0, 0, 0, ..] => (head, 4, false),
        [_, 0, _, _, ..] => (head, 2, false),
        _ => return None,
    };
    let text: String = body
        .chunks_exact(width)
        .map(|c| {
            let v = match (c, be) {
                ([a, b], true) => u32::from(u16::from_be_bytes([*a, *b])),
                ([a, b], false) => u32::from(u16::from_le_bytes([*a, *b])),
                ([a, b, c, d], true) => u32::from_be_bytes([*a, *b, *c, *d]),
                ([a, b, c, d], false) => u32::from_le_bytes([*a, *b, *c, *d]),
                _ => 0,
            };
            char::from_u32(v).unwrap_or('\u{fffd}')
        })
        .collect();
    matches!(text.trim_start().chars().next(), Some('{' | '[')).then_some(text)
}

fn sniff_content(head: &[u8], name: &str) -> Format {
    let lower = name.to_ascii_lowercase();
    let base = lower.rsplit(['/', '\\']).next().unwrap_or(&lower);
    let b = |i: usize| head.get(i).copied();

    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Format::Zip;
    }
    if is_program(head, base) {
        return Format::Executable;
    }
    // A TensorRT plan's tag, or the JSON metadata prefix Ultralytics puts before one (a 32-bit
    // length then `{`, under an engine's name).
    if head.starts_with(crate::formats::tensorrt::PLAN_MAGIC)
        || (crate::formats::tensorrt::ultralytics_prefix(head).is_some()
            && (base.ends_with(".engine") || base.ends_with(".plan") || base.ends_with(".trt")))
    {
        return Format::TensorRtEngine;
    }
    if head.starts_with(b"\x93NUMPY") {
        return Format::Numpy;
    }
    if head.starts_with(b"GGUF") {
        return Format::Gguf;
    }
    if head.starts_with(b"lmgg") || head.starts_with(b"tjgg") || head.starts_with(b"fmgg") {
        return Format::Ggml;
    }
    if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        return Format::Hdf5;
    }
    if head.starts_with(b"7z\xbc\xaf\x27\x1c") {
        return Format::SevenZip;
    }
    if crate::formats::rar::is_rar(head) {
        return Format::Rar;
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Format::Gzip;
    }
    if head.starts_with(b"BZh") && b(3).is_some_and(|c| (b'1'..=b'9').contains(&c)) {
        return Format::Bzip2;
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Format::Xz;
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Format::Zstd;
    }
    if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        return Format::Lz4;
    }
    if head.len() >= 8 && head.get(4..8) == Some(b"TFL3") {
        return Format::Tflite;
    }
    if head.len() >= 8 && head.get(4..8) == Some(b"ORTM") {
        return Format::Ort;
    }
    // ExecuTorch checks only this identifier (`ProgramBufferHasIdentifier`); other `ET..`
    // versions are refused and reach the scanner by a `.pte` name below.
    if head.len() >= 8 && head.get(4..8) == Some(&crate::formats::executorch::IDENTIFIER[..]) {
        return Format::ExecuTorch;
    }
    if head.len() >= 262 && head.get(257..262) == Some(b"ustar") {
        return Format::Tar;
    }
    if let Some(f) = native_model(head) {
        return f;
    }
    // Lua Torch7 (`torch.save`): a torch object or table tag, index 1, then a class or key.
    if crate::formats::torch7::looks_like_t7(head) {
        return Format::Torch7;
    }
    // R: `saveRDS` streams (`X\n`, `B\n`, `A\n` then version 2 or 3) and `save` workspaces
    // (`RDX3\n`, …).
    if crate::formats::rds::looks_like_r(head) {
        return Format::RSerialized;
    }
    // Legacy torch: pickle of the magic number 0x1950a86a20f9469cfc6c (`80 02 8a 0a 6c fc 9c 46`).
    if head.starts_with(&[0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46]) {
        return Format::PytorchLegacy;
    }
    // Before the pickle check: a safetensors header length such as 0x0480 starts with the bytes
    // of a protocol-4 PROTO opcode. The safetensors scanner hands files whose header turns out to
    // be invalid to the pickle scanner when they also look like a pickle.
    if looks_like_safetensors(head) {
        return Format::Safetensors;
    }
    // Only structure identifies a pickle here: a PROTO (or FRAME) opcode first. Streams that
    // start with a text opcode (`c`, `(`, `I`, `S`, …) or decode as opcodes for a while are
    // left to the engine's fallback pickle reading (see `crate::readings`), which applies the
    // full policy only when a loader would really run them: a label file `cat\ndog\n` reads as
    // the import `at.dog`, and must not raise alarms.
    if pickle_by_structure(head) {
        return Format::Pickle;
    }
    // A `{"` right after the 8-byte length, whatever the length says: still safetensors, so the
    // impossible length is reported rather than the file skipped.
    // A `.json` document is never that: a file whose first bytes are JSON text (`{"foo": {"…`)
    // has a length no safetensors loader accepts, and Keras and the other JSON readers take it
    // as JSON (a Keras `config.json` whose nested object starts at byte 8 must reach the Keras
    // policy).
    if head.get(8..10) == Some(b"{\"") && !(base.ends_with(".json") && starts_json_document(head)) {
        return Format::Safetensors;
    }
    if looks_like_zlib(head, head.len() < SNIFF_LEN) {
        return Format::Zlib;
    }
    if joblib_zfile_offset(head).is_some() {
        return Format::JoblibZfile;
    }
    // lzma "alone" format: properties byte 0x5d then a little-endian dictionary size.
    if head.starts_with(&[0x5d, 0x00, 0x00]) && (base.ends_with(".lzma") || head.len() >= 13) {
        return Format::Lzma;
    }
    // A Flax state dict (`flax.serialization.to_bytes`): a MessagePack map whose first key reads.
    // After the compressions: a zlib or lzma header is never a MessagePack map marker.
    if crate::formats::msgpack::looks_like_state_dict(head, head.len() < SNIFF_LEN) {
        return Format::FlaxMsgpack;
    }
    if let Some(f) = xml_model(head, base) {
        return f;
    }
    if base == "saved_model.pb" {
        return Format::SavedModel;
    }
    if base == "keras_metadata.pb" {
        return Format::KerasMetadata;
    }
    // Paddle: a ProgramDesc's first block (index 0, parent -1), and a parameters file's first
    // tensor record; by name when the content says nothing (`.pdmodel` has no magic).
    if crate::formats::paddle::looks_like_program(head)
        || base.ends_with(".pdmodel")
        || base == "__model__"
    {
        return Format::PaddleProgram;
    }
    if crate::formats::paddle::looks_like_params(head) || base.ends_with(".pdiparams") {
        return Format::PaddleParams;
    }
    // Core ML models are protobufs without a magic number: the name decides (a `.mlmodel`
    // starts like an ONNX model, field 1 varint then field 2).
    if base.ends_with(".mlmodel") {
        return Format::CoreMl;
    }
    if base.ends_with(".onnx") || looks_like_onnx(head) {
        return Format::Onnx;
    }
    if base == "saved_model.pbtxt" {
        return Format::SavedModelText;
    }
    // JSON in UTF-16/UTF-32, which Python's `json.loads(bytes)` decodes (Keras 3 reads a
    // `.keras` archive's `config.json` that way): a Keras config when its decoded head says so.
    if base.ends_with(".json") {
        if let Some(text) = wide_json_head(head) {
            let t = text.as_bytes();
            if contains(t, b"\"class_name\"")
                && (contains(t, b"\"config\"") || contains(t, b"\"module\""))
            {
                return Format::KerasConfig;
            }
        }
    }
    if base.ends_with(".json") && starts_json_document(head) {
        // A Keras object config: `{"module": …, "class_name": …, "config": …}`. Anything else
        // (or a Keras config whose keys come later) is a JsonConfig; the scanner decides by the
        // parsed structure either way.
        if contains(head, b"\"class_name\"")
            && (contains(head, b"\"config\"") || contains(head, b"\"module\""))
        {
            return Format::KerasConfig;
        }
        // skops' `schema.json`: every node names its loader, module and class (`skops.io.dump`
        // writes them first; the zip walker also assigns a top-level `schema.json` by path).
        if contains(head, b"\"__loader__\"") && contains(head, b"\"__module__\"") {
            return Format::SkopsSchema;
        }
        // TorchServe's `MAR-INF/MANIFEST.json` (torch-model-archiver writes `runtime` and a
        // `model` object with `modelName` and `handler`; the zip walker also assigns it by path).
        if contains(head, b"\"runtime\"")
            && (contains(head, b"\"modelName\"") || contains(head, b"\"handler\""))
        {
            return Format::TorchServeManifest;
        }
        return Format::JsonConfig;
    }
    if base == "mlmodel" {
        return Format::MlflowModel;
    }
    // NeMo restores a model from the config of this exact name in the extracted `.nemo` archive
    // (`SaveRestoreConnector.model_config_yaml`), whatever it holds.
    if base == "model_config.yaml" {
        return Format::NemoConfig;
    }
    if base.ends_with(".yaml") || base.ends_with(".yml") {
        return Format::Yaml;
    }
    if base.starts_with("requirements") && base.ends_with(".txt") {
        return Format::Requirements;
    }
    if base.ends_with(".jinja") || base.ends_with(".jinja2") || base.ends_with(".j2") {
        return Format::JinjaTemplate;
    }
    if base.ends_with(".py") {
        return Format::Python;
    }
    // Content matched nothing: a file named like a format that has a strict header goes to that
    // format's scanner, which reports precisely what is wrong (truncated, bad magic) instead of
    // the file being skipped.
    if base.ends_with(".safetensors") {
        return Format::Safetensors;
    }
    if base.ends_with(".gguf") {
        return Format::Gguf;
    }
    if base.ends_with(".tflite") {
        return Format::Tflite;
    }
    if base.ends_with(".ort") {
        return Format::Ort;
    }
    if base.ends_with(".pte") {
        return Format::ExecuTorch;
    }
    // Native model formats by name: XGBoost's own loader reads any `.bst`/`.ubj`, CatBoost
    // reads `.cbm`, MXNet `.params` and Flax `.msgpack`; their scanners report what is wrong.
    if base.ends_with(".ubj") || base.ends_with(".bst") {
        return Format::Xgboost;
    }
    if base.ends_with(".cbm") {
        return Format::Catboost;
    }
    if base.ends_with(".params") {
        return Format::MxnetParams;
    }
    if base.ends_with(".msgpack") {
        return Format::FlaxMsgpack;
    }
    if base.ends_with(".t7") {
        return Format::Torch7;
    }
    if base.ends_with(".engine") || base.ends_with(".plan") || base.ends_with(".trt") {
        return Format::TensorRtEngine;
    }
    // A pre-POSIX (v7) tar has no `ustar` magic; Python's tarfile (and torch.load's legacy tar
    // path) accept any first block whose checksum is valid.
    if tar_header_ok(head) {
        return Format::Tar;
    }
    Format::Unknown
}

/// The native (non-pickle) model formats recognised by their first bytes: CatBoost's `CBM1`,
/// XGBoost's `binf` and its JSON and UBJSON documents (`{"learner": {`), LightGBM's
/// `tree\nversion=`, MXNet's NDArray list magic and symbol graphs (`{"nodes": [{"op"…`).
/// Checked before safetensors and pickles, whose sniffing is looser: an NDArray list's magic
/// reads as a plausible safetensors header length.
fn native_model(head: &[u8]) -> Option<Format> {
    use crate::formats::{lightgbm, mxnet, xgboost};
    if head.starts_with(crate::formats::catboost::MAGIC) {
        return Some(Format::Catboost);
    }
    if head.starts_with(b"binf") || xgboost::looks_like_model(head) {
        return Some(Format::Xgboost);
    }
    if lightgbm::looks_like_model(head) {
        return Some(Format::Lightgbm);
    }
    if mxnet::looks_like_params(head) {
        return Some(Format::MxnetParams);
    }
    if mxnet::looks_like_symbol(head) {
        return Some(Format::MxnetSymbol);
    }
    None
}

/// Whether `head` starts with a 512-byte block that Python's `tarfile` accepts as a header: not
/// all NUL, and a checksum field (octal, NUL-terminated, whitespace allowed, or base-256) equal
/// to the unsigned or the signed sum of the block with the checksum field counted as spaces.
/// The `ustar` magic is not required.
pub fn tar_header_ok(head: &[u8]) -> bool {
    let Some(block) = head.get(..512) else {
        return false;
    };
    if block.iter().all(|&b| b == 0) {
        return false;
    }
    let Some(field) = block.get(148..156) else {
        return false;
    };
    let Some(declared) = tar_number(field) else {
        return false;
    };
    let (mut unsigned, mut signed) = (256i64, 256i64);
    for (i, &b) in block.iter().enumerate() {
        if (148..156).contains(&i) {
            continue;
        }
        unsigned = unsigned.saturating_add(i64::from(b));
        signed = signed.saturating_add(i64::from(b as i8));
    }
    declared == unsigned || declared == signed
}

/// tarfile's `nti`: base-256 when the first byte is 0x80 or 0xff, else the text up to the first
/// NUL, stripped, parsed by Python's `int(text or "0", 8)`.
pub fn tar_number(field: &[u8]) -> Option<i64> {
    let (&first, rest) = field.split_first()?;
    if first == 0x80 || first == 0xff {
        let mut n: i128 = 0;
        for &b in rest {
            n = (n << 8) | i128::from(b);
        }
        if first == 0xff {
            let bits = u32::try_from(rest.len().checked_mul(8)?).ok()?;
            n = n.checked_sub(1i128.checked_shl(bits)?)?;
        }
        return i64::try_from(n).ok();
    }
    let text = field.split(|&b| b == 0).next().unwrap_or_default();
    if !text.is_ascii() {
        return None;
    }
    let is_space = |b: &u8| b.is_ascii_whitespace() || (0x1c..=0x1f).contains(b) || *b == 0x0b;
    let start = text.iter().position(|b| !is_space(b)).unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |e| e.saturating_add(1));
    let t = text.get(start..end).unwrap_or_default();
    if t.is_empty() {
        return Some(0);
    }
    python_int_base8(t)
}

/// Python's `int(t, 8)` for already-stripped ASCII: an optional sign, an optional `0o` prefix,
/// octal digits with single underscores between them.
fn python_int_base8(t: &[u8]) -> Option<i64> {
    let (neg, t) = match t.split_first() {
        Some((b'-', r)) => (true, r),
        Some((b'+', r)) => (false, r),
        _ => (false, t),
    };
    let t = match t {
        [b'0', b'o' | b'O', r @ ..] => {
            // `0o_7` is valid: an underscore may follow the prefix.
            r.strip_prefix(b"_").unwrap_or(r)
        }
        _ => t,
    };
    if t.is_empty() || t.first() == Some(&b'_') || t.last() == Some(&b'_') {
        return None;
    }
    let mut n: i64 = 0;
    let mut prev_us = false;
    for &b in t {
        if b == b'_' {
            if prev_us {
                return None;
            }
            prev_us = true;
            continue;
        }
        prev_us = false;
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        n = n
            .checked_mul(8)?
            .checked_add(i64::from(b.saturating_sub(b'0')))?;
    }
    Some(if neg { n.checked_neg()? } else { n })
}

/// Where the zlib stream of a legacy joblib z-file starts: after `ZF`, an optional `0x`, hex
/// digits, an optional `L` (Python 2 longs) and padding spaces. The field's width changed across
/// joblib and Python versions (17–20 characters), so it is parsed rather than assumed.
pub fn joblib_zfile_offset(head: &[u8]) -> Option<usize> {
    joblib_zfile_field(head).or_else(|| {
        // joblib's own `read_zfile`: a 19-byte field read by `int(field, 16)` (which also takes
        // `0X`, upper-case digits, underscores and any whitespace), then one optional space.
        let at = if head.get(21) == Some(&b' ') { 22 } else { 21 };
        (head.starts_with(b"ZF") && looks_like_zlib(head.get(at..)?, head.len() < SNIFF_LEN))
            .then_some(at)
    })
}

fn joblib_zfile_field(head: &[u8]) -> Option<usize> {
    let rest = head.strip_prefix(b"ZF")?;
    let rest = rest.strip_prefix(b"0x").unwrap_or(rest);
    let digits = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return None;
    }
    let rest = rest.get(digits..)?;
    let rest = rest.strip_prefix(b"L").unwrap_or(rest);
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    if spaces == 0 {
        return None;
    }
    let offset = head.len().saturating_sub(rest.len()).saturating_add(spaces);
    looks_like_zlib(head.get(offset..)?, head.len() < SNIFF_LEN).then_some(offset)
}

/// A zlib stream (joblib's default compression): the standard 32 KiB-window header (`0x78`, the
/// only one zlib and joblib write) with a valid check value, *and* a head that inflates without
/// error. The header alone matches about one random file in 500 and text such as `x ` or `80`;
/// a wrong guess would turn an ordinary file into a decompression error.
fn looks_like_zlib(head: &[u8], complete: bool) -> bool {
    let (Some(&cmf), Some(&flg)) = (head.first(), head.get(1)) else {
        return false;
    };
    if cmf != 0x78 || !(u16::from(cmf) << 8 | u16::from(flg)).is_multiple_of(31) || flg & 0x20 != 0
    {
        return false;
    }
    // Inflate up to 64 KiB of output through a small buffer (zeroing 64 KiB per sniffed file
    // showed up in directory scans).
    let max_out: u64 = 64 * 1024;
    let mut out = [0u8; 4096];
    let mut z = flate2::Decompress::new(true);
    loop {
        let (in0, out0) = (z.total_in(), z.total_out());
        let input = usize::try_from(in0)
            .ok()
            .and_then(|i| head.get(i..))
            .unwrap_or_default();
        match z.decompress(input, &mut out, flate2::FlushDecompress::None) {
            Ok(flate2::Status::StreamEnd) => return z.total_out() > 0,
            Ok(_) => {
                let filled = z.total_out().saturating_sub(out0) == out.len() as u64;
                if filled && z.total_out() < max_out {
                    continue;
                }
                // 64 KiB inflated without an error: random bytes never get this far, so this is
                // a zlib stream however short the input and however high its ratio (a bomb is
                // the walker's budgets' business, not a reason to leave the content unread).
                if filled {
                    return true;
                }
                // The head is all there is (a short file): the stream must end inside it.
                return !complete && (z.total_out() > 0 || z.total_in() == head.len() as u64);
            }
            Err(_) => return false,
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A pickle identified by structure: PROTO with a known protocol, or a protocol-4 FRAME header
/// followed by an opcode.
pub fn pickle_by_structure(head: &[u8]) -> bool {
    match head {
        [0x80, p, ..] => *p <= 5,
        [0x95, rest @ ..] => rest.get(8).is_some_and(|&b| OpCode::from_byte(b).is_some()),
        _ => false,
    }
}

/// [`sniff`] for bytes embedded where no format is expected (trailing or hidden regions, bytes
/// handed to an unvetted callable): text-opcode pickles count as pickles here, since anything
/// recognisable in such a place is worth a nested scan.
pub fn sniff_embedded(head: &[u8], name: &str) -> Format {
    match sniff(head, name) {
        Format::Unknown if pickle_like(head) => Format::Pickle,
        f => f,
    }
}

/// Whether `head` looks like the start of a pickle stream of any protocol, including text-opcode
/// starts (weak evidence: used where a pickle is expected anyway, never to call bytes harmless).
pub fn pickle_like(head: &[u8]) -> bool {
    looks_like_pickle(head) || crate::formats::pickle::reader::plausible_pickle(head)
}

/// Protocol 2+ pickles start with PROTO; protocol 0/1 pickles start with an opcode that can begin a
/// stream and is followed by plausible operand bytes. The check is deliberately generous: the
/// pickle reader is cheap and reports malformed input, while a miss here would be a bypass (C1, C5).
pub fn looks_like_pickle(head: &[u8]) -> bool {
    match head {
        [0x80, p, ..] => *p <= 5,
        // GLOBAL 'module\nname\n' — the classic protocol-0 payload start.
        [b'c', rest @ ..] => {
            let line = rest.iter().take(256).position(|&c| c == b'\n');
            line.is_some_and(|n| {
                n > 0
                    && rest.get(..n).is_some_and(|m| {
                        m.iter()
                            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
                    })
            })
        }
        // INST, MARK-led collections, empty containers, ints, strings, NONE, PERSID.
        [b'(', next, ..] => is_opcode_start(*next),
        [b'}' | b']' | b')', next, ..] => is_opcode_start(*next) || *next == b'.',
        [b'I' | b'L', rest @ ..] => {
            let line = rest.iter().take(32).position(|&c| c == b'\n');
            line.is_some_and(|n| {
                n > 0
                    && rest.get(..n).is_some_and(|d| {
                        d.iter()
                            .all(|&c| c.is_ascii_digit() || c == b'-' || c == b'L' || c == b'0')
                    })
            })
        }
        [b'S' | b'V', b'\'' | b'"', ..] => true,
        [b'N', b'.', ..] => true,
        [b'J' | b'K' | b'M', ..] if head.len() >= 3 => false,
        _ => false,
    }
}

fn is_opcode_start(c: u8) -> bool {
    // Opcodes that legitimately follow MARK or an empty container at the start of a protocol 0/1 stream.
    matches!(
        c,
        b'c' | b'i'
            | b'('
            | b'S'
            | b'V'
            | b'I'
            | b'L'
            | b'F'
            | b'N'
            | b'd'
            | b'l'
            | b't'
            | b'}'
            | b']'
            | b')'
            | b'q'
            | b'p'
            | b'g'
            | b'h'
            | b'X'
            | b'U'
            | b'T'
            | b'J'
            | b'K'
            | b'M'
            | b'G'
            | b'0'
            | b'2'
            | b'u'
            | b'a'
            | b'e'
            | b's'
            | b'b'
            | b'R'
            | b'o'
            | b'\x88'
            | b'\x89'
            | b'\x8c'
            | b'\x93'
            | b'\x94'
    )
}

fn looks_like_safetensors(head: &[u8]) -> bool {
    let Some(len_bytes) = head.get(..8) else {
        return false;
    };
    let mut le = [0u8; 8];
    le.copy_from_slice(len_bytes);
    let n = u64::from_le_bytes(le);
    // The format requires `{` first; lenient JSON parsers also accept leading whitespace.
    let first = head
        .iter()
        .skip(8)
        .take(usize::try_from(n).unwrap_or(usize::MAX))
        .find(|c| !c.is_ascii_whitespace());
    (2..=100_000_000).contains(&n) && first == Some(&b'{')
}

/// An ONNX ModelProto almost always starts with field 1 (`ir_version`, varint, tag 0x08) followed
/// by a small version number, then field 2..8 strings or opset imports.
fn looks_like_onnx(head: &[u8]) -> bool {
    // Next field: producer_name(2), producer_version(3), domain(4), model_version(5, varint),
    // doc_string(6), graph(7), opset_import(8), metadata_props(14), training_info(20, two-byte
    // tag), functions(25, two-byte tag).
    matches!(head, [0x08, v, next, ..] if (3..=20).contains(v)
        && matches!(next, 0x12 | 0x1a | 0x22 | 0x28 | 0x2a | 0x32 | 0x3a | 0x42 | 0x72 | 0xa2 | 0xca))
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

    /// A first few bytes and a name that [`sniff`] recognises as each format it can return. A
    /// format that [`Format::is_sniffed`] says is sniffed and has no sample here fails this test,
    /// so a new format cannot be added to the enum without its recognition being exercised.
    fn samples() -> Vec<(Format, Vec<u8>, &'static str)> {
        let mut tar = vec![0u8; 512];
        tar[..4].copy_from_slice(b"file");
        tar[257..262].copy_from_slice(b"ustar");
        let mut st = 16u64.to_le_bytes().to_vec();
        st.extend_from_slice(b"{\"a\":{\"dtype\":1}}");
        vec![
            (
                Format::Pickle,
                b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00N.".to_vec(),
                "m.pkl",
            ),
            (
                Format::PytorchLegacy,
                b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20".to_vec(),
                "m.pt",
            ),
            (Format::Zip, b"PK\x03\x04rest".to_vec(), "m.zip"),
            (Format::Tar, tar, "m.tar"),
            (
                Format::SevenZip,
                b"7z\xbc\xaf\x27\x1c\x00\x04".to_vec(),
                "m.7z",
            ),
            (Format::Rar, b"Rar!\x1a\x07\x01\x00\x33".to_vec(), "m.rar"),
            (Format::Gzip, b"\x1f\x8b\x08\x00".to_vec(), "m.gz"),
            (Format::Bzip2, b"BZh91AY&SY".to_vec(), "m.bz2"),
            (Format::Xz, b"\xfd7zXZ\x00\x00".to_vec(), "m.xz"),
            (
                Format::Lzma,
                b"\x5d\x00\x00\x80\x00\xff\xff\xff\xff\xff\xff\xff\xff\x00".to_vec(),
                "m.lzma",
            ),
            (
                Format::Zlib,
                b"\x78\x9c\xcb\x48\xcd\xc9\xc9\x07\x00\x06\x2c\x02\x15".to_vec(),
                "m.z",
            ),
            (Format::Zstd, b"\x28\xb5\x2f\xfd\x00".to_vec(), "m.zst"),
            (Format::Lz4, b"\x04\x22\x4d\x18\x64".to_vec(), "m.lz4"),
            (Format::Numpy, b"\x93NUMPY\x01\x00".to_vec(), "m.npy"),
            (Format::Safetensors, st, "m.safetensors"),
            (Format::Gguf, b"GGUF\x03\x00\x00\x00".to_vec(), "m.gguf"),
            (Format::Ggml, b"lmgg\x00\x00".to_vec(), "m.bin"),
            (Format::Onnx, b"\x08\x07\x12\x04test".to_vec(), "m.onnx"),
            (Format::Hdf5, b"\x89HDF\r\n\x1a\n".to_vec(), "m.h5"),
            (
                Format::KerasConfig,
                b"{\"class_name\": \"Sequential\", \"config\": {}}".to_vec(),
                "config.json",
            ),
            (
                Format::SavedModel,
                b"\x08\x01\x12\x00".to_vec(),
                "saved_model.pb",
            ),
            (
                Format::KerasMetadata,
                b"\x0a\x00".to_vec(),
                "keras_metadata.pb",
            ),
            (Format::Tflite, b"\x1c\x00\x00\x00TFL3".to_vec(), "m.tflite"),
            (Format::Ort, b"\x1c\x00\x00\x00ORTM".to_vec(), "m.ort"),
            (
                Format::ExecuTorch,
                b"\x30\x00\x00\x00ET12eh00".to_vec(),
                "weights.bin",
            ),
            (Format::Python, b"import os\n".to_vec(), "modeling.py"),
            (
                Format::Data,
                b"\x00\x01\x02\x03".to_vec(),
                "variables/variables.data-00000-of-00001",
            ),
            (
                Format::JsonConfig,
                b"{\"architectures\": []}".to_vec(),
                "config.json",
            ),
            (Format::Yaml, b"a: 1\n".to_vec(), "config.yaml"),
            (
                Format::NemoConfig,
                b"target: nemo.collections.asr.models.EncDecCTCModel\n".to_vec(),
                "model_config.yaml",
            ),
            (Format::MlflowModel, b"flavors: {}\n".to_vec(), "MLmodel"),
            (
                Format::Requirements,
                b"torch==2.5.0\n".to_vec(),
                "requirements.txt",
            ),
            (
                Format::SavedModelText,
                b"saved_model_schema_version: 1\n".to_vec(),
                "saved_model.pbtxt",
            ),
            (
                Format::JoblibZfile,
                b"ZF0x5       \x78\x9c\xcb\x48\xcd\xc9\xc9\x07\x00\x06\x2c\x02\x15".to_vec(),
                "m.pkl.z",
            ),
            (
                Format::JinjaTemplate,
                b"{{ x }}".to_vec(),
                "chat_template.jinja",
            ),
            (
                Format::TorchServeManifest,
                b"{\"runtime\": \"python\", \"model\": {\"modelName\": \"m\", \"handler\": \"h.py\"}}"
                    .to_vec(),
                "MANIFEST.json",
            ),
            (
                Format::SkopsSchema,
                b"{\"__class__\": \"Pipeline\", \"__module__\": \"sklearn.pipeline\", \"__loader__\": \"ObjectNode\"}"
                    .to_vec(),
                "schema.json",
            ),
            (
                Format::RSerialized,
                b"X\n\x00\x00\x00\x03\x00\x04\x02\x02".to_vec(),
                "model.rds",
            ),
            (
                Format::PaddleProgram,
                b"\x0a\x20\x08\x00\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01".to_vec(),
                "inference.pdmodel",
            ),
            (
                Format::PaddleParams,
                b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x06\0\0\0\x08\x05\x12\x02\x02\x03".to_vec(),
                "inference.pdiparams",
            ),
            (
                Format::Torch7,
                b"\x04\0\0\0\x01\0\0\0\x03\0\0\0V 1\x0d\0\0\0nn.Sequential".to_vec(),
                "model.t7",
            ),
            (Format::Executable, b"MZqFpD='\n\n".to_vec(), "mistral-7b"),
            (
                Format::Xgboost,
                b"{\"learner\":{\"attributes\":{}".to_vec(),
                "model.json",
            ),
            (
                Format::Lightgbm,
                b"tree\nversion=v4\nnum_class=1\n".to_vec(),
                "model.txt",
            ),
            (Format::Catboost, b"CBM1\x10\x00\x00\x00".to_vec(), "model"),
            (
                Format::FlaxMsgpack,
                b"\x81\xa6params\x81\xa4bias\xc0".to_vec(),
                "checkpoint_1",
            ),
            (
                Format::MxnetSymbol,
                b"{\n  \"nodes\": [\n    {\n      \"op\": \"null\"".to_vec(),
                "net-symbol.json",
            ),
            (
                Format::MxnetParams,
                b"\x12\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0".to_vec(),
                "net-0000.params",
            ),
            (
                Format::Pmml,
                b"<?xml version=\"1.0\"?>\n<PMML version=\"4.4\">".to_vec(),
                "model.xml",
            ),
            (
                Format::CoreMl,
                b"\x08\x04\x12\x00".to_vec(),
                "model.mlmodel",
            ),
            (
                Format::TensorRtEngine,
                b"ftrt\x00\x00\x00\x00\xef\x00\x00\x00".to_vec(),
                "model.bin",
            ),
            (
                Format::OpenVinoIr,
                b"<?xml version=\"1.0\"?>\n<net name=\"m\" version=\"11\">\n<layers>".to_vec(),
                "openvino_model.xml",
            ),
            (Format::Unknown, b"plain text\n".to_vec(), "README"),
        ]
    }

    #[test]
    fn every_sniffed_format_has_a_recognised_sample() {
        let samples = samples();
        for (want, head, name) in &samples {
            assert_eq!(sniff(head, name), *want, "{name}");
        }
        for &f in Format::ALL {
            assert_eq!(
                samples.iter().any(|(g, _, _)| *g == f),
                f.is_sniffed(),
                "{f:?}: is_sniffed() and the samples disagree"
            );
        }
    }

    #[test]
    fn sniffs_by_content_not_name() {
        assert_eq!(
            sniff(b"\x80\x04\x95\x10\x00", "model.safetensors"),
            Format::Pickle
        );
        assert_eq!(sniff(b"PK\x03\x04rest", "weights.pkl"), Format::Zip);
        // Text-opcode starts are read by the engine's fallback pickle reading, not by sniffing.
        assert_eq!(
            sniff(b"cos\nsystem\n(S'true'\ntR.", "x.txt"),
            Format::Unknown
        );
        assert!(pickle_like(b"(dp0\nS'a'\np1\nI1\ns."));
        assert_eq!(
            sniff(
                &[0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9],
                "m.pt"
            ),
            Format::PytorchLegacy
        );
        assert_eq!(sniff(b"\x93NUMPY\x01\x00", "a"), Format::Numpy);
        // zlib needs a head that really inflates: see zlib_tests.
        assert_eq!(sniff(&[0x78, 0x9c, 1, 2], "m.joblib"), Format::Unknown);
        assert_eq!(sniff(b"hello world", "README"), Format::Unknown);
        assert!(pickle_like(
            b"\x8c\x02os\x8c\x06system\x93\x8c\x04true\x85R."
        ));
        assert!(pickle_like(b"L0x1950A86A20F9469CFC6CL\n.\x80\x02"));
        // JSON is not a pickle; model-side JSON configs go to the config scanner.
        assert_eq!(sniff(b"{\"a\": [1, 2, 3]}", "x.json"), Format::JsonConfig);
        assert_eq!(sniff(b"\x10\0\0", "w.safetensors"), Format::Safetensors);
        assert_eq!(sniff(b"GGU", "m.gguf"), Format::Gguf);
        // ONNX with an unusual extension: ir_version 8, then opset_import or model_version.
        assert_eq!(
            sniff(&[0x08, 0x08, 0x42, 0x04], "weights.bin"),
            Format::Onnx
        );
        assert_eq!(sniff(&[0x08, 0x07, 0x28, 0x01], "m.model"), Format::Onnx);
    }

    #[test]
    fn model_side_files() {
        assert_eq!(
            sniff(
                b"{\"module\": \"keras\", \"class_name\": \"Sequential\", \"config\": {}}",
                "config.json"
            ),
            Format::KerasConfig
        );
        assert_eq!(
            sniff(b"  {\"auto_map\": {}}", "config.json"),
            Format::JsonConfig
        );
        // A nested object at byte 8 (`{"foo": {"`) is JSON, not a safetensors length.
        assert_eq!(
            sniff(
                b"{\"foo\": {\"module\": \"keras\", \"class_name\": \"Sequential\", \"config\": {}}}",
                "config.json"
            ),
            Format::KerasConfig
        );
        assert_eq!(
            sniff(b"{\"abc\": {\"x\": 1}}", "config.json"),
            Format::JsonConfig
        );
        // UTF-16 with and without a BOM, as Python's json.loads(bytes) decodes it.
        let keras = "{\"class_name\": \"Sequential\", \"config\": {}}";
        let le: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain(keras.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(sniff(&le, "config.json"), Format::KerasConfig);
        let be: Vec<u8> = keras.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(sniff(&be, "config.json"), Format::KerasConfig);
        // sentence-transformers' modules.json is a list; lenient readers accept comments.
        assert_eq!(
            sniff(b"[{\"idx\": 0, \"type\": \"x.Y\"}]", "modules.json"),
            Format::JsonConfig
        );
        assert_eq!(sniff(b"// c\n{}", "config.json"), Format::JsonConfig);
        assert_eq!(
            sniff(b"{\"keras_version\": \"3.8.0\"}", "metadata.json"),
            Format::JsonConfig
        );
        assert_eq!(
            sniff(b"flavors:\n  python_function: {}\n", "MLmodel"),
            Format::MlflowModel
        );
        assert_eq!(
            sniff(b"model:\n  _target_: x\n", "model_config.yaml"),
            Format::NemoConfig
        );
        assert_eq!(sniff(b"_target_: x\n", "hparams.yaml"), Format::Yaml);
        assert_eq!(
            sniff(b"torch==2.5\n", "requirements.txt"),
            Format::Requirements
        );
        assert_eq!(
            sniff(b"node {\n", "saved_model.pbtxt"),
            Format::SavedModelText
        );
        // TensorFlow tensor shards are data even when their bytes look like a pickle or zlib.
        assert_eq!(
            sniff(b"\x80\x02abc", "variables.data-00000-of-00001"),
            Format::Data
        );
        assert_eq!(sniff(&[0x78, 0x9c, 1, 2], "variables.index"), Format::Data);
        assert_eq!(sniff(b"\x08\x01", "fingerprint.pb"), Format::Data);
        assert_eq!(
            sniff(b"PK\x03\x04", "variables.data-00000-of-00001"),
            Format::Zip
        );
        assert_eq!(sniff(b"\x80\x02abc", "ckpt.data-1-of-x"), Format::Pickle);
        assert_eq!(
            sniff(b"\x95\x10\0\0\0\0\0\0\0\x8c\x02os", "x"),
            Format::Pickle
        );
    }

    #[test]
    fn safetensors_header() {
        let mut h = 16u64.to_le_bytes().to_vec();
        h.extend_from_slice(b"{\"a\":1}         ");
        assert_eq!(sniff(&h, "x"), Format::Safetensors);
        // A header length whose low bytes read as a protocol-4 PROTO opcode.
        let mut h = 0x0480u64.to_le_bytes().to_vec();
        h.extend_from_slice(b"{\"a\":{");
        assert_eq!(sniff(&h, "x"), Format::Safetensors);
        let mut h = (1u64 << 40).to_le_bytes().to_vec();
        h.extend_from_slice(b"{\"a\":{");
        assert_eq!(sniff(&h, "x"), Format::Safetensors);
        let mut h = 16u64.to_le_bytes().to_vec();
        h.extend_from_slice(b"  {\"a\":1}       ");
        assert_eq!(sniff(&h, "x"), Format::Safetensors);
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod zlib_tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn real_zlib_streams_are_recognised() {
        for level in [1, 6, 9] {
            let mut e =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
            e.write_all(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.")
                .expect("write");
            let z = e.finish().expect("finish");
            assert_eq!(sniff(&z, "m.joblib"), Format::Zlib, "level {level}");
        }
    }

    #[test]
    fn short_streams_inflating_past_the_sniff_buffer_are_recognised() {
        // Complete streams whose output is larger than one 4 KiB sniff buffer, and streams whose
        // ratio is so high that the sniff's 64 KiB of output come from a few hundred bytes.
        for (size, expected) in [(10_000usize, true), (60_000, true), (200_000, true)] {
            let data = vec![7u8; size];
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(&data).expect("write");
            let z = e.finish().expect("finish");
            assert!(
                z.len() < SNIFF_LEN,
                "{size}: the stream must fit the sniff head"
            );
            assert_eq!(looks_like_zlib(&z, true), expected, "{size}");
        }
    }

    #[test]
    fn text_and_random_bytes_are_not_zlib() {
        for text in [
            &b"80 percent"[..],
            b"Hj there",
            b"x marks the spot",
            b"x^2 + y^2",
        ] {
            assert_ne!(
                sniff(text, "notes.txt"),
                Format::Zlib,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        // A deterministic pseudo-random stream: none of 20,000 512-byte heads may sniff as zlib.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut false_hits = 0;
        for _ in 0..20_000 {
            let mut head = [0u8; 512];
            for b in &mut head {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = (x >> 24) as u8;
            }
            if looks_like_zlib(&head, false) {
                false_hits += 1;
            }
        }
        assert_eq!(false_hits, 0);
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod zfile_tests {
    use super::*;
    use std::io::Write;

    fn zfile(field: &str) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"cos\nsystem\n(S'true'\ntR.").expect("write");
        let mut v = format!("ZF{field}").into_bytes();
        v.extend(e.finish().expect("finish"));
        v
    }

    #[test]
    fn length_fields_of_every_width_are_parsed() {
        for field in [
            "0x1a             ",
            "1a               ",
            "0x1aL              ",
            "1a ",
        ] {
            let z = zfile(field);
            assert_eq!(
                sniff(&z, "a.pkl_01.npy.z"),
                Format::JoblibZfile,
                "{field:?}"
            );
            assert_eq!(joblib_zfile_offset(&z), Some(2 + field.len()));
        }
        assert_eq!(joblib_zfile_offset(b"ZF and then some text"), None);
        // Spellings only Python's int(field, 16) reads, in joblib's fixed 19-byte field.
        for field in ["0X1A", "  0x1a\t", "0x_1a", "\t1A"] {
            let field = format!("{field:<19}");
            let z = zfile(&field);
            assert_eq!(sniff(&z, "m.pkl"), Format::JoblibZfile, "{field:?}");
            assert_eq!(joblib_zfile_offset(&z), Some(21), "{field:?}");
            let z = zfile(&format!("{field} "));
            assert_eq!(joblib_zfile_offset(&z), Some(22), "{field:?}");
        }
    }
}
