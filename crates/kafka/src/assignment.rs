//! Which partitions a worker reads: the ones its consumer group gives it, or a fixed share picked
//! by the worker's number.
//!
//! Why a fixed share exists: a group gives a crashed member's partitions to anyone only once the
//! member's session times out and the group rebalances (10 s and more), and brokers differ in how
//! fast they hand a static member (`group.instance.id`) its partitions back: Kafka at once,
//! librdkafka's mock broker never, tansu after about 7 s. A worker that owns its partitions by
//! number, as Flink's and Spark's Kafka sources do, asks no one: restarted, it restores its
//! checkpoints and reads on at once. The price is that the deployer, not the broker, gives each
//! worker its own number, and the workers do not rebalance when one is down.

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use std::time::Duration;

/// How a worker gets its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Assignment {
    /// The consumer group assigns and rebalances them.
    #[default]
    Group,
    /// Worker `worker` of `workers` reads every partition whose number modulo `workers` is
    /// `worker`, and never joins the group (it still commits offsets to it, for lag tools).
    Fixed {
        /// This worker's number, below `workers`.
        worker: u32,
        /// How many workers share the topic.
        workers: u32,
    },
}

impl Assignment {
    /// Of a topic's partitions, the ones this worker reads, in ascending order. With the group,
    /// none: the group decides.
    pub fn fixed_share(&self, partitions: &[i32]) -> Vec<i32> {
        let Assignment::Fixed { worker, workers } = *self else {
            return Vec::new();
        };
        let mut mine: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|&p| u32::try_from(p).is_ok_and(|p| workers > 0 && p % workers == worker))
            .collect();
        mine.sort_unstable();
        mine.dedup();
        mine
    }
}

impl std::fmt::Display for Assignment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Assignment::Group => f.write_str("the consumer group"),
            Assignment::Fixed { worker, workers } => write!(f, "worker {worker} of {workers}"),
        }
    }
}

/// The partition numbers of `topic`, once the broker knows the topic; `None` if it did not answer
/// or has no such topic within `timeout`.
pub(crate) fn partitions_of<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    timeout: Duration,
) -> Option<Vec<i32>> {
    let metadata = match consumer.fetch_metadata(Some(topic), timeout) {
        Ok(metadata) => metadata,
        Err(e) => {
            tracing::warn!("kafka: cannot read the partitions of `{topic}` yet: {e}");
            return None;
        }
    };
    let found = metadata.topics().iter().find(|t| t.name() == topic)?;
    if let Some(error) = found.error() {
        tracing::warn!(
            "kafka: topic `{topic}` is not readable yet ({error:?}); create it, or check its name"
        );
        return None;
    }
    let ids: Vec<i32> = found.partitions().iter().map(|p| p.id()).collect();
    (!ids.is_empty()).then_some(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_share_every_partition_exactly_once() {
        let partitions: Vec<i32> = (0..10).rev().collect();
        for workers in 1..=12u32 {
            let mut seen = Vec::new();
            for worker in 0..workers {
                let share = Assignment::Fixed { worker, workers }.fixed_share(&partitions);
                assert!(share.windows(2).all(|w| w[0] < w[1]), "ascending");
                seen.extend(share);
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..10).collect::<Vec<_>>(), "{workers} workers");
        }
    }

    #[test]
    fn one_worker_of_one_reads_all_and_the_group_reads_none_by_itself() {
        let all = [2, 0, 1];
        let alone = Assignment::Fixed {
            worker: 0,
            workers: 1,
        };
        assert_eq!(alone.fixed_share(&all), vec![0, 1, 2]);
        assert!(Assignment::Group.fixed_share(&all).is_empty());
        // More workers than partitions: the extra ones read nothing, and say so when they start.
        let spare = Assignment::Fixed {
            worker: 3,
            workers: 4,
        };
        assert!(spare.fixed_share(&all).is_empty());
    }
}
