//! The event log's upkeep inside `freshet run`: compaction and vacuum on timers of their own, so a
//! stream that runs for months needs no cron job beside it.
//!
//! A stream commits a small file per date partition about once a second (`--log-commit-interval`):
//! some 86,000 a day, every one of which a training set or a backfill opens. `freshet compact` and
//! `freshet vacuum` fix that and are safe while the stream appends (a test races them on one log;
//! docs/event-log.md). `--compact-every` and `--vacuum-every` run the same two library calls from
//! the worker itself.
//!
//! They run on a thread of their own, with a runtime of its own: a compaction sorts and encodes a
//! whole day of events, seconds of CPU that on one of the serving runtime's workers would hold back
//! the stream and the feature server. Nothing waits for them. A log another worker is compacting is
//! left to it (the compaction lock, see `freshet_offline::compact`), and a failure (the disk is
//! full) is logged and tried again at the next turn: a compaction commits atomically or not at all,
//! and files a stopped one wrote are what vacuum removes. Each turn is also handed to a [`Report`]
//! (the feature server's `/metrics`), so an operator can alert on upkeep that keeps failing.

use freshet_offline::compact::{CompactOptions, compact};
use freshet_offline::vacuum::{VacuumOptions, vacuum};
use freshet_project::Project;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// How often each kind of upkeep runs; `None`: never.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Upkeep {
    pub(crate) compact_every: Option<Duration>,
    pub(crate) vacuum_every: Option<Duration>,
}

/// Told of each turn: its kind (`compaction` or `vacuum`) and whether it succeeded.
pub(crate) type Report = Box<dyn Fn(&'static str, bool) + Send>;

/// The running upkeep thread; dropping it asks the thread to stop after what it is doing.
pub(crate) struct UpkeepThread {
    _stop: Sender<()>,
}

/// Starts the upkeep of `project`'s event logs, unless `upkeep` asks for none. The first turn of
/// each kind comes one interval after the start.
pub(crate) fn start(
    project: Project,
    upkeep: Upkeep,
    report: Report,
) -> std::io::Result<Option<UpkeepThread>> {
    if upkeep.compact_every.is_none() && upkeep.vacuum_every.is_none() {
        return Ok(None);
    }
    let (stop, stopped) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("freshet-upkeep".to_owned())
        .spawn(move || keep_up(&project, upkeep, &report, &stopped))?;
    Ok(Some(UpkeepThread { _stop: stop }))
}

/// One kind of upkeep: how often, and when next.
struct Timer {
    every: Duration,
    next: Instant,
}

impl Timer {
    fn new(every: Option<Duration>, start: Instant) -> Option<Timer> {
        every.map(|every| Timer {
            every,
            next: start + every,
        })
    }

    /// Whether the turn is due at `now`; if so, the next one is set an interval later.
    fn due(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + self.every;
        true
    }
}

fn keep_up(project: &Project, upkeep: Upkeep, report: &Report, stopped: &Receiver<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::warn!("the event log's upkeep could not start, so it will not run: {e}");
            return;
        }
    };
    let start = Instant::now();
    let mut compaction = Timer::new(upkeep.compact_every, start);
    let mut vacuuming = Timer::new(upkeep.vacuum_every, start);
    loop {
        let next = [&compaction, &vacuuming]
            .into_iter()
            .flatten()
            .map(|t| t.next)
            .min();
        let Some(next) = next else { return };
        match stopped.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            // The run is over (its handle dropped).
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        if let Some(timer) = compaction.as_mut()
            && timer.due(now)
        {
            report(
                "compaction",
                runtime.block_on(compact_once(project, timer.every)),
            );
        }
        if let Some(timer) = vacuuming.as_mut()
            && timer.due(now)
        {
            report(
                "vacuum",
                runtime.block_on(vacuum_once(project, timer.every)),
            );
        }
    }
}

/// One compaction of every log; whether it succeeded.
async fn compact_once(project: &Project, every: Duration) -> bool {
    let started = Instant::now();
    match compact(project, &[], &CompactOptions::default(), &mut |_| {}).await {
        Ok(reports) => {
            for report in reports.iter().filter(|r| r.busy) {
                tracing::info!(
                    source = %report.source,
                    "upkeep: another compaction of the event log is running; left to it"
                );
            }
            for report in reports.iter().filter(|r| r.files_removed > 0) {
                tracing::info!(
                    source = %report.source,
                    days = report.days_rewritten,
                    files_removed = report.files_removed,
                    files_added = report.files_added,
                    events = report.events,
                    elapsed = ?started.elapsed(),
                    "upkeep: event log compacted"
                );
            }
            true
        }
        Err(e) => {
            tracing::warn!(
                "upkeep: compacting the event log failed, tried again in {every:?}: {e}"
            );
            false
        }
    }
}

/// One vacuum of every log; whether it succeeded.
async fn vacuum_once(project: &Project, every: Duration) -> bool {
    // At each log's own retention, never shorter: appends of the running streams are in flight.
    match vacuum(project, &[], &VacuumOptions::default()).await {
        Ok(reports) => {
            for report in reports.iter().filter(|r| !r.files.is_empty()) {
                tracing::info!(
                    source = %report.source,
                    files = report.files.len(),
                    bytes = report.bytes,
                    "upkeep: event log vacuumed"
                );
            }
            true
        }
        Err(e) => {
            tracing::warn!("upkeep: vacuuming the event log failed, tried again in {every:?}: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_is_due_once_an_interval_has_passed_and_then_an_interval_later() {
        let start = Instant::now();
        let every = Duration::from_secs(60);
        let mut timer = Timer::new(Some(every), start).unwrap();
        assert!(!timer.due(start));
        assert!(!timer.due(start + every / 2));
        assert!(timer.due(start + every));
        assert!(!timer.due(start + every + every / 2));
        // A turn that ran late sets the next one an interval after it ran, not after it was due.
        assert!(timer.due(start + every * 3));
        assert_eq!(timer.next, start + every * 4);
        assert!(Timer::new(None, start).is_none());
    }
}
