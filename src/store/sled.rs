//! The default store: sled, in `<data_dir>/store`.
//!
//! Trees and keys:
//! - `certs`: serial bytes -> versioned CertRecord JSON
//! - `certs_by_transaction`: transactionID -> serial bytes (the newest issuance)
//! - `certs_by_subject`: subject text, 0x00, serial bytes -> empty (subject text holds no NUL)
//! - `challenges`: challenge id -> versioned ChallengeRecord JSON
//! - `audit`: big-endian u64 sequence number -> AuditRecord (the counter is rebuilt from the
//!   last key at open, so it also continues after a restore)
//! - `revoked`: serial bytes -> RevokedRecord JSON (the CRL's index; kept in step with
//!   `certs` in the same transaction)
//! - `pending`: request id -> PendingRecord JSON; `pending_by_transaction`: tx -> id
//! - `meta`: `crl_number` -> big-endian u64
//!
//! sled flushes on its own only every 500 ms, so every write that a reply depends on is
//! followed by an explicit flush before the call returns.

use std::path::Path;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Db, Transactional, Tree};

use super::{
    decode_audit, decode_cert, decode_challenge, encode_audit, encode_cert, encode_challenge,
    AuditRecord, CertRecord, CertStatus, ChallengeRecord, ChallengeUse, Issuance, LinkRecord,
    PendingRecord, PendingState, RevokedRecord, Store, StoreError,
};
use crate::ca::Serial;

pub const TREE_CERTS: &str = "certs";
pub const TREE_CERTS_BY_TRANSACTION: &str = "certs_by_transaction";
pub const TREE_CERTS_BY_SUBJECT: &str = "certs_by_subject";
pub const TREE_CHALLENGES: &str = "challenges";
pub const TREE_AUDIT: &str = "audit";
pub const TREE_META: &str = "meta";
pub const TREE_REVOKED: &str = "revoked";
pub const TREE_PENDING: &str = "pending";
pub const TREE_LINKS: &str = "links";
pub const TREE_PENDING_BY_TRANSACTION: &str = "pending_by_transaction";
const META_CRL_NUMBER: &[u8] = b"crl_number";
/// First line of a backup file.
pub const BACKUP_FORMAT: &str = "certdrop-store-backup";
/// The store's directory under the data directory.
pub const STORE_DIR: &str = "store";

pub struct SledStore {
    db: Db,
    meta: Tree,
    revoked: Tree,
    pending: Tree,
    pending_by_tx: Tree,
    links: Tree,
    next_audit: AtomicU64,
    /// Writers hold it shared; a backup holds it exclusively, so it copies every tree at
    /// one consistent point (sled has no snapshot across trees).
    pause: RwLock<()>,
    certs: Tree,
    by_transaction: Tree,
    by_subject: Tree,
    challenges: Tree,
    audit: Tree,
}

