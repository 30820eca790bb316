//! A finding sink that caps repeated findings of one code per artifact: a hostile file with a
//! million malformed entries yields twenty findings and one "N more" summary, not a million-line
//! report. Shared by the scanners of formats with many repeated records (safetensors, GGUF, ONNX).

use std::collections::BTreeMap;

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::finding::Finding;
use crate::finding::Sink;

/// Findings of one code reported in full per artifact; the rest are counted.
pub const MAX_FINDINGS_PER_CODE: usize = 20;

/// Wraps a [`Sink`] for one artifact. Call [`CappedSink::summarise`] when done.
pub struct CappedSink<'a> {
    /// The underlying sink, for findings that must never be capped.
    pub out: &'a mut Sink,
    codes: &'static [&'static Code],
    counts: BTreeMap<&'static str, usize>,
}

impl<'a> CappedSink<'a> {
    /// `codes` are the scanner's codes: findings of other codes pass through uncapped.
    pub fn new(out: &'a mut Sink, codes: &'static [&'static Code]) -> Self {
        Self {
            out,
            codes,
            counts: BTreeMap::new(),
        }
    }

    /// Reports `f` unless its code has already been reported [`MAX_FINDINGS_PER_CODE`] times.
    pub fn push(&mut self, f: Finding) {
        let Some(code) = self.codes.iter().find(|c| c.id == f.code) else {
            self.out.push(f);
            return;
        };
        let n = self.counts.entry(code.id).or_insert(0);
        *n = n.saturating_add(1);
        if *n <= MAX_FINDINGS_PER_CODE {
            self.out.push(f);
        }
    }

    /// Adds one summary finding per code whose findings were capped.
    pub fn summarise(&mut self, a: &Artifact) {
        for code in self.codes {
            let n = self.counts.get(code.id).copied().unwrap_or(0);
            if n > MAX_FINDINGS_PER_CODE {
                self.out.push(
                    Finding::new(
                        code,
                        a.location.clone(),
                        format!(
                            "{} more findings of this kind were not listed",
                            n.saturating_sub(MAX_FINDINGS_PER_CODE)
                        ),
                    )
                    .evidence("count", n.to_string()),
                );
            }
        }
    }
}
