//! The version of zmqio and of the libzmq it runs on.

use std::fmt;

use crate::{Error, Result};

/// The version of zmqio, as in its `Cargo.toml`.
///
/// ```
/// assert!(zmqio_core::VERSION.starts_with(char::is_numeric));
/// ```
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The versions of zmqio and of the libzmq it is linked to, for logs and bug reports.
///
/// The text starts with [`VERSION`] and contains `libzmq x.y.z`, e.g.
/// `"0.1.0, libzmq 4.3.4"`; the rest of the format may change.
///
/// ```
/// let text = zmqio_core::version();
/// assert!(text.starts_with(zmqio_core::VERSION));
/// let (major, minor, micro) = zmq::version();
/// assert!(text.contains(&format!("libzmq {major}.{minor}.{micro}")));
/// ```
pub fn version() -> String {
    let (major, minor, micro) = zmq::version();
    format!("{VERSION}, libzmq {major}.{minor}.{micro}")
}

/// [`VERSION`] as a [`VersionInfo`].
///
/// ```
/// use zmqio_core::{parse_version, version_info, VERSION};
///
/// assert_eq!(version_info(), parse_version(VERSION).unwrap());
/// assert_eq!(version_info().to_string(), VERSION);
/// ```
pub fn version_info() -> VersionInfo {
    parse_version(VERSION)
        // VERSION is this crate's own version, which the `version_info_parses` test checks.
        .expect("VERSION is a valid version")
}

/// Parses a version of the form `major.minor.micro`, optionally followed by `-alpha`,
/// `-beta` or `-rc`, each optionally followed by `.serial`.
///
/// The numbers are decimal `u32`s without sign or leading zeros (a lone `0` is fine), as in
/// semantic versioning. Nothing else is accepted: no surrounding whitespace, no other
/// pre-release names, no build metadata (`+...`). A missing serial is `0`, and a version
/// without a pre-release part is [`ReleaseLevel::Final`].
///
/// # Errors
///
/// [`Error::InvalidArgument`] naming the input, for anything not of that form.
///
/// # Examples
///
/// ```
/// use zmqio_core::{parse_version, Error, ReleaseLevel, VersionInfo};
///
/// let v = parse_version("1.2.3-rc.5").unwrap();
/// assert_eq!(
///     v,
///     VersionInfo { major: 1, minor: 2, micro: 3, releaselevel: ReleaseLevel::Candidate, serial: 5 }
/// );
/// assert_eq!(parse_version("1.2.3-beta").unwrap().serial, 0);
/// assert!(matches!(parse_version("0.1"), Err(Error::InvalidArgument(_))));
/// assert!(matches!(parse_version("0.1.1-zeta"), Err(Error::InvalidArgument(_))));
/// ```
pub fn parse_version(s: &str) -> Result<VersionInfo> {
    let invalid = |why: &str| Error::invalid_argument(format!("invalid version {s:?}: {why}"));

    let (core, pre_release) = match s.split_once('-') {
        Some((core, pre_release)) => (core, Some(pre_release)),
        None => (s, None),
    };
    let mut parts = core.split('.');
    let (Some(major), Some(minor), Some(micro), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("expected major.minor.micro"));
    };
    let major = number(major).map_err(invalid)?;
    let minor = number(minor).map_err(invalid)?;
    let micro = number(micro).map_err(invalid)?;

    let (releaselevel, serial) = match pre_release {
        None => (ReleaseLevel::Final, 0),
        Some(pre_release) => {
            let (level, serial) = match pre_release.split_once('.') {
                Some((level, serial)) => (level, Some(serial)),
                None => (pre_release, None),
            };
            let level = match level {
                "alpha" => ReleaseLevel::Alpha,
                "beta" => ReleaseLevel::Beta,
                "rc" => ReleaseLevel::Candidate,
                _ => return Err(invalid("release level must be alpha, beta or rc")),
            };
            let serial = match serial {
                Some(serial) => number(serial).map_err(invalid)?,
                None => 0,
            };
            (level, serial)
        }
    };

    Ok(VersionInfo {
        major,
        minor,
        micro,
        releaselevel,
        serial,
    })
}

