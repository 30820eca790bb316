//! `modelgate packages`: the Python package inventory of images or directories, vetted against
//! allowlists.

use std::path::PathBuf;

use anyhow::Result;

use modelgate::report::{OutputFormat, RenderOptions};
use modelgate::{Engine, EngineOptions, SignatureDb};

use super::{exit_after_write, missing_target, write_out, USAGE};
use crate::args::{ExitThreshold, FormatArg, ImageArgs, PolicyArgs};

#[derive(clap::Args)]
pub struct PackagesArgs {
    /// Images (oci://…, layout directories, image tarballs) or directories (venvs, rootfs).
    #[arg(required = true)]
    sources: Vec<String>,
    #[command(flatten)]
    image: ImageArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "text")]
    format: FormatArg,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs<ExitThreshold>,
}

pub fn run(args: &PackagesArgs) -> Result<u8> {
    if let Some(t) = missing_target(&args.sources) {
        eprintln!("modelgate: no such file or directory: {t}");
        return Ok(USAGE);
    }
    let format = OutputFormat::from(args.format);
    let engine = Engine::new(
        SignatureDb::embedded()?,
        EngineOptions {
            hash_artifacts: format.needs_hashes(),
            ..EngineOptions::default()
        },
    )?;
    let config = args.image.load_config()?;
    let (opts, mut allow) = args.image.setup(config.as_ref())?;
    let allow_ref = (!allow.is_empty()).then_some(&mut allow);
    let mut report = modelgate::run::inventory(&engine, &args.sources, &opts, allow_ref)?;
    let verdict = args.policy.policy(config.as_ref()).judge(&mut report);
    // Text leads with the inventory table; the findings follow, never coloured.
    let rendered = format.render(
        &report,
        RenderOptions {
            inventory: true,
            ..RenderOptions::default()
        },
    );
    exit_after_write(
        verdict.exit_code(),
        write_out(args.output.as_ref(), &rendered),
        args.output.is_some(),
    )
}
