//! HDF5 files (sniffed by the `\x89HDF\r\n\x1a\n` signature, any extension): Keras 2 / tf.keras
//! `.h5` models, Keras 3 `model.weights.h5`, and plain HDF5 data.
//!
//! The file is read with `hdf5-reader`, a pure-Rust, read-only reader hardened against malformed
//! input (no libhdf5), through a [`Storage`] over the artifact's content, so large weight files are
//! read only where headers and attributes live. The scan:
//!
//! * reads the root attributes `model_config` and `training_config` and applies the Keras config
//!   policy ([`crate::scanners::keras`]) — Keras loads Lambda bytecode from HDF5 files whatever
//!   `safe_mode` says (CVE-2025-9905);
//! * walks the group tree and reports external links, external raw-data files and virtual
//!   datasets, which make the HDF5 library open other files (CVE-2026-1669 class);
//! * reports a parse failure as a finding and keeps what was found before it. The third-party
//!   reader is additionally wrapped in `catch_unwind`; a panic is reported, never propagated.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

use hdf5_reader::messages::HdfMessage;
use hdf5_reader::{
    ExternalFileResolver, ExternalLinkResolver, Hdf5File, OpenOptions, Storage, StorageBuffer,
};

use crate::artifact::{Artifact, Content};
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::scanners::keras;
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;

pub const EXTERNAL_LINK: Code = Code {
    id: "hdf5/external-link",
    severity: Severity::High,
    summary: "An HDF5 file links to an object in another file.",
    detects: "External link messages (link type 64) in any group, compact or dense.",
    why: "Following the link makes the HDF5 library open the named file — any path on the loading machine, or a crafted HDF5 file next to the model — so a model can read or pull in content from outside itself (CVE-2026-1669 class).",
    example: "A group member `weights` that is an external link to `/etc/passwd:/` or `../other.h5:/payload`.",
    remediation: "Model files must be self-contained. Re-export the model without external links.",
    references: &["CVE-2026-1669", "https://docs.hdfgroup.org/hdf5/develop/group___h5_l.html"],
};

pub const EXTERNAL_STORAGE: Code = Code {
    id: "hdf5/external-storage",
    severity: Severity::High,
    summary: "An HDF5 dataset stores its raw data in another file.",
    detects: "External data files messages (the dataset's bytes live in named files outside the HDF5 file).",
    why: "Reading the dataset reads whatever file the name points to, relative to the working directory or absolute, so loading weights can pull in arbitrary local files (CVE-2026-1669 class).",
    example: "A dataset whose external file list names `/home/user/.ssh/id_rsa`.",
    remediation: "Re-export the model with contiguous or chunked storage inside the file.",
    references: &["CVE-2026-1669"],
};

pub const VIRTUAL_DATASET: Code = Code {
    id: "hdf5/virtual-dataset",
    severity: Severity::High,
    summary: "An HDF5 dataset is a virtual dataset mapped onto other files.",
    detects:
        "A data layout message of class 3 (virtual), whose source selections name other HDF5 files.",
    why: "Reading the dataset opens the source files named in the mapping, outside the model file.",
    example: "A virtual dataset whose source file is `../../secrets.h5`.",
    remediation: "Re-export the model with ordinary datasets.",
    references: &[
        "CVE-2026-1669",
        "https://docs.hdfgroup.org/hdf5/develop/_v_d_s.html",
    ],
};

pub const MALFORMED: Code = Code {
    id: "hdf5/malformed",
    severity: Severity::Medium,
    summary: "An HDF5 file could not be parsed completely.",
    detects: "Structures the reader rejects (bad signatures, offsets past the end, loops, unsupported versions) or that made the reader fail; the part read before the failure is still reported.",
    why: "The scanner cannot vouch for what it could not read, and libhdf5 may accept what a strict reader refuses (a parser differential).",
    example: "An `.h5` file truncated in the middle of an object header.",
    remediation: "Re-export the file and scan it again.",
    references: &[],
};

pub const KERAS_MODEL: Code = Code {
    id: "hdf5/keras-model",
    severity: Severity::Info,
    summary: "An HDF5 file holds a Keras model config.",
    detects: "A root attribute `model_config` (Keras 2 / tf.keras HDF5 format); its config is checked with the Keras policy.",
    why: "Informational: Keras loads HDF5 models without safe_mode protection, so their configs are what decides whether loading runs code.",
    example: "`emotion_model.hdf5` with `keras_version = 2.0.5`.",
    remediation: "None needed.",
    references: &["CVE-2025-9905"],
};

pub static CODES: &[&Code] = &[
    &EXTERNAL_LINK,
    &EXTERNAL_STORAGE,
    &VIRTUAL_DATASET,
    &MALFORMED,
    &KERAS_MODEL,
];

const MAX_OBJECTS: usize = 200_000;
const MAX_ATTR_BYTES: usize = 64 * 1024 * 1024;

/// Random-access reads over an artifact's content.
struct ContentStorage {
    len: u64,
    inner: Inner,
}

