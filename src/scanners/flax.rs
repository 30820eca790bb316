//! Flax MessagePack checkpoints (`flax.serialization.to_bytes`, `flax_model.msgpack`) and other
//! MessagePack state dicts, read with the bounded reader of [`crate::formats::msgpack`] the way
//! `flax.serialization.msgpack_restore` reads them (`msgpack.unpackb(ext_hook=…, raw=False)`):
//!
//! * ext type 1 (ndarray) and 3 (NumPy scalar) hold a MessagePack `(shape, dtype name, bytes)`
//!   that Flax turns into an array with `np.frombuffer(…).reshape(shape)`: the dtype must be one
//!   NumPy knows by name and the bytes must match the shape; ext type 2 holds `(real, imag)`;
//! * any other ext type is handed back as an opaque `msgpack.ExtType`: Flax does not decode it,
//!   and a reader with its own `ext_hook` may decode it as something else;
//! * a second reading: msgpack-numpy (`msgpack_numpy.decode`) turns any map with `nd: True` and
//!   `kind: "O"` into `pickle.loads(data)`. Such a map in a checkpoint is a pickle waiting for
//!   that reader; its `data` is scanned as a pickle.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::BTreeSet;

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::{clip, Finding, Severity, Sink};
use crate::format::Format;
use crate::formats::msgpack::{self as mp, MsgpackError, Value};
use crate::scanners::{Scanner, ScannerContext};

const REFS: &[&str] = &[
    "https://github.com/google/flax/blob/main/flax/serialization.py",
    "https://github.com/lebedov/msgpack-numpy/blob/master/msgpack_numpy.py",
];

pub const CHECKPOINT: Code = Code {
    id: "flax/checkpoint",
    severity: Severity::Info,
    summary: "A Flax MessagePack checkpoint and what it holds.",
    detects: "MessagePack state dicts (`flax.serialization.to_bytes`, `flax_model.msgpack`), recognised by content: top-level keys, arrays, their dtypes and bytes.",
    why: "Informational: every value was read the way msgpack-python and Flax read it, and every array checked against its shape.",
    example: "`{\"params\": {\"Dense_0\": {\"kernel\": <ndarray f32 [4, 2]>}}}`.",
    remediation: "None needed.",
    references: REFS,
};

pub const PICKLE_PAYLOAD: Code = Code {
    id: "flax/pickle-payload",
    severity: Severity::High,
    summary: "The MessagePack file holds an object array that msgpack-numpy unpickles.",
    detects: "A map with `nd: True` and `kind: \"O\"` (as string or bytes keys): `msgpack_numpy.decode` returns `pickle.loads(data)` for it. The `data` bytes are scanned as a pickle (their own findings follow).",
    why: "Flax's reader leaves such a map alone, but the same file read with msgpack-numpy's hook (a common way to load MessagePack arrays) runs whatever the pickle calls. No Flax writer produces it.",
    example: "`{\"w\": {b\"nd\": True, b\"kind\": b\"O\", b\"type\": \"|O\", b\"shape\": [1], b\"data\": <pickle>}}`.",
    remediation: "Do not load the file with msgpack-numpy; re-export the checkpoint with Flax.",
    references: REFS,
};

pub const UNKNOWN_EXT: Code = Code {
    id: "flax/unknown-ext",
    severity: Severity::Medium,
    summary: "The MessagePack file holds an extension type Flax does not decode.",
    detects: "Ext types other than 1 (ndarray), 2 (complex) and 3 (NumPy scalar).",
    why: "Flax hands them back as opaque `msgpack.ExtType` values, so its checks never see what they hold; a reader with its own `ext_hook` decodes them as something else. Flax never writes them.",
    example: "An ext type 42 value under `params`.",
    remediation: "Find out which tool wrote the file and what the extension holds.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "flax/malformed",
    severity: Severity::Medium,
    summary: "A MessagePack checkpoint does not read, or Flax would refuse part of it.",
    detects: "Truncated values, lengths past the end, the unused marker `0xc1`, bytes after the value, nesting deeper than 100 levels; arrays whose payload is not `(shape, dtype, bytes)`, whose dtype NumPy does not know by name or is an object dtype, or whose bytes do not match their shape.",
    why: "What could not be read was not checked, and another reader may read it differently.",
    example: "An ndarray ext whose buffer holds 10 bytes for a float32 shape `[4]`.",
    remediation: "Re-export the checkpoint and scan again.",
    references: REFS,
};

