//! `modelgate signatures`: list the signature database (built in plus `--signatures`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

use super::load_db;

pub fn run(dirs: &[PathBuf], json: bool) -> Result<u8> {
    let db = load_db(dirs)?;
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({ "info": db.info(), "entries": db.entries() });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(0);
    }
    let info = db.info();
    writeln!(
        out,
        "signature database {} ({} entries, sha256 {})",
        info.version, info.entries, info.digest
    )?;
    for e in db.entries() {
        let sev = e.severity.map(|s| s.to_string()).unwrap_or_default();
        writeln!(
            out,
            "{:<14} {:<8} {:<9} {}.{}  — {}",
            e.kind,
            format!("{:?}", e.action).to_lowercase(),
            sev,
            e.module,
            e.name,
            e.reason
        )?;
    }
    Ok(0)
}
