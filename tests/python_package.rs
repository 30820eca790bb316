//! The PyPI package: maturin builds the wheel from this checkout (the extension module with
//! `--features python` and the CLI binary as the wheel's `modelgate` script), pip installs it
//! offline into a fresh venv, and the pytest suite in tests/python/ runs against the installed
//! package: the API on benign and malicious files, the exception types, the GIL release, the
//! installed command, and the modelscan shim against the real modelscan 0.8.8.
//!
//! The wheel is built in the `dev` profile (the fastest build that is still the real code; the
//! binary is the one the other tests drive) and cached under the target directory keyed by a
//! hash of everything that goes into it, so a second run does not rebuild it.

// Progress notices (a reused wheel, a skip) and the pytest output are this test's output.
#![allow(clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The CLI binary the other integration tests run (built by cargo for this test run).
fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_modelgate"))
}

/// A hash of what the wheel is built from: the binary, the Rust and Python sources, the
/// manifests and the signature database.
fn source_hash() -> String {
    let mut h = Sha256::new();
    h.update(std::fs::read(binary()).expect("binary"));
    let mut files: Vec<PathBuf> = ["src", "python/modelgate", "signatures"]
        .iter()
        .flat_map(|d| walkdir::WalkDir::new(root().join(d)))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .filter(|p| !p.components().any(|c| c.as_os_str() == "__pycache__"))
        .collect();
    for f in ["Cargo.toml", "Cargo.lock", "pyproject.toml", "build.rs"] {
        files.push(root().join(f));
    }
    files.sort();
    for f in files {
        h.update(
            f.strip_prefix(root())
                .unwrap_or(&f)
                .to_string_lossy()
                .as_bytes(),
        );
        h.update(std::fs::read(&f).expect("source file"));
    }
    hex::encode(h.finalize())
}

/// The wheel, built by maturin unless a wheel of the same sources is cached.
fn wheel(maturin: &Path, python: &Path) -> PathBuf {
    let target = binary()
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    let cache = target.join("python-wheel").join(source_hash());
    let find = || {
        std::fs::read_dir(&cache).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "whl"))
        })
    };
    if let Some(w) = find() {
        eprintln!("reusing {}", w.display());
        return w;
    }
    // The binary ships as the wheel's data script (pyproject.toml: `data`).
    let scripts = root().join("python/wheel-data/scripts");
    std::fs::create_dir_all(&scripts).expect("wheel-data");
    std::fs::copy(binary(), scripts.join("modelgate")).expect("copy binary");
    let out = Command::new(maturin)
        .args([
            "build",
            "--profile",
            "dev",
            "--compatibility",
            "linux",
            "--out",
        ])
        .arg(&cache)
        .arg("--interpreter")
        .arg(python)
        .current_dir(root())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run maturin");
    assert!(
        out.status.success(),
        "maturin build failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    find().expect("maturin wrote a wheel")
}

#[test]
fn wheel_installs_into_a_fresh_venv_and_passes_the_pytest_suite() {
    let Some(venv) = common::resource("MODELGATE_VENV", "venv") else {
        return;
    };
    let python = venv.join("bin/python");
    let maturin = venv.join("bin/maturin");
    assert!(
        maturin.is_file(),
        "maturin is installed in the test venv by tests/setup.sh (tests/requirements.txt)"
    );
    let wheel = wheel(&maturin, &python);

    let tmp = tempfile::tempdir().expect("tmp");
    let fresh = tmp.path().join("venv");
    common::run_ok(Command::new(&python).args(["-m", "venv"]).arg(&fresh));
    common::run_ok(
        Command::new(fresh.join("bin/python"))
            .args(["-m", "pip", "install", "--no-index", "--no-deps", "--quiet"])
            .arg(&wheel),
    );
    let site = common::run_ok(Command::new(fresh.join("bin/python")).args([
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    ]));
    let site = site.trim();
    let installed = fresh.join("bin/modelgate");
    assert!(installed.is_file(), "the wheel installs bin/modelgate");

    // pytest and the real modelscan come from the test venv; the package and the command
    // from the fresh venv (first on PYTHONPATH and PATH).
    let path = format!(
        "{}:{}",
        fresh.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(&python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/python",
        ])
        .current_dir(root())
        .env("PYTHONPATH", site)
        .env("PATH", path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("MODELGATE_FRESH_VENV", &fresh)
        .env("MODELGATE_TESTDATA", root().join("testdata"))
        .output()
        .expect("run pytest");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pytest failed");
    assert!(text.contains(" passed"), "pytest ran tests: {text}");
}