enum Inner {
    Memory(Arc<[u8]>),
    Reader(Mutex<Box<dyn crate::artifact::ReadSeek>>),
}

impl ContentStorage {
    fn new(content: &Content) -> std::io::Result<Self> {
        let len = content.len();
        let inner = match content {
            Content::Memory(b) => Inner::Memory(b.clone()),
            other => Inner::Reader(Mutex::new(other.open()?)),
        };
        Ok(Self { len, inner })
    }
}

impl Storage for ContentStorage {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_range(&self, offset: u64, len: usize) -> hdf5_reader::error::Result<StorageBuffer> {
        let end = offset
            .checked_add(len as u64)
            .ok_or(hdf5_reader::error::Error::OffsetOutOfBounds(offset))?;
        if end > self.len {
            return Err(hdf5_reader::error::Error::UnexpectedEof {
                offset,
                needed: len as u64,
                available: self.len.saturating_sub(offset),
            });
        }
        match &self.inner {
            Inner::Memory(b) => {
                let s = usize::try_from(offset)
                    .map_err(|_| hdf5_reader::error::Error::OffsetOutOfBounds(offset))?;
                let e = s.saturating_add(len);
                let bytes = b
                    .get(s..e)
                    .ok_or(hdf5_reader::error::Error::OffsetOutOfBounds(offset))?;
                Ok(StorageBuffer::from_vec(bytes.to_vec()))
            }
            Inner::Reader(m) => {
                let mut r = m.lock().map_err(|_| {
                    hdf5_reader::error::Error::Other("storage lock poisoned".into())
                })?;
                r.seek(SeekFrom::Start(offset))?;
                let mut buf = vec![0u8; len];
                r.read_exact(&mut buf)?;
                Ok(StorageBuffer::from_vec(buf))
            }
        }
    }
}

/// Records every external name the reader asks to resolve, and resolves none of them.
#[derive(Default)]
struct Recorder {
    links: Mutex<BTreeSet<String>>,
    files: Mutex<BTreeSet<String>>,
}

struct LinkRecorder(Arc<Recorder>);
struct FileRecorder(Arc<Recorder>);

impl ExternalLinkResolver for LinkRecorder {
    fn resolve_external_link(
        &self,
        filename: &str,
    ) -> hdf5_reader::error::Result<Option<Hdf5File>> {
        if let Ok(mut s) = self.0.links.lock() {
            if s.len() < 10_000 {
                s.insert(filename.to_owned());
            }
        }
        Ok(None)
    }
}

impl ExternalFileResolver for FileRecorder {
    fn resolve_external_file(
        &self,
        filename: &str,
    ) -> hdf5_reader::error::Result<Option<hdf5_reader::storage::DynStorage>> {
        if let Ok(mut s) = self.0.files.lock() {
            if s.len() < 10_000 {
                s.insert(filename.to_owned());
            }
        }
        Ok(None)
    }
}

/// What the structural walk found.
#[derive(Default)]
struct Structure {
    model_config: Option<String>,
    training_config: Option<String>,
    keras_version: Option<String>,
    external_links: Vec<(String, String)>,
    external_files: Vec<(String, Vec<String>)>,
    virtual_datasets: Vec<String>,
    errors: Vec<String>,
    truncated: bool,
}

fn walk(storage: ContentStorage, rec: &Arc<Recorder>) -> Structure {
    let mut out = Structure::default();
    let opts = OpenOptions::default()
        .with_chunk_cache_bytes(0)
        .with_max_read_bytes(MAX_ATTR_BYTES)
        .with_external_link_resolver(Arc::new(LinkRecorder(rec.clone())))
        .with_external_file_resolver(Arc::new(FileRecorder(rec.clone())));
    let file = match Hdf5File::from_storage_with_options(Arc::new(storage), opts) {
        Ok(f) => f,
        Err(e) => {
            out.errors.push(format!("cannot open: {e}"));
            return out;
        }
    };
    let root = match file.root_group() {
        Ok(r) => r,
        Err(e) => {
            out.errors.push(format!("root group: {e}"));
            return out;
        }
    };
    match root.attributes() {
        Ok(attrs) => {
            for a in attrs {
                let slot = match a.name.as_str() {
                    "model_config" => &mut out.model_config,
                    "training_config" => &mut out.training_config,
                    "keras_version" => &mut out.keras_version,
                    _ => continue,
                };
                match a.read_string() {
                    Ok(s) => *slot = Some(s),
                    Err(e) => out.errors.push(format!("attribute {}: {e}", a.name)),
                }
            }
        }
        Err(e) => out.errors.push(format!("root attributes: {e}")),
    }
    let offset_size = root.offset_size();
    let length_size = root.length_size();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut queue = VecDeque::new();
    queue.push_back((root, String::from("/")));
    let mut objects = 0usize;
    while let Some((g, path)) = queue.pop_front() {
        if !seen.insert(g.address()) {
            continue;
        }
        objects = objects.saturating_add(1);
        if objects > MAX_OBJECTS {
            out.truncated = true;
            break;
        }
        // Links stored compactly in the group's own header.
        if let Ok(h) = file.get_or_parse_header(g.address()) {
            for m in &h.messages {
                if let HdfMessage::Link(l) = m {
                    if let hdf5_reader::messages::link::LinkTarget::External { filename, path: p } =
                        &l.target
                    {
                        out.external_links
                            .push((format!("{path}{}", l.name), format!("{filename}:{p}")));
                    }
                }
            }
        }
        let (groups, datasets) = match g.members() {
            Ok(m) => m,
            Err(e) => {
                let msg = e.to_string();
                if msg.contains("unsupported layout class 3") {
                    out.virtual_datasets.push(path.clone());
                } else {
                    out.errors.push(format!("group {path}: {msg}"));
                }
                continue;
            }
        };
        for ds in datasets {
            objects = objects.saturating_add(1);
            let dpath = format!("{path}{}", ds.name());
            let Ok(h) = file.get_or_parse_header(ds.address()) else {
                continue;
            };
            for m in &h.messages {
                if let HdfMessage::ExternalFiles(ef) = m {
                    let mut names = Vec::new();
                    if let Ok(heap) = hdf5_reader::local_heap::LocalHeap::parse_at_storage(
                        file.storage(),
                        ef.heap_address,
                        offset_size,
                        length_size,
                    ) {
                        for slot in ef.slots.iter().take(64) {
                            if let Ok(n) = heap.get_string_storage(slot.name_offset, file.storage())
                            {
                                names.push(n);
                            }
                        }
                    }
                    out.external_files.push((dpath.clone(), names));
                }
            }
        }
        for sub in groups {
            let p = format!("{path}{}/", sub.name());
            queue.push_back((sub, p));
        }
    }
    out
}

