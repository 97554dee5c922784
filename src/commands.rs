//! The admin CLI: each command builds an [`AdminRequest`], sends it to the running server
//! (or runs it on the store when none runs) and prints the answer.

use std::io::Write;

use time::OffsetDateTime;

use crate::admin::{self, AdminRequest, AdminResponse};
use crate::ca::challenge::Constraints;
use crate::ca::{keyfile, CaParams, Serial};
use base64::Engine;

use crate::ca::crl::RevocationReason;
use crate::cli::{
    CaCommand, CertCommand, ChallengeCommand, CrlCommand, IdentityCommand, LinkCommand,
    ProfileCommand, RequestCommand,
};
use crate::config::{parse_duration, Config};
use crate::server;
use crate::store::{CertRecord, CertStatus, PendingRecord, PendingState};

/// A CLI failure: printed as `error: ...`, exit status 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

fn err(e: impl std::fmt::Display) -> CliError {
    CliError(e.to_string())
}

/// Print to standard output. A closed pipe (`certdrop cert list | head`) ends the output
/// quietly instead of panicking as `println!` would.
macro_rules! out {
    ($($arg:tt)*) => {
        emit(format!($($arg)*).as_bytes())?
    };
}

fn emit(bytes: &[u8]) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(CliError(format!("writing to standard output: {e}"))),
    }
}

fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// Run a request on the running server, or on the store directly when none runs.
fn dispatch(config: &Config, request: &AdminRequest) -> Result<AdminResponse, CliError> {
    if let Some(r) = admin::call(&config.data_dir, request).map_err(|e| {
        CliError(format!(
            "cannot talk to the running server's admin socket: {e}"
        ))
    })? {
        return Ok(r);
    }
    if !keyfile::exists(&config.data_dir) {
        return Err(CliError(format!(
            "no CA in {}: run `certdrop serve` or `certdrop ca init` first",
            config.data_dir.display()
        )));
    }
    let ca = keyfile::load_certificate(&config.data_dir).map_err(err)?;
    let store = server::open_store(&config.data_dir).map_err(err)?;
    // Approving issues a certificate: that needs the key (and its passphrase) here.
    let full_ca = match request {
        AdminRequest::RequestApprove { .. } | AdminRequest::IdentityIssue { .. } => {
            Some(server::load_or_create_ca_existing(config).map_err(err)?.0)
        }
        _ => None,
    };
    let policy = config.issue_policy();
    let cx = admin::AdminContext {
        data_dir: &config.data_dir,
        ca: &ca,
        store: &store,
        revocation: None,
        issuer: full_ca.as_ref().map(|c| (c, &policy)),
        public_url: &config.public_url,
    };
    Ok(admin::execute(request, &cx, OffsetDateTime::now_utc()))
}

