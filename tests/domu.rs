//! Boot-time DomUs (Xen's dom0less binding, written by `scripts/run --domu`):
//! Debian's armmp-lpae kernel and the default initramfs as a DomU next to
//! Dom0, each reaching /init; the DomU's console lines prefixed `(d1) `; its
//! memory taken from Dom0's and not 1:1; its `poweroff` ending it alone
//! while Dom0 runs on (Dom0 reads snowvisor's RAM log until it says so).

use snowvisor_tests::{Boot, Opts};

/// Dom0's command: waits (up to 15 minutes) until snowvisor's RAM log says
/// DomU 1 powered off, then says it still runs.
const WAIT_FOR_D1_OFF: &str = "[ -e /dev/xen/privcmd ] || insmod /lib/modules/xen-privcmd.ko 2>/dev/null; \
    for i in $(seq 900); do snowctl dmesg 2>/dev/null | grep -q 'd1: PSCI SYSTEM_OFF' && break; sleep 1; done; \
    echo \"dom0 runs after d1's poweroff: $(snowctl dmesg | grep -c 'd1: PSCI SYSTEM_OFF')\"";

fn lines_with<'a>(console: &'a str, prefix: &str) -> Vec<&'a str> {
    console.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// `--smp 2`: Dom0 on CPU 0, the DomU on CPU 1; both reach /init.
#[test]
fn dom0_and_a_linux_domu_reach_init_smp2() {
    let mut b = Boot::start(&Opts {
        smp: 2,
        dom0_args: "console=hvc0".into(),
        domus: vec!["default".into()],
        domu_args: Some("console=ttyAMA0 snowvisor.test=poweroff".into()),
        dom0_cmd: Some(WAIT_FOR_D1_OFF.into()),
        ..Opts::default()
    });
    let line = b.expect("d1 (domU1): ", 300);
    assert!(
        line.contains("1 vCPU(s) on the CPU(s) with MPIDR 0x80000001 (its own), 256 MiB"),
        "{line}"
    );
    b.expect(
        "snowvisor: dom0: 1 vCPU(s) on 1 CPU(s): MPIDR 0x80000000 on CPU 0x80000000",
        60,
    );
    b.expect("(d1) snowvisor-dom0: init reached", 600);
    b.expect(
        "snowvisor: d1: PSCI SYSTEM_OFF: this domain is off (the others go on)",
        600,
    );
    b.expect("dom0 runs after d1's poweroff: 1", 600);
    b.expect("snowvisor-dom0: cmd exit 0", 60);
    let all = b.console().replace('\r', "");

    // Its memory: the top 256 MiB of the host's, scrubbed, seen at
    // GUEST_RAM0 (0x40000000), not 1:1; below it the 8 MiB keeping
    // copies of its zImage and initrd for its restarts; Dom0's ends below.
    assert!(
        all.contains("snowvisor: d1: memory 0x70000000-0x7fffffff (256 MiB) of the host, scrubbed"),
        "{all}"
    );
    assert!(
        all.contains("snowvisor: d1: guest RAM 0x40000000-0x4fffffff (GUEST_RAM0), VMID 2"),
        "{all}"
    );
    assert!(
        all.contains("snowvisor: d1: 8 MiB of the host (0x6f800000-0x6fffffff) keep copies of its boot modules for its restarts"),
        "{all}"
    );
    assert!(
        all.contains("snowvisor: dom0: memory 0x40a00000-0x6f7fffff"),
        "{all}"
    );
    assert!(!all.contains("does not start DomUs"), "{all}");
    // Both reached /init: Dom0's lines bare, the DomU's prefixed.
    let dom0 = lines_with(&all, "snowvisor-dom0: ");
    assert!(dom0.contains(&"snowvisor-dom0: init reached"), "{all}");
    let d1 = lines_with(&all, "(d1) ");
    for want in [
        "(d1) snowvisor-dom0: init reached",
        "(d1) snowvisor-dom0: cmdline console=ttyAMA0 snowvisor.test=poweroff",
        "(d1) snowvisor-dom0: hypervisor xen",
        "(d1) snowvisor-dom0: powering off",
    ] {
        assert!(d1.contains(&want), "no {want:?}\n{all}");
    }
    // Its kernel saw its own machine: Xen's guest tree, its RAM, one CPU.
    assert!(
        d1.iter()
            .any(|l| l.contains("OF: fdt: Machine model: XENVM-4.17")),
        "{all}"
    );
    assert!(
        d1.iter()
            .any(|l| l.contains("node   0: [mem 0x0000000040000000-0x000000004fffffff]")),
        "{all}"
    );
    // Nothing it did faulted at stage 2.
    assert!(!all.contains("d1: stage-2 fault"), "{all}");
}

