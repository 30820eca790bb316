//! PyTorch checkpoints → safetensors: the `torch.save` zip format (any record prefix, with or
//! without `byteorder`) and the legacy magic-number stream. The pickle runs in the symbolic VM;
//! only the globals of formats.md §8.2 are admitted; tensors are found by pattern-matching the
//! rebuild calls, and their bytes are streamed from the source file.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use crate::artifact::Content;
use crate::pickle::vm::{none, Val, Value, Vm, VmOptions};
use crate::walk::read_central_directory;

use super::st::{self, Source, View};
use super::{check_globals, Admit, ConvertError, Summary};

/// A tensor dtype: torch name, element size, safetensors name (None: no safetensors dtype).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TorchDtype {
    pub torch: &'static str,
    pub size: usize,
    pub st: Option<&'static str>,
}

const fn d(torch: &'static str, size: usize, st: Option<&'static str>) -> TorchDtype {
    TorchDtype { torch, size, st }
}

/// Legacy typed storage classes (`torch.FloatStorage`, …), from the table the scanner sizes
/// storages with ([`crate::formats::torch::storage_type`]); `UntypedStorage` has no dtype.
fn storage_dtype(name: &str) -> Option<TorchDtype> {
    let t = crate::formats::torch::storage_type(name)?;
    Some(d(
        t.dtype?,
        usize::try_from(t.itemsize).ok()?,
        t.safetensors,
    ))
}

/// dtype globals (`torch.float8_e4m3fn`, …) as `_rebuild_tensor_v3` passes them.
fn dtype_global(name: &str) -> Option<TorchDtype> {
    Some(match name {
        "float64" | "double" => d("float64", 8, Some("F64")),
        "float32" | "float" => d("float32", 4, Some("F32")),
        "float16" | "half" => d("float16", 2, Some("F16")),
        "bfloat16" => d("bfloat16", 2, Some("BF16")),
        "int64" | "long" => d("int64", 8, Some("I64")),
        "int32" | "int" => d("int32", 4, Some("I32")),
        "int16" | "short" => d("int16", 2, Some("I16")),
        "int8" => d("int8", 1, Some("I8")),
        "uint8" => d("uint8", 1, Some("U8")),
        "uint16" => d("uint16", 2, Some("U16")),
        "uint32" => d("uint32", 4, Some("U32")),
        "uint64" => d("uint64", 8, Some("U64")),
        "bool" => d("bool", 1, Some("BOOL")),
        "float8_e4m3fn" => d("float8_e4m3fn", 1, Some("F8_E4M3")),
        "float8_e5m2" => d("float8_e5m2", 1, Some("F8_E5M2")),
        "float8_e4m3fnuz" => d("float8_e4m3fnuz", 1, Some("F8_E4M3FNUZ")),
        "float8_e5m2fnuz" => d("float8_e5m2fnuz", 1, Some("F8_E5M2FNUZ")),
        "float8_e8m0fnu" => d("float8_e8m0fnu", 1, Some("F8_E8M0")),
        "complex64" | "cfloat" => d("complex64", 8, None),
        "complex128" | "cdouble" => d("complex128", 16, None),
        "complex32" | "chalf" => d("complex32", 4, None),
        "float4_e2m1fn_x2" => d("float4_e2m1fn_x2", 1, None),
        "bits8" | "bits1x8" | "bits2x4" | "bits4x2" => d("bits8", 1, None),
        "bits16" => d("bits16", 2, None),
        "qint8" | "quint8" | "quint4x2" | "quint2x4" => d("qint8", 1, None),
        "qint32" => d("qint32", 4, None),
        _ => return None,
    })
}

const REBUILD_NO_DENSE: &[&str] = &[
    "_rebuild_qtensor",
    "_rebuild_sparse_tensor",
    "_rebuild_sparse_csr_tensor",
    "_rebuild_meta_tensor_no_storage",
    "_rebuild_wrapper_subclass",
    "_rebuild_device_tensor_from_numpy",
    "_rebuild_device_tensor_from_cpu_tensor",
    "_rebuild_nested_tensor",
    "_rebuild_xla_tensor",
    "_rebuild_mps_tensor",
];

