//! Configuration profiles served and built by certdrop (Apple's `.mobileconfig`): the root
//! CA profile and SCEP enrollment profiles, signed by a profile-signing certificate that
//! certdrop issues from its own CA. The payload types live in `apple/` (pure); this layer
//! fills them from the CA and configuration and holds the signing identity.
//!
//! iOS shows a profile signed this way as "Verified" only once the certdrop root is
//! trusted on the device (Settings → General → About → Certificate Trust Settings); a
//! publicly trusted signing certificate would be verified at once.

use std::path::Path;
use std::str::FromStr;

use openssl::pkey::{PKey, Private};
use openssl::symm::Cipher;
use openssl::x509::X509;
use time::OffsetDateTime;

use crate::apple::{self, CertificatePayload, Profile, ProfileError, ScepPayload, ScepSubject};
use crate::ca::{keyfile, Ca};

pub const SIGNER_CERT_FILE: &str = "profile-signer.pem";
pub const SIGNER_KEY_FILE: &str = "profile-signer.key";

/// Errors making or signing profiles.
#[derive(Debug, thiserror::Error)]
pub enum ProfilesError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Ca(#[from] crate::ca::CaError),
    #[error("crypto failure: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    #[error("issuing the profile-signing certificate: {0}")]
    Issue(#[from] crate::ca::policy::IssueError),
    #[error("{0}")]
    Invalid(String),
}

/// The certificate and key that sign profiles, with the chain to include.
pub struct ProfileSigner {
    pub certificate: X509,
    key: PKey<Private>,
    chain: Vec<X509>,
}

/// Load an admin-provided signing identity: a PEM certificate (with its chain after it)
/// and a PEM key (encrypted keys take `passphrase`). A publicly trusted one makes iOS show
/// the profile as "Verified" before the certdrop root is trusted.
pub fn load_provided_signer(
    cert_path: &Path,
    key_path: &Path,
    passphrase: Option<&[u8]>,
) -> Result<ProfileSigner, ProfilesError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| ProfilesError::Invalid(format!("{}: {e}", p.display())))
    };
    let mut certs = X509::stack_from_pem(&read(cert_path)?)?.into_iter();
    let certificate = certs.next().ok_or_else(|| {
        ProfilesError::Invalid(format!("{}: no certificate", cert_path.display()))
    })?;
    let pem = read(key_path)?;
    let key = match passphrase {
        Some(p) if pem.windows(9).any(|w| w == b"ENCRYPTED") => {
            PKey::private_key_from_pem_passphrase(&pem, p)?
        }
        _ => PKey::private_key_from_pem(&pem)?,
    };
    if !certificate.public_key()?.public_eq(&key) {
        return Err(ProfilesError::Invalid(
            "the profile signing key does not match its certificate".into(),
        ));
    }
    Ok(ProfileSigner {
        certificate,
        key,
        chain: certs.collect(),
    })
}

/// Load the profile signer from the data directory, or issue one from the CA (RSA-2048,
/// digitalSignature only, two years) and store it beside the CA files (key mode 0600,
/// encrypted with the CA key's passphrase when there is one).
pub fn load_or_create_signer(
    data_dir: &Path,
    ca: &Ca,
    passphrase: Option<&[u8]>,
    now: OffsetDateTime,
) -> Result<ProfileSigner, ProfilesError> {
    let cert_path = data_dir.join(SIGNER_CERT_FILE);
    let key_path = data_dir.join(SIGNER_KEY_FILE);
    let chain = vec![ca.certificate.x509.clone()];
    if cert_path.exists() && key_path.exists() {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| ProfilesError::Invalid(format!("{}: {e}", p.display())))
        };
        let certificate = X509::from_pem(&read(&cert_path)?)?;
        let pem = read(&key_path)?;
        let key = match passphrase {
            Some(p) => PKey::private_key_from_pem_passphrase(&pem, p)?,
            None => PKey::private_key_from_pem(&pem)?,
        };
        return Ok(ProfileSigner {
            certificate,
            key,
            chain,
        });
    }
    let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048)?)?;
    let certificate = ca.issue_profile_signer(&key, now)?;
    let key_pem = match passphrase {
        Some(p) => key.private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), p)?,
        None => key.private_key_to_pem_pkcs8()?,
    };
    keyfile::write_new(&key_path, &key_pem, 0o600)?;
    keyfile::write_new(&cert_path, &certificate.to_pem()?, 0o644)?;
    Ok(ProfileSigner {
        certificate,
        key,
        chain,
    })
}

/// Network payloads that use the enrolled identity.
#[derive(Clone, Debug, Default)]
pub struct Networks {
    /// `com.apple.wifi.managed`: WPA2 Enterprise EAP-TLS with this SSID, trusting the CA.
    pub wifi_ssid: Option<String>,
    /// RADIUS server names the device accepts (TLSTrustedServerNames); empty: any name
    /// under the CA.
    pub wifi_server_names: Vec<String>,
    /// `com.apple.vpn.managed`: IKEv2 with certificate authentication.
    pub vpn: Option<VpnTarget>,
}

