//! A boot-time DomU's PV console through Xen 4.17's own `xenconsoled` and
//! `xl console` in Dom0 (`scripts/run --xen-tools --domu default
//! --domu-xenstore`): snowvisor gives the enhanced DomU a console ring at
//! `GUEST_MAGIC_BASE` (grant ref 0 to Dom0) and a port unbound for Dom0
//! (`HVM_PARAM_CONSOLE_*`), Dom0's /init writes its console keys as libxl
//! does and starts xenconsoled, the DomU's /init runs a shell on `hvc0`.

use snowvisor_tests::{Boot, Opts};

/// Typed on Dom0's console, `xl console domU1` carries a command to the
/// DomU's shell on `hvc0` and its answer back (computed in the DomU, so
/// not the echo), xenstore holds libxl's console keys with a pty in
/// `console/tty`, and Ctrl-] ends `xl console` with status 0
/// (`tests/pv-console`).
#[test]
fn xl_console_reaches_a_domus_shell_on_hvc0_through_xenconsoled() {
    let mut b = Boot::start(&Opts {
        dom0_args: "snowvisor.test=pv-console".into(),
        xen_tools: true,
        domus: vec!["default".into()],
        domu_xenstore: true,
        serial_stdin: true,
        ..Opts::default()
    });
    let ring = b.expect("d1: console ring at gfn 0x39000 (GUEST_MAGIC_BASE), granted to d0 by grant ref 0; event channel port ", 120);
    let port: u32 = ring
        .split("event channel port ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{ring}"));
    assert!(port > 1, "after the xenstore port: {ring}");
    b.expect(
        &format!("snowvisor-dom0: xen-tools: d1 console: ring-ref 233472, port {port}"),
        300,
    );
    b.expect("snowvisor-dom0: xen-tools: xenconsoled up (pid ", 60);
    let tty = b.expect("snowvisor-dom0: pv-console tty ", 300);
    assert!(
        tty.trim_end()
            .rsplit(' ')
            .next()
            .unwrap()
            .starts_with("/dev/pts/"),
        "{tty}"
    );
    let keys = b.expect_all(
        &[
            "snowvisor-dom0: pv-console key limit = \"1048576\"",
            "snowvisor-dom0: pv-console key type = \"xenconsoled\"",
            "snowvisor-dom0: pv-console key output = \"pty\"",
            "snowvisor-dom0: pv-console key ring-ref = \"233472\"",
        ],
        60,
    );
    assert_eq!(keys.len(), 4);
    let perms = b.expect("snowvisor-dom0: pv-console perms ", 60);
    assert!(perms.trim_end().ends_with("(n0,r1)"), "{perms}");
    b.expect("snowvisor-dom0: pv-console attach", 60);
    // The DomU's shell on hvc0 (its line may have come at any time).
    let shell = "(d1) snowvisor-dom0: shell on hvc0 (PV console)";
    for _ in 0..300 {
        if b.console().contains(shell) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    assert!(b.console().contains(shell), "no {shell:?}");
    std::thread::sleep(std::time::Duration::from_secs(3));
    b.send(b"echo pv-console-$((6*7))\r");
    let answer = b.expect("pv-console-42", 60);
    assert!(
        !answer.starts_with("(d1)"),
        "not through the vpl011: {answer}"
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    b.send(b"\x1d");
    b.expect("snowvisor-dom0: pv-console exit 0", 60);
    b.expect("dom0: SCHEDOP_shutdown(poweroff): powering off", 120);
    assert!(b.expect_exit(60).success());
    let c = b.console();
    for bad in ["fatal", "unhandled", "unexpected exception", "Oops"] {
        assert!(!c.contains(bad), "{bad:?} on the console:\n{c}");
    }
}
