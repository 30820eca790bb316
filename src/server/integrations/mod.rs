//! Registry integrations served by the gate, each enabled by its own config section and writing
//! to the same audit trail.

pub mod mlflow;
