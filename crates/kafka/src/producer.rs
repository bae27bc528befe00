//! An idempotent producer: what `freshet generate --to kafka://` and the tests write topics with.
//!
//! Idempotence (`enable.idempotence`) makes the broker drop a retried batch it already has, so a
//! network hiccup never writes an event twice; records with the same key land in the same partition,
//! in the order sent.

use crate::KafkaError;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
use std::time::Duration;

/// A producer to one topic.
pub struct Producer {
    inner: ThreadedProducer<DefaultProducerContext>,
    topic: String,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// Connects to `brokers` for `topic`.
    pub fn new(brokers: &str, topic: &str) -> Result<Producer, KafkaError> {
        Producer::with_options(brokers, topic, &[])
    }

    /// Connects with further librdkafka producer properties (e.g. `message.max.bytes`).
    pub fn with_options(
        brokers: &str,
        topic: &str,
        options: &[(&str, &str)],
    ) -> Result<Producer, KafkaError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("compression.type", "lz4");
        for (key, value) in options {
            config.set(*key, *value);
        }
        let inner = config.create().map_err(|source| KafkaError::Client {
            role: "producer",
            brokers: brokers.to_owned(),
            source,
        })?;
        Ok(Producer {
            inner,
            topic: topic.to_owned(),
        })
    }

    /// Queues one record; waits while the local queue is full.
    pub fn send(
        &self,
        key: &[u8],
        payload: &[u8],
        timestamp_millis: Option<i64>,
    ) -> Result<(), KafkaError> {
        self.send_record(Some(key), Some(payload), timestamp_millis)
    }

    /// Queues one record that may lack a key or a payload (a tombstone).
    pub fn send_record(
        &self,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        timestamp_millis: Option<i64>,
    ) -> Result<(), KafkaError> {
        let mut record = BaseRecord::<[u8], [u8]>::to(&self.topic);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        if let Some(t) = timestamp_millis {
            record = record.timestamp(t);
        }
        loop {
            match self.inner.send(record) {
                Ok(()) => return Ok(()),
                Err((e, back)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((source, _)) => {
                    return Err(KafkaError::Operation {
                        operation: "produce",
                        topic: self.topic.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Waits until every queued record is acknowledged.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner
            .flush(timeout)
            .map_err(|source| KafkaError::Operation {
                operation: "flush",
                topic: self.topic.clone(),
                source,
            })
    }
}