pub fn request(config: &Config, cmd: &RequestCommand) -> Result<(), CliError> {
    let show = |p: &PendingRecord| -> Result<(), CliError> {
        let state = match &p.state {
            PendingState::Pending => "pending".to_owned(),
            PendingState::Approved { serial, actor, .. } => {
                format!("approved by {actor}: {serial}")
            }
            PendingState::Rejected { reason, actor, .. } => {
                format!("rejected by {actor}: {reason}")
            }
        };
        out!("id:             {}\n", p.id);
        out!("state:          {state}\n");
        out!("subject:        {}\n", p.subject);
        out!("alt names:      {}\n", p.subject_alt_names.join(", "));
        out!("key:            {}\n", p.key);
        out!("requester:      {}\n", p.requester);
        out!("challenge:      {}\n", p.challenge);
        out!("transaction id: {}\n", p.transaction_id);
        out!("received:       {}\n", format_time(p.created_at));
        out!("expires:        {}\n", format_time(p.expires_at));
        Ok(())
    };
    match cmd {
        RequestCommand::List { json } => {
            let r = expect_ok(dispatch(config, &AdminRequest::RequestList)?)?;
            let AdminResponse::Requests { requests } = &r else {
                return Err(unexpected(&r));
            };
            if *json {
                out!("{}\n", serde_json::to_string_pretty(requests).map_err(err)?);
                return Ok(());
            }
            out!(
                "{:<12}  {:<9}  {:<20}  SUBJECT\n",
                "ID",
                "STATE",
                "RECEIVED"
            );
            for p in requests {
                let state = match p.state {
                    PendingState::Pending => "pending",
                    PendingState::Approved { .. } => "approved",
                    PendingState::Rejected { .. } => "rejected",
                };
                out!(
                    "{:<12}  {:<9}  {:<20}  {}\n",
                    p.id,
                    state,
                    format_time(p.created_at),
                    p.subject
                );
            }
            Ok(())
        }
        RequestCommand::Show { id } => {
            let r = expect_ok(dispatch(
                config,
                &AdminRequest::RequestShow { id: id.clone() },
            )?)?;
            let AdminResponse::Request { request } = &r else {
                return Err(unexpected(&r));
            };
            show(request)
        }
        RequestCommand::Approve { id } => {
            let r = expect_ok(dispatch(
                config,
                &AdminRequest::RequestApprove {
                    id: id.clone(),
                    actor: actor(),
                },
            )?)?;
            let AdminResponse::Cert { cert } = &r else {
                return Err(unexpected(&r));
            };
            out!(
                "approved {id}: issued {} for {}\n",
                cert.serial,
                cert.subject
            );
            Ok(())
        }
        RequestCommand::Reject { id, reason } => {
            let r = expect_ok(dispatch(
                config,
                &AdminRequest::RequestReject {
                    id: id.clone(),
                    reason: reason.clone(),
                    actor: actor(),
                },
            )?)?;
            let AdminResponse::Request { request } = &r else {
                return Err(unexpected(&r));
            };
            out!("rejected {}: {}\n", request.id, request.subject);
            Ok(())
        }
    }
}

fn parse_serial(s: &str, decimal: bool) -> Result<Serial, CliError> {
    let parsed = if decimal {
        Serial::parse(&format!("0d{}", s.trim()))
    } else {
        Serial::parse(s)
    };
    parsed.ok_or_else(|| {
        CliError(format!(
            "{s:?} is not a serial: give hex (as openssl prints it) or 0d<decimal>"
        ))
    })
}

pub fn crl(config: &Config, cmd: &CrlCommand) -> Result<(), CliError> {
    let CrlCommand::Generate { out, pem } = cmd;
    let online = admin::call(&config.data_dir, &AdminRequest::CrlGenerate).map_err(|e| {
        CliError(format!(
            "cannot talk to the running server's admin socket: {e}"
        ))
    })?;
    let (der, number) = match online {
        Some(r) => {
            let r = expect_ok(r)?;
            let AdminResponse::Crl { der_base64, number } = &r else {
                return Err(unexpected(&r));
            };
            let der = base64::engine::general_purpose::STANDARD
                .decode(der_base64)
                .map_err(err)?;
            (der, *number)
        }
        None => {
            // No server: sign here, which needs the CA key (and its passphrase).
            let (ca, _) = server::load_or_create_ca_existing(config).map_err(err)?;
            let store: std::sync::Arc<dyn crate::store::Store> =
                std::sync::Arc::new(server::open_store(&config.data_dir).map_err(err)?);
            let r = crate::revocation::Revocation::new(
                std::sync::Arc::new(ca),
                store,
                config.crl_validity,
            );
            let crl = r.publish(OffsetDateTime::now_utc()).map_err(err)?;
            (crl.der.as_ref().clone(), crl.number)
        }
    };
    let number = &number;
    let bytes = if *pem {
        openssl::x509::X509Crl::from_der(&der)
            .and_then(|c| c.to_pem())
            .map_err(err)?
    } else {
        der
    };
    std::fs::write(out, bytes).map_err(|e| CliError(format!("{}: {e}", out.display())))?;
    eprintln!("wrote CRL number {number} to {}", out.display());
    Ok(())
}

