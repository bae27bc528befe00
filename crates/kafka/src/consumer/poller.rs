//! The poll thread's loop: takes a fixed share of the partitions when there is no group, polls,
//! decodes each record with the caller's function and delivers them in batches (by count or by the
//! oldest record's wait), until told to stop.

use super::rebalance::GroupContext;
use super::{Decode, RawRecord, Record};
use crate::assignment::{Assignment, partitions_of};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::TopicPartitionList;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What the poll thread owns: the consumer, the flag that stops it, and how it decodes and batches.
pub(super) struct Poller<T: Send + 'static> {
    pub(super) consumer: Arc<BaseConsumer<GroupContext<T>>>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) decode: Decode<T>,
    pub(super) topic: String,
    pub(super) assignment: Assignment,
    pub(super) batch_records: usize,
    pub(super) batch_wait: Duration,
}

impl<T: Send + 'static> Poller<T> {
    pub(super) fn run(self) {
        let context = self.consumer.context().clone();
        if self.assignment != Assignment::Group && !self.take_fixed_share() {
            return;
        }
        let mut oldest: Option<Instant> = None;
        while !self.stop.load(Ordering::Relaxed) {
            // One clock read per message: on virtual machines it is a visible share of the thread.
            // After an empty poll `now` is late by the wait, which only costs one more (zero) wait.
            let now = Instant::now();
            let wait = oldest.map_or(Duration::from_millis(100), |t| {
                self.batch_wait
                    .saturating_sub(now.saturating_duration_since(t))
            });
            let full = match self.consumer.poll(wait) {
                Some(Ok(message)) => {
                    let raw = RawRecord {
                        partition: message.partition(),
                        offset: message.offset(),
                        timestamp_millis: message.timestamp().to_millis(),
                        key: message.key(),
                        payload: message.payload(),
                    };
                    let record = Record {
                        partition: raw.partition,
                        offset: raw.offset,
                        value: (self.decode)(raw),
                    };
                    let mut pending = match context.pending.lock() {
                        Ok(p) => p,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                    pending.push(record);
                    // A batch's wait starts when its first record arrives, not when the poll began.
                    oldest.get_or_insert_with(Instant::now);
                    pending.len() >= self.batch_records
                }
                Some(Err(e)) => {
                    tracing::warn!("kafka: {e}");
                    false
                }
                None => false,
            };
            if full || oldest.is_some_and(|t| now.saturating_duration_since(t) >= self.batch_wait) {
                oldest = None;
                if !context.flush() {
                    break;
                }
            }
        }
        // Leaving the group runs the revoke callback; the runtime no longer listens, so it must not
        // wait for answers: the closed channel makes `ask` return at once. A fixed share never
        // joined: the runtime checkpoints it when it shuts down.
        if self.assignment == Assignment::Group {
            self.consumer.unsubscribe();
        }
    }

    /// Waits until the broker knows the topic, then assigns this worker's share the way the group
    /// would: the runtime answers where each partition starts. False if stopped first.
    fn take_fixed_share(&self) -> bool {
        let partitions = loop {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            if let Some(partitions) =
                partitions_of(&self.consumer, &self.topic, Duration::from_secs(5))
            {
                break partitions;
            }
            std::thread::sleep(Duration::from_secs(1));
        };
        let mine = self.assignment.fixed_share(&partitions);
        if mine.is_empty() {
            tracing::warn!(
                "kafka: {} reads none of the {} partitions of `{}`: use fewer workers, or more partitions",
                self.assignment,
                partitions.len(),
                self.topic
            );
            return true;
        }
        let mut list = TopicPartitionList::new();
        for &p in &mine {
            list.add_partition(&self.topic, p);
        }
        self.consumer.context().assign(&self.consumer, &mut list);
        true
    }
}
