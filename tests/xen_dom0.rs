//! Debian's stock kernel as Xen's initial domain under snowvisor: Xen found in
//! the device tree, hypercalls for shared_info, grant tables and event
//! channels, the console on hvc0 through CONSOLEIO_write, input through
//! VIRQ_CONSOLE, the Ctrl-a console switch, and poweroff through
//! SCHEDOP_shutdown.

use std::process::Command;

use snowvisor_tests::{dom0, image, Boot, Opts};

fn opts(args: &str, dom0_args: &str) -> Opts {
    Opts {
        args: args.into(),
        dom0_args: dom0_args.into(),
        ..Opts::default()
    }
}

/// The `features` submap 0 `/init`'s `tests/xen` printed.
fn features(b: &mut Boot) -> u32 {
    let line = b.expect("snowvisor-dom0: xen features ", 120);
    let hex = line.rsplit(' ').next().unwrap_or("");
    u32::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("features: {line}"))
}

fn assert_no_bad_signs(b: &Boot) {
    let c = b.console();
    for bad in [
        "stage-2 fault",
        "Xen event channel interrupt not found",
        "Xen grant table region is not found",
        "add_to_physmap failed",
        "Cannot get hvm parameter",
        "is secure or misconfigured",
        "kernel BUG",
        "Waiting for devices to initialise",
        "unexpected exception",
    ] {
        assert!(!c.contains(bad), "{bad:?} on the console:\n{c}");
    }
}

#[test]
fn dom0_detects_xen_runs_on_hvc0_and_powers_off() {
    let mut b = Boot::start(&opts("loglvl=info", "snowvisor.test=poweroff"));
    b.expect("dom0: console=hvc0 added to Dom0's command line", 30);
    let x = b.expect("xen: Dom0 sees Xen 4.17: grant table at 0x", 30);
    assert!(x.contains("event channels on PPI 31"), "{x}");
    b.expect("console: /pl011@9000000 input on INTID 33", 30);
    b.expect("Booting Linux on physical CPU", 60);
    b.expect("Xen 4.17 support found", 30);
    let cmd = b.expect("Kernel command line:", 30);
    assert!(
        cmd.ends_with("snowvisor.test=poweroff console=hvc0"),
        "{cmd}"
    );
    b.expect("printk: console [hvc0] enabled", 30);
    b.expect("xen:grant_table: Grant tables using version 1 layout", 60);
    b.expect("Grant table initialized", 10);
    b.expect("xen:events: Using 2-level ABI", 10);
    b.expect("Xen: initializing cpu0", 10);
    // QEMU's devices are behind no IOMMU: Dom0 is direct mapped, swiotlb-xen on.
    b.expect("software IO TLB: mapped [mem", 60);
    b.expect("xen:balloon: Initialising balloon driver", 60);
    b.expect("Run /init as init process", 120);
    b.expect("snowvisor-dom0: init reached", 60);
    b.expect("snowvisor-dom0: hypervisor xen", 30);
    b.expect("dom0: SCHEDOP_shutdown(poweroff): powering off", 60);
    let status = b.expect_exit(30);
    assert!(status.success(), "QEMU exit {status}");
    assert_no_bad_signs(&b);
}

#[test]
fn dom0_reads_xen_facts_and_has_event_channels() {
    let mut b = Boot::start(&opts("loglvl=info", "snowvisor.test=xen"));
    b.expect("snowvisor-dom0: test xen start", 180);
    b.expect("snowvisor-dom0: xen type xen", 10);
    b.expect("snowvisor-dom0: xen version 4.17-snowvisor", 10);
    let f = features(&mut b);
    assert_eq!(f & (1 << 11), 1 << 11, "XENFEAT_dom0 in {f:#x}");
    assert_eq!(
        f & (1 << 2),
        1 << 2,
        "XENFEAT_auto_translated_physmap in {f:#x}"
    );
    assert_eq!(
        f & (3 << 16),
        1 << 17,
        "direct_mapped, not not_direct_mapped, in {f:#x}"
    );
    // Every bit Xen 4.17 gives an ARM hardware domain (common/kernel.c):
    // writable_page_tables, memory_op_vnode_supported, ARM_SMCCC_supported too.
    assert_eq!(f, 0x0002_6805, "Xen 4.17's submap 0 for Dom0: {f:#x}");
    b.expect("snowvisor-dom0: xen pagesize 1000", 10);
    // The upcall PPI has fired (at least the vcpu_info registration's), and
    // hvc0 bound VIRQ_CONSOLE to an event channel.
    let events = b.expect("snowvisor-dom0: xen irq ", 10);
    assert!(
        events.contains("GIC-0  31 Level") && events.contains("events"),
        "{events}"
    );
    let count: u64 = events
        .split_whitespace()
        .nth(4)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(count >= 1, "no upcall taken: {events}");
    let hvc = b.expect("snowvisor-dom0: xen irq ", 10);
    assert!(
        hvc.contains("-virq") && hvc.contains("hvc_console"),
        "{hvc}"
    );
    // `modprobe xenfs` finds the module by name; /proc/xen says Dom0.
    b.expect("snowvisor-dom0: xen xenfs control_d", 30);
    b.expect("snowvisor-dom0: test xen exit 0", 30);
    b.expect("dom0: SCHEDOP_shutdown(poweroff): powering off", 60);
    assert!(b.expect_exit(30).success());
    assert_no_bad_signs(&b);
}

