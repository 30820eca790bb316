//! numpy arrays as the symbolic VM sees them: dtype reconstructions, `_reconstruct` + BUILD,
//! `_frombuffer`, `multiarray.scalar` and joblib inline arrays, read into a typed [`NdArray`]
//! without calling anything. Dtypes are resolved by the shared reader ([`crate::formats::dtype`]).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use crate::formats::dtype as shared;
use crate::pickle::vm::{dtype_of, InlineData, Val, Value};

use super::ConvertError;

/// A numpy dtype as the converter reads elements: kind letter (`b i u f c m M O S U V`, numpy's
/// `dtype.kind`), item size in bytes, byte order, object flag, and the fields of a structured
/// dtype. Kind, size, byte order and object flag come from the shared dtype reader
/// ([`crate::formats::dtype`]), the one the scanner sizes arrays with.
#[derive(Debug, Clone, PartialEq)]
pub struct DType {
    pub kind: char,
    pub size: usize,
    pub big_endian: bool,
    /// `dtype.hasobject` (from the pickled flags, as numpy sets it).
    pub object: bool,
    pub fields: Vec<Field>,
}

/// One field of a structured dtype.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub dtype: DType,
    pub offset: usize,
}

impl DType {
    /// The converter's view of a dtype the shared reader resolved (`None` when its size does
    /// not fit in memory).
    pub fn from_shared(d: &shared::DType) -> Option<Self> {
        Some(Self {
            kind: d.kind,
            size: usize::try_from(d.itemsize).ok()?,
            big_endian: d.big_endian,
            object: d.object,
            fields: Vec::new(),
        })
    }

    /// Parses a type string (`<f4`, `|b1`, `>i8`, `|O`, `<U5`, `V64`, `f8` …) with
    /// [`shared::parse_descr`]. `U` counts characters, as in numpy.
    pub fn parse(descr: &str) -> Option<Self> {
        Self::from_shared(&shared::parse_descr(descr)?)
    }

    /// The dtype of a `numpy.dtype(descr, align, copy)` reconstruction with its BUILD state
    /// `(version, byteorder, subarray, names, fields, elsize, alignment, flags)`: kind, size,
    /// byte order and object flag as [`crate::pickle::vm::dtype_of`] resolves them (the
    /// joblib layout uses the same), then the fields of a structured dtype.
    pub fn from_value(v: &Val) -> Result<Self, ConvertError> {
        let resolved = dtype_of(v).map_err(bad)?;
        let mut dt = Self::from_shared(&resolved).ok_or_else(|| bad("dtype too large"))?;
        let Some(o) = v.object() else {
            return Ok(dt);
        };
        let Some(state) = o.state().and_then(|s| s.seq()) else {
            return Ok(dt);
        };
        if let (Some(names), Some(fields)) = (state.get(3), state.get(4)) {
            if let Some(names) = names.seq() {
                for n in names {
                    let name = n.as_str().ok_or_else(|| bad("field name"))?.to_owned();
                    let f = fields
                        .get(&name)
                        .and_then(|f| f.seq())
                        .ok_or_else(|| bad(format!("field {name} missing")))?;
                    let fd = f.first().ok_or_else(|| bad("field dtype"))?;
                    let offset = f
                        .get(1)
                        .and_then(|x| x.as_int())
                        .and_then(|x| usize::try_from(x).ok())
                        .ok_or_else(|| bad("field offset"))?;
                    dt.fields.push(Field {
                        name,
                        dtype: Self::from_value(fd)?,
                        offset,
                    });
                }
            }
        }
        Ok(dt)
    }

    /// `dtype.hasobject`: the data is Python objects, not raw bytes.
    pub fn is_object(&self) -> bool {
        self.object
    }
}

/// Array contents.
pub enum Data {
    /// Raw bytes in the array's order (C or Fortran).
    Raw(Vec<u8>),
    /// Object arrays: the Python objects, in C order.
    Objects(Vec<Val>),
}

