//! snowvisor's console without a usable UART: a UART that never becomes ready
//! is given up (no hang), a tree that describes no UART snowvisor can use
//! leaves it writing to the RAM log only, and Dom0 still boots on a UART of
//! its own. What snowvisor wrote meanwhile is read back from the RAM log by
//! Dom0 (`snowctl dmesg`, initramfs test `dmesg`).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use snowvisor_tests::{qemu_dtb_edited, root, Boot, Opts};

/// The RAM log lines Dom0 printed (`snowvisor-dom0: dmesg <line>`).
fn dmesg(console: &str) -> Vec<&str> {
    console
        .lines()
        .filter_map(|l| l.strip_prefix("snowvisor-dom0: dmesg "))
        .collect()
}

/// The lines snowvisor itself wrote to the serial (not Dom0's reading of the
/// RAM log, not Dom0's kernel).
fn own_lines(console: &str) -> Vec<&str> {
    console
        .lines()
        .filter(|l| l.starts_with("snowvisor: "))
        .collect()
}

/// QEMU's tree for the default machine with two serial ports (QEMU 10 adds
/// `pl011@9040000` for the second), decompiled, changed by `edit` and
/// compiled into target/boot-tests/`name`.
fn two_uart_tree_edited(name: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let dir = root().join("target/boot-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let dump = dir.join(format!("{name}.qemu"));
    let status = Command::new("qemu-system-arm")
        .arg("-M")
        .arg(format!(
            "virt,virtualization=on,highmem-ecam=off,dumpdtb={}",
            dump.display()
        ))
        .args(["-cpu", "cortex-a15", "-m", "1024", "-display", "none"])
        .args(["-nic", "none", "-serial", "null", "-serial", "null"])
        .args(["-monitor", "none"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("qemu-system-arm");
    assert!(status.success(), "dumping QEMU's DTB failed");
    let dts = Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts", "-q"])
        .arg(&dump)
        .output()
        .expect("dtc");
    assert!(dts.status.success(), "dtc failed");
    let src = dir.join(format!("{name}.dts"));
    std::fs::write(&src, edit(String::from_utf8(dts.stdout).unwrap())).unwrap();
    let out = dir.join(name);
    let st = Command::new("dtc")
        .args(["-I", "dts", "-O", "dtb", "-q", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("dtc");
    assert!(st.success(), "dtc could not compile {}", src.display());
    out
}

#[test]
fn a_uart_that_never_becomes_ready_is_given_up_and_dom0_boots() {
    // stdout-path names a PL011 in QEMU's empty PCIe window: it reads as all
    // ones, so FR.TXFF never clears (before the bound, snowvisor hung here).
    let dtb = qemu_dtb_edited("console-dead-uart.dtb", |dts| {
        let node = "\tpl011@10000000 {\n\t\tinterrupts = <0x00 0x05 0x04>;\n\t\treg = <0x00 0x10000000 0x00 0x1000>;\n\t\tcompatible = \"arm,pl011\\0arm,primecell\";\n\t};\n\n";
        let at = dts.find("\tpl011@9000000 {").expect("QEMU's PL011");
        let mut d = dts.clone();
        d.insert_str(at, node);
        let d2 = d.replace(
            "stdout-path = \"/pl011@9000000\"",
            "stdout-path = \"/pl011@10000000\"",
        );
        assert_ne!(d, d2, "no stdout-path to change");
        d2
    });
    let mut b = Boot::start(&Opts {
        dtb: Some(dtb),
        // pl011@9000000 is not snowvisor's now: Dom0 gets it as ttyAMA0.
        dom0_args: "console=ttyAMA0 snowvisor.test=dmesg".into(),
        ..Opts::default()
    });
    b.expect("snowvisor-dom0: ready", 300);
    b.expect("snowvisor-dom0: dmesg exit 0", 60);
    b.expect("snowvisor-dom0: powering off", 60);
    let all = b.console();
    // On the serial: only what snowvisor wrote before it read the tree.
    let own = own_lines(&all);
    assert!(
        own.iter().all(|l| l.starts_with("snowvisor: ramlog: ")),
        "snowvisor wrote to the board's UART after switching:\n{all}"
    );
    let log = dmesg(&all);
    let gave_up = log
        .iter()
        .position(|l| {
            l.starts_with("snowvisor: warning: console: PL011 /pl011@10000000 at 0x10000000 never became ready to transmit: given up; snowvisor writes to the RAM log only from here")
        })
        .unwrap_or_else(|| panic!("no give-up line in the RAM log\n{all}"));
    // Everything after it is in the RAM log, up to Dom0's start.
    assert!(
        log[gave_up..]
            .iter()
            .any(|l| l.starts_with("snowvisor: dom0: entering kernel")),
        "{all}"
    );
    // The dead UART was not kept from Dom0 (snowvisor does not write to it);
    // pl011@9000000 went to Dom0, which printed on it.
    assert!(
        !log.iter().any(|l| l.contains("kept for snowvisor")),
        "{all}"
    );
    assert!(all.contains("snowvisor-dom0: init reached"), "{all}");
}

#[test]
fn a_tree_without_a_uart_for_snowvisor_means_ram_log_only() {
    // QEMU with two PL011s; the tree loses the first (the board default,
    // 0x09000000) and stdout-path: snowvisor has no UART it may use. Dom0
    // gets the second and prints there (serial1, a file).
    let dtb = two_uart_tree_edited("console-no-uart.dtb", |dts| {
        let start = dts.find("\tpl011@9000000 {").expect("QEMU's PL011");
        let end = start + dts[start..].find("};\n").unwrap() + 3;
        let mut d = String::new();
        d.push_str(&dts[..start]);
        d.push_str(&dts[end..]);
        let d = d
            .lines()
            .filter(|l| !l.contains("stdout-path") && !l.contains("serial0 = "))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(d.contains("pl011@9040000"), "QEMU made no second PL011");
        d
    });
    let serial1 = root().join("target/boot-tests/console-no-uart.serial1");
    let _ = std::fs::remove_file(&serial1);
    let mut b = Boot::start(&Opts {
        dtb: Some(dtb),
        dom0_args: "console=ttyAMA1 snowvisor.test=dmesg".into(),
        qemu_extra: vec!["-serial".into(), format!("file:{}", serial1.display())],
        ..Opts::default()
    });
    b.expect(
        "snowvisor: warning: console: no /chosen/stdout-path, and the device tree describes no PL011 at the board default 0x09000000; snowvisor writes to the RAM log only from here",
        60,
    );
    // Dom0 powers off after reading the log (QEMU then exits).
    b.expect_exit(300);
    let all = b.console();
    let own = own_lines(&all);
    assert!(
        own.last()
            .is_some_and(|l| l.contains("RAM log only from here")),
        "snowvisor wrote to the board default after giving it up:\n{all}"
    );
    let dom0 = std::fs::read_to_string(&serial1)
        .unwrap_or_else(|e| panic!("no second serial {}: {e}\n{all}", serial1.display()))
        .replace('\r', "");
    assert!(dom0.contains("snowvisor-dom0: ready"), "{dom0}");
    assert!(dom0.contains("snowvisor-dom0: dmesg exit 0"), "{dom0}");
    let log = dmesg(&dom0);
    assert!(
        log.iter().any(|l| l.contains("RAM log only from here")),
        "{dom0}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("snowvisor: dom0: entering kernel")),
        "{dom0}"
    );
}

#[test]
fn a_uart_address_where_nothing_answers_does_not_stop_snowvisor() {
    // stdout-path names a PL011 at 0x09100000, where QEMU's virt has nothing:
    // every access takes an external abort at HYP (before, the fatal report
    // of that abort faulted again on the same UART, for ever). The warm-reboot
    // selftest then shows, on the board's UART at the next boot, the RAM
    // log's last line: snowvisor got past the abort to the selftest.
    let dtb = qemu_dtb_edited("console-abort-uart.dtb", |dts| {
        let node = "\tpl011@9100000 {\n\t\treg = <0x00 0x9100000 0x00 0x1000>;\n\t\tcompatible = \"arm,pl011\\0arm,primecell\";\n\t};\n\n";
        let at = dts.find("\tpl011@9000000 {").expect("QEMU's PL011");
        let mut d = dts.clone();
        d.insert_str(at, node);
        d.replace(
            "stdout-path = \"/pl011@9000000\"",
            "stdout-path = \"/pl011@9100000\"",
        )
    });
    let mut b = Boot::start(&Opts {
        dtb: Some(dtb),
        dom0: false,
        reboot: true,
        args: "loglvl=info snowvisor.selftest=reboot".into(),
        ..Opts::default()
    });
    b.expect("ramlog: no previous boot log (cold boot", 60);
    let prev = b.expect("ramlog: previous boot log: ", 120);
    assert!(
        prev.ends_with("last line: snowvisor: selftest: warm reboot through PSCI SYSTEM_RESET"),
        "{prev}"
    );
}
