//! CURVE keys as text: Z85 keys and certificate files in ZPL, the format czmq's `zcert` and
//! pyzmq's `zmq.auth.create_certificates` / `load_certificate` read and write.
//!
//! Parsing and formatting are pure functions of text; only [`Certificate::load`],
//! [`Certificate::save_public`], [`Certificate::save_secret`], [`create_certificates`] and
//! [`load_certificates`] touch the file system (with blocking calls: use them at start-up, or
//! from a blocking task).

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::zap::CurveAllow;
use crate::{Error, Result};

/// The 85 characters of Z85, in value order.
const Z85_ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// A CURVE key in Z85 text: 40 characters.
///
/// ```
/// use zmqio_core::auth::{z85_decode_key, z85_encode_key};
///
/// let key = [42u8; 32];
/// let text = z85_encode_key(&key);
/// assert_eq!(text.len(), 40);
/// assert_eq!(z85_decode_key(&text).unwrap(), key);
/// ```
pub fn z85_encode_key(key: &[u8; 32]) -> String {
    // 32 is a multiple of 4, and Z85 text is ASCII: neither error of `z85_encode` can occur.
    zmq::z85_encode(key).unwrap_or_default()
}

/// A CURVE key from its Z85 text (40 characters).
///
/// # Errors
///
/// [`Error::InvalidArgument`] when the text is not 40 characters long, has a character
/// outside the Z85 alphabet, or a group of five that does not fit in 32 bits.
///
/// ```
/// use zmqio_core::{auth::z85_decode_key, Error};
///
/// assert!(matches!(z85_decode_key("short"), Err(Error::InvalidArgument(_))));
/// ```
pub fn z85_decode_key(text: &str) -> Result<[u8; 32]> {
    if let Some(at) = text.chars().position(|c| !c.is_ascii()) {
        return Err(Error::invalid_argument(format!(
            "not a Z85 CURVE key: invalid character at position {}",
            at + 1
        )));
    }
    if text.len() != 40 {
        return Err(Error::invalid_argument(format!(
            "a Z85 CURVE key is 40 characters, got {}",
            text.len()
        )));
    }
    check_z85(text)?;
    let bytes = zmq::z85_decode(text)
        .map_err(|e| Error::invalid_argument(format!("not a Z85 CURVE key: {e}")))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| Error::invalid_argument("not a Z85 CURVE key"))
}

/// Checks what libzmq's decoder does not report through the `zmq` crate: every character is
/// in the alphabet and every group of five fits in 32 bits.
fn check_z85(text: &str) -> Result<()> {
    for (n, group) in text.as_bytes().chunks(5).enumerate() {
        let mut value: u64 = 0;
        for (i, c) in group.iter().enumerate() {
            let Some(digit) = Z85_ALPHABET.iter().position(|a| a == c) else {
                return Err(Error::invalid_argument(format!(
                    "not a Z85 CURVE key: invalid character at position {}",
                    n * 5 + i + 1
                )));
            };
            value = value * 85 + digit as u64;
        }
        if value > u64::from(u32::MAX) {
            return Err(Error::invalid_argument(format!(
                "not a Z85 CURVE key: characters {}..{} overflow",
                n * 5 + 1,
                n * 5 + 5
            )));
        }
    }
    Ok(())
}

/// A CURVE certificate: a public key, the matching secret key if this is a secret
/// certificate, and metadata.
///
/// The file format is ZPL as czmq and pyzmq write it: a `metadata` section of `name = value`
/// pairs and a `curve` section with `public-key` and, in a secret certificate,
/// `secret-key`, both Z85 text. `Debug` never shows the secret key.
///
/// ```
/// use zmqio_core::auth::Certificate;
///
/// let text = r#"
/// ##   ZeroMQ CURVE Public Certificate
/// metadata
///     name = "server"
/// curve
///     public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
/// "#;
/// let cert = Certificate::parse(text, "server.key").unwrap();
/// assert!(cert.secret_key.is_none());
/// assert_eq!(cert.metadata, [("name".to_owned(), "server".to_owned())]);
/// assert_eq!(Certificate::parse(&cert.to_zpl(), "again").unwrap(), cert);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The public key (32 bytes, not Z85).
    pub public_key: [u8; 32],
    /// The secret key, in a secret certificate.
    pub secret_key: Option<[u8; 32]>,
    /// The `metadata` section's `name = value` pairs, in file order.
    pub metadata: Vec<(String, String)>,
}