/// A numpy array read from a pickle.
pub struct NdArray {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub fortran: bool,
    pub data: Data,
}

fn bad(m: impl Into<String>) -> ConvertError {
    ConvertError::Malformed(format!("numpy array: {}", m.into()))
}

fn shape_of(v: &Val) -> Result<Vec<usize>, ConvertError> {
    if let Some(i) = v.as_int() {
        return Ok(vec![usize::try_from(i).map_err(|_| bad("negative size"))?]);
    }
    v.seq()
        .ok_or_else(|| bad("shape is not a tuple"))?
        .iter()
        .map(|d| {
            d.as_int()
                .and_then(|d| usize::try_from(d).ok())
                .ok_or_else(|| bad("shape holds a negative or non-integer size"))
        })
        .collect()
}

/// The bytes of a pickled buffer: `bytes`, `bytearray`, a Python 2 `str` (its raw bytes), or
/// `_codecs.encode(text, 'latin1')` (protocol 2).
pub fn buffer_bytes(v: &Val) -> Result<Vec<u8>, ConvertError> {
    match &**v {
        Value::Bytes(b) => Ok(b.clone()),
        Value::Str(s) => Ok(s.as_bytes().to_vec()),
        Value::Object(o) => {
            let o = o.borrow();
            if o.callee() != Some(("_codecs", "encode")) {
                return Err(bad("array data is a call other than _codecs.encode"));
            }
            let args = o.args().seq().unwrap_or_default();
            let text = args
                .first()
                .and_then(|t| t.as_str())
                .ok_or_else(|| bad("_codecs.encode without text"))?;
            let enc = args.get(1).and_then(|e| e.as_str()).unwrap_or("utf-8");
            match enc.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
                "latin1" | "iso88591" | "l1" => text
                    .chars()
                    .map(|c| {
                        u8::try_from(u32::from(c)).map_err(|_| bad("latin-1 text out of range"))
                    })
                    .collect(),
                "utf8" => Ok(text.as_bytes().to_vec()),
                other => Err(bad(format!("_codecs.encode with encoding {other}"))),
            }
        }
        other => Err(bad(format!("array data is a {}", other.kind()))),
    }
}

fn element_count(shape: &[usize]) -> Result<usize, ConvertError> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad("element count overflows"))
}