/// Dom0's command: waits (up to 20 minutes) until snowvisor's RAM log says
/// DomU 1 reset twice (both lives seen through), then says it still runs.
const WAIT_FOR_D1_TWO_RESETS: &str = "[ -e /dev/xen/privcmd ] || insmod /lib/modules/xen-privcmd.ko 2>/dev/null; \
    for i in $(seq 1200); do snowctl dmesg 2>/dev/null | grep -q 'd1: PSCI SYSTEM_RESET: restarting this domain (the others go on), restart 2' && break; sleep 1; done; \
    echo \"dom0 runs after d1's restarts: $(snowctl dmesg | grep -c 'd1: PSCI SYSTEM_RESET: restarting this domain')\"";

/// The uptimes a DomU's `reboot` test printed, in order (`which`: start or end).
fn uptimes(all: &str, which: &str) -> Vec<f64> {
    let tag = format!("(d1) snowvisor-dom0: reboot uptime {which} ");
    all.lines()
        .filter_map(|l| l.strip_prefix(&tag))
        .filter_map(|t| t.trim().parse().ok())
        .collect()
}

/// A DomU's `reboot -f` restarts that domain alone, from its pristine
/// modules: it reaches /init a second time, its uptime starts near 0 again
/// (its own CNTVOFF), Dom0 runs on, and the `d` key counts the restart.
#[test]
fn a_domu_reboot_restarts_it_alone() {
    let mut b = Boot::start(&Opts {
        smp: 2,
        dom0_args: "console=hvc0".into(),
        domus: vec!["default".into()],
        domu_args: Some("console=ttyAMA0 snowvisor.test=reboot".into()),
        dom0_cmd: Some(WAIT_FOR_D1_TWO_RESETS.into()),
        ..Opts::default()
    });
    b.expect("(d1) snowvisor-dom0: reboot uptime end ", 600);
    b.expect(
        "snowvisor: d1: PSCI SYSTEM_RESET: restarting this domain (the others go on), restart 1",
        300,
    );
    b.expect("snowvisor: d1: restart: its RAM scrubbed", 300);
    b.expect("snowvisor: d1: vCPU 0 (MPIDR 0x80000000) starts at", 300);
    b.expect("(d1) snowvisor-dom0: reboot uptime end ", 600);
    b.expect("dom0 runs after d1's restarts: 2", 600);
    b.expect("snowvisor-dom0: cmd exit 0", 60);
    let all = b.console().replace('\r', "");
    assert!(
        all.contains("keep copies of its boot modules for its restarts"),
        "the kept copies are stated\n{all}"
    );
    let runs = lines_with(&all, "(d1) ")
        .iter()
        .filter(|l| l.contains("Run /init as init process"))
        .count();
    assert!(runs >= 2, "{runs} runs of /init\n{all}");
    let (start, end) = (uptimes(&all, "start"), uptimes(&all, "end"));
    assert!(start.len() >= 2 && end.len() >= 2, "{all}");
    // The second life's clock started again: it begins below where the
    // first life ended (it would be above with the machine's count).
    assert!(start[1] < end[0], "uptimes {start:?} {end:?}");
    assert!(!all.contains("d1: stage-2 fault"), "{all}");
    assert!(!all.contains("cannot restart"), "{all}");
}