pub fn audit(config: &Config, since: Option<&str>, json: bool) -> Result<(), CliError> {
    let since = match since {
        None => None,
        Some(s) => Some(parse_since(s, OffsetDateTime::now_utc())?),
    };
    let r = expect_ok(dispatch(config, &AdminRequest::Audit { since })?)?;
    let AdminResponse::Audit { records } = &r else {
        return Err(unexpected(&r));
    };
    if json {
        out!("{}\n", serde_json::to_string_pretty(records).map_err(err)?);
        return Ok(());
    }
    for rec in records {
        let event = serde_json::to_value(&rec.event).map_err(err)?;
        let kind = event["event"].as_str().unwrap_or("?").to_owned();
        let mut details = Vec::new();
        if let Some(map) = event.as_object() {
            for (k, v) in map {
                if k != "event" && !v.is_null() {
                    let text = v
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string());
                    details.push(format!("{k}={text}"));
                }
            }
        }
        out!(
            "{}  {:<18} {:<16} {}\n",
            format_time(rec.at),
            kind,
            rec.actor,
            details.join(" ")
        );
    }
    Ok(())
}

/// `--since 7d` (a duration back from now) or `--since 2026-12-01` (a UTC date).
fn parse_since(s: &str, now: OffsetDateTime) -> Result<i64, CliError> {
    if let Ok(d) = parse_duration(s) {
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        return Ok(now.unix_timestamp().saturating_sub(secs));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(s, &format).map_err(|_| {
        CliError(format!(
            "--since {s:?}: give a duration (7d, 12h) or a date (2026-12-01)"
        ))
    })?;
    Ok(date.midnight().assume_utc().unix_timestamp())
}

pub fn backup(config: &Config, out: &std::path::Path) -> Result<(), CliError> {
    let out = std::path::absolute(out).map_err(|e| CliError(format!("{}: {e}", out.display())))?;
    let r = expect_ok(dispatch(
        config,
        &AdminRequest::Backup { path: out.clone() },
    )?)?;
    let AdminResponse::Backup { records, millis } = &r else {
        return Err(unexpected(&r));
    };
    eprintln!(
        "backed up {records} store records and the CA files to {} (writers paused {millis} ms)",
        out.display()
    );
    Ok(())
}

pub fn restore(config: &Config, file: &std::path::Path) -> Result<(), CliError> {
    crate::backup::restore(file, &config.data_dir).map_err(CliError)?;
    eprintln!(
        "restored {} into {}",
        file.display(),
        config.data_dir.display()
    );
    Ok(())
}

fn expect_ok(r: AdminResponse) -> Result<AdminResponse, CliError> {
    match r {
        AdminResponse::Error { message } => Err(CliError(message)),
        other => Ok(other),
    }
}

fn unexpected(r: &AdminResponse) -> CliError {
    CliError(format!("unexpected answer from the server: {r:?}"))
}

pub fn ca(config: &Config, cmd: &CaCommand) -> Result<(), CliError> {
    match cmd {
        CaCommand::Init(_) => {
            server::ensure_data_dir(&config.data_dir).map_err(err)?;
            let params = CaParams {
                subject: config.ca_subject.clone(),
                key_bits: config.ca_key_bits,
                validity_days: config.ca_validity_days,
            };
            let passphrase = config
                .ca_key_passphrase
                .as_ref()
                .map(|p| p.expose().as_bytes());
            let ca = keyfile::create(
                &config.data_dir,
                &params,
                passphrase,
                OffsetDateTime::now_utc(),
            )
            .map_err(err)?;
            out!("created CA {}\n", ca.certificate.subject());
            out!(
                "SHA-256 fingerprint: {}\n",
                ca.certificate.sha256_fingerprint()
            );
            Ok(())
        }
        CaCommand::Show { pem } => {
            let AdminResponse::Ca(info) = expect_ok(dispatch(config, &AdminRequest::CaShow)?)?
            else {
                return Err(CliError("unexpected answer".into()));
            };
            if *pem {
                out!("{}", info.pem);
            } else {
                out!("subject:             {}\n", info.subject);
                out!("not before:          {}\n", format_time(info.not_before));
                out!("not after:           {}\n", format_time(info.not_after));
                out!("SHA-256 fingerprint: {}\n", info.sha256_fingerprint);
                out!("{}", info.pem);
            }
            Ok(())
        }
    }
}

pub fn challenge(config: &Config, cmd: &ChallengeCommand) -> Result<(), CliError> {
    let ChallengeCommand::Create {
        ttl,
        count,
        cn,
        san_dns,
        san_email,
        approval,
        json,
    } = cmd;
    let ttl = parse_duration(ttl).map_err(|e| CliError(format!("--ttl {e}")))?;
    let request = AdminRequest::ChallengeCreate {
        ttl_secs: ttl.as_secs(),
        count: *count,
        constraints: Constraints {
            common_name: cn.clone(),
            dns_names: san_dns.clone(),
            emails: san_email.clone(),
            manual_approval: approval == "manual",
        },
        actor: actor(),
    };
    let r = expect_ok(dispatch(config, &request)?)?;
    let AdminResponse::Challenges { challenges } = &r else {
        return Err(unexpected(&r));
    };
    if *json {
        out!(
            "{}\n",
            serde_json::to_string_pretty(challenges).map_err(err)?
        );
    } else {
        for c in challenges {
            out!("{}\n", c.challenge);
        }
        if let Some(first) = challenges.first() {
            eprintln!(
                "{} one-time challenge(s), valid until {} (shown once; only a hash is kept)",
                challenges.len(),
                format_time(first.expires_at)
            );
        }
    }
    Ok(())
}

pub fn cert(config: &Config, cmd: &CertCommand) -> Result<(), CliError> {
    match cmd {
        CertCommand::Revoke {
            serial,
            reason,
            comment,
            decimal,
        } => {
            let serial = parse_serial(serial, *decimal)?;
            let reason = reason.parse::<RevocationReason>().map_err(err)?;
            let r = expect_ok(dispatch(
                config,
                &AdminRequest::CertRevoke {
                    serial,
                    reason,
                    comment: comment.clone(),
                    actor: actor(),
                },
            )?)?;
            let AdminResponse::Cert { cert } = &r else {
                return Err(unexpected(&r));
            };
            out!("revoked {} ({}): {}\n", cert.serial, reason, cert.subject);
            Ok(())
        }
        CertCommand::Unhold { serial, decimal } => {
            let serial = parse_serial(serial, *decimal)?;
            let r = expect_ok(dispatch(
                config,
                &AdminRequest::CertUnhold {
                    serial,
                    actor: actor(),
                },
            )?)?;
            let AdminResponse::Cert { cert } = &r else {
                return Err(unexpected(&r));
            };
            out!("released the hold on {}: {}\n", cert.serial, cert.subject);
            Ok(())
        }
        CertCommand::List {
            json,
            status: wanted,
            expiring,
            subject,
        } => {
            let r = expect_ok(dispatch(config, &AdminRequest::CertList)?)?;
            let AdminResponse::Certs { certs } = &r else {
                return Err(unexpected(&r));
            };
            let now = OffsetDateTime::now_utc().unix_timestamp();
            let horizon = match expiring {
                Some(d) => Some(
                    now.saturating_add(
                        i64::try_from(
                            parse_duration(d)
                                .map_err(|e| CliError(format!("--expiring {e}")))?
                                .as_secs(),
                        )
                        .unwrap_or(i64::MAX),
                    ),
                ),
                None => None,
            };
            let certs: Vec<&CertRecord> = certs
                .iter()
                .filter(|c| wanted.as_deref().is_none_or(|w| status(c) == w))
                .filter(|c| horizon.is_none_or(|h| c.not_after >= now && c.not_after <= h))
                .filter(|c| {
                    subject
                        .as_deref()
                        .is_none_or(|s| c.subject.to_lowercase().contains(&s.to_lowercase()))
                })
                .collect();
            if *json {
                out!("{}\n", serde_json::to_string_pretty(&certs).map_err(err)?);
                return Ok(());
            }
            out!(
                "{:<32}  {:<7}  {:<20}  SUBJECT\n",
                "SERIAL",
                "STATUS",
                "NOT AFTER"
            );
            for c in certs {
                out!(
                    "{:<32}  {:<7}  {:<20}  {}\n",
                    c.serial,
                    status(c),
                    format_time(c.not_after),
                    c.subject
                );
            }
            Ok(())
        }
        CertCommand::Show { serial, pem, der } => {
            let serial = Serial::parse(serial).ok_or_else(|| {
                CliError(format!(
                    "{serial:?} is not a serial: give hex (as openssl prints it) or 0d<decimal>"
                ))
            })?;
            let r = expect_ok(dispatch(config, &AdminRequest::CertShow { serial })?)?;
            let AdminResponse::Cert { cert } = &r else {
                return Err(unexpected(&r));
            };
            let x509 = openssl::x509::X509::from_der(&cert.der).map_err(err)?;
            if *der {
                emit(&cert.der)?;
            } else if *pem {
                out!("{}", String::from_utf8_lossy(&x509.to_pem().map_err(err)?));
            } else {
                out!("serial:         {}\n", cert.serial);
                out!("status:         {}\n", status(cert));
                out!("subject:        {}\n", cert.subject);
                out!("alt names:      {}\n", cert.subject_alt_names.join(", "));
                out!("not before:     {}\n", format_time(cert.not_before));
                out!("not after:      {}\n", format_time(cert.not_after));
                out!("issued at:      {}\n", format_time(cert.issued_at));
                out!("requester:      {}\n", cert.requester);
                out!("challenge:      {}\n", cert.challenge);
                out!(
                    "transaction id: {}\n",
                    cert.transaction_id.as_deref().unwrap_or("-")
                );
                let fp = openssl::sha::sha256(&cert.der);
                out!("SHA-256:        {}\n", crate::ca::colon_hex(&fp));
                out!("{}", String::from_utf8_lossy(&x509.to_pem().map_err(err)?));
            }
            Ok(())
        }
    }
}

fn status(c: &CertRecord) -> &'static str {
    match c.status {
        CertStatus::Valid if c.not_after < OffsetDateTime::now_utc().unix_timestamp() => "expired",
        CertStatus::Valid => "valid",
        CertStatus::Revoked { .. } => "revoked",
    }
}

