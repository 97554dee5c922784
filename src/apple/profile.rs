//! The profile model: typed structs for a `Configuration` profile and its payloads, written as
//! an XML property list with exactly Apple's key spellings.
//!
//! Keys follow Apple's YAML schemas (`TopLevel.yaml`, `CommonPayloadKeys.yaml` and one file per
//! payload type). Every payload struct repeats the common keys rather than using
//! `#[serde(flatten)]`: flattening turns a struct into a map, and the `plist` serialiser then
//! writes `Option` values as `{ Some = ... }` dictionaries.
//!
//! Builders set safe values explicitly instead of relying on Apple's defaults (SCEP `Keysize`
//! defaults to 1024 on the device). [`Profile::to_xml_plist`] refuses a profile the installer
//! would reject (repeated `PayloadUUID`, dangling certificate references) or that would be
//! unsafe (SCEP `Keysize` below 2048).

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use openssl::x509::X509;
use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use super::ProfileError;

/// `PayloadVersion` of the profile and of every payload: the profile format version, always 1.
const PAYLOAD_VERSION: u32 = 1;

/// A random (version 4) UUID in upper-case canonical form, e.g.
/// `9C3F7E0A-51D2-4B8E-A0C4-2E1F6B7D8A90`, from OpenSSL's CSPRNG.
pub fn uuid_v4() -> Result<String, ProfileError> {
    let mut b = [0u8; 16];
    openssl::rand::rand_bytes(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40; // RFC 9562 §5.4: version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 §4.1: variant 0b10
    let h = hex::encode_upper(b);
    // `h` is always 32 ASCII hex digits, so these ranges are in bounds.
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// The raw SHA-1 digest of the CA certificate's DER: SCEP `CAFingerprint`, as Apple's own OTA
/// sample computes it. It goes into the plist as `<data>`, not as hex text.
pub fn ca_fingerprint_sha1(ca_der: &[u8]) -> Vec<u8> {
    openssl::sha::sha1(ca_der).to_vec()
}

/// Apple's UUID shape for cross-references (`format` of `PayloadCertificateUUID` in
/// com.apple.wifi.managed.yaml): `^[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-...-[0-9A-Za-z]{12}$`.
fn is_apple_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|c| c.is_ascii_alphanumeric()))
}

fn as_data<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(bytes)
}

fn as_optional_data<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => s.serialize_bytes(b),
        None => s.serialize_none(),
    }
}

fn as_optional_date<S: Serializer>(date: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match date {
        // plist dates are whole seconds in UTC (`2025-01-31T12:00:00Z`).
        Some(d) => plist::Date::from(SystemTime::from(*d)).serialize(s),
        None => s.serialize_none(),
    }
}

/// A top-level `Configuration` profile (TopLevel.yaml).
#[derive(Clone, Debug, Serialize)]
pub struct Profile {
    #[serde(rename = "PayloadType")]
    payload_type: &'static str,
    #[serde(rename = "PayloadVersion")]
    payload_version: u32,
    /// Reverse-DNS; a profile with the same identifier replaces the installed one.
    #[serde(rename = "PayloadIdentifier")]
    pub payload_identifier: String,
    #[serde(rename = "PayloadUUID")]
    pub payload_uuid: String,
    #[serde(rename = "PayloadDisplayName", skip_serializing_if = "Option::is_none")]
    pub payload_display_name: Option<String>,
    #[serde(rename = "PayloadDescription", skip_serializing_if = "Option::is_none")]
    pub payload_description: Option<String>,
    #[serde(
        rename = "PayloadOrganization",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload_organization: Option<String>,
    #[serde(rename = "PayloadContent")]
    pub payload_content: Vec<Payload>,
    /// BCP 47 language code (or `default`) to text the user must accept before installing.
    #[serde(rename = "ConsentText", skip_serializing_if = "Option::is_none")]
    pub consent_text: Option<BTreeMap<String, String>>,
    /// After this date the profile counts as expired and the device offers an update.
    #[serde(
        rename = "PayloadExpirationDate",
        skip_serializing_if = "Option::is_none",
        serialize_with = "as_optional_date"
    )]
    pub payload_expiration_date: Option<OffsetDateTime>,
    /// The device removes the profile at this date.
    #[serde(
        rename = "RemovalDate",
        skip_serializing_if = "Option::is_none",
        serialize_with = "as_optional_date"
    )]
    pub removal_date: Option<OffsetDateTime>,
    /// Only takes effect on **supervised** iOS and tvOS devices (TopLevel.yaml: "Requires a
    /// supervised device"; forbidden with user enrollment). On an unsupervised iPhone the user
    /// can still remove the profile. macOS semantics differ (manual installs only, 10.15+).
    #[serde(
        rename = "PayloadRemovalDisallowed",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload_removal_disallowed: Option<bool>,
    /// iOS 12.2+: 0 any, 1 iPhone/iPad/iPod, 2 Watch, 3 HomePod, 4 Apple TV, 5 Mac,
    /// 6 Vision Pro. Setting 1 avoids the "choose a device" prompt.
    #[serde(rename = "TargetDeviceType", skip_serializing_if = "Option::is_none")]
    pub target_device_type: Option<u8>,
}

impl Profile {
    /// An empty profile with a fresh `PayloadUUID`. `identifier` should be stable per
    /// configuration (e.g. `com.example.certdrop.wifi`) so a new download replaces the old.
    pub fn new(
        identifier: impl Into<String>,
        display_name: impl Into<String>,
    ) -> Result<Profile, ProfileError> {
        Ok(Profile {
            payload_type: "Configuration",
            payload_version: PAYLOAD_VERSION,
            payload_identifier: identifier.into(),
            payload_uuid: uuid_v4()?,
            payload_display_name: Some(display_name.into()),
            payload_description: None,
            payload_organization: None,
            payload_content: Vec::new(),
            consent_text: None,
            payload_expiration_date: None,
            removal_date: None,
            payload_removal_disallowed: None,
            target_device_type: None,
        })
    }

