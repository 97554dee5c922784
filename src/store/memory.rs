//! An in-memory [`Store`] for tests. Same contract as the sled one, minus durability.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{
    AuditRecord, CertRecord, CertStatus, ChallengeRecord, ChallengeUse, Issuance, LinkRecord,
    PendingRecord, PendingState, RevokedRecord, Store, StoreError,
};
use crate::ca::Serial;

#[derive(Default)]
struct Inner {
    certs: BTreeMap<Serial, CertRecord>,
    by_transaction: BTreeMap<String, Serial>,
    by_subject: BTreeMap<(String, Serial), ()>,
    challenges: BTreeMap<String, ChallengeRecord>,
    audit: Vec<AuditRecord>,
    crl_number: u64,
    pending: BTreeMap<String, PendingRecord>,
    links: BTreeMap<String, LinkRecord>,
}

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Backend("memory store lock poisoned".into()))
    }
}

impl Store for MemoryStore {
    fn record_issuance(&self, issuance: &Issuance) -> Result<(), StoreError> {
        let mut g = self.lock()?;
        let cert = &issuance.cert;
        if g.certs.contains_key(&cert.serial) {
            return Err(StoreError::SerialTaken(cert.serial.clone()));
        }
        if let Some(tx) = &cert.transaction_id {
            if g.by_transaction.get(tx) != issuance.transaction_was.as_ref() {
                return Err(StoreError::TransactionChanged(tx.clone()));
            }
        }
        if let Some(id) = &issuance.resolves_pending {
            match g.pending.get(id) {
                Some(p) if p.state == PendingState::Pending => {}
                Some(_) => return Err(StoreError::NotPending(id.clone())),
                None => return Err(StoreError::PendingMissing(id.clone())),
            }
        }
        if let Some(id) = &issuance.burn_challenge {
            let ch = g
                .challenges
                .get_mut(id)
                .ok_or_else(|| StoreError::ChallengeMissing(id.clone()))?;
            if ch.used.is_some() {
                return Err(StoreError::ChallengeUsed(id.clone()));
            }
            ch.used = Some(ChallengeUse {
                at: cert.issued_at,
                serial: Some(cert.serial.clone()),
                pending: None,
            });
        }
        if let Some(tx) = &cert.transaction_id {
            g.by_transaction.insert(tx.clone(), cert.serial.clone());
        }
        g.by_subject
            .insert((cert.subject.clone(), cert.serial.clone()), ());
        if let Some(id) = &issuance.resolves_pending {
            if let Some(p) = g.pending.get_mut(id) {
                p.state = PendingState::Approved {
                    serial: cert.serial.clone(),
                    at: issuance.audit.at,
                    actor: issuance.audit.actor.clone(),
                };
            }
        }
        g.certs.insert(cert.serial.clone(), cert.clone());
        g.audit.push(issuance.audit.clone());
        Ok(())
    }

    fn cert(&self, serial: &Serial) -> Result<Option<CertRecord>, StoreError> {
        Ok(self.lock()?.certs.get(serial).cloned())
    }

    fn certs(&self) -> Result<Vec<CertRecord>, StoreError> {
        Ok(self.lock()?.certs.values().cloned().collect())
    }

    fn cert_by_transaction(&self, transaction_id: &str) -> Result<Option<CertRecord>, StoreError> {
        let g = self.lock()?;
        Ok(g.by_transaction
            .get(transaction_id)
            .and_then(|s| g.certs.get(s))
            .cloned())
    }

    fn certs_by_subject(&self, subject: &str) -> Result<Vec<CertRecord>, StoreError> {
        let g = self.lock()?;
        Ok(g.by_subject
            .keys()
            .filter(|(s, _)| s == subject)
            .filter_map(|(_, serial)| g.certs.get(serial).cloned())
            .collect())
    }

    fn insert_challenge(
        &self,
        challenge: &ChallengeRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let mut g = self.lock()?;
        g.challenges.insert(challenge.id.clone(), challenge.clone());
        g.audit.push(audit.clone());
        Ok(())
    }

    fn challenge(&self, id: &str) -> Result<Option<ChallengeRecord>, StoreError> {
        Ok(self.lock()?.challenges.get(id).cloned())
    }

