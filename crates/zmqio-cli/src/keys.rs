//! CURVE keys on the command line: Z85 text (ZeroMQ RFC 32) checked by the library's
//! `auth::z85_decode_key`, and key pairs from `auth::Certificate`.

use crate::error::{failed, CliResult};
use crate::zmqio::{auth, zmq};

/// A 32-byte CURVE key, checked when parsed from its 40-character Z85 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Z85Key {
    bytes: [u8; 32],
}

impl Z85Key {
    /// Parses a Z85 key; the error says what is wrong (length, character or overflow).
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        match auth::z85_decode_key(s) {
            Ok(bytes) => Ok(Self { bytes }),
            Err(crate::zmqio::Error::InvalidArgument(m)) => Err(m),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The key's 32 bytes.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
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
    let cert = auth::Certificate::generate()
        .map_err(|e| failed(format!("cannot make a CURVE key pair: {e}")))?;
    let secret = cert
        .secret_key
        .ok_or_else(|| failed("cannot make a CURVE key pair: no secret key"))?;
    Ok((
        Z85Key {
            bytes: cert.public_key,
        },
        Z85Key { bytes: secret },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_the_wrong_length_or_alphabet_are_refused() {
        let good = auth::z85_encode_key(&[7; 32]);
        assert_eq!(Z85Key::parse(&good).unwrap().bytes(), &[7; 32]);
        assert!(Z85Key::parse(&good[..39]).unwrap_err().contains("got 39"));
        let bad = format!("{}~", &good[..39]);
        assert!(Z85Key::parse(&bad)
            .unwrap_err()
            .contains("invalid character at position 40"));
        // "%nSc0" is the largest valid group; "%nSc1" overflows 32 bits.
        let overflow = format!("%nSc1{}", &good[5..]);
        assert!(Z85Key::parse(&overflow).unwrap_err().contains("overflow"));
    }
}