/// RFC 3339 in UTC.
pub fn format_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

pub fn profile(config: &Config, cmd: &ProfileCommand) -> Result<(), CliError> {
    match cmd {
        ProfileCommand::Build {
            kind,
            subject,
            challenge,
            ttl,
            out,
            unsigned,
            wifi,
            wifi_server_names,
            vpn_server,
            vpn_remote_id,
            p12,
            embed_password,
            modern_pkcs12,
            public_url: _,
        } => {
            // Signing needs the CA (to issue the profile signer the first time) and its key.
            let (ca, _) = server::load_or_create_ca_existing(config).map_err(err)?;
            let signer = crate::profiles::signer_for(config, &ca).map_err(err)?;
            let profiles = crate::profiles::Profiles::new(&ca, &config.public_url, signer);
            let networks = crate::profiles::Networks {
                wifi_ssid: wifi.clone(),
                wifi_server_names: wifi_server_names.clone(),
                vpn: match (vpn_server, vpn_remote_id) {
                    (Some(server), Some(remote_id)) => Some(crate::profiles::VpnTarget {
                        server: server.clone(),
                        remote_id: remote_id.clone(),
                    }),
                    _ => None,
                },
            };
            let plist = if kind == "root" {
                profiles.root().map_err(err)?
            } else if kind == "pkcs12" {
                let (der, password) = server_side_identity(config, subject, *modern_pkcs12)?;
                if let Some(path) = p12 {
                    std::fs::write(path, &der)
                        .map_err(|e| CliError(format!("{}: {e}", path.display())))?;
                }
                eprintln!("PKCS#12 password (shown once): {password}");
                let embedded = embed_password.then(|| password.clone());
                profiles
                    .pkcs12(subject, &der, embedded, &networks)
                    .map_err(err)?
            } else {
                let challenge = match challenge {
                    Some(c) => c.clone(),
                    None => one_time_challenge_for(config, subject, ttl)?,
                };
                profiles.scep(subject, &challenge, &networks).map_err(err)?
            };
            let bytes = if *unsigned {
                plist
            } else {
                profiles.sign(&plist).map_err(err)?
            };
            std::fs::write(out, bytes).map_err(|e| CliError(format!("{}: {e}", out.display())))?;
            eprintln!(
                "wrote {} {kind} profile to {}",
                if *unsigned { "an unsigned" } else { "a signed" },
                out.display()
            );
            Ok(())
        }
        ProfileCommand::Inspect { file } => {
            let bytes =
                std::fs::read(file).map_err(|e| CliError(format!("{}: {e}", file.display())))?;
            let plist = if bytes.starts_with(b"<?xml") {
                out!("signature:      none (unsigned profile)\n");
                bytes
            } else {
                let (plist, chain) = crate::apple::verify_profile(&bytes).map_err(err)?;
                out!("signature:      valid (CMS SignedData over the plist)\n");
                for (i, c) in chain.iter().enumerate() {
                    out!(
                        "signer chain {i}: {} (issued by {})\n",
                        crate::ca::name_to_string(c.subject_name()),
                        crate::ca::name_to_string(c.issuer_name())
                    );
                }
                plist
            };
            let value = plist::Value::from_reader_xml(plist.as_slice()).map_err(err)?;
            let top = value
                .as_dictionary()
                .ok_or_else(|| CliError("the plist is not a dictionary".into()))?;
            let field = |d: &plist::Dictionary, k: &str| {
                d.get(k)
                    .and_then(plist::Value::as_string)
                    .unwrap_or("-")
                    .to_owned()
            };
            out!(
                "profile:        {} ({}), {}\n",
                field(top, "PayloadDisplayName"),
                field(top, "PayloadType"),
                field(top, "PayloadIdentifier")
            );
            if let Some(items) = top.get("PayloadContent").and_then(plist::Value::as_array) {
                for item in items {
                    if let Some(d) = item.as_dictionary() {
                        out!(
                            "payload:        {} {} ({})\n",
                            field(d, "PayloadType"),
                            field(d, "PayloadIdentifier"),
                            field(d, "PayloadUUID")
                        );
                    }
                }
            }
            // Apple's device-management schemas: undeclared keys, missing required keys,
            // wrong types or values. Payload types we carry no schema for are reported too.
            let problems = crate::apple::schema::check_profile(top).map_err(err)?;
            if problems.is_empty() {
                out!("schema:         conforms to Apple's schemas\n");
            } else {
                for p in &problems {
                    out!("schema problem: {p}\n");
                }
            }
            Ok(())
        }
    }
}

