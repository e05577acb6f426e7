//! Owned SMMUv3 boot tests (`scripts/run --smmu`): QEMU's `arm-smmuv3` in
//! front of the PCIe host, a virtio-blk-pci disk behind it, and Dom0 doing a
//! checksum round trip on that disk with all its DMA translated by the SMMU
//! through Dom0's own stage-2 tables.
//!
//! A bare-metal guest (`qemu/dma-attack`) booted as Dom0 then aims the same
//! disk's DMA at snowvisor's image and at RAM no domain owns: the SMMU must
//! fault it, and snowvisor's checksums of those pages must not change.
//!
//! The disk signals completions with MSI-X through QEMU's GICv2m frame, whose
//! SPIs snowvisor reads from the frame's MSI_TYPER and routes to Dom0.

use std::process::Command;

use std::path::PathBuf;
use std::sync::OnceLock;

use snowvisor_tests::{dom0, image, root, Boot};

const DOM0_ARGS: &str = "snowvisor.test=blk";

fn boot_smmu(args: &str, stage: Option<&str>) -> Boot {
    let (k, i) = dom0();
    let mut cmd = Command::new(root().join("scripts/run"));
    cmd.args(["--headless", "--smmu", "--image"]).arg(image());
    cmd.args(["--args", args, "--dom0-args", DOM0_ARGS]);
    cmd.arg("--kernel").arg(k).arg("--initrd").arg(i);
    if let Some(s) = stage {
        cmd.args(["--smmu-stage", s]);
    }
    Boot::spawn(cmd)
}

#[test]
fn dom0_disk_round_trip_through_the_owned_smmu() {
    let mut b = boot_smmu("loglvl=info", None);
    let row = b.expect("plan: /smmuv3@9050000", 30);
    assert!(
        row.contains(" own ") && row.contains("snowvisor drives it (default)"),
        "{row}"
    );
    b.expect(
        "plan: own /smmuv3@9050000: regs 0x9050000+0x20000, irqs [eventq=106",
        30,
    );
    let f = b.expect("smmuv3 /smmuv3@9050000: stage 2", 30);
    assert!(f.contains("AArch64 tables"), "{f}");
    let own = b.expect("smmuv3 /smmuv3@9050000: own: ", 30);
    assert!(
        own.contains("4096 stream(s) attached to dom0 stage 2 (VMID 1")
            && own.contains("every other stream aborts")
            && own.ends_with("translation on"),
        "{own}"
    );
    b.expect("dom0: entering kernel", 30);
    b.expect("snowvisor-dom0: test blk start", 120);
    // MSIs reach Dom0: the v2m frame's SPIs are routed (minus the SMMU's own).
    let c = b.console();
    assert!(
        c.contains("dom0: MSI frame 0x8020000: SPIs (INTID) 80-143"),
        "{c}"
    );
    assert!(
        c.contains(
            "MSI frame 0x8020000: INTIDs [106, 107, 108, 109] belong to /smmuv3@9050000, which snowvisor keeps"
        ),
        "{c}"
    );
    b.expect(
        "virtio_blk virtio0: [vda] 32768 512-byte logical blocks",
        60,
    );
    let verdict = b.expect("snowvisor-dom0: blk: P", 60);
    assert!(verdict.contains("PASS: md5"), "{verdict}");
    b.expect("snowvisor-dom0: test blk exit 0", 30);
    b.expect("powering off", 60);
    let status = b.expect_exit(30);
    assert!(status.success(), "QEMU exit {status}");
    let console = b.console();
    for bad in [
        "smmuv3 /smmuv3@9050000: fault",
        "global error",
        "stage-2 fault",
    ] {
        assert!(!console.contains(bad), "unexpected {bad:?}:\n{console}");
    }
}

