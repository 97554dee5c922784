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

use base64::Engine;

use crate::ca::challenge::{self, Constraints};
use crate::ca::crl::RevocationReason;
use crate::ca::{Ca, IssuePolicy};
use crate::ca::{CaCertificate, Serial};
use crate::revocation::{self, Revocation};
use crate::store::{AuditEvent, AuditRecord, CertRecord, ChallengeRecord, PendingRecord, Store};

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
    CertRevoke {
        serial: Serial,
        reason: RevocationReason,
        comment: Option<String>,
        actor: String,
    },
    CertUnhold {
        serial: Serial,
        actor: String,
    },
    /// Publish a new CRL now and return it (needs the running server: it holds the key).
    CrlGenerate,
    Audit {
        since: Option<i64>,
    },
    /// Write a consistent backup of the store and the CA files to `path`.
    Backup {
        path: PathBuf,
    },
    /// Issue a certificate for a key made here (PKCS#12 route); the key comes back once.
    IdentityIssue {
        subject: String,
        actor: String,
    },
    LinkCreate {
        ttl_secs: u64,
        uses: u32,
        subject: String,
        #[serde(default)]
        networks: crate::links::LinkNetworks,
        actor: String,
    },
    RequestList,
    RequestShow {
        id: String,
    },
    RequestApprove {
        id: String,
        actor: String,
    },
    RequestReject {
        id: String,
        reason: String,
        actor: String,
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
    Challenges {
        challenges: Vec<CreatedChallenge>,
    },
    Certs {
        certs: Vec<CertRecord>,
    },
    Cert {
        cert: Box<CertRecord>,
    },
    Crl {
        der_base64: String,
        number: u64,
    },
    Audit {
        records: Vec<AuditRecord>,
    },
    Backup {
        records: u64,
        millis: u64,
    },
    Requests {
        requests: Vec<PendingRecord>,
    },
    Link {
        url: String,
        expires_at: i64,
        uses: u32,
    },
    Identity {
        key_pem: String,
        cert_pem: String,
    },
    Request {
        request: Box<PendingRecord>,
    },
    Error {
        message: String,
    },
}

/// What the admin operations work on. `revocation` is there when the server runs (it holds
/// the CA key and publishes the CRL); offline, revocations are recorded and the next start
/// publishes them.
pub struct AdminContext<'a> {
    pub data_dir: &'a Path,
    pub ca: &'a CaCertificate,
    pub store: &'a dyn Store,
    pub revocation: Option<&'a Revocation>,
    /// The base URL devices reach (links are built from it).
    pub public_url: &'a str,
    /// The CA with its key and the issuing policy, for approving requests.
    pub issuer: Option<(&'a Ca, &'a IssuePolicy)>,
}

/// Run one admin request.
pub fn execute(
    request: &AdminRequest,
    cx: &AdminContext<'_>,
    now: OffsetDateTime,
) -> AdminResponse {
    match run(request, cx, now) {
        Ok(r) => r,
        Err(message) => AdminResponse::Error { message },
    }
}

fn run(
    request: &AdminRequest,
    cx: &AdminContext<'_>,
    now: OffsetDateTime,
) -> Result<AdminResponse, String> {
    let (ca, store) = (cx.ca, cx.store);
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
            let out = create_challenges(store, *ttl_secs, *count, constraints, actor, now)?;
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
        AdminRequest::CertRevoke {
            serial,
            reason,
            comment,
            actor,
        } => {
            let cert = revocation::revoke(store, serial, *reason, comment.clone(), actor, now)
                .map_err(|e| e.to_string())?;
            republish(cx, now)?;
            Ok(AdminResponse::Cert {
                cert: Box::new(cert),
            })
        }
        AdminRequest::CertUnhold { serial, actor } => {
            let cert = revocation::unhold(store, serial, actor, now).map_err(|e| e.to_string())?;
            republish(cx, now)?;
            Ok(AdminResponse::Cert {
                cert: Box::new(cert),
            })
        }
        AdminRequest::CrlGenerate => {
            let r = cx
                .revocation
                .ok_or("the CRL is signed by the running server: start `certdrop serve`")?;
            let crl = r.publish(now).map_err(|e| e.to_string())?;
            Ok(AdminResponse::Crl {
                der_base64: base64::engine::general_purpose::STANDARD.encode(crl.der.as_ref()),
                number: crl.number,
            })
        }
        AdminRequest::Audit { since } => Ok(AdminResponse::Audit {
            records: store
                .audit()
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|r| since.is_none_or(|s| r.at >= s))
                .collect(),
        }),
        AdminRequest::IdentityIssue { subject, actor } => {
            let (ca, policy) = cx
                .issuer
                .ok_or("issuing needs the CA key: run it where the data directory is")?;
            let (key, cert) =
                crate::enroll::issue_identity(ca, store, policy, subject, actor, now)?;
            let pem = |b: Result<Vec<u8>, openssl::error::ErrorStack>| {
                b.map(|v| String::from_utf8_lossy(&v).into_owned())
                    .map_err(|e| e.to_string())
            };
            Ok(AdminResponse::Identity {
                key_pem: pem(key.private_key_to_pem_pkcs8())?,
                cert_pem: pem(cert.to_pem())?,
            })
        }
        AdminRequest::LinkCreate {
            ttl_secs,
            uses,
            subject,
            networks,
            actor,
        } => {
            let link = crate::links::create(
                store,
                subject,
                networks,
                *ttl_secs,
                *uses,
                actor,
                cx.public_url,
                now,
            )?;
            Ok(AdminResponse::Link {
                url: link.url,
                expires_at: link.expires_at,
                uses: *uses,
            })
        }
        AdminRequest::RequestList => Ok(AdminResponse::Requests {
            requests: store.pendings().map_err(|e| e.to_string())?,
        }),
        AdminRequest::RequestShow { id } => match store.pending(id).map_err(|e| e.to_string())? {
            Some(p) => Ok(AdminResponse::Request {
                request: Box::new(p),
            }),
            None => Err(format!("no pending request {id}")),
        },
        AdminRequest::RequestApprove { id, actor } => {
            let (ca, policy) = cx
                .issuer
                .ok_or("approving needs the CA key: run it where the data directory is")?;
            let cert = crate::enroll::approve(ca, store, policy, id, actor, now)?;
            Ok(AdminResponse::Cert {
                cert: Box::new(cert),
            })
        }
        AdminRequest::RequestReject { id, reason, actor } => {
            let p = crate::enroll::reject(store, id, reason, actor, now)?;
            Ok(AdminResponse::Request {
                request: Box::new(p),
            })
        }
        AdminRequest::Backup { path } => {
            let started = std::time::Instant::now();
            let records = crate::backup::write(cx.data_dir, store, path)?;
            Ok(AdminResponse::Backup {
                records,
                millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            })
        }
    }
}

