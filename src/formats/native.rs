#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! Native code references inside model files that are otherwise data: shared-library paths
//! (OpenVINO metadata, TensorRT plugin libraries) and ELF images embedded in a blob (TensorRT
//! plans carry GPU code as CUDA ELF images, and may carry host code: serialized plugin libraries
//! and the lean runtime of version-compatible plans). One place, so that every format calls the
//! same bytes the same thing.

use std::io::Read;

/// Whether `v` names a shared library (`.so`, `.so.N…`, `.dll`, `.dylib`).
pub fn is_library_path(v: &str) -> bool {
    let l = v.trim().to_ascii_lowercase();
    let base = l.rsplit(['/', '\\']).next().unwrap_or(&l);
    let stem_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'))
    };
    if let Some(stem) = base
        .strip_suffix(".dll")
        .or_else(|| base.strip_suffix(".dylib"))
        .or_else(|| base.strip_suffix(".so"))
    {
        return stem_ok(stem);
    }
    base.split_once(".so.").is_some_and(|(stem, rest)| {
        stem_ok(stem) && !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    })
}

/// The ELF machine of an image (`e_machine`, little-endian files only, which every platform
/// TensorRT and CUDA ship for is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfMachine {
    /// NVIDIA CUDA (`EM_CUDA`, 190): GPU code, the normal content of an engine.
    Cuda,
    /// Code a CPU runs (x86, x86-64, ARM, AArch64, RISC-V, POWER): host code.
    Host(u16),
    /// Anything else.
    Other(u16),
}

impl ElfMachine {
    pub fn from_e_machine(m: u16) -> Self {
        match m {
            190 => ElfMachine::Cuda,
            3 | 62 | 40 | 183 | 243 | 21 => ElfMachine::Host(m),
            other => ElfMachine::Other(other),
        }
    }

    /// A short name for reports.
    pub fn name(self) -> String {
        match self {
            ElfMachine::Cuda => "CUDA".to_owned(),
            ElfMachine::Host(62) => "x86-64".to_owned(),
            ElfMachine::Host(3) => "x86".to_owned(),
            ElfMachine::Host(40) => "ARM".to_owned(),
            ElfMachine::Host(183) => "AArch64".to_owned(),
            ElfMachine::Host(243) => "RISC-V".to_owned(),
            ElfMachine::Host(21) => "POWER64".to_owned(),
            ElfMachine::Host(m) | ElfMachine::Other(m) => format!("machine {m}"),
        }
    }
}

/// What a pass over an opaque blob found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobStrings {
    /// Shared-library paths among the printable strings (first ones, deduplicated).
    pub libraries: Vec<String>,
    /// Printable strings matching a caller's predicate (first ones, deduplicated).
    pub names: Vec<String>,
    /// Embedded ELF images: offset and machine.
    pub elf_images: Vec<(u64, ElfMachine)>,
    /// How many ELF images there were in all.
    pub elf_count: u64,
    /// Bytes read.
    pub bytes: u64,
}

const KEEP: usize = 64;
/// Longest printable run kept as one string (longer runs are cut, their start kept).
const MAX_STRING: usize = 4096;
const CHUNK: usize = 1 << 20;

