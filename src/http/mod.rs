//! actix-web handlers: translate HTTP to calls on [`Enroller`] and back, nothing more.
//!
//! SCEP (RFC 8894 §4) is served at `/scep`, `/scep/pkiclient.exe` and
//! `/cgi-bin/pkiclient.exe` (the path old clients hard-code).

pub mod error;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::enroll::Enroller;
use crate::scep::get;
use error::HttpError;

/// Shared state of the HTTP layer.
pub struct AppState {
    pub enroller: Arc<Enroller>,
    pub revocation: Arc<crate::revocation::Revocation>,
    pub profiles: Arc<crate::profiles::Profiles>,
    /// Bounds concurrent enrollments on the blocking pool (two per core: see `server`), so
    /// RSA work never piles up there and the reactor stays free for I/O.
    pub cpu_slots: Arc<Semaphore>,
    /// Bounds bodies being received at once (see [`MAX_CONCURRENT_BODIES`]).
    pub body_slots: Arc<Semaphore>,
    pub max_body_bytes: usize,
}

/// Longest query string we decode (a GET PKIOperation of a 4096-bit request is ~8 KiB).
/// Below actix's own request-head limit, so the client gets our 413 rather than its 400.
pub const MAX_QUERY_BYTES: usize = 32 * 1024;

/// A POST body must arrive within this time. Without it, clients trickling bodies hold a
/// buffer of up to `max_body_bytes` each for as long as they like.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Bodies being received at once; with the 1 MiB default this caps body buffers at 128 MiB.
pub const MAX_CONCURRENT_BODIES: usize = 128;

pub const SCEP_PATHS: [&str; 3] = ["/scep", "/scep/pkiclient.exe", "/cgi-bin/pkiclient.exe"];

/// Register the routes.
pub fn configure(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    for path in SCEP_PATHS {
        cfg.service(
            web::resource(path)
                .app_data(web::PayloadConfig::new(max_body_bytes))
                .route(web::get().to(scep_get))
                .route(web::head().to(scep_get))
                .route(web::post().to(scep_post)),
        );
    }
    // RFC 5280 §4.2.1.13 distribution point; both names are common in the wild.
    for path in ["/crl", "/ca.crl"] {
        cfg.service(
            web::resource(path)
                .route(web::get().to(crl))
                .route(web::head().to(crl)),
        );
    }
    // RFC 6960 Appendix A.1: POST with the DER request, or GET with it base64 in the path.
    cfg.service(web::resource("/ocsp").route(web::post().to(ocsp_post)));
    cfg.service(web::resource("/ocsp/{request:.*}").route(web::get().to(ocsp_get)));
    // The CA for people and devices: a signed root profile for iOS/macOS, DER and PEM.
    cfg.route("/ca.mobileconfig", web::get().to(ca_profile));
    // Enrollment links: the install page, and the profile (one use per download).
    cfg.route(
        "/enroll/{token}/profile.mobileconfig",
        web::get().to(link_profile),
    );
    cfg.route("/enroll/{token}", web::get().to(link_page));
    cfg.route("/ca.crt", web::get().to(ca_der));
    cfg.route("/ca.pem", web::get().to(ca_pem));
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .route(web::head().to(healthz)),
    );
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

fn operation(req: &HttpRequest) -> Result<(String, Option<String>), HttpError> {
    let raw = req.query_string();
    if raw.len() > MAX_QUERY_BYTES {
        return Err(HttpError::PayloadTooLarge(format!(
            "query string over {MAX_QUERY_BYTES} bytes"
        )));
    }
    let q = get::parse_query(raw);
    let op = q
        .operation
        .ok_or_else(|| HttpError::BadRequest("missing operation parameter".into()))?;
    let op = get::percent_decode_text(op).map_err(|e| HttpError::BadRequest(e.to_string()))?;
    Ok((op, q.message.map(str::to_owned)))
}

async fn scep_get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    let (op, message) = operation(&req)?;
    match op.as_str() {
        // RFC 8894 §3.5.1: one capability per line, text/plain. `message` is an opaque CA label.
        "GetCACaps" => Ok(HttpResponse::Ok()
            .content_type("text/plain")
            .body(state.enroller.capabilities())),
        // RFC 8894 §4.2.1.1: a single CA certificate (no RA) as DER.
        "GetCACert" => Ok(HttpResponse::Ok()
            .content_type("application/x-x509-ca-cert")
            .body(state.enroller.ca().certificate.der.clone())),
        "PKIOperation" => {
            let message =
                message.ok_or_else(|| HttpError::BadRequest("missing message parameter".into()))?;
            let body =
                get::decode_message(&message).map_err(|e| HttpError::BadRequest(e.to_string()))?;
            pki_operation(&req, &state, body).await
        }
        other => Err(HttpError::BadRequest(format!(
            "unknown operation {:?}",
            other.chars().take(64).collect::<String>()
        ))),
    }
}

