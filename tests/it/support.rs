//! Shared test helpers: a real server process, a tiny HTTP/1.1 client, a SCEP test client
//! built on the crate's builder, and external-tool lookup that skips loudly off CI and fails
//! on CI.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use certdrop::ca::{Ca, CaParams, IssuePolicy};
use certdrop::enroll::{ChallengePolicy, EnrollConfig, Enroller};
use certdrop::scep::builder::{self, CsrParams, RequestParams, StringKind};
use certdrop::scep::{ContentCipher, Digest, KeyTransport, MessageType, Nonce, TransactionId};
use certdrop::store::memory::MemoryStore;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

pub const BIN: &str = env!("CARGO_BIN_EXE_certdrop");

/// OpenSSL 3 needs the legacy provider for single DES; the server loads it with
/// `legacy_des`, tests that decrypt DES fixtures load it here once.
pub fn load_legacy_provider() {
    static PROVIDERS: OnceLock<Vec<openssl::provider::Provider>> = OnceLock::new();
    PROVIDERS.get_or_init(|| {
        vec![
            openssl::provider::Provider::load(None, "legacy").unwrap(),
            openssl::provider::Provider::load(None, "default").unwrap(),
        ]
    });
}

/// Find an external client. Off CI a missing one skips the test with a loud message; with
/// CI=true it fails the test.
pub fn tool(path: &str, package: &str) -> Option<PathBuf> {
    let p = if path.contains('/') {
        PathBuf::from(path)
    } else {
        std::env::var_os("PATH")
            .map(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(path))
                    .collect::<Vec<PathBuf>>()
            })
            .unwrap_or_default()
            .into_iter()
            .find(|p: &PathBuf| p.exists())
            .unwrap_or_else(|| PathBuf::from(path))
    };
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{path} is missing on CI: install the Debian package {package}");
    }
    eprintln!(
        "\n!!!!!!!! SKIPPING: {path} not found. Install Debian package `{package}` to run \
         this interop test. !!!!!!!!\n"
    );
    None
}

/// A CA for library-level tests (RSA-2048: fast to make, same code paths).
pub fn test_ca() -> Arc<Ca> {
    static CA: OnceLock<Arc<Ca>> = OnceLock::new();
    CA.get_or_init(|| {
        Arc::new(
            Ca::create(
                &CaParams {
                    subject: "CN=certdrop test CA,O=certdrop tests".into(),
                    key_bits: 2048,
                    validity_days: 3650,
                },
                time::OffsetDateTime::now_utc(),
            )
            .unwrap(),
        )
    })
    .clone()
}

pub fn enroll_config(static_challenge: Option<&str>) -> EnrollConfig {
    EnrollConfig {
        challenge: ChallengePolicy {
            static_sha256: static_challenge.map(certdrop::ca::challenge::hash_secret),
            required: true,
        },
        legacy_des: false,
        issue: IssuePolicy::default(),
        retransmit_window: Duration::from_secs(24 * 3600),
        renewal_window: None,
        manual_approval: false,
        pending_ttl: Duration::from_secs(7 * 86_400),
    }
}

pub fn enroller(config: EnrollConfig) -> (Enroller, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::default());
    (Enroller::new(test_ca(), store.clone(), config), store)
}

/// An RSA-2048 key, cached per index so tests stay fast (keys are only identities here).
pub fn rsa_key(index: usize) -> PKey<Private> {
    static KEYS: OnceLock<Vec<PKey<Private>>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| (0..8).map(|_| builder::rsa_key(2048).unwrap()).collect());
    keys[index % keys.len()].clone()
}

/// One client identity and the options of its next request.
pub struct TestClient {
    pub key: PKey<Private>,
    pub signer: X509,
    pub subject: String,
    pub challenge: Option<(String, StringKind)>,
    pub dns_names: Vec<String>,
    pub cipher: ContentCipher,
    pub key_transport: KeyTransport,
    pub digest: Digest,
    pub transaction_id: TransactionId,
    pub csr_key: Option<PKey<Private>>,
}

impl TestClient {
    pub fn new(key: PKey<Private>, cn: &str) -> TestClient {
        let signer = builder::self_signed(&key, "SCEP SIGNER").unwrap();
        let transaction_id = builder::transaction_id_for(&key).unwrap();
        TestClient {
            key,
            signer,
            subject: format!("CN={cn},O=certdrop tests"),
            challenge: None,
            dns_names: Vec::new(),
            cipher: ContentCipher::Aes256Cbc,
            key_transport: KeyTransport::pkcs1(),
            digest: Digest::Sha256,
            transaction_id,
            csr_key: None,
        }
    }

    pub fn challenge(mut self, c: &str) -> TestClient {
        self.challenge = Some((c.to_owned(), StringKind::Printable));
        self
    }

    pub fn csr(&self) -> Vec<u8> {
        let dns: Vec<&str> = self.dns_names.iter().map(String::as_str).collect();
        builder::csr(&CsrParams {
            subject: &self.subject,
            challenge: self.challenge.as_ref().map(|(c, k)| (c.as_str(), *k)),
            dns_names: &dns,
            emails: &[],
            key: self.csr_key.as_ref().unwrap_or(&self.key),
        })
        .unwrap()
    }

