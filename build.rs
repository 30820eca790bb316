//! Build steps:
//! 1. embeds every `signatures/*.toml` file, so the signature database is reviewable data in the
//!    repository and still ships inside the single binary (validated, unpacked into static entries
//!    and hashed here, so start-up does no parsing or hashing);
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

/// Entry keys of the signature schema (src/signatures.rs documents them).
const ENTRY_KEYS: &[&str] = &[
    "kind", "module", "name", "action", "severity", "category", "reason",
];

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
        "/// Embedded signature files, sorted by name: (file name, sha256 of the TOML text, entries as\n/// (kind, module, name, action, severity or \"\", category, reason)). Validated and unpacked at\n/// build time, so start-up neither parses nor hashes the database.\n#[allow(clippy::type_complexity)]\npub static EMBEDDED: &[(&str, &str, &[RawEntry])] = &[\n",
    );
    for n in &names {
        println!("cargo:rerun-if-changed=signatures/{n}");
        let text = fs::read_to_string(dir.join(n)).expect("read signature file");
        let digest = hex_sha256(text.as_bytes());
        writeln!(out, "    ({n:?}, {digest:?}, &[").expect("write to string");
        for e in parse_signature_file(n, &text) {
            writeln!(
                out,
                "        ({:?}, {:?}, {:?}, {:?}, {:?}, {:?}, {:?}),",
                e[0], e[1], e[2], e[3], e[4], e[5], e[6]
            )
            .expect("write to string");
        }
        out.push_str("    ]),\n");
    }
    out.push_str("];\n");
    fs::write(out_dir.join("embedded_signatures.rs"), out).expect("write embedded_signatures.rs");
}

/// Parses and validates one signature file with the loader's rules; a malformed file fails the
/// build, because the database is reviewed data. Returns each entry's fields in `ENTRY_KEYS`
/// order ("" when absent).
fn parse_signature_file(file: &str, text: &str) -> Vec<[String; 7]> {
    let fail = |m: String| -> ! { panic!("signatures/{file}: {m}") };
    let value: toml::Table =
        toml::from_str(text).unwrap_or_else(|e| fail(format!("not valid TOML: {e}")));
    for key in value.keys() {
        if key != "meta" && key != "entry" {
            fail(format!("unknown top-level key {key:?}"));
        }
    }
    let meta = value
        .get("meta")
        .and_then(toml::Value::as_table)
        .unwrap_or_else(|| fail("no [meta] table".into()));
    for key in meta.keys() {
        if key != "area" && key != "description" {
            fail(format!("unknown [meta] key {key:?}"));
        }
    }
    if meta.get("area").and_then(toml::Value::as_str).is_none() {
        fail("[meta] has no area".into());
    }
    let entries = match value.get("entry") {
        None => Vec::new(),
        Some(v) => v
            .as_array()
            .unwrap_or_else(|| fail("entry is not an array of tables".into()))
            .clone(),
    };
    entries
        .iter()
        .map(|e| {
            let t = e
                .as_table()
                .unwrap_or_else(|| fail("an entry is not a table".into()));
            for key in t.keys() {
                if !ENTRY_KEYS.contains(&key.as_str()) {
                    fail(format!("unknown entry key {key:?}"));
                }
            }
            let field = |k: &str| -> String {
                match t.get(k) {
                    None => String::new(),
                    Some(v) => v
                        .as_str()
                        .unwrap_or_else(|| fail(format!("entry field {k} is not a string")))
                        .to_owned(),
                }
            };
            let fields: [String; 7] = std::array::from_fn(|i| field(ENTRY_KEYS[i]));
            let id = format!("{}:{}", fields[1], fields[2]);
            if fields[0].is_empty() {
                fail(format!("entry {id} has no kind"));
            }
            if !["allow", "deny", "tolerate"].contains(&fields[3].as_str()) {
                fail(format!("entry {id} has action {:?}", fields[3]));
            }
            if !["", "info", "low", "medium", "high", "critical"].contains(&fields[4].as_str()) {
                fail(format!("entry {id} has severity {:?}", fields[4]));
            }
            if fields[3] == "deny" && fields[4].is_empty() {
                fail(format!("deny entry {id} has no severity"));
            }
            if fields[6].trim().is_empty() {
                fail(format!("entry {id} has no reason"));
            }
            fields
        })
        .collect()
}

fn hex_sha256(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
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
