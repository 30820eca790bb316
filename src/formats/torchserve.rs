#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! TorchServe model archives (`.mar`): a zip with `MAR-INF/MANIFEST.json`, written by
//! `torch-model-archiver`. The manifest names the handler TorchServe imports when the model is
//! registered (`ts/model_loader.py`: `handler.split(":", 1)`, `.py` dropped, the last path
//! component imported with `importlib.import_module`, then `ts.torch_handler.<handler>` as the
//! fallback), the serialized model the handler loads, the model file it imports and the
//! requirements file installed when `install_py_dep_per_model` is on.
//!
//! The archive itself is read by the one zip walker ([`crate::walk`]); this module only knows
//! which members the manifest makes special and what the manifest says.

use serde_json::Value;

use crate::format::Format;

/// Where TorchServe looks for the manifest in the extracted archive.
pub const MANIFEST_PATH: &str = "MAR-INF/MANIFEST.json";

/// Manifests larger than this are refused (real ones are a few hundred bytes).
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

/// The handlers shipped in `ts.torch_handler` that the archiver accepts by name. A module of the
/// same name inside the archive is imported instead of the stock one (the archive's own module
/// is tried first).
pub const BUILTIN_HANDLERS: &[&str] = &[
    "base_handler",
    "image_classifier",
    "image_segmenter",
    "object_detector",
    "text_classifier",
    "text_handler",
    "vision_handler",
    "densenet_handler",
    "dali_image_classifier",
    "dali_image_segmenter",
];

/// What the archive walker needs to know of a TorchServe archive to classify its members: the
/// model directory inside the archive (`prefix`, see [`manifest_prefix`]) and the requirements
/// file the manifest names (`None` when it names none, or when the manifest does not read; the
/// manifest's scanner reports that).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveLayout {
    pub prefix: String,
    pub requirements: Option<String>,
}

impl ArchiveLayout {
    /// The layout from the manifest's bytes, read leniently (an unreadable manifest still makes
    /// the archive a TorchServe archive).
    pub fn from_manifest(prefix: &str, bytes: Option<&[u8]>) -> Self {
        Self {
            prefix: prefix.to_owned(),
            requirements: bytes
                .and_then(|b| Manifest::parse(b).ok())
                .and_then(|m| m.requirements_file),
        }
    }

    /// The format a member has from the archive's structure: the manifest itself, the
    /// requirements file the manifest names (whatever its name), and Python source under the
    /// model directory (which TorchServe can import because that directory is on the worker's
    /// Python path).
    pub fn member_format(&self, name: &str) -> Option<Format> {
        let rel = name.strip_prefix(self.prefix.as_str())?;
        if rel == MANIFEST_PATH {
            return Some(Format::TorchServeManifest);
        }
        if self.requirements.as_deref() == Some(rel) {
            return Some(Format::Requirements);
        }
        rel.to_ascii_lowercase()
            .ends_with(".py")
            .then_some(Format::TorchServeCode)
    }
}

/// The model directory of a TorchServe archive listing: the prefix (`""`, `"m/"`, `"./m/"`) of
/// its shallowest `MAR-INF/MANIFEST.json`. TorchServe's frontend finds the manifest by searching
/// the extracted archive (`ModelArchive.load`: `findFile(dir, MANIFEST_FILE, true)`), and
/// `torch-model-archiver --archive-format tgz` puts the model under a top-level `<model-name>/`
/// folder; the model directory is the one holding `MAR-INF/`.
pub fn manifest_prefix<'a>(names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .filter_map(|n| n.strip_suffix(MANIFEST_PATH))
        .filter(|p| p.is_empty() || p.ends_with('/'))
        .min_by_key(|p| (p.matches('/').count(), p.len()))
}

/// Whether an archive listing is a TorchServe archive.
pub fn is_archive_listing(names: &[&str]) -> bool {
    manifest_prefix(names).is_some()
}

/// What a manifest says, as TorchServe reads it. Every field is optional: the scanner decides
/// what a missing one means.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub runtime: Option<String>,
    pub model_name: Option<String>,
    pub handler: Option<String>,
    pub serialized_file: Option<String>,
    pub model_file: Option<String>,
    pub requirements_file: Option<String>,
    pub config_file: Option<String>,
    pub extensions: Option<String>,
    pub archiver_version: Option<String>,
}

/// Why a manifest does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is {0} bytes, more than the {MAX_MANIFEST_BYTES} accepted")]
    TooLarge(usize),
    #[error("the manifest is not JSON: {0}")]
    NotJson(String),
    #[error("the manifest is not a JSON object with a `model` object")]
    NoModel,
    #[error("manifest field {0} is not a string")]
    NotAString(&'static str),
}

fn text(obj: &Value, key: &'static str) -> Result<Option<String>, ManifestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ManifestError::NotAString(key)),
    }
}