    /// A payload identifier derived from this profile's: `<profile identifier>.<suffix>`.
    pub fn payload_identifier(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.payload_identifier)
    }

    /// Append a payload to `PayloadContent`.
    pub fn push(&mut self, payload: impl Into<Payload>) {
        self.payload_content.push(payload.into());
    }

    /// Check the rules the installer enforces (and ours); [`Profile::to_xml_plist`] calls it.
    pub fn validate(&self) -> Result<(), ProfileError> {
        check_identifier(&self.payload_identifier)?;
        check_uuid(&self.payload_uuid)?;
        if self.payload_content.is_empty() {
            return invalid("the profile has no payloads");
        }
        if self.target_device_type.is_some_and(|t| t > 6) {
            return invalid("TargetDeviceType must be 0 to 6");
        }
        let mut uuids = HashSet::from([self.payload_uuid.as_str()]);
        let mut identifiers = HashSet::new();
        for p in &self.payload_content {
            check_identifier(p.payload_identifier())?;
            check_uuid(p.payload_uuid())?;
            // Apple: "the PayloadUUID ... is used more than once in the profile" fails install.
            if !uuids.insert(p.payload_uuid()) {
                return invalid(format!("PayloadUUID {} is used twice", p.payload_uuid()));
            }
            // CommonPayloadKeys.yaml: PayloadIdentifier "must be unique within the profile".
            if !identifiers.insert(p.payload_identifier()) {
                return invalid(format!(
                    "PayloadIdentifier {} is used twice",
                    p.payload_identifier()
                ));
            }
            p.validate()?;
        }
        for p in &self.payload_content {
            for (key, uuid, wanted) in p.certificate_references() {
                let target = self
                    .payload_content
                    .iter()
                    .find(|t| t.payload_uuid() == uuid);
                match target {
                    Some(t) if t.provides(wanted) => {}
                    Some(t) => {
                        return invalid(format!(
                            "{key} of {} points to a {} payload, which is not {wanted:?}",
                            p.payload_identifier(),
                            t.payload_type()
                        ))
                    }
                    None => {
                        return invalid(format!(
                            "{key} of {} points to {uuid}, which is not in the profile",
                            p.payload_identifier()
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// The profile as an XML plist (`<?xml ...?>`, Apple DOCTYPE, `<plist version="1.0">`).
    /// Sign exactly these bytes; served unsigned they are useful for debugging.
    pub fn to_xml_plist(&self) -> Result<Vec<u8>, ProfileError> {
        self.validate()?;
        let mut out = Vec::new();
        plist::to_writer_xml(&mut out, self)?;
        Ok(out)
    }
}

fn invalid<T>(why: impl Into<String>) -> Result<T, ProfileError> {
    Err(ProfileError::Invalid(why.into()))
}

fn check_identifier(id: &str) -> Result<(), ProfileError> {
    if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid(format!(
            "PayloadIdentifier {id:?} is not a reverse-DNS name"
        ));
    }
    Ok(())
}

fn check_uuid(uuid: &str) -> Result<(), ProfileError> {
    if !is_apple_uuid(uuid) {
        return invalid(format!("PayloadUUID {uuid:?} is not UUID-shaped"));
    }
    Ok(())
}

/// What a certificate reference needs its target to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Provides {
    /// A private key and certificate: PKCS#12 or SCEP.
    Identity,
    /// A certificate to trust: root, PKCS#1 or PEM.
    Anchor,
}

/// One payload dictionary in `PayloadContent`.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Payload {
    Certificate(CertificatePayload),
    Pkcs12(Pkcs12Payload),
    Scep(ScepPayload),
    Wifi(WifiPayload),
    Vpn(VpnPayload),
}

impl Payload {
    /// `PayloadType`, e.g. `com.apple.security.scep`.
    pub fn payload_type(&self) -> &'static str {
        match self {
            Payload::Certificate(p) => p.payload_type,
            Payload::Pkcs12(p) => p.payload_type,
            Payload::Scep(p) => p.payload_type,
            Payload::Wifi(p) => p.payload_type,
            Payload::Vpn(p) => p.payload_type,
        }
    }

    /// `PayloadIdentifier`, unique within the profile.
    pub fn payload_identifier(&self) -> &str {
        match self {
            Payload::Certificate(p) => &p.payload_identifier,
            Payload::Pkcs12(p) => &p.payload_identifier,
            Payload::Scep(p) => &p.payload_identifier,
            Payload::Wifi(p) => &p.payload_identifier,
            Payload::Vpn(p) => &p.payload_identifier,
        }
    }

    /// The `PayloadUUID` other payloads use to refer to this one.
    pub fn payload_uuid(&self) -> &str {
        match self {
            Payload::Certificate(p) => &p.payload_uuid,
            Payload::Pkcs12(p) => &p.payload_uuid,
            Payload::Scep(p) => &p.payload_uuid,
            Payload::Wifi(p) => &p.payload_uuid,
            Payload::Vpn(p) => &p.payload_uuid,
        }
    }

    fn provides(&self, wanted: Provides) -> bool {
        match self {
            Payload::Certificate(_) => wanted == Provides::Anchor,
            Payload::Pkcs12(_) | Payload::Scep(_) => wanted == Provides::Identity,
            Payload::Wifi(_) | Payload::Vpn(_) => false,
        }
    }

    /// (key name, referenced UUID, what the target must provide).
    fn certificate_references(&self) -> Vec<(&'static str, &str, Provides)> {
        let mut refs = Vec::new();
        match self {
            Payload::Wifi(w) => {
                if let Some(u) = &w.payload_certificate_uuid {
                    refs.push(("PayloadCertificateUUID", u.as_str(), Provides::Identity));
                }
                if let Some(eap) = &w.eap_client_configuration {
                    for u in &eap.payload_certificate_anchor_uuid {
                        refs.push(("PayloadCertificateAnchorUUID", u.as_str(), Provides::Anchor));
                    }
                }
            }
            Payload::Vpn(v) => refs.push((
                "IKEv2.PayloadCertificateUUID",
                v.ikev2.payload_certificate_uuid.as_str(),
                Provides::Identity,
            )),
            Payload::Certificate(_) | Payload::Pkcs12(_) | Payload::Scep(_) => {}
        }
        refs
    }

    fn validate(&self) -> Result<(), ProfileError> {
        match self {
            Payload::Scep(p) => p.payload_content.validate(),
            Payload::Wifi(p) => p.validate(),
            Payload::Vpn(p) => p.validate(),
            Payload::Certificate(_) | Payload::Pkcs12(_) => Ok(()),
        }
    }
}

impl From<CertificatePayload> for Payload {
    fn from(p: CertificatePayload) -> Payload {
        Payload::Certificate(p)
    }
}

impl From<Pkcs12Payload> for Payload {
    fn from(p: Pkcs12Payload) -> Payload {
        Payload::Pkcs12(p)
    }
}

impl From<ScepPayload> for Payload {
    fn from(p: ScepPayload) -> Payload {
        Payload::Scep(p)
    }
}

impl From<WifiPayload> for Payload {
    fn from(p: WifiPayload) -> Payload {
        Payload::Wifi(p)
    }
}

impl From<VpnPayload> for Payload {
    fn from(p: VpnPayload) -> Payload {
        Payload::Vpn(p)
    }
}

/// Which certificate-only payload type to emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateFormat {
    /// `com.apple.security.root`: a DER CA certificate (an alias of pkcs1).
    Root,
    /// `com.apple.security.pkcs1`: a DER certificate, no private key.
    Pkcs1,
    /// `com.apple.security.pem`: PEM text; the `<data>` holds the text's bytes.
    Pem,
}

impl CertificateFormat {
    /// The `PayloadType` string for this format.
    pub fn payload_type(self) -> &'static str {
        match self {
            CertificateFormat::Root => "com.apple.security.root",
            CertificateFormat::Pkcs1 => "com.apple.security.pkcs1",
            CertificateFormat::Pem => "com.apple.security.pem",
        }
    }
}

/// `com.apple.security.root` / `.pkcs1` / `.pem` (com.apple.security.root.yaml and siblings).
///
/// A root installed by hand (Safari, mail) is not trusted for TLS until the user enables it in
/// Settings > General > About > Certificate Trust Settings.
#[derive(Clone, Debug, Serialize)]
pub struct CertificatePayload {
    #[serde(rename = "PayloadType")]
    payload_type: &'static str,
    #[serde(rename = "PayloadVersion")]
    payload_version: u32,
    #[serde(rename = "PayloadIdentifier")]
    pub payload_identifier: String,
    #[serde(rename = "PayloadUUID")]
    pub payload_uuid: String,
    #[serde(rename = "PayloadDisplayName", skip_serializing_if = "Option::is_none")]
    pub payload_display_name: Option<String>,
    #[serde(rename = "PayloadDescription", skip_serializing_if = "Option::is_none")]
    pub payload_description: Option<String>,
    #[serde(
        rename = "PayloadOrganization",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload_organization: Option<String>,
    #[serde(
        rename = "PayloadCertificateFileName",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload_certificate_file_name: Option<String>,
    /// The certificate: DER for root and pkcs1, the PEM text for pem.
    #[serde(rename = "PayloadContent", serialize_with = "as_data")]
    payload_content: Vec<u8>,
}

