#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! Inert data: bytes that the container's own loader reads only as numbers or text (tensor
//! storages and metadata records of a PyTorch archive). Their classification comes from the
//! archive structure; this scanner records that they were accounted for, without reading them.

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::format::Format;
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;

pub struct DataScanner;

impl Scanner for DataScanner {
    fn id(&self) -> &'static str {
        "data"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Data]
    }
    fn codes(&self) -> &'static [&'static Code] {
        &[]
    }
    fn scan(
        &self,
        _a: &Artifact,
        _cx: &dyn ScannerContext,
        _out: &mut Sink,
    ) -> Result<(), ScanError> {
        Ok(())
    }
}
