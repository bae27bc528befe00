//! Replayable writes, held in memory and written to the database behind the writer's back.
//!
//! The streaming runtime writes the record of every entity a round touched. In redb, a write
//! transaction of 20,000 records takes 100 to 400 ms on two cores (a B-tree page copied per record),
//! and the durable commit at a checkpoint keeps the single writer for as long as its fsync. Waited
//! for in the run loop, either would add its time to event-to-servable latency. So a replayable
//! write lands here, where readers see it at once, and a drainer thread writes what is held to the
//! database in batches while the loop goes on. An entity written by several rounds in the meantime
//! reaches the database once.
//!
//! The rules that keep this invisible to readers and to exactly-once:
//! - **Newest wins here too.** A held record replaces a held one only if its version is not
//!   smaller, and a reader given held and stored records takes the newest.
//! - **A record leaves memory only once the database has it.** The batch being drained stays
//!   readable until its transaction has committed. A reader looks here *before* it opens its read
//!   transaction, so if it finds nothing, whatever was held had committed before that transaction.
//! - **A sync covers every write offered before it**: it waits until the batch holding them has
//!   been written, then commits durably.
//! - **Memory is bounded in bytes**: an offer waits while [`MAX_HELD_BYTES`] are held. A count
//!   would not do: one entity's record is 100 bytes for a sparse view and tens of kilobytes for a
//!   busy entity of a week-long window.
//! - **Batches are large, and gathered for as long as a checkpoint's interval**: the drainer waits up
//!   to [`GATHER_FOR`] for [`MIN_BATCH_BYTES`] of records before it takes a batch, unless a sync is
//!   waiting. Two reasons. A redb write transaction copies every page it touches once, so a batch
//!   spread over most of the table's leaves costs a copy per few records instead of one per record
//!   (B2k, 1M entities: 15 us of wall time per record in batches of 2,000, 4 us in batches of
//!   50,000). And even in sorted batches, an insert into a table of a million keys costs redb
//!   1.2 to 1.5 us of CPU, while holding a record costs a hash-table slot: an entity updated again
//!   while its record waits is written once. Gathered for 2 s, B2k's batches held few repeats and
//!   the drainer took over a fifth of the process's CPU; gathered until the checkpoint, each touched
//!   entity is written once per checkpoint (B2k: 163,000 to 212,000 -> 240,000 to 257,000 events
//!   per CPU-second, and a smaller peak, since redb copies fewer pages). Readers do not notice: held
//!   records are readable; neither do checkpoints, whose sync takes what is held at once.
//! - **A failed drain is not forgotten**: its batch stays readable, and every later offer and sync
//!   returns the failure.

use crate::held_map::HeldMap;
pub(crate) use crate::held_map::KeyedRecord;
use freshet_engine::record_version;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Bytes of records held (see [`held_size`]) before an offer waits for the drainer. The batch being
/// written is held too, so the write-behind's memory peaks near twice this.
pub(crate) const MAX_HELD_BYTES: usize = 384 << 20;

/// Bytes of records the drainer gathers before it takes a batch, unless a sync waits or
/// [`GATHER_FOR`] runs out: about 1,300,000 records of B2k's 12-feature view, more than its
/// 1M entities, so the bound that usually ends a batch is the checkpoint's sync.
pub(crate) const MIN_BATCH_BYTES: usize = 256 << 20;

/// The longest the drainer waits to gather [`MIN_BATCH_BYTES`]: the default checkpoint interval
/// (`freshet run --checkpoint-interval`), whose sync takes a batch sooner. Reads do not wait for it
/// (held records are readable) and neither do syncs, so only memory, the batch size and how many
/// updates of one entity collapse into one write depend on it.
pub(crate) const GATHER_FOR: Duration = Duration::from_secs(10);

/// What one held record costs in memory: its key and bytes, and about 64 bytes of vector headers and
/// hash-table slot.
pub(crate) fn held_size(key: &[u8], record: &[u8]) -> usize {
    key.len() + record.len() + 64
}