impl Certificate {
    /// A new key pair, from the linked libzmq.
    ///
    /// # Errors
    ///
    /// [`Error::NotSupported`] where the linked libzmq has no CURVE (see the README's
    /// Security section).
    ///
    /// ```
    /// use zmqio_core::auth::Certificate;
    ///
    /// if zmq::has("curve") == Some(true) {
    ///     let cert = Certificate::generate().unwrap();
    ///     assert!(cert.secret_key.is_some());
    /// } else {
    ///     assert!(Certificate::generate().is_err());
    /// }
    /// ```
    pub fn generate() -> Result<Self> {
        crate::types::opt::require_curve("CURVE key-pair generation")?;
        let pair = zmq::CurveKeyPair::new()?;
        Ok(Self {
            public_key: pair.public_key,
            secret_key: Some(pair.secret_key),
            metadata: Vec::new(),
        })
    }

    /// The public half: the same certificate without its secret key.
    ///
    /// ```
    /// use zmqio_core::auth::Certificate;
    ///
    /// // Made by hand here; `Certificate::generate()` makes a real pair where libzmq has CURVE.
    /// let cert = Certificate { public_key: [1; 32], secret_key: Some([2; 32]), metadata: vec![] };
    /// let public = cert.public();
    /// assert_eq!((public.public_key, public.secret_key), (cert.public_key, None));
    /// # Ok::<(), zmqio_core::Error>(())
    /// ```
    pub fn public(&self) -> Self {
        Self {
            secret_key: None,
            ..self.clone()
        }
    }

    /// The public key as Z85 text, as the CURVE socket options also take it.
    ///
    /// ```
    /// use zmqio_core::auth::Certificate;
    ///
    /// // Made by hand here; `Certificate::generate()` makes a real pair where libzmq has CURVE.
    /// let cert = Certificate { public_key: [1; 32], secret_key: Some([2; 32]), metadata: vec![] };
    /// let z85 = cert.public_z85();
    /// assert_eq!(z85.len(), 40);
    /// assert_eq!(zmqio_core::auth::z85_decode_key(&z85)?, cert.public_key);
    /// # Ok::<(), zmqio_core::Error>(())
    /// ```
    pub fn public_z85(&self) -> String {
        z85_encode_key(&self.public_key)
    }

