//! The rebalance side of the poll thread: librdkafka calls [`GroupContext`] from inside `poll` when
//! partitions are assigned or revoked, and it asks the runtime through the same channel as the
//! records, after flushing what was polled before, then waits for the answer (a checkpoint written,
//! the new partitions' start offsets) before letting the rebalance go on.

use super::{Delivery, Record, Reply, StartAt};
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The rebalance side of the poll thread.
pub(super) struct GroupContext<T> {
    pub(super) topic: String,
    pub(super) deliveries: tokio::sync::mpsc::Sender<Delivery<T>>,
    /// Records polled but not yet delivered; flushed before any rebalance question, to keep order.
    pub(super) pending: Mutex<Vec<Record<T>>>,
    pub(super) wake: Option<Arc<tokio::sync::Notify>>,
}

impl<T: Send + 'static> ClientContext for GroupContext<T> {}

impl<T: Send + 'static> GroupContext<T> {
    pub(super) fn flush(&self) -> bool {
        // Closed: the runtime stopped listening (and a close may run on a runtime thread, where a
        // blocking send would panic).
        if self.deliveries.is_closed() {
            return false;
        }
        let mut pending = match self.pending.lock() {
            Ok(pending) => pending,
            Err(poisoned) => poisoned.into_inner(),
        };
        // The next batch is likely as large: room for it up front spares the poll thread growing
        // the vector from empty, a copy and fresh pages per doubling (2 % of B2k's CPU).
        let room = pending.len();
        let batch = std::mem::replace(&mut *pending, Vec::with_capacity(room));
        drop(pending);
        batch.is_empty() || self.deliver(Delivery::Records(batch))
    }

    /// Hands `delivery` over (blocking while the channel is full) and wakes the receiver.
    fn deliver(&self, delivery: Delivery<T>) -> bool {
        let sent = self.deliveries.blocking_send(delivery).is_ok();
        if sent && let Some(wake) = &self.wake {
            wake.notify_one();
        }
        sent
    }

    /// Asks the runtime, and waits for the answer; `None` when the runtime is gone.
    fn ask<R>(&self, make: impl FnOnce(Reply<R>) -> Delivery<T>) -> Option<R> {
        if !self.flush() {
            return None;
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        if !self.deliver(make(Reply(tx))) {
            return None;
        }
        rx.recv().ok()
    }

    pub(super) fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        tracing::info!(
            "kafka: assigned partitions {partitions:?} of `{}`",
            self.topic
        );
        let starts = self
            .ask(|reply| Delivery::Assigned {
                partitions: partitions.clone(),
                reply,
            })
            .unwrap_or_default();
        for p in partitions {
            let offset = match starts.get(&p) {
                Some(StartAt::Offset(o)) => Offset::Offset(*o),
                Some(StartAt::End) => Offset::End,
                Some(StartAt::Beginning) | None => Offset::Beginning,
            };
            if let Err(e) = tpl.set_partition_offset(&self.topic, p, offset) {
                tracing::warn!("kafka: cannot set the start of partition {p}: {e}");
            }
        }
        if let Err(e) = consumer.assign(tpl) {
            tracing::error!(
                "kafka: assigning partitions of `{}` failed: {e}",
                self.topic
            );
        }
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        tracing::info!(
            "kafka: partitions {partitions:?} of `{}` revoked",
            self.topic
        );
        let commits = self
            .ask(|reply| Delivery::Revoked {
                partitions: partitions.clone(),
                reply,
            })
            .unwrap_or_default();
        // A lost assignment (session expired) may already belong to another member: committing
        // would overwrite its progress.
        if !commits.is_empty() && !consumer.assignment_lost() {
            let list = offsets_list(&self.topic, &commits);
            if let Err(e) = consumer.commit(&list, CommitMode::Sync) {
                tracing::warn!("kafka: committing revoked offsets failed: {e}");
            }
        }
        if let Err(e) = consumer.unassign() {
            tracing::warn!("kafka: unassigning failed: {e}");
        }
    }
}

impl<T: Send + 'static> ConsumerContext for GroupContext<T> {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => {
                tracing::error!("kafka: rebalance of `{}` failed: {other:?}", self.topic);
                let _ = consumer.unassign();
            }
        }
    }
}

pub(super) fn offsets_list(topic: &str, offsets: &BTreeMap<i32, i64>) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for (&p, &o) in offsets {
        // Adding to a fresh list cannot fail for a valid offset; a failure only skips a commit.
        let _ = list.add_partition_offset(topic, p, Offset::Offset(o));
    }
    list
}
