//! CRL building benchmarks: encoding and signing a full CRL of 10,000 and 100,000 revoked
//! certificates with an RSA-2048 CA. Entries are built beforehand; only `Ca::crl` is timed.
//!
//! Run with `cargo bench --bench crl` (add `-- --quick` for a short run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use time::{Duration, OffsetDateTime};

use certdrop::ca::crl::{RevocationReason, RevokedEntry};
use certdrop::ca::{Ca, CaParams, Serial};

fn ca(now: OffsetDateTime) -> Ca {
    let params = CaParams {
        subject: "CN=certdrop bench CA,O=certdrop benches".into(),
        key_bits: 2048,
        validity_days: 3650,
    };
    Ca::create(&params, now).unwrap()
}

/// `n` entries with random serials, cycling through every reason (so one in seven has no
/// reasonCode), revoked over the past `n` seconds.
fn entries(n: usize, now: OffsetDateTime) -> Vec<RevokedEntry> {
    let reasons = RevocationReason::ALL;
    (0..n)
        .map(|i| RevokedEntry {
            serial: Serial::random().unwrap(),
            revoked_at: now.unix_timestamp() - i64::try_from(i).unwrap(),
            reason: reasons[i % reasons.len()],
        })
        .collect()
}

fn build(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let ca = ca(now);
    let mut group = c.benchmark_group("crl_build");
    group.sample_size(10);
    for n in [10_000, 100_000] {
        let entries = entries(n, now);
        group.bench_with_input(BenchmarkId::from_parameter(n), &entries, |b, entries| {
            b.iter(|| {
                ca.crl(black_box(entries), 1, now, now + Duration::days(7))
                    .unwrap()
            })
        });
    }
    group.finish();
}

/// The whole publishing path a revocation triggers: read the revoked index from the store,
/// take a CRL number, build and sign. 100,000 revoked certificates in a MemoryStore.
fn publish(c: &mut Criterion) {
    use certdrop::revocation::Revocation;
    use certdrop::store::memory::MemoryStore;
    use certdrop::store::{AuditEvent, AuditRecord, CertRecord, CertStatus, Issuance, Store};
    let now = OffsetDateTime::now_utc();
    let store = std::sync::Arc::new(MemoryStore::default());
    let audit = AuditRecord {
        at: 0,
        actor: "bench".into(),
        event: AuditEvent::Unheld {
            serial: Serial::from_bytes(&[1]).unwrap(),
            subject: String::new(),
        },
    };
    for e in entries(100_000, now) {
        let cert = CertRecord {
            serial: e.serial.clone(),
            der: vec![0x30, 0x00],
            subject: "CN=bench".into(),
            subject_alt_names: vec![],
            not_before: 0,
            not_after: now.unix_timestamp() + 86_400,
            issued_at: 0,
            status: CertStatus::Valid,
            transaction_id: None,
            signer_sha256: None,
            public_key_sha256: String::new(),
            csr_sha256: String::new(),
            challenge: "static".into(),
            requester: "bench".into(),
        };
        store
            .record_issuance(&Issuance {
                cert,
                burn_challenge: None,
                transaction_was: None,
                resolves_pending: None,
                audit: audit.clone(),
            })
            .unwrap();
        let revoked = CertStatus::Revoked {
            at: e.revoked_at,
            reason: e.reason,
            comment: None,
        };
        store
            .update_status(&e.serial, &CertStatus::Valid, &revoked, &audit)
            .unwrap();
    }
    let r = Revocation::new(
        std::sync::Arc::new(ca(now)),
        store,
        std::time::Duration::from_secs(7 * 86_400),
    );
    let mut group = c.benchmark_group("crl_publish");
    group.sample_size(10);
    group.bench_function("memory_store_100000_revoked", |b| {
        b.iter(|| black_box(r.publish(now).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, build, publish);
criterion_main!(benches);