    /// Parses a certificate; `origin` (usually the file name) names it in errors.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming `origin` and the line: a line that is not ZPL
    /// (indentation not in steps of four spaces, a bad name, an unterminated quote), a key
    /// that is not 40 characters of Z85, a key given twice, or no `curve` `public-key`.
    ///
    /// ```
    /// use zmqio_core::auth::Certificate;
    ///
    /// let text = "curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n";
    /// let cert = Certificate::parse(text, "client.key")?;
    /// assert!(cert.secret_key.is_none());
    /// let err = Certificate::parse("curve\n  public-key = \"x\"\n", "bad.key").unwrap_err();
    /// assert!(err.to_string().contains("bad.key:2"), "{err}");
    /// # Ok::<(), zmqio_core::Error>(())
    /// ```
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let mut public_key = None;
        let mut secret_key = None;
        let mut metadata = Vec::new();
        for entry in zpl_entries(text, origin)? {
            let line = entry.line;
            let key = |value: &str| {
                z85_decode_key(value).map_err(|e| match e {
                    Error::InvalidArgument(m) => {
                        Error::invalid_argument(format!("{origin}:{line}: {m}"))
                    }
                    other => other,
                })
            };
            let slot = match (entry.path.as_slice(), &entry.value) {
                ([s, k], Some(v)) if s == "curve" && k == "public-key" => {
                    Some((&mut public_key, key(v)?))
                }
                ([s, k], Some(v)) if s == "curve" && k == "secret-key" => {
                    Some((&mut secret_key, key(v)?))
                }
                ([s, k], v) if s == "metadata" => {
                    metadata.push((k.clone(), v.clone().unwrap_or_default()));
                    None
                }
                _ => None,
            };
            if let Some((slot, k)) = slot {
                if slot.replace(k).is_some() {
                    return Err(Error::invalid_argument(format!(
                        "{origin}:{line}: {} given twice",
                        entry.path.join("/")
                    )));
                }
            }
        }
        let public_key = public_key.ok_or_else(|| {
            Error::invalid_argument(format!("{origin}: no public-key in a curve section"))
        })?;
        Ok(Self {
            public_key,
            secret_key,
            metadata,
        })
    }

    /// The certificate as ZPL text, with the secret key if it has one.
    ///
    /// A metadata value is quoted with `"`, or with `'` when it holds a `"`. ZPL has no way
    /// to write a name outside its name characters (letters, digits and `$-_@.&+/`), nor a
    /// value with a line break or both quote marks: such an entry is left out here, and
    /// [`save_public`](Self::save_public) and [`save_secret`](Self::save_secret) refuse it
    /// (so that no metadata can add lines of its own to a certificate file).
    ///
    /// ```
    /// use zmqio_core::auth::Certificate;
    ///
    /// // Made by hand here; `Certificate::generate()` makes a real pair where libzmq has CURVE.
    /// let cert = Certificate { public_key: [1; 32], secret_key: Some([2; 32]), metadata: vec![] };
    /// let text = cert.to_zpl();
    /// assert!(text.contains("public-key") && text.contains("secret-key"));
    /// assert_eq!(Certificate::parse(&text, "again")?, cert);
    /// assert!(!cert.public().to_zpl().contains("secret-key"));
    /// # Ok::<(), zmqio_core::Error>(())
    /// ```
    pub fn to_zpl(&self) -> String {
        let mut out = String::new();
        if self.secret_key.is_some() {
            out.push_str("#   ZeroMQ CURVE **Secret** Certificate\n");
            out.push_str(
                "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n",
            );
        } else {
            out.push_str("#   ZeroMQ CURVE Public Certificate\n");
            out.push_str(
                "#   Exchange securely, or use a secure mechanism to verify the contents\n",
            );
            out.push_str("#   of this file after exchange.\n");
        }
        out.push_str("#   Written by zmqio\n\nmetadata\n");
        for (name, value) in &self.metadata {
            if let Some(quoted) = zpl_entry_value(name, value) {
                out.push_str(&format!("    {name} = {quoted}\n"));
            }
        }
        out.push_str("curve\n");
        out.push_str(&format!("    public-key = \"{}\"\n", self.public_z85()));
        if let Some(secret) = &self.secret_key {
            out.push_str(&format!(
                "    secret-key = \"{}\"\n",
                z85_encode_key(secret)
            ));
        }
        out
    }

    /// Loads a certificate file (public or secret).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file when it cannot be read; [`Error::InvalidArgument`]
    /// naming the file and the line when it is malformed (see [`parse`](Self::parse)).
    ///
    /// ```
    /// use zmqio_core::auth::Certificate;
    ///
    /// // Made by hand here; `Certificate::generate()` makes a real pair where libzmq has CURVE.
    /// let cert = Certificate { public_key: [1; 32], secret_key: Some([2; 32]), metadata: vec![] };
    /// let dir = std::env::temp_dir().join(format!("zmqio-doc-load-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// cert.save_secret(dir.join("server.key_secret"))?;
    /// assert_eq!(Certificate::load(dir.join("server.key_secret"))?, cert);
    /// assert!(Certificate::load(dir.join("missing.key")).is_err());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            Error::invalid_argument(format!("{origin}:{line}: not UTF-8 text"))
        })?;
        Self::parse(&text, &origin)
    }

    /// Writes the public certificate (never the secret key) to `path`, replacing what is
    /// there as [`save_secret`](Self::save_secret) does.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file.
    ///
    /// ```
    /// use zmqio_core::auth::Certificate;
    ///
    /// // Made by hand here; `Certificate::generate()` makes a real pair where libzmq has CURVE.
    /// let cert = Certificate { public_key: [1; 32], secret_key: Some([2; 32]), metadata: vec![] };
    /// let dir = std::env::temp_dir().join(format!("zmqio-doc-save-public-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// cert.save_public(dir.join("server.key"))?; // for the clients: no secret in it
    /// assert_eq!(Certificate::load(dir.join("server.key"))?, cert.public());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// ```
    pub fn save_public(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.check_metadata()?;
        write_file(path, &self.public().to_zpl(), false)
    }

    /// Writes the secret certificate to `path`, readable by its owner only (mode 0600 on
    /// Unix).
    ///
    /// A file or symbolic link already at `path` is replaced, never written through: the
    /// certificate goes to a new file in the same directory, which is renamed over `path`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when this certificate has no secret key; [`Error::Io`]
    /// naming the file.
    ///
    /// ```
    /// use zmqio_core::auth::Certificate;
    ///
    /// // Made by hand here; `Certificate::generate()` makes a real pair where libzmq has CURVE.
    /// let cert = Certificate { public_key: [1; 32], secret_key: Some([2; 32]), metadata: vec![] };
    /// let dir = std::env::temp_dir().join(format!("zmqio-doc-save-secret-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// cert.save_secret(dir.join("server.key_secret"))?; // for the server alone
    /// assert!(cert.public().save_secret(dir.join("no.key_secret")).is_err()); // no secret key
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// ```
    pub fn save_secret(&self, path: impl AsRef<Path>) -> Result<()> {
        if self.secret_key.is_none() {
            return Err(Error::invalid_argument(
                "a public certificate has no secret key to save",
            ));
        }
        self.check_metadata()?;
        write_file(path.as_ref(), &self.to_zpl(), true)
    }

    /// `Err` naming the first metadata entry ZPL cannot hold (see [`to_zpl`](Self::to_zpl)).
    fn check_metadata(&self) -> Result<()> {
        match self
            .metadata
            .iter()
            .find(|(name, value)| zpl_entry_value(name, value).is_none())
        {
            None => Ok(()),
            Some((name, value)) => Err(Error::invalid_argument(format!(
                "certificate metadata {name:?} = {value:?} cannot be written as ZPL: a name \
                 takes letters, digits and $-_@.&+/ only, a value no line break and not both \
                 quote marks"
            ))),
        }
    }
}

