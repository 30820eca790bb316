//! `modelgate convert`: the library's scan → convert → rescan → sign pipeline
//! ([`modelgate::convert::convert_approved`]) behind the command line, and what it says about
//! each way the pipeline can stop.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::ValueEnum;

use modelgate::convert::{self as cv, ConvertError, Converted, PipelineError, Request, Target};
use modelgate::report::text;
use modelgate::sign::PrivateKey;
use modelgate::{Engine, EngineOptions, Report};

use super::{load_config, load_db, USAGE};
use crate::args::{ConvertThreshold, PolicyArgs};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ConvertTo {
    Safetensors,
    Onnx,
}

#[derive(clap::Args)]
pub struct ConvertArgs {
    /// The model file to convert.
    input: PathBuf,
    /// Output format.
    #[arg(long, value_enum)]
    to: ConvertTo,
    /// Output file (default: the input with the target's extension).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs<ConvertThreshold>,
    /// modelgate.toml configuration file (`[policy] fail_on` and `[policy.overrides]`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Add a ZipMap to classifier graphs (outputs output_label and output_probability, as
    /// skl2onnx does by default).
    #[arg(long)]
    zipmap: bool,
    /// Extra signature files (*.toml) that extend or override the built-in database.
    #[arg(long, value_name = "DIR")]
    signatures: Vec<PathBuf>,
    /// Print the conversion summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Sign the converted file with this private key (OpenSSF model-signing bundle written to
    /// OUTPUT.sig, plus the scan attestation), after it has been scanned and approved.
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,
}

pub fn run(args: &ConvertArgs) -> Result<u8> {
    if !args.input.is_file() {
        eprintln!("modelgate: no such file: {}", args.input.display());
        return Ok(USAGE);
    }
    let target = match args.to {
        ConvertTo::Safetensors => Target::Safetensors,
        ConvertTo::Onnx => Target::Onnx,
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| cv::default_output(&args.input, target));
    if output.exists()
        && std::fs::canonicalize(&output).ok() == std::fs::canonicalize(&args.input).ok()
    {
        eprintln!("modelgate: the output would overwrite the input");
        return Ok(USAGE);
    }
    // Load the configuration and the signing key first: a bad one must fail before any work.
    let policy = args
        .policy
        .policy(load_config(args.config.as_deref())?.as_ref());
    let signing_key = match &args.sign {
        Some(path) => {
            Some(PrivateKey::load(path).with_context(|| format!("loading {}", path.display()))?)
        }
        None => None,
    };
    let engine = Engine::new(load_db(&args.signatures)?, EngineOptions::default())?;
    let request = Request {
        input: &args.input,
        target,
        output: &output,
        policy: &policy,
        zipmap: args.zipmap,
        sign_key: signing_key.as_ref(),
    };
    match cv::convert_approved(&engine, &request) {
        Ok(done) => print_converted(args, &output, &done),
        Err(e) => stopped(args, policy.fail_on, e),
    }
}

/// Says why the pipeline stopped and returns its exit code; setup failures propagate.
fn stopped(args: &ConvertArgs, fail_on: modelgate::Severity, e: PipelineError) -> Result<u8> {
    let code = e.exit_code();
    match e {
        PipelineError::Refused { report, .. } => {
            eprint!("{}", plain(&report));
            eprintln!(
                "modelgate: refused to convert {}: the scan did not approve it at --fail-on {fail_on}",
                args.input.display(),
            );
        }
        PipelineError::Conversion { error, report } => {
            eprintln!(
                "modelgate: conversion of {} failed: {error}",
                args.input.display()
            );
            if let ConvertError::Forbidden { module, name, .. } = &*error {
                // The scan's own findings about the refused global, for context.
                for f in &report.findings {
                    if f.global
                        .as_ref()
                        .is_some_and(|g| g.module == *module && g.name == *name)
                    {
                        eprintln!(
                            "  scan finding: [{}] {} {}",
                            f.severity,
                            f.code,
                            text::visible(&f.message)
                        );
                    }
                }
            }
        }
        PipelineError::OutputRefused { report, .. } => {
            eprint!("{}", plain(&report));
            eprintln!("modelgate: the converted output did not pass the scan; removed it");
        }
        PipelineError::Signing { output, error } => {
            // The artifact is fine; only the signature failed. The output is kept; say so.
            eprintln!(
                "modelgate: converted {} but signing failed: {error}",
                output.display()
            );
        }
        e @ (PipelineError::Hash { .. } | PipelineError::Scan(_)) => return Err(e.into()),
    }
    Ok(code)
}

fn plain(report: &Report) -> String {
    text::render(report, text::TextOptions::default())
}

fn print_converted(args: &ConvertArgs, output: &std::path::Path, done: &Converted) -> Result<u8> {
    let Converted {
        summary, signed, ..
    } = done;
    if args.json {
        let v = done.to_json(&args.input, output);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!(
        "converted {} ({}) -> {} ({} bytes)",
        args.input.display(),
        summary.input_kind,
        output.display(),
        summary.output_bytes
    );
    println!("source sha256 {}", summary.source_sha256);
    println!("output sha256 {}", summary.output_sha256);
    if let Some(s) = signed {
        println!("signed: {} ({})", s.signature.display(), s.key_type);
    }
    if !summary.tensors.is_empty() {
        println!("tensors: {}", summary.tensors.len());
    }
    for (a, k) in &summary.aliases {
        println!("alias: {a} -> {k} (shared storage; recorded in __metadata__)");
    }
    for s in &summary.skipped {
        println!("not converted (not a tensor): {s}");
    }
    for p in &summary.placeholders {
        println!("inert global kept as an opaque placeholder (never called): {p}");
    }
    for n in &summary.notes {
        println!("note: {n}");
    }
    Ok(0)
}