/// The torch → safetensors allowlist (formats.md §8.2).
pub fn admit(module: &str, name: &str) -> Admit {
    match (module, name) {
        ("collections", "OrderedDict" | "Counter")
        | (
            "torch._utils",
            "_rebuild_tensor" | "_rebuild_tensor_v2" | "_rebuild_tensor_v3" | "_rebuild_parameter"
            | "_rebuild_parameter_with_state",
        )
        | ("torch._tensor", "_rebuild_from_type_v2")
        | ("torch.nn.parameter", "Parameter")
        | ("torch", "Tensor" | "Size" | "device" | "UntypedStorage")
        | ("torch.storage", "UntypedStorage" | "TypedStorage")
        | ("_codecs", "encode")
        | ("builtins", "set" | "frozenset" | "bytearray" | "complex" | "slice") => Admit::Interpret,
        ("torch._utils", n) if REBUILD_NO_DENSE.contains(&n) => {
            Admit::Refuse("it rebuilds a tensor without dense storage data (quantized, sparse, meta, nested or device-specific), which safetensors cannot hold")
        }
        ("torch" | "torch.cuda", n) if storage_dtype(n).is_some() => Admit::Interpret,
        ("torch", n) if dtype_global(n).is_some() => Admit::Interpret,
        _ => Admit::Refuse(""),
    }
}

/// A `('storage', class, key, location, numel[, view])` persistent id.
#[derive(Debug, Clone)]
struct StorageRef {
    key: String,
    /// dtype of a typed storage; None for `UntypedStorage` (numel counts bytes).
    dtype: Option<TorchDtype>,
    numel: u64,
}

fn malformed(m: impl Into<String>) -> ConvertError {
    ConvertError::Malformed(m.into())
}

fn storage_ref(pid: &Val) -> Result<StorageRef, ConvertError> {
    let Value::PersId(inner) = &**pid else {
        return Err(malformed("tensor storage is not a persistent id"));
    };
    let t = inner
        .seq()
        .ok_or_else(|| malformed("persistent id is not a tuple"))?;
    if t.first().and_then(|x| x.as_str()) != Some("storage") {
        return Err(malformed(format!(
            "persistent id {} is not a ('storage', …) tuple",
            inner.describe(120)
        )));
    }
    if t.len() != 5 && t.len() != 6 {
        return Err(malformed("storage persistent id has the wrong length"));
    }
    if let Some(view) = t.get(5) {
        if !view.is_none() {
            return Err(ConvertError::Unsupported(
                "legacy storage views (view_metadata) are not converted".into(),
            ));
        }
    }
    let (m, n) = t
        .get(1)
        .and_then(|c| c.as_global())
        .ok_or_else(|| malformed("storage class is not a global"))?;
    let dtype = match (m, n) {
        ("torch.storage" | "torch", "UntypedStorage") => None,
        ("torch" | "torch.cuda", n) => Some(
            storage_dtype(n).ok_or_else(|| malformed(format!("unknown storage class {m}.{n}")))?,
        ),
        _ => return Err(malformed(format!("unknown storage class {m}.{n}"))),
    };
    let key = match t.get(2).map(|k| &**k) {
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Int(i)) => i.to_string(),
        _ => return Err(malformed("storage key is not a string")),
    };
    let numel = t
        .get(4)
        .and_then(|x| x.as_int())
        .and_then(|x| u64::try_from(x).ok())
        .ok_or_else(|| malformed("storage numel is not a non-negative integer"))?;
    Ok(StorageRef { key, dtype, numel })
}

/// A tensor found in the pickle.
#[derive(Debug, Clone)]
struct TensorRef {
    storage: StorageRef,
    dtype: TorchDtype,
    offset: u64,
    shape: Vec<u64>,
    strides: Vec<u64>,
}