impl NdArray {
    /// Reads an array from any of the pickled forms.
    pub fn from_value(v: &Val) -> Result<Self, ConvertError> {
        match &**v {
            Value::Inline { state, data } => {
                let dtype = DType::from_value(
                    &state
                        .get("dtype")
                        .ok_or_else(|| bad("joblib array without dtype"))?,
                )?;
                match data {
                    InlineData::Pickled(inner) => Self::from_value(inner),
                    InlineData::Raw(bytes) => {
                        let shape = shape_of(&state.get("shape").ok_or_else(|| bad("no shape"))?)?;
                        let fortran = state
                            .get("order")
                            .and_then(|o| o.as_str().map(|s| s == "F"))
                            .unwrap_or(false);
                        Self::checked(dtype, shape, fortran, Data::Raw(bytes.clone()))
                    }
                }
            }
            Value::Object(o) => {
                let o = o.borrow();
                let callee = o
                    .callee()
                    .ok_or_else(|| bad("array built by a non-global"))?;
                let args = o.args().seq().unwrap_or_default();
                match callee {
                    ("numpy._core.multiarray" | "numpy._core._internal", "_reconstruct") => {
                        match args.first().and_then(|a| a.as_global()) {
                            Some(("numpy", "ndarray")) => {}
                            Some(("numpy" | "numpy.matrixlib.defmatrix", "matrix")) => {}
                            _ => return Err(bad("_reconstruct of something other than ndarray")),
                        }
                        let state = o
                            .state()
                            .and_then(|s| s.seq())
                            .ok_or_else(|| bad("ndarray without BUILD state"))?;
                        // (version, shape, dtype, fortran, data) or the 4-tuple without version.
                        let s: &[Val] = if state.len() == 5 {
                            state.get(1..).unwrap_or_default()
                        } else {
                            &state
                        };
                        let [shape, dtype, fortran, data] = s else {
                            return Err(bad("ndarray state has the wrong length"));
                        };
                        let shape = shape_of(shape)?;
                        let dtype = DType::from_value(dtype)?;
                        let fortran = fortran.as_bool().unwrap_or(false);
                        let data = if dtype.is_object() {
                            Data::Objects(data.seq().ok_or_else(|| bad("object data"))?)
                        } else {
                            Data::Raw(buffer_bytes(data)?)
                        };
                        Self::checked(dtype, shape, fortran, data)
                    }
                    ("numpy._core.numeric", "_frombuffer") => {
                        let [buf, dtype, shape, order] = args.as_slice() else {
                            return Err(bad("_frombuffer takes 4 arguments"));
                        };
                        let dtype = DType::from_value(dtype)?;
                        let shape = shape_of(shape)?;
                        let fortran = order.as_str() == Some("F");
                        Self::checked(dtype, shape, fortran, Data::Raw(buffer_bytes(buf)?))
                    }
                    ("numpy._core.multiarray", "scalar") => {
                        let dtype = DType::from_value(
                            args.first().ok_or_else(|| bad("scalar without dtype"))?,
                        )?;
                        let data = args.get(1).ok_or_else(|| bad("scalar without data"))?;
                        if dtype.is_object() {
                            return Ok(Self {
                                dtype,
                                shape: Vec::new(),
                                fortran: false,
                                data: Data::Objects(vec![data.clone()]),
                            });
                        }
                        Self::checked(dtype, Vec::new(), false, Data::Raw(buffer_bytes(data)?))
                    }
                    (m, n) => Err(bad(format!("{m}.{n} does not build an array"))),
                }
            }
            other => Err(bad(format!("expected an array, found a {}", other.kind()))),
        }
    }

