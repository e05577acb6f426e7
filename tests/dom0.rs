//! Dom0 boot tests: Debian's stock armmp-lpae kernel as Dom0 under snowvisor.

use snowvisor_tests::{Boot, Opts};

#[test]
fn debian_kernel_boots_to_init_and_powers_off() {
    let mut b = Boot::start(&Opts::default());
    b.expect("dom0: memory 0x40a00000-0x7fffffff (1014 MiB, 1:1)", 30);
    b.expect("dom0: entering kernel at", 30);
    b.expect("Booting Linux on physical CPU", 60);
    b.expect("Machine model: linux,dummy-virt", 60);
    let mem = b.expect("Memory: ", 60);
    assert!(mem.contains("K/"), "{mem}");
    b.expect("snowvisor-dom0: init reached", 120);
    let cmd = b.expect("snowvisor-dom0: cmdline", 10);
    assert!(cmd.contains("snowvisor.test=poweroff"), "{cmd}");
    // Linux runs as Xen's Dom0: its poweroff is SCHEDOP_shutdown, not PSCI.
    b.expect("dom0: SCHEDOP_shutdown(poweroff): powering off", 30);
    let status = b.expect_exit(30);
    assert!(status.success(), "QEMU exit {status}");
    assert!(
        !b.console().contains("stage-2 fault"),
        "unexpected stage-2 fault:\n{}",
        b.console()
    );
}

/// Xen's forms: a size in KiB with `max:` (the form Xen on x86 documents and
/// ImageBuilder configurations carry over).
#[test]
fn dom0_mem_limits_dom0() {
    let mut b = Boot::start(&Opts {
        args: "dom0_mem=262144K,max:256M".into(),
        ..Opts::default()
    });
    b.expect_not_before(
        "warning: dom0_mem",
        "dom0: memory 0x40a00000-0x509fffff (256 MiB, 1:1)",
        30,
    );
    let (kib, mt) = memtotal_kib(&mut b);
    assert!(
        kib > 200 * 1024 && kib <= 256 * 1024,
        "MemTotal {kib} kB for dom0_mem=256M: {mt}"
    );
}

/// A 64 MiB Dom0 (where Debian's kernel and initramfs boot natively): the
/// placement comes from the zImage's own size table, not a fixed layout.
#[test]
fn small_dom0_boots_in_64_mib() {
    let mut b = Boot::start(&Opts {
        args: "dom0_mem=64M".into(),
        ..Opts::default()
    });
    let z = b.expect("dom0: zImage ", 30);
    assert!(z.contains("(its size table)"), "{z}");
    b.expect("dom0: memory 0x40a00000-0x449fffff (64 MiB, 1:1)", 30);
    b.expect("snowvisor-dom0: init reached", 180);
    let (kib, mt) = memtotal_kib(&mut b);
    assert!(
        kib > 32 * 1024 && kib <= 64 * 1024,
        "MemTotal {kib} kB for dom0_mem=64M: {mt}"
    );
    b.expect("powering off", 60);
}

/// RAM above 4 GiB: `-m 4096` puts QEMU's RAM at 0x4000_0000-0x1_3fff_ffff.
/// Dom0's stage 2 has a 40-bit IPA (as Xen arm32) and Dom0, an LPAE kernel,
/// gets all of it 1:1; its MemTotal shows it. snowctl selftest's hypercalls
/// then reach buffers in highmem, above 4 GiB, through HYP's window.
#[test]
fn ram_above_4_gib_goes_to_dom0() {
    let mut b = Boot::start(&Opts {
        mem_mib: 4096,
        dom0_args: "snowvisor.test=snowctl".into(),
        ..Opts::default()
    });
    b.expect("memory: bank 0 0x40000000-0x13fffffff (4096 MiB)", 30);
    b.expect("dom0: memory 0x40a00000-0x13fffffff (4086 MiB, 1:1)", 30);
    b.expect("snowvisor-dom0: init reached", 180);
    let (kib, mt) = memtotal_kib(&mut b);
    assert!(
        kib > 3900 * 1024 && kib <= 4086 * 1024,
        "MemTotal {kib} kB with 4086 MiB given: {mt}"
    );
    let summary = loop {
        let l = b.expect("snowvisor-dom0: snowctl selftest: ", 240);
        assert!(!l.contains(": FAIL"), "{l}");
        if l.contains(" passed, ") {
            break l;
        }
    };
    assert!(summary.ends_with(", 0 failed"), "{summary}");
}

/// Too little RAM: the error gives the real need, part by part.
#[test]
fn too_small_dom0_states_the_real_need() {
    let mut b = Boot::start(&Opts {
        args: "dom0_mem=24M".into(),
        ..Opts::default()
    });
    let e = b.expect("fatal: Dom0's first bank is 24 MiB; it needs at least", 30);
    assert!(e.contains("MiB for the decompressed kernel"), "{e}");
}

