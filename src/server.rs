//! `certdrop serve`: open or create the CA and the store, start the admin socket and the
//! HTTP server.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use actix_web::{web, App, HttpServer};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::ca::challenge::hash_secret;
use crate::ca::{keyfile, Ca, CaParams};
use crate::config::Config;
use crate::enroll::{ChallengePolicy, EnrollConfig, Enroller};
use crate::http::{self, AppState};
use crate::revocation::Revocation;
use crate::store::sled::{SledStore, STORE_DIR};
use crate::store::Store;

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error(transparent)]
    Ca(#[from] crate::ca::CaError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot load OpenSSL's legacy provider for single DES: {0}")]
    LegacyProvider(openssl::error::ErrorStack),
    #[error("admin socket: {0}")]
    AdminSocket(std::io::Error),
    #[error("profile signing: {0}")]
    Profiles(crate::profiles::ProfilesError),
    #[error("cannot publish the CRL: {0}")]
    Crl(crate::revocation::PublishError),
    #[error("cannot listen on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
}

/// Create the data directory (mode 0700) if needed.
pub fn ensure_data_dir(dir: &Path) -> Result<(), StartError> {
    let err = |e| StartError::DataDir(dir.display().to_string(), e);
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?;
    } else {
        let mode = std::fs::metadata(dir).map_err(err)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777),
                "the data directory is accessible to other users; chmod 700 recommended");
        }
    }
    Ok(())
}

/// Load the CA from the data directory, or create it on first start.
pub fn load_or_create_ca(config: &Config) -> Result<(Ca, bool), StartError> {
    ensure_data_dir(&config.data_dir)?;
    let passphrase = config
        .ca_key_passphrase
        .as_ref()
        .map(|p| p.expose().as_bytes());
    if keyfile::exists(&config.data_dir) {
        return Ok((keyfile::load(&config.data_dir, passphrase)?, false));
    }
    let params = CaParams {
        subject: config.ca_subject.clone(),
        key_bits: config.ca_key_bits,
        validity_days: config.ca_validity_days,
    };
    let ca = keyfile::create(
        &config.data_dir,
        &params,
        passphrase,
        OffsetDateTime::now_utc(),
    )?;
    Ok((ca, true))
}

/// Load the existing CA (with its key) for offline admin work; never creates one.
pub fn load_or_create_ca_existing(config: &Config) -> Result<(Ca, bool), StartError> {
    if !keyfile::exists(&config.data_dir) {
        return Err(StartError::Ca(crate::ca::CaError::Invalid(format!(
            "no CA in {}",
            config.data_dir.display()
        ))));
    }
    load_or_create_ca(config)
}

/// Open the store in the data directory.
pub fn open_store(data_dir: &Path) -> Result<SledStore, StartError> {
    ensure_data_dir(data_dir)?;
    Ok(SledStore::open(&data_dir.join(STORE_DIR))?)
}

/// OpenSSL 3 keeps single DES in its legacy provider. Loading it explicitly stops the default
/// provider from loading implicitly, so both are loaded. The handles must outlive the server.
fn load_legacy_providers() -> Result<Vec<openssl::provider::Provider>, StartError> {
    let legacy =
        openssl::provider::Provider::load(None, "legacy").map_err(StartError::LegacyProvider)?;
    let default =
        openssl::provider::Provider::load(None, "default").map_err(StartError::LegacyProvider)?;
    Ok(vec![legacy, default])
}

