//! Build steps:
//! 1. embeds every `signatures/*.toml` file, so the signature database is reviewable data in the
//!    repository and still ships inside the single binary;
//! 2. compiles every vendored `.proto` file under `src/proto/` with protox (a pure-Rust protoc, so
//!    no protoc binary is needed) and prost-build.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    embed_signatures(&out_dir);
    compile_protos();
}

fn embed_signatures(out_dir: &Path) {
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
    let mut out = String::from(
        "/// Embedded signature files: (file name, TOML text, the same parsed to JSON at build time),\n/// sorted by name. JSON parses an order of magnitude faster than TOML at start-up.\npub static EMBEDDED: &[(&str, &str, &str)] = &[\n",
    );
    for n in &names {
        println!("cargo:rerun-if-changed=signatures/{n}");
        let text = fs::read_to_string(dir.join(n)).expect("read signature file");
        // A malformed signature file fails the build: the database is reviewed data.
        let value: toml::Value = toml::from_str(&text)
            .unwrap_or_else(|e| panic!("signatures/{n} is not valid TOML: {e}"));
        let json_name = format!("{n}.json");
        fs::write(
            out_dir.join(&json_name),
            serde_json::to_string(&value).expect("TOML to JSON"),
        )
        .expect("write JSON signature file");
        writeln!(
            out,
            "    ({n:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/signatures/{n}\")), include_str!(concat!(env!(\"OUT_DIR\"), \"/{json_name}\"))),"
        )
        .expect("write to string");
    }
    out.push_str("];\n");
    fs::write(out_dir.join("embedded_signatures.rs"), out).expect("write embedded_signatures.rs");
}

fn find_protos(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            find_protos(&p, out);
        } else if p.extension().is_some_and(|e| e == "proto") {
            out.push(p);
        }
    }
}

fn compile_protos() {
    let root = Path::new("src/proto");
    println!("cargo:rerun-if-changed=src/proto");
    let mut protos = Vec::new();
    find_protos(root, &mut protos);
    if protos.is_empty() {
        return;
    }
    for p in &protos {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    let fds = protox::compile(&protos, [root]).expect("vendored .proto files compile");
    prost_build::Config::new()
        // TensorFlow's proto comments contain indented examples that rustdoc would run as doctests.
        .disable_comments([".tensorflow"])
        .compile_fds(fds)
        .expect("prost code generation");
}
