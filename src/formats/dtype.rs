//! numpy dtype facts as numpy itself computes them: the kind, itemsize, byte order and object
//! flag that decide how many bytes joblib's `NumpyArrayWrapper.read_array` reads raw after the
//! wrapper (or whether it runs `pickle.load` instead), how large an `.npy` body is, and how the
//! converter reads the elements.
//!
//! This is the one reading of a dtype string and of a pickled dtype's state: the pickle walker
//! (joblib skips), the `.npy` header reader ([`crate::formats::npy`]) and the converter
//! ([`crate::convert::ndarray`]) all take their sizes and byte orders from here, so the bytes the
//! converter writes out are the bytes the scanner measured.
//!
//! joblib reads `count * dtype.itemsize` raw bytes unless `dtype.hasobject`, in which case it
//! unpickles the data with a fresh `pickle.load`. Both values come from the unpickled
//! `numpy.dtype`: the constructor's type string gives the first guess, and a BUILD state
//! (`dtype.__setstate__`) can override them. Measured against numpy 2.x on x86-64 Linux:
//! - `elsize` (state item 5) replaces the itemsize only for flexible types (`S`, `a`, `U`, `V`
//!   and the `c` alias of `S1`); other types keep their fixed size whatever the state says;
//! - the flags (state item 7) replace the dtype's flags outright, and `hasobject` is their low
//!   bit: an `f8` dtype with flags 1 is "an object array" and an `O8` dtype with flags 0 is not;
//! - fields, names and subarray in the state change neither value;
//! - older state layouts (versions 0–2, 6- or 7-item tuples) derive the flags from the type in
//!   ways that differ by length; they are never written by numpy ≥ 1.7 and are not "provable".
//!
//! Anything this module cannot compute exactly is an error with a reason, so the caller does
//! not skip (see `pickle/joblib-array-unresolved`).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

/// numpy dtype facts the joblib skip, the `.npy` size check and the converter need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DType {
    /// `dtype.kind`: `b` bool, `i` signed, `u` unsigned, `f` float, `c` complex, `m`
    /// timedelta, `M` datetime, `O` object, `S` bytes, `U` unicode, `V` void (also structured
    /// and subarray dtypes).
    pub kind: char,
    /// `dtype.itemsize` (bytes per element).
    pub itemsize: u64,
    /// `dtype.hasobject`.
    pub object: bool,
    /// A flexible type (`S`, `U`, `V`): its itemsize is taken from a BUILD state's `elsize`.
    pub flexible: bool,
    /// `dtype.byteorder == '>'`: the elements are stored big-endian (never for types numpy
    /// gives no byte order: one-byte integers and bools, `S`, `V`, `O`).
    pub big_endian: bool,
}

impl DType {
    /// A dtype of `kind` with no byte order (structured and subarray dtypes are `V`).
    pub fn unordered(kind: char, itemsize: u64, object: bool) -> Self {
        Self {
            kind,
            itemsize,
            object,
            flexible: false,
            big_endian: false,
        }
    }

    /// Whether numpy gives this dtype a byte order at all (`dtype.byteorder != '|'`).
    fn has_byte_order(&self) -> bool {
        match self.kind {
            'f' | 'c' | 'm' | 'M' | 'U' => true,
            'i' | 'u' => self.itemsize > 1,
            _ => false,
        }
    }
}

/// The parts of a `numpy.dtype` BUILD state (`__setstate__` tuple) that decide the size and
/// the object flag, as integers read from the pickle (`None` where the item is not an
/// integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DTypeState {
    /// Number of items in the state tuple.
    pub len: usize,
    pub version: Option<i128>,
    /// Item 1, the byte order (`<`, `>`, `|`, `=`) when it is a one-character string.
    pub byteorder: Option<char>,
    pub elsize: Option<i128>,
    pub flags: Option<i128>,
}

