//! Embeds every `signatures/*.toml` file at build time, so the signature database is reviewable
//! data in the repository and still ships inside the single binary.
use std::fmt::Write as _;
use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new("signatures");
    println!("cargo:rerun-if-changed=signatures");
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    Path::new(n)
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = String::from("/// Embedded signature files: (file name, contents), sorted by name.\npub static EMBEDDED: &[(&str, &str)] = &[\n");
    for n in &names {
        println!("cargo:rerun-if-changed=signatures/{n}");
        writeln!(
            out,
            "    ({n:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/signatures/{n}\"))),"
        )
        .expect("write to string");
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("embedded_signatures.rs");
    fs::write(dest, out).expect("write embedded_signatures.rs");
}