pub async fn serve(config: Config) -> Result<(), StartError> {
    // Open the store first: it takes sled's lock, so a second server stops here, before it
    // could touch the CA files or the admin socket.
    let store: Arc<dyn Store> = Arc::new(open_store(&config.data_dir)?);
    let _providers = if config.legacy_des {
        tracing::warn!("legacy_des is on: single-DES requests are accepted");
        load_legacy_providers()?
    } else {
        Vec::new()
    };
    let (ca, created) = load_or_create_ca(&config)?;
    let fingerprint = ca.certificate.sha256_fingerprint();
    if created {
        tracing::info!(subject = %ca.certificate.subject(), bits = config.ca_key_bits,
            "created a new CA");
    }
    if !config.require_challenge {
        tracing::warn!(
            "require_challenge = false: ANY client that can reach this server gets a \
             certificate without a challenge password"
        );
    } else if config.challenge.is_none() {
        tracing::info!(
            "no static challenge configured: only one-time challenges from \
             `certdrop challenge create` are accepted"
        );
    }
    let ca = Arc::new(ca);
    let revocation = Arc::new(Revocation::new(
        ca.clone(),
        store.clone(),
        config.crl_validity,
    ));
    revocation
        .publish(OffsetDateTime::now_utc())
        .map_err(StartError::Crl)?;
    let enroller = Arc::new(
        Enroller::new(
            ca.clone(),
            store.clone(),
            EnrollConfig {
                challenge: ChallengePolicy {
                    static_sha256: config.challenge.as_ref().map(|c| hash_secret(c.expose())),
                    required: config.require_challenge,
                },
                legacy_des: config.legacy_des,
                issue: config.issue_policy(),
                retransmit_window: config.retransmit_window,
                renewal_window: config.renewal_window,
                manual_approval: config.manual_approval,
                pending_ttl: config.pending_ttl,
            },
        )
        .with_revocation(revocation.clone()),
    );
    spawn_crl_refresher(revocation.clone());
    admin_socket(&config, &ca, store.clone(), revocation.clone())?;

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let signer = crate::profiles::signer_for(&config, &ca).map_err(StartError::Profiles)?;
    let profiles = Arc::new(crate::profiles::Profiles::new(
        &ca,
        &config.public_url,
        signer,
    ));
    let state = web::Data::new(AppState {
        enroller,
        revocation,
        profiles,
        // Two enrollments per core: each spends part of its time waiting for the store's
        // fsync, and a second one computes meanwhile (measured: 373/s -> 414/s at 8 clients).
        cpu_slots: Arc::new(Semaphore::new(cores * 2)),
        body_slots: Arc::new(Semaphore::new(http::MAX_CONCURRENT_BODIES)),
        max_body_bytes: config.max_body_bytes,
    });
    let max_body = config.max_body_bytes;
    let server = HttpServer::new(move || {
        // Path only: GET messages are long and need not be in every log line.
        let access_log = actix_web::middleware::Logger::new("%a \"%{method}xi %U\" %s %b %Dms")
            .custom_request_replace("method", |req| req.method().to_string());
        App::new()
            .wrap(access_log)
            .app_data(state.clone())
            .configure(|c| http::configure(c, max_body))
    })
    .workers(cores)
    .bind(config.listen)
    .map_err(|e| StartError::Listen(config.listen, e))?;

    // Printed (not logged) so an admin sees it whatever the log level.
    println!("certdrop CA SHA-256 fingerprint: {fingerprint}");
    println!("SCEP URL: {}", config.scep_url());
    println!("listening on http://{}", config.listen);
    tracing::info!(listen = %config.listen, data_dir = %config.data_dir.display(),
        "certdrop started");
    let result = server
        .run()
        .await
        .map_err(|e| StartError::Listen(config.listen, e));
    // Stopped (SIGINT/SIGTERM): no one answers on the socket any more.
    let _ = std::fs::remove_file(crate::admin::socket_path(&config.data_dir));
    result
}

fn admin_socket(
    config: &Config,
    ca: &Arc<Ca>,
    store: Arc<dyn Store>,
    revocation: Arc<Revocation>,
) -> Result<(), StartError> {
    crate::admin::serve_socket(
        &config.data_dir,
        ca.certificate.clone(),
        store,
        revocation,
        (ca.clone(), config.issue_policy()),
        config.public_url.clone(),
    )
    .map_err(StartError::AdminSocket)?;
    Ok(())
}

/// Remake the CRL before half its validity has passed (checked every minute).
fn spawn_crl_refresher(revocation: Arc<Revocation>) {
    let spawned = std::thread::Builder::new()
        .name("crl-refresh".into())
        .spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
            if let Err(e) = revocation.refresh_if_due(OffsetDateTime::now_utc()) {
                tracing::error!(error = %e, "could not refresh the CRL");
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the CRL refresher");
    }
}