async fn scep_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let (op, _) = operation(&req)?;
    if op != "PKIOperation" {
        return Err(HttpError::BadRequest(format!(
            "operation {:?} is not allowed over POST",
            op.chars().take(64).collect::<String>()
        )));
    }
    let body = read_body(payload, &state, state.max_body_bytes).await?;
    // RFC 8894 §4.3: any or no Content-Type is accepted.
    pki_operation(&req, &state, body).await
}

/// Receive a request body: at most `limit` bytes, within [`BODY_TIMEOUT`], and only while
/// fewer than [`MAX_CONCURRENT_BODIES`] are being received (else 503).
async fn read_body(
    payload: web::Payload,
    state: &web::Data<AppState>,
    limit: usize,
) -> Result<Vec<u8>, HttpError> {
    let _slot = state
        .body_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| HttpError::Unavailable)?;
    match actix_web::rt::time::timeout(BODY_TIMEOUT, payload.to_bytes_limited(limit)).await {
        Err(_) => Err(HttpError::Timeout),
        Ok(Err(_)) => Err(HttpError::PayloadTooLarge(format!(
            "body over {limit} bytes"
        ))),
        Ok(Ok(Err(e))) => Err(HttpError::BadRequest(format!("reading body: {e}"))),
        Ok(Ok(Ok(bytes))) => Ok(bytes.to_vec()),
    }
}

async fn pki_operation(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    body: Vec<u8>,
) -> Result<HttpResponse, HttpError> {
    let requester = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let _permit = state
        .cpu_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| HttpError::Unavailable)?;
    let enroller = state.enroller.clone();
    let reply =
        web::block(move || enroller.pki_operation(&body, &requester, OffsetDateTime::now_utc()))
            .await
            .map_err(|e| HttpError::Internal(format!("worker failed: {e}")))??;
    // RFC 8894 §4.3: always application/x-pki-message, failures included.
    Ok(HttpResponse::Ok()
        .content_type("application/x-pki-message")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(reply.body))
}

/// Largest OCSP request accepted (one holds up to 100 CertIDs of ~100 bytes).
pub const MAX_OCSP_REQUEST_BYTES: usize = 64 * 1024;

async fn crl(state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    let current = state.revocation.current().ok_or(HttpError::Unavailable)?;
    let last_modified = httpdate(current.this_update);
    let expires = httpdate(current.next_update);
    Ok(HttpResponse::Ok()
        .content_type("application/pkix-crl")
        // Short enough that a revocation reaches relying parties within minutes.
        .insert_header((header::CACHE_CONTROL, "public, max-age=300, no-transform"))
        .insert_header((header::LAST_MODIFIED, last_modified))
        .insert_header((header::EXPIRES, expires))
        .body(current.der.as_ref().clone()))
}

fn httpdate(unix: i64) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

async fn ocsp_post(
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let body = read_body(payload, &state, MAX_OCSP_REQUEST_BYTES).await?;
    ocsp_answer(&state, body).await
}

async fn ocsp_get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    // The raw path: base64 may hold '/', '+' and '=', percent-escaped or not.
    let raw = req.uri().path().strip_prefix("/ocsp/").unwrap_or_default();
    if raw.len() > MAX_QUERY_BYTES {
        return Err(HttpError::PayloadTooLarge("OCSP request too long".into()));
    }
    // An undecodable request is still an OCSP answer: malformedRequest (RFC 6960 §2.3).
    let der_bytes = get::decode_message(raw).unwrap_or_default();
    ocsp_answer(&state, der_bytes).await
}

async fn ocsp_answer(
    state: &web::Data<AppState>,
    request: Vec<u8>,
) -> Result<HttpResponse, HttpError> {
    let _permit = state
        .cpu_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| HttpError::Unavailable)?;
    let revocation = state.revocation.clone();
    let body = web::block(move || revocation.ocsp(&request, OffsetDateTime::now_utc()))
        .await
        .map_err(|e| HttpError::Internal(format!("worker failed: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/ocsp-response")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// `GET /ca.mobileconfig`: the signed root CA profile. Safari on iOS installs only
/// `application/x-apple-aspen-config` served as an attachment.
async fn ca_profile(state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    let profiles = state.profiles.clone();
    let signed = web::block(move || profiles.root().and_then(|p| profiles.sign(&p)))
        .await
        .map_err(|e| HttpError::Internal(format!("worker failed: {e}")))?
        .map_err(|e| HttpError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/x-apple-aspen-config")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"certdrop-ca.mobileconfig\"",
        ))
        .body(signed))
}

async fn ca_der(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-x509-ca-cert")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"ca.crt\"",
        ))
        .body(state.enroller.ca().certificate.der.clone())
}

async fn ca_pem(state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    let pem = state
        .enroller
        .ca()
        .certificate
        .to_pem()
        .map_err(|e| HttpError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(pem))
}

const ENROLL_PAGE: &str = include_str!("../../templates/enroll.html");
const LINK_ERROR_PAGE: &str = include_str!("../../templates/link-error.html");

/// Render a template; names ending in .html are auto-escaped by minijinja, so every value
/// from a link or the configuration is HTML-escaped.
fn render(name: &str, source: &str, ctx: minijinja::Value) -> Result<String, HttpError> {
    let mut env = minijinja::Environment::new();
    env.add_template(name, source)
        .map_err(|e| HttpError::Internal(format!("template {name}: {e}")))?;
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| HttpError::Internal(format!("template {name}: {e}")))
}