/// A parsed version, as [`parse_version`] returns it.
///
/// It orders by precedence: `1.2.3-alpha.2 < 1.2.3-beta < 1.2.3-rc.1 < 1.2.3 < 1.2.4`.
/// `Display` writes the form that [`parse_version`] reads, so `parse_version(&v.to_string())`
/// gives `v` back for every value `parse_version` can produce. (A [`ReleaseLevel::Final`]
/// version's `serial` is not written: it is always `0` when parsed.)
///
/// ```
/// use zmqio_core::{parse_version, ReleaseLevel, VersionInfo};
///
/// let v = VersionInfo { major: 1, minor: 2, micro: 3, releaselevel: ReleaseLevel::Alpha, serial: 2 };
/// assert_eq!(v.to_string(), "1.2.3-alpha.2");
/// assert_eq!(parse_version("1.2.3-alpha.2").unwrap(), v);
/// assert!(v < parse_version("1.2.3").unwrap());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionInfo {
    /// The major version: incompatible changes.
    pub major: u32,
    /// The minor version: compatible additions.
    pub minor: u32,
    /// The micro (patch) version: compatible fixes.
    pub micro: u32,
    /// How finished the release is.
    pub releaselevel: ReleaseLevel,
    /// The number of the pre-release within its level (`2` in `1.2.3-alpha.2`); `0` when
    /// there is none, and always `0` for [`ReleaseLevel::Final`].
    pub serial: u32,
}

impl fmt::Display for VersionInfo {
    /// Writes `major.minor.micro`, then `-alpha`, `-beta` or `-rc` for a pre-release, then
    /// `.serial` when the serial of a pre-release is not `0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)?;
        let level = match self.releaselevel {
            ReleaseLevel::Alpha => "alpha",
            ReleaseLevel::Beta => "beta",
            ReleaseLevel::Candidate => "rc",
            ReleaseLevel::Final => return Ok(()),
        };
        write!(f, "-{level}")?;
        if self.serial != 0 {
            write!(f, ".{}", self.serial)?;
        }
        Ok(())
    }
}

/// How finished a release is, in increasing order.
///
/// ```
/// use zmqio_core::{parse_version, ReleaseLevel};
///
/// assert_eq!(parse_version("1.0.0-rc.1").unwrap().releaselevel, ReleaseLevel::Candidate);
/// assert!(ReleaseLevel::Candidate < ReleaseLevel::Final);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReleaseLevel {
    /// An alpha pre-release (`-alpha`).
    Alpha,
    /// A beta pre-release (`-beta`).
    Beta,
    /// A release candidate (`-rc`).
    Candidate,
    /// A final release (no pre-release part).
    Final,
}

