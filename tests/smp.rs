//! SMP: every CPU of the machine comes up in HYP at boot (QEMU's PSCI
//! CPU_ON over SMC), each saying how, and Dom0's device tree lists exactly
//! the CPUs its vCPUs run on.

use std::process::Command;

use snowvisor_tests::{output_text, Boot, Opts};

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
        ..Opts::default()
    });
    let line = b.expect("smp: 1 CPU", 60);
    assert!(line.contains("(MPIDR 0x80000000, the boot CPU)"), "{line}");
}

/// Dom0 on `-smp 2`: its tree has the CPU nodes of its vCPUs only, so Linux
/// brings up what it was given and tries no CPU it cannot start.
#[test]
fn dom0_tree_lists_its_vcpus_smp2() {
    let o = Command::new(snowvisor_tests::root().join("scripts/run"))
        .arg("--image")
        .arg(snowvisor_tests::image())
        .args([
            "--smp",
            "2",
            "--dom0-cmd",
            "echo nproc=$(nproc); echo cpus=$(cd /proc/device-tree/cpus && echo cpu@*); \
             echo possible=$(cat /sys/devices/system/cpu/possible)",
        ])
        .output()
        .expect("cannot start scripts/run");
    let all = output_text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    let out = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    assert!(out.contains("smp: 2 of 2 CPUs up in HYP"), "{all}");
    assert!(out.lines().any(|l| l == "nproc=1"), "{all}");
    assert!(out.lines().any(|l| l == "cpus=cpu@0"), "{all}");
    assert!(out.lines().any(|l| l == "possible=0"), "{all}");
    assert!(!out.contains("failed to boot"), "{all}");
}