/// The console: Ctrl-a three times cycles input Dom0 -> d1 -> snowvisor ->
/// Dom0; typing reaches each; the `d` key lists the domains; each shell's
/// echo comes back on its own side (the DomU's prefixed).
#[test]
fn ctrl_a_cycles_input_through_the_domu_and_d_lists_domains() {
    let mut b = Boot::start(&Opts {
        smp: 2,
        dom0_args: "console=hvc0".into(),
        domus: vec!["default".into()],
        serial_stdin: true,
        ..Opts::default()
    });
    // Dom0 and the DomU boot side by side: either may reach its shell first.
    b.expect_all(
        &[
            "(d1) snowvisor-dom0: starting shell",
            "snowvisor-dom0: starting shell",
        ],
        900,
    );
    b.send(b"echo dom0-$((6*7))\r");
    let l = b.expect("dom0-42", 60);
    assert!(!l.starts_with("(d1)"), "{l}");
    b.send(&[1, 1, 1]);
    b.expect(
        "*** serial input to d1 (type Ctrl-a three times to switch input)",
        30,
    );
    b.send(b"echo domu-$((6*7))\r");
    b.expect("(d1) domu-42", 60);
    b.send(&[1, 1, 1]);
    b.expect("*** serial input to snowvisor", 30);
    b.send(b"d");
    b.expect("snowvisor: domains:", 30);
    let l = b.expect("snowvisor:   d0 dom0: ", 30);
    assert!(l.contains("1 vCPU(s) (1 on), running"), "{l}");
    let l = b.expect("snowvisor:   d1 domU1: ", 30);
    assert!(
        l.ends_with("256 MiB, 1 vCPU(s) (1 on), running, restarts 0"),
        "{l}"
    );
    b.send(&[1, 1, 1]);
    b.expect("*** serial input to Dom0", 30);
    b.send(b"echo back-$((6*7))\r");
    let l = b.expect("back-42", 60);
    assert!(!l.starts_with("(d1)"), "{l}");
}

/// `--smp 1`: Dom0 and the DomU share the one CPU (the scheduler's time
/// slices); both reach /init, the DomU powers off and Dom0 goes on.
#[test]
fn dom0_and_a_domu_share_one_cpu() {
    let mut b = Boot::start(&Opts {
        smp: 1,
        dom0_args: "console=hvc0".into(),
        domus: vec!["default".into()],
        domu_args: Some("console=ttyAMA0 snowvisor.test=poweroff".into()),
        dom0_cmd: Some(WAIT_FOR_D1_OFF.into()),
        ..Opts::default()
    });
    let line = b.expect("d1 (domU1): ", 300);
    assert!(
        line.contains("1 vCPU(s) on the CPU(s) with MPIDR 0x80000000 (shared), 256 MiB"),
        "{line}"
    );
    b.expect("(d1) snowvisor-dom0: init reached", 600);
    b.expect(
        "snowvisor: d1: PSCI SYSTEM_OFF: this domain is off (the others go on)",
        900,
    );
    b.expect("dom0 runs after d1's poweroff: 1", 600);
    b.expect("snowvisor-dom0: cmd exit 0", 60);
    let all = b.console().replace('\r', "");
    assert!(
        lines_with(&all, "snowvisor-dom0: ").contains(&"snowvisor-dom0: init reached"),
        "{all}"
    );
}

