//! freshet's Kafka client, the only crate that compiles librdkafka (vendored, built from source by
//! `rdkafka-sys`), so the rest of the workspace stays pure Rust.
//!
//! Two pieces:
//! - [`consumer::GroupConsumer`]: one member of a consumer group. A thread polls the broker and hands
//!   records to the runtime in order, through a bounded channel (so a fast producer fills the broker,
//!   not this process's memory). Partition assignment and revocation travel in the same channel as
//!   questions the runtime answers: where to start each new partition (from its checkpoint, not from
//!   the group's committed offset) and which offsets to commit for a partition it gives up (the ones its
//!   checkpoint covers). Committed offsets are for lag monitoring and for tools; the checkpoint is
//!   the truth.
//!   With a fixed [`assignment::Assignment`] the worker skips the group and asks the runtime the
//!   same question for its own share of the partitions, so a restart resumes without a rebalance.
//! - [`producer::Producer`]: an idempotent producer for `freshet generate --to kafka://` and tests.

#![forbid(unsafe_code)]

pub mod address;
pub mod assignment;
pub mod consumer;
pub mod producer;

pub use address::KafkaAddress;
pub use rdkafka::mocking::MockCluster;

/// librdkafka's mock cluster as the tests and benchmarks host it: a Kafka-protocol broker on a
/// loopback port, in the calling process.
pub type MockBroker =
    rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>;

/// A Kafka operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The client could not be created (bad settings).
    #[error("cannot create the Kafka {role} for {brokers}: {source}")]
    Client {
        /// "consumer" or "producer".
        role: &'static str,
        /// The bootstrap servers.
        brokers: String,
        /// The cause.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// Subscribing, committing or producing failed.
    #[error("kafka {operation} on topic `{topic}` failed: {source}")]
    Operation {
        /// What was attempted.
        operation: &'static str,
        /// The topic.
        topic: String,
        /// The cause.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The consumer's polling thread could not start.
    #[error("cannot start the kafka polling thread: {0}")]
    Thread(#[source] std::io::Error),
    /// A `kafka://` address is malformed.
    #[error("{0}")]
    Address(String),
}

/// The high watermark (the offset after the newest record) of every partition of `topic`: where a
/// consumer that has read everything stands. Offsets are not always contiguous (transaction markers,
/// compaction, some brokers' batching), so "read everything" is measured against these, never by
/// counting records.
pub fn high_watermarks(
    brokers: &str,
    topic: &str,
    timeout: std::time::Duration,
) -> Result<std::collections::BTreeMap<i32, i64>, KafkaError> {
    Ok(watermarks(brokers, topic, timeout)?
        .into_iter()
        .map(|(partition, (_, high))| (partition, high))
        .collect())
}

/// The (low, high) watermarks of every partition of `topic`: the oldest offset the broker still
/// holds, and the offset after the newest. A low watermark above 0 means the broker dropped the
/// partition's oldest records (retention; librdkafka's mock broker keeps about 5 MiB each).
pub fn watermarks(
    brokers: &str,
    topic: &str,
    timeout: std::time::Duration,
) -> Result<std::collections::BTreeMap<i32, (i64, i64)>, KafkaError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let fail = |operation: &'static str| {
        move |source| KafkaError::Operation {
            operation,
            topic: topic.to_owned(),
            source,
        }
    };
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(|source| KafkaError::Client {
            role: "consumer",
            brokers: brokers.to_owned(),
            source,
        })?;
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(fail("metadata fetch"))?;
    let mut marks = std::collections::BTreeMap::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            let marks_of_partition = consumer
                .fetch_watermarks(topic, p.id(), timeout)
                .map_err(fail("watermark fetch"))?;
            marks.insert(p.id(), marks_of_partition);
        }
    }
    Ok(marks)
}