pub static CODES: &[&Code] = &[&CHECKPOINT, &PICKLE_PAYLOAD, &UNKNOWN_EXT, &MALFORMED];

/// Values read per file (a checkpoint has a few per array).
const MAX_VALUES: u64 = 20_000_000;

/// Findings of one kind listed per file.
const MAX_REPORTED: usize = 20;

/// NumPy dtype names Flax writes (`arr.dtype.name`) and their item sizes.
fn itemsize(name: &str) -> Option<u64> {
    Some(match name {
        "bool" | "int8" | "uint8" | "float8_e4m3fn" | "float8_e5m2" | "float8_e4m3b11fnuz"
        | "float8_e4m3fnuz" | "float8_e5m2fnuz" | "int4" | "uint4" | "int2" | "uint2" => 1,
        "int16" | "uint16" | "float16" | "bfloat16" => 2,
        "int32" | "uint32" | "float32" => 4,
        "int64" | "uint64" | "float64" | "complex64" => 8,
        "complex128" => 16,
        _ => return None,
    })
}

struct Walk<'a> {
    a: &'a Artifact,
    cx: &'a dyn ScannerContext,
    read: &'a dyn Fn(u64, usize) -> std::io::Result<Vec<u8>>,
    out: &'a mut Sink,
    arrays: u64,
    array_bytes: u64,
    dtypes: BTreeSet<String>,
    reported: usize,
}

impl Walk<'_> {
    fn problem(&mut self, code: &Code, msg: String) {
        if self.reported >= MAX_REPORTED {
            return;
        }
        self.reported = self.reported.saturating_add(1);
        self.out
            .push(Finding::new(code, self.a.location.clone(), msg));
    }

    /// The text of a key or value written as str or as bytes (msgpack-numpy writes bytes).
    fn text(&self, v: &Value) -> Option<String> {
        match v {
            Value::Str { text: Some(t), .. } => Some(t.clone()),
            Value::Bin { at, len } if *len <= 64 => (self.read)(*at, *len as usize)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
            _ => None,
        }
    }

    fn value(&mut self, v: &Value, path: &str) -> std::io::Result<()> {
        match v {
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    self.value(x, &format!("{path}[{i}]"))?;
                }
            }
            Value::Map(kv) => {
                self.numpy_object(kv, path)?;
                for (k, x) in kv {
                    let key = self.text(k).unwrap_or_else(|| "?".to_owned());
                    self.value(x, &format!("{path}/{}", clip(&key, 60)))?;
                }
            }
            Value::Ext { code, at, len } => self.ext(*code, *at, *len, path)?,
            _ => {}
        }
        Ok(())
    }

    /// msgpack-numpy's object arrays: `{nd: True, kind: "O", data: <pickle>}`.
    fn numpy_object(&mut self, kv: &[(Value, Value)], path: &str) -> std::io::Result<()> {
        let get = |name: &str| {
            kv.iter()
                .rev()
                .find(|(k, _)| self.text(k).as_deref() == Some(name))
                .map(|(_, v)| v)
        };
        if get("nd") != Some(&Value::Bool(true)) {
            return Ok(());
        }
        let kind = get("kind").and_then(|k| self.text(k));
        if kind.as_deref() != Some("O") {
            return Ok(());
        }
        let data = match get("data") {
            Some(Value::Bin { at, len } | Value::Str { at, len, .. }) => Some((*at, *len)),
            _ => None,
        };
        self.problem(
            &PICKLE_PAYLOAD,
            format!("{path}: an object array msgpack-numpy decodes with pickle.loads"),
        );
        if let Some((at, len)) = data {
            let content = self.a.content.slice(at, len)?;
            let member = format!("{}[msgpack-numpy object {path}]", self.a.name);
            self.cx
                .scan_nested(self.a, &member, content, Some(Format::Pickle), self.out);
        }
        Ok(())
    }

    fn ext(&mut self, code: i8, at: u64, len: u64, path: &str) -> std::io::Result<()> {
        let end = at.saturating_add(len);
        match code {
            1 | 3 => {
                let parsed = mp::read_value(self.read, at, end, 1_000_000);
                let v = match parsed {
                    Ok(v) => v,
                    Err(MsgpackError::Io(e)) => return Err(e),
                    Err(e) => {
                        self.problem(&MALFORMED, format!("{path}: the array does not read: {e}"));
                        return Ok(());
                    }
                };
                if let Err(why) = self.array(&v) {
                    self.problem(&MALFORMED, format!("{path}: {why}: Flax refuses the array"));
                }
            }
            2 => {
                let ok = matches!(
                    mp::read_value(self.read, at, end, 10),
                    Ok(Value::Array(ref p)) if p.len() == 2
                        && p.iter().all(|x| matches!(x, Value::Float(_) | Value::Int(_)))
                );
                if !ok {
                    self.problem(
                        &MALFORMED,
                        format!("{path}: a complex value that is not (real, imag)"),
                    );
                }
            }
            other => self.problem(
                &UNKNOWN_EXT,
                format!("{path}: ext type {other} ({len} bytes), which Flax does not decode"),
            ),
        }
        Ok(())
    }

    /// `(shape, dtype name, bytes)` as `_ndarray_from_bytes` reads it.
    fn array(&mut self, v: &Value) -> Result<(), String> {
        let Value::Array(parts) = v else {
            return Err("not a (shape, dtype, bytes) triple".into());
        };
        let [shape, dtype, data] = parts.as_slice() else {
            return Err(format!(
                "{} parts instead of (shape, dtype, bytes)",
                parts.len()
            ));
        };
        let Value::Array(dims) = shape else {
            return Err("the shape is not a list".into());
        };
        let mut elems: u64 = 1;
        for d in dims {
            let Value::Int(d) = d else {
                return Err("a dimension is not an integer".into());
            };
            let d = u64::try_from(*d).map_err(|_| format!("dimension {d}"))?;
            elems = elems
                .checked_mul(d)
                .ok_or_else(|| "the element count overflows".to_owned())?;
        }
        let name = self
            .text(dtype)
            .ok_or_else(|| "the dtype is not a name".to_owned())?;
        let size = itemsize(&name).ok_or_else(|| format!("dtype {:?}", clip(&name, 40)))?;
        let Value::Bin { len, .. } = data else {
            return Err("the data is not bytes".into());
        };
        let want = elems.saturating_mul(size);
        if *len != want {
            return Err(format!(
                "{len} bytes for {elems} {name} elements ({want} bytes)"
            ));
        }
        self.arrays = self.arrays.saturating_add(1);
        self.array_bytes = self.array_bytes.saturating_add(*len);
        if self.dtypes.len() < 16 {
            self.dtypes.insert(name);
        }
        Ok(())
    }
}

