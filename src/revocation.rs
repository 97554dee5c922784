//! Revocation: revoke and release certificates, publish the CRL (RFC 5280 §5) and answer
//! OCSP (RFC 6960). This layer ties the CA (which signs), the store (which remembers) and the
//! OCSP codec together; HTTP and the admin socket only call it.
//!
//! The OCSP responses are signed by the CA itself (RFC 6960 §4.2.2.2 allows it). The CA key
//! is online in this process anyway, since SCEP signs with it, so a delegated responder
//! certificate would add a second key and its rotation without protecting anything more.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use time::OffsetDateTime;

use crate::ca::crl::{RevocationReason, RevokedEntry};
use crate::ca::{Ca, Serial};
use crate::ocsp::{self, ResponseStatus};
use crate::store::{AuditEvent, AuditRecord, CertRecord, CertStatus, Store, StoreError};

/// Why a revocation or release was refused.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("no certificate with serial {0}")]
    NotFound(Serial),
    #[error("certificate {0} is already revoked ({1})")]
    AlreadyRevoked(Serial, RevocationReason),
    #[error("certificate {0} is not on hold; only certificateHold can be released")]
    NotOnHold(Serial),
    #[error("the certificate's status changed meanwhile; try again")]
    Conflict,
    #[error("store: {0}")]
    Store(StoreError),
}

impl From<StoreError> for RevokeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::CertMissing(s) => RevokeError::NotFound(s),
            StoreError::StatusChanged(_) => RevokeError::Conflict,
            other => RevokeError::Store(other),
        }
    }
}

/// RFC 5280 §5.3.1: a hold may become any final reason (keeping the date it was first put on
/// hold, since the certificate was not to be trusted from then); a final revocation stays.
pub fn revoked_status(
    serial: &Serial,
    current: &CertStatus,
    reason: RevocationReason,
    comment: Option<String>,
    now: i64,
) -> Result<CertStatus, RevokeError> {
    match current {
        CertStatus::Valid => Ok(CertStatus::Revoked {
            at: now,
            reason,
            comment,
        }),
        CertStatus::Revoked {
            at,
            reason: RevocationReason::CertificateHold,
            ..
        } if reason != RevocationReason::CertificateHold => Ok(CertStatus::Revoked {
            at: *at,
            reason,
            comment,
        }),
        CertStatus::Revoked { reason: r, .. } => {
            Err(RevokeError::AlreadyRevoked(serial.clone(), *r))
        }
    }
}

/// Revoke `serial` and record it in the audit log.
pub fn revoke(
    store: &dyn Store,
    serial: &Serial,
    reason: RevocationReason,
    comment: Option<String>,
    actor: &str,
    now: OffsetDateTime,
) -> Result<CertRecord, RevokeError> {
    let cert = store
        .cert(serial)?
        .ok_or_else(|| RevokeError::NotFound(serial.clone()))?;
    let new = revoked_status(
        serial,
        &cert.status,
        reason,
        comment.clone(),
        now.unix_timestamp(),
    )?;
    let audit = AuditRecord {
        at: now.unix_timestamp(),
        actor: actor.to_owned(),
        event: AuditEvent::Revoked {
            serial: serial.clone(),
            subject: cert.subject.clone(),
            reason,
            comment,
        },
    };
    Ok(store.update_status(serial, &cert.status, &new, &audit)?)
}

/// Release a certificateHold (RFC 5280 §5.3.1: the entry leaves the next CRL).
pub fn unhold(
    store: &dyn Store,
    serial: &Serial,
    actor: &str,
    now: OffsetDateTime,
) -> Result<CertRecord, RevokeError> {
    let cert = store
        .cert(serial)?
        .ok_or_else(|| RevokeError::NotFound(serial.clone()))?;
    if !matches!(
        cert.status,
        CertStatus::Revoked {
            reason: RevocationReason::CertificateHold,
            ..
        }
    ) {
        return Err(RevokeError::NotOnHold(serial.clone()));
    }
    let audit = AuditRecord {
        at: now.unix_timestamp(),
        actor: actor.to_owned(),
        event: AuditEvent::Unheld {
            serial: serial.clone(),
            subject: cert.subject.clone(),
        },
    };
    Ok(store.update_status(serial, &cert.status, &CertStatus::Valid, &audit)?)
}

/// A signed CRL and when it was made.
#[derive(Clone, Debug)]
pub struct PublishedCrl {
    pub der: Arc<Vec<u8>>,
    pub number: u64,
    pub this_update: i64,
    pub next_update: i64,
}

