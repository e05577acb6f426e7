//! Entry in Secure SVC, as the Chromebook Snow's stock firmware most likely
//! enters snowvisor: QEMU `virt,secure=on,virtualization=on` starts an ELF image
//! in Secure SVC with r0-r2 = 0 and no DTB (no room below an ELF linked at
//! 0x4001_0000). The test dumps QEMU's tree for the same machine (via the raw
//! image, for which QEMU does build and dump one, with the Dom0 modules of
//! guest-loader in /chosen), loads it at 0x4800_0000 with `-device loader`, and
//! pokes that address into the word at RAM base, where the qemu-virt board
//! looks when r2 = 0 (`Board::DTB_POINTER_WORD`).
//!
//! With `secure=on` and an ELF, QEMU implements no PSCI (the SMC conduit is
//! for firmware to provide), even though the dumped tree has a psci node: SMCs
//! reach snowvisor's own monitor, which answers NOT_SUPPORTED.
//!
//! Also: entry in Non-secure SVC (`secure=on` without `virtualization`: QEMU's
//! own boot stub drops a raw image to Non-secure SVC) must stop with a clear
//! error.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use snowvisor_tests::{dom0, image, root, Boot};

const DTB_ADDR: &str = "0x48000000";
/// The qemu-virt board's `DTB_POINTER_WORD`.
const DTB_POINTER_WORD: &str = "0x40000000";
/// scripts/lib/qemu.sh's DOM0_KERNEL_ADDR and DOM0_INITRD_ADDR.
const KERNEL_ADDR: &str = "0x42000000";
const INITRD_ADDR: &str = "0x44000000";
const DOM0_ARGS: &str = "console=ttyAMA0 snowvisor.test=poweroff";

fn qemu(machine: &str, smp: u32) -> Command {
    let mut c = Command::new("qemu-system-arm");
    c.args([
        "-M",
        machine,
        "-cpu",
        "cortex-a15",
        "-m",
        "1024",
        "-nic",
        "none",
        "-smp",
        &smp.to_string(),
    ]);
    c
}

fn with_dom0(c: &mut Command) {
    let (kernel, initrd) = dom0();
    c.arg("-device").arg(format!(
        "guest-loader,addr={KERNEL_ADDR},kernel={},bootargs={}",
        kernel.display(),
        DOM0_ARGS.replace(',', ",,")
    ));
    c.arg("-device").arg(format!(
        "guest-loader,addr={INITRD_ADDR},initrd={}",
        initrd.display()
    ));
}

/// QEMU's tree for `virt,secure=on,virtualization=on` with snowvisor's
/// arguments and (optionally) the Dom0 modules in /chosen.
fn secure_dtb(args: &str, with_modules: bool, smp: u32) -> PathBuf {
    let dir = root().join("target").join("boot-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "qemu-virt-secure{}-smp{smp}.dtb",
        if with_modules { "-dom0" } else { "" }
    ));
    let mut c = qemu(
        &format!(
            "virt,secure=on,virtualization=on,highmem-ecam=off,dumpdtb={}",
            path.display()
        ),
        smp,
    );
    c.args(["-display", "none", "-kernel"])
        .arg(image())
        .args(["-append", args]);
    if with_modules {
        with_dom0(&mut c);
    }
    let status = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("qemu-system-arm");
    assert!(
        status.success() && path.exists(),
        "dumping QEMU's secure=on DTB failed"
    );
    path
}

/// Starts the ELF in Secure SVC with the tree at DTB_ADDR.
fn boot_secure(dtb: &Path, with_modules: bool, smp: u32) -> Boot {
    let elf = image().with_file_name("snowvisor.elf");
    assert!(
        elf.exists(),
        "{} missing (scripts/build writes it)",
        elf.display()
    );
    let mut c = qemu("virt,secure=on,virtualization=on,highmem-ecam=off", smp);
    c.args([
        "-display", "none", "-serial", "stdio", "-monitor", "none", "-kernel",
    ])
    .arg(&elf);
    c.arg("-device").arg(format!(
        "loader,file={},addr={DTB_ADDR},force-raw=on",
        dtb.display()
    ));
    c.arg("-device").arg(format!(
        "loader,addr={DTB_POINTER_WORD},data={DTB_ADDR},data-len=4"
    ));
    if with_modules {
        with_dom0(&mut c);
    }
    Boot::spawn(c)
}