/// `--smp 1`: Dom0 and two DomUs (128 MiB each) on one CPU all reach
/// /init, each DomU's lines with its own prefix and memory of its own.
#[test]
fn two_domus_and_dom0_on_one_cpu() {
    let mut b = Boot::start(&Opts {
        smp: 1,
        dom0_args: "console=hvc0".into(),
        domus: vec!["default,128".into(), "default,128".into()],
        domu_args: Some("console=ttyAMA0 snowvisor.test=poweroff".into()),
        dom0_cmd: Some(
            "[ -e /dev/xen/privcmd ] || insmod /lib/modules/xen-privcmd.ko 2>/dev/null; \
             for i in $(seq 1200); do [ $(snowctl dmesg 2>/dev/null | grep -c 'PSCI SYSTEM_OFF: this domain is off') -ge 2 ] && break; sleep 1; done; \
             echo \"domus off: $(snowctl dmesg | grep -c 'PSCI SYSTEM_OFF: this domain is off')\""
                .into(),
        ),
        ..Opts::default()
    });
    b.expect("domus off: 2", 600);
    b.expect("snowvisor-dom0: cmd exit 0", 60);
    let all = b.console().replace('\r', "");
    // The first --domu is domU1, domain 1 (scripts/run keeps the nodes in order).
    assert!(all.contains("snowvisor: d1 (domU1): "), "{all}");
    assert!(all.contains("snowvisor: d2 (domU2): "), "{all}");
    assert!(
        all.contains("snowvisor: d1: memory 0x78000000-0x7fffffff (128 MiB) of the host, scrubbed"),
        "{all}"
    );
    assert!(
        all.contains("snowvisor: d2: memory 0x6f800000-0x777fffff (128 MiB) of the host, scrubbed"),
        "{all}"
    );
    assert!(
        lines_with(&all, "snowvisor-dom0: ").contains(&"snowvisor-dom0: init reached"),
        "{all}"
    );
    for d in ["(d1) ", "(d2) "] {
        let lines = lines_with(&all, d);
        for want in [
            "snowvisor-dom0: init reached",
            "snowvisor-dom0: powering off",
        ] {
            assert!(
                lines.contains(&format!("{d}{want}").as_str()),
                "no {d}{want}\n{all}"
            );
        }
    }
}

/// `--smp 1 --domu-vcpus 2`: a DomU with `cpus = <2>` brings both its
/// vCPUs up (PSCI CPU_ON), sharing the one CPU with each other and with
/// Dom0's vCPU, and reaches /init; Dom0 reaches /init too.
#[test]
fn a_domu_with_two_vcpus_on_one_cpu() {
    let mut b = Boot::start(&Opts {
        smp: 1,
        dom0_args: "console=hvc0".into(),
        domus: vec!["default".into()],
        domu_vcpus: Some(2),
        domu_args: Some("console=ttyAMA0 snowvisor.test=poweroff".into()),
        dom0_cmd: Some(WAIT_FOR_D1_OFF.into()),
        ..Opts::default()
    });
    let line = b.expect("d1 (domU1): ", 300);
    assert!(
        line.contains(
            "2 vCPU(s) on the CPU(s) with MPIDR 0x80000000, 0x80000000 (shared), 256 MiB"
        ),
        "{line}"
    );
    b.expect("d1: vCPU 0 starts vCPU 1 (MPIDR 0x80000001)", 1200);
    b.expect("(d1) snowvisor-dom0: init reached", 1200);
    b.expect(
        "snowvisor: d1: PSCI SYSTEM_OFF: this domain is off (the others go on)",
        900,
    );
    b.expect("dom0 runs after d1's poweroff: 1", 900);
    b.expect("snowvisor-dom0: cmd exit 0", 60);
    let all = b.console().replace('\r', "");
    let d1 = lines_with(&all, "(d1) ");
    // Linux's own count of the CPUs it brought up (kernel/smp.c,
    // arch/arm/kernel/smp.c), in the DomU's console.
    for want in [
        "smp: Brought up 1 node, 2 CPUs",
        "SMP: Total of 2 processors activated",
    ] {
        assert!(
            d1.iter().any(|l| l.contains(want)),
            "no (d1) {want:?}\n{all}"
        );
    }
    assert!(
        lines_with(&all, "snowvisor-dom0: ").contains(&"snowvisor-dom0: init reached"),
        "{all}"
    );
}

