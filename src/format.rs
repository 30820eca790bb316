//! Format detection. This is the only place that guesses what a file is, and it trusts content
//! first: loaders choose their code path by bytes, not by name, so a scanner that routes by
//! extension sees different bytes than the loader. The extension is used only to break ties and to
//! report mismatches.

use serde::{Deserialize, Serialize};

/// Every format modelgate recognises. Recognising a format does not mean a scanner exists for it;
/// unscanned formats are reported as skipped, never as clean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A pickle stream (any protocol), including joblib and dill files.
    Pickle,
    /// `torch.save` legacy stream: magic-number pickle, then more pickles, then raw storages.
    PytorchLegacy,
    /// Zip archive of any flavour (PyTorch, TorchScript, npz, Keras v3 and plain zips are told apart
    /// by the archive walker from their members).
    Zip,
    /// POSIX/GNU tar archive (also the legacy PyTorch tar format and docker-save tarballs).
    Tar,
    SevenZip,
    Gzip,
    Bzip2,
    Xz,
    Lzma,
    Zlib,
    Zstd,
    Lz4,
    /// NumPy `.npy` array.
    Numpy,
    Safetensors,
    Gguf,
    /// Legacy GGML / GGJT / GGMF files (pre-GGUF llama.cpp).
    Ggml,
    Onnx,
    Hdf5,
    /// A Keras `config.json` (inside a `.keras` archive).
    KerasConfig,
    /// A TensorFlow SavedModel protobuf (`saved_model.pb`).
    SavedModel,
    /// `keras_metadata.pb` next to a SavedModel.
    KerasMetadata,
    Tflite,
    /// Python source (travels with models as `trust_remote_code` or custom layers).
    Python,
    /// Bytes that the container's loader only ever reads as numbers or plain text, never as code:
    /// tensor storages (`<prefix>/data/<key>` in a PyTorch zip) and the archive's small metadata
    /// records. Assigned by the archive walker from the container's structure, never by sniffing.
    Data,
    /// A member of a legacy PyTorch tar checkpoint (`sys_info`, `pickle`, `storages`, `tensors`):
    /// pickles interleaved with raw storage bytes. Assigned by the tar walker.
    TorchTarMember,
    /// One filesystem layer of a container image (a tar stream, already decompressed and
    /// digest-checked by [`crate::image`]). Expanded like a tar, except that links are ordinary
    /// filesystem content there. Assigned by the image reader, never by sniffing.
    ImageLayer,
    /// Anything else.
    Unknown,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Pickle => "pickle",
            Format::PytorchLegacy => "pytorch-legacy",
            Format::Zip => "zip",
            Format::Tar => "tar",
            Format::SevenZip => "7z",
            Format::Gzip => "gzip",
            Format::Bzip2 => "bzip2",
            Format::Xz => "xz",
            Format::Lzma => "lzma",
            Format::Zlib => "zlib",
            Format::Zstd => "zstd",
            Format::Lz4 => "lz4",
            Format::Numpy => "numpy",
            Format::Safetensors => "safetensors",
            Format::Gguf => "gguf",
            Format::Ggml => "ggml",
            Format::Onnx => "onnx",
            Format::Hdf5 => "hdf5",
            Format::KerasConfig => "keras-config",
            Format::SavedModel => "tf-savedmodel",
            Format::KerasMetadata => "keras-metadata",
            Format::Tflite => "tflite",
            Format::Python => "python",
            Format::Data => "data",
            Format::TorchTarMember => "pytorch-tar-member",
            Format::ImageLayer => "image-layer",
            Format::Unknown => "unknown",
        }
    }

    /// Single-stream compression formats, unwrapped by the walker before sniffing again.
    pub fn is_compression(self) -> bool {
        matches!(
            self,
            Format::Gzip
                | Format::Bzip2
                | Format::Xz
                | Format::Lzma
                | Format::Zlib
                | Format::Zstd
                | Format::Lz4
        )
    }

    /// Multi-member containers expanded by the walker.
    pub fn is_archive(self) -> bool {
        matches!(
            self,
            Format::Zip | Format::Tar | Format::SevenZip | Format::ImageLayer
        )
    }
}

/// How many leading bytes [`sniff`] wants to see. Tar needs the ustar magic at offset 257.
pub const SNIFF_LEN: usize = 512;

