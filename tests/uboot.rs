//! A real bootloader in the loop: Debian's u-boot-qemu (U-Boot's `qemu_arm`)
//! as QEMU's `-bios` loads snowvisor and Dom0 from a virtio disk
//! (`scripts/lib/uboot.sh`). U-Boot for qemu_arm has no non-secure/HYP switch
//! of its own: it runs in HYP, where QEMU starts it with `virtualization=on`,
//! and enters snowvisor there.

use snowvisor_tests::{Boot, Opts};

fn uboot(mode: &'static str) -> Boot {
    Boot::start(&Opts {
        uboot: Some(mode),
        dom0_args: "console=hvc0 snowvisor.test=poweroff".into(),
        ..Opts::default()
    })
}

/// snowvisor's banner and entry mode, up to its boot arguments.
fn entered_in_hyp(b: &mut Boot) {
    b.expect("Starting kernel", 60);
    b.expect("snowvisor: snowvisor 0.1.0 (linux,dummy-virt)", 30);
    let cpu = b.expect("snowvisor: cpu: MIDR", 10);
    assert!(cpu.contains("mode HYP"), "{cpu}");
    b.expect("bootargs: \"loglvl=info\"", 10);
}

fn boots_to_dom0_init(b: &mut Boot) {
    b.expect("dom0: entering kernel at", 60);
    b.expect("snowvisor-dom0: init reached", 180);
    let cmd = b.expect("snowvisor-dom0: cmdline", 10);
    assert!(cmd.contains("snowvisor.test=poweroff"), "{cmd}");
    b.expect("dom0: SCHEDOP_shutdown(poweroff): powering off", 60);
    let status = b.expect_exit(30);
    assert!(status.success(), "QEMU exit {status}");
}

/// (a) The ImageBuilder way: `load` the images, `fdt addr/resize`, `fdt mknod
/// /chosen/dom0` and `/chosen/dom0-ramdisk`, `fdt set` compatible/reg/bootargs,
/// then `bootz`; U-Boot's own fix-ups of the tree happen on top.
#[test]
fn uboot_boot_script_and_bootz() {
    let mut b = uboot("script");
    b.expect("U-Boot 20", 60);
    b.expect("Found U-Boot script /boot.scr", 60);
    b.expect("snowvisor boot script (ImageBuilder style)", 10);
    entered_in_hyp(&mut b);
    b.expect("module: dom0-ramdisk Ramdisk 0x44000000-", 30);
    let k = b.expect("module: dom0 Kernel 0x46000000-", 10);
    assert!(
        k.contains("bootargs \"console=hvc0 snowvisor.test=poweroff\""),
        "{k}"
    );
    boots_to_dom0_init(&mut b);
}

/// (b) `scripts/snow-image --board qemu-virt`'s FIT through `bootm`: U-Boot
/// copies the payload (snowvisor, Dom0 kernel, initrd) to the load address and
/// passes the FIT's tree with its /chosen/module@ nodes.
#[test]
fn uboot_fit_and_bootm() {
    let mut b = uboot("fit");
    b.expect("U-Boot 20", 60);
    b.expect("## Loading kernel from FIT Image", 60);
    entered_in_hyp(&mut b);
    b.expect("module: module@", 30);
    let k = b.expect("Kernel 0x", 10);
    assert!(
        k.contains("bootargs \"console=hvc0 snowvisor.test=poweroff\""),
        "{k}"
    );
    boots_to_dom0_init(&mut b);
}

/// The same with booting.txt's older forms (the issue's `/chosen/dom0 {
/// compatible = "xen,linux-zimage", "xen,multiboot-module"; }`), and Dom0's
/// command line only in `/chosen/xen,dom0-bootargs`: Dom0 gets all of it, and
/// the log says where it came from.
#[test]
fn uboot_old_module_compatibles_and_dom0_bootargs() {
    let mut b = Boot::start(&Opts {
        uboot: Some("script-old"),
        dom0_args: "console=hvc0 quiet snowvisor.test=poweroff".into(),
        ..Opts::default()
    });
    b.expect("Found U-Boot script /boot.scr", 120);
    entered_in_hyp(&mut b);
    b.expect("module: dom0-ramdisk Ramdisk 0x44000000-", 30);
    let k = b.expect("module: dom0 Kernel 0x46000000-", 10);
    assert!(!k.contains("bootargs"), "{k}");
    b.expect(
        "dom0: command line from /chosen/xen,dom0-bootargs: \"console=hvc0 quiet snowvisor.test=poweroff\"",
        30,
    );
    b.expect("dom0: entering kernel at", 60);
    b.expect("snowvisor-dom0: init reached", 180);
    let cmd = b.expect("snowvisor-dom0: cmdline", 10);
    assert!(cmd.contains("quiet snowvisor.test=poweroff"), "{cmd}");
}
