//! `certdrop backup` and `certdrop restore`: one file with the CA's files (the key exactly as
//! stored, so it stays encrypted if it was) and a consistent copy of the store.
//!
//! Format, JSON lines: `{"format":"certdrop-backup","version":1,...}`, then one
//! `{"file":NAME,"data":BASE64}` per CA file, then the store's own export (header, one line
//! per record, an end line with the count, so a truncated file is refused).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::ca::keyfile;
use crate::store::sled::{SledStore, STORE_DIR};
use crate::store::Store;

pub const FORMAT: &str = "certdrop-backup";

/// Write a backup of `data_dir`'s CA files and `store` to a new file at `path` (mode 0600).
/// Writers are paused while the store is copied; returns the number of store records.
pub fn write(data_dir: &Path, store: &dyn Store, path: &Path) -> Result<u64, String> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let io = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let header = serde_json::json!({
        "format": FORMAT,
        "version": 1,
        "created_at": time::OffsetDateTime::now_utc().unix_timestamp(),
    });
    writeln!(out, "{header}").map_err(io)?;
    for name in [keyfile::CERT_FILE, keyfile::KEY_FILE] {
        let p = data_dir.join(name);
        let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        writeln!(
            out,
            "{}",
            serde_json::json!({ "file": name, "data": B64.encode(bytes) })
        )
        .map_err(io)?;
    }
    let records = store.backup(&mut out).map_err(|e| e.to_string())?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(records)
}

/// Restore a backup into `data_dir`, which must not exist or be empty.
pub fn restore(backup: &Path, data_dir: &Path) -> Result<(), String> {
    if data_dir.exists()
        && std::fs::read_dir(data_dir)
            .map_err(|e| format!("{}: {e}", data_dir.display()))?
            .next()
            .is_some()
    {
        return Err(format!(
            "{} is not empty: restore only into an empty or new directory",
            data_dir.display()
        ));
    }
    let file = std::fs::File::open(backup).map_err(|e| format!("{}: {e}", backup.display()))?;
    let mut lines = BufReader::new(file).lines();
    let bad = |m: &str| format!("{}: not a valid certdrop backup: {m}", backup.display());
    let header: serde_json::Value = lines
        .next()
        .ok_or_else(|| bad("empty"))?
        .map_err(|e| bad(&e.to_string()))
        .and_then(|l| serde_json::from_str(&l).map_err(|e| bad(&e.to_string())))?;
    if header["format"] != FORMAT || header["version"] != 1 {
        return Err(bad("unknown format or version"));
    }
    let mut files = Vec::new();
    let mut store_lines = Vec::new();
    for line in lines {
        let line = line.map_err(|e| bad(&e.to_string()))?;
        if store_lines.is_empty() {
            let v: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| bad(&e.to_string()))?;
            if let Some(name) = v["file"].as_str() {
                let data = v["data"]
                    .as_str()
                    .and_then(|d| B64.decode(d).ok())
                    .ok_or_else(|| bad("bad file data"))?;
                files.push((name.to_owned(), data));
                continue;
            }
        }
        store_lines.push(line);
    }
    for needed in [keyfile::CERT_FILE, keyfile::KEY_FILE] {
        if !files.iter().any(|(n, _)| n == needed) {
            return Err(bad(&format!("{needed} missing")));
        }
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let joined = store_lines.join("\n");
    SledStore::restore(&data_dir.join(STORE_DIR), joined.as_bytes()).map_err(|e| e.to_string())?;
    for (name, data) in files {
        let mode = if name == keyfile::KEY_FILE {
            0o600
        } else {
            0o644
        };
        if name != keyfile::KEY_FILE && name != keyfile::CERT_FILE {
            return Err(bad(&format!("unexpected file {name}")));
        }
        keyfile::write_new(&data_dir.join(&name), &data, mode).map_err(|e| e.to_string())?;
    }
    Ok(())
}
