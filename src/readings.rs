#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! Every interpretation a loader can take of one artifact's bytes, beyond the format it was
//! sniffed as.
//!
//! Sniffing picks one primary format, but loaders do not agree on what a file is: the C unpickler
//! accepts any first opcode, and `torch.load`, `numpy.load(allow_pickle=True)` and `joblib.load`
//! fall back to unpickling when their own magic is absent; `torch.load` tries a tar before the
//! legacy pickle, and Python's `tarfile` accepts any 512-byte header with a valid checksum (no
//! `ustar` magic needed); Python's `zipfile` (Keras, `zipfile.is_zipfile`) finds an archive by its
//! end record, whatever precedes it; HDF5 finds its superblock after a user block at 512, 1024,
//! 2048, … bytes; joblib picks a decompressor by a one- or two-byte prefix alone. A scanner that
//! reads only the primary format is bypassed by a file that is two things at once, so the engine
//! reads every alternative listed here as well (fail closed: "when two readings are possible,
//! scan both").
//!
//! What is deliberately *not* read again: bytes that the pickle reader would reject at their first
//! byte (the unpickler raises before doing anything), and tensor storages that a container's
//! structure marks as data (`torch.load` reads them only as numbers).

use std::io;

use crate::artifact::{has_zip_trailer, Artifact, Content};
use crate::format::Format;
use crate::pickle::OpCode;
use crate::sniff::{is_tf_data_name, tar_header_ok};

/// One more way to read an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Walk the bytes as a pickle from offset 0 (the unpickler fallback of torch, numpy and
    /// joblib; `pickle.load` on any file).
    Pickle,
    /// Expand as a zip located by its end-of-central-directory record (Python's `zipfile`).
    Zip,
    /// Expand as a tar: the first block is a header with a valid checksum (Python's `tarfile`).
    Tar,
    /// An HDF5 file whose superblock follows a user block of this many bytes.
    Hdf5At(u64),
    /// A compressed stream chosen by its prefix alone (joblib), decoded as far as it goes.
    Compressed(Format),
    /// A RAR archive behind a program (a self-extracting archive): `unrar` and 7-Zip find the
    /// signature anywhere in the first 4 MiB.
    Rar,
}

impl Reading {
    /// How the report names this reading.
    pub fn describe(self) -> String {
        match self {
            Reading::Pickle => "a pickle (pickle.load and the loaders that fall back to it)".into(),
            Reading::Zip => "a zip archive (Python's zipfile finds it by its end record)".into(),
            Reading::Tar => {
                "a tar archive (Python's tarfile accepts a header with a valid checksum)".into()
            }
            Reading::Hdf5At(off) => format!("an HDF5 file after a {off}-byte user block"),
            Reading::Rar => {
                "a self-extracting RAR archive (unrar finds the archive behind the program)".into()
            }
            Reading::Compressed(f) => {
                format!(
                    "a {} stream (joblib picks decompressors by prefix)",
                    f.name()
                )
            }
        }
    }
}

/// Whether the primary scan already walked the bytes as a pickle from offset 0.
fn walked_as_pickle(f: Format) -> bool {
    matches!(
        f,
        Format::Pickle | Format::PytorchLegacy | Format::TorchTarMember
    )
}

/// Whether a pickle loader could do anything at all with bytes starting with `head`: the
/// unpickler raises at an unknown first opcode, and at PROTO with a protocol above 5, before it
/// imports or calls anything.
pub fn pickle_could_start(head: &[u8]) -> bool {
    match head {
        [] => false,
        [0x80, p, ..] => *p <= 5,
        [b, ..] => OpCode::from_byte(*b).is_some(),
    }
}

