//! Admin operations as typed requests and responses, run either by the server on behalf of
//! the CLI (over `<data_dir>/admin.sock`, mode 0600, one JSON request per connection) or by
//! the CLI directly on the store when no server runs (sled allows one process at a time).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ca::challenge::{self, Constraints};
use crate::ca::{CaCertificate, Serial};
use crate::store::{AuditEvent, AuditRecord, CertRecord, ChallengeRecord, Store};

pub const SOCKET_FILE: &str = "admin.sock";
/// Requests are small; refuse anything larger.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// At most this many challenges per `challenge create`.
pub const MAX_CHALLENGES_PER_CALL: u32 = 10_000;

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum AdminRequest {
    CaShow,
    ChallengeCreate {
        ttl_secs: u64,
        count: u32,
        constraints: Constraints,
        actor: String,
    },
    CertList,
    CertShow {
        serial: Serial,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaInfo {
    pub subject: String,
    /// Seconds since the Unix epoch, like every time in the admin API.
    pub not_before: i64,
    pub not_after: i64,
    pub sha256_fingerprint: String,
    pub pem: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedChallenge {
    pub id: String,
    /// The challenge itself: shown once, never stored.
    pub challenge: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum AdminResponse {
    Ca(CaInfo),
    Challenges { challenges: Vec<CreatedChallenge> },
    Certs { certs: Vec<CertRecord> },
    Cert { cert: Box<CertRecord> },
    Error { message: String },
}

/// Run one admin request against a store.
pub fn execute(
    request: &AdminRequest,
    ca: &CaCertificate,
    store: &dyn Store,
    now: OffsetDateTime,
) -> AdminResponse {
    match run(request, ca, store, now) {
        Ok(r) => r,
        Err(message) => AdminResponse::Error { message },
    }
}

fn run(
    request: &AdminRequest,
    ca: &CaCertificate,
    store: &dyn Store,
    now: OffsetDateTime,
) -> Result<AdminResponse, String> {
    match request {
        AdminRequest::CaShow => Ok(AdminResponse::Ca(CaInfo {
            subject: ca.subject(),
            not_before: ca.not_before().map_err(|e| e.to_string())?,
            not_after: ca.not_after().map_err(|e| e.to_string())?,
            sha256_fingerprint: ca.sha256_fingerprint(),
            pem: ca.to_pem().map_err(|e| e.to_string())?,
        })),
        AdminRequest::ChallengeCreate {
            ttl_secs,
            count,
            constraints,
            actor,
        } => {
            if *count == 0 || *count > MAX_CHALLENGES_PER_CALL {
                return Err(format!("count must be 1..={MAX_CHALLENGES_PER_CALL}"));
            }
            let ttl = i64::try_from(*ttl_secs).map_err(|_| "ttl too large".to_owned())?;
            let expires_at = now.unix_timestamp().saturating_add(ttl);
            let mut out = Vec::new();
            for _ in 0..*count {
                let c = challenge::generate().map_err(|e| e.to_string())?;
                let record = ChallengeRecord {
                    id: c.id.clone(),
                    secret_sha256: c.secret_hash,
                    created_at: now.unix_timestamp(),
                    expires_at,
                    constraints: constraints.clone(),
                    used: None,
                };
                let audit = AuditRecord {
                    at: now.unix_timestamp(),
                    actor: actor.clone(),
                    event: AuditEvent::ChallengeCreated {
                        id: c.id.clone(),
                        expires_at,
                        constraints: constraints.clone(),
                    },
                };
                store
                    .insert_challenge(&record, &audit)
                    .map_err(|e| e.to_string())?;
                out.push(CreatedChallenge {
                    id: c.id,
                    challenge: c.text,
                    expires_at,
                });
            }
            Ok(AdminResponse::Challenges { challenges: out })
        }
        AdminRequest::CertList => Ok(AdminResponse::Certs {
            certs: store.certs().map_err(|e| e.to_string())?,
        }),
        AdminRequest::CertShow { serial } => match store.cert(serial).map_err(|e| e.to_string())? {
            Some(cert) => Ok(AdminResponse::Cert {
                cert: Box::new(cert),
            }),
            None => Err(format!("no certificate with serial {serial}")),
        },
    }
}

/// Serve admin requests on `<data_dir>/admin.sock` from a background thread.
pub fn serve_socket(
    data_dir: &Path,
    ca: CaCertificate,
    store: Arc<dyn Store>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let path = socket_path(data_dir);
    // We hold the store lock, so no other server owns a socket here: a leftover is stale.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let ca = Arc::new(ca);
    let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("admin-socket".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let stream = match conn {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "admin socket accept failed");
                        continue;
                    }
                };
                // One thread per connection, so a slow client cannot block the others.
                use std::sync::atomic::Ordering;
                if active.fetch_add(1, Ordering::SeqCst) >= MAX_ADMIN_CONNECTIONS {
                    active.fetch_sub(1, Ordering::SeqCst);
                    tracing::warn!("too many admin connections; dropping one");
                    continue;
                }
                let (ca, store, active) = (ca.clone(), store.clone(), active.clone());
                let spawned =
                    std::thread::Builder::new()
                        .name("admin-conn".into())
                        .spawn(move || {
                            if let Err(e) = handle(stream, &ca, store.as_ref()) {
                                tracing::warn!(error = %e, "admin connection failed");
                            }
                            active.fetch_sub(1, Ordering::SeqCst);
                        });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "cannot start an admin connection thread");
                }
            }
        })
}

/// Admin connections served at once.
const MAX_ADMIN_CONNECTIONS: usize = 16;
/// A whole admin request must arrive within this time.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// Read until EOF, at most `MAX_REQUEST_BYTES`, within `REQUEST_DEADLINE` in total (a
/// per-read timeout alone lets a client trickle one byte at a time forever).
fn read_request(stream: &mut UnixStream) -> std::io::Result<Vec<u8>> {
    let deadline = std::time::Instant::now() + REQUEST_DEADLINE;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "admin request took too long",
            ));
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.len() as u64 > MAX_REQUEST_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "admin request too large",
            ));
        }
    }
}

fn handle(mut stream: UnixStream, ca: &CaCertificate, store: &dyn Store) -> std::io::Result<()> {
    let buf = read_request(&mut stream)?;
    let response = match serde_json::from_slice::<AdminRequest>(&buf) {
        Ok(req) => {
            tracing::info!(request = ?redacted(&req), "admin request");
            execute(&req, ca, store, OffsetDateTime::now_utc())
        }
        Err(e) => AdminResponse::Error {
            message: format!("bad admin request: {e}"),
        },
    };
    let out = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
    stream.write_all(&out)
}

fn redacted(r: &AdminRequest) -> &'static str {
    match r {
        AdminRequest::CaShow => "ca_show",
        AdminRequest::ChallengeCreate { .. } => "challenge_create",
        AdminRequest::CertList => "cert_list",
        AdminRequest::CertShow { .. } => "cert_show",
    }
}

/// Send a request to a running server. `Ok(None)` means no server is listening.
pub fn call(data_dir: &Path, request: &AdminRequest) -> std::io::Result<Option<AdminResponse>> {
    let path = socket_path(data_dir);
    let mut stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    stream.write_all(&body)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf)?;
    serde_json::from_slice(&buf)
        .map(Some)
        .map_err(std::io::Error::other)
}
