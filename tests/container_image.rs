//! The static binary and the FROM-scratch container image (Dockerfile).
//!
//! The binary is the `x86_64-unknown-linux-musl` build (in the dev profile here: the fastest
//! build that proves the point; releases use `--profile dist`). It must have no shared libraries
//! (`ldd`), and run and scan the samples with an empty environment in an empty directory. The
//! image is built without a daemon by Debian's buildah (chroot isolation, vfs storage in a temp
//! dir), pushed to a local `docker-registry`, scanned clean by `modelgate scan oci://...`, pulled
//! back, unpacked with umoci, and its binary answers `--version` from the unpacked rootfs under
//! `env -i`.
//!
//! Under `CI=true` the test builds the musl binary itself; elsewhere it uses one that is already
//! built (target/x86_64-unknown-linux-musl/debug/modelgate) or says how to build it and skips.

// Progress notices (a reused wheel, a skip) and the pytest output are this test's output.
#![allow(clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::registry::{self, Registry};

const TARGET: &str = "x86_64-unknown-linux-musl";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_modelgate"))
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

fn check(what: &str, out: &Output) -> String {
    let text = common::output_text(out);
    assert!(out.status.success(), "{what} failed: {text}");
    text
}

/// The static binary: `MODELGATE_STATIC_BINARY` if set, else built here under CI, else an
/// existing build, else `None` (skip).
fn static_binary() -> Option<PathBuf> {
    if let Some(given) = std::env::var_os("MODELGATE_STATIC_BINARY") {
        return Some(PathBuf::from(given));
    }
    let bin = target_dir().join(TARGET).join("debug/modelgate");
    if std::env::var_os("CI").is_some() {
        let out = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--bin", "modelgate", "--target", TARGET])
            .env("CC_x86_64_unknown_linux_musl", "musl-gcc")
            .env("CARGO_TARGET_DIR", target_dir())
            .current_dir(root())
            .output()
            .expect("run cargo");
        check("cargo build --target x86_64-unknown-linux-musl", &out);
    }
    if bin.is_file() {
        Some(bin)
    } else {
        eprintln!(
            "skipped: no static binary at {}; build it with `cargo build --target {TARGET} --bin modelgate` (CI=true builds it)",
            bin.display()
        );
        None
    }
}

/// Runs `bin args` with an empty environment in an empty directory.
fn run_bare(bin: &Path, args: &[&Path]) -> Output {
    let empty = tempfile::tempdir().expect("empty dir");
    Command::new("env")
        .arg("-i")
        .arg(bin)
        .args(args)
        .current_dir(empty.path())
        .output()
        .expect("run the static binary")
}

#[test]
fn static_binary_and_scratch_image() {
    let Some(bin) = static_binary() else {
        return;
    };

    // No shared libraries.
    let ldd = Command::new("ldd").arg(&bin).output().expect("run ldd");
    let said = common::output_text(&ldd);
    assert!(
        said.contains("not a dynamic executable") || said.contains("statically linked"),
        "ldd: {said}"
    );

    // Runs and scans with no environment, from an empty directory.
    let version = run_bare(&bin, &[Path::new("--version")]);
    assert!(
        String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")),
        "{version:?}"
    );
    let bad = run_bare(
        &bin,
        &[
            Path::new("scan"),
            &common::testdata("pickle/malicious/base64_blob.pkl"),
        ],
    );
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stdout).contains("pickle/unsafe-global"));
    let good = run_bare(
        &bin,
        &[Path::new("scan"), &common::testdata("pickle/benign")],
    );
    assert_eq!(good.status.code(), Some(0), "{good:?}");

    if !common::require(
        common::which("buildah").is_some() && common::which("umoci").is_some(),
        "buildah and umoci (apt-get install buildah umoci)",
    ) || !registry::available()
    {
        return;
    }

    // Build the image from a context holding only what the Dockerfile copies.
    let tmp = tempfile::tempdir().expect("tmp");
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir(&ctx).expect("ctx");
    std::fs::copy(root().join("Dockerfile"), ctx.join("Dockerfile")).expect("Dockerfile");
    std::fs::copy(&bin, ctx.join("modelgate")).expect("binary");
    std::fs::copy(
        "/etc/ssl/certs/ca-certificates.crt",
        ctx.join("ca-certificates.crt"),
    )
    .expect("CA bundle (ca-certificates)");
    let storage = tmp.path().join("storage");
    let buildah = |args: &[&str]| {
        let out = Command::new("buildah")
            .arg("--root")
            .arg(storage.join("root"))
            .arg("--runroot")
            .arg(storage.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .expect("run buildah");
        check(&format!("buildah {args:?}"), &out)
    };
    let ctx_arg = ctx.display().to_string();
    buildah(&[
        "build",
        "--isolation",
        "chroot",
        "--quiet",
        "-t",
        "localhost/modelgate:test",
        &ctx_arg,
    ]);
    let layout = tmp.path().join("layout");
    buildah(&[
        "push",
        "--quiet",
        "localhost/modelgate:test",
        &format!("oci:{}:test", layout.display()),
    ]);

    // Push, then scan the image in the registry: clean.
    let reg = Registry::start(None);
    reg.push_layout(&layout, "test", "modelgate");
    let reference = format!("oci://{}/modelgate:test", reg.host());
    let scan = Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .args([
            "scan",
            "--quiet",
            "--insecure-registry",
            &reg.host(),
            &reference,
        ])
        .output()
        .expect("scan the image");
    assert_eq!(scan.status.code(), Some(0), "{scan:?}");

    // Pull it back, unpack it, and run its binary from the rootfs with no environment.
    let pulled = tmp.path().join("pulled");
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{}/modelgate:test", reg.host()))
        .arg(format!("oci:{}:test", pulled.display()))
        .output()
        .expect("run skopeo");
    check("skopeo copy", &out);
    let bundle = tmp.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:test", pulled.display()))
        .arg(&bundle)
        .output()
        .expect("run umoci");
    check("umoci unpack", &out);
    let rootfs = bundle.join("rootfs");
    let mut files: Vec<String> = walkdir::WalkDir::new(&rootfs)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(&rootfs)
                .unwrap_or(e.path())
                .display()
                .to_string()
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "etc/ssl/certs/ca-certificates.crt",
            "usr/local/bin/modelgate"
        ],
        "the image holds the binary and the CA bundle only"
    );
    let config = std::fs::read_to_string(bundle.join("config.json")).expect("runtime config");
    let config: serde_json::Value = serde_json::from_str(&config).expect("config JSON");
    assert_eq!(config["process"]["user"]["uid"], 10001, "non-root user");
    let version = run_bare(
        &rootfs.join("usr/local/bin/modelgate"),
        &[Path::new("--version")],
    );
    assert!(
        String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")),
        "{version:?}"
    );
}