impl CertificatePayload {
    /// A certificate payload. `content` is DER for `Root`/`Pkcs1` and PEM text for `Pem`; it
    /// must parse as a certificate.
    pub fn new(
        format: CertificateFormat,
        identifier: impl Into<String>,
        content: &[u8],
    ) -> Result<CertificatePayload, ProfileError> {
        let parsed = match format {
            CertificateFormat::Root | CertificateFormat::Pkcs1 => X509::from_der(content),
            CertificateFormat::Pem => X509::from_pem(content),
        };
        if parsed.is_err() {
            return invalid(format!(
                "{} content is not a certificate",
                format.payload_type()
            ));
        }
        Ok(CertificatePayload {
            payload_type: format.payload_type(),
            payload_version: PAYLOAD_VERSION,
            payload_identifier: identifier.into(),
            payload_uuid: uuid_v4()?,
            payload_display_name: None,
            payload_description: None,
            payload_organization: None,
            payload_certificate_file_name: None,
            payload_content: content.to_vec(),
        })
    }

    /// `com.apple.security.root` holding a DER CA certificate.
    pub fn root(
        identifier: impl Into<String>,
        der: &[u8],
    ) -> Result<CertificatePayload, ProfileError> {
        CertificatePayload::new(CertificateFormat::Root, identifier, der)
    }

    /// The certificate bytes as they go into `PayloadContent`.
    pub fn content(&self) -> &[u8] {
        &self.payload_content
    }
}

/// `com.apple.security.pkcs12`: one identity (key and certificate) in a PKCS#12 file.
///
/// Apple: a PKCS#12 profile is "obfuscated but not encrypted"; anyone who gets the profile gets
/// the key and the `Password`. Prefer SCEP, or an encrypted profile.
#[derive(Clone, Debug, Serialize)]
pub struct Pkcs12Payload {
    #[serde(rename = "PayloadType")]
    payload_type: &'static str,
    #[serde(rename = "PayloadVersion")]
    payload_version: u32,
    #[serde(rename = "PayloadIdentifier")]
    pub payload_identifier: String,
    #[serde(rename = "PayloadUUID")]
    pub payload_uuid: String,
    #[serde(rename = "PayloadDisplayName", skip_serializing_if = "Option::is_none")]
    pub payload_display_name: Option<String>,
    #[serde(rename = "PayloadDescription", skip_serializing_if = "Option::is_none")]
    pub payload_description: Option<String>,
    #[serde(
        rename = "PayloadOrganization",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload_organization: Option<String>,
    #[serde(
        rename = "PayloadCertificateFileName",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload_certificate_file_name: Option<String>,
    #[serde(rename = "PayloadContent", serialize_with = "as_data")]
    payload_content: Vec<u8>,
    #[serde(rename = "Password", skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl Pkcs12Payload {
    /// A PKCS#12 identity payload. `pkcs12_der` must parse as PKCS#12.
    pub fn new(
        identifier: impl Into<String>,
        pkcs12_der: &[u8],
        password: Option<String>,
    ) -> Result<Pkcs12Payload, ProfileError> {
        if openssl::pkcs12::Pkcs12::from_der(pkcs12_der).is_err() {
            return invalid("com.apple.security.pkcs12 content is not PKCS#12");
        }
        Ok(Pkcs12Payload {
            payload_type: "com.apple.security.pkcs12",
            payload_version: PAYLOAD_VERSION,
            payload_identifier: identifier.into(),
            payload_uuid: uuid_v4()?,
            payload_display_name: None,
            payload_description: None,
            payload_organization: None,
            payload_certificate_file_name: None,
            payload_content: pkcs12_der.to_vec(),
            password,
        })
    }
}

/// SCEP `Subject`: an X.500 name as an array of RDNs, each RDN an array of `[type, value]`
/// pairs. `/O=Example/CN=foo` is `[ [ ["O","Example"] ], [ ["CN","foo"] ] ]`: three levels of
/// arrays (iOS fails enrollment on two; macOS tolerates it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ScepSubject(Vec<Vec<[String; 2]>>);

impl ScepSubject {
    /// The short names com.apple.security.scep.yaml lists; anything else must be a dotted OID.
    pub const SHORT_NAMES: [&'static str; 6] = ["C", "L", "ST", "O", "OU", "CN"];

    /// One single-valued RDN per pair, in order. iOS does not expand `%Variables%`: pass the
    /// final values.
    pub fn from_pairs<I, T, V>(pairs: I) -> Result<ScepSubject, ProfileError>
    where
        I: IntoIterator<Item = (T, V)>,
        T: Into<String>,
        V: Into<String>,
    {
        ScepSubject::from_rdns(pairs.into_iter().map(|p| vec![p]))
    }

    /// RDNs with possibly several attributes each.
    pub fn from_rdns<R, I, T, V>(rdns: R) -> Result<ScepSubject, ProfileError>
    where
        R: IntoIterator<Item = I>,
        I: IntoIterator<Item = (T, V)>,
        T: Into<String>,
        V: Into<String>,
    {
        let mut out = Vec::new();
        for rdn in rdns {
            let mut attributes = Vec::new();
            for (t, v) in rdn {
                let (t, v) = (t.into(), v.into());
                let is_oid = t.split('.').count() >= 2
                    && t.split('.')
                        .all(|arc| !arc.is_empty() && arc.bytes().all(|c| c.is_ascii_digit()));
                if !is_oid && !ScepSubject::SHORT_NAMES.contains(&t.as_str()) {
                    return invalid(format!(
                        "SCEP Subject type {t:?} is neither C, L, ST, O, OU, CN nor a dotted OID"
                    ));
                }
                attributes.push([t, v]);
            }
            if attributes.is_empty() {
                return invalid("SCEP Subject has an empty RDN");
            }
            out.push(attributes);
        }
        if out.is_empty() {
            return invalid("SCEP Subject is empty");
        }
        Ok(ScepSubject(out))
    }

    /// The RDNs, each a list of `[type, value]` pairs.
    pub fn rdns(&self) -> &[Vec<[String; 2]>] {
        &self.0
    }
}

/// SCEP `SubjectAltName` (the schema types each value as a string).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SubjectAltName {
    #[serde(rename = "rfc822Name", skip_serializing_if = "Option::is_none")]
    pub rfc822_name: Option<String>,
    #[serde(rename = "dNSName", skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    #[serde(
        rename = "uniformResourceIdentifier",
        skip_serializing_if = "Option::is_none"
    )]
    pub uniform_resource_identifier: Option<String>,
    #[serde(rename = "ntPrincipalName", skip_serializing_if = "Option::is_none")]
    pub nt_principal_name: Option<String>,
}

