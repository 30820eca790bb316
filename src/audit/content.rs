//! What one content's scan produced, in the form the verdict cache keeps and the form the report
//! shows under every artifact with that content.

use crate::engine::Engine;
use crate::finding::{ArtifactRecord, Location, Sink, Status};
use crate::report::Report;

/// What the verdict cache keeps of one content for the audit: its findings, artifact records and
/// packages with locations relative to the artifact. Leaner than a [`Report`] (no targets,
/// summary or signature-database block, which the cache key already pins), since a warm audit
/// reads one per distinct content.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Stored<'a> {
    findings: std::borrow::Cow<'a, [crate::finding::Finding]>,
    artifacts: std::borrow::Cow<'a, [ArtifactRecord]>,
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    packages: std::borrow::Cow<'a, [crate::packages::Package]>,
    #[serde(default, skip_serializing_if = "crate::finding::Omitted::is_empty")]
    omitted: std::borrow::Cow<'a, crate::finding::Omitted>,
}

/// What one content's scan produced, with locations relative to the artifact (the artifact's
/// own path is empty), so it can be shown under any artifact that has this content.
#[derive(Debug, Default)]
pub(super) struct Content {
    pub(super) sink: Sink,
}

impl Content {
    /// The findings and records of `sink` made relative to `identity`.
    pub(super) fn relative(identity: &str, sink: Sink) -> Content {
        let strip = |l: &mut Location| {
            l.path = l.path.strip_prefix(identity).unwrap_or(&l.path).to_owned();
            l.path_bytes = None;
        };
        let mut sink = sink;
        sink.findings
            .iter_mut()
            .for_each(|f| strip(&mut f.location));
        sink.artifacts
            .iter_mut()
            .for_each(|a| strip(&mut a.location));
        sink.packages
            .iter_mut()
            .for_each(|p| strip(&mut p.location));
        Content { sink }
    }

    /// A copy placed under `identity`.
    pub(super) fn under(&self, identity: &str) -> Sink {
        /// `items` with `identity` put before each location's path.
        fn placed<T: Clone>(
            items: &[T],
            identity: &str,
            loc: fn(&mut T) -> &mut Location,
        ) -> Vec<T> {
            items
                .iter()
                .map(|x| {
                    let mut x = x.clone();
                    let l = loc(&mut x);
                    l.path = format!("{identity}{}", l.path);
                    x
                })
                .collect()
        }
        let s = &self.sink;
        Sink {
            findings: placed(&s.findings, identity, |f| &mut f.location),
            artifacts: placed(&s.artifacts, identity, |a| &mut a.location),
            packages: placed(&s.packages, identity, |p| &mut p.location),
            omitted: s.omitted.clone(),
        }
    }

    /// The content as a report (to judge it).
    pub(super) fn to_report(&self, engine: &Engine) -> Report {
        Report::build(
            Vec::new(),
            engine.signatures().info(),
            usize::MAX,
            self.under(""),
        )
    }

    pub(super) fn from_report(r: Report) -> Content {
        Content {
            sink: Sink {
                findings: r.findings,
                artifacts: r.artifacts,
                packages: r.packages,
                omitted: r.omitted,
            },
        }
    }

    /// The form the verdict cache keeps.
    pub(super) fn to_stored(&self) -> Option<String> {
        let s = &self.sink;
        serde_json::to_string(&Stored {
            findings: std::borrow::Cow::Borrowed(&s.findings),
            artifacts: std::borrow::Cow::Borrowed(&s.artifacts),
            packages: std::borrow::Cow::Borrowed(&s.packages),
            omitted: std::borrow::Cow::Borrowed(&s.omitted),
        })
        .ok()
    }

    pub(super) fn from_stored(text: &str) -> Option<Content> {
        let s: Stored<'static> = serde_json::from_str(text).ok()?;
        Some(Content {
            sink: Sink {
                findings: s.findings.into_owned(),
                artifacts: s.artifacts.into_owned(),
                packages: s.packages.into_owned(),
                omitted: s.omitted.into_owned(),
            },
        })
    }

    /// Whether its verdict may be cached: it was read completely and in time.
    pub(super) fn cacheable(&self) -> bool {
        !self
            .sink
            .artifacts
            .iter()
            .any(|a| matches!(a.status, Status::Failed { .. }))
            && !self
                .sink
                .findings
                .iter()
                .any(|f| f.code == "engine/inconclusive")
            && self.sink.omitted.artifacts_with("failed") == 0
    }
}
