//! Rate limits for what a guest can make snowvisor print: every stage-2
//! fault, refused trap or unknown call would otherwise be a console line on a
//! polled UART, and a guest could keep the CPU busy printing and flush the
//! RAM log's history. Xen limits guest-triggered `printk`s the same way (10
//! messages per 5 s burst, then "N messages suppressed").
//!
//! A token bucket: up to `burst` messages at once, then one per `interval`
//! ticks. The first message allowed after some were suppressed carries their
//! count, so the log says how many were lost. Pure: the caller passes the
//! time (counter ticks).

/// The verdict for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Print it; `suppressed` messages were dropped since the last printed one.
    Print { suppressed: u64 },
    /// Drop it (counted).
    Suppress,
}

/// A token bucket over counter ticks.
#[derive(Debug, Clone)]
pub struct RateLimit {
    burst: u32,
    interval: u64,
    tokens: u32,
    /// Tick at which the next token is added (None until the first message).
    next: Option<u64>,
    suppressed: u64,
}

impl RateLimit {
    /// `burst` messages at once (at least 1), then one per `interval` ticks.
    pub const fn new(burst: u32, interval: u64) -> Self {
        let burst = if burst == 0 { 1 } else { burst };
        RateLimit {
            burst,
            interval,
            tokens: burst,
            next: None,
            suppressed: 0,
        }
    }

    /// Whether a message at tick `now` may be printed.
    pub fn check(&mut self, now: u64) -> Verdict {
        let next = *self.next.get_or_insert(now.saturating_add(self.interval));
        if now >= next && self.interval > 0 {
            let gained = (now - next) / self.interval + 1;
            self.tokens = self.burst.min(
                self.tokens
                    .saturating_add(gained.min(u64::from(u32::MAX)) as u32),
            );
            self.next = Some(next.saturating_add(gained.saturating_mul(self.interval)));
        }
        if self.tokens == 0 {
            self.suppressed += 1;
            return Verdict::Suppress;
        }
        self.tokens -= 1;
        let suppressed = core::mem::take(&mut self.suppressed);
        Verdict::Print { suppressed }
    }

    /// Messages dropped since the last printed one.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_per_interval_with_the_count() {
        let mut r = RateLimit::new(3, 100);
        for _ in 0..3 {
            assert_eq!(r.check(0), Verdict::Print { suppressed: 0 });
        }
        for t in 1..50 {
            assert_eq!(r.check(t), Verdict::Suppress);
        }
        assert_eq!(r.suppressed(), 49);
        assert_eq!(r.check(100), Verdict::Print { suppressed: 49 });
        assert_eq!(r.check(101), Verdict::Suppress);
        // A long quiet spell refills the burst, not more.
        for _ in 0..3 {
            assert!(matches!(r.check(10_000), Verdict::Print { .. }));
        }
        assert_eq!(r.check(10_000), Verdict::Suppress);
    }

    #[test]
    fn a_flood_prints_a_bounded_number_of_lines() {
        let mut r = RateLimit::new(10, 1000);
        let printed = (0..1_000_000u64)
            .filter(|t| matches!(r.check(*t), Verdict::Print { .. }))
            .count();
        // 10 at once, then one per 1000 ticks.
        assert_eq!(printed, 10 + 999);
        let mut r = RateLimit::new(1, 0);
        assert!(matches!(r.check(5), Verdict::Print { .. }));
        assert_eq!(
            r.check(u64::MAX),
            Verdict::Suppress,
            "interval 0: burst only"
        );
    }
}
