use super::*;

/// 1 count per microsecond: slice 10 ms, minimum run 1 ms.
fn queue() -> RunQueue<&'static str> {
    RunQueue::new(10_000, 1_000)
}

#[test]
fn runnable_vcpus_take_turns_a_slice_each() {
    let mut q = queue();
    q.push("b", Wait::Runnable);
    q.push("c", Wait::Runnable);
    // "a" runs from 0.
    q.started(0);
    assert!(!q.must_yield(9_999));
    assert_eq!(q.deadline(true), Some(10_000));
    assert!(q.must_yield(10_000));
    assert_eq!(q.take_next(), Some("b"));
    q.push("a", Wait::Runnable);
    q.started(10_000);
    assert!(q.must_yield(20_000));
    assert_eq!(q.take_next(), Some("c"));
    q.push("b", Wait::Runnable);
    assert_eq!(q.take_next(), Some("a"));
}

#[test]
fn alone_on_its_cpu_a_vcpu_keeps_it_and_no_timer_is_needed() {
    let mut q = queue();
    q.started(0);
    assert!(!q.must_yield(u64::MAX));
    assert_eq!(q.deadline(true), None);
    q.push("b", Wait::Blocked { until: None });
    assert!(!q.must_yield(1 << 40));
    assert_eq!(q.deadline(true), None);
}

#[test]
fn a_blocked_vcpu_wakes_at_its_timer_or_when_something_is_pending() {
    let mut q = queue();
    q.push("t", Wait::Blocked { until: Some(5_000) });
    q.push("i", Wait::Blocked { until: None });
    q.started(0);
    assert!(!q.has_runnable());
    assert_eq!(q.take_next(), None);
    assert_eq!(q.deadline(true), Some(5_000));
    assert_eq!(q.wake(4_999, |_| false), 0);
    assert_eq!(q.wake(5_000, |_| false), 1);
    assert_eq!(q.wake(5_000, |t| *t == "i"), 1);
    assert_eq!(q.take_next(), Some("t"));
    assert_eq!(q.take_next(), Some("i"));
}

#[test]
fn a_woken_vcpu_goes_first_once_the_running_one_had_its_minimum() {
    let mut q = queue();
    q.push("spin", Wait::Runnable);
    q.push("io", Wait::Blocked { until: None });
    q.started(0);
    q.wake(500, |_| true);
    assert!(!q.must_yield(999));
    assert_eq!(q.deadline(true), Some(1_000));
    assert!(q.must_yield(1_000));
    assert_eq!(q.take_next(), Some("io"));
}

#[test]
fn a_spinning_vcpu_cannot_starve_another() {
    // Two always-runnable vCPUs, the timer firing at each deadline: equal
    // shares of a second.
    let mut q = RunQueue::new(10_000, 1_000);
    q.push(1usize, Wait::Runnable);
    let mut running = 0usize;
    let mut ran = [0u64; 2];
    let mut now = 0;
    q.started(0);
    while now < 1_000_000 {
        let next = q.deadline(true).unwrap();
        ran[running] += next - now;
        now = next;
        assert!(q.must_yield(now));
        let n = q.take_next().unwrap();
        q.push(running, Wait::Runnable);
        running = n;
        q.started(now);
    }
    assert_eq!(ran, [500_000, 500_000]);
}

#[test]
fn waiting_vcpus_can_be_found_and_removed() {
    let mut q = queue();
    q.push("a", Wait::Runnable);
    q.push("b", Wait::Blocked { until: None });
    assert_eq!(q.iter_mut().count(), 2);
    assert_eq!(q.remove(|t| *t == "b"), Some("b"));
    assert_eq!(q.remove(|t| *t == "b"), None);
    assert_eq!(q.len(), 1);
}

#[test]
fn vcpus_spread_over_the_allowed_cpus_before_doubling_up() {
    let mut load = [0, 0, 0, 0];
    assert_eq!(place_all(3, 0b0110, &mut load), Some(vec![1, 2, 1]));
    assert_eq!(load, [0, 2, 1, 0]);
    assert_eq!(place_all(2, 0b1111, &mut load), Some(vec![0, 3]));
    assert_eq!(place(0b1_0000, &load), None);
    assert_eq!(place_all(1, 0, &mut load), None);
}

#[test]
fn microseconds_convert_to_counts() {
    assert_eq!(ticks(1000, 62_500_000), 62_500);
    assert_eq!(ticks(10_000, 24_000_000), 240_000);
    assert_eq!(ticks(u64::MAX, 1), u64::MAX / 1_000_000);
}

#[test]
fn a_vcpu_that_used_half_its_slice_before_blocking_wakes_at_the_tail() {
    // "greedy" runs 9.9 ms of its slice, then blocks on a timer due at
    // once: woken, it waits for "dom0"'s slice instead of preempting it
    // after the minimum run.
    let mut q = queue();
    q.started(0);
    q.block("greedy", Some(9_901), 9_900);
    assert_eq!(q.take_next(), None);
    q.started(9_900);
    assert_eq!(q.wake(9_901, |_| false), 1);
    assert!(!q.must_yield(9_900 + 1_000), "no preemption after 1 ms");
    assert!(q.must_yield(9_900 + 10_000), "its turn after the slice");
    assert_eq!(q.take_next(), Some("greedy"));
    // One that ran briefly (interrupt-driven) still goes first, and goes
    // on with the rest of its slice.
    q.started(0);
    q.block("io", None, 3_000);
    q.push("spin", Wait::Runnable);
    q.started(3_000);
    q.wake(3_100, |_| false);
    q.wake(3_100, |_| true);
    assert!(q.must_yield(4_000));
    assert_eq!(q.take_next(), Some("io"));
    q.started(4_000);
    assert_eq!(q.deadline(true), Some(11_000), "7 ms of its slice left");
}

#[test]
fn blocking_on_a_near_timer_takes_at_most_half_of_a_shared_cpu() {
    // "greedy" blocks on a timer due at once whenever it has used just
    // under half of its slice; "other" is always runnable.
    let mut q = RunQueue::new(10_000, 1_000);
    let (mut now, mut greedy, mut other) = (0u64, 0u64, 0u64);
    q.push("other", Wait::Runnable);
    q.started(0);
    let mut running = "greedy";
    while now < 1_000_000 {
        if running == "greedy" {
            // Runs to just under half its slice, or to its slice's end.
            let stop = q.deadline(true).unwrap_or(u64::MAX).min(now + 4_999);
            let half = now + 4_999 == stop;
            greedy += stop - now;
            now = stop;
            if half {
                q.block("greedy", Some(now + 1), now);
            } else {
                assert!(q.must_yield(now));
                q.push("greedy", Wait::Runnable);
            }
        } else {
            q.wake(now + 1, |_| false);
            let next = q.deadline(true).unwrap();
            other += next - now;
            now = next;
            assert!(q.must_yield(now));
            q.push("other", Wait::Runnable);
        }
        q.wake(now, |_| false);
        running = q.take_next().unwrap();
        q.started(now);
    }
    assert!(greedy <= other + 10_000, "greedy {greedy} other {other}");
}