/// A metadata value quoted for ZPL, if the entry can be written at all: `name` of ZPL name
/// characters, `value` without a line break and without both quote marks.
fn zpl_entry_value(name: &str, value: &str) -> Option<String> {
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "$-_@.&+/".contains(c));
    if !name_ok || value.contains(['\n', '\r']) {
        return None;
    }
    if !value.contains('"') {
        Some(format!("\"{value}\""))
    } else if !value.contains('\'') {
        Some(format!("'{value}'"))
    } else {
        None
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("public_key", &self.public_z85())
            .field("secret_key", &self.secret_key.map(|_| "<redacted>"))
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Generates a key pair and writes it as `DIR/NAME.key` (public) and `DIR/NAME.key_secret`
/// (secret, mode 0600), the names pyzmq's `create_certificates` and czmq use. Returns the two
/// paths, public first.
///
/// # Errors
///
/// [`Error::NotSupported`] where the linked libzmq has no CURVE; [`Error::Io`] naming the
/// file that could not be written.
///
/// ```no_run
/// let dir = std::env::temp_dir().join("zmqio-certs");
/// std::fs::create_dir_all(&dir)?;
/// let (public, secret) = zmqio_core::auth::create_certificates(&dir, "server")?;
/// assert!(public.ends_with("server.key") && secret.ends_with("server.key_secret"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn create_certificates(dir: impl AsRef<Path>, name: &str) -> Result<(PathBuf, PathBuf)> {
    let cert = Certificate::generate()?;
    let public = dir.as_ref().join(format!("{name}.key"));
    let secret = dir.as_ref().join(format!("{name}.key_secret"));
    cert.save_public(&public)?;
    cert.save_secret(&secret)?;
    Ok((public, secret))
}

