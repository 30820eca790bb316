//! `modelgate verify`: check a model directory, file or image against its signature and, when
//! present or required, its scan attestation.

use std::path::PathBuf;

use modelgate::sign::{self, oci, PublicKey};

use super::{byte_progress_bar, oci_target, on_progress, USAGE};
use crate::args::{parse_jobs, RegistryArgs};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Model directory (or single file) to verify, or a container image
    /// oci://HOST[:PORT]/REPO[:TAG|@DIGEST] (its signature referrers are checked).
    path: PathBuf,
    /// Public key (PEM SubjectPublicKeyInfo, e.g. NAME.pub).
    #[arg(long, short = 'k')]
    key: PathBuf,
    /// Signature file (default PATH/model.sig; FILE.sig for a single file).
    #[arg(long, short = 's')]
    signature: Option<PathBuf>,
    /// Leave this local path out (relative to PATH, or absolute inside it); repeatable.
    #[arg(long = "ignore", value_name = "PATH")]
    ignore: Vec<PathBuf>,
    /// Fail unless a valid scan attestation (SIGNATURE.scan.json) accompanies the signature.
    #[arg(long)]
    require_scan: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: all cores; at most 8 per core).
    #[arg(long, short = 'j', value_parser = parse_jobs)]
    jobs: Option<usize>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: &VerifyArgs) -> u8 {
    let key = match PublicKey::load(&args.key) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("Verification failed: {e}");
            return 1;
        }
    };
    if let Some(reference) = oci_target(&args.path) {
        return verify_image(args, &reference, &key);
    }
    let opts = sign::VerifyOptions {
        signature: args.signature.clone(),
        ignore: args.ignore.clone(),
        require_scan_attestation: args.require_scan,
        threads: args.jobs,
    };
    let pb = byte_progress_bar(args.quiet || args.json);
    let progress = on_progress(pb.as_ref());
    let result = sign::verify_directory(&args.path, &key, &opts, &progress);
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    match result {
        Ok(v) => {
            if args.json {
                let out = v.to_json();
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            } else {
                println!(
                    "Verification succeeded: {} file(s), {} bytes, {}, {} key",
                    v.files, v.bytes, v.hash, v.key_type
                );
                if !v.hint_present {
                    eprintln!(
                        "warning: the signature does not name its key (older model_signing format)"
                    );
                }
                match &v.scan {
                    Some(s) => println!("{}", attestation_line(s)),
                    None => println!("scan attestation: none"),
                }
            }
            0
        }
        Err(e) => failed(args.json, &e),
    }
}

/// The one-line summary of an approving scan attestation.
fn attestation_line(s: &sign::ScanPredicate) -> String {
    format!(
        "scan attestation: approved by {} {} at fail-on {} (signature database {}), {} scanned, {} skipped, {} finding(s) below the threshold, at {}",
        s.scanner.name,
        s.scanner.version,
        s.policy.fail_on,
        s.signature_database.version,
        s.summary.scanned,
        s.summary.skipped,
        s.summary.total_findings,
        s.scanned_at
    )
}

/// Says why verification failed (as JSON too when asked) and returns the exit code.
fn failed(json: bool, e: &dyn std::fmt::Display) -> u8 {
    if json {
        let out = serde_json::json!({ "verified": false, "error": e.to_string() });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    eprintln!("Verification failed: {e}");
    1
}

fn verify_image(args: &VerifyArgs, reference: &str, key: &PublicKey) -> u8 {
    if args.signature.is_some() || !args.ignore.is_empty() {
        eprintln!("modelgate: --signature and --ignore apply to model directories; an image's signatures are found in the registry");
        return USAGE;
    }
    let opts = match args.registry.setup() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("modelgate: {e:#}");
            return USAGE;
        }
    };
    match oci::verify_image(reference, key, &opts) {
        Ok(v) => {
            if args.json {
                let out = serde_json::json!({
                    "verified": true,
                    "image": v.pinned,
                    "digest": v.digest,
                    "media_type": v.media_type,
                    "referrer": v.referrer,
                    "subject_name": v.subject_name,
                    "key_type": v.key_type.as_str(),
                    "scan": v.scan,
                });
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            } else {
                println!(
                    "Verification succeeded: {} signed with {} key (referrer {})",
                    v.pinned, v.key_type, v.referrer
                );
                println!("{}", attestation_line(&v.scan));
            }
            0
        }
        Err(e) => failed(args.json, &e),
    }
}
