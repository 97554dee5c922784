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

criterion_group!(benches, build);
criterion_main!(benches);
