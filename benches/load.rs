//! SCEP enrollment load test (a `harness = false` bench target; std + the crate's builder).
//!
//! ```text
//! cargo bench --bench load -- --url http://127.0.0.1:8080/scep --challenge SECRET \
//!     --requests 2000 --concurrency 8 --warmup 20
//! ```
//!
//! Every option can also be given as an environment variable: LOAD_URL, LOAD_CHALLENGE,
//! LOAD_REQUESTS, LOAD_CONCURRENCY, LOAD_WARMUP, LOAD_KEYS, LOAD_LABEL, LOAD_TIMEOUT_SECS
//! (flags win). LOAD_DUMP_DIR=DIR writes the first three undecodable replies there.
//!
//! What it does:
//! 1. GET `<url>?operation=GetCACert` (one DER certificate; no RA).
//! 2. Before any timing, builds every PKCSReq: `--keys` RSA-2048 keys (default 64) reused
//!    round-robin, each request with its own subject `CN=load-<i>`, a random 32-hex-digit
//!    transactionID and a fresh senderNonce; SHA-256, AES-128-CBC, RSA PKCS#1 v1.5 key
//!    transport, the challengePassword as a PrintableString.
//! 3. Sends `--warmup` extra requests (not counted), then the `--requests` timed ones from
//!    `--concurrency` OS threads. Each request is one HTTP/1.1 POST to
//!    `<url>?operation=PKIOperation` on a new TCP connection with `Connection: close`
//!    (no keep-alive: every server closes cleanly that way, and on loopback the extra connect
//!    costs microseconds against milliseconds of RSA). Latency is from connect to the last
//!    byte of the reply.
//! 4. After timing, opens every reply with `open_cert_rep` (signature check and decryption)
//!    and counts SUCCESS / FAILURE (by failInfo) / PENDING / HTTP errors / undecodable
//!    replies, checks the echoed transactionID and recipientNonce and that the issued
//!    certificate carries the request's key and CN, and counts duplicate serial numbers.
//!
//! Only loopback servers are accepted (127.0.0.0/8, localhost, [::1]): anything else is
//! refused before a single packet is sent.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use certdrop::scep::builder::{self, CsrParams, RequestParams, StringKind};
use certdrop::scep::{
    ContentCipher, Digest, KeyTransport, MessageType, Nonce, PkiStatus, TransactionId,
};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

type Res<T> = Result<T, String>;

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

struct Options {
    url: String,
    challenge: String,
    requests: usize,
    concurrency: usize,
    warmup: usize,
    keys: usize,
    label: String,
    timeout: Duration,
}

const USAGE: &str = "usage: cargo bench --bench load -- --url http://127.0.0.1:PORT/scep \
--challenge SECRET [--requests N (2000)] [--concurrency K (8)] [--warmup N (0)] \
[--keys N (64)] [--label TEXT] [--timeout-secs S (120)]
env: LOAD_URL LOAD_CHALLENGE LOAD_REQUESTS LOAD_CONCURRENCY LOAD_WARMUP LOAD_KEYS LOAD_LABEL \
LOAD_TIMEOUT_SECS";

const OPTIONS: [&str; 8] = [
    "url",
    "challenge",
    "requests",
    "concurrency",
    "warmup",
    "keys",
    "label",
    "timeout-secs",
];

fn parse_options() -> Res<Options> {
    let mut values: HashMap<String, String> = HashMap::new();
    for name in OPTIONS {
        let var = format!("LOAD_{}", name.to_uppercase().replace('-', "_"));
        if let Ok(v) = std::env::var(&var) {
            values.insert(name.to_owned(), v);
        }
    }
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            // `cargo bench` appends --bench to every bench binary.
            "--bench" => {}
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with("--") => {
                let (name, value) = match flag[2..].split_once('=') {
                    Some((n, v)) => (n.to_owned(), v.to_owned()),
                    None => (
                        flag[2..].to_owned(),
                        args.next()
                            .ok_or(format!("{flag} needs a value\n{USAGE}"))?,
                    ),
                };
                values.insert(name, value);
            }
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    let num = |name: &str, default: usize| -> Res<usize> {
        match values.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: not a number: {v:?}")),
        }
    };
    let o = Options {
        url: values
            .get("url")
            .cloned()
            .ok_or(format!("--url is required\n{USAGE}"))?,
        challenge: values.get("challenge").cloned().unwrap_or_default(),
        requests: num("requests", 2000)?,
        concurrency: num("concurrency", 8)?,
        warmup: num("warmup", 0)?,
        keys: num("keys", 64)?,
        label: values.get("label").cloned().unwrap_or_default(),
        timeout: Duration::from_secs(num("timeout-secs", 120)? as u64),
    };
    if o.requests == 0 || o.concurrency == 0 || o.keys == 0 {
        return Err("--requests, --concurrency and --keys must be at least 1".into());
    }
    for (name, value) in values.iter() {
        if !OPTIONS.contains(&name.as_str()) {
            return Err(format!("unknown option --{name} ({value:?})\n{USAGE}"));
        }
    }
    Ok(o)
}

