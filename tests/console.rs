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

/// A DomU writing its console as fast as it can (`seq 1 30000` to ttyAMA0:
/// 168,894 bytes through its vpl011, one trap per byte) next to Dom0: its
/// UART waits for the console's room instead of losing output, so every
/// number arrives, once and in order, each line whole and prefixed; Dom0
/// answers all along (a line a second) and nothing is reported lost.
#[test]
fn a_flooding_domu_loses_nothing_and_dom0_answers() {
    const N: u32 = 30000;
    let mut b = Boot::start(&Opts {
        smp: 2,
        dom0_args: "console=hvc0".into(),
        domus: vec!["default".into()],
        // loglevel=1: the DomU kernel's own warnings (e.g. "hrtimer:
        // interrupt took ... ns" on a loaded host) would land in the
        // middle of a number's line on the same UART.
        domu_args: Some(format!(
            "console=ttyAMA0 loglevel=1 snowvisor.test=flood snowvisor.flood={N}"
        )),
        // Dom0 says it is alive each second until d1 has powered off.
        dom0_cmd: Some(
            "[ -e /dev/xen/privcmd ] || insmod /lib/modules/xen-privcmd.ko 2>/dev/null; \
             i=0; until snowctl dmesg 2>/dev/null | grep -q 'd1: PSCI SYSTEM_OFF'; do \
             i=$((i+1)); echo \"dom0 alive $i\"; [ $i -lt 900 ] || exit 1; sleep 1; done; \
             echo \"dom0 alive: $i lines\""
                .into(),
        ),
        ..Opts::default()
    });
    b.expect(&format!("(d1) snowvisor-dom0: flood start {N}"), 600);
    b.expect(&format!("(d1) snowvisor-dom0: flood sent {N}"), 600);
    b.expect(
        "snowvisor: d1: PSCI SYSTEM_OFF: this domain is off (the others go on)",
        600,
    );
    let alive = b.expect("dom0 alive: ", 120);
    b.expect("snowvisor-dom0: cmd exit 0", 60);
    let all = b.console();
    let start = all.find("(d1) snowvisor-dom0: flood start").unwrap();
    let end = all.find("(d1) snowvisor-dom0: flood sent").unwrap();
    let numbers: Vec<&str> = all[start..end]
        .lines()
        .filter_map(|l| l.strip_prefix("(d1) "))
        .filter(|l| !l.starts_with("snowvisor-dom0: "))
        .collect();
    let want: Vec<String> = (1..=N).map(|i| i.to_string()).collect();
    if numbers != want {
        let first_bad = numbers
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(numbers.len().min(want.len()));
        panic!(
            "{} of {N} numbers arrived; the first difference at line {first_bad}: {:?} (expected {:?})",
            numbers.len(),
            numbers.get(first_bad),
            want.get(first_bad)
        );
    }
    // No line in the flood's span has a DomU line glued into it, and no
    // number lost its prefix (a cut line).
    for l in all[start..end].lines() {
        assert!(
            !l.contains("(d1) ") || l.starts_with("(d1) "),
            "a DomU line glued to another: {l:?}"
        );
        assert!(l.parse::<u32>().is_err(), "a DomU line cut: {l:?}");
    }
    // Dom0 answered throughout, each of its lines whole.
    let n: u32 = alive
        .trim_start_matches("dom0 alive: ")
        .trim_end_matches(" lines")
        .parse()
        .unwrap();
    for i in 1..=n {
        assert!(
            all.lines().any(|l| l == format!("dom0 alive {i}")),
            "no whole 'dom0 alive {i}'"
        );
    }
    assert!(!all.contains("of output lost"), "loss reported:\n{all}");
}

/// Input typed for Dom0 reaches Dom0 while a DomU's vCPU holds the one CPU
/// (`--smp 1`, the DomU spins): the UART's interrupt then arrives with the
/// DomU's vCPU loaded, and every byte still goes to Dom0's hvc0, none to the
/// DomU, none lost.
#[test]
fn dom0_input_reaches_dom0_while_a_domu_holds_the_cpu() {
    let mut b = Boot::start(&Opts {
        smp: 1,
        dom0_args: "console=hvc0".into(),
        domus: vec!["default,128".into()],
        domu_args: Some("console=ttyAMA0 snowvisor.test=spin".into()),
        serial_stdin: true,
        ..Opts::default()
    });
    b.expect_all(
        &[
            "(d1) snowvisor-dom0: spinning",
            "snowvisor-dom0: starting shell",
        ],
        1200,
    );
    for n in 1..=16 {
        b.send(format!("echo typed-{n}-$(({n}*7))\r").as_bytes());
        let l = b.expect(&format!("typed-{n}-{}", n * 7), 60);
        assert!(!l.starts_with("(d1)"), "{l}");
    }
    b.send(b"poweroff -f\r");
    b.expect_exit(120);
}