impl Networks {
    /// The network payloads an enrollment link asked for.
    pub fn of_link(link: &crate::store::LinkRecord) -> Networks {
        Networks {
            wifi_ssid: link.wifi_ssid.clone(),
            wifi_server_names: Vec::new(),
            vpn: link
                .vpn
                .clone()
                .map(|(server, remote_id)| VpnTarget { server, remote_id }),
        }
    }
}

/// An IKEv2 gateway: RemoteAddress and RemoteIdentifier.
#[derive(Clone, Debug)]
pub struct VpnTarget {
    pub server: String,
    pub remote_id: String,
}

/// Pack a server-made identity as PKCS#12. By default PBE-SHA1-3DES with a SHA-1 MAC,
/// which every iOS version imports (OpenSSL 3's AES-256/SHA-256 default, `modern`, is
/// reported to fail on iOS).
pub fn pack_pkcs12(
    key: &PKey<Private>,
    cert: &X509,
    ca: &X509,
    subject: &str,
    password: &str,
    modern: bool,
) -> Result<Vec<u8>, ProfilesError> {
    let mut chain = openssl::stack::Stack::new()?;
    chain.push(ca.clone())?;
    let name = scep_common_name(subject).unwrap_or_else(|| "certdrop identity".into());
    let mut builder = openssl::pkcs12::Pkcs12::builder();
    builder.name(&name).pkey(key).cert(cert).ca(chain);
    if !modern {
        let pbe = openssl::nid::Nid::PBE_WITHSHA1AND3_KEY_TRIPLEDES_CBC;
        builder
            .key_algorithm(pbe)
            .cert_algorithm(pbe)
            .mac_md(openssl::hash::MessageDigest::sha1());
    }
    Ok(builder.build2(password)?.to_der()?)
}

/// The signing identity the configuration asks for: the admin's, or certdrop's own.
pub fn signer_for(config: &crate::config::Config, ca: &Ca) -> Result<ProfileSigner, ProfilesError> {
    let passphrase = config
        .ca_key_passphrase
        .as_ref()
        .map(|p| p.expose().as_bytes());
    match &config.profile_signing {
        Some((cert, key)) => load_provided_signer(cert, key, passphrase),
        None => load_or_create_signer(&config.data_dir, ca, passphrase, OffsetDateTime::now_utc()),
    }
}

/// Makes the profiles certdrop hands out.
pub struct Profiles {
    ca_der: Vec<u8>,
    ca_name: String,
    scep_url: String,
    identifier: String,
    signer: ProfileSigner,
}

impl Profiles {
    pub fn new(ca: &Ca, public_url: &str, signer: ProfileSigner) -> Profiles {
        let ca_name = ca
            .certificate
            .x509
            .subject_name()
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .next()
            .and_then(|e| e.data().to_string().ok())
            .unwrap_or_else(|| "certdrop CA".into());
        Profiles {
            ca_der: ca.certificate.der.clone(),
            ca_name,
            scep_url: format!("{public_url}/scep"),
            identifier: identifier_base(public_url),
            signer,
        }
    }

    /// The CA's common name, as the profiles and the install page show it.
    pub fn ca_name(&self) -> &str {
        &self.ca_name
    }

    /// `com.apple.security.root` alone: trust the CA.
    pub fn root(&self) -> Result<Vec<u8>, ProfilesError> {
        let mut p = Profile::new(
            format!("{}.root", self.identifier),
            format!("{} (root certificate)", self.ca_name),
        )?;
        let id = p.payload_identifier("root.ca");
        p.push(CertificatePayload::root(id, &self.ca_der)?);
        Ok(p.to_xml_plist()?)
    }

    /// The root CA and a SCEP payload enrolling `subject` (RFC 4514 text) with `challenge`,
    /// plus the Wi-Fi and VPN payloads in `networks`, which use the SCEP identity.
    pub fn scep(
        &self,
        subject: &str,
        challenge: &str,
        networks: &Networks,
    ) -> Result<Vec<u8>, ProfilesError> {
        let mut p = Profile::new(
            format!("{}.scep", self.identifier),
            format!("{} device certificate", self.ca_name),
        )?;
        let root_id = p.payload_identifier("scep.root");
        let root = CertificatePayload::root(root_id, &self.ca_der)?;
        let root_uuid = root.payload_uuid.clone();
        p.push(root);
        let scep_id = p.payload_identifier("scep.identity");
        let scep = ScepPayload::new(
            scep_id,
            self.scep_url.clone(),
            self.ca_name.clone(),
            scep_subject(subject)?,
            challenge,
            &self.ca_der,
        )?;
        let identity_uuid = scep.payload_uuid.clone();
        p.push(scep);
        self.push_networks(&mut p, subject, &identity_uuid, &root_uuid, networks)?;
        Ok(p.to_xml_plist()?)
    }