/// A page of ours: HTML, never cached (link pages change as links are used).
fn html_page(status: actix_web::http::StatusCode, html: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

fn link_error(state: &crate::links::LinkState) -> Result<HttpResponse, HttpError> {
    use crate::links::LinkState;
    let (status, title, message) = match state {
        LinkState::Expired => (
            actix_web::http::StatusCode::GONE,
            "This link has expired",
            "Enrollment links work for a limited time only.",
        ),
        LinkState::UsedUp => (
            actix_web::http::StatusCode::GONE,
            "This link has been used",
            "Each enrollment link installs a limited number of profiles.",
        ),
        LinkState::Unknown | LinkState::Usable(_) => (
            actix_web::http::StatusCode::NOT_FOUND,
            "Unknown enrollment link",
            "Check that the whole link was copied.",
        ),
    };
    let html = render(
        "link-error.html",
        LINK_ERROR_PAGE,
        minijinja::context! { title => title, message => message },
    )?;
    Ok(html_page(status, html))
}

/// The install page. Viewing it does not use the link.
async fn link_page(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    use crate::links::{self, LinkState};
    let token = path.into_inner();
    let store = state.enroller.store().clone();
    let found = links::look_up(store.as_ref(), &token, OffsetDateTime::now_utc())
        .map_err(|e| HttpError::Internal(e.to_string()))?;
    let LinkState::Usable(link) = found else {
        return link_error(&found);
    };
    let page_url = format!(
        "{}://{}{}",
        req.connection_info().scheme(),
        req.connection_info().host(),
        req.path()
    );
    let qr = qrcode::QrCode::new(page_url.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build()
        })
        .unwrap_or_default();
    let ca = &state.enroller.ca().certificate;
    let html = render(
        "enroll.html",
        ENROLL_PAGE,
        minijinja::context! {
            ca_name => state.profiles.ca_name(),
            subject => link.subject,
            // The download link is relative to /enroll/<token> (see the template).
            token => token,
            fingerprint => ca.sha256_fingerprint(),
            uses_left => link.uses_left,
            expires => crate::commands::format_time(link.expires_at),
            // Our own SVG markup, generated from the URL: the one value not escaped.
            qr_svg => minijinja::Value::from_safe_string(qr),
        },
    )?;
    Ok(html_page(actix_web::http::StatusCode::OK, html))
}

/// The profile behind a link: root CA + SCEP payload with a new one-time challenge.
async fn link_profile(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let token = path.into_inner();
    let requester = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let store = state.enroller.store().clone();
    let profiles = state.profiles.clone();
    let enroller = state.enroller.clone();
    let result = web::block(move || {
        let taken = crate::links::take(
            store.as_ref(),
            &token,
            &requester,
            OffsetDateTime::now_utc(),
        )?;
        match taken {
            Err(state) => Ok(Err(state)),
            Ok((link, challenge)) if link.pkcs12 => {
                // The PKCS#12 route over a link: the challenge made for the link is not
                // needed; the key is made here, never stored, and the password travels in
                // the profile, so the link itself is the secret.
                let _ = challenge;
                let now = OffsetDateTime::now_utc();
                let (key, cert) = crate::enroll::issue_identity(
                    enroller.ca(),
                    store.as_ref(),
                    enroller.issue_policy(),
                    &link.subject,
                    &format!("link {}", link.id),
                    now,
                )?;
                let password = crate::ca::challenge::random_text(20).map_err(|e| e.to_string())?;
                let der = crate::profiles::pack_pkcs12(
                    &key,
                    &cert,
                    &enroller.ca().certificate.x509,
                    &link.subject,
                    &password,
                    false,
                )
                .map_err(|e| e.to_string())?;
                let networks = crate::profiles::Networks::of_link(&link);
                let plist = profiles
                    .pkcs12(&link.subject, &der, Some(password), &networks)
                    .map_err(|e| e.to_string())?;
                let signed = profiles.sign(&plist).map_err(|e| e.to_string())?;
                Ok(Ok((link, signed)))
            }
            Ok((link, challenge)) => {
                let plist = profiles
                    .scep(
                        &link.subject,
                        &challenge,
                        &crate::profiles::Networks::of_link(&link),
                    )
                    .map_err(|e| e.to_string())?;
                let signed = profiles.sign(&plist).map_err(|e| e.to_string())?;
                Ok(Ok((link, signed)))
            }
        }
    })
    .await
    .map_err(|e| HttpError::Internal(format!("worker failed: {e}")))?
    .map_err(HttpError::Internal)?;
    match result {
        Err(state) => link_error(&state),
        Ok((link, signed)) => {
            let name: String = link
                .subject
                .split(',')
                .find_map(|p| p.trim().strip_prefix("CN="))
                .unwrap_or("certdrop")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            Ok(HttpResponse::Ok()
                .content_type("application/x-apple-aspen-config")
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.mobileconfig\""),
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(signed))
        }
    }
}