    fn checked(
        dtype: DType,
        shape: Vec<usize>,
        fortran: bool,
        data: Data,
    ) -> Result<Self, ConvertError> {
        let n = element_count(&shape)?;
        match &data {
            Data::Raw(b) => {
                let want = n
                    .checked_mul(dtype.size)
                    .ok_or_else(|| bad("byte size overflows"))?;
                if b.len() != want {
                    return Err(bad(format!(
                        "{} data bytes for shape {shape:?} of {}-byte items (need {want})",
                        b.len(),
                        dtype.size
                    )));
                }
            }
            Data::Objects(o) => {
                if o.len() != n {
                    return Err(bad("object count does not match the shape"));
                }
            }
        }
        Ok(Self {
            dtype,
            shape,
            fortran,
            data,
        })
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index into the raw data of the element at C-order position `i`.
    fn storage_index(&self, i: usize) -> usize {
        if !self.fortran || self.shape.len() < 2 {
            return i;
        }
        // Decompose i in C order, recompose in Fortran order.
        let mut rem = i;
        let mut idx = vec![0usize; self.shape.len()];
        for (k, &d) in self.shape.iter().enumerate().rev() {
            if d == 0 {
                return 0;
            }
            if let Some(slot) = idx.get_mut(k) {
                *slot = rem.checked_rem(d).unwrap_or(0);
            }
            rem = rem.checked_div(d).unwrap_or(0);
        }
        let mut out = 0usize;
        let mut mul = 1usize;
        for (k, &d) in self.shape.iter().enumerate() {
            out = out.saturating_add(idx.get(k).copied().unwrap_or(0).saturating_mul(mul));
            mul = mul.saturating_mul(d);
        }
        out
    }

    fn raw(&self) -> Result<&[u8], ConvertError> {
        match &self.data {
            Data::Raw(b) => Ok(b),
            Data::Objects(_) => Err(bad("object array where numbers are needed")),
        }
    }

    fn element(&self, i: usize, off: usize, dt: &DType) -> Result<f64, ConvertError> {
        let raw = self.raw()?;
        let at = self
            .storage_index(i)
            .checked_mul(self.dtype.size)
            .and_then(|a| a.checked_add(off))
            .ok_or_else(|| bad("index overflow"))?;
        let b = raw
            .get(at..at.saturating_add(dt.size))
            .ok_or_else(|| bad("element out of range"))?;
        number(b, dt).ok_or_else(|| bad(format!("dtype {}{} is not numeric", dt.kind, dt.size)))
    }

    /// All elements as f64, in C order.
    pub fn f64s(&self) -> Result<Vec<f64>, ConvertError> {
        if let Data::Objects(o) = &self.data {
            return o
                .iter()
                .map(|x| {
                    x.as_f64()
                        .ok_or_else(|| bad("object element is not a number"))
                })
                .collect();
        }
        let dt = self.dtype.clone();
        (0..self.len()).map(|i| self.element(i, 0, &dt)).collect()
    }

    /// All elements as i64 (integers and bools; floats must be integral).
    pub fn i64s(&self) -> Result<Vec<i64>, ConvertError> {
        if let Data::Objects(o) = &self.data {
            return o
                .iter()
                .map(|x| {
                    x.as_int()
                        .and_then(|i| i64::try_from(i).ok())
                        .ok_or_else(|| bad("object element is not an integer"))
                })
                .collect();
        }
        if matches!(self.dtype.kind, 'i' | 'u' | 'b') {
            let raw = self.raw()?;
            let sz = self.dtype.size;
            return (0..self.len())
                .map(|i| {
                    let at = self.storage_index(i).saturating_mul(sz);
                    let b = raw
                        .get(at..at.saturating_add(sz))
                        .ok_or_else(|| bad("range"))?;
                    integer(b, &self.dtype).ok_or_else(|| bad("integer out of range"))
                })
                .collect();
        }
        self.f64s()?
            .into_iter()
            .map(|x| {
                if x.fract() == 0.0 && x.abs() < 9.0e15 {
                    Ok(x as i64)
                } else {
                    Err(bad("non-integral value where an integer is needed"))
                }
            })
            .collect()
    }

    /// A numeric field of a structured array, as f64, in C order.
    pub fn field_f64(&self, name: &str) -> Result<Vec<f64>, ConvertError> {
        let f = self
            .dtype
            .fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| bad(format!("no field {name}")))?;
        let dt = f.dtype.clone();
        let off = f.offset;
        if off.saturating_add(dt.size) > self.dtype.size {
            return Err(bad(format!("field {name} lies outside the record")));
        }
        (0..self.len()).map(|i| self.element(i, off, &dt)).collect()
    }

