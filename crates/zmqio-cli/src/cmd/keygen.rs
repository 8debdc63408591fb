//! `zmqio keygen`: a CURVE key pair, printed or written as certificate files.

use crate::args::KeygenArgs;
use crate::error::CliResult;
use crate::keys::{generate, write_certificates};
use crate::output::Out;

/// Runs `zmqio keygen`.
pub(crate) fn run(a: KeygenArgs) -> CliResult {
    let (public, secret) = generate()?;
    let out = Out::new();
    match (&a.out, &a.name) {
        (Some(dir), Some(name)) => {
            let (public_path, secret_path) = write_certificates(dir, name, &public, &secret)?;
            out.line(&format!("public: {}", public_path.display()))?;
            out.line(&format!("secret: {}", secret_path.display()))?;
        }
        _ => {
            out.line(&format!("public: {}", public.z85()))?;
            out.line(&format!("secret: {}", secret.z85()))?;
        }
    }
    Ok(())
}