#[test]
fn swiotlb_off_reports_not_direct_mapped() {
    let mut b = Boot::start(&opts("loglvl=info swiotlb=off", "snowvisor.test=xen"));
    let x = b.expect("xen: Dom0 sees Xen 4.17", 30);
    assert!(x.contains("not direct mapped (swiotlb-xen off)"), "{x}");
    b.expect_not_before("software IO TLB", "snowvisor-dom0: init reached", 180);
    let f = features(&mut b);
    assert_eq!(f & (3 << 16), 1 << 16, "not_direct_mapped only, in {f:#x}");
    assert_eq!(f & (1 << 11), 1 << 11, "still Dom0: {f:#x}");
    b.expect("dom0: SCHEDOP_shutdown(poweroff): powering off", 60);
}

/// QEMU with the serial console on stdio and stdin kept for typing (as
/// scripts/lib/qemu.sh's `qemu_virt_cmd` builds it, with `--headless`, which
/// cannot take input).
fn qemu_with_input(dom0_args: &str) -> Command {
    let (kernel, initrd) = dom0();
    let mut c = Command::new("qemu-system-arm");
    c.args(["-M", "virt,virtualization=on,highmem-ecam=off"])
        .args(["-cpu", "cortex-a15", "-m", "1024", "-nic", "none"])
        .arg("-kernel")
        .arg(image())
        .args(["-append", "loglvl=info"]);
    c.arg("-device").arg(format!(
        "guest-loader,addr=0x42000000,kernel={},bootargs={}",
        kernel.display(),
        dom0_args.replace(',', ",,")
    ));
    c.arg("-device").arg(format!(
        "guest-loader,addr=0x44000000,initrd={}",
        initrd.display()
    ));
    c.args(["-display", "none", "-serial", "stdio", "-monitor", "none"]);
    c
}

#[test]
fn typing_reaches_dom0_and_ctrl_a_switches_to_snowvisor() {
    let mut b = Boot::spawn_interactive(qemu_with_input(""));
    b.expect("snowvisor-dom0: starting shell", 180);
    // UART receive interrupt -> VIRQ_CONSOLE -> hvc0 -> CONSOLEIO_read -> sh.
    b.send(b"echo typed-$((6*7))\r");
    b.expect("typed-42", 30);

    b.send(&[1, 1, 1]);
    b.expect("*** serial input to snowvisor", 10);
    b.send(b"h");
    b.expect("'e': event channels", 10);
    b.send(b"e");
    b.expect("xen: shared_info gfn 0x", 10);
    let virq = b.expect("xen: port ", 10);
    assert!(virq.contains("Unbound"), "xenstore's port first: {virq}");
    let virq = b.expect("xen: port ", 10);
    assert!(virq.contains("Virq(2)"), "VIRQ_CONSOLE: {virq}");
    b.send(b"r");
    b.expect("dom0 vCPU 0: lr_usr=", 10);
    // Exit counters: Dom0's boot made hypercalls and took timer interrupts.
    b.send(b"s");
    b.expect("snowvisor: exits: hypercall 0x", 10);
    b.expect("snowvisor: exits: irq 0x1b: ", 10);

    // Back to Dom0: keys reach the shell again, not snowvisor.
    b.send(&[1, 1, 1]);
    b.expect("*** serial input to Dom0", 10);
    b.send(b"echo back-$((2*3)) && poweroff -f\r");
    b.expect("back-6", 30);
    b.expect("dom0: SCHEDOP_shutdown(poweroff): powering off", 30);
    assert!(b.expect_exit(30).success());
    assert_no_bad_signs(&b);
}