/// A parsed `http://host:port/path` URL whose host is on loopback.
struct Target {
    addr: SocketAddr,
    host_header: String,
    path: String,
}

fn loopback_target(url: &str) -> Res<Target> {
    let rest = url
        .strip_prefix("http://")
        .ok_or(format!("only plain http:// URLs are supported: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if path.contains('?') || path.contains('#') {
        return Err(format!("the URL must not carry a query or fragment: {url}"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6
            .split_once(']')
            .ok_or(format!("bad IPv6 authority in {url}"))?;
        (h, p.strip_prefix(':').unwrap_or("80"))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => (authority, "80"),
        }
    };
    let port: u16 = port.parse().map_err(|_| format!("bad port in {url}"))?;
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        // Resolve it, but only ever use a loopback answer.
        (host, port)
            .to_socket_addrs()
            .map_err(err("resolving localhost"))?
            .map(|a| a.ip())
            .find(IpAddr::is_loopback)
            .ok_or("localhost does not resolve to a loopback address")?
    } else {
        host.parse()
            .map_err(|_| format!("refusing host {host:?}: only 127.0.0.0/8, localhost or [::1]"))?
    };
    if !ip.is_loopback() {
        return Err(format!(
            "refusing host {host}: the load test only targets loopback addresses"
        ));
    }
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        host_header: authority.to_owned(),
        path: path.to_owned(),
    })
}

struct HttpReply {
    status: u16,
    body: Vec<u8>,
}

/// One HTTP/1.1 exchange on a fresh connection (`Connection: close`).
fn http(
    t: &Target,
    method: &str,
    query: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Res<HttpReply> {
    let mut s = TcpStream::connect_timeout(&t.addr, timeout).map_err(err("connect"))?;
    s.set_read_timeout(Some(timeout)).map_err(err("socket"))?;
    s.set_write_timeout(Some(timeout)).map_err(err("socket"))?;
    let _ = s.set_nodelay(true);
    let mut req = format!(
        "{method} {}?{query} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: certdrop-load\r\n",
        t.path, t.host_header
    );
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/x-pki-message\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    s.write_all(&out).map_err(err("write"))?;
    let mut raw = Vec::with_capacity(8192);
    s.read_to_end(&mut raw).map_err(err("read"))?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Res<HttpReply> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(format!("no HTTP header end in {} bytes", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(format!("bad status line {status_line:?}"))?;
    let mut content_length = None;
    let mut chunked = false;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.parse::<usize>().ok();
            } else if k.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    let rest = &raw[split + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = content_length {
        if rest.len() < n {
            return Err(format!("short body: {} of {n} bytes", rest.len()));
        }
        rest[..n].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(HttpReply { status, body })
}

fn dechunk(mut b: &[u8]) -> Res<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunked body")?;
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// One identity: a key and the self-signed signer certificate the reply is encrypted to.
struct Identity {
    key: PKey<Private>,
    signer: X509,
    spki_der: Vec<u8>,
}

struct Prepared {
    cn: String,
    identity: usize,
    transaction_id: String,
    nonce: Vec<u8>,
    message: Vec<u8>,
}

fn make_identities(n: usize, threads: usize) -> Res<Vec<Identity>> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<(usize, Identity)>> = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|s| -> Res<()> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Res<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return Ok(());
                        }
                        let key = builder::rsa_key(2048).map_err(err("RSA key"))?;
                        let signer =
                            builder::self_signed(&key, &format!("certdrop load signer {i}"))
                                .map_err(err("signer certificate"))?;
                        let spki_der = key.public_key_to_der().map_err(err("SPKI"))?;
                        let id = Identity {
                            key,
                            signer,
                            spki_der,
                        };
                        out.lock().map_err(err("lock"))?.push((i, id));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "key thread panicked".to_owned())??;
        }
        Ok(())
    })?;
    let mut v = out.into_inner().map_err(err("lock"))?;
    v.sort_by_key(|(i, _)| *i);
    Ok(v.into_iter().map(|(_, id)| id).collect())
}

