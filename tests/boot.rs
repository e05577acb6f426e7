//! Foundation boot tests: snowvisor in QEMU virt, checked on its console.

use snowvisor_tests::{qemu_dtb, Boot, Opts};

#[test]
fn boot_summary_has_qemu_values() {
    let mut b = Boot::start(&Opts {
        args: "loglvl=debug".into(),
        ..Opts::default()
    });
    b.expect("snowvisor: snowvisor 0.1.0 (linux,dummy-virt)", 30);
    let cpu = b.expect("cpu: MIDR 0x414fc0f0 (Cortex-A15", 5);
    assert!(cpu.contains("mode HYP"), "{cpu}");
    b.expect("memory: bank 0 0x40000000-0x7fffffff (1024 MiB)", 5);
    b.expect("gic: GICD 0x08000000 GICC 0x08010000 GICH 0x08030000 GICV 0x08040000 maintenance INTID 25, 4 list registers", 5);
    b.expect("timer: 62.500 MHz (CNTFRQ), hyp INTID 26, virt INTID 27", 5);
    b.expect("uart: /pl011@9000000 (arm,pl011) at 0x09000000", 5);
    b.expect("devices: ", 5);
    b.expect("bootargs: \"loglvl=debug\"", 5);
    b.expect("module: module@0x46000000 Kernel", 5);
    b.expect("hyp: MMU and caches on (HSCTLR.M=1)", 5);
    b.expect("timer: HYP timer interrupt INTID 26 handled", 5);
}

#[test]
fn memory_size_follows_qemu() {
    let mut b = Boot::start(&Opts {
        mem_mib: 512,
        dom0: false,
        ..Opts::default()
    });
    b.expect("memory: bank 0 0x40000000-0x5fffffff (512 MiB)", 30);
}

#[test]
fn unknown_boot_argument_is_reported() {
    let mut b = Boot::start(&Opts {
        args: "loglvl=info frobnicate=1".into(),
        dom0: false,
        ..Opts::default()
    });
    b.expect("warning: unknown boot argument 'frobnicate=1' ignored", 30);
}

#[test]
fn corrupt_dtb_gives_clear_error() {
    // A real QEMU tree with one node name made invalid: QEMU still loads it
    // (it only checks what it edits), snowvisor must refuse it by name.
    let mut blob = std::fs::read(qemu_dtb()).unwrap();
    let at = blob
        .windows(8)
        .position(|w| w == b"flash@0\0")
        .expect("flash node");
    blob[at] = 0xff;
    let path = qemu_dtb().with_file_name("corrupt-node-name.dtb");
    std::fs::write(&path, &blob).unwrap();
    let mut b = Boot::start(&Opts {
        dtb: Some(path),
        dom0: false,
        ..Opts::default()
    });
    b.expect_not_before(
        "snowvisor: memory:",
        "fatal: device tree structure is corrupt at byte",
        30,
    );
    assert!(
        b.console().contains("node name is not UTF-8"),
        "{}",
        b.console()
    );
    b.expect("snowvisor: resetting in 5 s", 5);
}

#[test]
fn missing_dom0_module_is_named() {
    let mut b = Boot::start(&Opts {
        dom0: false,
        ..Opts::default()
    });
    b.expect(
        "fatal: no Dom0 kernel: /chosen has no kernel module; expected a /chosen child (any name) with compatible \"multiboot,kernel\" or \"xen,linux-zimage\", or the first with only \"multiboot,module\" or \"xen,multiboot-module\"",
        30,
    );
}

/// After a fatal error snowvisor waits `panic=` seconds (default 5), then
/// resets the machine through PSCI; `scripts/run` runs QEMU with `-no-reboot`,
/// so QEMU ends instead of waiting for the caller's timeout.
#[test]
fn fatal_error_resets_the_machine_after_panic_seconds() {
    let mut b = Boot::start(&Opts {
        dom0: false,
        ..Opts::default()
    });
    b.expect("fatal: no Dom0 kernel", 30);
    b.expect(
        "snowvisor: resetting in 5 s (panic=5; panic=0 halts instead)",
        5,
    );
    b.expect("snowvisor: resetting the machine", 60);
    let status = b.expect_exit(30);
    assert!(status.success(), "QEMU exit {status}");
    let mut b = Boot::start(&Opts {
        args: "panic=1".into(),
        dom0: false,
        ..Opts::default()
    });
    b.expect("snowvisor: resetting in 1 s (panic=1;", 30);
    b.expect("snowvisor: resetting the machine", 30);
    b.expect_exit(30);
}

/// `panic=0` (and Xen's `noreboot`) keeps the machine halted for a debugger.
#[test]
fn panic_0_and_noreboot_halt() {
    for args in ["panic=0", "noreboot"] {
        let mut b = Boot::start(&Opts {
            args: args.into(),
            dom0: false,
            ..Opts::default()
        });
        b.expect("fatal: no Dom0 kernel", 30);
        b.expect("snowvisor: halted (panic=0)", 5);
        std::thread::sleep(std::time::Duration::from_secs(7));
        assert!(b.is_running(), "QEMU exited after {args}:\n{}", b.console());
    }
}

#[test]
fn unexpected_exception_prints_register_dump() {
    let mut b = Boot::start(&Opts {
        args: "snowvisor.selftest=undef".into(),
        dom0: false,
        ..Opts::default()
    });
    b.expect("selftest: executing an undefined instruction at HYP", 30);
    b.expect(
        "error: unexpected exception: undefined instruction at HYP",
        5,
    );
    let hsr = b.expect("error: HSR=", 5);
    assert!(hsr.contains("EC=0x00 (unknown reason)"), "{hsr}");
    b.expect("error: HDFAR=", 5);
    let elr = b.expect("error: ELR_hyp=", 5);
    assert!(elr.contains("(HYP mode)"), "{elr}");
    b.expect("error: r0 =", 5);
    b.expect("error: lr=", 5);
    b.expect("fatal: halting on unexpected exception", 5);
}

/// `loglvl=none`: snowvisor prints no line below an error (Xen prints
/// nothing at that level), the RAM log's boot lines included (they are
/// noted before the boot arguments are read and printed after).
#[test]
fn loglvl_none_prints_no_info_line() {
    let mut b = Boot::start(&Opts {
        args: "loglvl=none".into(),
        ..Opts::default()
    });
    b.expect("snowvisor-dom0: powering off", 300);
    b.expect_exit(60);
    let all = b.console();
    let own: Vec<&str> = all
        .lines()
        .filter(|l| l.starts_with("snowvisor: "))
        .collect();
    assert!(own.is_empty(), "loglvl=none printed {own:#?}\n{all}");
}
