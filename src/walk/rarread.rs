#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! Walks RAR archives (headers read by [`crate::formats::rar`]) like the other archives: every
//! stored member goes back through the engine, and what an extractor would do that a scanner
//! without a RAR decompressor cannot follow is a finding, never silence: compressed, encrypted
//! and split members, encrypted headers, links, traversal, duplicate and NUL-cut names, broken
//! header and data CRCs (reported, and the member still scanned, as `unrar` still extracts it).

use crate::artifact::{Artifact, Content};
use crate::codes;
use crate::context::ScanContext;
use crate::error::ScanError;
use crate::finding::{Finding, Severity, Sink};
use crate::format::Format;
use crate::formats::rar::{
    find_signature, is_rar14, read_listing, Entry, EntryKind, Source, Version, MAX_HEADERS,
    SFX_SEARCH,
};
use crate::hash::crc32;
use crate::walk::{
    is_traversal, member_limit, name_text, DUPLICATE_MEMBER, ENCRYPTED, NAME_NUL, PATH_TRAVERSAL,
    SIZE_MISMATCH, SYMLINK, ZIP_CRC,
};

/// Expands a RAR artifact: lists its headers like `unrar`, reports what an extractor would do
/// that a scanner cannot follow (encryption, compression, volumes, links), and scans every
/// stored member through the engine.
pub fn expand_rar(a: &Artifact, cx: &dyn ScanContext, sink: &mut Sink) -> Result<(), ScanError> {
    let head = a.content.head(SFX_SEARCH)?;
    if is_rar14(&head) {
        sink.push(
            Finding::new(
                &codes::engine::UNINSPECTABLE,
                a.location.clone(),
                "RAR 1.4 archive (`RE~^`): unrar extracts it, modelgate does not read its headers, so its members were not inspected",
            )
            .evidence("format", "RAR 1.4"),
        );
        return Ok(());
    }
    let Some((version, offset)) = find_signature(&head) else {
        return Err(ScanError::malformed(
            "rar",
            "no RAR signature in the first 4 MiB",
        ));
    };
    drop(head);
    let read = |at: u64, n: usize| a.content.read_at(at, n);
    let source = Source {
        len: a.content.len(),
        read_at: &read,
    };
    let l = read_listing(&source, version, offset);
    let label = match version {
        Version::V4 => "RAR 4",
        Version::V5 => "RAR 5",
    };
    if l.headers_encrypted {
        sink.push(
            Finding::new(
                &ENCRYPTED,
                a.location.clone(),
                format!(
                    "{label} archive with encrypted headers: not even its member names can be read"
                ),
            )
            .evidence("format", label),
        );
        return Ok(());
    }
    if l.truncated {
        sink.push(
            Finding::new(
                &codes::engine::BUDGET_EXCEEDED,
                a.location.clone(),
                format!("more than {MAX_HEADERS} headers; the rest of the archive was not read"),
            )
            .evidence("limit", "rar-headers"),
        );
    }
    if let Some((at, why)) = &l.stopped {
        if l.entries.is_empty() && !l.truncated {
            return Err(ScanError::malformed(
                "rar",
                format!("at offset {at}: {why}"),
            ));
        }
        sink.push(
            Finding::new(
                &codes::engine::READ_ERROR,
                a.location.at(*at),
                format!("{label} headers stop at offset {at} ({why}); the members listed before it were scanned"),
            )
            .evidence("offset", at.to_string()),
        );
    }
    let mut seen = std::collections::HashSet::new();
    let mut members = Vec::new();
    for e in l.entries {
        if e.name.is_empty() && e.packed == 0 {
            // A header too short to name anything (its fields read as zeros): nothing is
            // extracted from it.
            continue;
        }
        let name = name_text(&e.name);
        let loc = a.location.child(&name);
        if !e.header_ok {
            sink.push(Finding::new(
                &ZIP_CRC,
                loc.clone(),
                format!(
                    "the header CRC of {name} does not match; unrar warns and extracts it anyway"
                ),
            ));
        }
        if e.name_nul {
            sink.push(Finding::new(
                &NAME_NUL,
                loc.clone(),
                format!("RAR member name contains a NUL byte; extractors use {name:?}"),
            ));
        }
        if is_traversal(&name) {
            sink.push(Finding::new(
                &PATH_TRAVERSAL,
                loc.clone(),
                format!("RAR member name escapes the archive: {name}"),
            ));
        }
        match e.kind {
            EntryKind::Directory => continue,
            EntryKind::Link(what) => {
                let target = link_target(a, &e)
                    .map(|t| name_text(&t))
                    .unwrap_or_default();
                // As for tar links: one that leaves the extraction directory is high.
                let escapes = target.starts_with('/')
                    || target.starts_with('\\')
                    || target.replace('\\', "/").split('/').any(|s| s == "..")
                    || target.as_bytes().get(1) == Some(&b':');
                sink.push(
                    Finding::new(
                        &SYMLINK,
                        loc,
                        format!("RAR member {name} is a {what} to {target:?}"),
                    )
                    .severity(if escapes {
                        Severity::High
                    } else {
                        SYMLINK.severity
                    })
                    .evidence("link", what)
                    .evidence("target", target),
                );
                continue;
            }
            EntryKind::File | EntryKind::Stream => {}
        }
        if e.kind == EntryKind::File && !seen.insert(name.clone()) {
            sink.push(Finding::new(
                &DUPLICATE_MEMBER,
                loc.clone(),
                format!("RAR member {name} appears more than once; extractors keep the last"),
            ));
        }
        if e.encrypted {
            sink.push(Finding::new(
                &ENCRYPTED,
                loc,
                format!("RAR member {name} is encrypted: its content cannot be inspected"),
            ));
            continue;
        }
        if e.method != 0 {
            sink.push(
                Finding::new(
                    &codes::engine::UNINSPECTABLE,
                    loc,
                    format!(
                        "RAR member {} is compressed (method {}); modelgate has no RAR decompressor, so it was not inspected",
                        name, e.method
                    ),
                )
                .evidence("method", e.method.to_string()),
            );
            continue;
        }
        // What an extractor writes from this archive alone is scanned even when it is not the
        // whole member: the first part of a split member, the bytes a truncated archive holds.
        let mut partial = false;
        if e.split_before || e.split_after {
            sink.push(
                Finding::new(
                    &codes::engine::UNINSPECTABLE,
                    loc.clone(),
                    format!(
                        "RAR member {} continues {} another volume of a multi-volume archive: only the whole set can be inspected",
                        name,
                        if e.split_before { "from" } else { "in" }
                    ),
                )
                .evidence("volume", "split"),
            );
            if e.split_before {
                continue;
            }
            partial = true;
        }
        let available = a.content.len().saturating_sub(e.data_start);
        if e.packed > available {
            sink.push(
                Finding::new(
                    &codes::engine::UNINSPECTABLE,
                    loc.clone(),
                    format!(
                        "member data runs past the end of the archive ({} of {} bytes present); the bytes present were scanned",
                        available, e.packed
                    ),
                )
                .evidence("declared", e.packed.to_string())
                .evidence("actual", available.to_string()),
            );
            partial = true;
        }
        if !cx.take_member() {
            member_limit(a, "rar", sink);
            break;
        }
        // `unrar` copies a stored member until its unpacked size or its data ends.
        let declared = if partial { None } else { e.unpacked };
        let len = declared
            .map_or(e.packed, |u| u.min(e.packed))
            .min(available);
        if let Some(u) = declared.filter(|&u| u != e.packed) {
            sink.push(
                Finding::new(
                    &SIZE_MISMATCH,
                    loc.clone(),
                    format!(
                        "stored member declares {u} unpacked bytes but holds {}",
                        e.packed
                    ),
                )
                .evidence("declared", u.to_string())
                .evidence("actual", e.packed.to_string()),
            );
        }
        let mut e = e;
        if partial {
            e.crc = None;
        }
        members.push((e, name, len));
    }
    crate::walk::scan_members(
        cx,
        a,
        members,
        |(_, _, len)| *len,
        |(e, name, len), s| match stored(a, &e, &name, len, cx, s) {
            Ok(content) => Some((name, content, None)),
            Err(err) => {
                s.push(Finding::new(
                    &codes::engine::UNINSPECTABLE,
                    a.location.child(&name),
                    format!("member could not be read: {err}"),
                ));
                None
            }
        },
        sink,
    );
    Ok(())
}

