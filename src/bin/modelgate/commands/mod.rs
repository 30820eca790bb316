//! One module per subcommand, each holding its arguments and the calls that implement it, plus
//! the few helpers several commands share (setup of the signature database, registry access and
//! allowlists; writing a report; progress bars). Commands return the process exit code.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use modelgate::config::Config;
use modelgate::image::ImageOptions;
use modelgate::packages::Allowlist;
use modelgate::report::text;
use modelgate::sign::Progress;
use modelgate::SignatureDb;

use crate::args::{ImageArgs, RegistryArgs};

pub mod audit;
pub mod convert;
pub mod explain;
pub mod keygen;
pub mod mlflow;
pub mod modelscan;
pub mod packages;
pub mod scan;
pub mod serve;
pub mod sign;
pub mod signatures;
pub mod verify;
pub mod worker;

/// Exit code for usage errors (modelscan's).
pub const USAGE: u8 = 4;

/// The built-in signature database extended by `--signatures` directories.
pub fn load_db(dirs: &[PathBuf]) -> Result<SignatureDb> {
    let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    Ok(SignatureDb::load(&dirs)?)
}

/// The `--config` file, parsed and checked, when one is given.
pub fn load_config(path: Option<&Path>) -> Result<Option<Config>> {
    Ok(path.map(Config::load).transpose()?)
}

impl ImageArgs {
    /// The `--config` file, parsed and checked, when one is given.
    pub fn load_config(&self) -> Result<Option<Config>> {
        load_config(self.config.as_deref())
    }

    /// Image options and the allowlist from the command line and the configuration file.
    pub fn setup(&self, config: Option<&Config>) -> Result<(ImageOptions, Allowlist)> {
        let opts = ImageOptions {
            platform: self.platform.clone(),
            ..self.registry.setup()?
        };
        let mut sources = self.allowlist.clone();
        if let Some(c) = config {
            sources.extend(c.allowlist.sources.iter().cloned());
        }
        let allow = Allowlist::load(&sources)?;
        Ok((opts, allow))
    }
}

impl RegistryArgs {
    /// Registry access options from the command line (the password from stdin).
    pub fn setup(&self) -> Result<ImageOptions> {
        let password = if self.password_stdin {
            let mut s = String::new();
            std::io::stdin()
                .read_line(&mut s)
                .context("reading the password from stdin")?;
            Some(s.trim_end_matches(['\r', '\n']).to_owned())
        } else {
            None
        };
        Ok(ImageOptions {
            platform: None,
            username: self.username.clone(),
            password,
            bearer_token: self.registry_token.clone().filter(|t| !t.is_empty()),
            insecure_registries: self.insecure_registry.clone(),
            docker_config: !self.no_docker_config,
            scan_layers: true,
        })
    }
}

/// The first target that is neither `oci://` nor an existing path, printable.
pub fn missing_target<T: AsRef<std::ffi::OsStr>>(targets: &[T]) -> Option<String> {
    targets
        .iter()
        .map(AsRef::as_ref)
        .find(|t| {
            !t.to_str().is_some_and(|s| s.starts_with("oci://"))
                && std::fs::symlink_metadata(t).is_err()
        })
        .map(|t| text::visible(&t.to_string_lossy()).into_owned())
}

/// The registry reference of an `oci://` target.
pub fn oci_target(path: &Path) -> Option<String> {
    path.to_str()
        .and_then(|s| s.strip_prefix("oci://"))
        .map(str::to_owned)
}

/// The exit code once the report has been written, or could not be: a report file that cannot
/// be written is said on stderr and exits 2, unless the scan found something at the threshold
/// (findings dominate: a pipeline must not read "could not write" as "nothing found"). Errors
/// writing to stdout (a closed pipe) propagate as before.
pub fn exit_after_write(code: u8, written: Result<()>, to_file: bool) -> Result<u8> {
    match written {
        Ok(()) => Ok(code),
        Err(e) if to_file => {
            eprintln!("modelgate: {}", text::visible(&format!("{e:#}")));
            Ok(if code == 1 { 1 } else { 2 })
        }
        Err(e) => Err(e),
    }
}

/// Writes a rendered report to `path`, or to stdout.
pub fn write_out(path: Option<&PathBuf>, s: &str) -> Result<()> {
    match path {
        Some(p) => std::fs::write(p, s).with_context(|| format!("writing {}", p.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(s.as_bytes())?;
            out.flush()?;
            Ok(())
        }
    }
}

/// A byte progress bar on stderr for signing and verifying, shown only on a terminal.
pub fn byte_progress_bar(quiet: bool) -> Option<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    Some(pb)
}

/// Feeds signing progress into the bar, if any.
pub fn on_progress(pb: Option<&indicatif::ProgressBar>) -> impl Fn(Progress) + Sync + '_ {
    move |p| {
        if let Some(pb) = pb {
            match p {
                Progress::Scanning => pb.set_message("scanning"),
                Progress::Hashing { total_bytes } => {
                    pb.set_message("hashing");
                    pb.set_length(total_bytes);
                }
                Progress::Hashed(n) => pb.inc(n),
            }
        }
    }
}
