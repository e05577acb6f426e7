//! The vCPU scheduler's decisions, pure: one [`RunQueue`] per physical CPU
//! (the kernel keeps it in the CPU's context, next to the vCPU loaded
//! there), round-robin with a time slice, blocking in WFI until a deadline
//! (the vCPU's virtual timer) or a pending interrupt, a woken vCPU served
//! first, and where a new vCPU goes ([`place`]): the least loaded CPU of
//! its domain's hard affinity.
//!
//! Times are counts of the generic counter (CNTPCT, CNTFRQ per second);
//! the queue never reads a clock, the caller passes `now`. A vCPU never
//! moves once placed (each CPU's queue is its own: no lock is shared
//! between CPUs), so its state may stay in the CPU between its turns.
//!
//! Policy, Xen credit's in small: a vCPU that runs out its slice goes to
//! the tail; one that blocks leaves the queue's runnable part until woken;
//! a woken vCPU goes before the runnable ones and takes the CPU once the
//! running one has had [`MIN_RUN_US`] (Xen's `sched_ratelimit_us`
//! default), so a vCPU that waits for interrupts gets them with little
//! delay and a spinning vCPU still cannot keep the CPU: each runnable vCPU
//! gets a slice in turn. As credit's BOOST goes only to a vCPU under its
//! credit, the wake-up goes first only for a vCPU that used less than half
//! of its slice before it blocked ([`RunQueue::block`]), and it then runs
//! only the rest of that slice; one that used more wakes at the tail. So
//! blocking on a timer due at once cannot take more than about half of a
//! shared CPU.

#[cfg(test)]
mod tests;

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// The time slice when `sched_slice_ms=` does not say (milliseconds): a
/// runnable vCPU waits at most this long per other runnable vCPU on its CPU.
pub const DEFAULT_SLICE_MS: u32 = 10;
/// `sched_slice_ms=` bounds (milliseconds).
pub const SLICE_MS_RANGE: core::ops::RangeInclusive<u32> = 1..=1000;
/// How long the running vCPU keeps the CPU before a woken one takes it
/// (microseconds; Xen's `sched_ratelimit_us` default).
pub const MIN_RUN_US: u64 = 1000;

/// What a vCPU that is not running waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Ready; its turn comes in order.
    Runnable,
    /// Ready after a wake-up: served before [`Wait::Runnable`] ones.
    Woken,
    /// In WFI: until the counter reaches `until` (its virtual timer), or
    /// until something is pending for it (the caller's check in [`RunQueue::wake`]).
    Blocked { until: Option<u64> },
}

/// One CPU's vCPUs other than the one loaded on it, in round-robin
/// order, and when the loaded one got the CPU.
#[derive(Debug)]
pub struct RunQueue<T> {
    /// The vCPUs, their wait, and for a blocked one the part of its slice
    /// it used before it blocked (counts) if a wake-up serves it first.
    waiting: VecDeque<(T, Wait, Option<u64>)>,
    /// Slice length and minimum run before a wake-up preempts (counts).
    slice: u64,
    min_run: u64,
    /// When the running vCPU's slice began (counts): when it got the CPU,
    /// less the part of the slice it had used before it blocked.
    since: u64,
    /// The slice already used by the vCPU [`RunQueue::take_next`] gave
    /// out, for [`RunQueue::started`].
    used_by_next: u64,
}

impl<T> Default for RunQueue<T> {
    fn default() -> Self {
        RunQueue::new(0, 0)
    }
}

impl<T> RunQueue<T> {
    /// An empty queue with a slice of `slice` counts and [`MIN_RUN_US`]
    /// worth `min_run` counts (see [`ticks`]).
    pub fn new(slice: u64, min_run: u64) -> Self {
        RunQueue {
            waiting: VecDeque::new(),
            slice: slice.max(1),
            min_run: min_run.min(slice),
            since: 0,
            used_by_next: 0,
        }
    }

    /// No vCPU waits here (runnable or blocked).
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// vCPUs waiting here (runnable or blocked).
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Adds a vCPU: runnable and blocked ones at the tail, woken ones
    /// after the other woken ones.
    /// A blocked one pushed so is served first when it wakes, with a
    /// whole slice.
    pub fn push(&mut self, t: T, w: Wait) {
        self.push_entry(t, w, Some(0));
    }

    /// Adds the running vCPU, which blocks at `now` until `until`: served
    /// first when it wakes only if it used less than half of its slice
    /// (an interrupt-driven vCPU), and then for the rest of that slice;
    /// else it wakes at the tail.
    pub fn block(&mut self, t: T, until: Option<u64>, now: u64) {
        let used = now.saturating_sub(self.since);
        let boost = (used < self.slice / 2).then_some(used);
        self.push_entry(t, Wait::Blocked { until }, boost);
    }