fn uints(v: &Val, what: &str) -> Result<Vec<u64>, ConvertError> {
    let items = match &**v {
        // torch.Size(...) is pickled as a plain tuple; accept a REDUCE of torch.Size too.
        Value::Object(o) if o.borrow().callee() == Some(("torch", "Size")) => {
            let a = o.borrow().args().seq().unwrap_or_default();
            return uints(a.first().unwrap_or(&none()), what);
        }
        _ => v
            .seq()
            .ok_or_else(|| malformed(format!("tensor {what} is not a tuple")))?,
    };
    items
        .iter()
        .map(|x| {
            x.as_int()
                .and_then(|i| u64::try_from(i).ok())
                .ok_or_else(|| {
                    malformed(format!(
                        "tensor {what} holds a negative or non-integer value"
                    ))
                })
        })
        .collect()
}

/// Interprets a value as a tensor when it is one of the rebuild calls. `Ok(None)`: not a tensor.
fn as_tensor(v: &Val, depth: u32) -> Result<Option<(TensorRef, Vec<String>)>, ConvertError> {
    let Some(o) = v.object() else {
        return Ok(None);
    };
    let Some((m, n)) = o.callee() else {
        return Ok(None);
    };
    if depth > 8 {
        return Err(malformed("tensor rebuild calls nested too deeply"));
    }
    let args = o.args().seq().unwrap_or_default();
    let mut notes = Vec::new();
    match (m, n) {
        ("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2" | "_rebuild_tensor_v3") => {
            let get = |i: usize| {
                args.get(i)
                    .cloned()
                    .ok_or_else(|| malformed(format!("{n}: too few arguments")))
            };
            let storage = storage_ref(&get(0)?)?;
            let offset = get(1)?
                .as_int()
                .and_then(|x| u64::try_from(x).ok())
                .ok_or_else(|| malformed("storage offset is not a non-negative integer"))?;
            let shape = uints(&get(2)?, "size")?;
            let strides = uints(&get(3)?, "stride")?;
            let (dtype, meta) = if n == "_rebuild_tensor_v3" {
                let dg = get(6)?;
                let (dm, dn) = dg
                    .as_global()
                    .ok_or_else(|| malformed("_rebuild_tensor_v3 dtype is not a global"))?;
                if dm != "torch" {
                    return Err(malformed(format!("dtype {dm}.{dn}")));
                }
                let dt = dtype_global(dn)
                    .ok_or_else(|| ConvertError::Unsupported(format!("torch dtype {dn}")))?;
                (dt, args.get(7).cloned())
            } else {
                let dt = storage.dtype.ok_or_else(|| {
                    malformed("untyped storage without a dtype (needs _rebuild_tensor_v3)")
                })?;
                (dt, args.get(6).cloned())
            };
            if let Some(meta) = meta {
                for flag in ["conj", "neg"] {
                    if meta.get(flag).and_then(|f| f.as_bool()) == Some(true) {
                        return Err(ConvertError::Unsupported(format!(
                            "a tensor with the lazy {flag} bit set (materialise it before saving)"
                        )));
                    }
                }
            }
            if dtype.st.is_none() {
                return Err(ConvertError::Unsupported(format!(
                    "torch dtype {} has no safetensors equivalent",
                    dtype.torch
                )));
            }
            Ok(Some((
                TensorRef {
                    storage,
                    dtype,
                    offset,
                    shape,
                    strides,
                },
                notes,
            )))
        }
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            let data = args
                .first()
                .ok_or_else(|| malformed("_rebuild_parameter without data"))?;
            if n == "_rebuild_parameter_with_state" {
                if let Some(state) = args.get(3) {
                    if !is_empty_state(state) {
                        notes.push(format!(
                            "parameter Python state ignored: {}",
                            state.describe(120)
                        ));
                    }
                }
            }
            match as_tensor(data, depth.saturating_add(1))? {
                Some((t, mut inner)) => {
                    notes.append(&mut inner);
                    Ok(Some((t, notes)))
                }
                None => Err(malformed("parameter data is not a tensor")),
            }
        }
        ("torch._tensor", "_rebuild_from_type_v2") => {
            let [func, new_type, fargs, state] = args.as_slice() else {
                return Err(malformed("_rebuild_from_type_v2 takes 4 arguments"));
            };
            match new_type.as_global() {
                Some(("torch", "Tensor") | ("torch.nn.parameter", "Parameter")) => {}
                _ => {
                    return Err(ConvertError::Unsupported(format!(
                        "tensor subclass {}",
                        new_type.describe(80)
                    )))
                }
            }
            if !is_empty_state(state) {
                return Err(ConvertError::Unsupported(format!(
                    "a tensor with Python state {}",
                    state.describe(120)
                )));
            }
            // Apply func to args symbolically and interpret that.
            let call = Val::new(Value::Object(std::cell::RefCell::new(
                crate::pickle::vm::Object {
                    kind: crate::pickle::vm::ObjKind::Call {
                        callable: func.clone(),
                        args: fargs.clone(),
                    },
                    states: Vec::new(),
                    items: Vec::new(),
                    appended: Vec::new(),
                },
            )));
            match as_tensor(&call, depth.saturating_add(1))? {
                Some(t) => Ok(Some(t)),
                None => Err(malformed("_rebuild_from_type_v2 does not wrap a tensor")),
            }
        }
        _ => Ok(None),
    }
}