/// A `dom0_mem=` below one 2 MiB granule: the fatal line names the
/// option, the value and the minimum (it used to say "no RAM left").
#[test]
fn dom0_mem_below_the_minimum_is_named() {
    let mut b = Boot::start(&Opts {
        args: "dom0_mem=1M".into(),
        ..Opts::default()
    });
    b.expect(
        "fatal: dom0_mem=1M: 1 MiB is below the minimum of 2 MiB and rounds down to 0",
        30,
    );
}

#[test]
fn kernel_that_is_not_a_zimage_is_refused() {
    let bad = snowvisor_tests::root().join("target/boot-tests/not-a-zimage.bin");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, vec![0x5au8; 4096]).unwrap();
    let mut cmd = std::process::Command::new(snowvisor_tests::root().join("scripts/run"));
    cmd.args(["--headless", "--image"])
        .arg(snowvisor_tests::image())
        .arg("--kernel")
        .arg(&bad)
        .arg("--no-initrd");
    let mut b = Boot::spawn(cmd);
    b.expect(
        "fatal: Dom0 kernel is not an ARM zImage (word at 0x24 is 0x5a5a5a5a, expected 0x016f2818)",
        30,
    );
}

#[test]
fn stage2_fault_is_reported_and_dom0_survives() {
    let mut b = Boot::start(&Opts {
        dom0_args: "snowvisor.test=s2fault".into(),
        ..Opts::default()
    });
    b.expect("s2fault: reading 0x0c000000", 120);
    let fault = b.expect("dom0: stage-2 fault: read of IPA 0xc000000", 30);
    assert!(fault.contains("no device node"), "{fault}");
    assert!(fault.contains("injecting a data abort"), "{fault}");
    let rc = b.expect("s2fault: devmem exit", 30);
    assert!(
        !rc.ends_with("exit 0"),
        "devmem should have been killed: {rc}"
    );
    b.expect("s2fault: dom0 still running", 10);
    b.expect("powering off", 60);
}

/// QEMU's own tree given back with `-dtb`: QEMU rewrites it in place (boot
/// modules, bootargs) and leaves FDT_NOP tokens, as libfdt fix-ups in
/// bootloaders do. snowvisor reads it as the tree QEMU builds itself.
#[test]
fn qemu_dumped_tree_boots_dom0() {
    let mut b = Boot::start(&Opts {
        dtb: Some(snowvisor_tests::qemu_dtb()),
        ..Opts::default()
    });
    let cpu = b.expect("snowvisor: cpu: MIDR", 30);
    assert!(cpu.ends_with("1 CPU node(s)"), "{cpu}");
    let args = b.expect("snowvisor: bootargs:", 10);
    assert!(args.contains("loglvl=info"), "{args}");
    b.expect("dom0: entering kernel at", 30);
    b.expect("snowvisor-dom0: init reached", 180);
    b.expect("powering off", 60);
}

/// QEMU virt's GIC (and its v2m MSI frame) moved under a `simple-bus` whose
/// `ranges` maps bus address 0 to 0x08000000: snowvisor reads the frames at
/// their CPU addresses, as the plan does, and Dom0 boots on the same tree.
#[test]
fn gic_under_a_bus_with_non_identity_ranges_boots_dom0() {
    let dtb = snowvisor_tests::qemu_dtb_edited("gic-under-soc.dtb", |dts| {
        let start = dts.find("\tintc@8000000 {").expect("intc node");
        let end = start + dts[start..].find("\n\t};\n").expect("intc end") + 4;
        let intc = dts[start..end]
            .replace("intc@8000000", "interrupt-controller@0")
            .replace("v2m@8020000", "v2m@20000")
            .replace(
                "reg = <0x00 0x8000000 0x00 0x10000 0x00 0x8010000 0x00 0x10000 0x00 0x8030000 0x00 0x10000 0x00 0x8040000 0x00 0x10000>;",
                "reg = <0x0 0x10000 0x10000 0x10000 0x30000 0x10000 0x40000 0x10000>;",
            )
            .replace("reg = <0x00 0x8020000 0x00 0x1000>;", "reg = <0x20000 0x1000>;")
            .replace("#size-cells = <0x02>;", "#size-cells = <0x01>;")
            .replace("#address-cells = <0x02>;", "#address-cells = <0x01>;");
        assert!(
            intc.contains("reg = <0x0 0x10000"),
            "QEMU's GIC reg changed:\n{intc}"
        );
        format!(
            "{}\tsoc@8000000 {{\n\t\tcompatible = \"simple-bus\";\n\t\t#address-cells = <0x01>;\n\t\t#size-cells = <0x01>;\n\t\tranges = <0x00 0x00 0x8000000 0x1000000>;\n{}\t}};\n{}",
            &dts[..start],
            intc,
            &dts[end..]
        )
    });
    let mut b = Boot::start(&Opts {
        dtb: Some(dtb),
        ..Opts::default()
    });
    b.expect(
        "gic: GICD 0x08000000 GICC 0x08010000 GICH 0x08030000 GICV 0x08040000",
        30,
    );
    b.expect("dom0: MSI frame 0x8020000", 30);
    b.expect("snowvisor-dom0: init reached", 180);
    b.expect("powering off", 60);
}

