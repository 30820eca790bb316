#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! TensorRT serialized engines ("plans", `.engine`/`.plan`/`.trt`): compiled GPU kernels and
//! engine state for one TensorRT version and one GPU architecture. The format is private; what is
//! public is the header `trtexec --getPlanVersionOnly` reads (TensorRT OSS
//! `samples/common/sampleEngines.cpp`): the 32-bit tag `0x74727466` (the bytes `ftrt`), a 32-bit
//! serialization kind, and for kind 0 the building TensorRT's major, minor, patch and build at
//! bytes 24..28; `IRuntime::deserializeCudaEngine` refuses other tags ("Magic tag does not
//! match") and other serialization versions (byte 8).
//!
//! Ultralytics writes `.engine` files as a 32-bit little-endian length, that many bytes of JSON
//! metadata, then the plan; its loader reads the metadata and deserializes what follows. Both
//! layouts are read here.

/// The plan tag as it appears in the file.
pub const PLAN_MAGIC: &[u8; 4] = b"ftrt";
/// Metadata prefixes larger than this are not an Ultralytics header.
const MAX_METADATA: u32 = 16 * 1024 * 1024;

/// Where the plan starts and what its header says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanHeader {
    /// Offset of the `ftrt` tag (0, or past an Ultralytics metadata prefix).
    pub plan_offset: u64,
    /// The serialization kind (bytes 4..8).
    pub kind: u32,
    /// The serialization version byte (byte 8).
    pub serialization_version: u8,
    /// `major.minor.patch.build` for kind 0.
    pub trt_version: Option<String>,
    /// The Ultralytics JSON metadata, when present (clipped).
    pub metadata: Option<String>,
}

/// Why bytes are not a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the plan is {0} bytes, shorter than its 28-byte header")]
    Short(u64),
    #[error("no `ftrt` plan tag at the start or after an Ultralytics metadata prefix")]
    NoTag,
}

/// Where the plan starts behind an Ultralytics metadata prefix (4 + the JSON's length) when
/// `head` starts with one: a 32-bit little-endian length (at most 16 MiB) followed by `{`.
pub fn ultralytics_prefix(head: &[u8]) -> Option<u64> {
    let len = u32::from_le_bytes(head.get(..4)?.try_into().ok()?);
    if len == 0 || len > MAX_METADATA || head.get(4) != Some(&b'{') {
        return None;
    }
    Some(u64::from(len).saturating_add(4))
}

/// Parses the 28-byte plan header at `plan_offset`.
pub fn parse_header(plan: &[u8], plan_offset: u64) -> Result<PlanHeader, PlanError> {
    if !plan.starts_with(PLAN_MAGIC) {
        return Err(PlanError::NoTag);
    }
    let Some(h) = plan.get(..28) else {
        return Err(PlanError::Short(plan.len() as u64));
    };
    let word = |i: usize| {
        h.get(i..i.saturating_add(4))
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    let kind = word(4);
    let byte = |i: usize| h.get(i).copied().unwrap_or(0);
    Ok(PlanHeader {
        plan_offset,
        kind,
        serialization_version: byte(8),
        trt_version: (kind == 0)
            .then(|| format!("{}.{}.{}.{}", byte(24), byte(25), byte(26), byte(27))),
        metadata: None,
    })
}

/// Strings in an engine that name TensorRT plugins: creator names as registered (`*_TRT`, the
/// convention of the plugins shipped in `libnvinfer_plugin`, and anything mentioning `Plugin`).
pub fn is_plugin_name(s: &str) -> bool {
    let t = s.trim();
    t.len() <= 128
        && (t.ends_with("_TRT") || t.contains("Plugin") || t.contains("plugin"))
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn plan(kind: u32) -> Vec<u8> {
        let mut p = b"ftrt".to_vec();
        p.extend(kind.to_le_bytes());
        p.push(239);
        p.resize(24, 0);
        p.extend([10, 8, 0, 43]);
        p
    }

    #[test]
    fn reads_the_trtexec_header() {
        let h = parse_header(&plan(0), 0).unwrap();
        assert_eq!(h.trt_version.as_deref(), Some("10.8.0.43"));
        assert_eq!(h.serialization_version, 239);
        assert_eq!(parse_header(&plan(1), 0).unwrap().trt_version, None);
        assert_eq!(parse_header(b"ftrt\0\0", 0), Err(PlanError::Short(6)));
        assert_eq!(parse_header(b"xxxx", 0), Err(PlanError::NoTag));
    }

    #[test]
    fn ultralytics_prefixes() {
        let mut f = 5u32.to_le_bytes().to_vec();
        f.extend(b"{\"a\":1}");
        assert_eq!(ultralytics_prefix(&f), Some(9));
        assert_eq!(ultralytics_prefix(b"ftrt\0\0\0\0"), None);
    }

    #[test]
    fn plugin_names() {
        assert!(is_plugin_name("EfficientNMS_TRT"));
        assert!(is_plugin_name("MyCustomPlugin"));
        assert!(!is_plugin_name("conv1 weights"));
    }
}
