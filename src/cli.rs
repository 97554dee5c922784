//! Command-line types (clap derive). Doc comments are the help text.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;

/// certdrop: an embedded CA with a SCEP (RFC 8894) enrollment server.
///
/// Settings come from certdrop.toml (if present), then CERTDROP_* variables, then flags; an
/// unknown key in the file stops every command. Admin commands talk to a running server
/// through <data-dir>/admin.sock, or open the store themselves when none runs.
#[derive(Debug, Parser)]
#[command(name = "certdrop", version, about, long_about)]
pub struct Cli {
    /// Configuration file [default: ./certdrop.toml if it exists]
    #[arg(long, global = true, env = "CERTDROP_CONFIG")]
    pub config: Option<PathBuf>,

    /// Data directory holding the CA key, certificate and store [default: ./data]
    #[arg(long, global = true, env = "CERTDROP_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the SCEP server (creates the CA on first start)
    Serve(ServeArgs),
    /// Show or create the CA
    #[command(subcommand)]
    Ca(CaCommand),
    /// One-time challenge passwords
    #[command(subcommand)]
    Challenge(ChallengeCommand),
    /// Issued certificates: list, show, revoke
    #[command(subcommand)]
    Cert(CertCommand),
    /// The certificate revocation list
    #[command(subcommand)]
    Crl(CrlCommand),
    /// Show the audit log (issuance, refusals, revocations, challenges)
    Audit {
        /// Only records since a duration ago (7d, 12h) or a UTC date (2026-12-01)
        #[arg(long)]
        since: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Enrollment links to send to employees (Safari install page + signed profile)
    #[command(subcommand)]
    Link(LinkCommand),
    /// Server-made identities for devices that cannot run SCEP (PKCS#12 in a profile)
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Apple configuration profiles (.mobileconfig)
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Requests waiting for manual approval (RFC 8894 PENDING)
    #[command(subcommand)]
    Request(RequestCommand),
    /// Write a consistent backup of the CA and the store (works while the server runs)
    Backup {
        /// The backup file to create (refuses to overwrite)
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into an empty data directory (--data-dir)
    Restore {
        /// The backup file
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Make a key pair, issue its certificate and write a signed PKCS#12 profile (the same
    /// as `profile build --kind pkcs12`)
    Issue {
        /// The subject, e.g. "CN=laptop-0042,O=Example Corp"
        #[arg(long)]
        subject: String,
        /// The profile to write
        #[arg(long)]
        out: PathBuf,
        /// Also write the bare PKCS#12 file here
        #[arg(long)]
        p12: Option<PathBuf>,
        /// Put the password into the profile (otherwise iOS asks for it)
        #[arg(long)]
        embed_password: bool,
        /// AES-256/SHA-256 instead of PBE-SHA1-3DES with a SHA-1 MAC
        #[arg(long)]
        modern_pkcs12: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LinkCommand {
    /// Create a link; prints its URL (built from the server's public_url)
    Create {
        /// How long the link works (s, m, h, d)
        #[arg(long, default_value = "24h")]
        ttl: String,
        /// How many profile downloads it allows (viewing the page does not count)
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// The subject the device enrolls
        #[arg(long, default_value = "CN=device")]
        subject: String,
        /// Add a WPA2 Enterprise (EAP-TLS) Wi-Fi payload for this SSID
        #[arg(long)]
        wifi: Option<String>,
        /// Add an IKEv2 VPN payload for this gateway
        #[arg(long, requires = "vpn_remote_id")]
        vpn_server: Option<String>,
        /// The gateway's IKE identity
        #[arg(long, requires = "vpn_server")]
        vpn_remote_id: Option<String>,
        /// Hand out a server-made PKCS#12 identity (its password inside the profile, so the
        /// link is the secret) instead of SCEP, for devices that cannot run SCEP
        #[arg(long)]
        pkcs12: bool,
    },
}

// Parsed once per process: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Build a signed profile to mail or push with an MDM
    Build {
        /// root: trust the CA; scep: the CA plus a SCEP payload that enrolls the device;
        /// pkcs12: the CA plus an identity made on the server (for devices that cannot run
        /// SCEP; prefer SCEP, where the key never leaves the device)
        #[arg(long, value_parser = ["root", "scep", "pkcs12"])]
        kind: String,
        /// pkcs12: also write the bare PKCS#12 file here
        #[arg(long)]
        p12: Option<PathBuf>,
        /// pkcs12: put the password into the profile (otherwise iOS asks for it)
        #[arg(long)]
        embed_password: bool,
        /// pkcs12: AES-256/SHA-256 instead of PBE-SHA1-3DES with a SHA-1 MAC (reported to
        /// fail on iOS; for other importers)
        #[arg(long)]
        modern_pkcs12: bool,
        /// Subject for the SCEP payload, e.g. "CN=laptop-0042,O=Example Corp"
        #[arg(long, default_value = "CN=device")]
        subject: String,
        /// Challenge for the SCEP payload [default: a new one-time challenge bound to the
        /// subject's CN]
        #[arg(long)]
        challenge: Option<String>,
        /// Lifetime of the one-time challenge made for the profile
        #[arg(long, default_value = "7d")]
        ttl: String,
        /// Where to write it
        #[arg(long)]
        out: PathBuf,
        /// Write the plain XML plist (for debugging; iOS shows it as unsigned)
        #[arg(long)]
        unsigned: bool,
        /// Add a WPA2 Enterprise (EAP-TLS) Wi-Fi payload for this SSID, using the identity
        #[arg(long)]
        wifi: Option<String>,
        /// RADIUS server certificate names the device accepts (repeatable)
        #[arg(long = "wifi-server-name")]
        wifi_server_names: Vec<String>,
        /// Add an IKEv2 VPN payload with certificate authentication to this gateway
        #[arg(long, requires = "vpn_remote_id")]
        vpn_server: Option<String>,
        /// The gateway's IKE identity (RemoteIdentifier)
        #[arg(long, requires = "vpn_server")]
        vpn_remote_id: Option<String>,
        /// Base URL devices reach (the SCEP URL is <public-url>/scep) [default: public_url
        /// from the configuration]
        #[arg(long, env = "CERTDROP_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// Verify a profile's signature and list its signer chain and payloads
    Inspect { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// List requests (pending, approved, rejected)
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Show one request: subject, SANs, key, requester, challenge
    Show { id: String },
    /// Approve: issue the certificate; the client gets it at its next poll
    Approve { id: String },
    /// Reject: the client gets FAILURE at its next poll
    Reject {
        id: String,
        /// Why (recorded in the audit log and sent to the client)
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CrlCommand {
    /// Publish a new CRL now (through the running server) and write it to a file
    Generate {
        /// Where to write it
        #[arg(long)]
        out: PathBuf,
        /// PEM instead of DER
        #[arg(long)]
        pem: bool,
    },
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]; use 0.0.0.0:8080 to listen publicly
    #[arg(long, env = "CERTDROP_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// A static challenge password that every client may use
    #[arg(long, env = "CERTDROP_CHALLENGE", hide_env_values = true)]
    pub challenge: Option<String>,

    /// Refuse requests without a valid challenge [default: true]
    #[arg(long, env = "CERTDROP_REQUIRE_CHALLENGE")]
    pub require_challenge: Option<bool>,

    /// Accept single-DES requests (old routers, micromdm scepclient 2.1); refused otherwise
    #[arg(long, env = "CERTDROP_LEGACY_DES", num_args = 0..=1, default_missing_value = "true")]
    pub legacy_des: Option<bool>,

    #[command(flatten)]
    pub ca: CaArgs,

    /// "manual": every initial request waits for `certdrop request approve` [default: auto]
    #[arg(long, env = "CERTDROP_APPROVAL", value_parser = ["auto", "manual"])]
    pub approval: Option<String>,

    /// Base URL that devices and relying parties reach, e.g. https://certs.example.com
    /// [default: http://<listen>]
    #[arg(long, env = "CERTDROP_PUBLIC_URL")]
    pub public_url: Option<String>,
}

#[derive(Debug, Args, Default, Clone)]
pub struct CaArgs {
    /// RSA key size for a new CA: 2048, 3072 or 4096 [default: 3072]
    #[arg(long, env = "CERTDROP_CA_KEY_BITS")]
    pub ca_key_bits: Option<u32>,

    /// Subject of a new CA, e.g. "CN=Example Corp Device CA,O=Example Corp"
    /// [default: CN=certdrop CA]
    #[arg(long, env = "CERTDROP_CA_SUBJECT")]
    pub ca_subject: Option<String>,

    /// File holding the CA key passphrase (or set CERTDROP_CA_KEY_PASSPHRASE)
    #[arg(long, env = "CERTDROP_CA_KEY_PASSPHRASE_FILE")]
    pub ca_key_passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the CA in the data directory without starting the server
    Init(CaArgs),
    /// Print the CA's subject, validity and SHA-256 fingerprint
    Show {
        /// Print the certificate as PEM only
        #[arg(long)]
        pem: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChallengeCommand {
    /// Create one-time challenges (printed once, stored only as a hash)
    Create {
        /// How long the challenge stays valid (s, m, h, d)
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// How many challenges to create
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Only a request with this subject CN may use it
        #[arg(long)]
        cn: Option<String>,
        /// Allowed DNS subjectAltName (repeatable)
        #[arg(long = "san-dns")]
        san_dns: Vec<String>,
        /// Allowed email subjectAltName (repeatable)
        #[arg(long = "san-email")]
        san_email: Vec<String>,
        /// "manual": requests using this challenge wait for `certdrop request approve`
        #[arg(long, value_parser = ["auto", "manual"], default_value = "auto")]
        approval: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// List issued certificates
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// Only certificates in this state
        #[arg(long, value_parser = ["valid", "revoked", "expired"])]
        status: Option<String>,
        /// Only certificates expiring within this time (30d, 12h)
        #[arg(long)]
        expiring: Option<String>,
        /// Only subjects containing this text (any case)
        #[arg(long)]
        subject: Option<String>,
    },
    /// Revoke a certificate (RFC 5280 reason). SERIAL is hex as `openssl x509 -serial` prints
    /// it (serial= prefix, colons, any case) or decimal with a 0d prefix or --decimal
    Revoke {
        serial: String,
        /// unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation,
        /// certificateHold (can be released with `cert unhold`) or privilegeWithdrawn
        #[arg(long)]
        reason: String,
        /// A note for the audit log
        #[arg(long)]
        comment: Option<String>,
        /// SERIAL is decimal
        #[arg(long)]
        decimal: bool,
    },
    /// Release a certificateHold
    Unhold {
        serial: String,
        /// SERIAL is decimal
        #[arg(long)]
        decimal: bool,
    },
    /// Show one certificate. SERIAL is hex as `openssl x509 -serial` prints it (any case,
    /// colons allowed) or decimal with a 0d prefix
    Show {
        /// Serial number: hex (`serial=` prefix, colons, any case allowed) or 0d<decimal>
        serial: String,
        /// Print the certificate as PEM
        #[arg(long, conflicts_with = "der")]
        pem: bool,
        /// Write the certificate as DER to standard output
        #[arg(long)]
        der: bool,
    },
}

impl Cli {
    /// The configuration overrides given by flags and environment.
    pub fn overrides(&self) -> Overrides {
        let mut o = Overrides {
            data_dir: self.data_dir.clone(),
            ..Overrides::default()
        };
        let ca = match &self.command {
            Command::Serve(s) => {
                o.listen = s.listen;
                o.challenge = s.challenge.clone();
                o.require_challenge = s.require_challenge;
                o.legacy_des = s.legacy_des;
                o.public_url = s.public_url.clone();
                o.approval = s.approval.clone();
                Some(&s.ca)
            }
            Command::Ca(CaCommand::Init(a)) => Some(a),
            Command::Profile(ProfileCommand::Build { public_url, .. }) => {
                o.public_url = public_url.clone();
                None
            }
            _ => None,
        };
        if let Some(ca) = ca {
            o.ca_key_bits = ca.ca_key_bits;
            o.ca_subject = ca.ca_subject.clone();
            o.ca_key_passphrase_file = ca.ca_key_passphrase_file.clone();
        }
        o
    }
}
