//! Kafka sources: a consumer-group member (or a worker with a fixed share of the partitions) whose
//! partitions are tasks.
//!
//! Per batch of records, in this order:
//! 1. each record was decoded and checked on the poll thread ([`PayloadDecoder`]); the refused go to
//!    the partition's dead-letter file with their reason and original bytes;
//! 2. the good events of every partition go to the event log in one append, which records each
//!    partition's next offset as the Delta transaction `freshet/kafka/<source>/<partition>`, so a
//!    replayed offset is never logged twice;
//! 3. each partition's task ingests its events; the touched entities' records go to the online store.
//!
//! A checkpoint encodes every task between rounds and lands in the background
//! ([`CheckpointInFlight`]), then commits the offsets it covers to the group (for lag tools: on
//! assignment, a partition starts where its checkpoint says, not at the committed offset).
//! Handing a partition over is clean: the poll thread waits in its revoke callback until the
//! partition's pending records are applied and its checkpoint is written.

mod payload;

pub use payload::MAX_PAYLOAD_BYTES;

use crate::RunError;
use crate::background_log::BackgroundLog;
use crate::checkpoint_in_flight::{CheckpointInFlight, TakingCheckpoint};
use crate::dead_letters::{PartitionDeadLetters, Refused};
use crate::partition_claim::PartitionClaim;
use crate::task::{Event, Task, write_records};
use freshet_kafka::assignment::Assignment;
use freshet_kafka::consumer::{ConsumerSettings, Delivery, GroupConsumer, Record, StartAt};
use freshet_offline::{LogRows, SourceLog, Transaction};
use freshet_online::OnlineStore;
use freshet_project::Project;
use freshet_project::spec::{Connector, PartitionAssignment, SourceSpec, StartOffset};
use payload::{Decoded, PayloadDecoder};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Partition bits in a Kafka event's position: `partition << 40 | offset`.
const OFFSET_BITS: u32 = 40;

/// A partition this member owns.
#[derive(Debug)]
struct Owned {
    task: Task,
    /// Offsets below this are in the event log already.
    logged: i64,
    dead_letters: PartitionDeadLetters,
    /// With a fixed assignment, this worker's lock on the partition.
    _claim: Option<PartitionClaim>,
}

/// One Kafka source.
#[derive(Debug)]
pub(crate) struct KafkaStream {
    pub(crate) name: String,
    topic: String,
    start: StartOffset,
    assignment: Assignment,
    consumer: GroupConsumer<Decoded>,
    log: BackgroundLog,
    root: PathBuf,
    owned: BTreeMap<i32, Owned>,
    pending: Vec<Record<Decoded>>,
    /// The checkpoint being encoded, if any.
    taking: Option<TakingCheckpoint>,
    /// The checkpoint landing in the background, if any.
    in_flight: Option<CheckpointInFlight>,
    /// Where the source's partitions keep their checkpoints.
    checkpoints: PathBuf,
    /// Dead letters written by this run.
    pub(crate) dead_letters: u64,
}

fn app_id(source: &str, partition: i32) -> String {
    format!("freshet/kafka/{source}/{partition}")
}

fn position(partition: i32, offset: i64) -> u64 {
    (u64::try_from(partition).unwrap_or(0) << OFFSET_BITS) | u64::try_from(offset).unwrap_or(0)
}

impl KafkaStream {
    /// Starts consuming `source` (in its consumer group, or its fixed share of the partitions);
    /// `None` if it is not a Kafka source.
    pub(crate) async fn open(
        project: &Project,
        source: &SourceSpec,
        wake: Arc<tokio::sync::Notify>,
        log_interval: Duration,
    ) -> Result<Option<KafkaStream>, RunError> {
        let Connector::Kafka {
            brokers,
            topic,
            group_id,
            start_offset,
            options,
            assignment,
            ..
        } = &source.connector
        else {
            return Ok(None);
        };
        let group = group_id.as_ref().map_or_else(
            || format!("freshet-{}-{}", project.spec.project, source.name),
            |g| g.resolved().to_owned(),
        );
        let mut settings = ConsumerSettings::new(brokers.resolved(), topic.resolved(), &group);
        settings.assignment = match *assignment {
            PartitionAssignment::Group => Assignment::Group,
            PartitionAssignment::Fixed { worker, workers } => Assignment::Fixed { worker, workers },
        };
        settings.options = options
            .iter()
            .map(|(k, v)| (k.clone(), v.resolved().to_owned()))
            .collect();
        // Woken when a batch is handed over, not when a record is decoded: a decode comes up to the
        // batch's wait before its delivery, and a wake-up then would find nothing and leave the
        // batch to the next tick.
        settings.wake = Some(wake);
        let decoder = PayloadDecoder::new(project, source);
        let consumer =
            GroupConsumer::start(&settings, move |raw| decoder.decode(raw)).map_err(|e| {
                RunError::Source {
                    source_name: source.name.clone(),
                    reason: e.to_string(),
                }
            })?;
        let root = freshet_offline::offline_root(project);
        let log =
            SourceLog::open(&root, &source.name, &source.schema, &source.timestamp_field).await?;
        Ok(Some(KafkaStream {
            name: source.name.clone(),
            topic: topic.resolved().to_owned(),
            start: *start_offset,
            assignment: settings.assignment,
            consumer,
            log: BackgroundLog::new(log, log_interval),
            root,
            owned: BTreeMap::new(),
            pending: Vec::new(),
            taking: None,
            in_flight: None,
            checkpoints: crate::checkpoint::directory(&project.dir).join(&source.name),
            dead_letters: 0,
        }))
    }