/// Create `count` one-time challenges (shown once; stored as id + SHA-256 of the secret).
pub fn create_challenges(
    store: &dyn Store,
    ttl_secs: u64,
    count: u32,
    constraints: &Constraints,
    actor: &str,
    now: OffsetDateTime,
) -> Result<Vec<CreatedChallenge>, String> {
    if count == 0 || count > MAX_CHALLENGES_PER_CALL {
        return Err(format!("count must be 1..={MAX_CHALLENGES_PER_CALL}"));
    }
    let ttl = i64::try_from(ttl_secs).map_err(|_| "ttl too large".to_owned())?;
    let expires_at = now.unix_timestamp().saturating_add(ttl);
    let mut out = Vec::new();
    for _ in 0..count {
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
            actor: actor.to_owned(),
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
    Ok(out)
}

/// After a revocation: a new CRL at once when the server runs.
fn republish(cx: &AdminContext<'_>, now: OffsetDateTime) -> Result<(), String> {
    if let Some(r) = cx.revocation {
        r.publish(now)
            .map_err(|e| format!("recorded, but the CRL could not be published: {e}"))?;
    }
    Ok(())
}

/// Serve admin requests on `<data_dir>/admin.sock` from a background thread.
pub fn serve_socket(
    data_dir: &Path,
    ca: CaCertificate,
    store: Arc<dyn Store>,
    revocation: Arc<Revocation>,
    issuer: (Arc<Ca>, IssuePolicy),
    public_url: String,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let public_url = Arc::new(public_url);
    let issuer = Arc::new(issuer);
    let dir = Arc::new(data_dir.to_path_buf());
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
                let (revocation, dir, issuer) = (revocation.clone(), dir.clone(), issuer.clone());
                let public_url = public_url.clone();
                let spawned =
                    std::thread::Builder::new()
                        .name("admin-conn".into())
                        .spawn(move || {
                            let cx = AdminContext {
                                data_dir: &dir,
                                ca: &ca,
                                store: store.as_ref(),
                                revocation: Some(&revocation),
                                issuer: Some((&issuer.0, &issuer.1)),
                                public_url: &public_url,
                            };
                            if let Err(e) = handle(stream, &cx) {
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

fn handle(mut stream: UnixStream, cx: &AdminContext<'_>) -> std::io::Result<()> {
    let buf = read_request(&mut stream)?;
    let response = match serde_json::from_slice::<AdminRequest>(&buf) {
        Ok(req) => {
            tracing::info!(request = ?redacted(&req), "admin request");
            execute(&req, cx, OffsetDateTime::now_utc())
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
        AdminRequest::CertRevoke { .. } => "cert_revoke",
        AdminRequest::CertUnhold { .. } => "cert_unhold",
        AdminRequest::CrlGenerate => "crl_generate",
        AdminRequest::Audit { .. } => "audit",
        AdminRequest::Backup { .. } => "backup",
        AdminRequest::LinkCreate { .. } => "link_create",
        AdminRequest::IdentityIssue { .. } => "identity_issue",
        AdminRequest::RequestList => "request_list",
        AdminRequest::RequestShow { .. } => "request_show",
        AdminRequest::RequestApprove { .. } => "request_approve",
        AdminRequest::RequestReject { .. } => "request_reject",
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