    pub fn params<'a>(
        &'a self,
        ca: &'a X509,
        csr: &'a [u8],
        nonce: &'a Nonce,
    ) -> RequestParams<'a> {
        RequestParams {
            message_type: MessageType::PkcsReq,
            transaction_id: &self.transaction_id,
            sender_nonce: nonce,
            message_data: csr,
            recipient: ca,
            cipher: self.cipher,
            key_transport: self.key_transport.clone(),
            digest: self.digest,
            signer: &self.signer,
            signer_key: &self.key,
        }
    }

    /// A PKCSReq pkiMessage and the senderNonce it carries.
    pub fn pkcs_req(&self, ca: &X509) -> (Vec<u8>, Nonce) {
        let csr = self.csr();
        let nonce = Nonce::random().unwrap();
        let msg = builder::request(&self.params(ca, &csr, &nonce)).unwrap();
        (msg, nonce)
    }
}

/// A response from [`http`].
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A minimal HTTP/1.1 request over loopback (one request per connection).
pub fn http(
    port: u16,
    method: &str,
    target: &str,
    body: Option<&[u8]>,
    content_type: Option<&str>,
) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    if let Some(b) = body {
        // The server may answer (413) and close before reading everything.
        let _ = s.write_all(b);
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// A free loopback port (bound then released; the race with other tests is acceptable).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real `certdrop serve`, in its own data directory, killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Self::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, args, env)
    }

    pub fn start_in(dir: tempfile::TempDir, args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let log = dir.path().join(format!("server-{port}.log"));
        let child = spawn_server(dir.path(), port, args, env, &log);
        let server = Server {
            child,
            port,
            dir,
            log,
        };
        server.wait_ready();
        server
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                let r = http(self.port, "GET", "/healthz", None, None);
                if r.status == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "server did not start; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/scep", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn get(&self, target: &str) -> Response {
        http(self.port, "GET", target, None, None)
    }

    pub fn post(&self, target: &str, body: &[u8], content_type: Option<&str>) -> Response {
        http(self.port, "POST", target, Some(body), content_type)
    }

    pub fn ca(&self) -> X509 {
        let r = self.get("/scep?operation=GetCACert");
        assert_eq!(r.status, 200);
        X509::from_der(&r.body).unwrap()
    }

    pub fn ca_pem_file(&self) -> PathBuf {
        let p = self.dir.path().join("ca-from-getcacert.pem");
        std::fs::write(&p, self.ca().to_pem().unwrap()).unwrap();
        p
    }

    /// Run the CLI against this server's data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(&self.data_dir(), args)
    }

    /// A fresh one-time challenge, created through the admin socket.
    pub fn challenge(&self) -> String {
        let out = self.cli(&["challenge", "create"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn_server(
    dir: &Path,
    port: u16,
    args: &[&str],
    env: &[(&str, &str)],
    log: &Path,
) -> Child {
    let log_file = std::fs::File::create(log).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--ca-key-bits")
        .arg("2048")
        .args(args.iter().map(|a| a.replace("{port}", &port.to_string())))
        .env_remove("CERTDROP_CA_KEY_PASSPHRASE")
        .env("CERTDROP_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

pub fn cli(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CERTDROP_CA_KEY_PASSPHRASE")
        .output()
        .unwrap()
}

/// Run a command, returning its output; panics if it cannot be started.
pub fn run(program: &Path, args: &[&str], cwd: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

pub fn openssl(args: &[&str], cwd: &Path) -> Output {
    run(Path::new("openssl"), args, cwd)
}

/// `openssl verify -CAfile ca leaf` must print "leaf: OK".
pub fn assert_openssl_verifies(ca_pem: &Path, leaf_pem: &Path) {
    let out = openssl(
        &[
            "verify",
            "-CAfile",
            ca_pem.to_str().unwrap(),
            leaf_pem.to_str().unwrap(),
        ],
        Path::new("."),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with(": OK"),
        "openssl verify failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rewrite DER as BER: every constructed value gets an indefinite length, and every OCTET
/// STRING longer than 64 bytes becomes a constructed string of 64-byte chunks. What Apple
/// devices, jscep and EJBCA send looks like this.
pub fn der_to_ber(der: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = der;
    while !rest.is_empty() {
        let (tag, header_len, len) = read_header(rest);
        let value = &rest[header_len..header_len + len];
        // Certificates stay DER: they are signed as DER, and OpenSSL keeps their original
        // encoding. A certificate is a SEQUENCE whose first child starts with [0] { 2 }.
        let is_certificate = tag == 0x30 && value.len() > 6 && value[0] == 0x30 && {
            let (_, h, _) = read_header(value);
            value[h..].starts_with(&[0xa0, 0x03, 0x02, 0x01])
        };
        if is_certificate {
            out.extend(&rest[..header_len + len]);
        } else if tag & 0x20 != 0 {
            out.push(tag);
            out.push(0x80);
            out.extend(der_to_ber(value));
            out.extend([0, 0]);
        } else if tag == 0x04 && len > 64 {
            out.push(0x24);
            out.push(0x80);
            for chunk in value.chunks(64) {
                out.push(0x04);
                push_len(&mut out, chunk.len());
                out.extend(chunk);
            }
            out.extend([0, 0]);
        } else {
            out.extend(&rest[..header_len + len]);
        }
        rest = &rest[header_len + len..];
    }
    out
}

fn read_header(b: &[u8]) -> (u8, usize, usize) {
    let tag = b[0];
    let first = b[1];
    if first < 0x80 {
        (tag, 2, first as usize)
    } else {
        let n = (first & 0x7f) as usize;
        let len = b[2..2 + n]
            .iter()
            .fold(0usize, |a, &x| (a << 8) | x as usize);
        (tag, 2 + n, len)
    }
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        out.push(0x81);
        out.push(len as u8);
    }
}

/// A command's stdout and stderr together, for assertions and failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
