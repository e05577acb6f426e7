//! The vCPU scheduler: more vCPUs than physical CPUs. Dom0 with
//! `dom0_max_vcpus=2` on a 1-CPU QEMU brings both vCPUs online in Linux
//! (PSCI CPU_ON starts vCPU 1 on the CPU vCPU 0 runs on: a real context
//! switch between them), and while a process spins for ever on vCPU 1
//! (never a WFI), work pinned to vCPU 0 still finishes: the time slice
//! takes the CPU from the spinning vCPU.

use snowvisor_tests::{dom0_cmd, has_line};

/// Per-CPU user time from `/proc/stat` lines `cpuN user ...` in `out`.
fn user_ticks(out: &str, cpu: u32) -> u64 {
    let prefix = format!("cpu{cpu} ");
    let line = out
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no /proc/stat line for cpu{cpu}:\n{out}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn two_vcpus_share_one_cpu_and_a_spinner_cannot_starve_the_other() {
    // vCPU 1 spins for ever; vCPU 0 then counts to 20000 in a shell loop
    // (hundreds of milliseconds of work) and says when done; both vCPUs
    // show user time in /proc/stat.
    let cmd = "echo nproc=$(nproc); echo online=$(cat /sys/devices/system/cpu/online); \
        echo processors=$(grep -c ^processor /proc/cpuinfo); \
        taskset -c 1 sh -c 'while :; do :; done' & \
        sleep 1; \
        taskset -c 0 sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo counted-on-cpu0=$i'; \
        grep -E '^cpu[01] ' /proc/stat";
    let out = dom0_cmd(1, "loglvl=info dom0_max_vcpus=2", cmd);
    assert!(
        out.contains("dom0: 2 vCPU(s) on 1 CPU(s): MPIDR 0x80000000 on CPU 0x80000000, 0x80000001 on CPU 0x80000000"),
        "{out}"
    );
    assert!(
        out.contains("dom0: vCPU 1 (MPIDR 0x80000001) starts at"),
        "{out}"
    );
    assert!(out.contains("smp: Brought up 1 node, 2 CPUs"), "{out}");
    assert!(has_line(&out, "nproc=2"), "{out}");
    assert!(has_line(&out, "online=0-1"), "{out}");
    assert!(has_line(&out, "processors=2"), "{out}");
    assert!(has_line(&out, "counted-on-cpu0=20000"), "{out}");
    // USER_HZ ticks: the spinner ran on vCPU 1 for at least the second
    // slept, the count on vCPU 0 took some too.
    assert!(user_ticks(&out, 1) >= 50, "{out}");
    assert!(user_ticks(&out, 0) >= 5, "{out}");
}

/// A Xen/Arm command line carried over: `vwfi=native` is honoured (a
/// guest's WFI and WFE no longer trap: Dom0 idles for seconds and snowvisor
/// counts no WFI or WFE exit, where the default traps each), the time
/// slice still takes the CPU from a spinning vCPU, and the Xen options
/// snowvisor does not follow are named, none called unknown.
#[test]
fn xen_scheduler_options_vwfi_native_and_named_differences() {
    let cmd = "[ -e /dev/xen/privcmd ] || insmod /lib/modules/xen-privcmd.ko 2>/dev/null; \
        snowctl stats --clear >/dev/null; sleep 2; \
        echo wfx-exits=$(snowctl stats | grep -c '^stats: class wf[ie] '); \
        taskset -c 1 sh -c 'while :; do :; done' & \
        taskset -c 0 sh -c 'i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done; echo counted-on-cpu0=$i'";
    let out = dom0_cmd(
        1,
        "loglvl=info dom0_max_vcpus=2 vwfi=native sched=null sched_ratelimit_us=500 sched_credit_tslice_ms=5 dom0_vcpus_pin bootscrub=0",
        cmd,
    );
    assert!(has_line(&out, "wfx-exits=0"), "{out}");
    assert!(has_line(&out, "counted-on-cpu0=5000"), "{out}");
    assert!(
        out.contains(
            "boot argument 'sched=null' not honoured exactly: snowvisor has one scheduler"
        ),
        "{out}"
    );
    assert!(
        out.contains("boot argument 'bootscrub=0' not honoured exactly"),
        "{out}"
    );
    assert!(!out.contains("unknown boot argument"), "{out}");
    // The default traps them: the same idle Dom0 takes WFI exits.
    let out = dom0_cmd(
        1,
        "loglvl=info",
        "[ -e /dev/xen/privcmd ] || insmod /lib/modules/xen-privcmd.ko 2>/dev/null; \
         snowctl stats --clear >/dev/null; sleep 2; \
         echo wfi-exits=$(snowctl stats | grep '^stats: class wfi ' | awk '{print $NF}')",
    );
    let n: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("wfi-exits="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no wfi-exits line:\n{out}"));
    assert!(n > 0, "{out}");
}