/// The public keys of every certificate `*.key` in `dir` (not `*.key_secret`), as pyzmq's
/// `load_certificates` and czmq's certificate store read a directory.
///
/// # Errors
///
/// [`Error::Io`] naming the directory or file that cannot be read;
/// [`Error::InvalidArgument`] naming the file and line of a malformed certificate.
///
/// ```no_run
/// use zmqio_core::auth::{load_certificates, CurveAllow};
///
/// let clients = CurveAllow::Keys(load_certificates("/etc/myapp/clients")?);
/// # Ok::<(), zmqio_core::Error>(())
/// ```
pub fn load_certificates(dir: impl AsRef<Path>) -> Result<BTreeSet<[u8; 32]>> {
    let dir = dir.as_ref();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let path = entry.map_err(|e| io_error(dir, e))?.path();
        if path.extension().is_some_and(|x| x == "key") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    files
        .iter()
        .map(|f| Certificate::load(f).map(|c| c.public_key))
        .collect()
}

impl CurveAllow {
    /// Admits the public key of every certificate `*.key` in `dir` (see
    /// [`load_certificates`]). The directory is read once, now.
    ///
    /// # Errors
    ///
    /// As [`load_certificates`].
    ///
    /// ```
    /// use zmqio_core::auth::{Certificate, CurveAllow};
    ///
    /// let dir = std::env::temp_dir().join(format!("zmqio-doc-clients-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let client = Certificate { public_key: [7; 32], secret_key: None, metadata: vec![] };
    /// client.save_public(dir.join("client.key"))?;
    /// assert_eq!(CurveAllow::from_directory(&dir)?, CurveAllow::Keys([[7; 32]].into()));
    /// // Then: authenticator.configure_curve("*", CurveAllow::from_directory(&dir)?);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// ```
    pub fn from_directory(dir: impl AsRef<Path>) -> Result<Self> {
        load_certificates(dir).map(Self::Keys)
    }
}

/// An I/O error that names the file.
fn io_error(path: &Path, e: io::Error) -> Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display())).into()
}

/// Writes `text` to `path` whole, through a new file in the same directory renamed over it.
///
/// Writing into `path` itself would keep the mode of a file already there (a 0644 file
/// would then hold a secret key) and would follow a symbolic link planted at `path`. The
/// new file is created exclusively (never an existing file or link), mode 0600 for a
/// secret from its first byte on Unix, synced, then renamed: `path` is replaced, never
/// written through, and a reader sees the old file or the new one, never half of it.
fn write_file(path: &Path, text: &str, secret: bool) -> Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid_argument(format!("{}: not a file name", path.display())))?;
    let dir = path.parent().unwrap_or_else(|| Path::new(""));
    let (temp, mut file) = loop {
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(
            ".{}.{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let temp = dir.join(temp_name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = secret;
        match options.open(&temp) {
            Ok(file) => break (temp, file),
            // A leftover of this process id's earlier life: take the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(path, e)),
        }
    };
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            std::fs::rename(&temp, path)
        });
    written.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io_error(path, e)
    })
}