/// One numeric part of a version: ASCII digits only, no leading zero, within `u32`.
fn number(part: &str) -> std::result::Result<u32, &'static str> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a decimal number");
    }
    if part.len() > 1 && part.starts_with('0') {
        return Err("numbers must not have leading zeros");
    }
    // Only digits are left, so the one way to fail is overflow.
    part.parse().map_err(|_| "number out of range")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn info(major: u32, minor: u32, micro: u32, level: ReleaseLevel, serial: u32) -> VersionInfo {
        VersionInfo {
            major,
            minor,
            micro,
            releaselevel: level,
            serial,
        }
    }

    fn assert_invalid(s: &str) {
        match parse_version(s) {
            Err(Error::InvalidArgument(msg)) => {
                assert!(msg.starts_with("invalid version "), "{msg}");
                assert!(msg.contains(&format!("{s:?}")), "{msg} does not name {s:?}");
            }
            other => panic!("{s:?} should be InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn final_release() {
        let v = parse_version("0.1.2").unwrap();
        assert_eq!(v, info(0, 1, 2, ReleaseLevel::Final, 0));
        let max = parse_version("4294967295.0.10").unwrap();
        assert_eq!(max, info(u32::MAX, 0, 10, ReleaseLevel::Final, 0));
    }

    #[test]
    fn pre_releases() {
        let cases = [
            ("1.2.3-alpha.2", ReleaseLevel::Alpha, 2),
            ("1.2.3-alpha", ReleaseLevel::Alpha, 0),
            ("1.2.3-beta", ReleaseLevel::Beta, 0),
            ("1.2.3-beta.0", ReleaseLevel::Beta, 0),
            ("1.2.3-beta.11", ReleaseLevel::Beta, 11),
            ("1.2.3-rc.5", ReleaseLevel::Candidate, 5),
            ("1.2.3-rc", ReleaseLevel::Candidate, 0),
        ];
        for (s, level, serial) in cases {
            assert_eq!(
                parse_version(s).unwrap(),
                info(1, 2, 3, level, serial),
                "{s}"
            );
        }
    }

    #[test]
    fn invalid_versions() {
        for s in [
            "0.1",
            "0.1.1.2",
            "0.1.1-zeta",
            "",
            "a.b.c",
            "1.2.3-alpha.x",
            "1.2.3-alpha.",
            "1.2.3-alpha.1.2",
            " 1.2.3",
            "1.2.3 ",
            "1.2.3\n",
            "4294967296.0.0",
            "0.0.99999999999999999999",
            "1.2.3-rc.4294967296",
            "+1.2.3",
            "1.+2.3",
            "1.2.3-rc.+1",
            "-1.2.3",
            "01.2.3",
            "1.2.3-rc.01",
            "1..3",
            "1.2.",
            "1.2.3-",
            "1.2.3-ALPHA",
            "1.2.3-candidate.1",
            "1.2.3+build.5",
            "1.2.3-rc.1+build",
            "1.2.3a1",
            "١.٢.٣",
        ] {
            assert_invalid(s);
        }
    }

    #[test]
    fn display() {
        assert_eq!(info(1, 2, 3, ReleaseLevel::Final, 0).to_string(), "1.2.3");
        assert_eq!(
            info(1, 2, 3, ReleaseLevel::Alpha, 2).to_string(),
            "1.2.3-alpha.2"
        );
        assert_eq!(
            info(1, 2, 3, ReleaseLevel::Beta, 0).to_string(),
            "1.2.3-beta"
        );
        assert_eq!(
            info(1, 2, 3, ReleaseLevel::Candidate, 5).to_string(),
            "1.2.3-rc.5"
        );
    }

    #[test]
    fn ordering_is_precedence() {
        let ordered = [
            "1.2.3-alpha",
            "1.2.3-alpha.2",
            "1.2.3-beta",
            "1.2.3-rc.1",
            "1.2.3",
            "1.2.4",
        ];
        let parsed: Vec<_> = ordered.iter().map(|s| parse_version(s).unwrap()).collect();
        assert!(parsed.windows(2).all(|w| w[0] < w[1]), "{parsed:?}");
    }

    #[test]
    fn version_info_parses() {
        assert_eq!(version_info(), parse_version(VERSION).unwrap());
        assert_eq!(version_info().to_string(), VERSION);
    }

    #[test]
    fn version_names_both_versions() {
        let text = version();
        assert!(text.starts_with(VERSION), "{text}");
        let (major, minor, micro) = zmq::version();
        assert!(
            text.contains(&format!("libzmq {major}.{minor}.{micro}")),
            "{text}"
        );
    }

    fn any_level() -> impl Strategy<Value = ReleaseLevel> {
        prop_oneof![
            Just(ReleaseLevel::Alpha),
            Just(ReleaseLevel::Beta),
            Just(ReleaseLevel::Candidate),
            Just(ReleaseLevel::Final),
        ]
    }

    proptest! {
        #[test]
        fn display_round_trips(
            major in any::<u32>(),
            minor in any::<u32>(),
            micro in any::<u32>(),
            level in any_level(),
            serial in any::<u32>(),
        ) {
            let serial = if level == ReleaseLevel::Final { 0 } else { serial };
            let v = info(major, minor, micro, level, serial);
            prop_assert_eq!(parse_version(&v.to_string()).unwrap(), v);
        }

        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_version(&s);
        }

        #[test]
        fn never_panics_near_valid(s in "[0-9]{0,11}(\\.[0-9+a-z]{0,11}){0,4}(-[a-z.0-9+-]{0,10})?") {
            if let Ok(v) = parse_version(&s) {
                // Whatever parses prints back as written, but for an explicit `.0` serial.
                let expected = s.strip_suffix(".0").filter(|_| s.contains('-')).unwrap_or(&s);
                prop_assert_eq!(v.to_string(), expected);
            }
        }
    }
}
