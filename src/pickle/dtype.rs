//! numpy dtype facts as numpy itself computes them: the itemsize and the object flag that decide
//! how many bytes joblib's `NumpyArrayWrapper.read_array` reads raw after the wrapper (or
//! whether it runs `pickle.load` instead), and how large an `.npy` body is.
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
    clippy::arithmetic_side_effects
)]

/// numpy dtype facts the joblib skip and the `.npy` size check need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DType {
    /// `dtype.itemsize` (bytes per element).
    pub itemsize: u64,
    /// `dtype.hasobject`.
    pub object: bool,
    /// A flexible type (`S`, `U`, `V`): its itemsize is taken from a BUILD state's `elsize`.
    pub flexible: bool,
}

/// The parts of a `numpy.dtype` BUILD state (`__setstate__` tuple) that decide the size and
/// the object flag, as integers read from the pickle (`None` where the item is not an
/// integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DTypeState {
    /// Number of items in the state tuple.
    pub len: usize,
    pub version: Option<i128>,
    pub elsize: Option<i128>,
    pub flags: Option<i128>,
}

/// Parses a dtype string exactly as `numpy.dtype(str)` sizes it (`f8`, `<i4`, `O8`, `V64`,
/// `U40` = 160 bytes, `S5`, `b1`, `M8[ns]`, `?`, `g` = 16 bytes), for the spellings numpy's
/// own reductions and `.npy` headers use. Other spellings numpy may accept (`float64`,
/// `(2,)f8`, `f8,i4`) return `None`: unknown, never guessed.
pub fn parse_descr(descr: &str) -> Option<DType> {
    let (d, ordered) = match descr.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => (descr.get(1..)?, true),
        _ => (descr, false),
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
    let fixed = |size: u64| DType {
        itemsize: size,
        object: false,
        flexible: false,
    };
    let flex = |size: u64| DType {
        itemsize: size,
        object: false,
        flexible: true,
    };
    Some(match (kind, n) {
        ('O', None | Some(4 | 8)) => DType {
            itemsize: 8,
            object: true,
            flexible: false,
        },
        ('?' | 'b' | 'B', None) | ('b', Some(1)) => fixed(1),
        ('h' | 'H' | 'e', None) => fixed(2),
        ('i' | 'I' | 'f', None) => fixed(4),
        ('l' | 'L' | 'q' | 'Q' | 'p' | 'P' | 'd' | 'F' | 'M' | 'm', None) => fixed(8),
        ('g' | 'D', None) => fixed(16),
        ('G', None) => fixed(32),
        ('i' | 'u', Some(s @ (1 | 2 | 4 | 8))) => fixed(s),
        ('f', Some(s @ (2 | 4 | 8 | 16))) => fixed(s),
        ('c', Some(s @ (8 | 16 | 32))) => fixed(s),
        ('M' | 'm', Some(8)) => fixed(8),
        ('c', None) => flex(1),
        // numpy rejects a bare `a` after a byte order (`<a`), not `<S` or `<V`.
        ('a', None) if ordered => return None,
        ('S' | 'a' | 'V', s) => flex(s.unwrap_or(0)),
        ('U', s) => flex(s.unwrap_or(0).checked_mul(4)?),
        _ => return None,
    })
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
                elsize: Some(-1),
                flags: None
            })
        )
        .is_err());
        assert!(resolve("float64", None).is_err());
        assert_eq!(resolve("U2", None).unwrap().itemsize, 8);
    }

    proptest::proptest! {
        /// A byte-order prefix never changes the size or the object flag (numpy rejects only a
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
                proptest::prop_assert_eq!(bare, ordered);
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