/// `--smp 2 --domu-vcpus 2 --domu-cpupool 1`: Xen 4.17's boot-time
/// cpupool (`/chosen/cpupool` with CPU 1, the DomU's `domain-cpupool`
/// naming it): both DomU vCPUs run on CPU 1 only (without the pool one
/// would share CPU 0 with Dom0), Dom0 stays on CPU 0 (Pool-0, the boot
/// CPU's); the DomU brings both up and reaches /init.
#[test]
fn a_domu_in_a_cpupool_runs_on_its_cpus_only() {
    let mut b = Boot::start(&Opts {
        smp: 2,
        dom0_args: "console=hvc0".into(),
        domus: vec!["default".into()],
        domu_vcpus: Some(2),
        domu_cpupool: Some("1".into()),
        domu_args: Some("console=ttyAMA0 snowvisor.test=poweroff".into()),
        // Xen's own tools list the pools (`XEN_SYSCTL_cpupool_op`, the
        // names `xen-init-dom0` gave them) and each domain's.
        xen_tools: true,
        dom0_cmd: Some(format!(
            "xl cpupool-list | sed 's/^/cpupool-list: /'; xl list -c | sed 's/^/list-c: /'; {WAIT_FOR_D1_OFF}"
        )),
        ..Opts::default()
    });
    b.expect(
        "cpupool: Pool-0 (the CPUs no xen,cpupool node lists): CPU(s) with MPIDR 0x80000000 (the boot CPU's: Dom0's)",
        300,
    );
    b.expect(
        "cpupool: Pool-1 /chosen/cpupool: CPU(s) with MPIDR 0x80000001",
        60,
    );
    let line = b.expect("d1 (domU1): ", 60);
    assert!(
        line.contains("2 vCPU(s) on the CPU(s) with MPIDR 0x80000001, 0x80000001 (its cpupool's; cpupool Pool-1 /chosen/cpupool), 256 MiB"),
        "{line}"
    );
    b.expect(
        "snowvisor: dom0: 1 vCPU(s) on 1 CPU(s): MPIDR 0x80000000 on CPU 0x80000000",
        60,
    );
    b.expect("(d1) snowvisor-dom0: init reached", 900);
    b.expect(
        "snowvisor: d1: PSCI SYSTEM_OFF: this domain is off (the others go on)",
        600,
    );
    b.expect("dom0 runs after d1's poweroff: 1", 900);
    b.expect("snowvisor-dom0: cmd exit 0", 60);
    let all = b.console().replace('\r', "");
    let fields = |prefix: &str| -> Vec<Vec<&str>> {
        all.lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .map(|l| l.split_whitespace().collect())
            .collect()
    };
    // Name, CPUs, Sched, Active, Domain count.
    let pools = fields("cpupool-list: ");
    assert_eq!(
        &pools[1..],
        [
            ["Pool-0", "1", "credit", "y", "1"],
            ["Pool-1", "1", "credit", "y", "1"]
        ],
        "{all}"
    );
    // Name, ID, Mem, VCPUs, State, Time(s), Cpupool.
    let list = fields("list-c: ");
    let pool_of = |name: &str| {
        list.iter()
            .find(|f| f[0] == name)
            .and_then(|f| f.last().copied())
    };
    assert_eq!(
        (pool_of("Domain-0"), pool_of("domU1")),
        (Some("Pool-0"), Some("Pool-1")),
        "{all}"
    );
    // Where each vCPU was loaded: CPU 1's GIC CPU interface (bit 0x02),
    // for the DomU's first vCPU and the one its Linux started.
    for v in 0..2 {
        let want = format!("snowvisor: d1: vCPU {v} (MPIDR 0x8000000{v}) starts at ");
        let l = all
            .lines()
            .find(|l| l.contains(&want))
            .unwrap_or_else(|| panic!("no {want:?}\n{all}"));
        assert!(
            l.ends_with("on the CPU with GIC interface bit 0x02"),
            "{l}\n{all}"
        );
    }
    let d1 = lines_with(&all, "(d1) ");
    assert!(
        d1.iter()
            .any(|l| l.contains("smp: Brought up 1 node, 2 CPUs")),
        "{all}"
    );
    assert!(!all.contains("cpupool-sched"), "{all}");
}
