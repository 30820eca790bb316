//! `modelgate sign`: scan a model directory, file or image and sign it when the policy approves.

use std::path::PathBuf;

use anyhow::Result;

use modelgate::report::text;
use modelgate::sign::{self, oci, KeyType, PrivateKey};
use modelgate::{Engine, EngineOptions, Policy};

use super::{byte_progress_bar, load_config, load_db, oci_target, on_progress, USAGE};
use crate::args::{parse_jobs, PolicyArgs, RegistryArgs, SignThreshold};

#[derive(clap::Args)]
pub struct SignArgs {
    /// Model directory (or single file) to scan and sign, or a container image
    /// oci://HOST[:PORT]/REPO[:TAG|@DIGEST] (the signature is pushed as an OCI referrer).
    path: PathBuf,
    /// Private key (PEM: PKCS#8 Ed25519/P-256, or SEC1 P-256).
    #[arg(long, short = 'k')]
    key: PathBuf,
    /// Signature file (default PATH/model.sig; FILE.sig for a single file).
    #[arg(long, short = 's')]
    signature: Option<PathBuf>,
    /// Leave this path out of the signature (relative to PATH, or absolute inside it); repeatable.
    #[arg(long = "ignore", value_name = "PATH")]
    ignore: Vec<PathBuf>,
    /// Also sign .git, .github, .gitattributes and .gitignore.
    #[arg(long)]
    no_ignore_git_paths: bool,
    #[command(flatten)]
    policy: PolicyArgs<SignThreshold>,
    /// modelgate.toml configuration file (`[policy] fail_on` and `[policy.overrides]`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Treat imports that are neither allowed nor denied as high instead of medium.
    #[arg(long)]
    strict: bool,
    /// Extra signature files (*.toml) that extend or override the built-in database.
    #[arg(long, value_name = "DIR")]
    signatures: Vec<PathBuf>,
    /// Do not write the scan attestation (SIGNATURE.scan.json).
    #[arg(long)]
    no_scan_attestation: bool,
    /// Worker threads (default: all cores; at most 8 per core).
    #[arg(long, short = 'j', value_parser = parse_jobs)]
    jobs: Option<usize>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: &SignArgs) -> Result<u8> {
    if let Some(reference) = oci_target(&args.path) {
        return sign_image(args, &reference);
    }
    if std::fs::symlink_metadata(&args.path).is_err() {
        eprintln!(
            "modelgate: no such file or directory: {}",
            args.path.display()
        );
        return Ok(USAGE);
    }
    let (key, engine, policy) = setup(args)?;
    let opts = sign::SignOptions {
        signature: args.signature.clone(),
        ignore: args.ignore.clone(),
        ignore_git_paths: !args.no_ignore_git_paths,
        policy,
        scan_attestation: !args.no_scan_attestation,
        threads: args.jobs,
    };
    let pb = byte_progress_bar(args.quiet);
    let progress = on_progress(pb.as_ref());
    let result = sign::sign_directory(&engine, &args.path, &key, &opts, &progress);
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    match result {
        Ok(signed) => {
            println!(
                "signed {} file(s), {} bytes, with {} key {}",
                signed.manifest.resources.len(),
                signed.bytes,
                signed.key_type,
                key.public_key().hint()
            );
            println!("signature: {}", signed.signature.display());
            if let Some(p) = &signed.scan_attestation {
                println!("scan attestation: {}", p.display());
            }
            if signed.key_type == KeyType::Ed25519 {
                eprintln!("note: Ed25519 signatures verify with `modelgate verify`; model_signing accepts only ECDSA (P-256) signatures");
            }
            Ok(0)
        }
        Err(sign::SignError::Refused { reason, report }) => {
            print!("{}", refused_report(&report));
            eprintln!(
                "modelgate: refusing to sign {}: {reason}; no signature written",
                args.path.display()
            );
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}

/// The report of a refused signing, in full (skipped artifacts too: "nothing scanned" is a
/// refusal whose reason is in that list).
fn refused_report(report: &modelgate::Report) -> String {
    text::render(
        report,
        text::TextOptions {
            color: false,
            show_skipped: true,
        },
    )
}

/// The signing key, the engine that scans before signing and the policy that judges the scan,
/// shared by directory and image signing.
fn setup(args: &SignArgs) -> Result<(PrivateKey, Engine, Policy)> {
    let policy = args
        .policy
        .policy(load_config(args.config.as_deref())?.as_ref());
    let key = PrivateKey::load(&args.key)?;
    let opts = EngineOptions {
        strict: args.strict,
        jobs: args.jobs,
        ..EngineOptions::default()
    };
    let engine = Engine::new(load_db(&args.signatures)?, opts)?;
    Ok((key, engine, policy))
}

fn sign_image(args: &SignArgs, reference: &str) -> Result<u8> {
    if args.signature.is_some() || !args.ignore.is_empty() || args.no_scan_attestation {
        eprintln!("modelgate: --signature, --ignore and --no-scan-attestation apply to model directories; an image signature is pushed to the registry and always carries the scan attestation");
        return Ok(USAGE);
    }
    let (key, engine, policy) = setup(args)?;
    let opts = oci::OciSignOptions {
        image: args.registry.setup()?,
        policy,
    };
    match oci::sign_image(&engine, reference, &key, &opts) {
        Ok(s) => {
            println!(
                "signed {} ({}) with {} key {}",
                s.pinned,
                s.media_type,
                s.key_type,
                key.public_key().hint()
            );
            println!("referrer: {} (bundle {})", s.referrer, s.bundle_digest);
            match &s.listing {
                oci::Listing::ReferrersApi => println!("listed by the registry's referrers API"),
                oci::Listing::TagSchema(tag) => {
                    println!("listed in the referrers tag-schema index {tag}");
                }
            }
            Ok(0)
        }
        Err(oci::OciSignError::Refused {
            image,
            reason,
            report,
        }) => {
            print!("{}", refused_report(&report));
            eprintln!("modelgate: refusing to sign {image}: {reason}; nothing pushed");
            Ok(1)
        }
        Err(oci::OciSignError::Registry(e)) => {
            eprintln!("modelgate: {e}");
            Ok(2)
        }
        Err(e) => Err(e.into()),
    }
}
