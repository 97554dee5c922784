//! The one configuration: `certdrop.toml` (optional), then `CERTDROP_*` environment variables,
//! then command-line flags, validated once at start. Unknown file keys are an error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Errors loading or validating the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// The file form: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub challenge: Option<String>,
    pub require_challenge: Option<bool>,
    pub legacy_des: Option<bool>,
    pub ca_key_bits: Option<u32>,
    pub ca_key_passphrase_file: Option<PathBuf>,
    pub ca_subject: Option<String>,
    pub ca_validity_days: Option<u32>,
    pub cert_validity_days: Option<u32>,
    pub public_url: Option<String>,
    pub retransmit_window: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub crl_validity: Option<String>,
    pub renewal_window: Option<String>,
    pub approval: Option<String>,
    pub pending_ttl: Option<String>,
    pub profile_signing_cert: Option<PathBuf>,
    pub profile_signing_key: Option<PathBuf>,
}

/// Values from the environment and the command line (clap fills both), each overriding the
/// file when present.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub challenge: Option<String>,
    pub require_challenge: Option<bool>,
    pub legacy_des: Option<bool>,
    pub ca_key_bits: Option<u32>,
    pub ca_key_passphrase_file: Option<PathBuf>,
    pub ca_subject: Option<String>,
    pub public_url: Option<String>,
    pub approval: Option<String>,
}

/// A secret string whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub challenge: Option<Secret>,
    pub require_challenge: bool,
    pub legacy_des: bool,
    pub ca_key_bits: u32,
    pub ca_key_passphrase: Option<Secret>,
    pub ca_subject: String,
    pub ca_validity_days: u32,
    pub cert_validity: Duration,
    pub public_url: String,
    /// Whether `public_url` was given (new certificates then carry CRL and OCSP URLs under
    /// it; a URL derived from `listen` is no address relying parties can use).
    pub public_url_configured: bool,
    pub retransmit_window: Duration,
    pub max_body_bytes: usize,
    /// How long a CRL is valid (nextUpdate - thisUpdate); it is remade at half-life.
    pub crl_validity: Duration,
    /// Renewals only this close to expiry; `None` ("always"): any time.
    pub renewal_window: Option<Duration>,
    /// `approval = "manual"`: every initial request waits for `certdrop request approve`.
    pub manual_approval: bool,
    pub pending_ttl: Duration,
    /// An admin-provided profile-signing identity (PEM certificate, with its chain after
    /// it, and PEM key); by default certdrop issues one from its CA.
    pub profile_signing: Option<(PathBuf, PathBuf)>,
}

pub const DEFAULT_CONFIG_FILE: &str = "certdrop.toml";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// SCEP messages are a few kilobytes; 1 MiB leaves room for large RSA keys and chains.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
pub const PASSPHRASE_ENV: &str = "CERTDROP_CA_KEY_PASSPHRASE";