/// A one-time challenge for a profile, bound to the subject's CN when it has one.
fn one_time_challenge_for(config: &Config, subject: &str, ttl: &str) -> Result<String, CliError> {
    let ttl = parse_duration(ttl).map_err(|e| CliError(format!("--ttl {e}")))?;
    let cn = subject
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("CN="))
        .map(str::to_owned)
        .next();
    let request = AdminRequest::ChallengeCreate {
        ttl_secs: ttl.as_secs(),
        count: 1,
        constraints: Constraints {
            common_name: cn,
            dns_names: Vec::new(),
            emails: Vec::new(),
            manual_approval: false,
        },
        actor: actor(),
    };
    let r = expect_ok(dispatch(config, &request)?)?;
    let AdminResponse::Challenges { challenges } = &r else {
        return Err(unexpected(&r));
    };
    challenges
        .first()
        .map(|c| c.challenge.clone())
        .ok_or_else(|| CliError("no challenge was created".into()))
}

pub fn link(config: &Config, cmd: &LinkCommand) -> Result<(), CliError> {
    let LinkCommand::Create {
        ttl,
        uses,
        subject,
        wifi,
        vpn_server,
        vpn_remote_id,
        pkcs12,
    } = cmd;
    let ttl = parse_duration(ttl).map_err(|e| CliError(format!("--ttl {e}")))?;
    let r = expect_ok(dispatch(
        config,
        &AdminRequest::LinkCreate {
            ttl_secs: ttl.as_secs(),
            uses: *uses,
            subject: subject.clone(),
            networks: crate::links::LinkNetworks {
                wifi_ssid: wifi.clone(),
                vpn: vpn_server.clone().zip(vpn_remote_id.clone()),
                pkcs12: *pkcs12,
            },
            actor: actor(),
        },
    )?)?;
    let AdminResponse::Link {
        url,
        expires_at,
        uses,
    } = &r
    else {
        return Err(unexpected(&r));
    };
    out!("{url}\n");
    eprintln!(
        "{uses} download(s), valid until {} (the link is shown once; only a hash is kept)",
        format_time(*expires_at)
    );
    Ok(())
}

