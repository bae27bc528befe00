//! A timer precise to microseconds for the load generator's own runtime.
//!
//! Tokio's timer wheel ticks in whole milliseconds, so at 10,000 requests/s a task sleeping to each
//! request's due time wakes once a millisecond with ten requests at once, and those queue behind each
//! other in the server: latency the generator made. A pacing thread of its own fixes that, but it is
//! a third busy thread beside the client's and the server's on a two-core machine, and a woken
//! thread that finds both cores busy waits a time slice, which showed up in the tail. A `timerfd`
//! armed at each due time (absolute, on the monotonic clock, nanosecond resolution) wakes the
//! client's own runtime through its epoll instead: one thread sends, receives and paces.

use rustix::time::{
    ClockId, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec,
};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;

/// A one-shot timer that a task can await at sub-millisecond precision.
pub(crate) struct PreciseTimer {
    fd: AsyncFd<OwnedFd>,
    /// The same instant on both clocks, to turn an [`Instant`] into the timerfd's time.
    origin: (Instant, Duration),
}

impl PreciseTimer {
    /// A timer on the current Tokio runtime (which must have I/O enabled).
    pub(crate) fn new() -> std::io::Result<PreciseTimer> {
        let fd = rustix::time::timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        let now = rustix::time::clock_gettime(ClockId::Monotonic);
        let origin = (Instant::now(), from_timespec(now));
        // `AsyncFd::new` is deprecated because an arbitrary `T` could close its descriptor while the
        // runtime still watches it. An `OwnedFd` inside the `AsyncFd` is closed only by the
        // `AsyncFd`'s own drop, after it deregisters; its replacement, `register`, is `unsafe`, which
        // this workspace forbids for a guarantee that holds here by construction.
        #[allow(deprecated)]
        let fd = AsyncFd::new(fd)?;
        Ok(PreciseTimer { fd, origin })
    }

    /// Waits until `due` (at once if it has passed).
    pub(crate) async fn sleep_until(&self, due: Instant) -> std::io::Result<()> {
        if due <= Instant::now() {
            return Ok(());
        }
        // `Instant` reads the same monotonic clock; `origin` pins the two together.
        let at = self.origin.1 + due.saturating_duration_since(self.origin.0);
        let armed = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: to_timespec(at),
        };
        rustix::time::timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::ABSTIME, &armed)?;
        loop {
            let mut guard = self.fd.readable().await?;
            // Reading the expiry count disarms the readiness; nothing to read means a stale wake-up.
            let mut expirations = [0u8; 8];
            match guard.try_io(|fd| {
                rustix::io::read(fd.get_ref(), &mut expirations).map_err(std::io::Error::from)
            }) {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

fn from_timespec(t: Timespec) -> Duration {
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

fn to_timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timer_wakes_at_its_due_time_and_not_before() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let timer = PreciseTimer::new().unwrap();
            for micros in [0u64, 150, 700, 2_300] {
                let due = Instant::now() + Duration::from_micros(micros);
                timer.sleep_until(due).await.unwrap();
                assert!(Instant::now() >= due, "woke before {micros} us");
            }
            // A due time in the past returns at once.
            timer.sleep_until(Instant::now()).await.unwrap();
        });
    }
}
