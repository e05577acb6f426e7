//! Isolation, proven by an attacker: the bare-metal guest `qemu/attack-guest`
//! booted as a DomU next to Dom0 (dom0less, `scripts/run --domu`) attacks
//! every other domain's RAM, snowvisor's image, the GIC's hypervisor and
//! host interfaces, every device of QEMU's virt machine and the whole IPA
//! space, the firmware (SMC, PSCI), Xen's privileged hypercalls, grant refs
//! and event-channel ports it does not own, and its own distributor with
//! INTIDs it does not have. Each case must be refused (an injected data
//! abort with the right DFSR/DFAR, which snowvisor reports with the
//! domain's ID; or Xen's documented error), snowvisor's text+rodata and
//! the guard page must keep their checksums, and Dom0 must keep answering
//! at its shell. Then the crashes (an undefined-instruction loop, vectors
//! it cannot fetch, a stack overflow, a data-abort storm): snowvisor ends
//! that domain alone, reporting its ID, and Dom0 runs on. Booted as Dom0
//! (1:1, with the host's devices), the guest checks its own probes, and a
//! fault loop in Dom0 is reported but does not end the hardware domain.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use snowvisor_tests::{dom0, image, root, Boot};

fn attack_image() -> &'static PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let out = Command::new(root().join("qemu/attack-guest/build"))
            .output()
            .expect("qemu/attack-guest/build");
        assert!(
            out.status.success(),
            "building the attack guest failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(stdout.lines().last().expect("no image path"))
    })
}

/// The attack guest as Dom0 (1:1, with the host's devices: its attacks
/// mostly land there, so this checks its probes, vectors, LPAE window and
/// console, and that snowvisor's own memory is refused to Dom0 too).
fn as_dom0(dom0_args: &str) -> Boot {
    let mut cmd = Command::new(root().join("scripts/run"));
    cmd.args(["--headless", "--image"]).arg(image());
    cmd.args(["--args", "loglvl=info", "--timeout", "600", "--no-initrd"]);
    cmd.arg("--kernel").arg(attack_image());
    cmd.args(["--dom0-args", dom0_args]);
    Boot::spawn(cmd)
}

#[test]
fn the_attack_guest_runs_as_dom0() {
    let mut b = as_dom0("");
    let text = b.expect("integrity: snowvisor's text+rodata", 120);
    assert!(text.contains("crc32 0x"), "{text}");
    b.expect("integrity: guard page (RAM no domain owns)", 10);
    b.expect("attack: start: Dom0 mode attack", 120);
    let report = b.expect("attack: report: ", 600);
    assert!(report.ends_with(" wrong 0"), "{report}");
    let console = b.console();
    for case in [
        // LPAE fault status (TTBCR.EAE), the VA of its window.
        "attack: case snowvisor image-read refused ipa 0x40010000 data-abort dfsr 0x210 dfar 0xc0010000",
        "attack: case snowvisor ram-log-read refused ipa 0x40008000",
        "attack: case host-ram 0x40000000-read refused",
        "attack: case dom0 ram-start-read own",
        // snowvisor's report of the first one.
        "dom0: stage-2 fault: read of IPA 0x40010000 (VA 0xc0010000)",
    ] {
        assert!(console.contains(case), "{case}\n\n{console}");
    }
    b.expect("dom0: PSCI SYSTEM_OFF: powering off", 60);
}

#[test]
fn a_fault_loop_in_dom0_is_reported_once_and_dom0_goes_on() {
    let mut b = as_dom0("attack.mode=crash-stack");
    b.expect("attack: crash: crash-stack", 180);
    let l = b.expect("dom0 (d0): vCPU 0 cannot make progress", 120);
    assert!(
        l.contains("the same data abort at pc 0x") && l.contains("256 times in a row"),
        "{l}"
    );
    assert!(l.ends_with("Dom0 is the hardware domain: not ended"), "{l}");
    // Faults go on being injected (and reported, rate-limited), the loop
    // is not said again.
    b.expect("messages suppressed", 60);
    let console = b.console();
    assert_eq!(
        console.matches("cannot make progress").count(),
        1,
        "{console}"
    );
}

/// Dom0 (the default kernel and initramfs) and the attack guest as domU1,
/// 64 MiB (its image carries no size table: snowvisor keeps 32 MiB for its
/// decompression, as for any zImage without one), its command line `domu_args`.
fn machine(domu_args: &str) -> Command {
    let (kernel, initrd) = dom0();
    let mut cmd = Command::new(root().join("scripts/run"));
    cmd.arg("--image").arg(image());
    cmd.args(["--args", "loglvl=info", "--timeout", "1200"]);
    cmd.arg("--kernel").arg(kernel).arg("--initrd").arg(initrd);
    let mut domu = attack_image().clone().into_os_string();
    domu.push(",none,64");
    cmd.arg("--domu").arg(domu);
    cmd.args(["--domu-args", domu_args]);
    cmd
}

