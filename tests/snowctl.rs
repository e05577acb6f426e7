//! snowctl, snowvisor's Dom0 tool, through Linux's privcmd driver:
//! `snowctl version`/`info` (xen_version), `snowctl selftest` (grant and
//! event-channel round trips, hostile hypercalls), `snowctl dmesg` (sysctl readconsole over
//! the RAM log) and, after the RAM-log selftest's warm reboot,
//! `snowctl dmesg --previous` (snowvisor's readconsole of the previous boot).
//! The Dom0 side is `qemu/dom0-initramfs/tests/snowctl`.

use snowvisor_tests::{Boot, Opts};

const BANNER: &str = "snowvisor: snowvisor 0.1.0 (linux,dummy-virt)";

fn opts(args: &str) -> Opts {
    Opts {
        args: args.into(),
        dom0_args: "snowvisor.test=snowctl".into(),
        ..Opts::default()
    }
}

/// `snowctl info` (Xen 4.17, swiotlb-xen on by default), then `snowctl
/// selftest`: the gntalloc/gntdev grant round trip, the evtchn round trip and
/// the hostile hypercalls, every check passing.
fn info_and_selftest(b: &mut Boot) {
    b.expect("snowvisor-dom0: snowctl info exit 0", 30);
    b.expect(
        "snowvisor-dom0: snowctl info version: Xen 4.17-snowvisor",
        5,
    );
    let f = b.expect("snowvisor-dom0: snowctl info features[0]: ", 5);
    assert!(f.contains(" dom0 "), "{f}");
    b.expect(
        "snowvisor-dom0: snowctl info swiotlb-xen: on (XENFEAT_direct_mapped)",
        5,
    );
    let mut checks = Vec::new();
    let summary = loop {
        let l = b.expect("snowvisor-dom0: snowctl selftest: ", 60);
        if l.contains(" passed, ") {
            break l;
        }
        checks.push(l);
    };
    let failed: Vec<_> = checks.iter().filter(|l| !l.contains(": PASS (")).collect();
    assert!(failed.is_empty(), "failing checks: {failed:#?}\n{summary}");
    assert!(summary.ends_with(", 0 failed"), "{summary}");
    for name in [
        "grant round trip (gntalloc/gntdev): PASS",
        "event channel round trip (evtchn): PASS",
        "xen_version extraversion unmapped 0x1000: PASS (-EFAULT)",
        "grant_table_op map_grant_ref bad ref: PASS (returned 0, status -3)",
        "event_channel_op close invalid port: PASS (-EINVAL)",
        "unknown hypercall 1000: PASS (-ENOSYS)",
        "memory_op current_reservation no domain 1: PASS (-ESRCH)",
        "memory_op maximum_reservation with a start extent: PASS (-EINVAL)",
        "xen_version after hostile calls: PASS (Xen 4.17)",
    ] {
        assert!(
            checks.iter().any(|l| l.contains(name)),
            "no {name:?} in {checks:#?}"
        );
    }
    assert!(
        checks.len() >= 20,
        "only {} checks: {checks:#?}",
        checks.len()
    );
    b.expect("snowvisor-dom0: snowctl selftest exit 0", 5);
}

/// `snowctl version` and `snowctl dmesg` as /tests/snowctl reports them.
fn version_and_dmesg(b: &mut Boot) {
    let m = b.expect("snowvisor-dom0: xen modules", 120);
    assert!(m.contains("xen-privcmd"), "{m}");
    b.expect("snowvisor-dom0: snowctl privcmd /dev/xen/privcmd", 30);
    b.expect("snowvisor-dom0: snowctl version exit 0", 30);
    b.expect(
        "snowvisor-dom0: snowctl version version: Xen 4.17-snowvisor",
        5,
    );
    b.expect(
        "snowvisor-dom0: snowctl version changeset: snowvisor 0.1.0",
        5,
    );
    let f = b.expect("snowvisor-dom0: snowctl version features[0]: ", 5);
    // Xen 4.17's bits for an ARM hardware domain mapped 1:1 (common/kernel.c).
    assert!(
        f.ends_with(
            "0x00026805 writable_page_tables auto_translated_physmap dom0 \
             memory_op_vnode_supported ARM_SMCCC_supported direct_mapped"
        ),
        "{f}"
    );
    b.expect(
        "snowvisor-dom0: snowctl version swiotlb-xen: on (XENFEAT_direct_mapped)",
        5,
    );
    // memory_op's counts are Dom0's RAM as snowvisor built it, in pages.
    let m = b.expect("snowvisor-dom0: snowctl version memory: ", 5);
    let pages = dom0_pages(&b.console());
    assert!(pages > 0, "no 'dom0: memory' lines");
    assert!(
        m.ends_with(&format!(
            "current_reservation {pages} pages ({} KiB), maximum_reservation {pages} pages",
            pages * 4
        )),
        "{m} (Dom0 has {pages} pages)"
    );
    info_and_selftest(b);
    let d = b.expect("snowvisor-dom0: snowctl dmesg exit ", 30);
    assert!(d.contains("dmesg exit 0 lines "), "{d}");
    let banner = b.expect("snowvisor-dom0: snowctl dmesg banner ", 5);
    assert!(banner.ends_with(BANNER), "{banner}");
    // The log reaches the time Dom0 was built and entered.
    let last = b.expect("snowvisor-dom0: snowctl dmesg last ", 5);
    assert!(last.contains("snowvisor: "), "{last}");
}

