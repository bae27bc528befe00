//! What one as-of query has already found, shared between the features that ask for it again.
//!
//! A view often has several features over one window (a count and a sum over 24h) or over one column
//! (the last fare, and the last fare over 1h, 24h and 7d). Each window start is a binary search, and
//! each newest value a scan back from `t` that reads a cell per event: where features share them, the
//! query does that work once. Only the work is shared: every feature still gets exactly the value its
//! own search or scan would have found, in the same order of events.

/// Windows that a query remembers the start of; a feature over a further window places its own.
const WINDOWS: usize = 8;

/// Input slots whose newest counted event a query remembers; a feature over a further slot scans on
/// its own.
const SLOTS: usize = 16;

/// The first event of each window a query has placed so far.
#[derive(Default)]
pub(crate) struct WindowStarts {
    placed: [(i64, usize); WINDOWS],
    len: usize,
}

impl WindowStarts {
    /// The start of window `w`, placed by `place` the first time it is asked for.
    pub(crate) fn of(&mut self, w: i64, place: impl FnOnce() -> usize) -> usize {
        if let Some(&(_, start)) = self.placed[..self.len].iter().find(|(x, _)| *x == w) {
            return start;
        }
        let start = place();
        if let Some(slot) = self.placed.get_mut(self.len) {
            *slot = (w, start);
            self.len += 1;
        }
        start
    }
}

/// What a query has placed so far: its window starts and, per input, its scan for the newest value.
pub(crate) struct Placed {
    pub(crate) starts: WindowStarts,
    pub(crate) scans: NewestScans,
}

impl Placed {
    /// Nothing placed yet, for a query whose events at or before `t` are `..end`.
    pub(crate) fn new(end: usize) -> Placed {
        Placed {
            starts: WindowStarts::default(),
            scans: NewestScans::new(end),
        }
    }
}

/// Per input slot, how far back from `t` a query has scanned for the newest counted event (known by
/// the cutoff, not null, not NaN), and the one it found.
///
/// `last` over any window picks the newest counted event at or before `t` if it falls inside the
/// window, and nothing otherwise: so one scan, continued only as far as the widest window asked for,
/// answers every `last` feature of a slot.
pub(crate) struct NewestScans {
    end: usize,
    scans: [Scan; SLOTS],
}

impl NewestScans {
    /// No slot scanned yet, for a query whose events at or before `t` are `..end`.
    fn new(end: usize) -> NewestScans {
        NewestScans {
            end,
            scans: [Scan {
                next: end,
                found: None,
            }; SLOTS],
        }
    }

    /// The end of the query's events: every scan starts there.
    pub(crate) fn end(&self) -> usize {
        self.end
    }

    /// Slot `slot`'s scan, if the query remembers that slot.
    pub(crate) fn of(&mut self, slot: usize) -> Option<&mut Scan> {
        self.scans.get_mut(slot)
    }
}

/// One slot's scan: every event from `next` up to the query's end has been checked and none counted,
/// unless `found` names the newest one that did.
#[derive(Clone, Copy)]
pub(crate) struct Scan {
    next: usize,
    found: Option<usize>,
}

impl Scan {
    /// The newest event that `counts`, if it is `inside` a window (which holds every event from
    /// some point on): scanning back only as far as needed, and on from where an earlier call
    /// stopped.
    pub(crate) fn newest(
        &mut self,
        inside: impl Fn(usize) -> bool,
        counts: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        if let Some(e) = self.found {
            // The newest counted event is outside this window: so is every older one.
            return inside(e).then_some(e);
        }
        while self.next > 0 && inside(self.next - 1) {
            self.next -= 1;
            if counts(self.next) {
                self.found = Some(self.next);
                return self.found;
            }
        }
        None
    }
}