impl Manifest {
    /// Reads a manifest the way Python's `json.load` does (strict JSON; serde_json's recursion
    /// limit bounds nesting).
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge(bytes.len()));
        }
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::NotJson(e.to_string()))?;
        let model = v
            .get("model")
            .filter(|m| m.is_object())
            .ok_or(ManifestError::NoModel)?;
        Ok(Self {
            runtime: text(&v, "runtime")?,
            archiver_version: text(&v, "archiverVersion")?,
            model_name: text(model, "modelName")?,
            handler: text(model, "handler")?,
            serialized_file: text(model, "serializedFile")?,
            model_file: text(model, "modelFile")?,
            requirements_file: text(model, "requirementsFile")?,
            config_file: text(model, "configFile")?,
            extensions: text(model, "extensions")?,
        })
    }
}

/// How TorchServe resolves a handler string: the module it imports and the entry function, if
/// one is named (`module:function`); `None` for an empty module name.
pub fn handler_module(handler: &str) -> Option<(String, Option<String>)> {
    let (module, function) = match handler.split_once(':') {
        Some((m, f)) => (m, Some(f.to_owned())),
        None => (handler, None),
    };
    let module = module.strip_suffix(".py").unwrap_or(module);
    let module = module.rsplit('/').next().unwrap_or(module);
    (!module.is_empty()).then(|| (module.to_owned(), function))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_archiver_manifest() {
        let m = Manifest::parse(
            br#"{"createdOn": "01/01/2026 00:00:00", "runtime": "python",
                 "model": {"modelName": "m", "serializedFile": "m.pt", "handler": "handler.py",
                           "modelFile": "model.py", "requirementsFile": "requirements.txt",
                           "modelVersion": "1.0"},
                 "archiverVersion": "0.12.0"}"#,
        )
        .unwrap();
        assert_eq!(m.handler.as_deref(), Some("handler.py"));
        assert_eq!(m.model_file.as_deref(), Some("model.py"));
        assert_eq!(m.requirements_file.as_deref(), Some("requirements.txt"));
        assert_eq!(m.archiver_version.as_deref(), Some("0.12.0"));
    }

    #[test]
    fn bad_manifests_are_errors() {
        assert!(matches!(
            Manifest::parse(b"{"),
            Err(ManifestError::NotJson(_))
        ));
        assert_eq!(Manifest::parse(b"[]"), Err(ManifestError::NoModel));
        assert_eq!(
            Manifest::parse(br#"{"model": {"handler": 3}}"#),
            Err(ManifestError::NotAString("handler"))
        );
    }

    #[test]
    fn handlers_resolve_like_the_model_loader() {
        let h = |s: &str| handler_module(s);
        assert_eq!(h("handler.py"), Some(("handler".into(), None)));
        assert_eq!(
            h("a/b/handler.py:entry"),
            Some(("handler".into(), Some("entry".into())))
        );
        assert_eq!(h("os:system"), Some(("os".into(), Some("system".into()))));
        assert_eq!(
            h("image_classifier"),
            Some(("image_classifier".into(), None))
        );
        assert_eq!(h(":f"), None);
    }

    #[test]
    fn members_by_structure() {
        let plain = ArchiveLayout::default();
        assert_eq!(
            plain.member_format(MANIFEST_PATH),
            Some(Format::TorchServeManifest)
        );
        assert_eq!(
            plain.member_format("handler.py"),
            Some(Format::TorchServeCode)
        );
        assert_eq!(plain.member_format("model.pt"), None);
        assert_eq!(plain.member_format("deps.txt"), None);
        let named = ArchiveLayout::from_manifest(
            "",
            Some(br#"{"model": {"handler": "h.py", "requirementsFile": "deps.txt"}}"#),
        );
        assert_eq!(named.member_format("deps.txt"), Some(Format::Requirements));
        assert_eq!(ArchiveLayout::from_manifest("", Some(b"{")), plain);
        assert!(is_archive_listing(&["a.pt", MANIFEST_PATH]));
    }

    #[test]
    fn a_tgz_archive_has_its_model_under_a_folder() {
        let names = [
            "m/model.pt",
            "m/handler.py",
            "m/MAR-INF/MANIFEST.json",
            "m/x/MAR-INF/MANIFEST.json",
        ];
        assert_eq!(manifest_prefix(&names), Some("m/"));
        assert_eq!(manifest_prefix(&["xMAR-INF/MANIFEST.json"]), None);
        let layout = ArchiveLayout::from_manifest("m/", None);
        assert_eq!(
            layout.member_format("m/handler.py"),
            Some(Format::TorchServeCode)
        );
        assert_eq!(
            layout.member_format("m/MAR-INF/MANIFEST.json"),
            Some(Format::TorchServeManifest)
        );
        assert_eq!(layout.member_format("other/handler.py"), None);
    }
}