    fn push_entry(&mut self, t: T, w: Wait, boost: Option<u64>) {
        if w == Wait::Woken {
            let at = self
                .waiting
                .iter()
                .position(|(_, w, _)| *w != Wait::Woken)
                .unwrap_or(self.waiting.len());
            self.waiting.insert(at, (t, w, boost));
        } else {
            self.waiting.push_back((t, w, boost));
        }
    }

    /// Wakes every blocked vCPU whose deadline passed at `now` or for
    /// which `pending` says something waits; returns how many woke.
    pub fn wake(&mut self, now: u64, mut pending: impl FnMut(&T) -> bool) -> usize {
        let mut woken = Vec::new();
        let mut i = 0;
        while i < self.waiting.len() {
            let (t, w, _) = &self.waiting[i];
            let due = match *w {
                Wait::Blocked { until } => until.is_some_and(|u| u <= now) || pending(t),
                _ => false,
            };
            if due {
                if let Some((t, _, boost)) = self.waiting.remove(i) {
                    woken.push((t, boost));
                }
            } else {
                i += 1;
            }
        }
        let n = woken.len();
        for (t, boost) in woken {
            match boost {
                Some(used) => self.push_entry(t, Wait::Woken, Some(used)),
                None => self.push_entry(t, Wait::Runnable, None),
            }
        }
        n
    }

    /// Whether a vCPU is ready to run here.
    pub fn has_runnable(&self) -> bool {
        self.waiting
            .iter()
            .any(|(_, w, _)| !matches!(w, Wait::Blocked { .. }))
    }

    /// Removes and returns the next vCPU to run (woken first, then in
    /// round-robin order), or `None` if none is ready.
    pub fn take_next(&mut self) -> Option<T> {
        let i = self
            .waiting
            .iter()
            .position(|(_, w, _)| !matches!(w, Wait::Blocked { .. }))?;
        let (t, w, used) = self.waiting.remove(i)?;
        self.used_by_next = if w == Wait::Woken {
            used.unwrap_or(0)
        } else {
            0
        };
        Some(t)
    }

    /// The vCPU just loaded got the CPU at `now` (the one
    /// [`RunQueue::take_next`] gave: a woken one goes on with its slice).
    pub fn started(&mut self, now: u64) {
        self.since = now.saturating_sub(core::mem::take(&mut self.used_by_next));
    }

    /// Whether the running vCPU must give the CPU up at `now`: another is
    /// ready and its slice is over, or a woken one waits and it ran
    /// its minimum.
    pub fn must_yield(&self, now: u64) -> bool {
        let ran = now.saturating_sub(self.since);
        match self.waiting.front() {
            Some((_, Wait::Woken, _)) => ran >= self.min_run,
            _ => self.has_runnable() && ran >= self.slice,
        }
    }

    /// When the HYP timer must next fire (counts): the running vCPU's
    /// slice end (or minimum run, with a woken one waiting) if `running`
    /// and another is ready, and the earliest blocked vCPU's deadline.
    pub fn deadline(&self, running: bool) -> Option<u64> {
        let turn = match self.waiting.front() {
            Some((_, Wait::Woken, _)) if running => Some(self.since.saturating_add(self.min_run)),
            _ if running && self.has_runnable() => Some(self.since.saturating_add(self.slice)),
            _ => None,
        };
        let timers = self.waiting.iter().filter_map(|(_, w, _)| match w {
            Wait::Blocked { until } => *until,
            _ => None,
        });
        turn.into_iter().chain(timers).min()
    }

    /// The waiting vCPUs, for lookups (an interrupt for one of them).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.waiting.iter_mut().map(|(t, _, _)| t)
    }

    /// Removes the first waiting vCPU `f` picks.
    pub fn remove(&mut self, mut f: impl FnMut(&T) -> bool) -> Option<T> {
        let i = self.waiting.iter().position(|(t, _, _)| f(t))?;
        self.waiting.remove(i).map(|(t, _, _)| t)
    }
}

/// `us` microseconds in counts of a counter at `hz`.
pub fn ticks(us: u64, hz: u32) -> u64 {
    us.saturating_mul(u64::from(hz)) / 1_000_000
}

/// Where a new vCPU goes: the CPU of `allowed` (a bit per CPU index) with
/// the fewest vCPUs in `load` (vCPUs placed per CPU index), the lowest
/// index on a tie; `None` if no CPU of `allowed` is in `load`.
pub fn place(allowed: u32, load: &[u32]) -> Option<usize> {
    load.iter()
        .enumerate()
        .filter(|&(i, _)| i < 32 && allowed & (1 << i) != 0)
        .min_by_key(|&(i, &n)| (n, i))
        .map(|(i, _)| i)
}

/// Places a domain's `n` vCPUs one after another ([`place`]), counting
/// each in `load`: vCPU 0 on the least loaded CPU, the next on the next
/// least loaded, so a domain spreads over its CPUs before doubling up.
pub fn place_all(n: usize, allowed: u32, load: &mut [u32]) -> Option<Vec<usize>> {
    (0..n)
        .map(|_| {
            let c = place(allowed, load)?;
            load[c] += 1;
            Some(c)
        })
        .collect()
}