/// Without /chosen/stdout-path snowvisor writes to its board-default PL011:
/// that UART is kept from Dom0 (named in the plan), so Dom0 never drives it.
#[test]
fn console_uart_without_stdout_path_is_kept_from_dom0() {
    let dtb = snowvisor_tests::qemu_dtb_edited("no-stdout-path.dtb", |dts| {
        let start = dts.find("\t\tstdout-path = ").expect("stdout-path");
        let end = start + dts[start..].find('\n').unwrap() + 1;
        format!("{}{}", &dts[..start], &dts[end..])
    });
    let mut b = Boot::start(&Opts {
        dtb: Some(dtb),
        ..Opts::default()
    });
    b.expect("uart: no /chosen/stdout-path", 30);
    b.expect(
        "plan: kept for snowvisor, not in Dom0's tree: /pl011@9000000",
        30,
    );
    b.expect("snowvisor-dom0: init reached", 180);
    b.expect("powering off", 60);
    assert!(
        !b.console().contains("ttyAMA0 at MMIO"),
        "Dom0 drives snowvisor's UART:\n{}",
        b.console()
    );
}

/// A device whose registers share a 4 KiB page with an IOMMU snowvisor hides
/// (rk3288's display controller and its IOMMU): snowvisor neither uses nor
/// protects a hidden IOMMU, so Dom0 gets the page and its driver works. Here
/// QEMU's PL061 GPIO shares its page with a (described) Rockchip IOMMU; Linux's
/// AMBA bus reads the PL061's peripheral ID registers through that page.
#[test]
fn device_sharing_a_page_with_a_hidden_iommu_gets_the_page() {
    let dtb = snowvisor_tests::qemu_dtb_edited("gpio-shares-iommu-page.dtb", |dts| {
        let at = dts.find("\tpl061@9030000 {").expect("pl061 node");
        let body = at + dts[at..].find("{\n").unwrap() + 2;
        format!(
            "{}\tiommu@9030800 {{\n\t\tcompatible = \"rockchip,iommu\";\n\t\treg = <0x00 0x9030800 0x00 0x100>;\n\t\t#iommu-cells = <0x00>;\n\t\tphandle = <0x7ff0>;\n\t}};\n\n{}\t\tiommus = <0x7ff0>;\n{}",
            &dts[..at],
            &dts[at..body],
            &dts[body..]
        )
    });
    let out = std::process::Command::new(snowvisor_tests::root().join("scripts/run"))
        .args(["--headless", "--image"])
        .arg(snowvisor_tests::image())
        .arg("--dtb")
        .arg(&dtb)
        .args(["--dom0-cmd", "cat /sys/bus/amba/devices/9030000.pl061/id"])
        .output()
        .expect("scripts/run");
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(out.status.success(), "{}\n{stdout}", out.status);
    assert!(
        stdout.contains("plan: note: /pl061@9030000: 0x9030000+0x1000 is shared with /iommu@9030800, which is hidden (not protected by snowvisor): mapped for /pl061@9030000"),
        "{stdout}"
    );
    // GPIOPeriphID0-3 (offsets 0xfe0-0xfec): part 0x061, designer ARM (0x41).
    assert!(stdout.lines().any(|l| l.ends_with("41061")), "{stdout}");
    assert!(!stdout.contains("stage-2 fault"), "{stdout}");
}

/// QEMU's tree with `/memreserve/` entries and a `/reserved-memory` node
/// holding `children` (dts text).
fn with_reserved_memory(name: &str, memreserve: &str, children: &str) -> std::path::PathBuf {
    snowvisor_tests::qemu_dtb_edited(name, |dts| {
        let dts = dts.replacen("/dts-v1/;\n", &format!("/dts-v1/;\n{memreserve}"), 1);
        let root_end = dts.rfind("};").expect("root end");
        format!(
            "{}\treserved-memory {{\n\t\t#address-cells = <0x02>;\n\t\t#size-cells = <0x02>;\n\t\tranges;\n{children}\t}};\n{}",
            &dts[..root_end],
            &dts[root_end..]
        )
    })
}