/// Parses a dtype string exactly as `numpy.dtype(str)` reads it (`f8`, `<i4`, `O8`, `V64`,
/// `U40` = 160 bytes, `S5`, `b1`, `M8[ns]`, `?`, `g` = 16 bytes, `b` = int8), for the spellings
/// numpy's own reductions and `.npy` headers use: kind, itemsize, object flag and byte order
/// (x86-64 Linux: `=` and no prefix are little-endian). Other spellings numpy may accept
/// (`float64`, `!f8`, `(2,)f8`, `f8,i4`) return `None`: unknown, never guessed.
pub fn parse_descr(descr: &str) -> Option<DType> {
    let (d, ordered, big) = match descr.as_bytes().first() {
        Some(b'<' | b'|' | b'=') => (descr.get(1..)?, true, false),
        Some(b'>') => (descr.get(1..)?, true, true),
        _ => (descr, false, false),
    };
    // Datetime units: `M8[ns]`, `m8[5s]`.
    let (d, unit) = match d.find('[') {
        Some(i) => (d.get(..i)?, Some(d.get(i..)?)),
        None => (d, None),
    };
    let mut chars = d.chars();
    let kind = chars.next()?;
    let digits = chars.as_str();
    if !digits.bytes().all(|c| c.is_ascii_digit()) || digits.starts_with('0') && digits.len() > 1 {
        return None;
    }
    let n: Option<u64> = if digits.is_empty() {
        None
    } else {
        Some(digits.parse().ok()?)
    };
    if let Some(u) = unit {
        if !matches!(kind, 'M' | 'm') || n != Some(8) || !u.ends_with(']') || u.len() < 3 {
            return None;
        }
    }
    let fixed = |kind: char, size: u64| DType {
        kind,
        itemsize: size,
        object: false,
        flexible: false,
        big_endian: false,
    };
    let flex = |kind: char, size: u64| DType {
        flexible: true,
        ..fixed(kind, size)
    };
    let mut dt = match (kind, n) {
        ('O', None | Some(4 | 8)) => DType {
            object: true,
            ..fixed('O', 8)
        },
        ('?', None) | ('b', Some(1)) => fixed('b', 1),
        // The C type letters: `b` is a signed char, not a bool.
        ('b', None) => fixed('i', 1),
        ('B', None) => fixed('u', 1),
        ('h', None) => fixed('i', 2),
        ('H', None) => fixed('u', 2),
        ('e', None) => fixed('f', 2),
        ('i', None) => fixed('i', 4),
        ('I', None) => fixed('u', 4),
        ('f', None) => fixed('f', 4),
        ('l' | 'q' | 'p', None) => fixed('i', 8),
        ('L' | 'Q' | 'P', None) => fixed('u', 8),
        ('d', None) => fixed('f', 8),
        ('F', None) => fixed('c', 8),
        ('M' | 'm', None) => fixed(kind, 8),
        ('g', None) => fixed('f', 16),
        ('D', None) => fixed('c', 16),
        ('G', None) => fixed('c', 32),
        ('i' | 'u', Some(s @ (1 | 2 | 4 | 8))) => fixed(kind, s),
        ('f', Some(s @ (2 | 4 | 8 | 16))) => fixed('f', s),
        ('c', Some(s @ (8 | 16 | 32))) => fixed('c', s),
        ('M' | 'm', Some(8)) => fixed(kind, 8),
        ('c', None) => flex('S', 1),
        // numpy rejects a bare `a` after a byte order (`<a`), not `<S` or `<V`.
        ('a', None) if ordered => return None,
        ('S' | 'a', s) => flex('S', s.unwrap_or(0)),
        ('V', s) => flex('V', s.unwrap_or(0)),
        ('U', s) => flex('U', s.unwrap_or(0).checked_mul(4)?),
        _ => return None,
    };
    dt.big_endian = big && dt.has_byte_order();
    Some(dt)
}

impl DTypeState {
    /// The state read from a tuple of `len` items: `int(i)` is item `i` when it is an integer,
    /// `byteorder` item 1 when it is a string.
    pub fn from_items(
        len: usize,
        int: impl Fn(usize) -> Option<i128>,
        byteorder: Option<&str>,
    ) -> Self {
        let byteorder = byteorder.and_then(|s| {
            let mut c = s.chars();
            match (c.next(), c.next()) {
                (Some(ch), None) => Some(ch),
                _ => None,
            }
        });
        Self {
            len,
            version: int(0),
            byteorder,
            elsize: int(5),
            flags: int(7),
        }
    }
}

