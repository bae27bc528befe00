//! A Kafka consumer polled on its own thread: a member of a consumer group, or a worker with a
//! fixed share of the partitions ([`Assignment`]).
//!
//! Why a thread and a channel rather than an async stream: librdkafka calls the rebalance callback
//! from inside `poll`, and a clean handover needs that callback to wait until the runtime has
//! checkpointed the partitions being taken away (and loaded the checkpoints of the ones being given).
//! A blocking poll thread can wait; an async task inside the runtime's own loop could not. The channel
//! carries records and rebalance questions in one order, so when the runtime sees `Revoked`, every
//! record of those partitions delivered before it has been handed over, and none after.
//!
//! Records are decoded on the poll thread by a caller-supplied function, which keeps JSON parsing off
//! the runtime's thread. The channel is bounded: when the runtime falls behind, the poll thread
//! blocks, librdkafka's own prefetch queue fills to its byte limit, and fetching stops.

mod poller;
mod rebalance;

use crate::KafkaError;
use crate::assignment::Assignment;
use poller::Poller;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rebalance::{GroupContext, offsets_list};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A record as the broker delivered it, lent to the decoding function.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// The partition.
    pub partition: i32,
    /// The offset within the partition.
    pub offset: i64,
    /// The record's timestamp (create or log-append time), milliseconds since the epoch.
    pub timestamp_millis: Option<i64>,
    /// The record key.
    pub key: Option<&'a [u8]>,
    /// The payload.
    pub payload: Option<&'a [u8]>,
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<T> {
    /// The partition.
    pub partition: i32,
    /// The offset within the partition.
    pub offset: i64,
    /// What the decoding function made of it.
    pub value: T,
}

/// Where a newly assigned partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// At this offset (the one after the last record a checkpoint covers).
    Offset(i64),
    /// At the oldest record the broker still has.
    Beginning,
    /// After the newest record.
    End,
}

/// An answer the poll thread waits for.
#[derive(Debug)]
pub struct Reply<R>(std::sync::mpsc::SyncSender<R>);

impl<R> Reply<R> {
    /// Answers; if the consumer is gone, nobody is waiting and the answer is dropped.
    pub fn send(self, answer: R) {
        let _ = self.0.send(answer);
    }
}

/// What the group consumer delivers, in order.
#[derive(Debug)]
pub enum Delivery<T> {
    /// Records, in offset order within each partition.
    Records(Vec<Record<T>>),
    /// The group gave this member these partitions: answer where each starts.
    Assigned {
        /// The partitions.
        partitions: Vec<i32>,
        /// Where each starts, by partition.
        reply: Reply<BTreeMap<i32, StartAt>>,
    },
    /// The group is taking these partitions away: answer, once their work is checkpointed, with the
    /// offsets to commit (the next offset each checkpoint covers).
    Revoked {
        /// The partitions.
        partitions: Vec<i32>,
        /// Offsets to commit, by partition.
        reply: Reply<BTreeMap<i32, i64>>,
    },
}

/// How to join the group.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Bootstrap servers.
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// The consumer group: the one joined, or with a fixed assignment only the one offsets are
    /// committed to.
    pub group_id: String,
    /// Who decides which partitions this consumer reads.
    pub assignment: Assignment,
    /// Further librdkafka properties (security, timeouts), applied last.
    pub options: BTreeMap<String, String>,
    /// Records per delivery at most.
    pub batch_records: usize,
    /// A delivery waits at most this long for more records.
    pub batch_wait: Duration,
    /// Deliveries in flight before the poll thread blocks.
    pub channel_capacity: usize,
    /// Notified each time a delivery (records or a rebalance question) is handed over, so a caller
    /// that serves several inputs from one loop can sleep until there is work instead of polling.
    pub wake: Option<Arc<tokio::sync::Notify>>,
}

impl ConsumerSettings {
    /// Settings with freshet's defaults for the batch and the channel.
    pub fn new(brokers: &str, topic: &str, group_id: &str) -> ConsumerSettings {
        ConsumerSettings {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            group_id: group_id.to_owned(),
            assignment: Assignment::Group,
            options: BTreeMap::new(),
            batch_records: 8_192,
            batch_wait: Duration::from_millis(5),
            channel_capacity: 16,
            wake: None,
        }
    }
}

