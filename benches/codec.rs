//! Codec and issuing benchmarks: decoding and verifying a PKCSReq, the BER pass, signing a
//! certificate from a CSR, and one whole PKIOperation through `Enroller` with a MemoryStore.
//!
//! Run with `cargo bench --bench codec` (add `-- --quick` for a short run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use time::OffsetDateTime;

use certdrop::ca::{Ca, CaParams, IssuePolicy, Serial};
use certdrop::enroll::{ChallengePolicy, EnrollConfig, Enroller};
use certdrop::scep::builder::{self, CsrParams, RequestParams, StringKind};
use certdrop::scep::csr::CertificationRequest;
use certdrop::scep::{
    ber, ContentCipher, Digest, KeyTransport, MessageType, Nonce, PkiMessage, PkiStatus,
    TransactionId,
};
use certdrop::store::memory::MemoryStore;

const CHALLENGE: &str = "bench-static-challenge";

fn read(relative: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A 2048-bit CA, as the integration tests use.
fn ca() -> Arc<Ca> {
    let params = CaParams {
        subject: "CN=certdrop bench CA,O=certdrop benches".into(),
        key_bits: 2048,
        validity_days: 3650,
    };
    Arc::new(Ca::create(&params, OffsetDateTime::now_utc()).unwrap())
}

/// A client: one RSA-2048 key that signs the request and is certified by the CSR.
struct Client {
    key: PKey<Private>,
    signer: X509,
    csr: Vec<u8>,
}

impl Client {
    fn new() -> Client {
        let key = builder::rsa_key(2048).unwrap();
        let signer = builder::self_signed(&key, "SCEP SIGNER").unwrap();
        let csr = builder::csr(&CsrParams {
            subject: "CN=bench-device,O=certdrop benches",
            challenge: Some((CHALLENGE, StringKind::Printable)),
            dns_names: &["bench-device.example"],
            emails: &[],
            key: &key,
        })
        .unwrap();
        Client { key, signer, csr }
    }

    /// A PKCSReq (AES-256, PKCS#1 key transport, SHA-256) with this transactionID.
    fn pkcs_req(&self, ca: &X509, transaction_id: &TransactionId) -> Vec<u8> {
        builder::request(&RequestParams {
            message_type: MessageType::PkcsReq,
            transaction_id,
            sender_nonce: &Nonce::random().unwrap(),
            message_data: &self.csr,
            recipient: ca,
            cipher: ContentCipher::Aes256Cbc,
            key_transport: KeyTransport::pkcs1(),
            digest: Digest::Sha256,
            signer: &self.signer,
            signer_key: &self.key,
        })
        .unwrap()
    }
}

fn decode(c: &mut Criterion) {
    // The real scepclient capture: SHA-1, single DES, definite lengths.
    let fixture = read("tests/fixtures/scep/scepclient-pkcsreq-post.der");
    c.bench_function("decode_verify/scepclient_fixture", |b| {
        b.iter(|| {
            let m = PkiMessage::decode(black_box(&fixture)).unwrap();
            m.verify().unwrap()
        })
    });

    // The same capture rewritten as BER (indefinite lengths, OCTET STRINGs in 64-byte chunks)
    // by the rewrite of tests/it/support.rs `der_to_ber`; checked in with the fuzz corpus.
    let ber_message = read("fuzz/corpus/pki_message/scepclient-pkcsreq-post.ber");
    c.bench_function("ber_to_der/scepclient_fixture", |b| {
        b.iter(|| ber::to_der(black_box(&ber_message)).unwrap())
    });
    c.bench_function("decode_verify/scepclient_fixture_ber", |b| {
        b.iter(|| {
            let m = PkiMessage::decode(black_box(&ber_message)).unwrap();
            m.verify().unwrap()
        })
    });
}

fn issue(c: &mut Criterion) {
    let ca = ca();
    let client = Client::new();
    let csr = CertificationRequest::parse(&client.csr).unwrap();
    let policy = IssuePolicy::default();
    let now = OffsetDateTime::now_utc();
    let serial = Serial::random().unwrap();
    c.bench_function("ca_issue/rsa2048_ca", |b| {
        b.iter(|| ca.issue(black_box(&csr), &serial, &policy, now).unwrap())
    });
}

fn pki_operation(c: &mut Criterion) {
    let ca = ca();
    let store = Arc::new(MemoryStore::default());
    let config = EnrollConfig {
        challenge: ChallengePolicy {
            static_sha256: Some(certdrop::ca::challenge::hash_secret(CHALLENGE)),
            required: true,
        },
        legacy_des: false,
        issue: IssuePolicy::default(),
        retransmit_window: Duration::from_secs(24 * 3600),
        renewal_window: None,
        manual_approval: false,
        pending_ttl: Duration::from_secs(7 * 86_400),
    };
    let enroller = Enroller::new(ca.clone(), store, config);
    let ca_x509 = ca.certificate.x509.clone();
    let client = Client::new();
    let now = OffsetDateTime::now_utc();

    // New issuance: the (untimed) setup builds a request with a fresh transactionID for every
    // iteration, so each timed call decrypts, checks the challenge, issues, stores and replies;
    // none is taken for a retransmission. The MemoryStore grows by one record per iteration.
    let mut counter = 0u64;
    c.bench_function("pki_operation/new_issuance", |b| {
        b.iter_batched(
            || {
                counter += 1;
                let id = TransactionId::new(format!("bench-{counter}")).unwrap();
                client.pkcs_req(&ca_x509, &id)
            },
            |request| {
                let reply = enroller.pki_operation(&request, "bench", now).unwrap();
                assert_eq!(reply.status, PkiStatus::Success);
                reply
            },
            BatchSize::SmallInput,
        )
    });

    // Retransmission: one request sent again and again. After the first call every iteration
    // takes the retransmission path (same transactionID, same CSR): the stored certificate is
    // returned in a new CertRep, nothing is issued.
    let id = TransactionId::new("bench-retransmitted").unwrap();
    let request = client.pkcs_req(&ca_x509, &id);
    let first = enroller.pki_operation(&request, "bench", now).unwrap();
    assert_eq!(first.status, PkiStatus::Success);
    c.bench_function("pki_operation/retransmission", |b| {
        b.iter(|| {
            enroller
                .pki_operation(black_box(&request), "bench", now)
                .unwrap()
        })
    });
}

criterion_group!(benches, decode, issue, pki_operation);
criterion_main!(benches);
