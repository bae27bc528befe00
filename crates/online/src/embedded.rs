//! The embedded online store: one redb database file in the project, no server to run.
//!
//! redb is a pure-Rust, ACID key-value store: a committed write survives a crash or restart, and a
//! read sees whole transactions only. One process opens the file at a time (redb locks it); a second
//! gets a clear error naming the file. Writes compare versions inside their write transaction, so a
//! record never replaces a newer one.

use crate::StoreError;
use crate::keys::embedded_key;
use freshet_engine::{EntityKey, record_version};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const RECORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("records");
/// The database file inside the store's directory.
pub const FILE_NAME: &str = "online.redb";

/// An embedded store.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    path: PathBuf,
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
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(RECORDS).map_err(|e| self.fail(e))?;
        entities
            .iter()
            .map(|entity| {
                let key = embedded_key(view, entity);
                let found = table.get(key.as_slice()).map_err(|e| self.fail(e))?;
                Ok(found.map(|v| v.value().to_vec()))
            })
            .collect()
    }

    /// Writes records in one transaction; each replaces the stored one only if its version is not
    /// smaller. Returns how many were written.
    pub fn write(&self, view: &str, records: &[(EntityKey, Vec<u8>)]) -> Result<usize, StoreError> {
        self.write_with(view, records, true)
    }

    /// [`EmbeddedStore::write`]; when not `durable`, the commit is visible at once but reaches the
    /// disk with the next durable commit (see [`EmbeddedStore::sync`]).
    pub fn write_with(
        &self,
        view: &str,
        records: &[(EntityKey, Vec<u8>)],
        durable: bool,
    ) -> Result<usize, StoreError> {
        let mut txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        if !durable {
            txn.set_durability(redb::Durability::None)
                .map_err(|e| self.fail(e))?;
        }
        let mut written = 0;
        {
            let mut table = txn.open_table(RECORDS).map_err(|e| self.fail(e))?;
            for (entity, record) in records {
                let key = embedded_key(view, entity);
                let newer_stored = table
                    .get(key.as_slice())
                    .map_err(|e| self.fail(e))?
                    .is_some_and(|stored| record_version(stored.value()) > record_version(record));
                if !newer_stored {
                    table
                        .insert(key.as_slice(), record.as_slice())
                        .map_err(|e| self.fail(e))?;
                    written += 1;
                }
            }
        }
        txn.commit().map_err(|e| self.fail(e))?;
        Ok(written)
    }

    /// Makes every earlier commit durable (an empty durable commit).
    pub fn sync(&self) -> Result<(), StoreError> {
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
            let current = table
                .get(key.as_slice())
                .map_err(|e| self.fail(e))?
                .map(|v| v.value().to_vec());
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
