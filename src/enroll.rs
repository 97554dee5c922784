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
use crate::store::{
    AuditEvent, AuditRecord, CertRecord, CertStatus, Issuance, PendingRecord, PendingState, Store,
    StoreError,
};

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
    /// Renewals are accepted only this close to the signer's expiry; `None`: any time.
    pub renewal_window: Option<Duration>,
    /// Every initial request waits for an administrator (RFC 8894 §3.3.3 PENDING).
    pub manual_approval: bool,
    /// How long a request may wait for approval.
    pub pending_ttl: Duration,
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
    /// The CRL source for GetCRL.
    revocation: Option<Arc<crate::revocation::Revocation>>,
}

impl Enroller {
    pub fn new(ca: Arc<Ca>, store: Arc<dyn Store>, config: EnrollConfig) -> Enroller {
        Enroller {
            ca,
            store,
            config,
            revocation: None,
        }
    }

    /// Serve GetCRL from this CRL publisher.
    pub fn with_revocation(mut self, revocation: Arc<crate::revocation::Revocation>) -> Enroller {
        self.revocation = Some(revocation);
        self
    }

    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    pub fn issue_policy(&self) -> &IssuePolicy {
        &self.config.issue
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// RFC 8894 §3.5.2 GetCACaps: only what works. DES is accepted only as a configured
    /// legacy option and never advertised. GetNextCACert is not: there is no rollover CA.
    pub fn capabilities(&self) -> &'static str {
        "POSTPKIOperation\nRenewal\nSHA-1\nSHA-256\nSHA-512\nAES\nDES3\nSCEPStandard\n"
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
            MessageType::PkcsReq => self.pkcs_req(&ctx, &request, false),
            MessageType::RenewalReq => self.pkcs_req(&ctx, &request, true),
            MessageType::GetCert => self.get_cert(&ctx, &request),
            MessageType::GetCrl => self.get_crl(&ctx, &request),
            MessageType::CertPoll => self.cert_poll(&ctx, &request),
            t @ MessageType::UpdateReq => self.refuse(
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

    /// Check the envelope's algorithms and decrypt it (RFC 8894 §3.2.2). `Err(Ok(reply))` is
    /// a refusal to send; `Err(Err(e))` an error.
    fn open(
        &self,
        ctx: &Context,
        request: &SignedRequest,
    ) -> Result<(envelope::EnvelopeInfo, Vec<u8>), Result<Reply, Error>> {
        let content = request
            .content
            .as_deref()
            .ok_or(Err(Error::Decode(DecodeError::NoContent)))?;
        let env = match envelope::inspect(content) {
            Ok(e) => e,
            Err(EnvelopeError::Decode(d)) => return Err(Err(d.into())),
            Err(EnvelopeError::Unsupported(what)) => {
                return Err(self.refuse(ctx, FailInfo::BadAlg, &what, None))
            }
        };
        if env.cipher == ContentCipher::DesCbc && !self.config.legacy_des {
            return Err(self.refuse(
                ctx,
                FailInfo::BadAlg,
                "single DES is refused (RFC 8894 deprecates it); use AES or DES3, \
                 or set legacy_des = true",
                None,
            ));
        }
        if request.signer_public_key.id() != Id::RSA {
            return Err(self.refuse(
                ctx,
                FailInfo::BadAlg,
                "the signer key must be RSA: the reply is encrypted to it",
                None,
            ));
        }
        // Every decrypt failure is the same error: no padding oracle (see envelope).
        let plain = envelope::decrypt(&env.der, self.ca.key(), &self.ca.certificate.x509)
            .map_err(|e| Err(e.into()))?;
        Ok((env, plain))
    }

    /// PKCSReq (19) and RenewalReq (17), RFC 8894 §3.3.1. A PKCSReq signed by a certificate
    /// this CA issued is a renewal too (how Cisco, sscep and jscep renew); a renewal is
    /// authenticated by that certificate, and any challenge it carries is ignored.
    fn pkcs_req(
        &self,
        ctx: &Context,
        request: &SignedRequest,
        renewal_req: bool,
    ) -> Result<Reply, Error> {
        let (env, plain) = match self.open(ctx, request) {
            Ok(o) => o,
            Err(r) => return r,
        };
        // Same error as a failed decrypt: garbage after decryption must look like it.
        let csr = CertificationRequest::parse(&plain).map_err(|_| DecodeError::Decrypt)?;
        let subject = Some(csr.subject.clone());

        let renewal = match self.renewal_signer(ctx, request, &csr, renewal_req)? {
            Ok(r) => r,
            Err(reply) => return Ok(reply),
        };

        let public_key_sha256 = hex::encode(openssl::sha::sha256(&csr.public_key_der));
        let csr_sha256 = hex::encode(openssl::sha::sha256(&csr.der));
        let previous = match self.previous_issuance(ctx, &public_key_sha256, &csr_sha256)? {
            // scepclient renews with the same key, CSR and transactionID it enrolled with:
            // a renewal signed by that very certificate is a new transaction, not a copy.
            Previous::Retransmission(prev)
                if renewal.as_ref().is_some_and(|r| r.serial == prev.serial) =>
            {
                Some(prev.serial)
            }
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

        // RFC 8894 §3.3.3: a repeated PKCSReq for a pending request resumes it.
        if renewal.is_none() {
            if let Some(p) = self
                .store
                .pending_by_transaction(ctx.transaction_id.as_str())?
            {
                if p.public_key_sha256 != public_key_sha256 {
                    return self.refuse(
                        ctx,
                        FailInfo::BadRequest,
                        "this transactionID was used with a different key",
                        subject,
                    );
                }
                return self.pending_reply(ctx, request, &env, p);
            }
        }

        let challenge = match &renewal {
            Some(signer) => ChallengeUse {
                label: format!("renewal of {}", signer.serial),
                burn: None,
                manual: false,
            },
            None => match self.authorize(&csr, ctx.now) {
                Ok(c) => c,
                Err(reason) => return self.refuse(ctx, FailInfo::BadRequest, &reason, subject),
            },
        };
        if let Err(e) = policy::check(&csr) {
            return self.refuse(ctx, FailInfo::BadRequest, &e.to_string(), subject);
        }
        if renewal.is_none() && (self.config.manual_approval || challenge.manual) {
            return self.open_pending(ctx, request, &env, &csr, &challenge, &public_key_sha256);
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
            let signer_der = der::Encode::to_der(&request.signer)
                .map_err(|e| Error::Internal(format!("signer certificate: {e}")))?;
            let record = cert_record(CertFacts {
                cert: &cert,
                serial: &serial,
                csr: &csr,
                transaction_id: ctx.transaction_id.as_str(),
                signer_sha256: Some(hex::encode(openssl::sha::sha256(&signer_der))),
                challenge: &challenge.label,
                requester: &ctx.requester,
                now: ctx.now,
            })?;
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
                resolves_pending: None,
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

    /// Leave a request for an administrator: record it (burning its one-time challenge) and
    /// answer PENDING (RFC 8894 §3.3.3).
    fn open_pending(
        &self,
        ctx: &Context,
        request: &SignedRequest,
        env: &envelope::EnvelopeInfo,
        csr: &CertificationRequest,
        challenge: &ChallengeUse,
        public_key_sha256: &str,
    ) -> Result<Reply, Error> {
        let id = challenge::random_text(12)?;
        let ttl = i64::try_from(self.config.pending_ttl.as_secs()).unwrap_or(i64::MAX);
        let record = PendingRecord {
            id: id.clone(),
            transaction_id: ctx.transaction_id.to_string(),
            csr: csr.der.clone(),
            subject: csr.subject.clone(),
            subject_alt_names: csr
                .subject_alt_names
                .iter()
                .map(ToString::to_string)
                .collect(),
            key: csr.key.to_string(),
            public_key_sha256: public_key_sha256.to_owned(),
            requester: ctx.requester.clone(),
            challenge: challenge.label.clone(),
            created_at: ctx.now.unix_timestamp(),
            expires_at: ctx.now.unix_timestamp().saturating_add(ttl),
            state: PendingState::Pending,
        };
        let audit = AuditRecord {
            at: ctx.now.unix_timestamp(),
            actor: ctx.requester.clone(),
            event: AuditEvent::PendingCreated {
                id: id.clone(),
                subject: csr.subject.clone(),
                transaction_id: ctx.transaction_id.to_string(),
            },
        };
        match self
            .store
            .insert_pending(&record, challenge.burn.as_deref(), &audit)
        {
            Ok(()) => {}
            Err(StoreError::ChallengeUsed(_)) => {
                return self.refuse(
                    ctx,
                    FailInfo::BadRequest,
                    "the challenge password has already been used",
                    Some(csr.subject.clone()),
                )
            }
            Err(StoreError::TransactionChanged(_)) => {
                // A copy of this request got there first: answer as it would be answered.
                if let Some(p) = self
                    .store
                    .pending_by_transaction(ctx.transaction_id.as_str())?
                {
                    return self.pending_reply(ctx, request, env, p);
                }
                return Err(Error::Internal("pending request vanished".into()));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(id = %id, subject = %csr.subject, transaction_id = %ctx.transaction_id,
            "request waits for approval");
        self.pending_cert_rep(ctx)
    }

    fn pending_cert_rep(&self, ctx: &Context) -> Result<Reply, Error> {
        let rep = CertRep {
            transaction_id: ctx.transaction_id.clone(),
            recipient_nonce: ctx.recipient_nonce.clone(),
            digest: ctx.digest,
            body: CertRepBody::Pending,
        };
        Ok(Reply {
            body: rep.encode(&self.responder(), None)?,
            status: PkiStatus::Pending,
            fail_info: None,
            serial: None,
        })
    }

    /// Answer for a pending request in whatever state it is now.
    fn pending_reply(
        &self,
        ctx: &Context,
        request: &SignedRequest,
        env: &envelope::EnvelopeInfo,
        p: PendingRecord,
    ) -> Result<Reply, Error> {
        match p.state {
            PendingState::Pending if ctx.now.unix_timestamp() < p.expires_at => {
                self.pending_cert_rep(ctx)
            }
            PendingState::Pending => self.refuse(
                ctx,
                FailInfo::BadRequest,
                "the request expired before it was approved",
                Some(p.subject),
            ),
            PendingState::Rejected { reason, .. } => self.refuse(
                ctx,
                FailInfo::BadRequest,
                &format!("the request was rejected: {reason}"),
                Some(p.subject),
            ),
            PendingState::Approved { serial, .. } => match self.store.cert(&serial)? {
                Some(cert) => self.success(ctx, request, env, &cert.der, serial),
                None => Err(Error::Internal(format!(
                    "approved certificate {serial} is missing"
                ))),
            },
        }
    }

    /// CertPoll (20, GetCertInitial), RFC 8894 §3.3.3: found by transactionID.
    fn cert_poll(&self, ctx: &Context, request: &SignedRequest) -> Result<Reply, Error> {
        let (env, _issuer_and_subject) = match self.open(ctx, request) {
            Ok(o) => o,
            Err(r) => return r,
        };
        match self
            .store
            .pending_by_transaction(ctx.transaction_id.as_str())?
        {
            Some(p) => self.pending_reply(ctx, request, &env, p),
            None => self.refuse(
                ctx,
                FailInfo::BadCertId,
                "no pending request has this transactionID",
                None,
            ),
        }
    }

    /// Decide whether this request is a renewal (RFC 8894 §3.3.1.2) and check its signer.
    /// `Ok(Ok(None))`: an initial PKCSReq (challenge required). `Ok(Ok(Some(record)))`: a
    /// renewal by that certificate. `Ok(Err(reply))`: refused.
    ///
    /// failInfo: a self-signed or foreign signer on a RenewalReq gets badRequest; a signer we
    /// issued that is unknown to the store, revoked or expired gets badCertId; a subject or
    /// SAN change, or a renewal outside `renewal_window`, gets badRequest.
    fn renewal_signer(
        &self,
        ctx: &Context,
        request: &SignedRequest,
        csr: &CertificationRequest,
        renewal_req: bool,
    ) -> Result<Result<Option<CertRecord>, Reply>, Error> {
        let subject = Some(csr.subject.clone());
        let refuse =
            |fail: FailInfo, why: &str| -> Result<Result<Option<CertRecord>, Reply>, Error> {
                Ok(Err(self.refuse(ctx, fail, why, subject.clone())?))
            };
        let ours = self.issued_by_us(&request.signer);
        if !ours {
            if !renewal_req {
                return Ok(Ok(None));
            }
            let tbs = &request.signer.tbs_certificate;
            return if tbs.issuer == tbs.subject {
                refuse(
                    FailInfo::BadRequest,
                    "a RenewalReq must be signed by a certificate this CA issued, not a \
                     self-signed one",
                )
            } else {
                refuse(
                    FailInfo::BadRequest,
                    "the renewal is signed by a certificate from another CA",
                )
            };
        }
        let serial_bytes = request.signer.tbs_certificate.serial_number.as_bytes();
        let Some(serial) = Serial::from_bytes(serial_bytes) else {
            return refuse(
                FailInfo::BadCertId,
                "the signer's serial is not one of ours",
            );
        };
        let Some(signer) = self.store.cert(&serial)? else {
            return refuse(
                FailInfo::BadCertId,
                "the signer certificate is not in this CA's records",
            );
        };
        if let CertStatus::Revoked { reason, .. } = signer.status {
            return refuse(
                FailInfo::BadCertId,
                &format!("the signer certificate is revoked ({reason})"),
            );
        }
        let now = ctx.now.unix_timestamp();
        if now > signer.not_after {
            return refuse(FailInfo::BadCertId, "the signer certificate has expired");
        }
        if let Some(window) = self.config.renewal_window {
            let opens = signer
                .not_after
                .saturating_sub(i64::try_from(window.as_secs()).unwrap_or(i64::MAX));
            if now < opens {
                return refuse(
                    FailInfo::BadRequest,
                    &format!(
                        "renewal opens {} days before expiry",
                        window.as_secs() / 86_400
                    ),
                );
            }
        }
        // The new certificate names the same subject; SANs may be dropped, never added.
        let signer_subject = der::Encode::to_der(&request.signer.tbs_certificate.subject)
            .map_err(|e| Error::Internal(format!("signer subject: {e}")))?;
        if signer_subject != csr.subject_der {
            return refuse(
                FailInfo::BadRequest,
                "a renewal must keep the subject of the certificate it renews",
            );
        }
        let new_sans: Vec<String> = csr
            .subject_alt_names
            .iter()
            .map(ToString::to_string)
            .collect();
        if let Some(extra) = new_sans
            .iter()
            .find(|s| !signer.subject_alt_names.contains(s))
        {
            return refuse(
                FailInfo::BadRequest,
                &format!("a renewal cannot add the subjectAltName {extra}"),
            );
        }
        Ok(Ok(Some(signer)))
    }

    /// Whether `cert` was issued by this CA: same issuer name and a signature that verifies
    /// with the CA's key.
    fn issued_by_us(&self, cert: &x509_cert::Certificate) -> bool {
        if cert.tbs_certificate.issuer != self.ca.certificate.certificate.tbs_certificate.subject {
            return false;
        }
        let Ok(der_bytes) = der::Encode::to_der(cert) else {
            return false;
        };
        let (Ok(x509), Ok(ca_key)) = (
            openssl::x509::X509::from_der(&der_bytes),
            self.ca.certificate.x509.public_key(),
        ) else {
            return false;
        };
        x509.verify(&ca_key).unwrap_or(false)
    }

    /// Read the IssuerAndSerialNumber of GetCert/GetCRL (RFC 8894 §3.3.4, §3.3.5) and check
    /// the issuer is this CA (both parts matter: sscep sent an RA's issuer).
    fn issuer_and_serial(
        &self,
        ctx: &Context,
        request: &SignedRequest,
    ) -> Result<Result<(envelope::EnvelopeInfo, Serial), Reply>, Error> {
        let (env, plain) = match self.open(ctx, request) {
            Ok(o) => o,
            Err(r) => return r.map(Err),
        };
        let isn = <cms::cert::IssuerAndSerialNumber as der::Decode>::from_der(&plain)
            .map_err(|_| DecodeError::Decrypt)?;
        if isn.issuer != self.ca.certificate.certificate.tbs_certificate.subject {
            return Ok(Err(self.refuse(
                ctx,
                FailInfo::BadCertId,
                "the issuer is not this CA",
                None,
            )?));
        }
        match Serial::from_bytes(isn.serial_number.as_bytes()) {
            Some(serial) => Ok(Ok((env, serial))),
            None => Ok(Err(self.refuse(
                ctx,
                FailInfo::BadCertId,
                "no certificate with that serial",
                None,
            )?)),
        }
    }

    /// GetCert (21): the certificate with that issuer and serial, enveloped to the requester.
    fn get_cert(&self, ctx: &Context, request: &SignedRequest) -> Result<Reply, Error> {
        let (env, serial) = match self.issuer_and_serial(ctx, request)? {
            Ok(x) => x,
            Err(reply) => return Ok(reply),
        };
        match self.store.cert(&serial)? {
            Some(cert) => self.success(ctx, request, &env, &cert.der, serial),
            None => self.refuse(
                ctx,
                FailInfo::BadCertId,
                &format!("no certificate with serial {serial}"),
                None,
            ),
        }
    }

    /// GetCRL (22): the current CRL in a degenerate SignedData (RFC 8894 §3.3.5), enveloped
    /// to the requester. The certificate named must be one this CA issued.
    fn get_crl(&self, ctx: &Context, request: &SignedRequest) -> Result<Reply, Error> {
        let (env, serial) = match self.issuer_and_serial(ctx, request)? {
            Ok(x) => x,
            Err(reply) => return Ok(reply),
        };
        if self.store.cert(&serial)?.is_none() {
            return self.refuse(
                ctx,
                FailInfo::BadCertId,
                &format!("no certificate with serial {serial}"),
                None,
            );
        }
        let crl = self
            .revocation
            .as_ref()
            .and_then(|r| r.current())
            .ok_or_else(|| Error::Internal("no CRL has been published".into()))?;
        let crl = <x509_cert::crl::CertificateList as der::Decode>::from_der(&crl.der)
            .map_err(|e| Error::Internal(format!("re-reading the CRL: {e}")))?;
        let degenerate = message::crls_only(crl)?;
        self.reply_success(ctx, request, &env, degenerate, None)
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
        self.reply_success(ctx, request, env, certs_only, Some(serial))
    }

    /// A SUCCESS CertRep carrying `certs_only` (a degenerate SignedData) in an envelope to
    /// the requester, with the request's cipher and key transport.
    fn reply_success(
        &self,
        ctx: &Context,
        request: &SignedRequest,
        env: &envelope::EnvelopeInfo,
        certs_only: Vec<u8>,
        serial: Option<Serial>,
    ) -> Result<Reply, Error> {
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
            serial,
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
            manual: false,
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
                    manual: record.constraints.manual_approval,
                });
            }
        }
        if let Some(want) = &self.config.challenge.static_sha256 {
            if challenge::digest_eq(&challenge::hash_secret(presented), want) {
                return Ok(ChallengeUse {
                    label: "static".into(),
                    burn: None,
                    manual: false,
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
    /// The one-time challenge asks for manual approval.
    manual: bool,
}

/// What goes into a certificate's store record.
struct CertFacts<'a> {
    cert: &'a openssl::x509::X509,
    serial: &'a Serial,
    csr: &'a CertificationRequest,
    transaction_id: &'a str,
    signer_sha256: Option<String>,
    challenge: &'a str,
    requester: &'a str,
    now: OffsetDateTime,
}

fn cert_record(f: CertFacts<'_>) -> Result<CertRecord, Error> {
    Ok(CertRecord {
        serial: f.serial.clone(),
        der: f.cert.to_der()?,
        subject: f.csr.subject.clone(),
        subject_alt_names: f
            .csr
            .subject_alt_names
            .iter()
            .map(ToString::to_string)
            .collect(),
        not_before: crate::ca::asn1_time_to_unix(f.cert.not_before())?,
        not_after: crate::ca::asn1_time_to_unix(f.cert.not_after())?,
        issued_at: f.now.unix_timestamp(),
        status: CertStatus::Valid,
        transaction_id: Some(f.transaction_id.to_owned()),
        signer_sha256: f.signer_sha256,
        public_key_sha256: hex::encode(openssl::sha::sha256(&f.csr.public_key_der)),
        csr_sha256: hex::encode(openssl::sha::sha256(&f.csr.der)),
        challenge: f.challenge.to_owned(),
        requester: f.requester.to_owned(),
    })
}

/// Approve pending request `id`: issue its certificate (RFC 8894 §3.3.3; the client gets it
/// at its next CertPoll or repeated PKCSReq).
pub fn approve(
    ca: &Ca,
    store: &dyn Store,
    policy: &IssuePolicy,
    id: &str,
    actor: &str,
    now: OffsetDateTime,
) -> Result<CertRecord, String> {
    let p = store
        .pending(id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no pending request {id}"))?;
    if p.state != PendingState::Pending {
        return Err(format!("request {id} is no longer pending"));
    }
    if now.unix_timestamp() >= p.expires_at {
        return Err(format!("request {id} has expired"));
    }
    let csr = CertificationRequest::parse(&p.csr).map_err(|e| e.to_string())?;
    let label = format!("{} (approved by {actor})", p.challenge);
    for _ in 0..3 {
        let serial = Serial::random().map_err(|e| e.to_string())?;
        let cert = ca
            .issue(&csr, &serial, policy, now)
            .map_err(|e| e.to_string())?;
        let record = cert_record(CertFacts {
            cert: &cert,
            serial: &serial,
            csr: &csr,
            transaction_id: &p.transaction_id,
            signer_sha256: None,
            challenge: &label,
            requester: &p.requester,
            now,
        })
        .map_err(|e| e.to_string())?;
        let previous = store
            .cert_by_transaction(&p.transaction_id)
            .map_err(|e| e.to_string())?
            .map(|c| c.serial);
        let issuance = Issuance {
            audit: AuditRecord {
                at: now.unix_timestamp(),
                actor: actor.to_owned(),
                event: AuditEvent::Issued {
                    serial: serial.clone(),
                    subject: csr.subject.clone(),
                    transaction_id: Some(p.transaction_id.clone()),
                    challenge: label.clone(),
                },
            },
            cert: record.clone(),
            burn_challenge: None,
            transaction_was: previous,
            resolves_pending: Some(id.to_owned()),
        };
        match store.record_issuance(&issuance) {
            Ok(()) => return Ok(record),
            Err(StoreError::SerialTaken(_)) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("could not allocate a serial".into())
}

/// Make a key pair on the server and issue a certificate for it (the PKCS#12 route for
/// devices that cannot run SCEP). The certificate is recorded like any other; the private
/// key is returned to the caller and never stored.
pub fn issue_identity(
    ca: &Ca,
    store: &dyn Store,
    policy: &IssuePolicy,
    subject: &str,
    actor: &str,
    now: OffsetDateTime,
) -> Result<
    (
        openssl::pkey::PKey<openssl::pkey::Private>,
        openssl::x509::X509,
    ),
    String,
> {
    let key = crate::scep::builder::rsa_key(2048).map_err(|e| e.to_string())?;
    let csr_der = crate::scep::builder::csr(&crate::scep::builder::CsrParams {
        subject,
        challenge: None,
        dns_names: &[],
        emails: &[],
        key: &key,
    })
    .map_err(|e| e.to_string())?;
    let csr = CertificationRequest::parse(&csr_der).map_err(|e| e.to_string())?;
    policy::check(&csr).map_err(|e| e.to_string())?;
    let label = format!("server-side key for {actor}");
    for _ in 0..3 {
        let serial = Serial::random().map_err(|e| e.to_string())?;
        let cert = ca
            .issue(&csr, &serial, policy, now)
            .map_err(|e| e.to_string())?;
        let mut record = cert_record(CertFacts {
            cert: &cert,
            serial: &serial,
            csr: &csr,
            transaction_id: "",
            signer_sha256: None,
            challenge: &label,
            requester: actor,
            now,
        })
        .map_err(|e| e.to_string())?;
        record.transaction_id = None;
        let issuance = Issuance {
            audit: AuditRecord {
                at: now.unix_timestamp(),
                actor: actor.to_owned(),
                event: AuditEvent::Issued {
                    serial: serial.clone(),
                    subject: csr.subject.clone(),
                    transaction_id: None,
                    challenge: label.clone(),
                },
            },
            cert: record,
            burn_challenge: None,
            transaction_was: None,
            resolves_pending: None,
        };
        match store.record_issuance(&issuance) {
            Ok(()) => return Ok((key, cert)),
            Err(StoreError::SerialTaken(_)) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("could not allocate a serial".into())
}

/// Reject pending request `id`; the client gets FAILURE at its next poll.
pub fn reject(
    store: &dyn Store,
    id: &str,
    reason: &str,
    actor: &str,
    now: OffsetDateTime,
) -> Result<PendingRecord, String> {
    let audit = AuditRecord {
        at: now.unix_timestamp(),
        actor: actor.to_owned(),
        event: AuditEvent::RequestRejected {
            id: id.to_owned(),
            reason: reason.to_owned(),
        },
    };
    store
        .resolve_pending(
            id,
            &PendingState::Rejected {
                reason: reason.to_owned(),
                at: now.unix_timestamp(),
                actor: actor.to_owned(),
            },
            &audit,
        )
        .map_err(|e| e.to_string())
}