fn random_hex(bytes: usize) -> Res<String> {
    let mut b = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut b).map_err(err("random"))?;
    Ok(hex::encode_upper(b))
}

fn prepare_one(
    cn: String,
    identity: usize,
    ids: &[Identity],
    ca: &X509,
    challenge: &str,
) -> Res<Prepared> {
    let id = &ids[identity];
    let subject = format!("CN={cn}");
    let csr = builder::csr(&CsrParams {
        subject: &subject,
        challenge: if challenge.is_empty() {
            None
        } else {
            Some((challenge, StringKind::Printable))
        },
        dns_names: &[],
        emails: &[],
        key: &id.key,
    })
    .map_err(err("CSR"))?;
    let transaction_id = random_hex(16)?;
    let tx = TransactionId::new(transaction_id.clone()).map_err(err("transactionID"))?;
    let nonce = Nonce::random().map_err(err("nonce"))?;
    let message = builder::request(&RequestParams {
        message_type: MessageType::PkcsReq,
        transaction_id: &tx,
        sender_nonce: &nonce,
        message_data: &csr,
        recipient: ca,
        cipher: ContentCipher::Aes128Cbc,
        key_transport: KeyTransport::pkcs1(),
        digest: Digest::Sha256,
        signer: &id.signer,
        signer_key: &id.key,
    })
    .map_err(err("PKCSReq"))?;
    Ok(Prepared {
        cn,
        identity,
        transaction_id,
        nonce: nonce.as_bytes().to_vec(),
        message,
    })
}

/// Build `n` requests named `<prefix><i>` on `threads` threads, in index order.
fn prepare(
    n: usize,
    prefix: &str,
    key_offset: usize,
    ids: &[Identity],
    ca: &X509,
    challenge: &str,
    threads: usize,
) -> Res<Vec<Prepared>> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<(usize, Prepared)>> = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|s| -> Res<()> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Res<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return Ok(());
                        }
                        let p = prepare_one(
                            format!("{prefix}{i}"),
                            (i + key_offset) % ids.len(),
                            ids,
                            ca,
                            challenge,
                        )?;
                        out.lock().map_err(err("lock"))?.push((i, p));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "build thread panicked".to_owned())??;
        }
        Ok(())
    })?;
    let mut v = out.into_inner().map_err(err("lock"))?;
    v.sort_by_key(|(i, _)| *i);
    Ok(v.into_iter().map(|(_, p)| p).collect())
}

struct Sent {
    latency: Duration,
    reply: Res<HttpReply>,
}

/// Fire `reqs` from `concurrency` threads; returns the results in request order and the wall
/// time from the first send to the last reply.
fn fire(
    target: &Target,
    reqs: &[Prepared],
    concurrency: usize,
    timeout: Duration,
) -> Res<(Vec<Sent>, Duration)> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Sent)>> = Mutex::new(Vec::with_capacity(reqs.len()));
    let start = Instant::now();
    std::thread::scope(|s| -> Res<()> {
        let handles: Vec<_> = (0..concurrency.min(reqs.len()))
            .map(|_| {
                s.spawn(|| -> Res<()> {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= reqs.len() {
                            break;
                        }
                        let t0 = Instant::now();
                        let reply = http(
                            target,
                            "POST",
                            "operation=PKIOperation",
                            Some(&reqs[i].message),
                            timeout,
                        );
                        mine.push((
                            i,
                            Sent {
                                latency: t0.elapsed(),
                                reply,
                            },
                        ));
                    }
                    results.lock().map_err(err("lock"))?.extend(mine);
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "load thread panicked".to_owned())??;
        }
        Ok(())
    })?;
    let wall = start.elapsed();
    let mut v = results.into_inner().map_err(err("lock"))?;
    v.sort_by_key(|(i, _)| *i);
    Ok((v.into_iter().map(|(_, s)| s).collect(), wall))
}