/// Issue a server-side identity and pack it as PKCS#12 with a random password. By default
/// PBE-SHA1-3DES with a SHA-1 MAC, which every iOS version imports (OpenSSL 3's
/// AES-256/SHA-256 default is reported to fail on iOS).
fn server_side_identity(
    config: &Config,
    subject: &str,
    modern: bool,
) -> Result<(Vec<u8>, String), CliError> {
    let r = expect_ok(dispatch(
        config,
        &AdminRequest::IdentityIssue {
            subject: subject.to_owned(),
            actor: actor(),
        },
    )?)?;
    let AdminResponse::Identity { key_pem, cert_pem } = &r else {
        return Err(unexpected(&r));
    };
    let key = openssl::pkey::PKey::private_key_from_pem(key_pem.as_bytes()).map_err(err)?;
    let cert = openssl::x509::X509::from_pem(cert_pem.as_bytes()).map_err(err)?;
    let ca = keyfile::load_certificate(&config.data_dir).map_err(err)?;
    let password = crate::ca::challenge::random_text(20).map_err(err)?;
    let der = crate::profiles::pack_pkcs12(&key, &cert, &ca.x509, subject, &password, modern)
        .map_err(err)?;
    Ok((der, password))
}

pub fn identity(config: &Config, cmd: &IdentityCommand) -> Result<(), CliError> {
    let IdentityCommand::Issue {
        subject,
        out,
        p12,
        embed_password,
        modern_pkcs12,
    } = cmd;
    profile(
        config,
        &ProfileCommand::Build {
            kind: "pkcs12".into(),
            p12: p12.clone(),
            embed_password: *embed_password,
            modern_pkcs12: *modern_pkcs12,
            subject: subject.clone(),
            challenge: None,
            ttl: "7d".into(),
            out: out.clone(),
            unsigned: false,
            wifi: None,
            wifi_server_names: Vec::new(),
            vpn_server: None,
            vpn_remote_id: None,
            public_url: None,
        },
    )
}