/// Reads `input` to its end once, collecting shared-library paths and other printable strings
/// (runs of at least 4 printable ASCII bytes) for which `keep_name` says yes, and the ELF images
/// inside with their machine. Memory stays bounded by the chunk size and the kept facts.
pub fn scan_blob(
    mut input: impl Read,
    keep_name: impl Fn(&str) -> bool,
) -> std::io::Result<BlobStrings> {
    let mut out = BlobStrings::default();
    let mut buf = vec![0u8; CHUNK];
    // The current printable run, carried across chunks.
    let mut run: Vec<u8> = Vec::new();
    // The last 19 bytes of the previous chunk, for an ELF header cut by a chunk boundary.
    let mut tail: Vec<u8> = Vec::new();
    let mut pos: u64 = 0;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        // ELF magics, over the carried tail and this chunk.
        let mut window = std::mem::take(&mut tail);
        let window_start = pos.saturating_sub(window.len() as u64);
        window.extend_from_slice(chunk);
        let mut at = 0usize;
        while let Some(i) = find(window.get(at..).unwrap_or_default(), b"\x7fELF") {
            let i = at.saturating_add(i);
            let m = window
                .get(i.saturating_add(18)..i.saturating_add(20))
                .map(|b| {
                    u16::from_le_bytes([
                        b.first().copied().unwrap_or(0),
                        b.get(1).copied().unwrap_or(0),
                    ])
                });
            match m {
                Some(m) => {
                    out.elf_count = out.elf_count.saturating_add(1);
                    if out.elf_images.len() < KEEP {
                        out.elf_images.push((
                            window_start.saturating_add(i as u64),
                            ElfMachine::from_e_machine(m),
                        ));
                    }
                    at = i.saturating_add(4);
                }
                // The header continues in the next chunk: keep it for then.
                None => break,
            }
        }
        let keep_from = window.len().saturating_sub(19).max(at);
        tail = window.get(keep_from..).unwrap_or_default().to_vec();
        // Printable runs.
        for &b in chunk {
            if (0x20..0x7f).contains(&b) {
                if run.len() < MAX_STRING {
                    run.push(b);
                }
            } else {
                take_run(&mut run, &mut out, &keep_name);
            }
        }
        pos = pos.saturating_add(n as u64);
    }
    take_run(&mut run, &mut out, &keep_name);
    out.bytes = pos;
    Ok(out)
}

fn take_run(run: &mut Vec<u8>, out: &mut BlobStrings, keep_name: &impl Fn(&str) -> bool) {
    if run.len() >= 4 {
        let s = String::from_utf8_lossy(run);
        for token in
            s.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '='))
        {
            if is_library_path(token)
                && out.libraries.len() < KEEP
                && !out.libraries.iter().any(|l| l == token)
            {
                out.libraries.push(token.to_owned());
            }
        }
        if keep_name(&s) && out.names.len() < KEEP && !out.names.iter().any(|n| *n == s) {
            out.names.push(s.into_owned());
        }
    }
    run.clear();
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn library_paths() {
        assert!(is_library_path("libx.so"));
        assert!(is_library_path("/a/libx.so.2.1"));
        assert!(is_library_path("C:\\ext\\x.dll"));
        assert!(is_library_path("libfoo.dylib"));
        assert!(!is_library_path("model.solver"));
        assert!(!is_library_path("2025.1.0"));
        assert!(!is_library_path(".so"));
        assert!(!is_library_path("a b.so"));
    }

    fn elf(machine: u16) -> Vec<u8> {
        let mut e = b"\x7fELF\x02\x01\x01".to_vec();
        e.resize(18, 0);
        e.extend_from_slice(&machine.to_le_bytes());
        e.resize(64, 0);
        e
    }

    #[test]
    fn finds_strings_and_elf_images_across_chunks() {
        let mut blob = vec![0u8; CHUNK - 10];
        blob.extend(elf(62)); // straddles the first chunk boundary
        blob.extend(b"\0/opt/plugins/libmy_plugin.so\0EfficientNMS_TRT\0");
        blob.extend(elf(190));
        let s = scan_blob(blob.as_slice(), |n| n.ends_with("_TRT")).unwrap();
        assert_eq!(s.libraries, vec!["/opt/plugins/libmy_plugin.so".to_owned()]);
        assert_eq!(s.names, vec!["EfficientNMS_TRT".to_owned()]);
        assert_eq!(s.elf_count, 2);
        assert_eq!(s.elf_images[0], ((CHUNK - 10) as u64, ElfMachine::Host(62)));
        assert_eq!(s.elf_images[1].1, ElfMachine::Cuda);
        assert_eq!(s.bytes, blob.len() as u64);
    }
}