/// The readings of `a` beyond its sniffed format. `head` is its first [`crate::sniff::SNIFF_LEN`]
/// bytes.
pub fn other_readings(a: &Artifact, head: &[u8]) -> io::Result<Vec<Reading>> {
    let mut out = Vec::new();
    let f = a.format;
    // Installed library code and image layers are vetted by the package inventory and expanded
    // as filesystems; nobody loads them as a model.
    if matches!(f, Format::ImageLayer | Format::PythonLibrary) {
        return Ok(out);
    }
    // Tensor storages classified from a PyTorch archive's structure are read by torch only as
    // numbers. TensorFlow shards classified by *name* are walked: names never decide that bytes
    // are harmless.
    let structural_data = f == Format::Data && !is_tf_data_name(&a.name);
    if !walked_as_pickle(f) && !structural_data && pickle_could_start(head) {
        out.push(Reading::Pickle);
    }
    // `tarfile.open` (mode `r:*`) tries gzip, bzip2 and xz first and falls back to a plain tar
    // when the decompressed bytes are not one: a gzip stream whose header's extra field makes
    // its first block a tar header with a valid checksum is both, so every format is read as a
    // tar when its first block is one, compressed streams and other archives included.
    if f != Format::Data && f != Format::Tar && tar_header_ok(head) {
        out.push(Reading::Tar);
    }
    let plain = !(f.is_archive() || f.is_compression());
    if plain && f != Format::Data {
        if has_zip_trailer(&a.content)? {
            out.push(Reading::Zip);
        }
        if let Some(c) = prefix_compression(head) {
            out.push(Reading::Compressed(c));
        }
        if rar_behind_program(a, head) {
            out.push(Reading::Rar);
        }
    }
    if plain && f != Format::Data {
        if let Some(off) = hdf5_user_block(&a.content, f == Format::Hdf5)? {
            out.push(Reading::Hdf5At(off));
        }
    }
    Ok(out)
}

/// Whether `a` is a program (or named `.rar`/`.exe`) with a RAR archive in its first 4 MiB: a
/// self-extracting archive, which `unrar` and 7-Zip extract like a plain one. `unrar` accepts
/// any prelude; only programs and such names are searched, because nobody points an extractor
/// at a tensor file, and the search costs a 4 MiB read.
fn rar_behind_program(a: &Artifact, head: &[u8]) -> bool {
    let lower = a.name.to_ascii_lowercase();
    let named = lower.ends_with(".rar") || lower.ends_with(".exe") || lower.ends_with(".sfx");
    if crate::formats::rar::is_rar(head) || !(named || crate::sniff::program_kind(head).is_some()) {
        return false;
    }
    // A stream that was not kept past its head (see `crate::walk::spool`, which keeps a
    // program whose head holds a RAR signature) has no signature in what was kept.
    let Ok(window) = a.content.head(crate::formats::rar::SFX_SEARCH) else {
        return false;
    };
    crate::formats::rar::find_signature(&window).is_some()
}

/// joblib's compressor test (`_detect_compressor`): a file starting with one of these prefixes is
/// decompressed, whatever else it looks like. Only prefixes whose full-magic sniff failed are
/// returned (the sniff already unwraps real streams).
pub fn prefix_compression(head: &[u8]) -> Option<Format> {
    if head.first() == Some(&0x78) {
        // zlib's header check (the stream is rejected by zlib otherwise).
        let flg = head.get(1).copied()?;
        return (0x78u16 * 256 + u16::from(flg))
            .is_multiple_of(31)
            .then_some(Format::Zlib);
    }
    if head.starts_with(&[0x5d, 0x00]) {
        return Some(Format::Lzma);
    }
    None
}

/// Whether `head` is text: valid UTF-8 (a multi-byte character may be cut at the end) without
/// control characters other than tab, newline, carriage return and form feed.
pub fn is_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(head.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or("")
        }
        Err(_) => return false,
    };
    !valid.is_empty()
        && valid
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