/// The dictionary under a SCEP payload's own `PayloadContent`: every SCEP key lives here, not
/// beside `PayloadType`. Note the spellings: `Keysize` (lower-case s), `Key Type` and
/// `Key Usage` (with a space), `URL` in capitals.
#[derive(Clone, Debug, Serialize)]
pub struct ScepContent {
    #[serde(rename = "URL")]
    pub url: String,
    /// Sent as `message=` with GetCACert/GetCACaps; NDES needs some value.
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "Subject", skip_serializing_if = "Option::is_none")]
    pub subject: Option<ScepSubject>,
    /// Sent as the CSR's challengePassword (RFC 8894 §2.3).
    #[serde(rename = "Challenge", skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// Always written: the device default is 1024. 2048 or 4096.
    #[serde(rename = "Keysize")]
    pub keysize: u32,
    #[serde(rename = "Key Type")]
    key_type: &'static str,
    /// Apple's bitmask, not DER KeyUsage bits: [`ScepContent::KEY_USAGE_SIGNING`] (1) |
    /// [`ScepContent::KEY_USAGE_ENCRYPTION`] (4).
    #[serde(rename = "Key Usage")]
    pub key_usage: u8,
    /// Retries after a PENDING reply.
    #[serde(rename = "Retries")]
    pub retries: u32,
    /// Seconds between retries (the first retry is immediate).
    #[serde(rename = "RetryDelay")]
    pub retry_delay: u32,
    /// Raw SHA-1 of the CA certificate DER ([`ca_fingerprint_sha1`]); lets SCEP run over HTTP.
    #[serde(
        rename = "CAFingerprint",
        skip_serializing_if = "Option::is_none",
        serialize_with = "as_optional_data"
    )]
    pub ca_fingerprint: Option<Vec<u8>>,
    #[serde(rename = "SubjectAltName", skip_serializing_if = "Option::is_none")]
    pub subject_alt_name: Option<SubjectAltName>,
    /// macOS 10.13.4+: `false` stops the private key being exported from the keychain.
    #[serde(rename = "KeyIsExtractable", skip_serializing_if = "Option::is_none")]
    pub key_is_extractable: Option<bool>,
    /// macOS 10.10+: let all apps use the private key.
    #[serde(rename = "AllowAllAppsAccess", skip_serializing_if = "Option::is_none")]
    pub allow_all_apps_access: Option<bool>,
}

impl ScepContent {
    /// `Key Usage` bit 1: the key signs (digitalSignature).
    pub const KEY_USAGE_SIGNING: u8 = 1;
    /// `Key Usage` bit 4: the key decrypts (keyEncipherment).
    pub const KEY_USAGE_ENCRYPTION: u8 = 4;

    fn validate(&self) -> Result<(), ProfileError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return invalid(format!("SCEP URL {:?} is not http(s)", self.url));
        }
        // Apple's default (and the old OTA guide's advice) is 1024; we never emit it.
        if ![2048, 4096].contains(&self.keysize) {
            return invalid(format!("SCEP Keysize {} is not 2048 or 4096", self.keysize));
        }
        let both = ScepContent::KEY_USAGE_SIGNING | ScepContent::KEY_USAGE_ENCRYPTION;
        if self.key_usage == 0 || self.key_usage & !both != 0 {
            return invalid(format!(
                "SCEP Key Usage {} is not 1, 4 or 5",
                self.key_usage
            ));
        }
        if let Some(fp) = &self.ca_fingerprint {
            if fp.len() != 20 {
                return invalid("SCEP CAFingerprint must be a 20-byte SHA-1 digest");
            }
        }
        Ok(())
    }
}

/// `com.apple.security.scep` (com.apple.security.scep.yaml).
#[derive(Clone, Debug, Serialize)]
pub struct ScepPayload {
    #[serde(rename = "PayloadType")]
    payload_type: &'static str,
    #[serde(rename = "PayloadVersion")]
    payload_version: u32,
    #[serde(rename = "PayloadIdentifier")]
    pub payload_identifier: String,
    #[serde(rename = "PayloadUUID")]
    pub payload_uuid: String,
    #[serde(rename = "PayloadDisplayName", skip_serializing_if = "Option::is_none")]
    pub payload_display_name: Option<String>,
    #[serde(rename = "PayloadDescription", skip_serializing_if = "Option::is_none")]
    pub payload_description: Option<String>,
    #[serde(
        rename = "PayloadOrganization",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload_organization: Option<String>,
    #[serde(rename = "PayloadContent")]
    pub payload_content: ScepContent,
}

impl ScepPayload {
    /// A SCEP payload with `Keysize` 2048, `Key Type` RSA, `Key Usage` 5 (sign and encrypt:
    /// the OTA identity does both), `Retries` 3, `RetryDelay` 10, and `CAFingerprint` set to
    /// the SHA-1 of `ca_der`.
    pub fn new(
        identifier: impl Into<String>,
        url: impl Into<String>,
        name: impl Into<String>,
        subject: ScepSubject,
        challenge: impl Into<String>,
        ca_der: &[u8],
    ) -> Result<ScepPayload, ProfileError> {
        Ok(ScepPayload {
            payload_type: "com.apple.security.scep",
            payload_version: PAYLOAD_VERSION,
            payload_identifier: identifier.into(),
            payload_uuid: uuid_v4()?,
            payload_display_name: None,
            payload_description: None,
            payload_organization: None,
            payload_content: ScepContent {
                url: url.into(),
                name: Some(name.into()),
                subject: Some(subject),
                challenge: Some(challenge.into()),
                keysize: 2048,
                key_type: "RSA",
                key_usage: ScepContent::KEY_USAGE_SIGNING | ScepContent::KEY_USAGE_ENCRYPTION,
                retries: 3,
                retry_delay: 10,
                ca_fingerprint: Some(ca_fingerprint_sha1(ca_der)),
                subject_alt_name: None,
                key_is_extractable: None,
                allow_all_apps_access: None,
            },
        })
    }
}

/// Wi-Fi `EncryptionType` for WPA Enterprise. Since iOS 16 / macOS 13, `WPA2` joins WPA2 or
/// WPA3 networks and `WPA3` joins WPA3 only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum WifiEncryption {
    #[serde(rename = "WPA2")]
    Wpa2,
    #[serde(rename = "WPA3")]
    Wpa3,
}

/// `EAPClientConfiguration` inside a Wi-Fi payload (there is no separate EAP payload).
#[derive(Clone, Debug, Serialize)]
pub struct EapClientConfiguration {
    /// 13 TLS, 17 LEAP, 18 EAP-SIM, 21 TTLS, 23 EAP-AKA, 25 PEAP, 43 EAP-FAST.
    #[serde(rename = "AcceptEAPTypes")]
    pub accept_eap_types: Vec<u32>,
    /// The EAP identity; when absent the device prompts or uses the certificate.
    #[serde(rename = "UserName", skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// `PayloadUUID`s of certificate payloads in this profile to trust for the RADIUS server.
    #[serde(
        rename = "PayloadCertificateAnchorUUID",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub payload_certificate_anchor_uuid: Vec<String>,
    /// Accepted RADIUS server certificate names (wildcards allowed); setting them disables the
    /// user's dynamic trust prompt.
    #[serde(
        rename = "TLSTrustedServerNames",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tls_trusted_server_names: Vec<String>,
    /// iOS 11+: "1.0" to "1.3". The device default is "1.0".
    #[serde(rename = "TLSMinimumVersion", skip_serializing_if = "Option::is_none")]
    pub tls_minimum_version: Option<String>,
    #[serde(rename = "TLSMaximumVersion", skip_serializing_if = "Option::is_none")]
    pub tls_maximum_version: Option<String>,
}