    /// An integer field of a structured array.
    pub fn field_i64(&self, name: &str) -> Result<Vec<i64>, ConvertError> {
        let f = self
            .dtype
            .fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| bad(format!("no field {name}")))?;
        if !matches!(f.dtype.kind, 'i' | 'u') {
            return Err(bad(format!("field {name} is not an integer")));
        }
        let raw = self.raw()?;
        let (sz, off) = (f.dtype.size, f.offset);
        (0..self.len())
            .map(|i| {
                let at = self
                    .storage_index(i)
                    .saturating_mul(self.dtype.size)
                    .saturating_add(off);
                let b = raw
                    .get(at..at.saturating_add(sz))
                    .ok_or_else(|| bad("range"))?;
                integer(b, &f.dtype).ok_or_else(|| bad("integer out of range"))
            })
            .collect()
    }

    /// Elements as strings (`U`/`S` arrays and object arrays of `str`).
    pub fn strings(&self) -> Result<Vec<String>, ConvertError> {
        match &self.data {
            Data::Objects(o) => o
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| bad("object element is not a str"))
                })
                .collect(),
            Data::Raw(raw) => {
                let sz = self.dtype.size;
                (0..self.len())
                    .map(|i| {
                        let at = self.storage_index(i).saturating_mul(sz);
                        let b = raw
                            .get(at..at.saturating_add(sz))
                            .ok_or_else(|| bad("range"))?;
                        match self.dtype.kind {
                            'U' => {
                                let mut s = String::new();
                                for c in b.chunks_exact(4) {
                                    let arr: [u8; 4] = c.try_into().map_err(|_| bad("utf-32"))?;
                                    let cp = if self.dtype.big_endian {
                                        u32::from_be_bytes(arr)
                                    } else {
                                        u32::from_le_bytes(arr)
                                    };
                                    if cp == 0 {
                                        break;
                                    }
                                    s.push(char::from_u32(cp).ok_or_else(|| bad("code point"))?);
                                }
                                Ok(s)
                            }
                            'S' => Ok(String::from_utf8_lossy(
                                b.split(|&c| c == 0).next().unwrap_or_default(),
                            )
                            .into_owned()),
                            _ => Err(bad("not a string array")),
                        }
                    })
                    .collect()
            }
        }
    }
}

fn integer(b: &[u8], dt: &DType) -> Option<i64> {
    let mut buf = [0u8; 8];
    let n = b.len();
    if n == 0 || n > 8 {
        return None;
    }
    let signed = dt.kind == 'i';
    // Normalise to little-endian.
    let mut le = b.to_vec();
    if dt.big_endian {
        le.reverse();
    }
    let neg = signed && le.last().is_some_and(|&x| x & 0x80 != 0);
    if neg {
        buf = [0xff; 8];
    }
    buf.get_mut(..n)?.copy_from_slice(&le);
    let v = i64::from_le_bytes(buf);
    if !signed && n == 8 && v < 0 {
        return None;
    }
    Some(v)
}

fn number(b: &[u8], dt: &DType) -> Option<f64> {
    match (dt.kind, dt.size) {
        ('f', 8) => {
            let a: [u8; 8] = b.try_into().ok()?;
            Some(if dt.big_endian {
                f64::from_be_bytes(a)
            } else {
                f64::from_le_bytes(a)
            })
        }
        ('f', 4) => {
            let a: [u8; 4] = b.try_into().ok()?;
            Some(f64::from(if dt.big_endian {
                f32::from_be_bytes(a)
            } else {
                f32::from_le_bytes(a)
            }))
        }
        ('f', 2) => {
            let a: [u8; 2] = b.try_into().ok()?;
            let h = if dt.big_endian {
                u16::from_be_bytes(a)
            } else {
                u16::from_le_bytes(a)
            };
            Some(f16_to_f64(h))
        }
        ('i' | 'u' | 'b', _) => integer(b, dt).map(|i| i as f64),
        _ => None,
    }
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 => {
            if frac == 0.0 {
                sign * f64::INFINITY
            } else {
                f64::NAN
            }
        }
        e => sign * (1.0 + frac / 1024.0) * 2f64.powi(e.saturating_sub(15)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_strings() {
        assert_eq!(DType::parse("<f4").unwrap().size, 4);
        assert!(DType::parse(">i8").unwrap().big_endian);
        assert!(!DType::parse("|b1").unwrap().big_endian);
        assert_eq!(DType::parse("<U5").unwrap().size, 20);
        assert!(DType::parse("|O").unwrap().is_object());
        assert!(DType::parse("<x4").is_none());
        // The C type letter `b` is int8 in numpy, not a bool.
        assert_eq!(DType::parse("b").unwrap().kind, 'i');
        assert_eq!(DType::parse("?").unwrap().kind, 'b');
        assert!((f16_to_f64(0x3c00) - 1.0).abs() < 1e-12);
    }
}
