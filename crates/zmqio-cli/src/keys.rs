//! CURVE keys: Z85 text (ZeroMQ RFC 32), key generation, and certificate files in the ZPL
//! format pyzmq's `zmq.auth` and czmq read and write.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{failed, CliResult};
use crate::zmqio::zmq;

/// A 32-byte CURVE key, checked when parsed from its 40-character Z85 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Z85Key {
    bytes: [u8; 32],
}

impl Z85Key {
    /// Parses a Z85 key; the error says what is wrong (length or character).
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let n = s.chars().count();
        if n != 40 {
            return Err(format!(
                "a CURVE key is 40 Z85 characters (32 bytes), this one has {n}"
            ));
        }
        let decoded = z85_decode(s)?;
        let mut bytes = [0; 32];
        bytes.copy_from_slice(&decoded);
        Ok(Self { bytes })
    }

    /// The key's 32 bytes.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The key as 40 characters of Z85.
    pub(crate) fn z85(&self) -> String {
        z85_encode(&self.bytes)
    }
}

const Z85_CHARS: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Z85-encodes `data`, whose length must be a multiple of 4.
pub(crate) fn z85_encode(data: &[u8]) -> String {
    debug_assert_eq!(data.len() % 4, 0);
    let mut out = String::with_capacity(data.len() * 5 / 4);
    for chunk in data.chunks(4) {
        let mut value = chunk.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b));
        let mut digits = [0u8; 5];
        for d in digits.iter_mut().rev() {
            *d = Z85_CHARS[(value % 85) as usize];
            value /= 85;
        }
        out.extend(digits.iter().map(|&c| c as char));
    }
    out
}

/// Decodes Z85 text whose length is a multiple of 5; refuses characters outside the
/// alphabet and groups that overflow 32 bits.
pub(crate) fn z85_decode(s: &str) -> Result<Vec<u8>, String> {
    let bytes = s.as_bytes();
    if bytes.len() % 5 != 0 {
        return Err("Z85 text is a multiple of 5 characters long".into());
    }
    let mut out = Vec::with_capacity(bytes.len() * 4 / 5);
    for group in bytes.chunks(5) {
        let mut value: u64 = 0;
        for &c in group {
            let Some(digit) = Z85_CHARS.iter().position(|&z| z == c) else {
                return Err(format!("'{}' is not a Z85 character", char::from(c)));
            };
            value = value * 85 + digit as u64;
        }
        let value = u32::try_from(value).map_err(|_| "not valid Z85".to_owned())?;
        out.extend_from_slice(&value.to_be_bytes());
    }
    Ok(out)
}

/// Whether the linked libzmq can do CURVE.
pub(crate) fn has_curve() -> bool {
    zmq::has("curve") == Some(true)
}

/// Why CURVE is not available, for error messages.
pub(crate) const NO_CURVE: &str =
    "this libzmq was built without CURVE security (zmq::has(\"curve\") is false; \
     the zmq crate's vendored libzmq has none): link a system libzmq built with libsodium";

/// A fresh key pair: `(public, secret)`.
pub(crate) fn generate() -> CliResult<(Z85Key, Z85Key)> {
    if !has_curve() {
        return Err(failed(format!("cannot make a CURVE key pair: {NO_CURVE}")));
    }
    let pair = zmq::CurveKeyPair::new()
        .map_err(|e| failed(format!("cannot make a CURVE key pair: {}", e.message())))?;
    Ok((
        Z85Key {
            bytes: pair.public_key,
        },
        Z85Key {
            bytes: pair.secret_key,
        },
    ))
}

/// Writes `NAME.key` (public) and `NAME.key_secret` (public and secret, mode 0600) into
/// `dir`, in the ZPL format of pyzmq's `zmq.auth.create_certificates`; returns both paths.
///
/// The only certificate writer of the tool: when the library offers one, call it here.
pub(crate) fn write_certificates(
    dir: &Path,
    name: &str,
    public: &Z85Key,
    secret: &Z85Key,
) -> CliResult<(PathBuf, PathBuf)> {
    fs::create_dir_all(dir)
        .map_err(|e| failed(format!("--out {}: cannot create it: {e}", dir.display())))?;
    let public_path = dir.join(format!("{name}.key"));
    let secret_path = dir.join(format!("{name}.key_secret"));
    let stamp = crate::time::utc_now_text();
    let public_text = format!(
        "#   ****  Generated on {stamp} by zmqio  ****\n\
         #   ZeroMQ CURVE Public Certificate\n\
         #   Exchange securely, or use a secure mechanism to verify the contents\n\
         #   of this file after exchange. Store public certificates in your home\n\
         #   directory, in the .curve subdirectory.\n\
         \n\
         metadata\n\
         curve\n    public-key = \"{}\"\n",
        public.z85()
    );
    let secret_text = format!(
        "#   ****  Generated on {stamp} by zmqio  ****\n\
         #   ZeroMQ CURVE **Secret** Certificate\n\
         #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\
         \n\
         metadata\n\
         curve\n    public-key = \"{}\"\n    secret-key = \"{}\"\n",
        public.z85(),
        secret.z85()
    );
    write_file(&public_path, &public_text, 0o644)?;
    write_file(&secret_path, &secret_text, 0o600)?;
    Ok((public_path, secret_path))
}

fn write_file(path: &Path, text: &str, mode: u32) -> CliResult {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| failed(format!("cannot write {}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| failed(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z85_matches_the_rfc_example() {
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(z85_encode(&data), "HelloWorld");
        assert_eq!(z85_decode("HelloWorld").unwrap(), data);
    }

    #[test]
    fn keys_of_the_wrong_length_or_alphabet_are_refused() {
        let good = z85_encode(&[7; 32]);
        assert_eq!(Z85Key::parse(&good).unwrap().bytes(), &[7; 32]);
        assert!(Z85Key::parse(&good[..39]).unwrap_err().contains("has 39"));
        let bad = format!("{}~", &good[..39]);
        assert!(Z85Key::parse(&bad)
            .unwrap_err()
            .contains("not a Z85 character"));
        // "%nSc0" is the largest valid group + 1: it overflows 32 bits.
        assert!(z85_decode("%nSc1").is_err());
    }
}
