//! The embedded online store: one redb database file in the project, no server to run.
//!
//! redb is a pure-Rust, ACID key-value store: a committed write survives a crash or restart, and a
//! read sees whole transactions only. One process opens the file at a time (redb locks it); a second
//! gets a clear error naming the file. Writes compare versions inside their write transaction, so a
//! record never replaces a newer one.
//!
//! Replayable writes (the streaming runtime's) are held in memory, readable at once, and written to
//! the file by a drainer thread, without an fsync; they become durable with the next
//! [`EmbeddedStore::sync`]. So a stream never waits for a B-tree write or an fsync (see
//! `crate::write_behind`).

use crate::StoreError;
use crate::keys::{InlineKey, embedded_key, embedded_key_into, in_key_order};
use crate::write_behind::{KeyedRecord, WriteBehind, newer, supersedes};
use freshet_engine::EntityKey;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

const RECORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("records");
/// The database file inside the store's directory.
pub const FILE_NAME: &str = "online.redb";

/// An embedded store.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    path: PathBuf,
    behind: Arc<WriteBehind>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish()
    }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in directory `dir`.
    pub fn open(dir: &Path) -> Result<EmbeddedStore, StoreError> {
        let path = dir.join(FILE_NAME);
        let fail = |reason: String| StoreError::Embedded {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => fail(
                "another freshet process has it open; stop it, or serve through that process"
                    .to_owned(),
            ),
            other => fail(other.to_string()),
        })?;
        // Create the table up front, so readers never meet a missing table.
        let txn = db.begin_write().map_err(|e| fail(e.to_string()))?;
        txn.open_table(RECORDS).map_err(|e| fail(e.to_string()))?;
        txn.commit().map_err(|e| fail(e.to_string()))?;
        Ok(EmbeddedStore {
            db: Arc::new(db),
            path,
            behind: Arc::default(),
        })
    }

    fn fail(&self, e: impl Into<redb::Error>) -> StoreError {
        StoreError::Embedded {
            path: self.path.clone(),
            reason: e.into().to_string(),
        }
    }

    /// Reads the records of `entities` in `view` (`None`: no record).
    pub fn read(
        &self,
        view: &str,
        entities: &[EntityKey],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let keys: Vec<Vec<u8>> = entities.iter().map(|e| embedded_key(view, e)).collect();
        // Held writes first, then the transaction: see `write_behind` for why this order.
        let held = self.behind.lookup(&keys);
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(RECORDS).map_err(|e| self.fail(e))?;
        let stored = keys
            .iter()
            .map(|key| {
                let found = table.get(key.as_slice()).map_err(|e| self.fail(e))?;
                Ok(found.map(|v| v.value().to_vec()))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(match held {
            None => stored,
            Some(held) => held
                .into_iter()
                .zip(stored)
                .map(|(h, s)| newer(h, s))
                .collect(),
        })
    }

    /// Writes records in one durable transaction; each replaces the stored one only if its version
    /// is not smaller. Returns how many were written.
    pub fn write(&self, view: &str, records: &[(EntityKey, Vec<u8>)]) -> Result<usize, StoreError> {
        let keyed = records
            .iter()
            .map(|(entity, record)| (embedded_key(view, entity), record.as_slice()));
        commit(&self.db, keyed, redb::Durability::Immediate).map_err(|e| self.fail(e))
    }

    /// [`EmbeddedStore::write`] for writers that replay what a crash loses: the records are held in
    /// memory, readable at once, and a drainer thread writes them to the file; they become durable
    /// with the next [`EmbeddedStore::sync`]. Returns how many replaced nothing newer held. Waits
    /// only when the drainer is far behind (see `crate::write_behind`).
    pub fn write_replayable(
        &self,
        view: &str,
        records: Vec<(EntityKey, Vec<u8>)>,
    ) -> Result<usize, StoreError> {
        let keyed: Vec<KeyedRecord> = records
            .into_iter()
            .map(|(entity, record)| {
                let mut key = InlineKey::new();
                embedded_key_into(view, &entity, &mut key);
                (key, record)
            })
            .collect();
        let (held, start) = self.behind.offer(keyed).map_err(|e| self.failed(e))?;
        if start {
            self.start_drainer()?;
        }
        Ok(held)
    }

    /// Starts a thread that writes held records until none are left. It holds the database only
    /// while it writes, so dropping the store closes the file.
    fn start_drainer(&self) -> Result<(), StoreError> {
        let behind = self.behind.clone();
        let db = Arc::downgrade(&self.db);
        let spawned = std::thread::Builder::new()
            .name("freshet-store-drain".into())
            .spawn(move || drain(&behind, &db));
        if let Err(e) = spawned {
            let reason = format!("cannot start the writer thread: {e}");
            self.behind.written(Err(reason.clone()));
            return Err(self.failed(reason));
        }
        Ok(())
    }

    fn failed(&self, reason: String) -> StoreError {
        StoreError::Embedded {
            path: self.path.clone(),
            reason,
        }
    }

    /// Makes every earlier write durable: waits until the held records offered before it are in
    /// the file, then commits durably. Replayable writes made meanwhile are held and do not wait.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.behind.flushed().map_err(|e| self.failed(e))?;
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        txn.commit().map_err(|e| self.fail(e))
    }

    /// Writes `record` only if the stored record is still exactly `expected` (`None`: no record).
    /// Returns whether it was written; `false` means another writer got there first: read again.
    pub fn compare_and_swap(
        &self,
        view: &str,
        entity: &EntityKey,
        expected: Option<&[u8]>,
        record: &[u8],
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        let swapped = {
            let mut table = txn.open_table(RECORDS).map_err(|e| self.fail(e))?;
            let key = embedded_key(view, entity);
            let stored = table
                .get(key.as_slice())
                .map_err(|e| self.fail(e))?
                .map(|v| v.value().to_vec());
            // A record held during a sync is the current one if it is newer.
            let held = self
                .behind
                .lookup(std::slice::from_ref(&key))
                .and_then(|mut h| h.pop().flatten());
            let current = newer(held, stored);
            let matches = current.as_deref() == expected;
            if matches {
                table
                    .insert(key.as_slice(), record)
                    .map_err(|e| self.fail(e))?;
            }
            matches
        };
        txn.commit().map_err(|e| self.fail(e))?;
        Ok(swapped)
    }

    /// The store answers.
    pub fn health(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        txn.open_table(RECORDS).map_err(|e| self.fail(e))?;
        Ok(())
    }
}