#[test]
fn stage1_only_smmu_is_refused_and_its_dma_blocked() {
    // QEMU's stage-1-only model (virt-9.1 machine, no stage property).
    let mut b = boot_smmu("loglvl=info", Some("1"));
    b.expect("plan: own /smmuv3@9050000", 30);
    let e = b.expect("smmuv3 /smmuv3@9050000: refused", 30);
    assert!(
        e.contains("no stage-2 translation (IDR0.S2P = 0)")
            && e.contains("arm-smmuv3.stage=2")
            && e.contains("its DMA is blocked (GBPA.ABORT)"),
        "{e}"
    );
    // The node stays out of Dom0's tree all the same.
    b.expect("dom0: entering kernel", 30);
}

#[test]
fn hide_rule_leaves_the_smmu_to_nobody() {
    let mut b = boot_smmu("loglvl=info iommu=hide:arm,smmu-v3", None);
    let row = b.expect("plan: /smmuv3@9050000", 30);
    assert!(
        row.contains(" hide ") && row.contains("iommu=hide:arm,smmu-v3"),
        "{row}"
    );
    let next = b.expect_not_before("smmuv3 /smmuv3@9050000", "dom0: entering kernel", 30);
    assert!(next.contains("entering kernel"), "{next}");
}

/// The DMA attack guest's raw image, built once.
fn dma_attack_image() -> &'static PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let out = Command::new(root().join("qemu/dma-attack/build"))
            .output()
            .expect("qemu/dma-attack/build");
        assert!(
            out.status.success(),
            "building the DMA attack guest failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(stdout.lines().last().expect("no image path"))
    })
}

/// `(address, crc32)` of a guard-page line.
fn guard(line: &str) -> (String, String) {
    let addr = line
        .split("guard page ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_default();
    let crc = line
        .split("crc32 ")
        .nth(1)
        .and_then(|r| r.split(|c: char| c == ',' || c.is_whitespace()).next())
        .unwrap_or_default();
    (addr.to_string(), crc.to_string())
}

#[test]
fn dma_outside_dom0_is_blocked_and_changes_nothing() {
    let mut cmd = Command::new(root().join("scripts/run"));
    cmd.args(["--headless", "--smmu", "--image"]).arg(image());
    cmd.args(["--args", "loglvl=info dom0_mem=256M", "--no-initrd"]);
    cmd.arg("--kernel").arg(dma_attack_image());
    let mut b = Boot::spawn(cmd);
    b.expect("smmuv3 /smmuv3@9050000: own: 4096 stream(s)", 30);
    let before = [
        guard(&b.expect(
            "smmuv3: guard page 0x40010000 (snowvisor's image): crc32",
            10,
        )),
        guard(&b.expect(
            "smmuv3: guard page 0x50a00000 (RAM no domain owns): crc32",
            10,
        )),
    ];
    b.expect("dma-attack: start", 30);
    b.expect("dma-attack: virtio-blk at 00:01.0", 10);
    // DMA into the guest's own memory works.
    let own = b.expect("dma-attack: own memory:", 30);
    assert!(own.ends_with("PASS"), "{own}");
    for target in ["0x40010000", "0x50a00000"] {
        let ask = b.expect("dma-attack: asking the disk to DMA sector 8 into", 30);
        assert!(ask.ends_with(target), "{ask}");
        let fault = b.expect(
            "smmuv3 /smmuv3@9050000: fault: stream 0x0008: F_TRANSLATION",
            30,
        );
        assert!(
            fault.contains(&format!("on DMA write to {target}"))
                && fault.contains("[/pcie@10000000]"),
            "{fault}"
        );
        for (addr, crc) in &before {
            let line = b.expect(&format!("smmuv3: guard page {addr} "), 10);
            assert_eq!(&guard(&line).1, crc, "{line}");
            assert!(line.ends_with("unchanged"), "{line}");
        }
    }
    b.expect("dma-attack: done (own memory PASS)", 30);
    b.expect("PSCI SYSTEM_OFF", 30);
    let status = b.expect_exit(30);
    assert!(status.success(), "QEMU exit {status}");
    assert!(!b.console().contains("CHANGED"), "{}", b.console());
}