/// The dtype `numpy.dtype(descr)` builds, then `__setstate__(state)` when the pickle applies a
/// BUILD to it. Errors say why the result cannot be proven.
pub fn resolve(descr: &str, state: Option<DTypeState>) -> Result<DType, String> {
    let mut dt = parse_descr(descr)
        .ok_or_else(|| format!("dtype string {descr:?} is not one the scanner can size"))?;
    let Some(st) = state else { return Ok(dt) };
    let layout_ok = matches!((st.version, st.len), (Some(3), 8) | (Some(4), 9));
    if !layout_ok {
        return Err(format!(
            "the dtype state is a {}-item tuple of version {:?} (numpy writes version 3 with 8 items or 4 with 9)",
            st.len, st.version
        ));
    }
    let flags = st
        .flags
        .ok_or("the dtype state's flags are not an integer")?;
    dt.object = flags & 1 != 0;
    // `__setstate__` sets the byte order from the state (the pickled type string has none).
    if let Some(order) = st.byteorder {
        dt.big_endian = order == '>' && dt.has_byte_order();
    }
    if dt.flexible {
        let e = st
            .elsize
            .ok_or("the dtype state's elsize is not an integer")?;
        dt.itemsize = u64::try_from(e)
            .map_err(|_| format!("the dtype state sets a negative itemsize ({e})"))?;
    }
    Ok(dt)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[allow(clippy::unnecessary_wraps)] // `resolve` takes the Option
    fn st(version: i128, len: usize, elsize: i128, flags: i128) -> Option<DTypeState> {
        Some(DTypeState {
            len,
            version: Some(version),
            byteorder: Some('|'),
            elsize: Some(elsize),
            flags: Some(flags),
        })
    }

    #[test]
    fn sizes_match_numpy() {
        // (descr, itemsize, object) as numpy 2.x reports them on x86-64 Linux.
        let cases: &[(&str, u64, bool)] = &[
            ("<f8", 8, false),
            ("O8", 8, true),
            ("|O", 8, true),
            ("O4", 8, true),
            ("V64", 64, false),
            ("U40", 160, false),
            ("<U", 0, false),
            ("S5", 5, false),
            ("a5", 5, false),
            ("c", 1, false),
            ("c8", 8, false),
            ("G", 32, false),
            ("c32", 32, false),
            ("g", 16, false),
            ("f16", 16, false),
            ("D", 16, false),
            ("M8[ns]", 8, false),
            ("m8[5s]", 8, false),
            ("M", 8, false),
            ("?", 1, false),
            ("b1", 1, false),
            ("b", 1, false),
            ("B", 1, false),
            ("h", 2, false),
            ("e", 2, false),
            ("l", 8, false),
            ("p", 8, false),
            (">i2", 2, false),
            ("=u4", 4, false),
        ];
        for &(d, size, object) in cases {
            let dt = parse_descr(d).unwrap_or_else(|| panic!("{d}"));
            assert_eq!((dt.itemsize, dt.object), (size, object), "{d}");
        }
        for bad in [
            "zz", "i0", "i16", "f3", "O16", "f8[ns]", "float64", " f8", "f8 ", "2f8", "<<f8",
            "f08", "",
        ] {
            assert!(parse_descr(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn state_overrides_as_numpy_setstate_does() {
        // Flags decide the object flag, whatever the type string says.
        assert!(resolve("f8", st(3, 8, -1, 1)).unwrap().object);
        assert!(!resolve("O8", st(3, 8, -1, 0)).unwrap().object);
        assert!(resolve("O8", st(3, 8, -1, 63)).unwrap().object);
        assert!(resolve("f8", st(3, 8, -1, -1)).unwrap().object);
        assert!(!resolve("f8", st(3, 8, -1, 256)).unwrap().object);
        // elsize only for flexible types.
        assert_eq!(resolve("f8", st(3, 8, 16, 0)).unwrap().itemsize, 8);
        assert_eq!(resolve("V8", st(3, 8, 16, 0)).unwrap().itemsize, 16);
        assert_eq!(resolve("U3", st(3, 8, 100, 0)).unwrap().itemsize, 100);
        assert_eq!(resolve("U10", st(3, 8, 40, 8)).unwrap().itemsize, 40);
        assert_eq!(resolve("M8", st(4, 9, -1, 0)).unwrap().itemsize, 8);
        // Not provable: odd layouts, negative sizes, non-integer flags.
        assert!(resolve("U3", st(3, 8, -1, 0)).is_err());
        assert!(resolve("O8", st(3, 7, -1, 0)).is_err());
        assert!(resolve("O8", st(1, 7, -1, 0)).is_err());
        assert!(resolve(
            "f8",
            Some(DTypeState {
                len: 8,
                version: Some(3),
                byteorder: None,
                elsize: Some(-1),
                flags: None
            })
        )
        .is_err());
        assert!(resolve("float64", None).is_err());
        assert_eq!(resolve("U2", None).unwrap().itemsize, 8);
    }

    proptest::proptest! {
        /// A byte-order prefix never changes the kind, size or object flag (numpy rejects only a
        /// bare `a` after one); `U` counts 4 bytes per character; only `O` has objects.
        #[test]
        fn byte_order_never_changes_the_size(
            prefix in "[<>=|]",
            kind in "[?bBhHiIlLqQpPefdgFDGOSaUVcMm]",
            size in proptest::option::of(0u64..80),
        ) {
            let body = format!("{kind}{}", size.map(|n| n.to_string()).unwrap_or_default());
            let bare = parse_descr(&body);
            let ordered = parse_descr(&format!("{prefix}{body}"));
            if body == "a" {
                proptest::prop_assert!(ordered.is_none());
            } else {
                let facts = |d: Option<DType>| d.map(|d| (d.kind, d.itemsize, d.object, d.flexible));
                proptest::prop_assert_eq!(facts(bare), facts(ordered));
                // Only `>` makes a dtype big-endian, and only one numpy gives a byte order.
                if let (Some(b), Some(o)) = (bare, ordered) {
                    proptest::prop_assert!(!b.big_endian);
                    proptest::prop_assert_eq!(o.big_endian, prefix == ">" && o.has_byte_order());
                }
            }
            if let Some(d) = bare {
                proptest::prop_assert_eq!(d.object, kind == "O");
                if let ("U", Some(n)) = (kind.as_str(), size) {
                    proptest::prop_assert_eq!(Some(d.itemsize), n.checked_mul(4));
                }
            }
        }
    }
}
