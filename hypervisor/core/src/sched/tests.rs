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