/// Errors publishing a CRL or answering OCSP: our fault, never the client's.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("CRL: {0}")]
    Crl(#[from] crate::ca::crl::CrlError),
    #[error("clock: {0}")]
    Time(#[from] time::error::ComponentRange),
}

/// Keeps the current CRL: made on start, after every revocation and before half its validity
/// has passed.
pub struct Revocation {
    ca: Arc<Ca>,
    store: Arc<dyn Store>,
    crl_validity: Duration,
    current: RwLock<Option<PublishedCrl>>,
}

/// How long an OCSP answer may be cached (nextUpdate - thisUpdate).
pub const OCSP_VALIDITY: time::Duration = time::Duration::hours(1);

impl Revocation {
    pub fn new(ca: Arc<Ca>, store: Arc<dyn Store>, crl_validity: Duration) -> Revocation {
        Revocation {
            ca,
            store,
            crl_validity,
            current: RwLock::new(None),
        }
    }

    /// Make and sign a new CRL with the next CRL number.
    pub fn publish(&self, now: OffsetDateTime) -> Result<PublishedCrl, PublishError> {
        let now_unix = now.unix_timestamp();
        // RFC 5280 §3.3: entries may leave the CRL once the certificate has expired.
        let entries: Vec<RevokedEntry> = self
            .store
            .revoked()?
            .into_iter()
            .filter(|r| r.not_after >= now_unix)
            .map(|r| RevokedEntry {
                serial: r.serial,
                revoked_at: r.at,
                reason: r.reason,
            })
            .collect();
        let number = self.store.next_crl_number()?;
        let validity = time::Duration::seconds(
            i64::try_from(self.crl_validity.as_secs()).unwrap_or(i64::MAX / 2),
        );
        let next_update = now + validity;
        let der = self.ca.crl(&entries, number, now, next_update)?;
        let published = PublishedCrl {
            der: Arc::new(der),
            number,
            this_update: now_unix,
            next_update: next_update.unix_timestamp(),
        };
        if let Ok(mut current) = self.current.write() {
            *current = Some(published.clone());
        }
        tracing::info!(
            crl_number = number,
            entries = entries.len(),
            "published CRL"
        );
        Ok(published)
    }

    /// The CRL being served, if one has been made.
    pub fn current(&self) -> Option<PublishedCrl> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// Publish if there is no CRL yet or half its validity has passed.
    pub fn refresh_if_due(&self, now: OffsetDateTime) -> Result<(), PublishError> {
        let due = match self.current() {
            None => true,
            Some(c) => {
                let half = (c.next_update - c.this_update) / 2;
                now.unix_timestamp() >= c.this_update + half
            }
        };
        if due {
            self.publish(now)?;
        }
        Ok(())
    }

    /// Answer one DER OCSPRequest with a DER OCSPResponse (RFC 6960 §2.2, §2.3): malformed
    /// → malformedRequest; a CertID for another issuer → unauthorized; otherwise good,
    /// revoked or unknown per certificate, the nonce echoed.
    pub fn ocsp(&self, request: &[u8], now: OffsetDateTime) -> Vec<u8> {
        match self.try_ocsp(request, now) {
            Ok(r) => r,
            Err(status) => ocsp::error_response(status),
        }
    }

    fn try_ocsp(&self, request: &[u8], now: OffsetDateTime) -> Result<Vec<u8>, ResponseStatus> {
        let req = ocsp::parse_request(request).map_err(|e| {
            tracing::info!(error = %e, "malformed OCSP request");
            ResponseStatus::MalformedRequest
        })?;
        let ca_cert = &self.ca.certificate.certificate;
        let mut answers = Vec::with_capacity(req.cert_ids.len());
        for id in req.cert_ids {
            if !ocsp::issuer_matches(&id, ca_cert) {
                return Err(ResponseStatus::Unauthorized);
            }
            let status = match Serial::from_bytes(&id.serial) {
                None => ocsp::CertStatus::Unknown,
                Some(serial) => match self.store.cert(&serial) {
                    Err(e) => {
                        tracing::error!(error = %e, "OCSP store lookup failed");
                        return Err(ResponseStatus::InternalError);
                    }
                    Ok(None) => ocsp::CertStatus::Unknown,
                    Ok(Some(c)) => match c.status {
                        CertStatus::Valid => ocsp::CertStatus::Good,
                        CertStatus::Revoked { at, reason, .. } => ocsp::CertStatus::Revoked {
                            revoked_at: at,
                            reason: Some(reason.code()),
                        },
                    },
                },
            };
            answers.push((id, status));
        }
        ocsp::build_response(
            &answers,
            req.nonce.as_deref(),
            now,
            now,
            now + OCSP_VALIDITY,
            ca_cert,
            self.ca.key(),
        )
        .map_err(|e| {
            tracing::error!(error = %e, "cannot build the OCSP response");
            ResponseStatus::InternalError
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serial() -> Serial {
        Serial::from_bytes(&[1; 16]).unwrap()
    }

    #[test]
    fn revokes_valid_and_escalates_holds_only() {
        let s = serial();
        let held = revoked_status(
            &s,
            &CertStatus::Valid,
            RevocationReason::CertificateHold,
            None,
            10,
        )
        .unwrap();
        assert_eq!(
            held,
            CertStatus::Revoked {
                at: 10,
                reason: RevocationReason::CertificateHold,
                comment: None
            }
        );
        let final_ = revoked_status(&s, &held, RevocationReason::KeyCompromise, None, 20).unwrap();
        assert_eq!(
            final_,
            CertStatus::Revoked {
                at: 10,
                reason: RevocationReason::KeyCompromise,
                comment: None
            }
        );
        assert!(matches!(
            revoked_status(&s, &final_, RevocationReason::Superseded, None, 30),
            Err(RevokeError::AlreadyRevoked(
                _,
                RevocationReason::KeyCompromise
            ))
        ));
        assert!(matches!(
            revoked_status(&s, &held, RevocationReason::CertificateHold, None, 30),
            Err(RevokeError::AlreadyRevoked(
                _,
                RevocationReason::CertificateHold
            ))
        ));
    }
}