impl SledStore {
    /// Open (or create) the store in `dir`. Fails if another process has it open.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        let db = sled::Config::new().path(dir).open().map_err(|e| match e {
            // sled reports its lock file as an Io error of kind Other with this text.
            sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("could not acquire lock") =>
            {
                StoreError::Backend(format!(
                    "{} is in use by another certdrop process (a running `certdrop serve`?)",
                    dir.display()
                ))
            }
            other => StoreError::Backend(format!("{}: {other}", dir.display())),
        })?;
        let audit = db.open_tree(TREE_AUDIT)?;
        let next_audit = match audit.last()? {
            Some((k, _)) => u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("audit key is not 8 bytes".into()))?,
            )
            .saturating_add(1),
            None => 0,
        };
        Ok(SledStore {
            certs: db.open_tree(TREE_CERTS)?,
            by_transaction: db.open_tree(TREE_CERTS_BY_TRANSACTION)?,
            by_subject: db.open_tree(TREE_CERTS_BY_SUBJECT)?,
            challenges: db.open_tree(TREE_CHALLENGES)?,
            meta: db.open_tree(TREE_META)?,
            revoked: db.open_tree(TREE_REVOKED)?,
            pending: db.open_tree(TREE_PENDING)?,
            pending_by_tx: db.open_tree(TREE_PENDING_BY_TRANSACTION)?,
            links: db.open_tree(TREE_LINKS)?,
            audit,
            next_audit: AtomicU64::new(next_audit),
            pause: RwLock::new(()),
            db,
        })
    }

    fn audit_key(&self) -> [u8; 8] {
        self.next_audit.fetch_add(1, Ordering::SeqCst).to_be_bytes()
    }

    fn writer(&self) -> Result<std::sync::RwLockReadGuard<'_, ()>, StoreError> {
        self.pause
            .read()
            .map_err(|_| StoreError::Backend("store lock poisoned".into()))
    }

    /// Write every tree to `out` as JSON lines while writers are paused: a header line,
    /// one line per key, and an end line with the count (so truncation is detected).
    pub fn export_to(&self, out: &mut dyn Write) -> Result<u64, StoreError> {
        let _paused = self
            .pause
            .write()
            .map_err(|_| StoreError::Backend("store lock poisoned".into()))?;
        let io = |e: std::io::Error| StoreError::Backend(format!("writing the backup: {e}"));
        writeln!(
            out,
            "{}",
            serde_json::json!({ "format": BACKUP_FORMAT, "version": 1 })
        )
        .map_err(io)?;
        let mut n = 0u64;
        for name in [
            TREE_CERTS,
            TREE_CERTS_BY_TRANSACTION,
            TREE_CERTS_BY_SUBJECT,
            TREE_CHALLENGES,
            TREE_AUDIT,
            TREE_META,
            TREE_REVOKED,
            TREE_PENDING,
            TREE_PENDING_BY_TRANSACTION,
            TREE_LINKS,
        ] {
            for entry in self.db.open_tree(name)?.iter() {
                let (k, v) = entry?;
                let line = serde_json::json!({
                    "tree": name,
                    "key": B64.encode(&k),
                    "value": B64.encode(&v),
                });
                writeln!(out, "{line}").map_err(io)?;
                n += 1;
            }
        }
        writeln!(out, "{}", serde_json::json!({ "end": n })).map_err(io)?;
        Ok(n)
    }

    /// Create a store in `dir` (which must not exist or be empty) from a backup.
    pub fn restore(dir: &Path, input: impl std::io::BufRead) -> Result<SledStore, StoreError> {
        if dir.exists()
            && std::fs::read_dir(dir)
                .map_err(|e| StoreError::Backend(format!("{}: {e}", dir.display())))?
                .next()
                .is_some()
        {
            return Err(StoreError::Backend(format!(
                "{} is not empty: restore only into an empty directory",
                dir.display()
            )));
        }
        let bad = |m: &str| StoreError::Corrupt(format!("backup: {m}"));
        let mut lines = input.lines();
        let header: serde_json::Value = serde_json::from_str(
            &lines
                .next()
                .ok_or_else(|| bad("empty file"))?
                .map_err(|e| bad(&e.to_string()))?,
        )?;
        if header["format"] != BACKUP_FORMAT || header["version"] != 1 {
            return Err(bad("not a certdrop store backup (version 1)"));
        }
        let store = SledStore::open(dir)?;
        let result = Self::import(&store, lines).and_then(|()| {
            store.db.flush()?;
            // The audit counter continues after the restored records. (Not by reopening:
            // sled's background thread may still hold the lock of the first handle.)
            let next = match store.audit.last()? {
                Some((k, _)) => <[u8; 8]>::try_from(k.as_ref())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("audit key is not 8 bytes".into()))?
                    .saturating_add(1),
                None => 0,
            };
            store.next_audit.store(next, Ordering::SeqCst);
            Ok(())
        });
        if let Err(e) = result {
            drop(store);
            // Leave nothing half-restored behind: the directory was empty or absent.
            let _ = std::fs::remove_dir_all(dir);
            return Err(e);
        }
        Ok(store)
    }

    fn import(
        store: &SledStore,
        lines: impl Iterator<Item = std::io::Result<String>>,
    ) -> Result<(), StoreError> {
        let bad = |m: &str| StoreError::Corrupt(format!("backup: {m}"));
        let mut ended = false;
        for (n, line) in lines.enumerate() {
            let line = line.map_err(|e| bad(&e.to_string()))?;
            let v: serde_json::Value = serde_json::from_str(&line)?;
            if let Some(end) = v.get("end") {
                if end.as_u64() != u64::try_from(n).ok() {
                    return Err(bad("record count does not match"));
                }
                ended = true;
                break;
            }
            let tree = v["tree"]
                .as_str()
                .ok_or_else(|| bad("record without tree"))?;
            if ![
                TREE_CERTS,
                TREE_CERTS_BY_TRANSACTION,
                TREE_CERTS_BY_SUBJECT,
                TREE_CHALLENGES,
                TREE_AUDIT,
                TREE_META,
                TREE_REVOKED,
                TREE_PENDING,
                TREE_PENDING_BY_TRANSACTION,
                TREE_LINKS,
            ]
            .contains(&tree)
            {
                return Err(bad("unknown tree"));
            }
            let decode = |f: &str| {
                v[f].as_str()
                    .and_then(|s| B64.decode(s).ok())
                    .ok_or_else(|| bad("bad base64"))
            };
            store
                .db
                .open_tree(tree)?
                .insert(decode("key")?, decode("value")?)?;
        }
        if !ended {
            return Err(bad("truncated (no end line)"));
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The outcome of a transaction: on commit, flushed to disk before it is returned.
    fn durable<T>(&self, result: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
        match result {
            Ok(v) => {
                self.flush()?;
                Ok(v)
            }
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }
}

fn subject_key(subject: &str, serial: &Serial) -> Vec<u8> {
    let mut k = subject.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(serial.as_bytes());
    k
}

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

impl Store for SledStore {
    fn record_issuance(&self, issuance: &Issuance) -> Result<(), StoreError> {
        let _writer = self.writer()?;
        let cert = &issuance.cert;
        let cert_bytes = encode_cert(cert)?;
        let audit_key = self.audit_key();
        let audit_bytes = encode_audit(&issuance.audit)?;
        let subject_key = subject_key(&cert.subject, &cert.serial);
        let result = (
            &self.certs,
            &self.by_transaction,
            &self.by_subject,
            &self.challenges,
            &self.audit,
            &self.pending,
        )
            .transaction(|(certs, by_tx, by_subject, challenges, audit, pending)| {
                let serial_key = cert.serial.as_bytes();
                if certs.get(serial_key)?.is_some() {
                    return Err(abort(StoreError::SerialTaken(cert.serial.clone())));
                }
                if let Some(tx) = &cert.transaction_id {
                    let current = by_tx.get(tx.as_bytes())?;
                    let expected = issuance.transaction_was.as_ref().map(Serial::as_bytes);
                    if current.as_deref() != expected {
                        return Err(abort(StoreError::TransactionChanged(tx.clone())));
                    }
                }
                if let Some(id) = &issuance.burn_challenge {
                    let raw = challenges
                        .get(id.as_bytes())?
                        .ok_or_else(|| abort(StoreError::ChallengeMissing(id.clone())))?;
                    let mut ch = decode_challenge(&raw).map_err(abort)?;
                    if ch.used.is_some() {
                        return Err(abort(StoreError::ChallengeUsed(id.clone())));
                    }
                    ch.used = Some(ChallengeUse {
                        at: cert.issued_at,
                        serial: Some(cert.serial.clone()),
                        pending: None,
                    });
                    challenges.insert(id.as_bytes(), encode_challenge(&ch).map_err(abort)?)?;
                }
                if let Some(id) = &issuance.resolves_pending {
                    let raw = pending
                        .get(id.as_bytes())?
                        .ok_or_else(|| abort(StoreError::PendingMissing(id.clone())))?;
                    let mut p: PendingRecord = serde_json::from_slice(&raw)
                        .map_err(|e| abort(StoreError::Corrupt(e.to_string())))?;
                    if p.state != PendingState::Pending {
                        return Err(abort(StoreError::NotPending(id.clone())));
                    }
                    p.state = PendingState::Approved {
                        serial: cert.serial.clone(),
                        at: issuance.audit.at,
                        actor: issuance.audit.actor.clone(),
                    };
                    let bytes = serde_json::to_vec(&p)
                        .map_err(|e| abort(StoreError::Corrupt(e.to_string())))?;
                    pending.insert(id.as_bytes(), bytes)?;
                }
                certs.insert(serial_key, cert_bytes.as_slice())?;
                if let Some(tx) = &cert.transaction_id {
                    by_tx.insert(tx.as_bytes(), serial_key)?;
                }
                by_subject.insert(subject_key.as_slice(), &[])?;
                audit.insert(&audit_key, audit_bytes.as_slice())?;
                Ok(())
            });
        self.durable(result)
    }

    fn cert(&self, serial: &Serial) -> Result<Option<CertRecord>, StoreError> {
        self.certs
            .get(serial.as_bytes())?
            .map(|b| decode_cert(&b))
            .transpose()
    }

    fn certs(&self) -> Result<Vec<CertRecord>, StoreError> {
        // Serials are all 16 bytes, so byte order is numeric order.
        self.certs
            .iter()
            .map(|r| {
                let (_, v) = r?;
                decode_cert(&v)
            })
            .collect()
    }

    fn cert_by_transaction(&self, transaction_id: &str) -> Result<Option<CertRecord>, StoreError> {
        match self.by_transaction.get(transaction_id.as_bytes())? {
            Some(serial) => self.certs.get(serial)?.map(|b| decode_cert(&b)).transpose(),
            None => Ok(None),
        }
    }

    fn certs_by_subject(&self, subject: &str) -> Result<Vec<CertRecord>, StoreError> {
        let mut prefix = subject.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for entry in self.by_subject.scan_prefix(&prefix) {
            let (key, _) = entry?;
            let serial = key.get(prefix.len()..).unwrap_or_default();
            if let Some(raw) = self.certs.get(serial)? {
                out.push(decode_cert(&raw)?);
            }
        }
        Ok(out)
    }

    fn insert_challenge(
        &self,
        challenge: &ChallengeRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let _writer = self.writer()?;
        let audit_key = self.audit_key();
        let ch = encode_challenge(challenge)?;
        let a = encode_audit(audit)?;
        (&self.challenges, &self.audit)
            .transaction(|(challenges, audit)| {
                challenges.insert(challenge.id.as_bytes(), ch.as_slice())?;
                audit.insert(&audit_key, a.as_slice())?;
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => e.into(),
            })?;
        self.flush()
    }

    fn challenge(&self, id: &str) -> Result<Option<ChallengeRecord>, StoreError> {
        self.challenges
            .get(id.as_bytes())?
            .map(|b| decode_challenge(&b))
            .transpose()
    }

    fn append_audit(&self, audit: &AuditRecord) -> Result<(), StoreError> {
        let _writer = self.writer()?;
        let key = self.audit_key();
        self.audit.insert(key, encode_audit(audit)?)?;
        self.flush()
    }

    fn audit(&self) -> Result<Vec<AuditRecord>, StoreError> {
        self.audit
            .iter()
            .map(|r| {
                let (_, v) = r?;
                decode_audit(&v)
            })
            .collect()
    }

    fn update_status(
        &self,
        serial: &Serial,
        expected: &CertStatus,
        new: &CertStatus,
        audit: &AuditRecord,
    ) -> Result<CertRecord, StoreError> {
        let _writer = self.writer()?;
        let audit_key = self.audit_key();
        let audit_bytes = encode_audit(audit)?;
        let result = (&self.certs, &self.audit, &self.revoked).transaction(
            |(certs, audit_tree, revoked)| {
                let raw = certs
                    .get(serial.as_bytes())?
                    .ok_or_else(|| abort(StoreError::CertMissing(serial.clone())))?;
                let mut cert = decode_cert(&raw).map_err(abort)?;
                if &cert.status != expected {
                    return Err(abort(StoreError::StatusChanged(serial.clone())));
                }
                cert.status = new.clone();
                certs.insert(serial.as_bytes(), encode_cert(&cert).map_err(abort)?)?;
                match RevokedRecord::of(&cert) {
                    Some(r) => {
                        let bytes = serde_json::to_vec(&r)
                            .map_err(|e| abort(StoreError::Corrupt(e.to_string())))?;
                        revoked.insert(serial.as_bytes(), bytes)?;
                    }
                    None => {
                        revoked.remove(serial.as_bytes())?;
                    }
                }
                audit_tree.insert(&audit_key, audit_bytes.as_slice())?;
                Ok(cert)
            },
        );
        self.durable(result)
    }

    fn backup(&self, out: &mut dyn Write) -> Result<u64, StoreError> {
        self.export_to(out)
    }

    fn revoked(&self) -> Result<Vec<RevokedRecord>, StoreError> {
        self.revoked
            .iter()
            .map(|r| {
                let (_, v) = r?;
                Ok(serde_json::from_slice(&v)?)
            })
            .collect()
    }

    fn insert_pending(
        &self,
        record: &PendingRecord,
        burn_challenge: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let _writer = self.writer()?;
        let audit_key = self.audit_key();
        let audit_bytes = encode_audit(audit)?;
        let bytes = serde_json::to_vec(record)?;
        let result = (
            &self.pending,
            &self.pending_by_tx,
            &self.challenges,
            &self.audit,
        )
            .transaction(|(pending, by_tx, challenges, audit_tree)| {
                let tx = record.transaction_id.as_bytes();
                if by_tx.get(tx)?.is_some() {
                    return Err(abort(StoreError::TransactionChanged(
                        record.transaction_id.clone(),
                    )));
                }
                if let Some(id) = burn_challenge {
                    let raw = challenges
                        .get(id.as_bytes())?
                        .ok_or_else(|| abort(StoreError::ChallengeMissing(id.to_owned())))?;
                    let mut ch = decode_challenge(&raw).map_err(abort)?;
                    if ch.used.is_some() {
                        return Err(abort(StoreError::ChallengeUsed(id.to_owned())));
                    }
                    ch.used = Some(ChallengeUse {
                        at: record.created_at,
                        serial: None,
                        pending: Some(record.id.clone()),
                    });
                    challenges.insert(id.as_bytes(), encode_challenge(&ch).map_err(abort)?)?;
                }
                pending.insert(record.id.as_bytes(), bytes.as_slice())?;
                by_tx.insert(tx, record.id.as_bytes())?;
                audit_tree.insert(&audit_key, audit_bytes.as_slice())?;
                Ok(())
            });
        self.durable(result)
    }

    fn pending(&self, id: &str) -> Result<Option<PendingRecord>, StoreError> {
        self.pending
            .get(id.as_bytes())?
            .map(|b| serde_json::from_slice(&b).map_err(StoreError::from))
            .transpose()
    }

    fn pending_by_transaction(&self, tx: &str) -> Result<Option<PendingRecord>, StoreError> {
        match self.pending_by_tx.get(tx.as_bytes())? {
            Some(id) => self
                .pending
                .get(id)?
                .map(|b| serde_json::from_slice(&b).map_err(StoreError::from))
                .transpose(),
            None => Ok(None),
        }
    }

    fn pendings(&self) -> Result<Vec<PendingRecord>, StoreError> {
        let mut v = self
            .pending
            .iter()
            .map(|r| {
                let (_, b) = r?;
                Ok(serde_json::from_slice::<PendingRecord>(&b)?)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        v.sort_by_key(|p| p.created_at);
        Ok(v)
    }

    fn resolve_pending(
        &self,
        id: &str,
        state: &PendingState,
        audit: &AuditRecord,
    ) -> Result<PendingRecord, StoreError> {
        let _writer = self.writer()?;
        let audit_key = self.audit_key();
        let audit_bytes = encode_audit(audit)?;
        let result = (&self.pending, &self.audit).transaction(|(pending, audit_tree)| {
            let raw = pending
                .get(id.as_bytes())?
                .ok_or_else(|| abort(StoreError::PendingMissing(id.to_owned())))?;
            let mut p: PendingRecord = serde_json::from_slice(&raw)
                .map_err(|e| abort(StoreError::Corrupt(e.to_string())))?;
            if p.state != PendingState::Pending {
                return Err(abort(StoreError::NotPending(id.to_owned())));
            }
            p.state = state.clone();
            let bytes =
                serde_json::to_vec(&p).map_err(|e| abort(StoreError::Corrupt(e.to_string())))?;
            pending.insert(id.as_bytes(), bytes)?;
            audit_tree.insert(&audit_key, audit_bytes.as_slice())?;
            Ok(p)
        });
        self.durable(result)
    }

    fn insert_link(&self, link: &LinkRecord, audit: &AuditRecord) -> Result<(), StoreError> {
        let _writer = self.writer()?;
        let audit_key = self.audit_key();
        let audit_bytes = encode_audit(audit)?;
        let bytes = serde_json::to_vec(link)?;
        (&self.links, &self.audit)
            .transaction(|(links, audit_tree)| {
                links.insert(link.id.as_bytes(), bytes.as_slice())?;
                audit_tree.insert(&audit_key, audit_bytes.as_slice())?;
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => e.into(),
            })?;
        self.flush()
    }

    fn link(&self, id: &str) -> Result<Option<LinkRecord>, StoreError> {
        self.links
            .get(id.as_bytes())?
            .map(|b| serde_json::from_slice(&b).map_err(StoreError::from))
            .transpose()
    }

    fn use_link(&self, id: &str, audit: &AuditRecord) -> Result<LinkRecord, StoreError> {
        let _writer = self.writer()?;
        let audit_key = self.audit_key();
        let audit_bytes = encode_audit(audit)?;
        let result = (&self.links, &self.audit).transaction(|(links, audit_tree)| {
            let raw = links
                .get(id.as_bytes())?
                .ok_or_else(|| abort(StoreError::LinkMissing(id.to_owned())))?;
            let mut link: LinkRecord = serde_json::from_slice(&raw)
                .map_err(|e| abort(StoreError::Corrupt(e.to_string())))?;
            if link.uses_left == 0 {
                return Err(abort(StoreError::LinkUsedUp(id.to_owned())));
            }
            link.uses_left -= 1;
            let bytes =
                serde_json::to_vec(&link).map_err(|e| abort(StoreError::Corrupt(e.to_string())))?;
            links.insert(id.as_bytes(), bytes)?;
            audit_tree.insert(&audit_key, audit_bytes.as_slice())?;
            Ok(link)
        });
        self.durable(result)
    }

    fn next_crl_number(&self) -> Result<u64, StoreError> {
        let _writer = self.writer()?;
        let next = self.meta.update_and_fetch(META_CRL_NUMBER, |old| {
            let n = old
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            Some(n.saturating_add(1).to_be_bytes().to_vec())
        })?;
        self.flush()?;
        next.and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| StoreError::Corrupt("crl_number".into()))
    }
}
