//! SMP: every CPU of the machine comes up in HYP at boot (QEMU's PSCI
//! CPU_ON over SMC), each saying how; Dom0 gets a vCPU pinned to each
//! (`dom0_max_vcpus=N` caps them), its device tree lists exactly those, and
//! it starts, stops and uses them: PSCI CPU_ON/CPU_OFF (Linux CPU hotplug),
//! IPIs through the emulated GICD_SGIR, event upcalls per vCPU
//! (`snowctl selftest` pinned to each CPU), a parallel workload.

use snowvisor_tests::{dom0_cmd, has_line, Boot, Opts};

#[test]
fn every_cpu_comes_up_in_hyp_smp4() {
    let mut b = Boot::start(&Opts {
        dom0: false,
        smp: 4,
        ..Opts::default()
    });
    b.expect("cpu: MIDR", 60);
    for n in 1..4 {
        let line = b.expect(&format!("smp: /cpus/cpu@{n}: CPU with MPIDR"), 120);
        assert!(
            line.contains(&format!(
                "MPIDR 0x8000000{n} up in HYP (PSCI CPU_ON over SMC)"
            )) && line.contains("HYP timer INTID 26 handled"),
            "{line}"
        );
    }
    let line = b.expect("smp: 4 of 4 CPUs up in HYP", 60);
    assert!(
        line.contains("0x80000000 (boot CPU), 0x80000001 (PSCI CPU_ON over SMC)"),
        "{line}"
    );
    // Nothing else to run: the boot stops where Dom0 would be built.
    b.expect("no Dom0 kernel", 60);
}

#[test]
fn one_cpu_says_so() {
    let mut b = Boot::start(&Opts {
        dom0: false,
        smp: 1,
        ..Opts::default()
    });
    let line = b.expect("smp: 1 CPU", 60);
    assert!(line.contains("(MPIDR 0x80000000, the boot CPU)"), "{line}");
}

const WHAT_DOM0_SEES: &str = "echo nproc=$(nproc); \
    echo cpus=$(cd /proc/device-tree/cpus && echo cpu@*); \
    echo online=$(cat /sys/devices/system/cpu/online)";

/// `-smp 2`: Dom0 gets both CPUs, and its tree says so.
#[test]
fn dom0_runs_on_both_cpus_smp2() {
    let out = dom0_cmd(2, "loglvl=info", WHAT_DOM0_SEES);
    assert!(out.contains("smp: 2 of 2 CPUs up in HYP"), "{out}");
    assert!(
        out.contains("dom0: 2 vCPU(s) on 2 CPU(s): MPIDR 0x80000000 on CPU 0x80000000, 0x80000001 on CPU 0x80000001"),
        "{out}"
    );
    assert!(out.contains("Xen: initializing cpu1"), "{out}");
    assert!(
        out.contains("dom0: vCPU 1 (MPIDR 0x80000001) starts at"),
        "{out}"
    );
    assert!(has_line(&out, "nproc=2"), "{out}");
    assert!(has_line(&out, "cpus=cpu@0 cpu@1"), "{out}");
    assert!(has_line(&out, "online=0-1"), "{out}");
}

/// `dom0_max_vcpus=1` on `-smp 2`: one vCPU, one CPU node, nothing else tried.
#[test]
fn dom0_max_vcpus_caps_the_vcpus_and_the_tree() {
    let out = dom0_cmd(2, "loglvl=info dom0_max_vcpus=1", WHAT_DOM0_SEES);
    assert!(out.contains("dom0: 1 vCPU(s)"), "{out}");
    assert!(has_line(&out, "nproc=1"), "{out}");
    assert!(has_line(&out, "cpus=cpu@0"), "{out}");
}

/// `-smp 4`: four vCPUs; CPU 1 off and on twice (PSCI CPU_OFF, AFFINITY_INFO,
/// CPU_ON again); `snowctl selftest` pinned to each CPU (event channels and
/// grants from every vCPU); a parallel md5sum per CPU over one file in tmpfs
/// gives the same sum everywhere; an IPI storm of `taskset` hops leaves
/// Dom0 alive.
#[test]
fn dom0_smp4_hotplug_selftest_per_cpu_workload_and_ipis() {
    let cmd = "echo nproc=$(nproc); \
        for i in 1 2; do echo 0 > /sys/devices/system/cpu/cpu1/online; \
          echo off=$(cat /sys/devices/system/cpu/online); \
          echo 1 > /sys/devices/system/cpu/cpu1/online; \
          echo on=$(cat /sys/devices/system/cpu/online); done; \
        for c in 0 1 2 3; do echo selftest-cpu$c: $(taskset -c $c snowctl selftest | tail -1); done; \
        dd if=/dev/urandom of=/tmp/f bs=1M count=4 2>/dev/null; want=$(md5sum < /tmp/f); \
        for c in 0 1 2 3; do taskset -c $c sh -c 'for i in 1 2 3; do md5sum < /tmp/f; done' > /tmp/sum$c & done; wait; \
        echo sums=$(cat /tmp/sum0 /tmp/sum1 /tmp/sum2 /tmp/sum3 | grep -c -F \"$want\"); \
        for i in $(seq 40); do for c in 3 2 1 0; do taskset -c $c true; done; done; echo storm=done";
    let out = dom0_cmd(4, "loglvl=info", cmd);
    assert!(has_line(&out, "nproc=4"), "{out}");
    assert_eq!(
        out.lines().filter(|l| *l == "off=0,2-3").count(),
        2,
        "{out}"
    );
    assert_eq!(out.lines().filter(|l| *l == "on=0-3").count(), 2, "{out}");
    assert!(
        out.contains("dom0: vCPU 1 turned itself off (PSCI CPU_OFF)"),
        "{out}"
    );
    for c in 0..4 {
        let prefix = format!("selftest-cpu{c}: snowctl selftest: ");
        assert!(
            out.lines()
                .any(|l| l.starts_with(&prefix) && l.ends_with(" passed, 0 failed")),
            "{out}"
        );
    }
    assert!(has_line(&out, "sums=12"), "{out}");
    assert!(has_line(&out, "storm=done"), "{out}");
}
