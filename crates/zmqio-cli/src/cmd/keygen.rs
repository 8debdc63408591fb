//! `zmqio keygen`: a CURVE key pair, printed or written as certificate files.

use crate::args::KeygenArgs;
use crate::error::{failed, CliResult};
use crate::keys::{generate, has_curve, NO_CURVE};
use crate::output::Out;
use crate::zmqio::auth;

/// Runs `zmqio keygen`.
pub(crate) fn run(a: KeygenArgs) -> CliResult {
    let out = Out::new();
    match (&a.out, &a.name) {
        (Some(dir), Some(name)) => {
            if !has_curve() {
                return Err(failed(format!("cannot make a CURVE key pair: {NO_CURVE}")));
            }
            std::fs::create_dir_all(dir)
                .map_err(|e| failed(format!("--out {}: cannot create it: {e}", dir.display())))?;
            // NAME.key and NAME.key_secret (mode 0600), as pyzmq's create_certificates.
            let (public_path, secret_path) = auth::create_certificates(dir, name)
                .map_err(|e| failed(format!("cannot write the certificates: {e}")))?;
            out.line(&format!("public: {}", public_path.display()))?;
            out.line(&format!("secret: {}", secret_path.display()))?;
        }
        _ => {
            let (public, secret) = generate()?;
            out.line(&format!("public: {}", auth::z85_encode_key(public.bytes())))?;
            out.line(&format!("secret: {}", auth::z85_encode_key(secret.bytes())))?;
        }
    }
    Ok(())
}