/// A `no-map` firmware carve-out and a `/memreserve/` entry inside RAM are
/// listed at boot, stay reserved in Dom0's tree, and Dom0 boots with them.
#[test]
fn reserved_memory_is_listed_and_dom0_boots_around_it() {
    let dtb = with_reserved_memory(
        "reserved-50000000.dtb",
        "/memreserve/ 0x50200000 0x1000;\n",
        "\t\tfw-carveout@50000000 {\n\t\t\treg = <0x00 0x50000000 0x00 0x200000>;\n\t\t\tno-map;\n\t\t};\n",
    );
    let mut b = Boot::start(&Opts {
        dtb: Some(dtb),
        ..Opts::default()
    });
    b.expect(
        "memory: reserved 0x50000000-0x501fffff (2 MiB) /reserved-memory/fw-carveout@50000000 (no-map)",
        30,
    );
    b.expect(
        "memory: reserved 0x50200000-0x50200fff (0 MiB) /memreserve/",
        5,
    );
    b.expect("snowvisor-dom0: init reached", 180);
    b.expect("powering off", 60);
    assert!(
        !b.console().contains("failed to reserve memory"),
        "{}",
        b.console()
    );
}

/// The issue's `no-map` carve-out where snowvisor puts Dom0's device tree
/// without it (the top of the first 128 MiB window, 0x48000000): the tree goes
/// right above it and Dom0 boots; Dom0's kernel reserves the region without
/// complaint and leaves it out of its RAM. A second carve-out lies beyond
/// `dom0_mem`: it is still mapped 1:1 for Dom0 (as Xen does), so Dom0 reads and
/// writes it through /dev/mem instead of faulting.
#[test]
fn dom0_tree_goes_around_a_carve_out_where_it_would_have_gone() {
    let dtb = with_reserved_memory(
        "reserved-48000000.dtb",
        "",
        "\t\tfw-carveout@48000000 {\n\t\t\treg = <0x00 0x48000000 0x00 0x200000>;\n\t\t\tno-map;\n\t\t};\n\t\tfw-high@7f000000 {\n\t\t\treg = <0x00 0x7f000000 0x00 0x100000>;\n\t\t\tno-map;\n\t\t};\n",
    );
    let cmd =
        "grep 'System RAM' /proc/iomem; ls /proc/device-tree/reserved-memory/fw-carveout@48000000; \
               devmem 0x7f000010 32 0x5a0e1234 && devmem 0x7f000010 32";
    let out = std::process::Command::new(snowvisor_tests::root().join("scripts/run"))
        .args(["--headless", "--image"])
        .arg(snowvisor_tests::image())
        .arg("--dtb")
        .arg(&dtb)
        .args(["--hyp-args", "loglvl=info dom0_mem=512M"])
        .args(["--dom0-cmd", cmd])
        .output()
        .expect("scripts/run");
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(out.status.success(), "{}\n{stdout}", out.status);
    let has = |s: &str| stdout.lines().any(|l| l.contains(s));
    assert!(
        has("memory: reserved 0x48000000-0x481fffff (2 MiB) /reserved-memory/fw-carveout@48000000 (no-map)"),
        "{stdout}"
    );
    assert!(has("device tree at 0x48200000"), "{stdout}");
    assert!(
        has("dom0: reserved memory 0x7f000000-0x7f0fffff mapped 1:1 outside Dom0's RAM"),
        "{stdout}"
    );
    assert!(!has("failed to reserve memory"), "{stdout}");
    // no-map: Linux leaves it out of System RAM (which it splits around the
    // region); the node reached Dom0 whole.
    assert!(has("40a00000-47ffffff : System RAM"), "{stdout}");
    assert!(has("48200000-609fffff : System RAM"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().any(|w| w == "no-map")),
        "{stdout}"
    );
    assert!(has("0x5A0E1234"), "{stdout}");
    assert!(!has("stage-2 fault"), "{stdout}");
}

/// Reserved memory over snowvisor's own image: refused by name at boot.
#[test]
fn reserved_memory_over_snowvisor_is_refused() {
    let dtb = with_reserved_memory(
        "reserved-over-snowvisor.dtb",
        "/memreserve/ 0x40200000 0x1000;\n",
        "",
    );
    let mut b = Boot::start(&Opts {
        dtb: Some(dtb),
        dom0: false,
        ..Opts::default()
    });
    let l = b.expect("fatal: snowvisor's memory", 30);
    assert!(
        l.ends_with("overlaps reserved memory /memreserve/ at 0x40200000-0x40200fff: load snowvisor elsewhere"),
        "{l}"
    );
}

/// Dom0's MemTotal in kB and the line it came from (Dom0's /init prints it).
fn memtotal_kib(b: &mut Boot) -> (u64, String) {
    let mt = b.expect("snowvisor-dom0: memtotal", 180);
    let kib = mt
        .split_whitespace()
        .rev()
        .nth(1)
        .and_then(|k| k.parse().ok())
        .unwrap_or(0);
    (kib, mt)
}
