//! `modelgate keygen`: a signing key pair.

use std::path::PathBuf;

use anyhow::{Context, Result};

use modelgate::sign::{self, KeyType, PrivateKey};

use crate::args::KeyTypeArg;

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Key type. Use p256 for signatures that `model_signing verify key` accepts.
    #[arg(long = "type", value_enum, default_value = "ed25519")]
    key_type: KeyTypeArg,
    /// Private key path; the public key is written to NAME.pub.
    #[arg(short = 'o', long = "output", value_name = "NAME")]
    output: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

pub fn run(args: &KeygenArgs) -> Result<u8> {
    let key_type = KeyType::from(args.key_type);
    let key = PrivateKey::generate(key_type)?;
    let pub_path = sign::keys::write_key_pair(&key, &args.output, args.force)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "wrote {} private key {} (mode 0600) and public key {}",
        key.key_type(),
        args.output.display(),
        pub_path.display()
    );
    if key_type == KeyType::Ed25519 {
        eprintln!("note: model_signing verifies ECDSA keys only; use --type p256 for signatures it must accept");
    }
    Ok(0)
}