type Decode<T> = Box<dyn Fn(RawRecord<'_>) -> T + Send + Sync>;

/// A member of a consumer group, or a worker with a fixed share of the partitions; see the module
/// documentation.
pub struct GroupConsumer<T: Send + 'static> {
    deliveries: tokio::sync::mpsc::Receiver<Delivery<T>>,
    consumer: Arc<BaseConsumer<GroupContext<T>>>,
    topic: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<T: Send + 'static> std::fmt::Debug for GroupConsumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupConsumer")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> GroupConsumer<T> {
    /// Joins the group (or, with a fixed assignment, takes its share once the broker names the
    /// topic's partitions) and starts polling; `decode` turns each record into a `T` on the poll
    /// thread.
    pub fn start(
        settings: &ConsumerSettings,
        decode: impl Fn(RawRecord<'_>) -> T + Send + Sync + 'static,
    ) -> Result<GroupConsumer<T>, KafkaError> {
        let (tx, rx) = tokio::sync::mpsc::channel(settings.channel_capacity.max(1));
        let context = GroupContext {
            topic: settings.topic.clone(),
            deliveries: tx,
            pending: Mutex::new(Vec::new()),
            wake: settings.wake.clone(),
        };
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &settings.brokers)
            .set("group.id", &settings.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("enable.partition.eof", "false")
            // Once the local queue holds `queued.min.messages`, librdkafka postpones the partition's
            // next fetch by this much (1 s by default since 2.4). The runtime empties the queue far
            // sooner, then sat idle: B2k ran at half its rate (100,000 against 210,000 events/s).
            // The queue's memory stays capped by `queued.max.messages.kbytes`.
            .set("fetch.queue.backoff.ms", "10");
        for (key, value) in &settings.options {
            config.set(key, value);
        }
        let consumer: BaseConsumer<GroupContext<T>> =
            config
                .create_with_context(context)
                .map_err(|source| KafkaError::Client {
                    role: "consumer",
                    brokers: settings.brokers.clone(),
                    source,
                })?;
        // A fixed share is assigned by the poll thread once the broker has told it the topic's
        // partitions: the assignment asks the runtime where each starts, which must not block here.
        if settings.assignment == Assignment::Group {
            consumer
                .subscribe(&[&settings.topic])
                .map_err(|source| KafkaError::Operation {
                    operation: "subscribe",
                    topic: settings.topic.clone(),
                    source,
                })?;
        }
        let consumer = Arc::new(consumer);
        let stop = Arc::new(AtomicBool::new(false));
        let poller = Poller {
            consumer: consumer.clone(),
            stop: stop.clone(),
            decode: Box::new(decode),
            topic: settings.topic.clone(),
            assignment: settings.assignment,
            batch_records: settings.batch_records.max(1),
            batch_wait: settings.batch_wait,
        };
        let thread = std::thread::Builder::new()
            .name(format!("kafka-{}", settings.topic))
            .spawn(move || poller.run())
            .map_err(KafkaError::Thread)?;
        Ok(GroupConsumer {
            deliveries: rx,
            consumer,
            topic: settings.topic.clone(),
            stop,
            thread: Some(thread),
        })
    }

    /// The next delivery; `None` once the poll thread has stopped.
    pub async fn next(&mut self) -> Option<Delivery<T>> {
        self.deliveries.recv().await
    }

    /// The next delivery if one is waiting.
    pub fn try_next(&mut self) -> Option<Delivery<T>> {
        self.deliveries.try_recv().ok()
    }

    /// Commits `offsets` (partition to next offset) without waiting for the broker.
    pub fn commit(&self, offsets: &BTreeMap<i32, i64>) -> Result<(), KafkaError> {
        if offsets.is_empty() {
            return Ok(());
        }
        self.consumer
            .commit(&offsets_list(&self.topic, offsets), CommitMode::Async)
            .map_err(|source| KafkaError::Operation {
                operation: "offset commit",
                topic: self.topic.clone(),
                source,
            })
    }

    /// Leaves the group. Rebalance questions asked while leaving go unanswered by design: the
    /// runtime checkpoints everything itself before it shuts down.
    pub fn close(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Unblock a poll thread waiting on a full channel, or on an answer.
        self.deliveries.close();
        while self.deliveries.try_recv().is_ok() {}
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<T: Send + 'static> Drop for GroupConsumer<T> {
    fn drop(&mut self) {
        self.shut();
    }
}