/// Writes keyed records in one transaction, each only over a record whose version is not newer;
/// returns how many were written.
fn commit<'a, K: AsRef<[u8]>>(
    db: &Database,
    records: impl Iterator<Item = (K, &'a [u8])>,
    durability: redb::Durability,
) -> Result<usize, redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(durability)?;
    let mut written = 0;
    {
        let mut table = txn.open_table(RECORDS)?;
        for (key, record) in records {
            // Insert first and put a newer record back in the rare case there was one: one
            // B-tree descent per record instead of two.
            let newer_stored = match table.insert(key.as_ref(), record)? {
                Some(old) if !supersedes(record, old.value()) => Some(old.value().to_vec()),
                _ => None,
            };
            match newer_stored {
                Some(old) => {
                    table.insert(key.as_ref(), old.as_slice())?;
                }
                None => written += 1,
            }
        }
    }
    txn.commit()?;
    Ok(written)
}

/// The drainer: writes held batches without an fsync until nothing is held.
fn drain(behind: &WriteBehind, db: &Weak<Database>) {
    while let Some(batch) = behind.take() {
        let result = match db.upgrade() {
            Some(db) => {
                // In key order, consecutive inserts land in the same leaf and descend through
                // the same branch pages, so each page is copied once per batch and stays in cache.
                commit(&db, in_key_order(batch.iter()), redb::Durability::None)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            None => Err("the store was closed with writes not yet written".to_owned()),
        };
        behind.written(result);
    }
}