    /// The root CA and a PKCS#12 identity made on the server (`com.apple.security.pkcs12`),
    /// plus `networks` using it. Without `password` iOS asks for it at install.
    pub fn pkcs12(
        &self,
        subject: &str,
        pkcs12_der: &[u8],
        password: Option<String>,
        networks: &Networks,
    ) -> Result<Vec<u8>, ProfilesError> {
        let mut p = Profile::new(
            format!("{}.pkcs12", self.identifier),
            format!("{} identity for {}", self.ca_name, subject),
        )?;
        let root = CertificatePayload::root(p.payload_identifier("pkcs12.root"), &self.ca_der)?;
        let root_uuid = root.payload_uuid.clone();
        p.push(root);
        let identity = apple::Pkcs12Payload::new(
            p.payload_identifier("pkcs12.identity"),
            pkcs12_der,
            password,
        )?;
        let identity_uuid = identity.payload_uuid.clone();
        p.push(identity);
        self.push_networks(&mut p, subject, &identity_uuid, &root_uuid, networks)?;
        Ok(p.to_xml_plist()?)
    }

    fn push_networks(
        &self,
        p: &mut Profile,
        subject: &str,
        identity_uuid: &str,
        root_uuid: &str,
        networks: &Networks,
    ) -> Result<(), ProfilesError> {
        let local_id = scep_common_name(subject).unwrap_or_else(|| "device".into());
        if let Some(ssid) = &networks.wifi_ssid {
            let id = p.payload_identifier("wifi");
            p.push(apple::WifiPayload::eap_tls(
                id,
                ssid.clone(),
                apple::WifiEncryption::Wpa2,
                identity_uuid.to_owned(),
                networks.wifi_server_names.clone(),
                vec![root_uuid.to_owned()],
            )?);
        }
        if let Some(vpn) = &networks.vpn {
            let id = p.payload_identifier("vpn");
            p.push(apple::VpnPayload::ikev2_certificate(
                id,
                format!("{} VPN", self.ca_name),
                vpn.server.clone(),
                vpn.remote_id.clone(),
                local_id,
                identity_uuid.to_owned(),
            )?);
        }
        Ok(())
    }

    /// Sign plist bytes as attached DER CMS SignedData.
    pub fn sign(&self, plist: &[u8]) -> Result<Vec<u8>, ProfilesError> {
        Ok(apple::sign_profile(
            plist,
            &self.signer.certificate,
            &self.signer.key,
            &self.signer.chain,
        )?)
    }
}

/// A stable reverse-DNS identifier from the public URL's host:
/// `https://certs.example.com` → `com.example.certs.certdrop`.
pub fn identifier_base(public_url: &str) -> String {
    let host = public_url
        .split("://")
        .nth(1)
        .unwrap_or(public_url)
        .split(['/', ':'])
        .next()
        .unwrap_or("localhost");
    let clean: Vec<String> = host
        .split('.')
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect()
        })
        .collect();
    if clean.is_empty() || host.parse::<std::net::IpAddr>().is_ok() {
        return format!("local.certdrop.{}", clean.join("-"));
    }
    let mut reversed = clean;
    reversed.reverse();
    format!("{}.certdrop", reversed.join("."))
}

/// The CN of RFC 4514 text, if any (the VPN's LocalIdentifier).
fn scep_common_name(subject: &str) -> Option<String> {
    subject
        .split(',')
        .find_map(|p| p.trim().strip_prefix("CN="))
        .map(str::to_owned)
}

/// RFC 4514 text to the SCEP payload's Subject (RDN arrays, in DER order).
fn scep_subject(subject: &str) -> Result<ScepSubject, ProfilesError> {
    let name = x509_cert::name::Name::from_str(subject)
        .map_err(|e| ProfilesError::Invalid(format!("subject {subject:?}: {e}")))?;
    let mut rdns = Vec::new();
    for rdn in name.0.iter() {
        let mut attrs = Vec::new();
        for atv in rdn.0.iter() {
            let short = match atv.oid.to_string().as_str() {
                "2.5.4.3" => "CN".to_owned(),
                "2.5.4.10" => "O".to_owned(),
                "2.5.4.11" => "OU".to_owned(),
                "2.5.4.6" => "C".to_owned(),
                "2.5.4.7" => "L".to_owned(),
                "2.5.4.8" => "ST".to_owned(),
                other => other.to_owned(),
            };
            let value = std::str::from_utf8(atv.value.value())
                .map_err(|_| ProfilesError::Invalid("subject value is not text".into()))?
                .to_owned();
            attrs.push((short, value));
        }
        rdns.push(attrs);
    }
    Ok(ScepSubject::from_rdns(rdns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_reverse_the_public_host() {
        assert_eq!(
            identifier_base("https://certs.example.com"),
            "com.example.certs.certdrop"
        );
        assert_eq!(
            identifier_base("http://certs.example.com:8443/x"),
            "com.example.certs.certdrop"
        );
        assert_eq!(
            identifier_base("http://127.0.0.1:8080"),
            "local.certdrop.127-0-0-1"
        );
    }
}