/// One `name [= value]` line of a ZPL file, with the names of its enclosing sections.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    /// Section names from the top down, ending with this entry's name.
    path: Vec<String>,
    value: Option<String>,
    /// 1-based.
    line: usize,
}

/// Parses ZPL (ZeroMQ RFC 4) as far as certificates use it: `#` comments, blank lines,
/// `name` or `name = value` lines nested by four spaces of indentation, values quoted with
/// `"` or `'` or bare up to the end of the line (or a comment after white space).
fn zpl_entries(text: &str, origin: &str) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let bad = |why: &str| Error::invalid_argument(format!("{origin}:{line}: {why}"));
        let content = raw.trim_end();
        let body = content.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        if body.starts_with('\t') {
            return Err(bad("indentation must be spaces, not tabs"));
        }
        let indent = content.len() - body.len();
        if indent % 4 != 0 {
            return Err(bad("indentation is not a multiple of four spaces"));
        }
        let depth = indent / 4;
        if depth > stack.len() {
            return Err(bad("indented deeper than its section"));
        }
        stack.truncate(depth);
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || "$-_@.&+/".contains(c)))
            .unwrap_or(body.len());
        if name_len == 0 {
            return Err(bad("expected a name"));
        }
        let name = &body[..name_len];
        let rest = body[name_len..].trim_start();
        let value = if let Some(v) = rest.strip_prefix('=') {
            Some(zpl_value(v.trim_start()).map_err(bad)?)
        } else if rest.is_empty() || rest.starts_with('#') {
            None
        } else {
            return Err(bad("expected '=' or the end of the line after the name"));
        };
        stack.push(name.to_owned());
        entries.push(Entry {
            path: stack.clone(),
            value,
            line,
        });
    }
    Ok(entries)
}

