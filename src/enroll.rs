//! One PKIOperation from bytes to bytes: decode -> verify -> authorize -> policy -> issue ->
//! store -> CertRep (RFC 8894 §3.3).
//!
//! Three outcomes, as the HTTP layer maps them:
//! - cannot decode or decrypt: [`Error::Decode`], HTTP 400 with a short reason;
//! - decoded but refused: `Ok` with a signed CertRep FAILURE (failInfo + failInfoText);
//! - our fault: [`Error::Internal`], HTTP 500 with generic text, details in the log.

use std::sync::Arc;
use std::time::Duration;

use der::Decode;
use openssl::pkey::Id;
use time::OffsetDateTime;

use crate::ca::challenge;
use crate::ca::policy::{self, IssueError};
use crate::ca::{Ca, IssuePolicy, Serial};
use crate::scep::certrep::{Recipient, Responder};
use crate::scep::csr::{CertificationRequest, ChallengePassword};
use crate::scep::envelope::{self, EnvelopeError};
use crate::scep::message::{self, SignError};
use crate::scep::{
    CertRep, CertRepBody, ContentCipher, DecodeError, Digest, FailInfo, MessageType, Nonce,
    PkiMessage, PkiStatus, SignedRequest, TransactionId,
};
use crate::store::{AuditEvent, AuditRecord, CertRecord, CertStatus, Issuance, Store, StoreError};

/// Errors that are not a SCEP answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<SignError> for Error {
    fn from(e: SignError) -> Self {
        Error::Internal(format!("building the reply: {e}"))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Internal(format!("store: {e}"))
    }
}

impl From<openssl::error::ErrorStack> for Error {
    fn from(e: openssl::error::ErrorStack) -> Self {
        Error::Internal(format!("crypto: {e}"))
    }
}

/// How challenge passwords are checked.
#[derive(Clone, Default)]
pub struct ChallengePolicy {
    /// SHA-256 of the static challenge from the configuration, if any.
    pub static_sha256: Option<[u8; 32]>,
    /// When false, requests without a (valid) challenge are accepted too.
    pub required: bool,
}

impl std::fmt::Debug for ChallengePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengePolicy")
            .field("static", &self.static_sha256.map(|_| "<redacted>"))
            .field("required", &self.required)
            .finish()
    }
}

/// Everything [`Enroller`] needs besides the CA and the store.
#[derive(Clone, Debug)]
pub struct EnrollConfig {
    pub challenge: ChallengePolicy,
    /// Accept single DES (RFC 8894 §3.5.2 deprecates it; old routers and scepclient 2.1 send it).
    pub legacy_des: bool,
    pub issue: IssuePolicy,
    /// A retransmission within this window gets the same certificate back.
    pub retransmit_window: Duration,
}

/// The answer to a PKIOperation that decoded.
#[derive(Debug)]
pub struct Reply {
    pub body: Vec<u8>,
    pub status: PkiStatus,
    pub fail_info: Option<FailInfo>,
    pub serial: Option<Serial>,
}

/// What the request asked, for building the reply.
struct Context {
    transaction_id: TransactionId,
    recipient_nonce: Option<Nonce>,
    digest: Digest,
    requester: String,
    now: OffsetDateTime,
}

pub struct Enroller {
    ca: Arc<Ca>,
    store: Arc<dyn Store>,
    config: EnrollConfig,
}