/// A link's target: RAR 5 keeps it in the redirection record, RAR 4 stores it as the member's
/// data (small; read only when stored).
fn link_target(a: &Artifact, e: &Entry) -> Option<Vec<u8>> {
    if let Some(t) = &e.link_target {
        return Some(t.clone());
    }
    (e.method == 0 && e.packed <= 4096)
        .then(|| {
            a.content
                .read_at(e.data_start, usize::try_from(e.packed).unwrap_or(0))
                .ok()
        })
        .flatten()
}

/// A stored member's bytes, with its data CRC checked when the bytes will be read anyway.
fn stored(
    a: &Artifact,
    e: &Entry,
    name: &str,
    len: u64,
    cx: &dyn ScanContext,
    sink: &mut Sink,
) -> Result<Content, ScanError> {
    let content = a.content.slice(e.data_start, len)?;
    let Some(expected) = e.crc else {
        return Ok(content);
    };
    let head = content.head(crate::sniff::SNIFF_LEN)?;
    let analysed = crate::sniff::sniff(&head, name) != Format::Unknown
        || crate::readings::pickle_could_start(&head);
    if !analysed || content.len() > cx.limits().max_in_memory {
        return Ok(content);
    }
    let Some(bytes) = content.read_all(cx.limits().max_in_memory)? else {
        return Ok(content);
    };
    let actual = crc32(&bytes);
    if actual != expected {
        sink.push(
            Finding::new(
                &ZIP_CRC,
                a.location.child(name),
                format!("CRC-32 is {actual:08x}, the header says {expected:08x}"),
            )
            .evidence("expected", format!("{expected:08x}"))
            .evidence("actual", format!("{actual:08x}")),
        );
    }
    Ok(Content::Memory(bytes))
}
