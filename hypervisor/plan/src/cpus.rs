//! The host's CPUs and its PSCI node: which CPUs snowvisor starts and how,
//! and which of them Dom0's vCPUs run on (one vCPU pinned to each, vCPU 0
//! on the boot CPU).
//!
//! Sources: the Devicetree Specification 0.4 §3.7 (`/cpus`, `cpu` nodes:
//! `reg` holds the MPIDR affinity fields with `/cpus`' `#address-cells`,
//! `enable-method`), Linux's `Documentation/devicetree/bindings/arm/psci.yaml`
//! (`method`, the 0.1 function IDs `cpu_on`/`cpu_off`) and PSCI DEN0022
//! (0.2+ function IDs).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use snowvisor_dt::index::{be_cells, fold_cells, NodeIndex};

/// PSCI 0.2 CPU_ON, SMC32 (DEN0022 5.1.4): 0.2+ firmware answers this ID.
pub const PSCI_0_2_CPU_ON: u32 = 0x8400_0003;

/// One `cpu` node under `/cpus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCpu {
    /// The node's index in the tree.
    pub node: usize,
    /// `reg`: the CPU's MPIDR affinity fields (Aff2..Aff0 on ARMv7).
    pub mpidr: u64,
    /// `enable-method`, or `/cpus`' when the node has none.
    pub enable_method: Option<String>,
}

impl HostCpu {
    /// MPIDR affinity level 0 (bits 7:0): the CPU's number in its cluster.
    pub fn aff0(&self) -> u32 {
        (self.mpidr & 0xff) as u32
    }
}

/// The `cpu` nodes under `/cpus` (`device_type = "cpu"`, a readable `reg`),
/// in tree order. Nodes with `status = "fail"` are left out, as Linux does.
pub fn host_cpus(x: &NodeIndex<'_>) -> Vec<HostCpu> {
    let Some(cpus) = x.by_path("/cpus") else {
        return Vec::new();
    };
    let ac = x.address_cells(cpus);
    let parent_method = x.str_prop(cpus, "enable-method");
    let kids = x
        .nodes
        .get(cpus)
        .map(|n| n.children.clone())
        .unwrap_or_default();
    kids.into_iter()
        .filter(|&i| x.str_prop(i, "device_type") == Some("cpu"))
        .filter(|&i| {
            !x.str_prop(i, "status")
                .is_some_and(|s| s.starts_with("fail"))
        })
        .filter_map(|i| {
            let cells: Vec<u32> = be_cells(x.prop(i, "reg")?).collect();
            let mpidr = fold_cells(cells.get(..ac)?)?;
            Some(HostCpu {
                node: i,
                mpidr,
                enable_method: x
                    .str_prop(i, "enable-method")
                    .or(parent_method)
                    .map(String::from),
            })
        })
        .collect()
}

/// How PSCI is called (the node's `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    Smc,
    Hvc,
}

/// The host's PSCI node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Psci {
    /// The node's path.
    pub path: String,
    /// `method`; `None` when missing or neither "smc" nor "hvc".
    pub conduit: Option<Conduit>,
    /// The CPU_ON function ID: [`PSCI_0_2_CPU_ON`] for `arm,psci-0.2` and
    /// later, else the 0.1 node's `cpu_on` property.
    pub cpu_on: Option<u32>,
}

/// The first PSCI node of the tree, if any.
pub fn psci(x: &NodeIndex<'_>) -> Option<Psci> {
    let i = (0..x.len()).find(|&i| x.is_compatible(i, PSCI_COMPATIBLES))?;
    let conduit = match x.str_prop(i, "method") {
        Some("smc") => Some(Conduit::Smc),
        Some("hvc") => Some(Conduit::Hvc),
        _ => None,
    };
    let v02 = x.is_compatible(i, &["arm,psci-0.2", "arm,psci-1.0"]);
    Some(Psci {
        path: String::from(x.path(i)),
        conduit,
        cpu_on: if v02 {
            Some(PSCI_0_2_CPU_ON)
        } else {
            x.u32_prop(i, "cpu_on")
        },
    })
}

/// Every PSCI version's compatible.
pub const PSCI_COMPATIBLES: &[&str] = &["arm,psci", "arm,psci-0.2", "arm,psci-1.0"];

/// Which host CPUs Dom0's vCPUs run on, one each, pinned: vCPU 0 on the
/// boot CPU (`boot_mpidr`), then the others in tree order, `max` at most
/// (Xen's `dom0_max_vcpus`; 0 counts as 1). A tree without a `cpu` node for
/// the boot CPU still gives vCPU 0 the boot CPU.
pub fn dom0_cpus(cpus: &[HostCpu], boot_mpidr: u64, max: usize) -> Vec<u64> {
    let boot = boot_mpidr & AFFINITY_MASK;
    let mut out = Vec::from([boot]);
    out.extend(
        cpus.iter()
            .map(|c| c.mpidr & AFFINITY_MASK)
            .filter(|&m| m != boot),
    );
    out.truncate(max.max(1));
    out
}