/// The records held in memory, and the drainer's progress.
#[derive(Debug)]
pub(crate) struct WriteBehind {
    /// Whether anything is held: lets readers skip the lock when nothing is, which is most of the
    /// time outside streaming.
    maybe_held: AtomicBool,
    state: Mutex<State>,
    /// Signalled when a batch is taken, written or failed, when a sync starts waiting, and when an
    /// offer fills a batch.
    changed: Condvar,
    /// See [`MIN_BATCH_BYTES`], [`MAX_HELD_BYTES`] and [`GATHER_FOR`].
    min_batch_bytes: usize,
    max_held_bytes: usize,
    gather_for: Duration,
}

impl Default for WriteBehind {
    fn default() -> Self {
        WriteBehind::gathering(MIN_BATCH_BYTES, MAX_HELD_BYTES, GATHER_FOR)
    }
}

#[derive(Debug, Default)]
struct State {
    /// Offered since the last batch was taken.
    current: HeldMap,
    /// The [`held_size`] of `current`.
    current_bytes: usize,
    /// The batch being written (empty when none is).
    draining: Arc<HeldMap>,
    /// Whether a drainer runs.
    drainer: bool,
    /// Batches taken and written so far.
    taken: u64,
    written: u64,
    failure: Option<String>,
    /// Syncs waiting for the drainer: it takes what is held at once while any do.
    syncs_waiting: usize,
}

/// Whether `record` may replace `current`: its version is not smaller.
pub(crate) fn supersedes(record: &[u8], current: &[u8]) -> bool {
    record_version(current) <= record_version(record)
}

/// Of two records, the newer (the first on a tie).
pub(crate) fn newer(first: Option<Vec<u8>>, second: Option<Vec<u8>>) -> Option<Vec<u8>> {
    match (first, second) {
        (Some(a), Some(b)) => Some(if supersedes(&a, &b) { a } else { b }),
        (a, b) => a.or(b),
    }
}

impl WriteBehind {
    /// Held records whose drainer gathers `min_batch_bytes` of them for up to `gather_for`, and whose
    /// offers wait while `max_held_bytes` are held.
    pub(crate) fn gathering(
        min_batch_bytes: usize,
        max_held_bytes: usize,
        gather_for: Duration,
    ) -> WriteBehind {
        WriteBehind {
            maybe_held: AtomicBool::default(),
            state: Mutex::default(),
            changed: Condvar::new(),
            min_batch_bytes,
            max_held_bytes,
            gather_for,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section below leaves the state whole, so a poisoned lock is used as is.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(state)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wait_until<'a>(
        &self,
        state: MutexGuard<'a, State>,
        deadline: Instant,
    ) -> MutexGuard<'a, State> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.changed
            .wait_timeout(state, left)
            .map_or_else(|e| e.into_inner().0, |(state, _)| state)
    }

    fn update_flag(&self, state: &State) {
        let held = !state.current.is_empty() || !state.draining.is_empty();
        self.maybe_held.store(held, Ordering::SeqCst);
    }

    /// Holds `records`, waiting first while the memory bound is reached. Returns how many replaced
    /// nothing newer held, and whether the caller must start a drainer (none runs).
    pub(crate) fn offer(&self, records: Vec<KeyedRecord>) -> Result<(usize, bool), String> {
        let mut state = self.lock();
        while state.current_bytes >= self.max_held_bytes && state.failure.is_none() {
            state = self.wait(state);
        }
        if let Some(failure) = &state.failure {
            return Err(failure.clone());
        }
        let held = &mut *state;
        let bytes = &mut held.current_bytes;
        let taken = held.current.offer(records, supersedes, |key, old, new| {
            // `old` was counted when it came in, so this cannot underflow.
            if let Some(old) = old {
                *bytes -= held_size(key, old);
            }
            *bytes += held_size(key, new);
        });
        self.update_flag(&state);
        if state.current_bytes >= self.min_batch_bytes {
            self.changed.notify_all();
        }
        let start = !state.drainer && !state.current.is_empty();
        state.drainer |= start;
        Ok((taken, start))
    }

