//! Exceptions snowvisor injects, checked from inside the guest: the
//! bare-metal guest `qemu/exc-test`, booted as Dom0, provokes each kind
//! (Undefined from a refused debug or IMPLEMENTATION DEFINED register,
//! Prefetch Abort from a branch to an unmapped IPA, Data Abort from loads
//! and stores to it) in ARM and Thumb state (16- and 32-bit instructions, an
//! IT block) with short-descriptor and LPAE fault formats, and compares the
//! vector, mode, CPSR, SPSR, LR and fault registers with the ARM ARM; native
//! twins (UDF, BKPT, an alignment fault) that QEMU's CPU takes without the
//! hypervisor pass the same checks. It also reads the PMU and debug ID
//! registers snowvisor emulates, then floods snowvisor with faults (whose
//! reports are rate-limited) and console output.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use snowvisor_tests::{image, root, Boot};

fn exc_test_image() -> &'static PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let out = Command::new(root().join("qemu/exc-test/build"))
            .output()
            .expect("qemu/exc-test/build");
        assert!(
            out.status.success(),
            "building the exception test guest failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(stdout.lines().last().expect("no image path"))
    })
}

#[test]
fn injected_exceptions_follow_the_architecture() {
    let mut cmd = Command::new(root().join("scripts/run"));
    cmd.args(["--headless", "--image"]).arg(image());
    cmd.args(["--args", "loglvl=info", "--no-initrd", "--kernel"]);
    cmd.arg(exc_test_image());
    let mut b = Boot::spawn(cmd);
    b.expect("exc-test: start", 60);
    let done = b.expect("exc-test: done: ", 120);
    let console = b.console();
    let failed: Vec<&str> = console.lines().filter(|l| l.contains(": FAIL")).collect();
    assert!(failed.is_empty(), "{}\n\n{console}", failed.join("\n"));
    for case in [
        "arm undefined (injected) (short-descriptor): PASS",
        "thumb undefined (injected) (LPAE): PASS",
        "arm prefetch abort (injected) (short-descriptor): PASS",
        "thumb prefetch abort (injected) (LPAE): PASS",
        "thumb ldr.w data abort (injected) (short-descriptor): PASS",
        "thumb data abort in an IT block (injected) (LPAE): PASS",
        "arm str data abort (injected) (LPAE): PASS",
        "arm CP15 c15 access (injected undefined) (short-descriptor): PASS",
        "arm hvc #0x1234 (injected undefined) (LPAE): PASS",
        "thumb hvc #0x1234 (injected undefined) (short-descriptor): PASS",
        "thumb alignment fault in an IT block (native) (LPAE): PASS",
        "DBGDIDR reads 0x1050040: PASS",
    ] {
        assert!(
            console.contains(&format!("exc-test: {case}")),
            "{case}\n\n{console}"
        );
    }
    assert!(done.ends_with("46 passed, 0 failed"), "{done}");
    b.expect("PSCI SYSTEM_OFF: powering off", 30);
    // What the flood's end left uncounted is said before the machine stops.
    b.expect("messages suppressed", 30);
    let console = b.console();
    // 2000 faults in a burst: a few reported (10 at once, then one per
    // 500 ms), the rest counted in "N messages suppressed" lines.
    let reports = console.matches("dom0: stage-2 fault").count();
    assert!((1..=60).contains(&reports), "{reports} fault reports");
    let suppressed: u64 = console
        .lines()
        .filter_map(|l| {
            l.split("dom0: ")
                .nth(1)?
                .strip_suffix(" messages suppressed")
        })
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum();
    assert!(suppressed >= 1900, "{suppressed} suppressed\n{console}");
    assert!(
        console.contains("exc-test: flood: 2000 faults"),
        "{console}"
    );
}