/// Dom0's RAM in 4 KiB pages, from snowvisor's
/// `dom0: memory 0x40a00000-0x7fffffff (1014 MiB, 1:1)` lines.
fn dom0_pages(console: &str) -> u64 {
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    console
        .lines()
        .filter_map(|l| l.split("snowvisor: dom0: memory ").nth(1))
        .filter_map(|r| r.split(' ').next()?.split_once('-'))
        .map(|(a, b)| (hex(b) + 1 - hex(a)) / 4096)
        .sum()
}

/// The number at the end of `line`.
fn last_number(line: &str) -> u64 {
    let n = line.rsplit(' ').next().and_then(|s| s.parse().ok());
    n.unwrap_or_else(|| panic!("no number at the end of {line:?}"))
}

/// `snowctl stats` (sysctl SNOWVISOR_SYSCTL_exit_stats): by the time Dom0's
/// /init runs, its boot has made hypercalls, taken virtual-timer interrupts
/// and read the distributor; the biggest IRQ is the virtual timer's PPI 27.
/// After `--clear` the count restarts: the next read sees only the few exits
/// since (the stats hypercall itself among them).
fn exit_stats(b: &mut Boot) {
    b.expect("snowvisor-dom0: snowctl stats exit 0", 30);
    for class in ["hypercall", "gicd-read", "irq"] {
        let l = b.expect(&format!("snowvisor-dom0: snowctl stats: class {class} "), 5);
        assert!(last_number(&l) > 0, "{l}");
    }
    let total = last_number(&b.expect("snowvisor-dom0: snowctl stats: total exits ", 5));
    assert!(total > 1000, "only {total} exits to /init");
    let irq = b.expect("snowvisor-dom0: snowctl top stats: irq ", 5);
    assert!(irq.contains("PPI 27 (virtual timer)"), "{irq}");
    let hc = b.expect("snowvisor-dom0: snowctl top stats: hypercall ", 5);
    assert!(hc.contains("0x"), "{hc}");
    let after = b.expect(
        "snowvisor-dom0: snowctl after clear stats: total exits ",
        10,
    );
    let n = last_number(&after);
    assert!(
        n >= 1 && n < total,
        "after --clear: {after} (before: {total})"
    );
}

/// `snowctl list` (sysctl getdomaininfolist): xl list's header, then Dom0
/// as `Domain-0`, ID 0, its RAM in MiB, both vCPUs online (a vCPU per
/// CPU, 2 CPUs), running (it runs snowctl), CPU time counted.
fn list(b: &mut Boot) {
    b.expect("snowvisor-dom0: snowctl list exit 0", 30);
    let h = b.expect("snowvisor-dom0: snowctl list Name ", 5);
    assert!(h.contains("ID   Mem VCPUs\tState\tTime(s)"), "{h:?}");
    let d0 = b.expect("snowvisor-dom0: snowctl list Domain-0 ", 5);
    let cols: Vec<&str> = d0
        .split("snowctl list ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    let mib = dom0_pages(&b.console()) * 4 / 1024;
    assert_eq!(
        cols[..5],
        ["Domain-0", "0", &mib.to_string(), "2", "r-----"],
        "{d0}"
    );
    let secs: f64 = cols[5].parse().unwrap();
    assert!(secs > 0.0, "{d0}");
}

#[test]
fn snowctl_version_and_dmesg() {
    let mut b = Boot::start(&opts("loglvl=info"));
    b.expect(BANNER, 30);
    version_and_dmesg(&mut b);
    // A cold boot: no previous log, and that is not an error; stderr says so.
    b.expect(
        "snowvisor-dom0: snowctl previous exit 0 lines 0 bytes 0",
        30,
    );
    b.expect(
        "snowvisor-dom0: snowctl previous stderr snowctl: no previous boot's log",
        30,
    );
    exit_stats(&mut b);
    list(&mut b);
    b.expect(
        "snowvisor-dom0: snowctl usage exit 2 snowctl: unknown command 'nonsense'",
        30,
    );
    b.expect("snowvisor-dom0: test snowctl exit 0", 30);
    b.expect("snowvisor-dom0: powering off", 30);
}

#[test]
fn snowctl_dmesg_previous_after_warm_reboot() {
    let mut b = Boot::start(&Opts {
        reboot: true,
        ..opts("loglvl=info snowvisor.selftest=reboot")
    });
    b.expect("selftest: warm reboot through PSCI SYSTEM_RESET", 60);
    let boot2 = b.expect("ramlog: 32 KiB at 0x40008000", 30);
    assert!(boot2.ends_with("boot 2"), "{boot2}");
    version_and_dmesg(&mut b);
    let p = b.expect("snowvisor-dom0: snowctl previous exit ", 30);
    assert!(p.contains("previous exit 0 lines "), "{p}");
    let n: usize = p
        .rsplit(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(n > 500, "previous log only {n} bytes: {p}");
    let banner = b.expect("snowvisor-dom0: snowctl previous banner ", 5);
    assert!(banner.ends_with(BANNER), "{banner}");
    let last = b.expect("snowvisor-dom0: snowctl previous last ", 5);
    assert!(
        last.ends_with("snowvisor: selftest: warm reboot through PSCI SYSTEM_RESET"),
        "{last}"
    );
    b.expect("snowvisor-dom0: test snowctl exit 0", 30);
    b.expect("snowvisor-dom0: powering off", 30);
}