/// `com.apple.wifi.managed` (com.apple.wifi.managed.yaml).
#[derive(Clone, Debug, Serialize)]
pub struct WifiPayload {
    #[serde(rename = "PayloadType")]
    payload_type: &'static str,
    #[serde(rename = "PayloadVersion")]
    payload_version: u32,
    #[serde(rename = "PayloadIdentifier")]
    pub payload_identifier: String,
    #[serde(rename = "PayloadUUID")]
    pub payload_uuid: String,
    #[serde(rename = "PayloadDisplayName", skip_serializing_if = "Option::is_none")]
    pub payload_display_name: Option<String>,
    #[serde(rename = "PayloadDescription", skip_serializing_if = "Option::is_none")]
    pub payload_description: Option<String>,
    #[serde(
        rename = "PayloadOrganization",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload_organization: Option<String>,
    #[serde(rename = "SSID_STR")]
    pub ssid_str: String,
    #[serde(rename = "HIDDEN_NETWORK", skip_serializing_if = "Option::is_none")]
    pub hidden_network: Option<bool>,
    #[serde(rename = "AutoJoin", skip_serializing_if = "Option::is_none")]
    pub auto_join: Option<bool>,
    #[serde(rename = "EncryptionType")]
    pub encryption_type: WifiEncryption,
    /// The client identity (PKCS#12 or SCEP payload in this profile) for EAP-TLS.
    #[serde(
        rename = "PayloadCertificateUUID",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload_certificate_uuid: Option<String>,
    #[serde(
        rename = "EAPClientConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub eap_client_configuration: Option<EapClientConfiguration>,
}

impl WifiPayload {
    /// The EAP type number of EAP-TLS.
    pub const EAP_TLS: u32 = 13;

    /// WPA2/WPA3 Enterprise with EAP-TLS: the client authenticates with the identity payload
    /// `identity_uuid`, and trusts RADIUS servers named `trusted_server_names` whose chain ends
    /// at one of the certificate payloads `anchor_uuids`. TLS 1.2 at least.
    pub fn eap_tls(
        identifier: impl Into<String>,
        ssid: impl Into<String>,
        encryption: WifiEncryption,
        identity_uuid: impl Into<String>,
        trusted_server_names: Vec<String>,
        anchor_uuids: Vec<String>,
    ) -> Result<WifiPayload, ProfileError> {
        Ok(WifiPayload {
            payload_type: "com.apple.wifi.managed",
            payload_version: PAYLOAD_VERSION,
            payload_identifier: identifier.into(),
            payload_uuid: uuid_v4()?,
            payload_display_name: None,
            payload_description: None,
            payload_organization: None,
            ssid_str: ssid.into(),
            hidden_network: None,
            auto_join: Some(true),
            encryption_type: encryption,
            payload_certificate_uuid: Some(identity_uuid.into()),
            eap_client_configuration: Some(EapClientConfiguration {
                accept_eap_types: vec![WifiPayload::EAP_TLS],
                user_name: None,
                payload_certificate_anchor_uuid: anchor_uuids,
                tls_trusted_server_names: trusted_server_names,
                tls_minimum_version: Some("1.2".into()),
                tls_maximum_version: None,
            }),
        })
    }

    fn validate(&self) -> Result<(), ProfileError> {
        if self.ssid_str.is_empty() {
            return invalid("Wi-Fi SSID_STR is empty");
        }
        if let Some(eap) = &self.eap_client_configuration {
            if eap.accept_eap_types.is_empty() {
                return invalid("Wi-Fi AcceptEAPTypes is empty");
            }
            if eap.accept_eap_types.contains(&WifiPayload::EAP_TLS)
                && self.payload_certificate_uuid.is_none()
            {
                return invalid("Wi-Fi EAP-TLS needs PayloadCertificateUUID (the identity)");
            }
        }
        Ok(())
    }
}

/// The `IKEv2` dictionary of a VPN payload, for certificate (machine) authentication.
#[derive(Clone, Debug, Serialize)]
pub struct Ikev2 {
    /// The VPN server's IP address or host name.
    #[serde(rename = "RemoteAddress")]
    pub remote_address: String,
    /// The client's IKE identity.
    #[serde(rename = "LocalIdentifier")]
    pub local_identifier: String,
    /// The server's IKE identity; also checked against its certificate unless
    /// `ServerCertificateCommonName` is set.
    #[serde(rename = "RemoteIdentifier")]
    pub remote_identifier: String,
    #[serde(rename = "AuthenticationMethod")]
    authentication_method: &'static str,
    /// The identity payload (PKCS#12 or SCEP) in this profile.
    #[serde(rename = "PayloadCertificateUUID")]
    pub payload_certificate_uuid: String,
    /// `RSA`, `ECDSA256`, `ECDSA384`, `ECDSA521` or `RSA-PSS`; if set,
    /// `ServerCertificateIssuerCommonName` is required.
    #[serde(rename = "CertificateType", skip_serializing_if = "Option::is_none")]
    pub certificate_type: Option<String>,
    #[serde(
        rename = "ServerCertificateIssuerCommonName",
        skip_serializing_if = "Option::is_none"
    )]
    pub server_certificate_issuer_common_name: Option<String>,
    #[serde(
        rename = "ServerCertificateCommonName",
        skip_serializing_if = "Option::is_none"
    )]
    pub server_certificate_common_name: Option<String>,
}

/// `com.apple.vpn.managed` with `VPNType` IKEv2 (com.apple.vpn.managed.yaml).
#[derive(Clone, Debug, Serialize)]
pub struct VpnPayload {
    #[serde(rename = "PayloadType")]
    payload_type: &'static str,
    #[serde(rename = "PayloadVersion")]
    payload_version: u32,
    #[serde(rename = "PayloadIdentifier")]
    pub payload_identifier: String,
    #[serde(rename = "PayloadUUID")]
    pub payload_uuid: String,
    #[serde(rename = "PayloadDisplayName", skip_serializing_if = "Option::is_none")]
    pub payload_display_name: Option<String>,
    #[serde(rename = "PayloadDescription", skip_serializing_if = "Option::is_none")]
    pub payload_description: Option<String>,
    #[serde(
        rename = "PayloadOrganization",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload_organization: Option<String>,
    #[serde(rename = "VPNType")]
    vpn_type: &'static str,
    /// The connection name shown on the device.
    #[serde(rename = "UserDefinedName")]
    pub user_defined_name: String,
    #[serde(rename = "IKEv2")]
    pub ikev2: Ikev2,
}

impl VpnPayload {
    /// IKEv2 with `AuthenticationMethod` Certificate, using the identity payload
    /// `identity_uuid`. IKEv2 requires all three of the address and identifiers.
    pub fn ikev2_certificate(
        identifier: impl Into<String>,
        user_defined_name: impl Into<String>,
        remote_address: impl Into<String>,
        remote_identifier: impl Into<String>,
        local_identifier: impl Into<String>,
        identity_uuid: impl Into<String>,
    ) -> Result<VpnPayload, ProfileError> {
        Ok(VpnPayload {
            payload_type: "com.apple.vpn.managed",
            payload_version: PAYLOAD_VERSION,
            payload_identifier: identifier.into(),
            payload_uuid: uuid_v4()?,
            payload_display_name: None,
            payload_description: None,
            payload_organization: None,
            vpn_type: "IKEv2",
            user_defined_name: user_defined_name.into(),
            ikev2: Ikev2 {
                remote_address: remote_address.into(),
                local_identifier: local_identifier.into(),
                remote_identifier: remote_identifier.into(),
                authentication_method: "Certificate",
                payload_certificate_uuid: identity_uuid.into(),
                certificate_type: None,
                server_certificate_issuer_common_name: None,
                server_certificate_common_name: None,
            },
        })
    }

