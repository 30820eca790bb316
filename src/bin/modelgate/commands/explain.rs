//! `modelgate explain [CODE]`: the finding catalog, one code or all of them.

use std::io::Write;

use modelgate::catalog;

use super::USAGE;

pub fn run(code: Option<&str>) -> std::io::Result<u8> {
    let mut out = std::io::stdout().lock();
    let Some(id) = code else {
        for c in catalog::all() {
            writeln!(out, "{:<40} {:<8} {}", c.id, c.severity, c.summary)?;
        }
        return Ok(0);
    };
    let Some(c) = catalog::find(id) else {
        eprintln!("modelgate: unknown finding code {id:?}; `modelgate explain` lists them all");
        return Ok(USAGE);
    };
    out.write_all(catalog::describe(c).as_bytes())?;
    Ok(0)
}