    /// The newest held records of `keys` (`None`: none held), or `None` when nothing is held at
    /// all. Call it before opening the read transaction the answer is combined with.
    pub(crate) fn lookup(&self, keys: &[Vec<u8>]) -> Option<Vec<Option<Vec<u8>>>> {
        if !self.maybe_held.load(Ordering::SeqCst) {
            return None;
        }
        let state = self.lock();
        Some(
            keys.iter()
                .map(|k| {
                    newer(
                        state.current.get(k).cloned(),
                        state.draining.get(k).cloned(),
                    )
                })
                .collect(),
        )
    }

    /// For the drainer: the next batch to write, or `None` when nothing is held (the drainer then
    /// stops; the next offer starts another).
    pub(crate) fn take(&self) -> Option<Arc<HeldMap>> {
        let mut state = self.lock();
        let deadline = Instant::now() + self.gather_for;
        while !state.current.is_empty()
            && state.current_bytes < self.min_batch_bytes
            && state.syncs_waiting == 0
            && state.failure.is_none()
            && Instant::now() < deadline
        {
            state = self.wait_until(state, deadline);
        }
        if state.current.is_empty() || state.failure.is_some() {
            state.drainer = false;
            return None;
        }
        // The next batch is likely as large: room for it up front spares the offers rehashing a
        // growing table (2 % of B2k's CPU).
        let room = state.current.len();
        let taken = std::mem::replace(&mut state.current, HeldMap::with_capacity(room));
        state.draining = Arc::new(taken);
        state.current_bytes = 0;
        state.taken += 1;
        self.changed.notify_all();
        Some(state.draining.clone())
    }

    /// For the drainer: the batch taken last was written (`Ok`) or could not be (`Err`: it stays
    /// readable, and the failure is returned from now on).
    pub(crate) fn written(&self, result: Result<(), String>) {
        let mut state = self.lock();
        match result {
            Ok(()) => {
                state.draining = Arc::default();
                state.written += 1;
            }
            Err(e) => {
                state.failure = Some(e);
                state.drainer = false;
            }
        }
        self.update_flag(&state);
        self.changed.notify_all();
    }