/// The value after `=`: quoted, or bare.
fn zpl_value(v: &str) -> std::result::Result<String, &'static str> {
    let Some(quote) = v.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        // A bare value ends at a comment that follows white space (Z85 text has '#' in it).
        let end = v.find(" #").or_else(|| v.find("\t#")).unwrap_or(v.len());
        return Ok(v[..end].trim_end().to_owned());
    };
    let inner = &v[1..];
    let Some(end) = inner.find(quote) else {
        return Err("unterminated quoted value");
    };
    let after = inner[end + 1..].trim_start();
    if !(after.is_empty() || after.starts_with('#')) {
        return Err("text after the quoted value");
    }
    Ok(inner[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    const SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

    fn pyzmq_style(secret: bool) -> String {
        let mut s = String::from(
            "#   ****  Generated on 2024-05-01 12:00:00 by pyzmq  ****\n\
             #   ZeroMQ CURVE **Secret** Certificate\n\
             #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n\
             metadata\ncurve\n",
        );
        s.push_str(&format!("    public-key = \"{PUBLIC}\"\n"));
        if secret {
            s.push_str(&format!("    secret-key = \"{SECRET}\"\n"));
        }
        s
    }

    fn invalid<T: fmt::Debug>(r: Result<T>) -> String {
        match r {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn z85_known_vector() {
        // The test vector of ZeroMQ RFC 32.
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(zmq::z85_encode(&data).unwrap(), "HelloWorld");
        let key = z85_decode_key(PUBLIC).unwrap();
        assert_eq!(z85_encode_key(&key), PUBLIC);
    }

    #[test]
    fn z85_bad_keys() {
        assert!(invalid(z85_decode_key("")).contains("40 characters, got 0"));
        assert!(invalid(z85_decode_key(&PUBLIC[..39])).contains("got 39"));
        assert!(invalid(z85_decode_key(&format!("{PUBLIC}x"))).contains("got 41"));
        let bad_char = format!("{}~", &PUBLIC[..39]);
        assert!(invalid(z85_decode_key(&bad_char)).contains("position 40"));
        // Counted in characters, not bytes: 40 characters, one of them two bytes long.
        let non_ascii = format!("{}é", &PUBLIC[..39]);
        assert!(invalid(z85_decode_key(&non_ascii)).contains("position 40"));
        let overflow = format!("{}{}", "#####", &PUBLIC[5..]);
        assert!(invalid(z85_decode_key(&overflow)).contains("overflow"));
        assert!(z85_decode_key(&format!("{}%nSc0", &PUBLIC[..35])).is_ok());
    }

    #[test]
    fn parses_pyzmq_certificates() {
        let public = Certificate::parse(&pyzmq_style(false), "a.key").unwrap();
        assert_eq!(public.public_key, z85_decode_key(PUBLIC).unwrap());
        assert_eq!(public.secret_key, None);
        let secret = Certificate::parse(&pyzmq_style(true), "a.key_secret").unwrap();
        assert_eq!(secret.secret_key, Some(z85_decode_key(SECRET).unwrap()));
        assert_eq!(secret.public(), public);
    }

    #[test]
    fn round_trips_with_metadata() {
        let cert = Certificate {
            public_key: [1; 32],
            secret_key: Some([2; 32]),
            metadata: vec![
                ("name".into(), "x y".into()),
                ("email".into(), String::new()),
            ],
        };
        let text = cert.to_zpl();
        assert!(text.contains("secret-key"));
        assert_eq!(Certificate::parse(&text, "t").unwrap(), cert);
        let public = cert.public().to_zpl();
        assert!(!public.contains("secret-key"));
        assert!(!format!("{cert:?}").contains(&z85_encode_key(&[2; 32])));
    }

    #[test]
    fn metadata_cannot_add_lines_to_a_certificate_file() {
        let quoted = Certificate {
            public_key: [1; 32],
            secret_key: None,
            metadata: vec![("said".into(), "a \"quote\"".into())],
        };
        // A value with `"` goes in single quotes and comes back as it was.
        assert_eq!(Certificate::parse(&quoted.to_zpl(), "t").unwrap(), quoted);

        let dir = std::env::temp_dir().join(format!("zmqio-cert-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, value) in [
            ("name", "x\"\ncurve\n    public-key = \"other\""), // a line of its own
            ("name", "both ' and \""),
            ("name", "carriage\rreturn"),
            ("bad name", "x"),
            ("", "x"),
        ] {
            let cert = Certificate {
                public_key: [1; 32],
                secret_key: Some([2; 32]),
                metadata: vec![("ok".into(), "kept".into()), (name.into(), value.into())],
            };
            let m = invalid(cert.save_public(dir.join("c.key")));
            assert!(m.contains("cannot be written as ZPL"), "{m}");
            invalid(cert.save_secret(dir.join("c.key_secret")));
            // to_zpl leaves the entry out, and what it writes parses back.
            let back = Certificate::parse(&cert.to_zpl(), "t").unwrap();
            assert_eq!(back.metadata, [("ok".to_owned(), "kept".to_owned())]);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn zpl_variants() {
        let text = format!(
            "curve  # the keys\n    public-key = '{PUBLIC}'   # quoted\n\
             \n    secret-key = {SECRET}\r\nother\n    x\n        y = 1\n"
        );
        let cert = Certificate::parse(&text, "t").unwrap();
        assert_eq!(cert.secret_key, Some(z85_decode_key(SECRET).unwrap()));
    }

    #[test]
    fn malformed_files_name_file_and_line() {
        let cases = [
            ("curve\n   public-key = \"x\"\n", "f:2: indentation"),
            (
                "curve\n\tpublic-key = \"x\"\n",
                "f:2: indentation must be spaces",
            ),
            (
                "curve\n        public-key = \"x\"\n",
                "f:2: indented deeper",
            ),
            ("curve\n    public-key = \"abc\n", "f:2: unterminated"),
            ("curve\n    public-key = \"abc\" x\n", "f:2: text after"),
            ("curve\n    = \"abc\"\n", "f:2: expected a name"),
            ("curve\n    public key\n", "f:2: expected '='"),
            (
                "# c\ncurve\n    public-key = \"short\"\n",
                "f:3: a Z85 CURVE key is 40",
            ),
            ("metadata\n", "f: no public-key"),
            ("public-key = \"abc\"\n", "f: no public-key"),
        ];
        for (text, want) in cases {
            let msg = invalid(Certificate::parse(text, "f"));
            assert!(msg.starts_with(want), "{text:?}: {msg}");
        }
        let twice =
            format!("curve\n    public-key = \"{PUBLIC}\"\n    public-key = \"{PUBLIC}\"\n");
        assert!(invalid(Certificate::parse(&twice, "f"))
            .starts_with("f:3: curve/public-key given twice"));
    }

    #[test]
    fn files_and_directories() {
        let dir = std::env::temp_dir().join(format!("zmqio-cert-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let a = Certificate {
            public_key: [5; 32],
            secret_key: Some([6; 32]),
            metadata: Vec::new(),
        };
        a.save_public(dir.join("a.key")).unwrap();
        a.save_secret(dir.join("a.key_secret")).unwrap();
        std::fs::write(dir.join("b.key"), pyzmq_style(false)).unwrap();
        std::fs::write(dir.join("ignored.txt"), "not a certificate").unwrap();
        assert_eq!(Certificate::load(dir.join("a.key_secret")).unwrap(), a);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("a.key_secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o077,
                0,
                "secret certificate readable by others: {mode:o}"
            );
        }
        let keys = load_certificates(&dir).unwrap();
        assert_eq!(
            keys,
            BTreeSet::from([[5; 32], z85_decode_key(PUBLIC).unwrap()])
        );
        assert_eq!(
            CurveAllow::from_directory(&dir).unwrap(),
            CurveAllow::Keys(keys)
        );
        assert!(a.public().save_secret(dir.join("x")).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Over a world-readable file: replaced by an owner-only one.
            let old = dir.join("old.key_secret");
            std::fs::write(&old, "old").unwrap();
            std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
            a.save_secret(&old).unwrap();
            let mode = std::fs::metadata(&old).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "kept the old file's mode: {mode:o}");
            assert_eq!(Certificate::load(&old).unwrap(), a);
            // Over a symbolic link: the link is replaced, its target is not written.
            let target = dir.join("target.txt");
            std::fs::write(&target, "target").unwrap();
            let link = dir.join("link.key_secret");
            std::os::unix::fs::symlink(&target, &link).unwrap();
            a.save_secret(&link).unwrap();
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "target");
            assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
            assert_eq!(Certificate::load(&link).unwrap(), a);
            // A directory that is not there: an error naming the file, nothing left behind.
            let missing = dir.join("no-such-dir").join("a.key");
            match a.save_public(&missing) {
                Err(Error::Io(e)) => assert!(e.to_string().contains("a.key"), "{e}"),
                other => panic!("{other:?}"),
            }
            let leftovers: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
            std::fs::remove_file(&old).unwrap();
            std::fs::remove_file(&link).unwrap();
            std::fs::remove_file(&target).unwrap();
        }

        std::fs::write(dir.join("c.key"), "curve\n  public-key = 1\n").unwrap();
        let msg = invalid(load_certificates(&dir));
        assert!(msg.contains("c.key:2:"), "{msg}");
        std::fs::write(dir.join("c.key"), b"curve\n\xff\n").unwrap();
        let msg = invalid(Certificate::load(dir.join("c.key")));
        assert!(msg.contains("c.key:2: not UTF-8"), "{msg}");
        match Certificate::load(dir.join("missing.key")) {
            Err(Error::Io(e)) => assert!(e.to_string().contains("missing.key"), "{e}"),
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
