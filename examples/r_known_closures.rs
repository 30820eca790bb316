//! Prints the `r-known-closure` entries of `signatures/r.toml` for the closures that
//! `testdata/generate/r_known_closures.R` saved (one uncompressed `.rds` per closure, listed
//! with its package, R version and description in `index.tsv`): the digest of each closure's
//! formals and body as modelgate's own reader computes it. Only closures whose code names a
//! function the embedded R policy denies are printed (the others are info already), and none
//! that calls compiled code (`r-native-routine` entries judge those, routine by routine); closures
//! with the same digest are printed once, with every description.
//!
//! Usage: `cargo run --example r_known_closures -- DIR` (the directory the R script wrote).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::PathBuf;

use modelgate::formats::rds::{parse, CodeKind, NATIVE_INTERFACE, READ_STACK};
use modelgate::scanners::rds::RPolicy;
use modelgate::signatures::SignatureDb;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: r_known_closures DIR")?,
    );
    let policy = RPolicy::new(&SignatureDb::embedded()?);
    // digest -> (package, R version, descriptions, denied names)
    let mut found: BTreeMap<String, (String, String, Vec<String>, Vec<String>)> = BTreeMap::new();
    for line in std::fs::read_to_string(dir.join("index.tsv"))?.lines() {
        let mut cols = line.splitn(4, '\t');
        let (Some(file), Some(package), Some(version), Some(what)) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            return Err(format!("bad index line {line:?}").into());
        };
        let bytes = std::fs::read(dir.join(file))?;
        let len = u64::try_from(bytes.len())?;
        let parsed = std::thread::Builder::new()
            .stack_size(READ_STACK)
            .spawn(move || parse(Cursor::new(bytes), len))?
            .join()
            .map_err(|_| "reader thread failed")?;
        if let Some(e) = parsed.error {
            return Err(format!("{file}: {e}").into());
        }
        // The saved closure is the first code object of its stream.
        let top = parsed
            .stream
            .code
            .first()
            .filter(|c| c.kind == CodeKind::Closure)
            .ok_or_else(|| format!("{file}: not a closure"))?;
        let Some(digest) = &top.digest else {
            eprintln!("{file} ({what}): no digest (holds an environment, promise or closure)");
            continue;
        };
        let denied: Vec<String> = top
            .symbols
            .iter()
            .chain(&top.strings)
            .filter(|n| policy.denied(n).is_some())
            .cloned()
            .collect();
        let native = top
            .symbols
            .iter()
            .any(|n| NATIVE_INTERFACE.contains(&n.as_str()));
        if denied.is_empty() || native {
            continue;
        }
        let e = found
            .entry(digest.clone())
            .or_insert_with(|| (package.to_owned(), version.to_owned(), Vec::new(), denied));
        e.2.push(what.to_owned());
    }
    for (digest, (package, version, whats, denied)) in found {
        println!("[[entry]]");
        println!("kind = \"r-known-closure\"");
        println!("module = \"{package}\"");
        println!("name = \"{digest}\"");
        println!("action = \"allow\"");
        println!(
            "reason = \"{package} closure of {} (R {version}; calls {})\"",
            whats.join(", ").replace('\\', "\\\\").replace('"', "\\\""),
            denied.join(", ")
        );
        println!();
    }
    Ok(())
}
