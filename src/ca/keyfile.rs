//! The CA's files in the data directory: `ca.pem` (certificate) and `ca.key` (PKCS#8 PEM,
//! mode 0600, optionally encrypted with AES-256-CBC under a passphrase, scrypt-free PBES2 as
//! OpenSSL writes it).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use openssl::pkey::PKey;
use openssl::symm::Cipher;
use openssl::x509::X509;
use time::OffsetDateTime;

use super::{Ca, CaCertificate, CaError, CaParams};

pub const CERT_FILE: &str = "ca.pem";
pub const KEY_FILE: &str = "ca.key";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |source| CaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn cert_path(dir: &Path) -> PathBuf {
    dir.join(CERT_FILE)
}

pub fn key_path(dir: &Path) -> PathBuf {
    dir.join(KEY_FILE)
}

/// Whether a CA exists in `dir`.
pub fn exists(dir: &Path) -> bool {
    cert_path(dir).exists() || key_path(dir).exists()
}

/// Read only the certificate (for admin commands that need no key).
pub fn load_certificate(dir: &Path) -> Result<CaCertificate, CaError> {
    let path = cert_path(dir);
    let pem = fs::read(&path).map_err(io(&path))?;
    CaCertificate::from_x509(X509::from_pem(&pem)?)
}

/// Load the CA from `dir`.
pub fn load(dir: &Path, passphrase: Option<&[u8]>) -> Result<Ca, CaError> {
    let certificate = load_certificate(dir)?;
    let path = key_path(dir);
    let meta = fs::metadata(&path).map_err(io(&path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the CA key file is readable by others; run chmod 600 on it"
        );
    }
    let pem = fs::read(&path).map_err(io(&path))?;
    let encrypted = pem.windows(9).any(|w| w == b"ENCRYPTED");
    let key = match (encrypted, passphrase) {
        (true, Some(p)) => PKey::private_key_from_pem_passphrase(&pem, p).map_err(|_| {
            CaError::Invalid(format!(
                "{}: cannot decrypt the CA key: wrong passphrase?",
                path.display()
            ))
        })?,
        (true, None) => {
            return Err(CaError::Invalid(format!(
                "{} is encrypted: set CERTDROP_CA_KEY_PASSPHRASE or ca_key_passphrase_file",
                path.display()
            )))
        }
        (false, _) => PKey::private_key_from_pem(&pem)?,
    };
    Ca::new(certificate, key)
}

/// Create a CA in `dir` (which must hold none): key first, mode 0600 from the moment the file
/// exists, then the certificate; both written to a temporary name, synced and renamed.
pub fn create(
    dir: &Path,
    params: &CaParams,
    passphrase: Option<&[u8]>,
    now: OffsetDateTime,
) -> Result<Ca, CaError> {
    if exists(dir) {
        return Err(CaError::Invalid(format!(
            "{} already holds a CA",
            dir.display()
        )));
    }
    let ca = Ca::create(params, now)?;
    let key_pem = match passphrase {
        Some(p) => ca
            .key()
            .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), p)?,
        None => ca.key().private_key_to_pem_pkcs8()?,
    };
    write_new(&key_path(dir), &key_pem, 0o600)?;
    write_new(&cert_path(dir), &ca.certificate.x509.to_pem()?, 0o644)?;
    Ok(ca)
}

/// Write a new file (never overwriting) with `mode`, via a synced temporary name.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}