/// The FDT header's `boot_cpuid_phys` (offset 28, big-endian): the `reg` of
/// the CPU the tree was handed to; 0 when the blob is too short.
pub fn boot_cpuid_phys(blob: &[u8]) -> u32 {
    blob.get(28..32)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The boot CPU a tree names for a preview (no CPU to ask): its header's
/// `boot_cpuid_phys` if a `cpu` node has that `reg`, else the first `cpu`
/// node's (bootloaders often leave the field 0).
pub fn preview_boot_cpu(cpus: &[HostCpu], blob: &[u8]) -> u64 {
    let header = u64::from(boot_cpuid_phys(blob));
    match cpus.first() {
        Some(first) if !cpus.iter().any(|c| c.mpidr == header) => first.mpidr,
        _ => header,
    }
}

/// The MPIDR bits a `cpu` node's `reg` holds on ARMv7: Aff2..Aff0 (23:0).
pub const AFFINITY_MASK: u64 = 0x00ff_ffff;

/// How a CPU came up, for the boot log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The CPU snowvisor was entered on.
    Boot,
    /// PSCI CPU_ON through the firmware's conduit.
    Psci(Conduit),
    /// The board's own wake-up (e.g. the Exynos PMU and SYSRAM).
    Board,
    /// Released from snowvisor's pen, where the firmware had started it
    /// along with the boot CPU (in the mode it entered with, its CPSR).
    Pen { cpsr: u32 },
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Boot => "boot CPU",
            Method::Psci(Conduit::Smc) => "PSCI CPU_ON over SMC",
            Method::Psci(Conduit::Hvc) => "PSCI CPU_ON over HVC",
            Method::Board => "the board's wake-up",
            Method::Pen { cpsr } if cpsr & 0x1f == 0x13 => {
                return write!(
                    f,
                    "released from the pen, entered in SVC (CPSR {cpsr:#010x})"
                )
            }
            Method::Pen { cpsr } => {
                return write!(f, "released from the pen, entered with CPSR {cpsr:#010x}")
            }
        })
    }
}

/// A PSCI return code's name (DEN0022 5.2.2), for messages.
pub fn psci_error(code: i32) -> &'static str {
    match code {
        0 => "SUCCESS",
        -1 => "NOT_SUPPORTED",
        -2 => "INVALID_PARAMETERS",
        -3 => "DENIED",
        -4 => "ALREADY_ON",
        -5 => "ON_PENDING",
        -6 => "INTERNAL_FAILURE",
        -7 => "NOT_PRESENT",
        -8 => "DISABLED",
        -9 => "INVALID_ADDRESS",
        _ => "unknown code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snowvisor_dt::HostTree;

    const SNOW: &[u8] = include_bytes!("../../dt/src/testdata/exynos5250-snow.dtb");

    #[test]
    fn snow_has_two_cpus_and_no_psci() {
        let t = HostTree::new(SNOW).unwrap();
        let cpus = host_cpus(t.index());
        assert_eq!(
            cpus.iter().map(|c| c.mpidr).collect::<Vec<_>>(),
            [0, 1],
            "{cpus:?}"
        );
        assert!(cpus.iter().all(|c| c.enable_method.is_none()));
        assert_eq!(t.index().path(cpus[1].node), "/cpus/cpu@1");
        assert_eq!(psci(t.index()), None);
    }

    #[test]
    fn dom0_gets_the_boot_cpu_first() {
        let cpu = |m: u64| HostCpu {
            node: 0,
            mpidr: m,
            enable_method: None,
        };
        let cpus = [cpu(0), cpu(1), cpu(2), cpu(3)];
        assert_eq!(dom0_cpus(&cpus, 0x8000_0000, 8), [0, 1, 2, 3]);
        assert_eq!(dom0_cpus(&cpus, 0x8000_0002, 2), [2, 0]);
        assert_eq!(dom0_cpus(&cpus, 0, 0), [0]);
        assert_eq!(dom0_cpus(&[], 0x8000_0001, 4), [1]);
    }

    #[test]
    fn preview_boot_cpu_falls_back_to_the_first_node() {
        let cpu = |m: u64| HostCpu {
            node: 0,
            mpidr: m,
            enable_method: None,
        };
        let mut blob = [0u8; 40];
        blob[28..32].copy_from_slice(&1u32.to_be_bytes());
        assert_eq!(preview_boot_cpu(&[cpu(0), cpu(1)], &blob), 1);
        // The Raspberry Pi 2's CPUs are 0xf00..: a header saying 1 names none.
        assert_eq!(preview_boot_cpu(&[cpu(0xf00), cpu(0xf01)], &blob), 0xf00);
        assert_eq!(preview_boot_cpu(&[], &blob), 1);
    }

    #[test]
    fn error_names() {
        assert_eq!(psci_error(-2), "INVALID_PARAMETERS");
        assert_eq!(psci_error(-42), "unknown code");
    }
}
