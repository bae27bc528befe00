//! Redis and Redis Cluster online stores, through the `redis` crate.
//!
//! Standalone Redis goes through a `ConnectionManager`: one multiplexed connection that reconnects by
//! itself with backoff. A cluster goes through the crate's cluster connection, which follows the slot
//! map and reconnects to nodes. A request's records are read with one `MGET`: one round trip on
//! standalone Redis; on a cluster, the client splits it by slot (every view of an entity shares a
//! slot, see [`crate::keys`]) and sends the parts at once. Writes are pipelined: on a cluster, one
//! pipeline per entity, all in flight at once.
//!
//! Writes run a small Lua script per record that replaces the stored value only if the new record's
//! 16-byte version is not smaller, compared byte by byte (not with Lua's locale-dependent string
//! comparison): idempotent and ordered, atomically on the server.

use crate::StoreError;
use crate::keys::redis_key;
use freshet_engine::EntityKey;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use std::time::Duration;

/// Replaces KEYS[1] with ARGV[1] unless the stored record's version (its first 16 bytes) is greater.
const WRITE_IF_NOT_OLDER: &str = r"
local stored = redis.call('GET', KEYS[1])
if stored then
  for i = 1, 16 do
    local a, b = string.byte(stored, i), string.byte(ARGV[1], i)
    if a == nil or b == nil or a ~= b then
      if a ~= nil and (b == nil or a > b) then return 0 end
      break
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
";

/// Replaces KEYS[1] with ARGV[1] only if the stored record is exactly ARGV[2] (empty: no record).
/// Whole records are compared: a version alone does not identify a state (an event older than the
/// newest adds content without raising it).
const COMPARE_AND_SWAP: &str = r"
local stored = redis.call('GET', KEYS[1])
local current = ''
if stored then current = stored end
if current ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
";

/// How long a command may take before the store counts as unreachable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A Redis or Redis Cluster store.
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    project: String,
    /// The URL(s) as configured (templates, never secrets), for messages.
    shown: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("at", &self.shown)
            .finish()
    }
}

impl RedisStore {
    /// Connects to a standalone Redis at `url`. `shown` is how to name it in messages.
    pub async fn connect(project: &str, url: &str, shown: &str) -> Result<RedisStore, StoreError> {
        let fail = |e: redis::RedisError| StoreError::Redis {
            at: shown.to_owned(),
            reason: e.to_string(),
        };
        let client = redis::Client::open(url).map_err(fail)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let manager = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(fail)?;
        Ok(RedisStore {
            connection: Connection::Single(manager),
            project: project.to_owned(),
            shown: shown.to_owned(),
        })
    }

    /// Connects to a Redis Cluster through any of `urls`.
    pub async fn connect_cluster(
        project: &str,
        urls: &[String],
        shown: &str,
    ) -> Result<RedisStore, StoreError> {
        let fail = |e: redis::RedisError| StoreError::Redis {
            at: shown.to_owned(),
            reason: e.to_string(),
        };
        let client = ClusterClient::builder(urls.iter().map(String::as_str))
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(3)
            .build()
            .map_err(fail)?;
        let connection = client.get_async_connection().await.map_err(fail)?;
        Ok(RedisStore {
            connection: Connection::Cluster(connection),
            project: project.to_owned(),
            shown: shown.to_owned(),
        })
    }

    fn fail(&self, e: redis::RedisError) -> StoreError {
        StoreError::Redis {
            at: self.shown.clone(),
            reason: e.to_string(),
        }
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let result = match &self.connection {
            Connection::Single(c) => pipeline.query_async(&mut c.clone()).await,
            Connection::Cluster(c) => pipeline.query_async(&mut c.clone()).await,
        };
        result.map_err(|e| self.fail(e))
    }

    /// Reads the records of `entities` in `view` (`None`: no record), in one `MGET`. On a cluster the
    /// client splits it by slot, sends the parts to their nodes at once and puts the answers back in
    /// the keys' order.
    pub async fn read(
        &self,
        view: &str,
        entities: &[EntityKey],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if entities.is_empty() {
            // `MGET` with no key is an error, not an empty answer.
            return Ok(Vec::new());
        }
        let mut mget = redis::cmd("MGET");
        for entity in entities {
            mget.arg(redis_key(&self.project, view, entity));
        }
        let result = match &self.connection {
            Connection::Single(c) => mget.query_async(&mut c.clone()).await,
            Connection::Cluster(c) => mget.query_async(&mut c.clone()).await,
        };
        result.map_err(|e| self.fail(e))
    }

    /// Writes records; each replaces the stored one only if its version is not smaller. Returns how
    /// many were written.
    pub async fn write(
        &self,
        view: &str,
        records: &[(EntityKey, Vec<u8>)],
    ) -> Result<usize, StoreError> {
        let command = |pipeline: &mut redis::Pipeline, entity: &EntityKey, record: &[u8]| {
            pipeline
                .cmd("EVAL")
                .arg(WRITE_IF_NOT_OLDER)
                .arg(1)
                .arg(redis_key(&self.project, view, entity))
                .arg(record);
        };
        match &self.connection {
            Connection::Single(_) => {
                let mut written = 0;
                // Bounded pipelines keep one request's memory and a server's blocking time small.
                for chunk in records.chunks(512) {
                    let mut pipeline = redis::pipe();
                    for (entity, record) in chunk {
                        command(&mut pipeline, entity, record);
                    }
                    let done: Vec<i64> = self.query(&pipeline).await?;
                    written += done.iter().filter(|d| **d == 1).count();
                }
                Ok(written)
            }
            Connection::Cluster(_) => {
                let mut written = 0;
                for chunk in records.chunks(512) {
                    let mut tasks = tokio::task::JoinSet::new();
                    for (entity, record) in chunk {
                        let mut pipeline = redis::pipe();
                        command(&mut pipeline, entity, record);
                        let store = self.clone();
                        tasks.spawn(async move { store.query::<Vec<i64>>(&pipeline).await });
                    }
                    while let Some(done) = tasks.join_next().await {
                        let done = done.map_err(|e| StoreError::Redis {
                            at: self.shown.clone(),
                            reason: e.to_string(),
                        })??;
                        written += done.iter().filter(|d| **d == 1).count();
                    }
                }
                Ok(written)
            }
        }
    }

    /// Writes `record` only if the stored record is still exactly `expected` (`None`: no record).
    pub async fn compare_and_swap(
        &self,
        view: &str,
        entity: &EntityKey,
        expected: Option<&[u8]>,
        record: &[u8],
    ) -> Result<bool, StoreError> {
        let mut pipeline = redis::pipe();
        pipeline
            .cmd("EVAL")
            .arg(COMPARE_AND_SWAP)
            .arg(1)
            .arg(redis_key(&self.project, view, entity))
            .arg(record)
            .arg(expected.unwrap_or_default());
        let done: Vec<i64> = self.query(&pipeline).await?;
        Ok(done.first() == Some(&1))
    }

    /// The store answers `PING`.
    pub async fn health(&self) -> Result<(), StoreError> {
        let mut pipeline = redis::pipe();
        pipeline.cmd("PING");
        let _: Vec<String> = match &self.connection {
            Connection::Single(c) => {
                let mut c = c.clone();
                pipeline.query_async(&mut c).await
            }
            Connection::Cluster(c) => {
                let mut c = c.clone();
                c.req_packed_command(&redis::cmd("PING"))
                    .await
                    .map(|_| vec!["PONG".to_owned()])
            }
        }
        .map_err(|e| self.fail(e))?;
        Ok(())
    }
}
