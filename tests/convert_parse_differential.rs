//! The converter reads what the scanner read (issue 12: one parser per format). For every
//! conversion fixture, what the converter writes out (tensor names, safetensors dtypes, shapes,
//! element bytes) or reads (joblib inline array byte ranges) must equal what the scanner's
//! reading of the same bytes reports:
//! - `.npy` / `.npz`: the scanner's side is the archive walker's zip reader
//!   (`walk::read_member`) and the `.npy` header reader (`formats::npy::parse_npy`), with the
//!   element bytes taken at the data offset and size it computes; the converter's side is the
//!   safetensors file `convert_file` writes.
//! - joblib and pickled estimators: the scanning walker's skipped array ranges
//!   (`Analysis::arrays`) against the ranges the converter's VM reads (`Vm::arrays`), on the
//!   stream each side decompresses for itself.
//!
//! The comparisons are functions returning the differences, and `a_different_reading_is_caught`
//! shows they report a deliberately different reading.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Read;
use std::path::{Path, PathBuf};

use modelgate::artifact::Content;
use modelgate::convert::{self, sklearn, ConvertOptions, InputKind, Target};
use modelgate::format::Format;
use modelgate::formats::npy::parse_npy;
use modelgate::pickle::joblib::ArraySpan;
use modelgate::pickle::vm::{Vm, VmError};
use modelgate::pickle::{analyse_stream, Policy, WalkLimits};
use modelgate::walk::{read_central_directory, read_member};
use modelgate::SignatureDb;

fn fixtures(pred: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/convert/benign");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&pred))
        .collect();
    v.sort();
    v
}

/// One tensor as a reader sees it: element bytes in C order, little-endian.
#[derive(Debug, Clone, PartialEq)]
struct Tensor {
    name: String,
    dtype: String,
    shape: Vec<usize>,
    data: Vec<u8>,
}

/// The differences between two readings, by tensor name.
fn diff(scanner: &[Tensor], converter: &[Tensor]) -> Vec<String> {
    let mut out = Vec::new();
    let names = |t: &[Tensor]| t.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    if names(scanner) != names(converter) {
        out.push(format!(
            "names: scanner {:?}, converter {:?}",
            names(scanner),
            names(converter)
        ));
    }
    for s in scanner {
        let Some(c) = converter.iter().find(|c| c.name == s.name) else {
            continue;
        };
        if (&s.dtype, &s.shape) != (&c.dtype, &c.shape) {
            out.push(format!(
                "{}: scanner {} {:?}, converter {} {:?}",
                s.name, s.dtype, s.shape, c.dtype, c.shape
            ));
        } else if s.data != c.data {
            out.push(format!("{}: the element bytes differ", s.name));
        }
    }
    out
}

/// The safetensors name of a numpy (kind, itemsize), written out here rather than taken from
/// the converter, so that a converter mapping a dtype differently is caught.
fn st_name(kind: char, itemsize: u64) -> Option<&'static str> {
    Some(match (kind, itemsize) {
        ('f', 8) => "F64",
        ('f', 4) => "F32",
        ('f', 2) => "F16",
        ('i', 8) => "I64",
        ('i', 4) => "I32",
        ('i', 2) => "I16",
        ('i', 1) => "I8",
        ('u', 8) => "U64",
        ('u', 4) => "U32",
        ('u', 2) => "U16",
        ('u', 1) => "U8",
        ('b', 1) => "BOOL",
        ('c', 8) => "C64",
        _ => return None,
    })
}

/// The tensor an `.npy` holds, as the scanner's header reading locates it.
fn scanner_npy(name: &str, bytes: &[u8]) -> Tensor {
    let h = parse_npy(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let shape: Vec<usize> = h
        .shape
        .iter()
        .map(|&d| usize::try_from(d).unwrap())
        .collect();
    let start = usize::try_from(h.data_offset).unwrap();
    let len = usize::try_from(h.nbytes.expect("sized")).unwrap();
    let raw = &bytes[start..start + len];
    let size = usize::try_from(h.dtype.itemsize).unwrap();
    Tensor {
        name: name.to_owned(),
        dtype: st_name(h.dtype.kind, h.dtype.itemsize)
            .unwrap_or_else(|| panic!("{name}: no safetensors dtype"))
            .to_owned(),
        data: c_order_le(raw, &shape, size, h.fortran_order, h.dtype.big_endian),
        shape,
    }
}

/// Elements in C order, each little-endian.
fn c_order_le(raw: &[u8], shape: &[usize], size: usize, fortran: bool, big: bool) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n * size);
    for i in 0..n {
        // C-order index i → multi-index → storage index.
        let mut rem = i;
        let mut idx = vec![0; shape.len()];
        for k in (0..shape.len()).rev() {
            idx[k] = rem % shape[k];
            rem /= shape[k];
        }
        let mut at = 0;
        if fortran {
            for k in (0..shape.len()).rev() {
                at = at * shape[k] + idx[k];
            }
        } else {
            at = i;
        }
        let mut el = raw[at * size..(at + 1) * size].to_vec();
        if big {
            el.reverse();
        }
        out.extend(el);
    }
    out
}

