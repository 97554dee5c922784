//! CertRep (RFC 8894 §3.3.2): the CA's signed reply to every PKIOperation.
//!
//! Signed attributes, DER-sorted, one value each: transactionID (copied), messageType 3,
//! pkiStatus, a fresh 16-byte senderNonce, recipientNonce (the request's senderNonce),
//! failInfo and failInfoText iff FAILURE, contentType and messageDigest. On SUCCESS the
//! content is an EnvelopedData (to the requester's signer certificate, with the requester's
//! cipher and key transport) around a certs-only SignedData holding only the issued
//! certificate (§3.4). PENDING and FAILURE carry no envelope (§3.3.2).

use openssl::pkey::{PKeyRef, Private, Public};
use x509_cert::Certificate;

use super::attributes::{octets_attr, printable_attr, utf8_attr};
use super::envelope::{self, ContentCipher, KeyTransport};
use super::message::{self, SignError, SignParams};
use super::{oid, Digest, FailInfo, MessageType, Nonce, PkiStatus, TransactionId};

/// What a CertRep says.
#[derive(Clone, Debug)]
pub enum CertRepBody {
    /// The issued certificate (or, later, a CRL) for the requester.
    Success {
        /// The DER of the certs-only SignedData to put in the envelope.
        certs_only: Vec<u8>,
        cipher: ContentCipher,
        key_transport: KeyTransport,
    },
    Failure {
        fail_info: FailInfo,
        /// RFC 8894 §3.2.1.4.1 failInfoText: a short human-readable reason.
        text: Option<String>,
    },
    Pending,
}

/// A CertRep to be signed.
#[derive(Clone, Debug)]
pub struct CertRep {
    pub transaction_id: TransactionId,
    /// The request's senderNonce; absent only if the request had none.
    pub recipient_nonce: Option<Nonce>,
    pub digest: Digest,
    pub body: CertRepBody,
}

/// The requester, to whom a SUCCESS is encrypted.
pub struct Recipient<'a> {
    pub certificate: &'a Certificate,
    pub public_key: &'a PKeyRef<Public>,
}

/// The CA that signs the reply.
pub struct Responder<'a> {
    pub certificate: &'a Certificate,
    pub key: &'a PKeyRef<Private>,
}

impl CertRep {
    pub fn status(&self) -> PkiStatus {
        match self.body {
            CertRepBody::Success { .. } => PkiStatus::Success,
            CertRepBody::Failure { .. } => PkiStatus::Failure,
            CertRepBody::Pending => PkiStatus::Pending,
        }
    }

    /// Sign (and for SUCCESS, encrypt) the reply.
    pub fn encode(
        &self,
        responder: &Responder<'_>,
        recipient: Option<&Recipient<'_>>,
    ) -> Result<Vec<u8>, SignError> {
        let mut attributes = vec![
            printable_attr(oid::TRANSACTION_ID, self.transaction_id.as_str())?,
            printable_attr(
                oid::MESSAGE_TYPE,
                &MessageType::CertRep.number().to_string(),
            )?,
            printable_attr(oid::PKI_STATUS, self.status().as_str())?,
            octets_attr(oid::SENDER_NONCE, Nonce::random()?.as_bytes())?,
        ];
        if let Some(n) = &self.recipient_nonce {
            attributes.push(octets_attr(oid::RECIPIENT_NONCE, n.as_bytes())?);
        }
        let content = match &self.body {
            CertRepBody::Success {
                certs_only,
                cipher,
                key_transport,
            } => {
                let r = recipient.ok_or_else(|| {
                    SignError::Unsupported("a SUCCESS needs a recipient to encrypt to".into())
                })?;
                Some(envelope::encrypt(
                    certs_only,
                    r.certificate,
                    r.public_key,
                    *cipher,
                    key_transport,
                )?)
            }
            CertRepBody::Failure { fail_info, text } => {
                attributes.push(printable_attr(oid::FAIL_INFO, fail_info.as_str())?);
                if let Some(t) = text {
                    attributes.push(utf8_attr(oid::FAIL_INFO_TEXT, t)?);
                }
                None
            }
            CertRepBody::Pending => None,
        };
        message::sign(SignParams {
            content: content.as_deref(),
            attributes,
            digest: self.digest,
            signer: responder.certificate,
            key: responder.key,
            certificates: vec![responder.certificate.clone()],
        })
    }
}
