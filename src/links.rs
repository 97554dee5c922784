//! Enrollment links (`/enroll/<token>`): an admin creates one, an employee opens it in
//! Safari and downloads a signed SCEP profile with a fresh one-time challenge. Viewing the
//! page does not use the link; each profile download takes one use. The token is
//! `<id><secret>` (8 + 32 letters and digits); only the SHA-256 of the secret is stored and
//! it is compared in constant time, as for challenges.

use time::OffsetDateTime;

use crate::ca::challenge::{self, Constraints};
use crate::store::{AuditEvent, AuditRecord, LinkRecord, Store, StoreError};

const ID_LEN: usize = 8;
const SECRET_LEN: usize = 32;
/// At most this many downloads per link.
pub const MAX_USES: u32 = 1000;

/// A link as created, with the token shown once.
pub struct NewLink {
    pub url: String,
    pub expires_at: i64,
}

/// What a token leads to.
pub enum LinkState {
    Usable(LinkRecord),
    Unknown,
    Expired,
    UsedUp,
}

/// Create a link to a SCEP profile for `subject` (RFC 4514 text).
/// What a link's profile holds besides the root and the SCEP payload.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct LinkNetworks {
    pub wifi_ssid: Option<String>,
    /// (gateway address, gateway IKE identity)
    pub vpn: Option<(String, String)>,
    /// A server-made PKCS#12 identity instead of a SCEP payload.
    #[serde(default)]
    pub pkcs12: bool,
}

#[allow(clippy::too_many_arguments)]
pub fn create(
    store: &dyn Store,
    subject: &str,
    networks: &LinkNetworks,
    ttl_secs: u64,
    uses: u32,
    actor: &str,
    public_url: &str,
    now: OffsetDateTime,
) -> Result<NewLink, String> {
    if uses == 0 || uses > MAX_USES {
        return Err(format!("uses must be 1..={MAX_USES}"));
    }
    crate::ca::parse_name(subject).map_err(|e| e.to_string())?;
    let id = challenge::random_text(ID_LEN).map_err(|e| e.to_string())?;
    let secret = challenge::random_text(SECRET_LEN).map_err(|e| e.to_string())?;
    let ttl = i64::try_from(ttl_secs).map_err(|_| "ttl too large".to_owned())?;
    let expires_at = now.unix_timestamp().saturating_add(ttl);
    let link = LinkRecord {
        id: id.clone(),
        secret_sha256: challenge::hash_secret(&secret),
        created_at: now.unix_timestamp(),
        expires_at,
        uses_total: uses,
        uses_left: uses,
        subject: subject.to_owned(),
        wifi_ssid: networks.wifi_ssid.clone(),
        vpn: networks.vpn.clone(),
        pkcs12: networks.pkcs12,
    };
    let audit = AuditRecord {
        at: now.unix_timestamp(),
        actor: actor.to_owned(),
        event: AuditEvent::LinkCreated {
            id: id.clone(),
            subject: subject.to_owned(),
            uses,
            expires_at,
        },
    };
    store
        .insert_link(&link, &audit)
        .map_err(|e| e.to_string())?;
    Ok(NewLink {
        url: format!("{public_url}/enroll/{id}{secret}"),
        expires_at,
    })
}

/// Find the link a token names.
pub fn look_up(
    store: &dyn Store,
    token: &str,
    now: OffsetDateTime,
) -> Result<LinkState, StoreError> {
    if token.len() != ID_LEN + SECRET_LEN || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(LinkState::Unknown);
    }
    let (id, secret) = token.split_at(ID_LEN);
    let Some(link) = store.link(id)? else {
        return Ok(LinkState::Unknown);
    };
    if !challenge::digest_eq(&challenge::hash_secret(secret), &link.secret_sha256) {
        return Ok(LinkState::Unknown);
    }
    if now.unix_timestamp() >= link.expires_at {
        return Ok(LinkState::Expired);
    }
    if link.uses_left == 0 {
        return Ok(LinkState::UsedUp);
    }
    Ok(LinkState::Usable(link))
}

/// Take one use of a usable link: a new one-time challenge bound to the link's CN, valid
/// as long as the link. Returns the link and the challenge text.
pub fn take(
    store: &dyn Store,
    token: &str,
    requester: &str,
    now: OffsetDateTime,
) -> Result<Result<(LinkRecord, String), LinkState>, String> {
    let link = match look_up(store, token, now).map_err(|e| e.to_string())? {
        LinkState::Usable(l) => l,
        other => return Ok(Err(other)),
    };
    let cn = crate::ca::parse_name(&link.subject).ok().and_then(|n| {
        n.entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .next()
            .and_then(|e| e.data().to_string().ok())
    });
    let ttl = u64::try_from(link.expires_at - now.unix_timestamp()).unwrap_or(3600);
    let constraints = Constraints {
        common_name: cn,
        ..Constraints::default()
    };
    let challenge = crate::admin::create_challenges(store, ttl, 1, &constraints, requester, now)?
        .pop()
        .ok_or("no challenge was created")?;
    let audit = AuditRecord {
        at: now.unix_timestamp(),
        actor: requester.to_owned(),
        event: AuditEvent::LinkUsed {
            id: link.id.clone(),
            challenge: challenge.id.clone(),
        },
    };
    match store.use_link(&link.id, &audit) {
        Ok(l) => Ok(Ok((l, challenge.challenge))),
        // Another download took the last use between our look-up and now.
        Err(StoreError::LinkUsedUp(_)) => Ok(Err(LinkState::UsedUp)),
        Err(e) => Err(e.to_string()),
    }
}
