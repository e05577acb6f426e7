//! Host-side helpers around snowvisor's plan: the Dom0 parameters a preview
//! assumes for a board's DTB, and `dtc` warning sets for round-trip checks.

#![forbid(unsafe_code)]

pub mod domus;
pub mod fdt_edit;
pub mod fuzz;
pub mod json;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use snowvisor_dt::{HostTree, ModuleKind, Region};
use snowvisor_plan::cpus;
use snowvisor_plan::dom0::{Dom0Params, GicView, HypervisorNode};
use snowvisor_plan::Plan;

/// RAM snowvisor keeps for itself at the top of the last bank, in the preview.
pub const HYPERVISOR_RESERVE: u64 = 2 << 20;
/// Grant frames Dom0 may map (Xen's default `max_grant_frames`).
pub const GRANT_FRAMES: u64 = 64;
/// The event-channel PPI the preview gives Dom0 (INTID 31, as Xen's guests use).
pub const EVTCHN_INTID: u32 = 31;
/// Bank used when the tree has no usable memory node (bootloaders fill it in).
pub const FALLBACK_BANK: Region = Region {
    base: 0x4000_0000,
    size: 0x1000_0000,
};
/// vCPUs the preview gives Dom0: as the hypervisor by default, one per CPU
/// (`dom0_max_vcpus=N` caps it: `snowvisor-plan --args`).
pub const DOM0_VCPUS: usize = usize::MAX;
/// The Dom0 command line when the tree has no kernel module with one.
pub const DEFAULT_BOOTARGS: &str = "console=hvc0";

/// Dom0 parameters for a preview, with what was assumed.
pub struct Preview<'a> {
    pub params: Dom0Params<'a>,
    pub notes: Vec<String>,
}

/// What snowvisor would give Dom0 on this board: all RAM but the top
/// [`HYPERVISOR_RESERVE`] of the last bank (whose start holds the grant-table
/// window, as Xen puts it over its own image), the GICV frame at the GICC
/// address, the boot modules' initrd and bootargs, and a `/hypervisor` node
/// when the board has a GICv2.
pub fn preview_params<'a>(tree: &HostTree<'a>, plan: &Plan, xen: bool) -> Preview<'a> {
    let mut notes = Vec::new();
    let mut memory = tree.memory().unwrap_or_else(|_| {
        notes.push(format!(
            "no usable memory node (the bootloader fills it in): assuming {:#x}+{:#x}",
            FALLBACK_BANK.base, FALLBACK_BANK.size
        ));
        vec![FALLBACK_BANK]
    });
    let mut hole = None;
    if let Some(last) = memory.last_mut() {
        if last.size > 2 * HYPERVISOR_RESERVE {
            last.size -= HYPERVISOR_RESERVE;
            hole = Some(Region {
                base: last.end(),
                size: GRANT_FRAMES << 12,
            });
        }
    }
    let modules = tree.modules();
    let kernel = modules.iter().find(|m| m.kind == ModuleKind::Kernel);
    let bootargs = kernel.and_then(|k| k.bootargs).unwrap_or(DEFAULT_BOOTARGS);
    let initrd = modules
        .iter()
        .find(|m| m.kind == ModuleKind::Ramdisk)
        .map(|m| m.region);
    let gic = plan.gic.as_ref().and_then(|g| match g.frames.as_slice() {
        [gicd, gicc, rest @ ..] => Some(GicView {
            gicd: *gicd,
            gicc_as_seen: Region {
                base: gicc.base,
                size: rest.get(1).map_or(gicc.size, |v| v.size),
            },
        }),
        _ => None,
    });
    if gic.is_none() {
        notes.push(String::from(
            "no GICv2 node: interrupt controller copied unchanged, no /hypervisor node",
        ));
    }
    let hypervisor_node = match (xen, gic, hole) {
        (true, Some(_), Some(grant_table)) => Some(HypervisorNode {
            version: (4, 17),
            grant_table,
            evtchn_intid: EVTCHN_INTID,
        }),
        _ => None,
    };
    Preview {
        params: Dom0Params {
            memory,
            bootargs,
            initrd,
            gic,
            hypervisor_node,
            cpus: {
                let host = cpus::host_cpus(tree.index());
                cpus::dom0_cpus(&host, cpus::preview_boot_cpu(&host, tree.blob), DOM0_VCPUS)
            },
        },
        notes,
    }
}

/// The warnings `dtc -I dtb -O dts` prints for a blob, one per line, without
/// the file-name prefix. Node paths are given from the root as the
/// Devicetree Specification names it (`/soc/...`): dtc puts the name of a
/// root node that has one (an invalid tree, which Dom0's tree writer repairs
/// by writing the root without a name) in front of every path, and the same
/// warning would read as a new one.
pub fn dtc_warnings(dtb: &[u8]) -> Result<BTreeSet<String>, String> {
    let mut child = Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts", "-o", "/dev/null", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run dtc (apt-get install device-tree-compiler): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dtb)
            .map_err(|e| format!("writing to dtc: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("dtc: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("dtc rejected the blob: {}", stderr.trim()));
    }
    let root = root_name(dtb).filter(|n| !n.is_empty());
    Ok(stderr
        .lines()
        .filter(|l| l.contains("Warning"))
        .map(|l| l.find("Warning").map_or(l, |at| &l[at..]).to_string())
        .map(|w| match &root {
            Some(name) => w
                .replace(&format!(": /{name}/"), ": /")
                .replace(&format!(": /{name}:"), ": /:"),
            None => w,
        })
        .collect())
}

/// The name of a blob's root node (empty in a valid tree): the first
/// FDT_BEGIN_NODE of the structure block after any FDT_NOP (Devicetree
/// Specification v0.4, 5.4). None when the blob is too short to say.
fn root_name(dtb: &[u8]) -> Option<String> {
    const FDT_BEGIN_NODE: u32 = 1;
    const FDT_NOP: u32 = 4;
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(dtb.get(at..at + 4)?.try_into().ok()?))
    };
    let mut at = usize::try_from(word(8)?).ok()?;
    while word(at)? == FDT_NOP {
        at += 4;
    }
    if word(at)? != FDT_BEGIN_NODE {
        return None;
    }
    let name = dtb.get(at + 4..)?;
    let end = name.iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&name[..end]).into_owned())
}

/// New warnings Xen's own Dom0 trees have too: Linux finds the Xen node only
/// by the exact name `hypervisor`, so it cannot carry a unit address.
pub fn expected_new_warning(w: &str) -> bool {
    w.starts_with("Warning (unit_address_vs_reg): /hypervisor:")
}
