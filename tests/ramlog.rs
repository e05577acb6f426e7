//! The RAM log survives a warm reboot: `snowvisor.selftest=reboot` makes
//! snowvisor reset the machine once through PSCI SYSTEM_RESET (QEMU keeps RAM
//! across it), and the next boot reports the previous boot's log.

use snowvisor_tests::{Boot, Opts};

#[test]
fn previous_boot_log_survives_warm_reboot() {
    let mut b = Boot::start(&Opts {
        args: "loglvl=info snowvisor.selftest=reboot".into(),
        dom0: false,
        reboot: true,
        ..Opts::default()
    });
    let first = b.expect("ramlog: ", 30);
    assert!(first.contains("at 0x40008000"), "{first}");
    b.expect("ramlog: no previous boot log (cold boot", 5);
    b.expect("selftest: warm reboot through PSCI SYSTEM_RESET", 30);
    let boot2 = b.expect("ramlog: 32 KiB at 0x40008000", 30);
    assert!(boot2.ends_with("boot 2"), "{boot2}");
    let prev = b.expect("ramlog: previous boot log: ", 5);
    assert!(
        prev.ends_with("last line: snowvisor: selftest: warm reboot through PSCI SYSTEM_RESET"),
        "{prev}"
    );
    let n: usize = prev
        .split("previous boot log: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(n > 500, "previous log only {n} bytes: {prev}");
    b.expect(
        "selftest: this boot follows the selftest's warm reboot; not rebooting again",
        30,
    );
}
