//! The Redis a B1r run serves from (`--redis`: one server, `--redis-cluster`: three masters), started
//! for the run, and the raw client B1r is measured against: reads of the same records with nothing
//! around them, [`CONNECTIONS`] in flight on one connection, as a pipelining client would.

use crate::http_load::CONNECTIONS;
use rand::{RngExt, SeedableRng};
use std::time::{Duration, Instant};

/// The Redis that `--redis` or `--redis-cluster` started for the run.
pub(crate) enum Redis {
    Server(freshet_testkit::redis::RedisServer),
    Cluster(freshet_testkit::redis::RedisCluster),
}

impl Redis {
    /// A cluster if `cluster`, else a server if `server`, else none.
    pub(crate) fn start(server: bool, cluster: bool) -> Option<Redis> {
        if cluster {
            Some(Redis::Cluster(freshet_testkit::redis::RedisCluster::start()))
        } else {
            server.then(|| Redis::Server(freshet_testkit::redis::RedisServer::start()))
        }
    }

    /// The project's `online_store` for it.
    pub(crate) fn store_yaml(&self) -> String {
        match self {
            Redis::Server(server) => format!("{{type: redis, url: \"{}\"}}", server.url()),
            Redis::Cluster(cluster) => {
                let urls: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
                format!("{{type: redis_cluster, urls: [{}]}}", urls.join(", "))
            }
        }
    }

    /// The B1r baseline: a raw Redis client reading the record of one random driver of `entities`
    /// per request (one pipelined `GET`), with [`CONNECTIONS`] requests in flight on one connection
    /// (a cluster connection routes each to its node), for `seconds`. Reads per second.
    pub(crate) async fn raw_reads(
        &self,
        view: &str,
        entities: u64,
        seconds: f64,
        seed: u64,
    ) -> anyhow::Result<f64> {
        let lanes = Lanes {
            view,
            entities,
            seconds,
            seed,
        };
        Ok(match self {
            Redis::Server(server) => {
                let client = redis::Client::open(server.url().as_str())?;
                let connection = client.get_multiplexed_async_connection().await?;
                raw_redis_reads(connection, &lanes).await
            }
            Redis::Cluster(cluster) => {
                let client = redis::cluster::ClusterClient::new(cluster.urls())?;
                raw_redis_reads(client.get_async_connection().await?, &lanes).await
            }
        })
    }
}

/// What each of the raw client's lanes reads, and for how long.
struct Lanes<'a> {
    view: &'a str,
    entities: u64,
    seconds: f64,
    seed: u64,
}

/// [`Redis::raw_reads`] over `connection`.
async fn raw_redis_reads<C>(connection: C, lanes: &Lanes<'_>) -> f64
where
    C: redis::aio::ConnectionLike + Clone + Send + 'static,
{
    let deadline = Instant::now() + Duration::from_secs_f64(lanes.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..CONNECTIONS {
        let mut connection = connection.clone();
        let view = lanes.view.to_owned();
        let entities = lanes.entities;
        let seed = lanes.seed ^ lane as u64;
        tasks.spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut done = 0u64;
            while Instant::now() < deadline {
                let driver = freshet_engine::EntityKey::int(rng.random_range(1..=entities as i64));
                let key = freshet_online::keys::redis_key("b1", &view, &driver);
                let mut pipeline = redis::pipe();
                pipeline.cmd("GET").arg(key);
                let read: redis::RedisResult<Vec<Option<Vec<u8>>>> =
                    pipeline.query_async(&mut connection).await;
                if read.is_ok() {
                    done += 1;
                }
            }
            done
        });
    }
    let mut total = 0u64;
    while let Some(done) = tasks.join_next().await {
        total += done.unwrap_or(0);
    }
    total as f64 / lanes.seconds
}