impl Config {
    /// Load `path` (or `./certdrop.toml` if it exists), apply `overrides`, validate.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let file = match path {
            Some(p) => read_file(p)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                read_file(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => FileConfig::default(),
        };
        let passphrase_env = std::env::var(PASSPHRASE_ENV).ok();
        Config::merge(file, overrides.clone(), passphrase_env)
    }

    /// Merge and validate (no I/O except reading a passphrase file).
    pub fn merge(
        file: FileConfig,
        o: Overrides,
        passphrase_env: Option<String>,
    ) -> Result<Config, ConfigError> {
        let listen = match o.listen.or(file.listen) {
            Some(l) => l,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|_| invalid("listen", "bad default"))?,
        };
        let data_dir = o
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let require_challenge = o
            .require_challenge
            .or(file.require_challenge)
            .unwrap_or(true);
        let challenge = o.challenge.or(file.challenge);
        if let Some(c) = &challenge {
            if c.is_empty() {
                return Err(invalid("challenge", "must not be empty"));
            }
        }
        let ca_key_bits = o.ca_key_bits.or(file.ca_key_bits).unwrap_or(3072);
        if ![2048, 3072, 4096].contains(&ca_key_bits) {
            return Err(invalid("ca_key_bits", "must be 2048, 3072 or 4096"));
        }
        let passphrase_file = o.ca_key_passphrase_file.or(file.ca_key_passphrase_file);
        let ca_key_passphrase = match (passphrase_env, passphrase_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "ca_key_passphrase_file",
                    format!("give the passphrase by {PASSPHRASE_ENV} or by file, not both"),
                ))
            }
            (Some(p), None) => Some(p),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Read {
                    path: path.clone(),
                    source: e,
                })?;
                Some(text.trim_end_matches(['\n', '\r']).to_owned())
            }
            (None, None) => None,
        };
        if ca_key_passphrase.as_deref() == Some("") {
            return Err(invalid("ca_key_passphrase", "must not be empty"));
        }
        let ca_subject = o
            .ca_subject
            .or(file.ca_subject)
            .unwrap_or_else(|| "CN=certdrop CA".into());
        let ca_validity_days = file.ca_validity_days.unwrap_or(3650);
        if ca_validity_days == 0 {
            return Err(invalid("ca_validity_days", "must be at least 1"));
        }
        let cert_validity_days = file.cert_validity_days.unwrap_or(365);
        if cert_validity_days == 0 {
            return Err(invalid("cert_validity_days", "must be at least 1"));
        }
        let explicit_url = o.public_url.or(file.public_url);
        let public_url_configured = explicit_url.is_some();
        let public_url = match explicit_url {
            Some(u) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(invalid("public_url", "must start with http:// or https://"));
                }
                u.trim_end_matches('/').to_owned()
            }
            None if listen.ip().is_unspecified() => format!("http://localhost:{}", listen.port()),
            None => format!("http://{listen}"),
        };
        let retransmit_window = match file.retransmit_window {
            Some(s) => parse_duration(&s).map_err(|m| invalid("retransmit_window", m))?,
            None => Duration::from_secs(24 * 3600),
        };
        let crl_validity = match file.crl_validity {
            Some(s) => parse_duration(&s).map_err(|m| invalid("crl_validity", m))?,
            None => Duration::from_secs(7 * 86_400),
        };
        if crl_validity < Duration::from_secs(3600) {
            return Err(invalid("crl_validity", "must be at least 1h"));
        }
        let renewal_window = match file.renewal_window.as_deref() {
            None | Some("always") => None,
            Some(s) => Some(parse_duration(s).map_err(|m| invalid("renewal_window", m))?),
        };
        let manual_approval = match o.approval.or(file.approval).as_deref() {
            None | Some("auto") => false,
            Some("manual") => true,
            Some(other) => {
                return Err(invalid(
                    "approval",
                    format!("{other:?}: must be \"auto\" or \"manual\""),
                ))
            }
        };
        let pending_ttl = match file.pending_ttl {
            Some(s) => parse_duration(&s).map_err(|m| invalid("pending_ttl", m))?,
            None => Duration::from_secs(7 * 86_400),
        };
        let profile_signing = match (file.profile_signing_cert, file.profile_signing_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "profile_signing_cert",
                    "give profile_signing_cert and profile_signing_key together",
                ))
            }
        };
        let max_body_bytes = file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes < 4096 {
            return Err(invalid("max_body_bytes", "must be at least 4096"));
        }
        Ok(Config {
            listen,
            data_dir,
            challenge: challenge.map(Secret),
            require_challenge,
            legacy_des: o.legacy_des.or(file.legacy_des).unwrap_or(false),
            ca_key_bits,
            ca_key_passphrase: ca_key_passphrase.map(Secret),
            ca_subject,
            ca_validity_days,
            cert_validity: Duration::from_secs(u64::from(cert_validity_days) * 86_400),
            public_url,
            public_url_configured,
            retransmit_window,
            max_body_bytes,
            crl_validity,
            renewal_window,
            manual_approval,
            pending_ttl,
            profile_signing,
        })
    }

    /// The SCEP URL clients are given.
    pub fn scep_url(&self) -> String {
        format!("{}/scep", self.public_url)
    }

    /// The issuing policy: validity, and CRL/OCSP URLs when `public_url` is configured.
    pub fn issue_policy(&self) -> crate::ca::IssuePolicy {
        let url = |path: &str| {
            self.public_url_configured
                .then(|| format!("{}{path}", self.public_url))
        };
        crate::ca::IssuePolicy {
            validity: self.cert_validity,
            crl_url: url("/crl"),
            ocsp_url: url("/ocsp"),
        }
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Parse `90s`, `15m`, `1h`, `7d` (a number and one unit).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?}: missing unit (s, m, h or d)"))?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("{s:?}: not a number"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: unit must be s, m, h or d")),
    };
    if n == 0 {
        return Err(format!("{s:?}: must be more than zero"));
    }
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_with_no_config() {
        let c = Config::merge(FileConfig::default(), Overrides::default(), None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert!(c.require_challenge);
        assert!(!c.legacy_des);
        assert_eq!(c.ca_key_bits, 3072);
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.scep_url(), "http://127.0.0.1:8080/scep");
    }

    #[test]
    fn flags_override_file() {
        let file: FileConfig =
            toml::from_str("listen = \"0.0.0.0:9000\"\nlegacy_des = true\nca_key_bits = 2048\n")
                .unwrap();
        let o = Overrides {
            ca_key_bits: Some(4096),
            ..Overrides::default()
        };
        let c = Config::merge(file, o, None).unwrap();
        assert_eq!(c.ca_key_bits, 4096);
        assert!(c.legacy_des);
        assert_eq!(c.public_url, "http://localhost:9000");
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        assert!(toml::from_str::<FileConfig>("listne = \"x\"").is_err());
        let bad_bits = FileConfig {
            ca_key_bits: Some(1024),
            ..FileConfig::default()
        };
        assert!(Config::merge(bad_bits, Overrides::default(), None).is_err());
        let bad_url = Overrides {
            public_url: Some("certs.example.com".into()),
            ..Overrides::default()
        };
        assert!(Config::merge(FileConfig::default(), bad_url, None).is_err());
    }

    #[test]
    fn debug_redacts_secrets() {
        let o = Overrides {
            challenge: Some("hunter2".into()),
            ..Overrides::default()
        };
        let c = Config::merge(FileConfig::default(), o, Some("pass-phrase".into())).unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2") && !d.contains("pass-phrase"), "{d}");
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