#[test]
fn secure_svc_entry_switches_to_hyp_and_boots_dom0() {
    let dtb = secure_dtb("loglvl=info", true, 1);
    let mut b = boot_secure(&dtb, true, 1);
    let line = b.expect("entered in Secure SVC, switched to HYP", 30);
    assert!(line.contains("CPSR was 0x400001d3"), "{line}");
    let cpu = b.expect("cpu: MIDR", 10);
    assert!(cpu.contains("mode HYP"), "{cpu}");
    // Interrupts reach HYP: the GIC's interrupts were moved to group 1.
    b.expect("timer: HYP timer interrupt INTID 26 handled", 10);
    b.expect("dom0: entering kernel at", 30);
    b.expect("Booting Linux on physical CPU", 60);
    b.expect("snowvisor-dom0: init reached", 120);
}

#[test]
fn secure_switch_alone_and_the_monitor_answers_smc() {
    // The switch itself, independent of Dom0. With secure=on and an ELF, QEMU
    // does not implement PSCI itself, so the self-test's SYSTEM_RESET `smc`
    // reaches snowvisor's own monitor vector, which answers NOT_SUPPORTED.
    let dtb = secure_dtb("loglvl=info snowvisor.selftest=reboot", false, 1);
    let mut b = boot_secure(&dtb, false, 1);
    b.expect("entered in Secure SVC, switched to HYP", 30);
    b.expect("hyp: MMU and caches on (HSCTLR.M=1)", 10);
    b.expect("selftest: warm reboot through PSCI SYSTEM_RESET", 10);
    b.expect(
        "selftest: PSCI SYSTEM_RESET returned 0xffffffff; still running",
        10,
    );
    b.expect("no Dom0 kernel", 10);
}

#[test]
fn non_secure_svc_entry_is_refused_clearly() {
    let mut c = qemu("virt,secure=on,highmem-ecam=off", 1);
    c.args([
        "-display", "none", "-serial", "stdio", "-monitor", "none", "-kernel",
    ])
    .arg(image());
    let mut b = Boot::spawn(c);
    let line = b.expect("entered in Non-secure SVC", 30);
    assert!(
        line.contains("only secure firmware can enter HYP"),
        "{line}"
    );
    b.expect("snowvisor: halted", 10);
}

/// With `-smp 2`, QEMU starts both CPUs at the ELF's entry in Secure SVC
/// (no PSCI on a Secure boot): CPU 1 waits in snowvisor's pen while CPU 0
/// boots, is released, switches itself to HYP (its banked GIC state only:
/// the distributor CPU 0 set up stays on) and comes up like any secondary;
/// Dom0 then boots with the interrupts still reaching it.
#[test]
fn secure_svc_entry_smp2_secondary_switches_from_the_pen() {
    let dtb = secure_dtb("loglvl=info", true, 2);
    let mut b = boot_secure(&dtb, true, 2);
    let line = b.expect("entered in Secure SVC, switched to HYP", 60);
    assert!(line.contains("CPSR was 0x400001d3"), "{line}");
    let line = b.expect("smp: /cpus/cpu@1: CPU with MPIDR", 120);
    assert!(
        line.contains(
            "MPIDR 0x80000001 up in HYP (released from the pen, entered in SVC (CPSR 0x400001d3))"
        ),
        "{line}"
    );
    b.expect("smp: 2 of 2 CPUs up in HYP", 60);
    b.expect("dom0: entering kernel at", 60);
    b.expect("snowvisor-dom0: init reached", 240);
}