/// The tensors of a safetensors file the converter wrote, sorted by name.
fn converted(input: &Path) -> Vec<Tensor> {
    let mut buf = Vec::new();
    convert::convert_file(
        input,
        Target::Safetensors,
        &mut buf,
        &ConvertOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
    let st = safetensors::SafeTensors::deserialize(&buf).expect("safetensors");
    let mut v: Vec<Tensor> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| Tensor {
            name,
            dtype: format!("{:?}", view.dtype()),
            shape: view.shape().to_vec(),
            data: view.data().to_vec(),
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// The tensors the scanner's reading finds in an `.npy` or `.npz` file, sorted by name.
fn scanned(input: &Path) -> Vec<Tensor> {
    let bytes = std::fs::read(input).expect("read");
    let stem = input.file_stem().unwrap().to_str().unwrap();
    if input.extension().is_some_and(|e| e == "npy") {
        return vec![scanner_npy(stem, &bytes)];
    }
    let content = Content::file(input.to_path_buf()).expect("open");
    let index = read_central_directory(&content).expect("zip");
    let mut v: Vec<Tensor> = index
        .entries
        .iter()
        .filter(|e| !e.is_dir)
        .map(|e| {
            let member = read_member(&content, e, 1 << 30).expect("member");
            scanner_npy(e.name.strip_suffix(".npy").expect(".npy member"), &member)
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

#[test]
fn numpy_conversions_write_what_the_scanner_read() {
    let inputs = fixtures(|n| n.ends_with(".npy") || n.ends_with(".npz"));
    assert!(inputs.len() >= 5, "{inputs:?}");
    let mut tensors = 0;
    for input in &inputs {
        let (s, c) = (scanned(input), converted(input));
        let d = diff(&s, &c);
        assert!(d.is_empty(), "{}: {d:#?}", input.display());
        tensors += s.len();
    }
    assert!(tensors >= 7, "only {tensors} tensors compared");
}

/// An `.npy` file as `np.save` lays it out (header padded to 64 bytes), with `data` after it.
fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let py = if fortran { "True" } else { "False" };
    let mut h = format!("{{'descr': {descr}, 'fortran_order': {py}, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend(u16::try_from(h.len()).unwrap().to_le_bytes());
    b.extend(h.as_bytes());
    b.extend(data);
    b
}

/// Spellings `np.save` does not write but `np.load` reads (C type letters, `=` and no byte
/// order, big-endian, Fortran order): the converter must write what the scanner's reading of
/// the header says, not a reading of its own (a converter that took `b` for a bool, as numpy's
/// `?`, would write `BOOL` where numpy loads int8).
#[test]
fn uncommon_dtype_spellings_convert_as_the_scanner_reads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: Vec<u8> = (0u8..48).collect();
    let cases = [
        ("'b'", false, "(2, 3)"),
        ("'B'", false, "(6,)"),
        ("'h'", true, "(2, 3)"),
        ("'=i4'", false, "(3, 2)"),
        ("'>u2'", true, "(3, 2)"),
        ("'f'", false, "(2, 3)"),
        ("'>d'", false, "(2, 3)"),
        ("'?'", false, "(6,)"),
        ("'|u1'", true, "(2, 3)"),
        ("'l'", false, "(6,)"),
        ("'e'", false, "(2, 3)"),
    ];
    for (i, (descr, fortran, shape)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("a{i}.npy"));
        std::fs::write(&path, npy(descr, *fortran, shape, &data)).expect("write");
        // Keep exactly the bytes the header declares (numpy ignores extra ones; the scanner
        // reports them).
        let bytes = std::fs::read(&path).expect("read");
        let h = parse_npy(&bytes).expect("header");
        let end = usize::try_from(h.data_offset + h.nbytes.expect("sized")).unwrap();
        std::fs::write(&path, &bytes[..end]).expect("trim");
        let d = diff(&scanned(&path), &converted(&path));
        assert!(d.is_empty(), "{descr} {shape}: {d:#?}");
    }
}

fn policy() -> Policy {
    Policy::compile(&SignatureDb::embedded().expect("db")).expect("policy")
}

/// The pickle stream the scanner walks for `input` (the engine's decoders).
fn scanner_stream(input: &Path, compression: Format) -> Vec<u8> {
    let file = std::fs::File::open(input).expect("open");
    let mut r = match compression {
        Format::Pickle => Box::new(file) as Box<dyn Read>,
        f => modelgate::walk::decoder(f, Box::new(file)).expect("decoder"),
    };
    let mut out = Vec::new();
    r.read_to_end(&mut out).expect("decompress");
    out
}

/// The joblib array ranges the converter's VM reads for the first pickle (as the converter
/// runs it), or the VM's error.
fn vm_arrays(stream: &[u8]) -> Result<Vec<ArraySpan>, VmError> {
    let mut vm = Vm::new(stream, sklearn::vm_options(stream));
    vm.next_pickle()?;
    Ok(vm.arrays().to_vec())
}

/// The differences between the ranges the walker skipped and the ranges the VM read.
fn span_diff(walker: &[ArraySpan], vm: &[ArraySpan]) -> Vec<String> {
    let mut out = Vec::new();
    if walker.len() != vm.len() {
        out.push(format!(
            "the walker skipped {} arrays, the VM read {}",
            walker.len(),
            vm.len()
        ));
    }
    for (i, (w, v)) in walker.iter().zip(vm).enumerate() {
        if w != v {
            out.push(format!("array {i}: walker {w:?}, VM {v:?}"));
        }
    }
    out
}

#[test]
fn estimator_conversions_read_the_array_bytes_the_scanner_skipped() {
    let policy = policy();
    let inputs =
        fixtures(|n| n.ends_with(".joblib") || n.ends_with(".joblib.z") || n.ends_with(".pkl"));
    assert!(inputs.len() >= 60, "{}", inputs.len());
    let mut arrays = 0;
    for input in &inputs {
        let InputKind::Pickle(compression) = convert::detect(input).expect("detect") else {
            panic!("{}: not a pickle", input.display());
        };
        let stream = sklearn::read_stream(input, compression).expect("converter stream");
        assert!(
            stream == scanner_stream(input, compression),
            "{}: the converter decompresses different bytes",
            input.display()
        );
        let walked = analyse_stream(&stream[..], &policy, WalkLimits::default());
        assert!(walked.complete, "{}", input.display());
        let read = vm_arrays(&stream).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        let d = span_diff(&walked.arrays, &read);
        assert!(d.is_empty(), "{}: {d:#?}", input.display());
        let name = input.file_name().unwrap().to_str().unwrap();
        if name.contains(".joblib") {
            assert!(!read.is_empty(), "{name}: no inline arrays read");
        }
        arrays += read.len();
    }
    assert!(arrays > 100, "only {arrays} inline arrays compared");
}

/// The comparisons report a reading that differs: a header whose dtype or shape another
/// parser would read differently, and a joblib array read one byte off.
#[test]
fn a_different_reading_is_caught() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/convert/benign/array_c.npy");
    let bytes = std::fs::read(&input).expect("read");
    let converter = converted(&input);
    assert!(diff(&scanned(&input), &converter).is_empty());
    let swap = |from: &str, to: &str| {
        assert_eq!(from.len(), to.len());
        let at = bytes
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .unwrap_or_else(|| panic!("{from} not in the header"));
        let mut b = bytes.clone();
        b[at..at + to.len()].copy_from_slice(to.as_bytes());
        b
    };
    // Byte order read differently: same names, dtype and shape, other element bytes.
    let other = scanner_npy("array_c", &swap("'<f4'", "'>f4'"));
    let d = diff(&[other], &converter);
    assert!(d.iter().any(|m| m.contains("element bytes")), "{d:?}");
    // Shape read differently.
    let other = scanner_npy("array_c", &swap("(3, 4)", "(4, 3)"));
    let d = diff(&[other], &converter);
    assert!(d.iter().any(|m| m.contains("[4, 3]")), "{d:?}");
    // A tensor only one side saw.
    assert!(!diff(&[], &converter).is_empty());

    let policy = policy();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/convert/benign/ridge.joblib");
    let stream = scanner_stream(&input, Format::Pickle);
    let walked = analyse_stream(&stream[..], &policy, WalkLimits::default()).arrays;
    let mut read = vm_arrays(&stream).expect("vm");
    assert!(span_diff(&walked, &read).is_empty());
    read[0].data_start += 1;
    assert!(!span_diff(&walked, &read).is_empty());
    read.pop();
    assert!(!span_diff(&walked, &read).is_empty());
}