    /// Takes what the consumer delivered (up to about `budget` records), answers rebalances, and
    /// applies the records; returns the number of events applied.
    pub(crate) async fn pump(
        &mut self,
        project: &Project,
        store: &OnlineStore,
        budget: usize,
    ) -> Result<usize, RunError> {
        let mut applied = 0;
        while self.pending.len() < budget {
            match self.consumer.try_next() {
                None => break,
                Some(Delivery::Records(records)) => self.pending.extend(records),
                Some(Delivery::Assigned { partitions, reply }) => {
                    applied += self.flush(store).await?;
                    reply.send(self.assign(project, &partitions).await?);
                }
                Some(Delivery::Revoked { partitions, reply }) => {
                    applied += self.flush(store).await?;
                    reply.send(self.revoke(store, &partitions).await?);
                }
            }
        }
        Ok(applied + self.flush(store).await?)
    }

    async fn assign(
        &mut self,
        project: &Project,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, StartAt>, RunError> {
        // Another worker may have logged these partitions since this one opened the log.
        self.log.settled().await?.refresh().await?;
        let mut starts = BTreeMap::new();
        for &p in partitions {
            // Claimed before the checkpoint is read, so two workers never restore one partition.
            let claim = match self.assignment {
                Assignment::Group => None,
                Assignment::Fixed { .. } => {
                    Some(PartitionClaim::take(&self.checkpoints, &self.name, p)?)
                }
            };
            let task = Task::open(project, &self.name, p)?;
            let logged = self
                .log
                .settled()
                .await?
                .transaction_version(&app_id(&self.name, p))
                .await?
                .unwrap_or(0);
            let start = if task.restored() {
                StartAt::Offset(i64::try_from(task.next).unwrap_or(0))
            } else if self.start == StartOffset::Latest && logged == 0 {
                StartAt::End
            } else {
                // No checkpoint: rebuild the state from the oldest record the broker holds.
                StartAt::Beginning
            };
            let dead_letters = PartitionDeadLetters::open(&self.root, &self.name, &self.topic, p)?;
            tracing::info!(
                "kafka source `{}`: partition {p} starts at {start:?}",
                self.name
            );
            starts.insert(p, start);
            self.owned.insert(
                p,
                Owned {
                    task,
                    logged,
                    dead_letters,
                    _claim: claim,
                },
            );
        }
        Ok(starts)
    }

    async fn revoke(
        &mut self,
        store: &OnlineStore,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, i64>, RunError> {
        self.land_checkpoint(store).await?;
        store.sync().await?;
        self.log.settled().await?;
        let mut commits = BTreeMap::new();
        for p in partitions {
            if let Some(mut owned) = self.owned.remove(p) {
                owned.task.checkpoint()?;
                commits.insert(*p, i64::try_from(owned.task.next).unwrap_or(0));
            }
        }
        Ok(commits)
    }

    /// Applies and logs the pending records of owned partitions.
    ///
    /// The engine and the online store go first, then the event log, whose append runs in the
    /// background ([`BackgroundLog`]): the order does not matter for exactly-once (a crash replays
    /// both from the last checkpoint, which is only written after both), and serving first keeps the
    /// log's commit out of the event-to-servable latency.
    async fn flush(&mut self, store: &OnlineStore) -> Result<usize, RunError> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        let mut by_partition: BTreeMap<i32, Vec<Record<Decoded>>> = BTreeMap::new();
        for record in self.pending.drain(..) {
            by_partition
                .entry(record.partition)
                .or_default()
                .push(record);
        }
        let mut rows = LogRows::default();
        let mut transactions = Vec::new();
        let mut touched: BTreeMap<String, Vec<(freshet_engine::EntityKey, Vec<u8>)>> =
            BTreeMap::new();
        let mut applied = 0;
        for (p, records) in by_partition {
            // Records of a partition given up are the new owner's to apply.
            let Some(owned) = self.owned.get_mut(&p) else {
                continue;
            };
            let next = i64::try_from(owned.task.next).unwrap_or(0);
            let records: Vec<Record<Decoded>> =
                records.into_iter().filter(|r| r.offset >= next).collect();
            let (Some(first), Some(last)) = (records.first(), records.last()) else {
                continue;
            };
            let (first, last) = (first.offset, last.offset);
            if first > next && owned.task.restored() {
                tracing::warn!(
                    "kafka source `{}`: partition {p} resumed at offset {first}, not {next}: records {next} to {} expired from the topic before they were read; raise the topic's retention",
                    self.name,
                    first - 1
                );
            }
            let mut events = Vec::with_capacity(records.len());
            let mut refused = Vec::new();
            for r in records {
                match r.value {
                    Ok(ok) => events.push(Event {
                        row: ok.row,
                        event_time: ok.event_time,
                        ingest_time: ok.ingest_time,
                        position: position(p, r.offset),
                    }),
                    Err(e) => refused.push((r.offset, e)),
                }
            }
            let refused: Vec<(i64, &Refused)> = refused.iter().map(|(o, e)| (*o, e)).collect();
            self.dead_letters += owned.dead_letters.append(&refused)? as u64;
            for (view, records) in owned.task.apply(&events) {
                touched.entry(view).or_default().extend(records);
            }
            owned.task.next = u64::try_from(last + 1).unwrap_or(0);
            applied += events.len();
            if last >= owned.logged {
                let from = position(p, owned.logged);
                for e in events.into_iter().filter(|e| e.position >= from) {
                    rows.push(e.row, e.ingest_time, e.position);
                }
                transactions.push(Transaction::new(app_id(&self.name, p), last + 1));
                owned.logged = last + 1;
            }
        }
        write_records(store, touched.into_iter().collect()).await?;
        if !transactions.is_empty() {
            self.log.append(rows, transactions).await?;
        }
        Ok(applied)
    }

    /// Starts a checkpoint of every owned partition, encoded over the next turns of the loop and
    /// landed in the background ([`TakingCheckpoint`], [`CheckpointInFlight`]), unless the previous
    /// one is still under way.
    pub(crate) fn begin_checkpoint(&mut self) {
        if self.taking.is_none() && self.in_flight.is_none() && !self.owned.is_empty() {
            self.taking = Some(TakingCheckpoint::new(self.owned.keys().copied()));
        }
    }

    /// Moves the background work along, waiting for nothing but `budget` of encoding: starts the
    /// log's next append if it can, encodes partitions of the checkpoint being taken, and commits a
    /// landed checkpoint's offsets. Call it whenever the loop comes round.
    pub(crate) async fn progress(
        &mut self,
        store: &OnlineStore,
        budget: Duration,
    ) -> Result<(), RunError> {
        self.log.progress().await?;
        self.take_checkpoint(store, budget)?;
        if self
            .in_flight
            .as_ref()
            .is_some_and(CheckpointInFlight::is_landed)
        {
            self.land_checkpoint(store).await?;
        }
        Ok(())
    }

    /// Encodes partitions of the checkpoint being taken for up to `budget`, and hands it to the
    /// background once all are.
    fn take_checkpoint(&mut self, store: &OnlineStore, budget: Duration) -> Result<(), RunError> {
        let Some(taking) = self.taking.as_mut() else {
            return Ok(());
        };
        let owned = &mut self.owned;
        let done = taking.step(budget, |p| {
            let Some(o) = owned.get_mut(&p) else {
                return Ok(None);
            };
            Ok(Some((
                o.task.encode_checkpoint()?,
                i64::try_from(o.task.next).unwrap_or(0),
            )))
        })?;
        if done && let Some(taking) = self.taking.take() {
            let round = self.log.handed();
            self.in_flight = Some(taking.land(&self.checkpoints, store, self.log.landed(), round));
        }
        Ok(())
    }

    /// Finishes the checkpoint under way, if any, waiting for it, and commits its offsets.
    async fn land_checkpoint(&mut self, store: &OnlineStore) -> Result<(), RunError> {
        self.take_checkpoint(store, Duration::MAX)?;
        if let Some(in_flight) = self.in_flight.take() {
            if !in_flight.is_landed() {
                // It may be waiting for rounds still buffered in the log.
                self.log.settled().await?;
            }
            let commits = in_flight.land().await?;
            if let Err(e) = self.consumer.commit(&commits) {
                tracing::warn!("kafka source `{}`: {e}", self.name);
            }
        }
        Ok(())
    }

    /// Checkpoints every owned partition and waits until it has landed (on shutdown).
    pub(crate) async fn checkpoint(&mut self, store: &OnlineStore) -> Result<(), RunError> {
        self.land_checkpoint(store).await?;
        self.begin_checkpoint();
        self.land_checkpoint(store).await
    }

    /// Each owned partition's next offset, as `source/partition`.
    pub(crate) fn positions(&self) -> Vec<(String, u64)> {
        self.owned
            .iter()
            .map(|(p, o)| (format!("{}/{p}", self.name), o.task.next))
            .collect()
    }

    /// The source and the events it has applied and served but not yet committed to its log.
    pub(crate) fn log_pending(&self) -> (String, u64) {
        (self.name.clone(), self.log.pending_rows() as u64)
    }

    /// Leaves the group (the caller has checkpointed).
    pub(crate) fn close(self) {
        self.consumer.close();
    }
}