    fn append_audit(&self, audit: &AuditRecord) -> Result<(), StoreError> {
        self.lock()?.audit.push(audit.clone());
        Ok(())
    }

    fn audit(&self) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(self.lock()?.audit.clone())
    }

    fn update_status(
        &self,
        serial: &Serial,
        expected: &CertStatus,
        new: &CertStatus,
        audit: &AuditRecord,
    ) -> Result<CertRecord, StoreError> {
        let mut g = self.lock()?;
        let cert = g
            .certs
            .get_mut(serial)
            .ok_or_else(|| StoreError::CertMissing(serial.clone()))?;
        if &cert.status != expected {
            return Err(StoreError::StatusChanged(serial.clone()));
        }
        cert.status = new.clone();
        let updated = cert.clone();
        g.audit.push(audit.clone());
        Ok(updated)
    }

    fn revoked(&self) -> Result<Vec<RevokedRecord>, StoreError> {
        Ok(self
            .lock()?
            .certs
            .values()
            .filter_map(RevokedRecord::of)
            .collect())
    }

    fn insert_pending(
        &self,
        pending: &PendingRecord,
        burn_challenge: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let mut g = self.lock()?;
        if g.pending
            .values()
            .any(|p| p.transaction_id == pending.transaction_id)
        {
            return Err(StoreError::TransactionChanged(
                pending.transaction_id.clone(),
            ));
        }
        if let Some(id) = burn_challenge {
            let ch = g
                .challenges
                .get_mut(id)
                .ok_or_else(|| StoreError::ChallengeMissing(id.to_owned()))?;
            if ch.used.is_some() {
                return Err(StoreError::ChallengeUsed(id.to_owned()));
            }
            ch.used = Some(ChallengeUse {
                at: pending.created_at,
                serial: None,
                pending: Some(pending.id.clone()),
            });
        }
        g.pending.insert(pending.id.clone(), pending.clone());
        g.audit.push(audit.clone());
        Ok(())
    }

    fn pending(&self, id: &str) -> Result<Option<PendingRecord>, StoreError> {
        Ok(self.lock()?.pending.get(id).cloned())
    }

    fn pending_by_transaction(&self, tx: &str) -> Result<Option<PendingRecord>, StoreError> {
        Ok(self
            .lock()?
            .pending
            .values()
            .find(|p| p.transaction_id == tx)
            .cloned())
    }

    fn pendings(&self) -> Result<Vec<PendingRecord>, StoreError> {
        let mut v: Vec<_> = self.lock()?.pending.values().cloned().collect();
        v.sort_by_key(|p| p.created_at);
        Ok(v)
    }

    fn resolve_pending(
        &self,
        id: &str,
        state: &PendingState,
        audit: &AuditRecord,
    ) -> Result<PendingRecord, StoreError> {
        let mut g = self.lock()?;
        let p = g
            .pending
            .get_mut(id)
            .ok_or_else(|| StoreError::PendingMissing(id.to_owned()))?;
        if p.state != PendingState::Pending {
            return Err(StoreError::NotPending(id.to_owned()));
        }
        p.state = state.clone();
        let out = p.clone();
        g.audit.push(audit.clone());
        Ok(out)
    }

    fn insert_link(&self, link: &LinkRecord, audit: &AuditRecord) -> Result<(), StoreError> {
        let mut g = self.lock()?;
        g.links.insert(link.id.clone(), link.clone());
        g.audit.push(audit.clone());
        Ok(())
    }

    fn link(&self, id: &str) -> Result<Option<LinkRecord>, StoreError> {
        Ok(self.lock()?.links.get(id).cloned())
    }

    fn use_link(&self, id: &str, audit: &AuditRecord) -> Result<LinkRecord, StoreError> {
        let mut g = self.lock()?;
        let link = g
            .links
            .get_mut(id)
            .ok_or_else(|| StoreError::LinkMissing(id.to_owned()))?;
        if link.uses_left == 0 {
            return Err(StoreError::LinkUsedUp(id.to_owned()));
        }
        link.uses_left -= 1;
        let out = link.clone();
        g.audit.push(audit.clone());
        Ok(out)
    }

    fn next_crl_number(&self) -> Result<u64, StoreError> {
        let mut g = self.lock()?;
        g.crl_number += 1;
        Ok(g.crl_number)
    }
}