    fn validate(&self) -> Result<(), ProfileError> {
        let ike = &self.ikev2;
        for (key, value) in [
            ("RemoteAddress", &ike.remote_address),
            ("LocalIdentifier", &ike.local_identifier),
            ("RemoteIdentifier", &ike.remote_identifier),
            ("UserDefinedName", &self.user_defined_name),
        ] {
            if value.is_empty() {
                return invalid(format!("VPN {key} is empty"));
            }
        }
        // com.apple.vpn.managed.yaml: "If this key is included, the system requires a value
        // for 'ServerCertificateIssuerCommonName'".
        if ike.certificate_type.is_some() && ike.server_certificate_issuer_common_name.is_none() {
            return invalid("IKEv2 CertificateType needs ServerCertificateIssuerCommonName");
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::OnceLock;

    use plist::Value;
    use time::macros::datetime;

    use super::*;
    use crate::ca::{Ca, CaParams};

    /// A throwaway CA shared by the apple tests (RSA key generation is slow in debug builds).
    pub(crate) fn test_ca() -> &'static Ca {
        static CA: OnceLock<Ca> = OnceLock::new();
        CA.get_or_init(|| {
            Ca::create(
                &CaParams {
                    subject: "CN=profile test".into(),
                    key_bits: 2048,
                    validity_days: 30,
                },
                OffsetDateTime::now_utc(),
            )
            .unwrap()
        })
    }

    /// What a deployment would configure; payload identifiers derive from it.
    pub(crate) struct Settings {
        pub identifier: &'static str,
        pub scep_url: &'static str,
        pub ssid: &'static str,
    }

    pub(crate) const SETTINGS: Settings = Settings {
        identifier: "com.example.certdrop.enroll",
        scep_url: "https://scep.example.com/scep",
        ssid: "Corp-Secure",
    };

    /// root + scep + wifi + vpn, with every optional top-level key set.
    pub(crate) fn full_profile(settings: &Settings) -> Profile {
        let ca = test_ca();
        let mut profile = Profile::new(settings.identifier, "Example Corp network").unwrap();
        profile.payload_organization = Some("Example Corp".into());
        profile.payload_description = Some("Wi-Fi and VPN access".into());
        profile.consent_text = Some(BTreeMap::from([
            (
                "default".into(),
                "Example Corp manages this certificate.".into(),
            ),
            (
                "de".into(),
                "Example Corp verwaltet dieses Zertifikat.".into(),
            ),
        ]));
        profile.payload_expiration_date = Some(datetime!(2031-01-31 12:00:00 UTC));
        profile.removal_date = Some(datetime!(2032-06-30 00:00:00 UTC));
        profile.payload_removal_disallowed = Some(false);
        profile.target_device_type = Some(1);

        let root =
            CertificatePayload::root(profile.payload_identifier("root"), &ca.certificate.der)
                .unwrap();
        let subject =
            ScepSubject::from_pairs([("O", "Example Corp"), ("CN", "device-C02XK0AAJG5H")])
                .unwrap();
        let mut scep = ScepPayload::new(
            profile.payload_identifier("scep"),
            settings.scep_url,
            "certdrop",
            subject,
            "one-time-challenge-7f3a",
            &ca.certificate.der,
        )
        .unwrap();
        scep.payload_content.subject_alt_name = Some(SubjectAltName {
            dns_name: Some("device.example.com".into()),
            ..SubjectAltName::default()
        });
        scep.payload_content.key_is_extractable = Some(false);
        let wifi = WifiPayload::eap_tls(
            profile.payload_identifier("wifi"),
            settings.ssid,
            WifiEncryption::Wpa2,
            &scep.payload_uuid,
            vec!["radius.example.com".into()],
            vec![root.payload_uuid.clone()],
        )
        .unwrap();
        let vpn = VpnPayload::ikev2_certificate(
            profile.payload_identifier("vpn"),
            "Example Corp VPN",
            "vpn.example.com",
            "vpn.example.com",
            "device-C02XK0AAJG5H",
            &scep.payload_uuid,
        )
        .unwrap();
        profile.push(root);
        profile.push(scep);
        profile.push(wifi);
        profile.push(vpn);
        profile
    }

    /// A PKCS#12 identity made from the test CA's own key and certificate.
    pub(crate) fn test_pkcs12() -> Vec<u8> {
        let ca = test_ca();
        openssl::pkcs12::Pkcs12::builder()
            .name("profile test")
            .pkey(ca.key())
            .cert(&ca.certificate.x509)
            .build2("hunter2")
            .unwrap()
            .to_der()
            .unwrap()
    }

    /// root + pkcs12.
    pub(crate) fn pkcs12_profile() -> Profile {
        let ca = test_ca();
        let mut profile = Profile::new("com.example.certdrop.identity", "Identity").unwrap();
        let root =
            CertificatePayload::root(profile.payload_identifier("root"), &ca.certificate.der)
                .unwrap();
        let mut p12 = Pkcs12Payload::new(
            profile.payload_identifier("identity"),
            &test_pkcs12(),
            Some("hunter2".into()),
        )
        .unwrap();
        p12.payload_certificate_file_name = Some("device.p12".into());
        profile.push(root);
        profile.push(p12);
        profile
    }

    pub(crate) fn parse(xml: &[u8]) -> Dictionary {
        Value::from_reader_xml(xml)
            .unwrap()
            .into_dictionary()
            .unwrap()
    }

    use plist::Dictionary;

    fn keys(d: &Dictionary) -> Vec<&str> {
        let mut k: Vec<&str> = d.keys().map(String::as_str).collect();
        k.sort_unstable();
        k
    }

    fn payloads(top: &Dictionary) -> Vec<&Dictionary> {
        top["PayloadContent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_dictionary().unwrap())
            .collect()
    }

    fn common_keys_ok(p: &Dictionary, payload_type: &str) {
        assert_eq!(p["PayloadType"].as_string(), Some(payload_type));
        assert_eq!(p["PayloadVersion"], Value::Integer(1.into()));
        assert!(p["PayloadIdentifier"].as_string().is_some());
        assert!(is_apple_uuid(p["PayloadUUID"].as_string().unwrap()));
    }

    #[test]
    fn uuid_v4_is_upper_case_canonical_version_4() {
        let u = uuid_v4().unwrap();
        assert_eq!(u.len(), 36);
        assert!(is_apple_uuid(&u));
        assert_eq!(u, u.to_uppercase());
        assert_eq!(&u[14..15], "4");
        assert!(["8", "9", "A", "B"].contains(&&u[19..20]));
        assert_ne!(u, uuid_v4().unwrap());
    }

    #[test]
    fn ca_fingerprint_is_raw_sha1_of_der() {
        let der = &test_ca().certificate.der;
        let fp = ca_fingerprint_sha1(der);
        assert_eq!(fp.len(), 20);
        assert_eq!(fp, openssl::sha::sha1(der).to_vec());
    }

    #[test]
    fn serialises_scep_payload_with_apple_spellings_and_types() {
        let profile = full_profile(&SETTINGS);
        let top = parse(&profile.to_xml_plist().unwrap());
        let scep = payloads(&top)[1];
        common_keys_ok(scep, "com.apple.security.scep");
        assert_eq!(
            keys(scep),
            [
                "PayloadContent",
                "PayloadIdentifier",
                "PayloadType",
                "PayloadUUID",
                "PayloadVersion"
            ]
        );
        let c = scep["PayloadContent"].as_dictionary().unwrap();
        assert_eq!(
            keys(c),
            [
                "CAFingerprint",
                "Challenge",
                "Key Type",
                "Key Usage",
                "KeyIsExtractable",
                "Keysize",
                "Name",
                "Retries",
                "RetryDelay",
                "Subject",
                "SubjectAltName",
                "URL"
            ]
        );
        assert_eq!(c["URL"].as_string(), Some(SETTINGS.scep_url));
        assert_eq!(c["Name"].as_string(), Some("certdrop"));
        assert_eq!(c["Challenge"].as_string(), Some("one-time-challenge-7f3a"));
        assert_eq!(c["Keysize"], Value::Integer(2048.into()));
        assert_eq!(c["Key Type"], Value::String("RSA".into()));
        assert_eq!(c["Key Usage"], Value::Integer(5.into()));
        assert_eq!(c["Retries"], Value::Integer(3.into()));
        assert_eq!(c["RetryDelay"], Value::Integer(10.into()));
        assert_eq!(c["KeyIsExtractable"], Value::Boolean(false));
        let fp = c["CAFingerprint"].as_data().unwrap();
        assert_eq!(fp.len(), 20);
        assert_eq!(fp, openssl::sha::sha1(&test_ca().certificate.der));
        assert_eq!(
            c["SubjectAltName"].as_dictionary().unwrap()["dNSName"].as_string(),
            Some("device.example.com")
        );
        // Three levels: array of RDNs, each an array of pairs, each pair an array of 2 strings.
        let subject: Vec<Vec<Vec<&str>>> = c["Subject"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rdn| {
                rdn.as_array()
                    .unwrap()
                    .iter()
                    .map(|pair| {
                        pair.as_array()
                            .unwrap()
                            .iter()
                            .map(|s| s.as_string().unwrap())
                            .collect()
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            subject,
            [
                vec![vec!["O", "Example Corp"]],
                vec![vec!["CN", "device-C02XK0AAJG5H"]]
            ]
        );
    }

    #[test]
    fn serialises_certificate_payloads_as_data() {
        let ca = test_ca();
        let profile = full_profile(&SETTINGS);
        let top = parse(&profile.to_xml_plist().unwrap());
        let root = payloads(&top)[0];
        common_keys_ok(root, "com.apple.security.root");
        assert_eq!(
            root["PayloadContent"].as_data(),
            Some(&ca.certificate.der[..])
        );

        let pem = ca.certificate.x509.to_pem().unwrap();
        let mut profile = Profile::new("com.example.pem", "PEM").unwrap();
        let pem_payload = CertificatePayload::new(
            CertificateFormat::Pem,
            profile.payload_identifier("pem"),
            &pem,
        )
        .unwrap();
        let pkcs1 = CertificatePayload::new(
            CertificateFormat::Pkcs1,
            profile.payload_identifier("pkcs1"),
            &ca.certificate.der,
        )
        .unwrap();
        profile.push(pem_payload);
        profile.push(pkcs1);
        let top = parse(&profile.to_xml_plist().unwrap());
        let p = payloads(&top);
        common_keys_ok(p[0], "com.apple.security.pem");
        // The PEM payload's <data> holds the PEM text itself (base64 of base64 in the file).
        assert_eq!(p[0]["PayloadContent"].as_data(), Some(&pem[..]));
        common_keys_ok(p[1], "com.apple.security.pkcs1");
        assert_eq!(
            p[1]["PayloadContent"].as_data(),
            Some(&ca.certificate.der[..])
        );

        assert!(CertificatePayload::root("com.example.x", b"not a certificate").is_err());
    }

    #[test]
    fn serialises_pkcs12_profile() {
        let profile = pkcs12_profile();
        let xml = profile.to_xml_plist().unwrap();
        let top = parse(&xml);
        let p = payloads(&top);
        assert_eq!(p.len(), 2);
        common_keys_ok(p[0], "com.apple.security.root");
        common_keys_ok(p[1], "com.apple.security.pkcs12");
        assert_eq!(
            keys(p[1]),
            [
                "Password",
                "PayloadCertificateFileName",
                "PayloadContent",
                "PayloadIdentifier",
                "PayloadType",
                "PayloadUUID",
                "PayloadVersion"
            ]
        );
        let der = p[1]["PayloadContent"].as_data().unwrap();
        let parsed = openssl::pkcs12::Pkcs12::from_der(der)
            .unwrap()
            .parse2("hunter2")
            .unwrap();
        assert!(parsed.pkey.is_some());
        assert_eq!(p[1]["Password"].as_string(), Some("hunter2"));
        assert!(Pkcs12Payload::new("com.example.x", b"junk", None).is_err());
    }

    #[test]
    fn serialises_wifi_eap_tls_referring_to_scep_and_root() {
        let profile = full_profile(&SETTINGS);
        let top = parse(&profile.to_xml_plist().unwrap());
        let p = payloads(&top);
        let (root_uuid, scep_uuid) = (&p[0]["PayloadUUID"], &p[1]["PayloadUUID"]);
        let wifi = p[2];
        common_keys_ok(wifi, "com.apple.wifi.managed");
        assert_eq!(wifi["SSID_STR"].as_string(), Some(SETTINGS.ssid));
        assert_eq!(wifi["EncryptionType"].as_string(), Some("WPA2"));
        assert_eq!(wifi["AutoJoin"], Value::Boolean(true));
        assert_eq!(&wifi["PayloadCertificateUUID"], scep_uuid);
        let eap = wifi["EAPClientConfiguration"].as_dictionary().unwrap();
        assert_eq!(
            eap["AcceptEAPTypes"],
            Value::Array(vec![Value::Integer(13.into())])
        );
        assert_eq!(
            eap["PayloadCertificateAnchorUUID"],
            Value::Array(vec![root_uuid.clone()])
        );
        assert_eq!(
            eap["TLSTrustedServerNames"],
            Value::Array(vec![Value::String("radius.example.com".into())])
        );
        assert_eq!(eap["TLSMinimumVersion"].as_string(), Some("1.2"));
    }

    #[test]
    fn serialises_vpn_ikev2_with_certificate_authentication() {
        let profile = full_profile(&SETTINGS);
        let top = parse(&profile.to_xml_plist().unwrap());
        let p = payloads(&top);
        let vpn = p[3];
        common_keys_ok(vpn, "com.apple.vpn.managed");
        assert_eq!(vpn["VPNType"].as_string(), Some("IKEv2"));
        assert_eq!(vpn["UserDefinedName"].as_string(), Some("Example Corp VPN"));
        let ike = vpn["IKEv2"].as_dictionary().unwrap();
        assert_eq!(
            keys(ike),
            [
                "AuthenticationMethod",
                "LocalIdentifier",
                "PayloadCertificateUUID",
                "RemoteAddress",
                "RemoteIdentifier"
            ]
        );
        assert_eq!(ike["AuthenticationMethod"].as_string(), Some("Certificate"));
        assert_eq!(ike["RemoteAddress"].as_string(), Some("vpn.example.com"));
        assert_eq!(ike["PayloadCertificateUUID"], p[1]["PayloadUUID"]);
    }

    #[test]
    fn serialises_top_level_keys_and_types() {
        let profile = full_profile(&SETTINGS);
        let xml = profile.to_xml_plist().unwrap();
        let text = std::str::from_utf8(&xml).unwrap();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        assert!(text.contains("<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\""));
        assert!(text.contains("<plist version=\"1.0\">"));
        let top = parse(&xml);
        assert_eq!(
            keys(&top),
            [
                "ConsentText",
                "PayloadContent",
                "PayloadDescription",
                "PayloadDisplayName",
                "PayloadExpirationDate",
                "PayloadIdentifier",
                "PayloadOrganization",
                "PayloadRemovalDisallowed",
                "PayloadType",
                "PayloadUUID",
                "PayloadVersion",
                "RemovalDate",
                "TargetDeviceType"
            ]
        );
        assert_eq!(top["PayloadType"].as_string(), Some("Configuration"));
        assert_eq!(top["PayloadVersion"], Value::Integer(1.into()));
        assert_eq!(top["TargetDeviceType"], Value::Integer(1.into()));
        assert_eq!(top["PayloadRemovalDisallowed"], Value::Boolean(false));
        let expiry = top["PayloadExpirationDate"].as_date().unwrap();
        assert_eq!(expiry.to_xml_format(), "2031-01-31T12:00:00Z");
        let removal = top["RemovalDate"].as_date().unwrap();
        assert_eq!(removal.to_xml_format(), "2032-06-30T00:00:00Z");
        let consent = top["ConsentText"].as_dictionary().unwrap();
        assert_eq!(keys(consent), ["de", "default"]);

        // Every PayloadUUID (top level and payloads) is distinct and UUID-shaped.
        let mut uuids: Vec<&str> = payloads(&top)
            .iter()
            .map(|p| p["PayloadUUID"].as_string().unwrap())
            .collect();
        uuids.push(top["PayloadUUID"].as_string().unwrap());
        assert_eq!(uuids.len(), 5);
        assert_eq!(uuids.iter().collect::<HashSet<_>>().len(), 5);
        assert!(uuids.iter().all(|u| is_apple_uuid(u)));
    }

    #[test]
    fn identifiers_are_stable_and_uuids_fresh_across_builds() {
        let ids = |p: &Profile| -> Vec<String> {
            std::iter::once(p.payload_identifier.clone())
                .chain(
                    p.payload_content
                        .iter()
                        .map(|x| x.payload_identifier().to_owned()),
                )
                .collect()
        };
        let (a, b) = (full_profile(&SETTINGS), full_profile(&SETTINGS));
        assert_eq!(ids(&a), ids(&b));
        assert_eq!(
            ids(&a),
            [
                "com.example.certdrop.enroll",
                "com.example.certdrop.enroll.root",
                "com.example.certdrop.enroll.scep",
                "com.example.certdrop.enroll.wifi",
                "com.example.certdrop.enroll.vpn"
            ]
        );
        assert_ne!(a.payload_uuid, b.payload_uuid);
        assert_ne!(
            a.payload_content[1].payload_uuid(),
            b.payload_content[1].payload_uuid()
        );
    }

    #[test]
    fn bytes_serialise_as_data_not_integer_arrays() {
        let xml = full_profile(&SETTINGS).to_xml_plist().unwrap();
        let text = String::from_utf8(xml).unwrap();
        assert!(text.contains("<key>CAFingerprint</key>\n\t\t\t\t<data>"));
        assert!(!text.contains("<key>Some</key>"));
    }

    #[test]
    fn rejects_duplicate_payload_uuid() {
        let mut profile = full_profile(&SETTINGS);
        let Payload::Vpn(vpn) = &mut profile.payload_content[3] else {
            panic!("payload 3 is the VPN")
        };
        vpn.payload_uuid = profile.payload_uuid.clone();
        let err = profile.to_xml_plist().unwrap_err().to_string();
        assert!(err.contains("used twice"), "{err}");
    }

    #[test]
    fn rejects_duplicate_payload_identifier() {
        let mut profile = full_profile(&SETTINGS);
        let wifi_identifier = profile.payload_identifier("wifi");
        let Payload::Vpn(vpn) = &mut profile.payload_content[3] else {
            panic!("payload 3 is the VPN")
        };
        vpn.payload_identifier = wifi_identifier;
        assert!(profile.validate().is_err());
    }

    #[test]
    fn rejects_dangling_and_mistyped_certificate_references() {
        let mut profile = full_profile(&SETTINGS);
        let Payload::Wifi(wifi) = &mut profile.payload_content[2] else {
            panic!("payload 2 is the Wi-Fi")
        };
        wifi.payload_certificate_uuid = Some(uuid_v4().unwrap());
        let err = profile.validate().unwrap_err().to_string();
        assert!(err.contains("not in the profile"), "{err}");

        let mut profile = full_profile(&SETTINGS);
        let root_uuid = profile.payload_content[0].payload_uuid().to_owned();
        let Payload::Vpn(vpn) = &mut profile.payload_content[3] else {
            panic!("payload 3 is the VPN")
        };
        vpn.ikev2.payload_certificate_uuid = root_uuid; // a root has no private key
        let err = profile.validate().unwrap_err().to_string();
        assert!(err.contains("Identity"), "{err}");
    }

    #[test]
    fn rejects_unsafe_scep_settings() {
        let mut profile = full_profile(&SETTINGS);
        let Payload::Scep(scep) = &mut profile.payload_content[1] else {
            panic!("payload 1 is SCEP")
        };
        scep.payload_content.keysize = 1024;
        let err = profile.to_xml_plist().unwrap_err().to_string();
        assert!(err.contains("Keysize 1024"), "{err}");
        let Payload::Scep(scep) = &mut profile.payload_content[1] else {
            panic!("payload 1 is SCEP")
        };
        scep.payload_content.keysize = 2048;
        scep.payload_content.key_usage = 0x80; // a DER KeyUsage byte, not Apple's bitmask
        assert!(profile.validate().is_err());
    }

    #[test]
    fn rejects_bad_subjects() {
        assert!(ScepSubject::from_pairs(Vec::<(String, String)>::new()).is_err());
        assert!(ScepSubject::from_pairs([("CommonName", "x")]).is_err());
        assert!(ScepSubject::from_pairs([("2.5.4.", "x")]).is_err());
        let s = ScepSubject::from_rdns([vec![("2.5.4.5", "C02XK0AAJG5H"), ("CN", "x")]]).unwrap();
        assert_eq!(s.rdns().len(), 1);
        assert_eq!(s.rdns()[0].len(), 2);
    }

    #[test]
    fn rejects_ikev2_certificate_type_without_issuer() {
        let mut profile = full_profile(&SETTINGS);
        let Payload::Vpn(vpn) = &mut profile.payload_content[3] else {
            panic!("payload 3 is the VPN")
        };
        vpn.ikev2.certificate_type = Some("RSA".into());
        assert!(profile.validate().is_err());
        let Payload::Vpn(vpn) = &mut profile.payload_content[3] else {
            panic!("payload 3 is the VPN")
        };
        vpn.ikev2.server_certificate_issuer_common_name = Some("profile test".into());
        profile.validate().unwrap();
    }
}
