//! Pickle analysis: an opcode reader for protocols 0–5 with exact loader semantics, a walker that
//! records every import and call site for scanning, and (later) a symbolic VM for conversion.
//! Nothing here ever calls, imports or evaluates anything.