/// Guesses the format of `head` (the first bytes of the content, up to [`SNIFF_LEN`]), with `name`
/// (the file or member name) as a secondary hint.
pub fn sniff(head: &[u8], name: &str) -> Format {
    let lower = name.to_ascii_lowercase();
    let base = lower.rsplit(['/', '\\']).next().unwrap_or(&lower);
    let b = |i: usize| head.get(i).copied();

    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Format::Zip;
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
    if head.len() >= 262 && head.get(257..262) == Some(b"ustar") {
        return Format::Tar;
    }
    // Legacy torch: pickle of the magic number 0x1950a86a20f9469cfc6c (`80 02 8a 0a 6c fc 9c 46`).
    if head.starts_with(&[0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46]) {
        return Format::PytorchLegacy;
    }
    if looks_like_pickle(head) {
        return Format::Pickle;
    }
    if looks_like_safetensors(head) {
        return Format::Safetensors;
    }
    // zlib: CMF/FLG check (deflate, window <= 32K, header checksum). Also joblib's default.
    if let (Some(cmf), Some(flg)) = (b(0), b(1)) {
        if cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) * 256 + u16::from(flg)) % 31 == 0 {
            return Format::Zlib;
        }
    }
    // lzma "alone" format: properties byte 0x5d then a little-endian dictionary size.
    if head.starts_with(&[0x5d, 0x00, 0x00]) && (base.ends_with(".lzma") || head.len() >= 13) {
        return Format::Lzma;
    }
    if base == "saved_model.pb" {
        return Format::SavedModel;
    }
    if base == "keras_metadata.pb" {
        return Format::KerasMetadata;
    }
    if base.ends_with(".onnx") || looks_like_onnx(head) {
        return Format::Onnx;
    }
    if base == "config.json" && head.starts_with(b"{") && contains(head, b"\"class_name\"") {
        return Format::KerasConfig;
    }
    if base.ends_with(".py") {
        return Format::Python;
    }
    Format::Unknown
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
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
    (2..=100_000_000).contains(&n) && head.get(8) == Some(&b'{')
}

/// An ONNX ModelProto almost always starts with field 1 (`ir_version`, varint, tag 0x08) followed
/// by a small version number, then field 2..8 strings or opset imports.
fn looks_like_onnx(head: &[u8]) -> bool {
    matches!(head, [0x08, v, next, ..] if (3..=20).contains(v) && matches!(next, 0x12 | 0x1a | 0x22 | 0x2a | 0x32 | 0x3a | 0x42))
}

/// The format an extension suggests, used only to report mismatches.
pub fn format_for_extension(name: &str) -> Option<Format> {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "pkl" | "pickle" | "joblib" | "dill" | "sav" => Format::Pickle,
        "npy" => Format::Numpy,
        "npz" | "zip" | "keras" => Format::Zip,
        "safetensors" => Format::Safetensors,
        "gguf" => Format::Gguf,
        "onnx" => Format::Onnx,
        "h5" | "hdf5" => Format::Hdf5,
        "tflite" => Format::Tflite,
        "tar" => Format::Tar,
        "gz" | "tgz" => Format::Gzip,
        "bz2" => Format::Bzip2,
        "xz" => Format::Xz,
        "zst" => Format::Zstd,
        "lz4" => Format::Lz4,
        "7z" => Format::SevenZip,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content_not_name() {
        assert_eq!(
            sniff(b"\x80\x04\x95\x10\x00", "model.safetensors"),
            Format::Pickle
        );
        assert_eq!(sniff(b"PK\x03\x04rest", "weights.pkl"), Format::Zip);
        assert_eq!(
            sniff(b"cos\nsystem\n(S'true'\ntR.", "x.txt"),
            Format::Pickle
        );
        assert_eq!(sniff(b"(dp0\nS'a'\np1\nI1\ns.", "x"), Format::Pickle);
        assert_eq!(
            sniff(
                &[0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9],
                "m.pt"
            ),
            Format::PytorchLegacy
        );
        assert_eq!(sniff(b"\x93NUMPY\x01\x00", "a"), Format::Numpy);
        assert_eq!(sniff(&[0x78, 0x9c, 1, 2], "m.joblib"), Format::Zlib);
        assert_eq!(sniff(b"hello world", "README"), Format::Unknown);
    }

    #[test]
    fn safetensors_header() {
        let mut h = 16u64.to_le_bytes().to_vec();
        h.extend_from_slice(b"{\"a\":1}         ");
        assert_eq!(sniff(&h, "x"), Format::Safetensors);
    }
}
