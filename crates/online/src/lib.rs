//! freshet's online stores: where the serving state lives, per feature view and entity.
//!
//! A store holds one **record** per (view, entity): the engine's state of that entity (its retained
//! events and eviction summary; see `freshet_engine::record`), not precomputed values. A read fetches
//! records and the engine answers as of the read's time, so values decay as windows slide even when no
//! new event arrives, and they are the values every other path computes.
//!
//! Contract of every store ([`OnlineStore`]):
//! - **Reads** return, for each requested entity, its record or `None` (never seen: `NOT_FOUND`).
//! - **Writes are idempotent and ordered.** A record replaces the stored one only if its version (its
//!   first 16 bytes, the newest event applied to the entity) is not smaller. Replaying an update
//!   changes nothing; an older update never overwrites a newer one; the check is atomic with the write.
//! - **Compare-and-swap** writes a record only if the stored record is still the one the writer read,
//!   so a read-modify-write (a push) never loses a concurrent writer's events.
//! - **Health** tells whether the store answers; a server reports 503 when it does not.
//!
//! The stores are a closed set, built from the project's `online_store` by one `match` in
//! [`OnlineStore::open`]: embedded (redb, the default), Redis, and Redis Cluster.

pub mod embedded;
mod held_map;
pub mod keys;
pub mod redis_store;
mod write_behind;

use embedded::EmbeddedStore;
use freshet_engine::EntityKey;
use freshet_project::Project;
use freshet_project::spec::OnlineStoreSpec;
use redis_store::RedisStore;
use std::path::PathBuf;

/// A store operation failed. Messages name the store (the configured URL template, never a secret).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The embedded database.
    #[error("embedded online store {path}: {reason}")]
    Embedded {
        /// The database file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Redis or Redis Cluster.
    #[error("online store {at}: {reason}")]
    Redis {
        /// The configured URL(s).
        at: String,
        /// Why.
        reason: String,
    },
}

/// An online store.
#[derive(Debug, Clone)]
pub enum OnlineStore {
    /// redb in the project directory.
    Embedded(EmbeddedStore),
    /// Standalone Redis or Redis Cluster.
    Redis(RedisStore),
}

impl OnlineStore {
    /// Opens the store the project declares.
    pub async fn open(project: &Project) -> Result<OnlineStore, StoreError> {
        let name = &project.spec.project;
        match &project.spec.online_store {
            OnlineStoreSpec::Embedded { path } => Ok(OnlineStore::Embedded(EmbeddedStore::open(
                &project.dir.join(path.resolved()),
            )?)),
            OnlineStoreSpec::Redis { url } => Ok(OnlineStore::Redis(
                RedisStore::connect(name, url.resolved(), url.template()).await?,
            )),
            OnlineStoreSpec::RedisCluster { urls } => {
                let resolved: Vec<String> = urls.iter().map(|u| u.resolved().to_owned()).collect();
                let shown: Vec<&str> = urls.iter().map(|u| u.template()).collect();
                Ok(OnlineStore::Redis(
                    RedisStore::connect_cluster(name, &resolved, &shown.join(",")).await?,
                ))
            }
        }
    }

    /// Reads the records of `entities` in `view`, in order; `None` where the entity has none.
    pub async fn read(
        &self,
        view: &str,
        entities: &[EntityKey],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        match self {
            OnlineStore::Embedded(store) => store.read(view, entities),
            OnlineStore::Redis(store) => store.read(view, entities).await,
        }
    }

    /// Writes records of `view`, each only if not older than the stored one; returns how many were
    /// written (the others were older or equal replays).
    pub async fn write(
        &self,
        view: &str,
        records: &[(EntityKey, Vec<u8>)],
    ) -> Result<usize, StoreError> {
        match self {
            OnlineStore::Embedded(store) => {
                let store = store.clone();
                let view = view.to_owned();
                let records = records.to_vec();
                // redb commits with fsync: keep it off the async workers.
                tokio::task::spawn_blocking(move || store.write(&view, &records))
                    .await
                    .map_err(|e| StoreError::Embedded {
                        path: PathBuf::from("(writer)"),
                        reason: e.to_string(),
                    })?
            }
            OnlineStore::Redis(store) => store.write(view, records).await,
        }
    }

    /// Writes like [`OnlineStore::write`], but the embedded store may hold the commit in memory
    /// (visible to readers) until the next [`OnlineStore::sync`]. For writers that can replay what a
    /// crash loses, such as the streaming runtime from its checkpoint: it spares an fsync per batch.
    /// Redis writes are as durable as the server makes them, either way.
    pub async fn write_replayable(
        &self,
        view: &str,
        records: Vec<(EntityKey, Vec<u8>)>,
    ) -> Result<usize, StoreError> {
        match self {
            OnlineStore::Embedded(store) => {
                let store = store.clone();
                let view = view.to_owned();
                tokio::task::spawn_blocking(move || store.write_replayable(&view, records))
                    .await
                    .map_err(|e| StoreError::Embedded {
                        path: PathBuf::from("(writer)"),
                        reason: e.to_string(),
                    })?
            }
            OnlineStore::Redis(store) => store.write(view, &records).await,
        }
    }

    /// Makes every earlier write durable (a no-op for Redis). Replayable writes made while it runs
    /// do not wait for it: the embedded store holds them in memory, readable, until it is done.
    pub async fn sync(&self) -> Result<(), StoreError> {
        match self {
            OnlineStore::Embedded(store) => {
                let store = store.clone();
                tokio::task::spawn_blocking(move || store.sync())
                    .await
                    .map_err(|e| StoreError::Embedded {
                        path: PathBuf::from("(writer)"),
                        reason: e.to_string(),
                    })?
            }
            OnlineStore::Redis(_) => Ok(()),
        }
    }

    /// Writes `record` only if the stored record is still exactly `expected` (`None`: no record):
    /// the compare-and-swap a read-modify-write (a push) needs so that two concurrent writers of one
    /// entity never lose each other's events. `false`: someone else wrote first; read and apply again.
    pub async fn compare_and_swap(
        &self,
        view: &str,
        entity: &EntityKey,
        expected: Option<&[u8]>,
        record: &[u8],
    ) -> Result<bool, StoreError> {
        match self {
            OnlineStore::Embedded(store) => {
                let (store, view, entity) = (store.clone(), view.to_owned(), entity.clone());
                let (expected, record) = (expected.map(<[u8]>::to_vec), record.to_vec());
                tokio::task::spawn_blocking(move || {
                    store.compare_and_swap(&view, &entity, expected.as_deref(), &record)
                })
                .await
                .map_err(|e| StoreError::Embedded {
                    path: PathBuf::from("(writer)"),
                    reason: e.to_string(),
                })?
            }
            OnlineStore::Redis(store) => {
                store.compare_and_swap(view, entity, expected, record).await
            }
        }
    }

    /// Whether the store answers.
    pub async fn health(&self) -> Result<(), StoreError> {
        match self {
            OnlineStore::Embedded(store) => store.health(),
            OnlineStore::Redis(store) => store.health().await,
        }
    }

    /// What kind of store this is, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            OnlineStore::Embedded(_) => "embedded",
            OnlineStore::Redis(_) => "redis",
        }
    }
}