/// The HDF5 library looks for its superblock signature at offset 0, then 512, 1024, 2048, … (a
/// user block of any power-of-two size from 512 bytes). Returns the first such offset above 0,
/// unless the file already starts with a superblock (`at_zero`), which the library takes first.
fn hdf5_user_block(content: &Content, at_zero: bool) -> io::Result<Option<u64>> {
    const SIG: &[u8; 8] = b"\x89HDF\r\n\x1a\n";
    if at_zero {
        return Ok(None);
    }
    let len = content.len();
    let mut off: u64 = 512;
    while off.saturating_add(8) <= len {
        // In-memory content is probed in place; a file costs one small read per offset.
        let found = match content {
            Content::Memory(b) => usize::try_from(off)
                .ok()
                .and_then(|o| b.get(o..o.saturating_add(8)))
                .is_some_and(|w| w == SIG),
            _ => content.read_at(off, 8)? == SIG,
        };
        if found {
            return Ok(Some(off));
        }
        off = match off.checked_mul(2) {
            Some(o) => o,
            None => break,
        };
    }
    Ok(None)
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
    use crate::finding::Location;

    fn readings(bytes: &[u8], name: &str) -> Vec<Reading> {
        let a = Artifact::sniffed(
            Location::file(name),
            name.to_owned(),
            Content::from_vec(bytes.to_vec()),
            0,
        )
        .expect("sniff");
        let head = a.content.head(crate::sniff::SNIFF_LEN).expect("head");
        other_readings(&a, &head).expect("readings")
    }

    #[test]
    fn non_pickle_formats_are_also_walked_as_pickles() {
        // JSON starts with `{`, not an opcode: nothing for a pickle loader to run.
        assert!(readings(b"{\"a\": 1}", "config.json").is_empty());
        // A protocol-4 pickle whose bytes 4..8 spell the TFLite identifier.
        let p = b"\x80\x04\x8c\x04TFL3\x94.";
        assert_eq!(readings(p, "m.tflite"), vec![Reading::Pickle]);
        // Text starting with an opcode letter.
        assert_eq!(readings(b"cat\ndog\n", "labels.txt"), vec![Reading::Pickle]);
        // Already a pickle: no second walk.
        assert!(readings(b"\x80\x02N.", "x.pkl").is_empty());
        // Unsupported protocol: the unpickler refuses the first opcode.
        assert!(!pickle_could_start(b"\x80\x09N."));
    }

    #[test]
    fn tensorflow_shard_names_do_not_exempt_content() {
        assert_eq!(
            readings(
                b"\x80\x02cos\nsystem\nq\x00.",
                "variables.data-00000-of-00001"
            ),
            vec![Reading::Pickle]
        );
    }

    #[test]
    fn hdf5_after_a_user_block_is_found() {
        let mut f = b"\x80\x02N.".to_vec();
        f.resize(1024, 0);
        f.extend_from_slice(b"\x89HDF\r\n\x1a\n");
        f.resize(4096, 0);
        let r = readings(&f, "model.h5");
        assert!(r.contains(&Reading::Hdf5At(1024)), "{r:?}");
    }

    #[test]
    fn a_gzip_stream_whose_first_block_is_a_tar_header_is_read_as_a_tar_too() {
        // tarfile.open("r:*") falls back to a plain tar when the gzip content is not one.
        let mut block = vec![0u8; 512];
        block[..12].copy_from_slice(b"\x1f\x8b\x08\x04\0\0\0\0\0\xff\xf4\x01");
        block[12..21].copy_from_slice(b"model.pkl");
        block[124..136].copy_from_slice(b"00000000000\0");
        block[156] = b'0';
        block[148..156].copy_from_slice(b"        ");
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        block.resize(2048, 0);
        let r = readings(&block, "model.tar.gz");
        assert!(r.contains(&Reading::Tar), "{r:?}");
    }

    #[test]
    fn zip_and_tar_behind_other_content() {
        let mut f = b"\x80\x02N.".to_vec();
        f.extend_from_slice(b"PK\x05\x06");
        f.extend_from_slice(&[0u8; 18]);
        assert!(readings(&f, "x.pkl").contains(&Reading::Zip));
    }

    #[test]
    fn text_is_recognised() {
        assert!(is_text(b"/opt/app\nimport os\n"));
        assert!(is_text("caf\u{e9} na\u{ef}ve\n".as_bytes()));
        // A multi-byte character cut by the end of the head is still text.
        assert!(is_text(&"\u{e9}\u{e9}".as_bytes()[..3]));
        assert!(!is_text(b"\x80\x02N."));
        assert!(!is_text(b"PK\x03\x04"));
        assert!(!is_text(b""));
    }

    #[test]
    fn joblib_prefixes() {
        assert_eq!(prefix_compression(&[0x78, 0x9c, 0]), Some(Format::Zlib));
        assert_eq!(prefix_compression(&[0x78, 0x00]), None);
        assert_eq!(prefix_compression(&[0x5d, 0x00, 0x00]), Some(Format::Lzma));
    }
}