fn is_empty_state(v: &Val) -> bool {
    match &**v {
        Value::None => true,
        Value::Dict(d) => d.borrow().is_empty(),
        Value::Tuple(t) => t.iter().all(is_empty_state),
        Value::Object(o) => {
            let o = o.borrow();
            o.callee() == Some(("collections", "OrderedDict")) && o.items.is_empty()
        }
        _ => false,
    }
}

/// Entries of a mapping value (dict or OrderedDict), or None.
fn mapping(v: &Val) -> Option<Vec<(Val, Val)>> {
    match &**v {
        Value::Dict(d) => Some(d.borrow().clone()),
        Value::Object(o) => {
            let o = o.borrow();
            if o.callee() == Some(("collections", "OrderedDict")) {
                let mut items = Vec::new();
                // OrderedDict([(k, v), ...]) form.
                if let Some(first) = o.args().seq().and_then(|a| a.first().cloned()) {
                    for pair in first.seq().unwrap_or_default() {
                        if let Some(p) = pair.seq() {
                            if let (Some(k), Some(v)) = (p.first(), p.get(1)) {
                                items.push((k.clone(), v.clone()));
                            }
                        }
                    }
                }
                items.extend(o.items.iter().cloned());
                Some(items)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn key_text(k: &Val) -> String {
    match &**k {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        other => other.describe(60),
    }
}

struct Collected {
    tensors: Vec<(String, TensorRef)>,
    skipped: Vec<String>,
    notes: Vec<String>,
}

fn join(prefix: &str, k: &str) -> String {
    if prefix.is_empty() {
        k.to_owned()
    } else {
        format!("{prefix}.{k}")
    }
}

fn collect(v: &Val, prefix: &str, out: &mut Collected, depth: u32) -> Result<(), ConvertError> {
    if depth > 64 {
        return Err(malformed("checkpoint nested more than 64 levels"));
    }
    if let Some((t, mut notes)) = as_tensor(v, 0)? {
        let name = if prefix.is_empty() {
            "tensor".to_owned()
        } else {
            prefix.to_owned()
        };
        for n in &mut notes {
            *n = format!("{name}: {n}");
        }
        out.notes.append(&mut notes);
        out.tensors.push((name, t));
        return Ok(());
    }
    if let Some(items) = mapping(v) {
        for (k, x) in items {
            collect(
                &x,
                &join(prefix, &key_text(&k)),
                out,
                depth.saturating_add(1),
            )?;
        }
        return Ok(());
    }
    if let Value::List(_) | Value::Tuple(_) = &**v {
        let items = v.seq().unwrap_or_default();
        if items.iter().any(|x| contains_tensor(x, 0)) {
            for (i, x) in items.iter().enumerate() {
                collect(
                    x,
                    &join(prefix, &i.to_string()),
                    out,
                    depth.saturating_add(1),
                )?;
            }
            return Ok(());
        }
    }
    let label = if prefix.is_empty() { "<root>" } else { prefix };
    out.skipped.push(format!("{label} = {}", v.describe(80)));
    Ok(())
}

fn contains_tensor(v: &Val, depth: u32) -> bool {
    if depth > 64 {
        return false;
    }
    if let Some(o) = v.object() {
        if let Some((m, _)) = o.callee() {
            if m.starts_with("torch.") {
                return true;
            }
        }
    }
    if let Some(items) = mapping(v) {
        return items
            .iter()
            .any(|(_, x)| contains_tensor(x, depth.saturating_add(1)));
    }
    match &**v {
        Value::List(_) | Value::Tuple(_) => v
            .seq()
            .unwrap_or_default()
            .iter()
            .any(|x| contains_tensor(x, depth.saturating_add(1))),
        _ => false,
    }
}

/// Follows `{"state_dict": …}` / `{"model": …}` wrappers as HF's convert.py does, then flattens.
fn collect_checkpoint(root: &Val) -> Result<Collected, ConvertError> {
    let mut out = Collected {
        tensors: Vec::new(),
        skipped: Vec::new(),
        notes: Vec::new(),
    };
    if let Some(items) = mapping(root) {
        for wrapper in ["state_dict", "model", "model_state_dict"] {
            if let Some((_, inner)) = items
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(wrapper))
            {
                if mapping(inner).is_some() && contains_tensor(inner, 0) {
                    out.notes
                        .push(format!("followed the checkpoint's {wrapper:?} entry"));
                    for (k, x) in &items {
                        if k.as_str() != Some(wrapper) {
                            out.skipped
                                .push(format!("{} = {}", key_text(k), x.describe(80)));
                        }
                    }
                    collect(inner, "", &mut out, 0)?;
                    return Ok(out);
                }
            }
        }
    }
    collect(root, "", &mut out, 0)?;
    Ok(out)
}

/// A storage's bytes in the source file.
#[derive(Debug, Clone, Copy)]
struct StorageLoc {
    start: u64,
    len: u64,
}

/// Turns the found tensors into safetensors tensors: validates every view against its storage,
/// de-duplicates identical complete views of one storage (aliases), and copies partial views.
fn plan(
    found: Vec<(String, TensorRef)>,
    storages: &HashMap<String, StorageLoc>,
    swap: bool,
    summary: &mut Summary,
) -> Result<(Vec<st::Tensor>, BTreeMap<String, String>), ConvertError> {
    let mut meta = BTreeMap::new();
    let mut by_key: BTreeMap<String, Vec<(String, TensorRef, View)>> = BTreeMap::new();
    for (name, t) in found {
        let loc = storages.get(&t.storage.key).ok_or_else(|| {
            malformed(format!(
                "{name}: storage {:?} is missing from the checkpoint",
                t.storage.key
            ))
        })?;
        let declared = match t.storage.dtype {
            Some(sd) => t.storage.numel.saturating_mul(sd.size as u64),
            None => t.storage.numel,
        };
        if declared != loc.len {
            return Err(malformed(format!(
                "{name}: storage {:?} holds {} bytes but its persistent id declares {declared} ({} elements){}",
                t.storage.key,
                loc.len,
                t.storage.numel,
                if loc.len < declared { " (truncated storage)" } else { "" }
            )));
        }
        if let Some(sd) = t.storage.dtype {
            if sd.size != t.dtype.size {
                return Err(malformed(format!(
                    "{name}: {} tensor on a {} storage",
                    t.dtype.torch, sd.torch
                )));
            }
        }
        let view = View {
            storage_start: loc.start,
            storage_len: loc.len,
            elem: t.dtype.size,
            offset: t.offset,
            shape: t.shape.clone(),
            strides: t.strides.clone(),
            swap,
        };
        view.check(&name)?;
        by_key
            .entry(t.storage.key.clone())
            .or_default()
            .push((name, t, view));
    }
    let mut tensors = Vec::new();
    for (key, mut group) in by_key {
        group.sort_by(|a, b| a.0.cmp(&b.0));
        let complete = |t: &TensorRef, v: &View| {
            v.offset == 0
                && v.is_contiguous()
                && v.numel().saturating_mul(t.dtype.size as u64) == v.storage_len
        };
        let kept = group
            .iter()
            .find(|(_, t, v)| complete(t, v))
            .map(|(n, t, _)| (n.clone(), t.clone()));
        for (name, t, view) in group.iter().cloned() {
            if let Some((kn, kt)) = &kept {
                if *kn != name && complete(&t, &view) && kt.shape == t.shape && kt.dtype == t.dtype
                {
                    meta.insert(name.clone(), kn.clone());
                    summary.aliases.push((name, kn.clone()));
                    continue;
                }
            }
            if group.len() > 1 && kept.as_ref().is_none_or(|(kn, _)| *kn != name) {
                summary.notes.push(format!(
                    "{name}: view of storage {key} shared with other tensors, written as its own contiguous copy"
                ));
            }
            tensors.push(st::Tensor {
                name,
                dtype: t.dtype.st.unwrap_or("U8"),
                shape: t.shape.clone(),
                elem: t.dtype.size,
                source: Source::File(view),
            });
        }
    }
    Ok((tensors, meta))
}

#[allow(clippy::too_many_arguments)]
fn finish<W: Write>(
    src: &File,
    found: Collected,
    storages: &HashMap<String, StorageLoc>,
    swap: bool,
    sha: &str,
    kind: &str,
    placeholders: Vec<String>,
    out: &mut W,
) -> Result<Summary, ConvertError> {
    let mut summary = Summary {
        input_kind: kind.to_owned(),
        skipped: found.skipped,
        notes: found.notes,
        placeholders,
        ..Summary::default()
    };
    if found.tensors.is_empty() {
        return Err(ConvertError::Unsupported(
            "the checkpoint holds no tensors".into(),
        ));
    }
    let (tensors, mut meta) = plan(found.tensors, storages, swap, &mut summary)?;
    meta.insert("format".into(), "pt".into());
    meta.insert("source_sha256".into(), sha.to_owned());
    if swap {
        summary
            .notes
            .push("big-endian checkpoint: every element byte-swapped".into());
    }
    summary.tensors = st::write(out, Some(src), tensors, &meta)?;
    Ok(summary)
}

fn vm_opts(limit: u64) -> VmOptions {
    let mut o = VmOptions::default();
    o.limits.max_input = limit;
    o
}

/// Converts a `torch.save` zip checkpoint.
pub fn convert_zip<W: Write>(path: &Path, sha: &str, out: &mut W) -> Result<Summary, ConvertError> {
    let content = Content::file(path.to_path_buf())?;
    let index =
        read_central_directory(&content).map_err(|e| ConvertError::Malformed(e.to_string()))?;
    let pkl = index
        .entries
        .iter()
        .filter(|e| e.name == "data.pkl" || e.name.ends_with("/data.pkl"))
        .min_by_key(|e| e.name.len())
        .ok_or_else(|| malformed("no data.pkl record"))?;
    let prefix = pkl
        .name
        .strip_suffix("data.pkl")
        .unwrap_or_default()
        .to_owned();
    let member = |n: &str| {
        let full = format!("{prefix}{n}");
        index.entries.iter().rev().find(|e| e.name == full)
    };
    if member("constants.pkl").is_some() || member("code/").is_some() {
        return Err(ConvertError::Unsupported(
            "TorchScript archives (torch.jit.save) are programs, not state dicts; export the module's state_dict with torch.save".into(),
        ));
    }
    let file = File::open(path)?;
    let read_member = |e: &crate::walk::ZipEntry, limit: u64| super::zip_member(&content, e, limit);
    let pickle = read_member(pkl, 1 << 30)?;
    let swap = match member("byteorder") {
        Some(e) => {
            let b = read_member(e, 64)?;
            match String::from_utf8_lossy(&b).trim() {
                "little" => false,
                "big" => true,
                other => return Err(malformed(format!("byteorder record {other:?}"))),
            }
        }
        None => false,
    };
    let mut vm = Vm::new(&pickle[..], vm_opts(pickle.len() as u64));
    let root = vm.next_pickle()?;
    let placeholders = check_globals(vm.globals(), "PyTorch → safetensors", admit)?;
    let found = collect_checkpoint(&root)?;
    let mut storages = HashMap::new();
    let data_prefix = format!("{prefix}data/");
    for e in &index.entries {
        if let Some(key) = e.name.strip_prefix(&data_prefix) {
            if key.is_empty() || key.contains('/') {
                continue;
            }
            let Some(start) = e.data_start else { continue };
            if e.method != 0 {
                return Err(ConvertError::Unsupported(format!(
                    "{}: compressed storage records cannot be streamed (torch writes them stored)",
                    e.name
                )));
            }
            storages.insert(
                key.to_owned(),
                StorageLoc {
                    start,
                    len: e.uncompressed_size.min(e.compressed_size),
                },
            );
        }
    }
    let flen = file.metadata()?.len();
    for (k, s) in &storages {
        if s.start.saturating_add(s.len) > flen {
            return Err(malformed(format!(
                "storage {k} extends past the end of the file (truncated storage)"
            )));
        }
    }
    finish(
        &file,
        found,
        &storages,
        swap,
        sha,
        "pytorch-zip",
        placeholders,
        out,
    )
}

/// The legacy magic number (`torch.serialization.MAGIC_NUMBER`).
const MAGIC: i128 = 0x1950_A86A_20F9_469C_FC6C;

/// Converts a legacy (pre-1.6, `_use_new_zipfile_serialization=False`) checkpoint.
pub fn convert_legacy<W: Write>(
    path: &Path,
    sha: &str,
    out: &mut W,
) -> Result<Summary, ConvertError> {
    let file = File::open(path)?;
    let flen = file.metadata()?.len();
    let mut vm = Vm::new(BufReader::new(File::open(path)?), vm_opts(flen));
    let magic = vm.next_pickle()?;
    if magic.as_int() != Some(MAGIC) {
        return Err(malformed("legacy checkpoint without torch's magic number"));
    }
    let proto = vm.next_pickle()?;
    if proto.as_int() != Some(1001) {
        return Err(ConvertError::Unsupported(format!(
            "legacy protocol version {}",
            proto.describe(40)
        )));
    }
    let sys_info = vm.next_pickle()?;
    let little = sys_info
        .get("little_endian")
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    let root = vm.next_pickle()?;
    let keys = vm.next_pickle()?;
    let placeholders = check_globals(vm.globals(), "PyTorch → safetensors", admit)?;
    let keys: Vec<String> = keys
        .seq()
        .ok_or_else(|| malformed("storage key list is not a list"))?
        .iter()
        .map(key_text)
        .collect();
    let found = collect_checkpoint(&root)?;
    // Element sizes per key come from the persistent ids, as torch's loader learns them.
    let mut elem: HashMap<String, usize> = HashMap::new();
    for (_, t) in &found.tensors {
        let size = t.storage.dtype.map_or(1, |sd| sd.size);
        elem.insert(t.storage.key.clone(), size);
    }
    let mut pos = vm.offset();
    drop(vm);
    let mut storages = HashMap::new();
    let mut f = &file;
    for key in keys {
        let size = *elem.get(&key).ok_or_else(|| {
            malformed(format!(
                "storage {key} is listed but no tensor says what type it is"
            ))
        })?;
        let mut cnt = [0u8; 8];
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(pos))?;
        f.read_exact(&mut cnt).map_err(|_| {
            malformed(format!(
                "storage {key}: file ends before its size (truncated)"
            ))
        })?;
        let len = crate::formats::torch::trailer_data_len(cnt, little, size as u64)
            .map_err(|e| malformed(format!("storage {key} declares {e}")))?;
        let start = pos.saturating_add(crate::formats::torch::TRAILER_COUNT_LEN);
        if start.saturating_add(len) > flen {
            return Err(malformed(format!(
                "storage {key} declares {len} bytes but the file ends first (truncated storage)"
            )));
        }
        storages.insert(key, StorageLoc { start, len });
        pos = start.saturating_add(len);
    }
    finish(
        &file,
        found,
        &storages,
        !little,
        sha,
        "pytorch-legacy",
        placeholders,
        out,
    )
}