    /// Waits until every record offered so far is in the database; the failure if a drain failed.
    pub(crate) fn flushed(&self) -> Result<(), String> {
        let mut state = self.lock();
        let target = state.taken + u64::from(!state.current.is_empty());
        state.syncs_waiting += 1;
        self.changed.notify_all();
        while state.written < target && state.failure.is_none() {
            state = self.wait(state);
        }
        state.syncs_waiting -= 1;
        state.failure.clone().map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of version `v` (the version is the record's first 16 bytes) with a `tag` after it.
    fn record(v: u8, tag: u8) -> Vec<u8> {
        let mut r = vec![0u8; 16];
        r[15] = v;
        r.push(tag);
        r
    }

    /// A one-byte key, as offered (`InlineKey`) or as looked up (`Vec<u8>`).
    fn key<K: for<'a> From<&'a [u8]>>(k: u8) -> K {
        K::from(&[k][..])
    }

    /// Held records whose drainer takes whatever is held at once.
    fn eager() -> WriteBehind {
        WriteBehind::gathering(1, usize::MAX, Duration::ZERO)
    }

    proptest::proptest! {
        /// Offered in batches, in any order, with keys repeated within a batch and across batches
        /// (the offer reorders each batch for its probes): what is held is, per key, the newest
        /// version, and of equal versions the one offered last, as a naive fold finds.
        #[test]
        fn held_records_are_the_newest_offered_per_key(
            batches in proptest::collection::vec(
                proptest::collection::vec((0u8..40, 0u8..6, proptest::num::u8::ANY), 0..60),
                1..6,
            ),
        ) {
            let behind = WriteBehind::gathering(usize::MAX, usize::MAX, Duration::ZERO);
            let mut oracle: std::collections::BTreeMap<u8, Vec<u8>> = Default::default();
            for batch in &batches {
                let offered = batch.iter().map(|&(k, v, tag)| (key(k), record(v, tag))).collect();
                behind.offer(offered).unwrap();
                for &(k, v, tag) in batch {
                    let newest = oracle.get(&k).is_none_or(|held| held[15] <= v);
                    if newest {
                        oracle.insert(k, record(v, tag));
                    }
                }
            }
            let keys: Vec<Vec<u8>> = (0..40).map(key).collect();
            let held = behind.lookup(&keys).unwrap_or_else(|| vec![None; 40]);
            for (k, found) in (0..40u8).zip(held) {
                proptest::prop_assert_eq!(found, oracle.get(&k).cloned(), "key {}", k);
            }
        }
    }

    #[test]
    fn held_records_keep_the_newest_version_and_are_visible() {
        let behind = eager();
        assert_eq!(behind.lookup(&[key(1)]), None, "nothing held");
        assert_eq!(behind.offer(vec![(key(1), record(5, 0))]), Ok((1, true)));
        assert_eq!(behind.offer(vec![(key(1), record(3, 1))]), Ok((0, false)));
        assert_eq!(behind.offer(vec![(key(1), record(5, 2))]), Ok((1, false)));
        assert_eq!(
            behind.lookup(&[key(1), key(2)]),
            Some(vec![Some(record(5, 2)), None])
        );
    }

    #[test]
    fn a_batch_stays_readable_until_written_and_newer_offers_win_over_it() {
        let behind = eager();
        behind
            .offer(vec![(key(1), record(1, 0)), (key(2), record(1, 0))])
            .unwrap();
        let batch = behind.take().unwrap();
        assert_eq!(batch.len(), 2);
        behind.offer(vec![(key(1), record(2, 0))]).unwrap();
        assert_eq!(
            behind.lookup(&[key(1), key(2)]),
            Some(vec![Some(record(2, 0)), Some(record(1, 0))])
        );
        behind.written(Ok(()));
        assert_eq!(behind.lookup(&[key(2)]), Some(vec![None]));
        assert_eq!(behind.take().unwrap().len(), 1);
        behind.written(Ok(()));
        assert!(behind.take().is_none(), "the drainer stops");
        assert_eq!(behind.lookup(&[key(1)]), None, "nothing held");
        assert_eq!(behind.offer(vec![(key(3), record(1, 0))]), Ok((1, true)));
    }

    #[test]
    fn flushed_waits_for_the_batch_holding_earlier_offers() {
        let behind = Arc::new(eager());
        behind.offer(vec![(key(1), record(1, 0))]).unwrap();
        let drainer = {
            let behind = behind.clone();
            std::thread::spawn(move || {
                while behind.take().is_some() {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    behind.written(Ok(()));
                }
            })
        };
        behind.flushed().unwrap();
        assert_eq!(
            behind.lookup(&[key(1)]),
            None,
            "written before flushed returned"
        );
        drainer.join().unwrap();
    }

    #[test]
    fn a_failed_drain_keeps_its_batch_readable_and_is_reported() {
        let behind = eager();
        behind.offer(vec![(key(1), record(1, 0))]).unwrap();
        behind.take().unwrap();
        behind.written(Err("disk full".into()));
        assert_eq!(behind.lookup(&[key(1)]), Some(vec![Some(record(1, 0))]));
        assert_eq!(behind.flushed(), Err("disk full".into()));
        assert!(behind.offer(vec![(key(2), record(1, 0))]).is_err());
    }

    #[test]
    fn a_reader_takes_the_newer_record() {
        assert_eq!(
            newer(Some(record(2, 0)), Some(record(1, 1))),
            Some(record(2, 0))
        );
        assert_eq!(
            newer(Some(record(1, 0)), Some(record(2, 1))),
            Some(record(2, 1))
        );
        assert_eq!(newer(None, Some(record(2, 1))), Some(record(2, 1)));
        assert_eq!(newer(Some(record(1, 0)), None), Some(record(1, 0)));
    }

    /// Held records gathering `min_batch` test records for `gather_for`, one record held, and a
    /// drainer on a thread of its own whose batch sizes come back on the channel.
    fn one_held_and_a_drainer(
        min_batch: usize,
        gather_for: Duration,
    ) -> (Arc<WriteBehind>, std::sync::mpsc::Receiver<usize>) {
        let bytes = min_batch * held_size(&[1], &record(1, 0));
        let behind = Arc::new(WriteBehind::gathering(bytes, usize::MAX, gather_for));
        behind.offer(vec![(key(1), record(1, 0))]).unwrap();
        let (sent, taken) = std::sync::mpsc::channel();
        let drainer = behind.clone();
        std::thread::spawn(move || {
            let behind = drainer;
            while let Some(batch) = behind.take() {
                let _ = sent.send(batch.len());
                behind.written(Ok(()));
            }
        });
        (behind, taken)
    }

    #[test]
    fn the_drainer_gathers_a_batch_before_taking_it() {
        let (behind, taken) = one_held_and_a_drainer(3, Duration::from_secs(60));
        let early = taken.recv_timeout(Duration::from_millis(200));
        assert!(early.is_err(), "took a batch of one: {early:?}");
        behind
            .offer(vec![(key(2), record(1, 0)), (key(3), record(1, 0))])
            .unwrap();
        assert_eq!(taken.recv_timeout(Duration::from_secs(10)), Ok(3));
    }

    #[test]
    fn the_drainer_takes_a_small_batch_when_gathering_runs_out() {
        let (_behind, taken) = one_held_and_a_drainer(1000, Duration::from_millis(50));
        assert_eq!(taken.recv_timeout(Duration::from_secs(10)), Ok(1));
    }

    #[test]
    fn a_sync_does_not_wait_for_a_batch_to_gather() {
        let (behind, taken) = one_held_and_a_drainer(1000, Duration::from_secs(60));
        let (done, flushed) = std::sync::mpsc::channel();
        {
            let behind = behind.clone();
            std::thread::spawn(move || done.send(behind.flushed()));
        }
        assert_eq!(flushed.recv_timeout(Duration::from_secs(10)), Ok(Ok(())));
        assert_eq!(taken.recv_timeout(Duration::from_secs(1)), Ok(1));
        assert_eq!(behind.lookup(&[key(1)]), None, "written");
    }

    #[test]
    fn an_offer_waits_while_the_memory_bound_is_held() {
        let one = held_size(&[1], &record(1, 0));
        let behind = Arc::new(WriteBehind::gathering(1, 2 * one, Duration::ZERO));
        behind
            .offer(vec![(key(1), record(1, 0)), (key(2), record(1, 0))])
            .unwrap();
        let (done, offered) = std::sync::mpsc::channel();
        {
            let behind = behind.clone();
            std::thread::spawn(move || done.send(behind.offer(vec![(key(3), record(1, 0))])));
        }
        let early = offered.recv_timeout(Duration::from_millis(200));
        assert!(early.is_err(), "offered past the bound: {early:?}");
        assert_eq!(behind.take().map(|b| b.len()), Some(2));
        assert_eq!(
            offered.recv_timeout(Duration::from_secs(10)),
            Ok(Ok((1, false))),
            "taking the batch frees its room"
        );
    }

    #[test]
    fn a_replaced_record_is_counted_once() {
        let behind = WriteBehind::gathering(usize::MAX, usize::MAX, Duration::ZERO);
        behind.offer(vec![(key(1), record(1, 0))]).unwrap();
        behind.offer(vec![(key(1), record(2, 0))]).unwrap();
        behind.offer(vec![(key(1), record(1, 7))]).unwrap();
        assert_eq!(behind.lock().current_bytes, held_size(&[1], &record(2, 0)));
    }
}