pub struct FlaxScanner;

impl Scanner for FlaxScanner {
    fn id(&self) -> &'static str {
        "flax"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::FlaxMsgpack]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        let pos = a.content.positioned()?;
        let read = |at: u64, n: usize| pos.read_at(at, n);
        let root = match mp::read_value(&read, 0, a.content.len(), MAX_VALUES) {
            Ok(v) => v,
            Err(MsgpackError::Io(e)) => return Err(e.into()),
            Err(MsgpackError::Budget(n)) => {
                return Err(ScanError::Budget(format!(
                    "MessagePack file with more than {n} values"
                )))
            }
            Err(e) => {
                out.push(Finding::new(
                    &MALFORMED,
                    a.location.clone(),
                    format!("the MessagePack stream does not read: {e}"),
                ));
                return Ok(());
            }
        };
        let mut w = Walk {
            a,
            cx,
            read: &read,
            out,
            arrays: 0,
            array_bytes: 0,
            dtypes: BTreeSet::new(),
            reported: 0,
        };
        w.value(&root, "")?;
        let keys: Vec<String> = match &root {
            Value::Map(kv) => kv.iter().take(16).filter_map(|(k, _)| w.text(k)).collect(),
            _ => Vec::new(),
        };
        let (arrays, bytes, dtypes) = (w.arrays, w.array_bytes, w.dtypes);
        out.push(
            Finding::new(
                &CHECKPOINT,
                a.location.clone(),
                format!(
                    "MessagePack state dict: {arrays} arrays ({bytes} bytes), top-level keys [{}]",
                    clip(&keys.join(", "), 200)
                ),
            )
            .evidence("arrays", arrays.to_string())
            .evidence("array-bytes", bytes.to_string())
            .evidence("dtypes", dtypes.into_iter().collect::<Vec<_>>().join(",")),
        );
        Ok(())
    }
}