#[derive(Default)]
struct Tally {
    successes: usize,
    failures: BTreeMap<String, usize>,
    fail_texts: BTreeMap<String, usize>,
    pending: usize,
    http_errors: BTreeMap<String, usize>,
    http_error_samples: Vec<String>,
    bad_replies: BTreeMap<String, usize>,
    mismatches: BTreeMap<String, usize>,
    serials: Vec<String>,
    /// LOAD_DUMP_DIR: where to write the first undecodable replies (for diagnosis).
    dump_dir: Option<String>,
    dumped: usize,
}

fn bump(m: &mut BTreeMap<String, usize>, k: impl Into<String>) {
    *m.entry(k.into()).or_default() += 1;
}

fn cn_of(cert: &X509) -> Option<String> {
    cert.subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
}

fn check(tally: &mut Tally, p: &Prepared, id: &Identity, sent: &Sent) {
    let reply = match &sent.reply {
        Err(e) => {
            let kind = e.split(':').next().unwrap_or("io").to_owned();
            bump(&mut tally.http_errors, kind);
            if tally.http_error_samples.len() < 3 {
                tally.http_error_samples.push(e.clone());
            }
            return;
        }
        Ok(r) => r,
    };
    if reply.status != 200 {
        bump(&mut tally.http_errors, format!("HTTP {}", reply.status));
        if tally.http_error_samples.len() < 3 {
            let text: String = String::from_utf8_lossy(&reply.body)
                .chars()
                .take(160)
                .collect();
            tally
                .http_error_samples
                .push(format!("HTTP {}: {}", reply.status, text.trim()));
        }
        return;
    }
    let opened = match builder::open_cert_rep(&reply.body, &id.signer, &id.key) {
        Ok(o) => o,
        Err(e) => {
            bump(&mut tally.bad_replies, e.to_string());
            if let Some(dir) = &tally.dump_dir {
                if tally.dumped < 3 {
                    tally.dumped += 1;
                    let path = std::path::Path::new(dir).join(format!("bad-reply-{}.der", p.cn));
                    let _ = std::fs::write(path, &reply.body);
                }
            }
            return;
        }
    };
    let a = &opened.attributes;
    if a.transaction_id.as_str() != p.transaction_id {
        bump(&mut tally.mismatches, "transactionID not echoed");
    }
    if a.recipient_nonce.as_ref().map(Nonce::as_bytes) != Some(p.nonce.as_slice()) {
        bump(&mut tally.mismatches, "recipientNonce != senderNonce");
    }
    match a.pki_status {
        Some(PkiStatus::Success) => {
            let issued = opened.certificates.iter().find(|c| {
                c.public_key()
                    .and_then(|k| k.public_key_to_der())
                    .map(|d| d == id.spki_der)
                    .unwrap_or(false)
            });
            let Some(cert) = issued else {
                bump(
                    &mut tally.mismatches,
                    "no certificate for the request's key",
                );
                return;
            };
            if cn_of(cert).as_deref() != Some(p.cn.as_str()) {
                bump(&mut tally.mismatches, "issued CN differs from the request");
            }
            match cert.serial_number().to_bn().and_then(|b| b.to_hex_str()) {
                Ok(h) => tally.serials.push(h.to_string()),
                Err(e) => bump(&mut tally.bad_replies, format!("serial: {e}")),
            }
            tally.successes += 1;
        }
        Some(PkiStatus::Failure) => {
            let fi = a
                .fail_info
                .map(|f| f.name().to_owned())
                .unwrap_or_else(|| "none".into());
            bump(&mut tally.failures, fi);
            if let Some(t) = &a.fail_info_text {
                bump(
                    &mut tally.fail_texts,
                    t.chars().take(120).collect::<String>(),
                );
            }
        }
        Some(PkiStatus::Pending) => tally.pending += 1,
        None => bump(&mut tally.bad_replies, "CertRep without pkiStatus"),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn fmt_map(m: &BTreeMap<String, usize>) -> String {
    if m.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(" ({})", parts.join(", "))
}

fn run() -> Res<bool> {
    let o = parse_options()?;
    let target = loopback_target(&o.url)?;
    // micromdm's scepserver encrypts every reply with single DES, whatever the request used:
    // that needs OpenSSL 3's legacy provider, and then "default" loaded explicitly too (as the
    // server does), or DES decryption cannot fetch a DRBG. Best effort.
    let _providers: Vec<_> = ["legacy", "default"]
        .iter()
        .filter_map(|p| openssl::provider::Provider::load(None, p).ok())
        .collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);

    let r = http(&target, "GET", "operation=GetCACert", None, o.timeout)?;
    if r.status != 200 {
        return Err(format!("GetCACert: HTTP {}", r.status));
    }
    let ca = X509::from_der(&r.body).map_err(err(
        "GetCACert did not return one DER certificate (an RA chain?)",
    ))?;

    let t = Instant::now();
    let ids = make_identities(o.keys, threads)?;
    eprintln!(
        "load: {} RSA-2048 keys in {:.1}s",
        ids.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let warm = prepare(
        o.warmup,
        "load-warmup-",
        0,
        &ids,
        &ca,
        &o.challenge,
        threads,
    )?;
    let reqs = prepare(
        o.requests,
        "load-",
        o.warmup,
        &ids,
        &ca,
        &o.challenge,
        threads,
    )?;
    eprintln!(
        "load: built {} + {} warmup PKCSReq in {:.1}s",
        reqs.len(),
        warm.len(),
        t.elapsed().as_secs_f64()
    );

    if !warm.is_empty() {
        let (sent, wall) = fire(&target, &warm, o.concurrency, o.timeout)?;
        let mut wt = Tally::default();
        for (p, s) in warm.iter().zip(&sent) {
            check(&mut wt, p, &ids[p.identity], s);
        }
        eprintln!(
            "load: warmup {} requests in {:.2}s, {} successes",
            warm.len(),
            wall.as_secs_f64(),
            wt.successes
        );
    }

    eprintln!(
        "load: firing {} requests at {} with {} threads",
        reqs.len(),
        o.url,
        o.concurrency
    );
    let (sent, wall) = fire(&target, &reqs, o.concurrency, o.timeout)?;

    let mut tally = Tally {
        dump_dir: std::env::var("LOAD_DUMP_DIR").ok(),
        ..Tally::default()
    };
    for (p, s) in reqs.iter().zip(&sent) {
        check(&mut tally, p, &ids[p.identity], s);
    }
    let mut lat: Vec<Duration> = sent.iter().map(|s| s.latency).collect();
    lat.sort();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for s in &tally.serials {
        *seen.entry(s.as_str()).or_default() += 1;
    }
    let duplicates = tally.serials.len() - seen.len();
    let duplicated_values = seen.values().filter(|&&n| n > 1).count();
    let failures: usize = tally.failures.values().sum();
    let http_errors: usize = tally.http_errors.values().sum();
    let bad: usize = tally.bad_replies.values().sum();
    let mismatches: usize = tally.mismatches.values().sum();
    let wall_s = wall.as_secs_f64();

    let label = if o.label.is_empty() {
        o.url.clone()
    } else {
        o.label.clone()
    };
    println!("label             {label}");
    println!("url               {}", o.url);
    println!("requests          {}", reqs.len());
    println!("concurrency       {}", o.concurrency);
    println!("warmup            {}", warm.len());
    println!("wall_s            {wall_s:.3}");
    println!(
        "enrollments_per_s {:.1}",
        tally.successes as f64 / wall_s.max(1e-9)
    );
    println!("latency_p50_ms    {:.1}", percentile(&lat, 50.0));
    println!("latency_p90_ms    {:.1}", percentile(&lat, 90.0));
    println!("latency_p99_ms    {:.1}", percentile(&lat, 99.0));
    println!("latency_max_ms    {:.1}", percentile(&lat, 100.0));
    println!("successes         {}", tally.successes);
    println!("failures          {failures}{}", fmt_map(&tally.failures));
    println!("pending           {}", tally.pending);
    println!(
        "http_errors       {http_errors}{}",
        fmt_map(&tally.http_errors)
    );
    println!("bad_replies       {bad}{}", fmt_map(&tally.bad_replies));
    println!(
        "reply_mismatches  {mismatches}{}",
        fmt_map(&tally.mismatches)
    );
    println!("unique_serials    {}", seen.len());
    println!("duplicate_serials {duplicates} (serials issued more than once: {duplicated_values})");
    for (t, n) in &tally.fail_texts {
        eprintln!("load: failInfoText x{n}: {t}");
    }
    for s in &tally.http_error_samples {
        eprintln!("load: HTTP error sample: {s}");
    }
    Ok(tally.successes == reqs.len() && duplicates == 0)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        // Ran, but not every request was issued a unique certificate: still a result.
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::FAILURE
        }
    }
}