impl Enroller {
    pub fn new(ca: Arc<Ca>, store: Arc<dyn Store>, config: EnrollConfig) -> Enroller {
        Enroller { ca, store, config }
    }

    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// RFC 8894 §3.5.2 GetCACaps: only what works. Renewal is not advertised until it is
    /// implemented; DES is accepted only as a configured legacy option and never advertised.
    pub fn capabilities(&self) -> &'static str {
        "POSTPKIOperation\nSHA-1\nSHA-256\nSHA-512\nAES\nDES3\nSCEPStandard\n"
    }

    /// Handle one PKIOperation message (the POST body, or the decoded GET `message`).
    pub fn pki_operation(
        &self,
        body: &[u8],
        requester: &str,
        now: OffsetDateTime,
    ) -> Result<Reply, Error> {
        let message = PkiMessage::decode(body)?;
        let ctx = Context {
            transaction_id: message.attributes.transaction_id.clone(),
            recipient_nonce: message.attributes.sender_nonce.clone(),
            digest: message.digest,
            requester: requester.to_owned(),
            now,
        };
        let request = match message.verify() {
            Ok(r) => r,
            Err(u) => return self.refuse(&ctx, u.fail_info, &u.reason, None),
        };
        match request.attributes.message_type {
            MessageType::PkcsReq => self.pkcs_req(&ctx, &request),
            t @ (MessageType::RenewalReq
            | MessageType::UpdateReq
            | MessageType::CertPoll
            | MessageType::GetCert
            | MessageType::GetCrl) => self.refuse(
                &ctx,
                FailInfo::BadRequest,
                &format!("{t} is not supported by this server"),
                None,
            ),
            t => self.refuse(
                &ctx,
                FailInfo::BadRequest,
                &format!("messageType {t} is not a request"),
                None,
            ),
        }
    }

    fn pkcs_req(&self, ctx: &Context, request: &SignedRequest) -> Result<Reply, Error> {
        let content = request.content.as_deref().ok_or(DecodeError::NoContent)?;
        let env = match envelope::inspect(content) {
            Ok(e) => e,
            Err(EnvelopeError::Decode(d)) => return Err(d.into()),
            Err(EnvelopeError::Unsupported(what)) => {
                return self.refuse(ctx, FailInfo::BadAlg, &what, None)
            }
        };
        if env.cipher == ContentCipher::DesCbc && !self.config.legacy_des {
            return self.refuse(
                ctx,
                FailInfo::BadAlg,
                "single DES is refused (RFC 8894 deprecates it); use AES or DES3, \
                 or set legacy_des = true",
                None,
            );
        }
        if request.signer_public_key.id() != Id::RSA {
            return self.refuse(
                ctx,
                FailInfo::BadAlg,
                "the signer key must be RSA: the reply is encrypted to it",
                None,
            );
        }

        // Every decrypt or parse failure is the same error: no padding oracle (see envelope).
        let plain = envelope::decrypt(&env.der, self.ca.key(), &self.ca.certificate.x509)?;
        let csr = CertificationRequest::parse(&plain).map_err(|_| DecodeError::Decrypt)?;
        let subject = Some(csr.subject.clone());

        let public_key_sha256 = hex::encode(openssl::sha::sha256(&csr.public_key_der));
        let csr_sha256 = hex::encode(openssl::sha::sha256(&csr.der));
        let previous = match self.previous_issuance(ctx, &public_key_sha256, &csr_sha256)? {
            Previous::Retransmission(prev) => {
                return self.retransmission(ctx, request, &env, *prev)
            }
            Previous::OtherKey => {
                return self.refuse(
                    ctx,
                    FailInfo::BadRequest,
                    "this transactionID was used with a different key",
                    subject,
                )
            }
            Previous::NewTransaction(serial) => serial,
        };

        let challenge = match self.authorize(&csr, ctx.now) {
            Ok(c) => c,
            Err(reason) => return self.refuse(ctx, FailInfo::BadRequest, &reason, subject),
        };
        if let Err(e) = policy::check(&csr) {
            return self.refuse(ctx, FailInfo::BadRequest, &e.to_string(), subject);
        }

        let mut attempts = 0;
        let (serial, cert_der) = loop {
            attempts += 1;
            let serial = Serial::random()?;
            let cert = match self.ca.issue(&csr, &serial, &self.config.issue, ctx.now) {
                Ok(c) => c,
                Err(IssueError::Policy(e)) => {
                    return self.refuse(ctx, FailInfo::BadRequest, &e.to_string(), subject)
                }
                Err(IssueError::Crypto(e)) => return Err(e.into()),
                Err(IssueError::Encoding(e)) => return Err(Error::Internal(e)),
            };
            let der_bytes = cert.to_der()?;
            let record = CertRecord {
                serial: serial.clone(),
                der: der_bytes.clone(),
                subject: csr.subject.clone(),
                subject_alt_names: csr
                    .subject_alt_names
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                not_before: crate::ca::asn1_time_to_unix(cert.not_before())?,
                not_after: crate::ca::asn1_time_to_unix(cert.not_after())?,
                issued_at: ctx.now.unix_timestamp(),
                status: CertStatus::Valid,
                transaction_id: Some(ctx.transaction_id.to_string()),
                signer_sha256: Some(hex::encode(openssl::sha::sha256(
                    &der::Encode::to_der(&request.signer)
                        .map_err(|e| Error::Internal(format!("signer certificate: {e}")))?,
                ))),
                public_key_sha256: public_key_sha256.clone(),
                csr_sha256: csr_sha256.clone(),
                challenge: challenge.label.clone(),
                requester: ctx.requester.clone(),
            };
            let issuance = Issuance {
                audit: AuditRecord {
                    at: ctx.now.unix_timestamp(),
                    actor: ctx.requester.clone(),
                    event: AuditEvent::Issued {
                        serial: serial.clone(),
                        subject: csr.subject.clone(),
                        transaction_id: Some(ctx.transaction_id.to_string()),
                        challenge: challenge.label.clone(),
                    },
                },
                cert: record,
                burn_challenge: challenge.burn.clone(),
                transaction_was: previous.clone(),
            };
            match self.store.record_issuance(&issuance) {
                Ok(()) => break (serial, der_bytes),
                Err(StoreError::SerialTaken(_)) if attempts < 3 => continue,
                Err(StoreError::ChallengeUsed(_) | StoreError::TransactionChanged(_)) => {
                    // A concurrent request won the race: if it was this same request
                    // retransmitted, answer with its certificate, as a later retransmission
                    // would get.
                    if let Previous::Retransmission(prev) =
                        self.previous_issuance(ctx, &public_key_sha256, &csr_sha256)?
                    {
                        return self.retransmission(ctx, request, &env, *prev);
                    }
                    return self.refuse(
                        ctx,
                        FailInfo::BadRequest,
                        "the challenge password has already been used",
                        subject,
                    );
                }
                Err(e) => {
                    // RFC 8894 gives no "try later" failInfo; a FAILURE lets the client retry
                    // cleanly, and nothing half-issued is left behind.
                    tracing::error!(error = %e, transaction_id = %ctx.transaction_id,
                        "could not store the issued certificate");
                    return self.refuse(
                        ctx,
                        FailInfo::BadRequest,
                        "internal error: the certificate could not be recorded; retry later",
                        subject,
                    );
                }
            }
        };
        tracing::info!(
            serial = %serial,
            subject = %csr.subject,
            transaction_id = %ctx.transaction_id,
            requester = %ctx.requester,
            challenge = %challenge.label,
            cipher = env.cipher.name(),
            key_transport = env.key_transport.name(),
            "issued certificate"
        );
        self.success(ctx, request, &env, &cert_der, serial)
    }

    /// What this transactionID was used for before (RFC 8894 §3.2.1.1: one transaction, one
    /// certificate). A retransmission is the same CSR (so the same key) within the window,
    /// for a certificate that is still valid; anything else with the same key is a new
    /// transaction, and another key is refused.
    fn previous_issuance(
        &self,
        ctx: &Context,
        public_key_sha256: &str,
        csr_sha256: &str,
    ) -> Result<Previous, Error> {
        let Some(prev) = self
            .store
            .cert_by_transaction(ctx.transaction_id.as_str())?
        else {
            return Ok(Previous::NewTransaction(None));
        };
        if prev.public_key_sha256 != public_key_sha256 {
            return Ok(Previous::OtherKey);
        }
        let age = ctx.now.unix_timestamp().saturating_sub(prev.issued_at);
        let in_window = u64::try_from(age)
            .map(|a| a <= self.config.retransmit_window.as_secs())
            .unwrap_or(false);
        if prev.csr_sha256 == csr_sha256 && in_window && prev.status == CertStatus::Valid {
            return Ok(Previous::Retransmission(Box::new(prev)));
        }
        Ok(Previous::NewTransaction(Some(prev.serial)))
    }

    fn retransmission(
        &self,
        ctx: &Context,
        request: &SignedRequest,
        env: &envelope::EnvelopeInfo,
        prev: CertRecord,
    ) -> Result<Reply, Error> {
        tracing::info!(serial = %prev.serial, transaction_id = %ctx.transaction_id,
            "retransmitted request: returning the certificate issued before");
        self.audit(AuditRecord {
            at: ctx.now.unix_timestamp(),
            actor: ctx.requester.clone(),
            event: AuditEvent::Reissued {
                serial: prev.serial.clone(),
                transaction_id: ctx.transaction_id.to_string(),
            },
        });
        self.success(ctx, request, env, &prev.der, prev.serial)
    }

    fn success(
        &self,
        ctx: &Context,
        request: &SignedRequest,
        env: &envelope::EnvelopeInfo,
        cert_der: &[u8],
        serial: Serial,
    ) -> Result<Reply, Error> {
        let issued = x509_cert::Certificate::from_der(cert_der)
            .map_err(|e| Error::Internal(format!("re-reading the issued certificate: {e}")))?;
        let certs_only = message::certs_only(&[issued])?;
        let rep = CertRep {
            transaction_id: ctx.transaction_id.clone(),
            recipient_nonce: ctx.recipient_nonce.clone(),
            digest: ctx.digest,
            body: CertRepBody::Success {
                certs_only,
                cipher: env.cipher,
                key_transport: env.key_transport.clone(),
            },
        };
        let body = rep.encode(
            &self.responder(),
            Some(&Recipient {
                certificate: &request.signer,
                public_key: &request.signer_public_key,
            }),
        )?;
        Ok(Reply {
            body,
            status: PkiStatus::Success,
            fail_info: None,
            serial: Some(serial),
        })
    }

    fn responder(&self) -> Responder<'_> {
        Responder {
            certificate: &self.ca.certificate.certificate,
            key: self.ca.key(),
        }
    }

    /// A signed FAILURE, with an audit record and a log line saying why.
    fn refuse(
        &self,
        ctx: &Context,
        fail_info: FailInfo,
        reason: &str,
        subject: Option<String>,
    ) -> Result<Reply, Error> {
        tracing::warn!(
            transaction_id = %ctx.transaction_id,
            requester = %ctx.requester,
            fail_info = %fail_info,
            reason,
            "refused PKIOperation"
        );
        self.audit(AuditRecord {
            at: ctx.now.unix_timestamp(),
            actor: ctx.requester.clone(),
            event: AuditEvent::Refused {
                reason: reason.to_owned(),
                fail_info: fail_info.name().to_owned(),
                transaction_id: Some(ctx.transaction_id.to_string()),
                subject,
            },
        });
        let rep = CertRep {
            transaction_id: ctx.transaction_id.clone(),
            recipient_nonce: ctx.recipient_nonce.clone(),
            digest: ctx.digest,
            body: CertRepBody::Failure {
                fail_info,
                text: Some(reason.to_owned()),
            },
        };
        Ok(Reply {
            body: rep.encode(&self.responder(), None)?,
            status: PkiStatus::Failure,
            fail_info: Some(fail_info),
            serial: None,
        })
    }

    fn audit(&self, record: AuditRecord) {
        if let Err(e) = self.store.append_audit(&record) {
            tracing::error!(error = %e, "could not append to the audit log");
        }
    }

    /// Check the challenge password (RFC 8894 §2.3). A configured challenge is mandatory;
    /// only `require_challenge = false` lets a request through without one.
    fn authorize(
        &self,
        csr: &CertificationRequest,
        now: OffsetDateTime,
    ) -> Result<ChallengeUse, String> {
        let presented = match &csr.challenge_password {
            ChallengePassword::Malformed(why) => return Err((*why).to_owned()),
            ChallengePassword::Absent => None,
            ChallengePassword::Present(p) => Some(p.as_str()),
        };
        let open = || ChallengeUse {
            label: "none".into(),
            burn: None,
        };
        let Some(presented) = presented else {
            return if self.config.challenge.required {
                Err("challenge password missing".into())
            } else {
                Ok(open())
            };
        };
        if let Some((id, secret)) = challenge::split(presented) {
            let record = self
                .store
                .challenge(id)
                .map_err(|e| format!("internal error reading challenges: {e}"))?;
            if let Some(record) = record {
                if !challenge::digest_eq(&challenge::hash_secret(secret), &record.secret_sha256) {
                    return Err("wrong challenge password".into());
                }
                if record.used.is_some() {
                    return Err("the challenge password has already been used".into());
                }
                if now.unix_timestamp() >= record.expires_at {
                    return Err("the challenge password has expired".into());
                }
                record.constraints.check(csr)?;
                return Ok(ChallengeUse {
                    label: record.id.clone(),
                    burn: Some(record.id),
                });
            }
        }
        if let Some(want) = &self.config.challenge.static_sha256 {
            if challenge::digest_eq(&challenge::hash_secret(presented), want) {
                return Ok(ChallengeUse {
                    label: "static".into(),
                    burn: None,
                });
            }
        }
        if self.config.challenge.required {
            Err("wrong challenge password".into())
        } else {
            Ok(open())
        }
    }
}

/// What a transactionID was used for before this request.
enum Previous {
    /// Nothing, or a certificate (this serial) that this request may supersede.
    NewTransaction(Option<Serial>),
    Retransmission(Box<CertRecord>),
    OtherKey,
}

/// Which challenge authorized a request, and whether to burn it on issuance.
struct ChallengeUse {
    label: String,
    burn: Option<String>,
}