/// The CRC-32 an integrity line gives.
fn crc_of(line: &str) -> &str {
    let i = line.find("crc32 0x").expect(line) + "crc32 ".len();
    &line[i..i + 10]
}

/// Sends Ctrl-a three times until the input reaches `who`'s banner.
fn switch_to(b: &mut Boot, banner: &str) {
    for _ in 0..4 {
        b.send(&[1, 1, 1]);
        let l = b.expect("*** serial input to ", 10);
        if l.contains(&format!("serial input to {banner} ")) {
            return;
        }
    }
    panic!("input never switched to {banner}\n{}", b.console());
}

#[test]
fn the_attack_guest_is_refused_everything_and_changes_nothing() {
    let mut b = Boot::spawn_interactive(machine("console=ttyAMA0"));
    let text = b.expect("integrity: snowvisor's text+rodata", 120);
    let guard = b.expect("integrity: guard page", 10);
    b.expect("(d1) attack: start: DomU mode attack", 300);
    let report = b.expect("(d1) attack: report: ", 600);
    b.expect("(d1) attack: done", 60);
    let console = b.console();
    let cases: Vec<&str> = console
        .lines()
        .filter_map(|l| l.split("(d1) attack: case ").nth(1))
        .collect();
    let bad: Vec<&&str> = cases
        .iter()
        .filter(|c| !c.contains(" refused ") && !c.contains(" own "))
        .collect();
    assert!(bad.is_empty(), "not refused:\n{bad:#?}\n\n{console}");
    // Every kind of attack was made, and refused as documented.
    for case in [
        "snowvisor image-write own",
        "dom0 ram-end-write refused ipa 0x7ffff000 data-abort dfsr 0xa10 dfar 0xfffff000",
        "host-ram 0x7f000000-read refused",
        "device gich-read refused ipa 0x8030000 data-abort dfsr 0x210 dfar 0xc8030000",
        "device gich-write refused",
        "device gicd-write refused",
        "device gicc-read refused",
        "device gicv-write refused",
        "device gicv2m-write refused",
        "device uart0-write refused",
        "device rtc-read refused",
        "device smmuv3-write refused",
        "device virtio-mmio31-write refused",
        "device high-pcie-mmio-read refused ipa 0x8000000000",
        "sweep top-write refused ipa 0xfffffffffc",
        "sweep 2^39-read refused",
        "psci cpu_on-0x80000001-smc refused r0 -2",
        "psci cpu_on-0x80000001-hvc refused r0 -2",
        "psci cpu_on64-smc refused r0 -1",
        "smc sip-0x82000001 refused",
        "smc exynos-cpu1boot-0xfffffffc refused",
        "gicd isenabler31 refused",
        "gicd ipriorityr-intid1016 refused",
        "gicd itargetsr-intid1020 refused",
    ] {
        assert!(
            cases.iter().any(|c| c.starts_with(case)),
            "{case}\n\n{console}"
        );
    }
    // Xen's privileged interfaces: Xen 4.17's error for an unprivileged
    // domain, each (or -ENOSYS where snowvisor implements the operation for
    // no domain, a general error for a grant copy by another domain's GFN:
    // the guest's own lists say which); a DomU given no hypercall interface
    // at all (its xen_version is -ENOSYS) must answer -ENOSYS to every one.
    let no_xen = console.contains("(d1) attack: xen: no hypercall interface");
    assert!(
        no_xen || console.contains("(d1) attack: xen: Xen 4.17"),
        "{console}"
    );
    for (case, documented) in [
        ("domctl destroydomain-dom0", "r0 -1"),
        ("domctl pausedomain-dom0", "r0 -1"),
        ("sysctl readconsole", "r0 -1"),
        ("platform_op settime64", "r0 -1"),
        ("physdev map_pirq-dom0", "r0 -38"),
        ("memory_op map-foreign-dom0", "r0 0 errs[0] -1"),
        ("memory_op decrease_reservation-dom0", "r0 -1"),
        ("memory_op acquire_resource-dom0", "r0 -"),
        ("gnttab map-dom0-ref8", "r0 0 status -"),
        // Xen 4.17: xsm_grant_setup refuses another domain: GNTST_permission_denied.
        ("gnttab setup_table-dom0", "r0 0 status -8"),
        ("gnttab query_size-dom0", "r0 0 status -8"),
        ("gnttab copy-from-dom0-gfn", "r0 0 status -"),
        ("gnttab unmap-handle0", "r0 0 status -4"),
        ("evtchn send-port1", "r0 -22"),
        ("evtchn status-dom0-port1", "r0 -1"),
        ("evtchn alloc_unbound-in-dom0", "r0 -1"),
        ("evtchn bind_interdomain-dom0-port2", "r0 -22"),
        ("sched_op remote_shutdown-dom0", "r0 -"),
        ("hvm_op set_param-dom0", "r0 -1"),
    ] {
        let want = format!(
            "{case} refused {}",
            if no_xen { "r0 -38" } else { documented }
        );
        assert!(
            cases.iter().any(|c| c.starts_with(&want)),
            "{want}\n\n{console}"
        );
    }
    // The totals agree with the cases, and nothing got through.
    let n = |key: &str| -> usize {
        let i = report.find(&format!(" {key} ")).expect(&report) + key.len() + 2;
        report[i..].split(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(n("cases"), cases.len(), "{report}");
    assert_eq!((n("breach"), n("wrong")), (0, 0), "{report}");
    assert_eq!(n("refused") + n("own"), cases.len(), "{report}");
    assert!(n("refused") > 1000, "{report}");
    // snowvisor reported the faults, naming the domain (rate-limited).
    assert!(
        console.contains("d1: stage-2 fault: read of IPA 0x44000000 (VA 0xc4000000)"),
        "{console}"
    );
    // The guest's PSCI SYSTEM_OFF ends it alone; the checksums are those of
    // the boot.
    b.expect(
        "d1: PSCI SYSTEM_OFF: this domain is off (the others go on)",
        60,
    );
    let after_text = b.expect("integrity: snowvisor's text+rodata", 30);
    let after_guard = b.expect("integrity: guard page", 10);
    b.expect("integrity: 2 region(s) unchanged (d1 off)", 10);
    assert_eq!(crc_of(&after_text), crc_of(&text));
    assert_eq!(crc_of(&after_guard), crc_of(&guard));
    assert!(after_text.ends_with(", unchanged"), "{after_text}");

    // Dom0 answers at its shell, and the debug key checks again.
    b.expect("snowvisor-dom0: starting shell", 600);
    b.send(b"echo dom0-$((6*7))\r");
    b.expect("dom0-42", 60);
    switch_to(&mut b, "snowvisor");
    b.send(b"c");
    b.expect("integrity: 2 region(s) unchanged (debug key 'c')", 30);
    switch_to(&mut b, "Dom0");
    b.send(b"echo again-$((2*3)) && poweroff -f\r");
    b.expect("again-6", 60);
    b.expect_exit(60);
}

/// Boots the attack guest in crash mode `mode`: snowvisor ends the DomU
/// alone, saying why and naming its ID, and Dom0 runs a command after.
fn crash(mode: &str, why: &str) {
    let mut cmd = machine(&format!("attack.mode={mode}"));
    cmd.args(["--headless", "--dom0-cmd", "echo dom0-after-$((6*7))"]);
    let mut b = Boot::spawn(cmd);
    b.expect(&format!("(d1) attack: crash: {mode}"), 300);
    let ended = b.expect("d1: vCPU 0 cannot make progress", 120);
    assert!(ended.contains(why), "{ended}");
    assert!(
        ended.ends_with("ending this domain (the others go on)"),
        "{ended}"
    );
    b.expect("integrity: 2 region(s) unchanged (d1 crashed)", 30);
    b.expect("dom0-after-42", 600);
    b.expect("snowvisor-dom0: cmd exit 0", 60);
    let console = b.console();
    assert!(!console.contains("snowvisor: fatal"), "{console}");
}

#[test]
fn an_undefined_instruction_loop_ends_the_domu_alone() {
    crash("crash-undef", "the same undefined instruction at pc 0x");
}

#[test]
fn vectors_it_cannot_fetch_end_the_domu_alone() {
    crash(
        "crash-novector",
        "a prefetch abort on its own prefetch-abort vector 0x0000000c",
    );
}

#[test]
fn a_stack_overflow_ends_the_domu_alone() {
    crash("crash-stack", "the same data abort at pc 0x");
}

#[test]
fn a_data_abort_storm_ends_the_domu_alone() {
    crash("crash-storm", "the same data abort at pc 0x");
}