pub struct Hdf5Scanner;

impl Scanner for Hdf5Scanner {
    fn id(&self) -> &'static str {
        "hdf5"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Hdf5]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        let storage = ContentStorage::new(&a.content)?;
        let rec = Arc::new(Recorder::default());
        let rec2 = rec.clone();
        let result = crate::guard::guarded(move || walk(storage, &rec2));
        let Ok(s) = result else {
            out.push(
                Finding::new(
                    &MALFORMED,
                    a.location.clone(),
                    "the HDF5 reader failed on this file (internal panic caught); it was not analysed",
                )
                .severity(Severity::High),
            );
            return Ok(());
        };
        report(a, cx, out, &s, &rec);
        Ok(())
    }
}

fn report(a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink, s: &Structure, rec: &Recorder) {
    let mut links: BTreeSet<String> = rec.links.lock().map(|l| l.clone()).unwrap_or_default();
    for (obj, target) in &s.external_links {
        out.push(
            Finding::new(
                &EXTERNAL_LINK,
                a.location.clone(),
                format!("{obj} is an external link to {target}"),
            )
            .evidence("object", obj.clone())
            .evidence("target", target.clone()),
        );
        if let Some((file, _)) = target.rsplit_once(':') {
            links.remove(file);
        }
    }
    for file in links {
        out.push(
            Finding::new(
                &EXTERNAL_LINK,
                a.location.clone(),
                format!("a group links to an object in the external file {file:?}"),
            )
            .evidence("target", file),
        );
    }
    for (ds, names) in &s.external_files {
        let shown = if names.is_empty() {
            "unnamed external files".to_owned()
        } else {
            names.join(", ")
        };
        out.push(
            Finding::new(
                &EXTERNAL_STORAGE,
                a.location.clone(),
                format!("dataset {ds} keeps its raw data in {shown}"),
            )
            .evidence("object", ds.clone())
            .evidence("files", names.join(",")),
        );
    }
    for g in &s.virtual_datasets {
        out.push(
            Finding::new(
                &VIRTUAL_DATASET,
                a.location.clone(),
                format!("group {g} contains a virtual dataset mapped onto other files"),
            )
            .evidence("object", g.clone()),
        );
    }
    if s.truncated {
        out.push(Finding::new(
            &crate::codes::engine::BUDGET_EXCEEDED,
            a.location.clone(),
            format!("more than {MAX_OBJECTS} HDF5 objects; the rest were not examined"),
        ));
    }
    for e in s.errors.iter().take(20) {
        out.push(Finding::new(
            &MALFORMED,
            a.location.clone(),
            format!("HDF5 structure could not be read: {e}"),
        ));
    }
    if let Some(cfg) = &s.model_config {
        let mut f = Finding::new(
            &KERAS_MODEL,
            a.location.clone(),
            "Keras HDF5 model (model_config attribute)",
        );
        if let Some(v) = &s.keras_version {
            f = f.evidence("keras-version", v.clone());
        }
        out.push(f);
        let origin = keras::Origin {
            location: a.location.clone(),
            label: "model_config".into(),
        };
        keras::check_config_text(cfg.as_bytes(), &origin, a, cx, out);
    }
    if let Some(cfg) = &s.training_config {
        let origin = keras::Origin {
            location: a.location.clone(),
            label: "training_config".into(),
        };
        keras::check_config_text(cfg.as_bytes(), &origin, a, cx, out);
    }
}
