//! The device tree a DomU boots with, as Xen 4.17's `prepare_dtb_domU`
//! (`xen/arch/arm/domain_build.c`) and libxl's `libxl__arch_domain_init_hw_description`
//! (`tools/libs/light/libxl_arm.c`) write it:
//!
//! - root: `compatible = "xen,xenvm-<major>.<minor>", "xen,xenvm"`, `model =
//!   "XENVM-<major>.<minor>"`, `interrupt-parent` = the GIC, 2 address and 2
//!   size cells (libxl's root properties);
//! - `/chosen`: `bootargs`, `stdout-path` (the UART, when there is one), the
//!   initrd as 64-bit `linux,initrd-start/end`;
//! - `/psci`: PSCI 1.0 (what snowvisor's PSCI answers to PSCI_VERSION),
//!   `method = "hvc"` as Xen gives guests, with the 0.1 function ids Xen
//!   lists (`cpu_off` 1, `cpu_on` 2, arch-arm.h's PSCI_cpu_*);
//! - `/cpus`: one `cpu@N` per vCPU, `reg` = N (the vCPU's MPIDR affinity),
//!   the host CPU's `compatible`, `enable-method = "psci"`;
//! - `/memory@40000000`: the RAM banks;
//! - `/interrupt-controller@3001000`: `arm,gic-400` (GICv2), GICD and GICC at
//!   the guest addresses, phandle [`GUEST_PHANDLE_GIC`];
//! - `/timer`: `arm,armv7-timer`, the secure, non-secure and virtual timer
//!   PPIs, level-low, all CPUs (Xen's three; no hypervisor timer: a guest
//!   has no HYP mode); the host's `clock-frequency` copied when it has one;
//! - `/sbsa-uart@22000000` when the domain has `vpl011`: `arm,sbsa-uart`,
//!   SPI 0 level-high, `current-speed = 115200`, no clocks (the SBSA
//!   generic UART has no baud-rate divisor for Linux to program);
//! - `/hypervisor` when the domain has Xen PV interfaces (`xen,enhanced`):
//!   `xen,xen-<major>.<minor>`, `xen,xen`, the grant-table region as `reg`,
//!   the event-channel PPI (Linux's `Documentation/devicetree/bindings/arm/xen.txt`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use snowvisor_dt::writer::{FdtWriter, OpenNode, WriteError};
use snowvisor_dt::Region;

use super::layout::*;

/// What the DomU's tree says. Addresses are IPAs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomUParams<'p> {
    /// Xen's version the guest is told (`xen,xen-4.17`, `xen,xenvm-4.17`).
    pub xen_version: (u32, u32),
    /// RAM banks ([`ram_banks`]), lowest first; at least one.
    pub memory: Vec<Region>,
    /// vCPUs, 1..=8 (the GICv2 limit; the binding's parser checks it).
    pub vcpus: u32,
    /// `compatible` of each `cpu` node: the host CPU's (`arm,cortex-a15`).
    pub cpu_compatible: &'p str,
    /// The host timer's `clock-frequency` in Hz, for firmware that leaves
    /// CNTFRQ unprogrammed; `None` when the host tree has none.
    pub timer_clock_frequency: Option<u32>,
    /// The emulated UART at [`GUEST_PL011_BASE`], SPI [`GUEST_VPL011_SPI`].
    pub vpl011: bool,
    /// Xen PV interfaces: a `/hypervisor` node with the grant-table region
    /// [`GUEST_GNTTAB_BASE`] and the event-channel PPI [`GUEST_EVTCHN_PPI`].
    pub xen_pv: bool,
    /// The kernel command line; `None` or empty writes no `bootargs`.
    pub bootargs: Option<&'p str>,
    /// Where the initrd is in guest memory, if there is one.
    pub initrd: Option<Region>,
}

/// Why a DomU's tree cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomUDtError {
    /// No RAM bank.
    NoMemory,
    /// 0 vCPUs, or more than the guest's GICv2 serves.
    Vcpus(u32),
    /// The initrd does not lie inside one RAM bank.
    InitrdOutsideRam(Region),
    /// The writer refused something at `node`.
    Writer { node: String, why: WriteError },
}

impl fmt::Display for DomUDtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomUDtError::NoMemory => write!(f, "DomU tree: no RAM bank"),
            DomUDtError::Vcpus(n) => {
                write!(f, "DomU tree: {n} vCPUs (1..={MAX_VCPUS} with a GICv2)")
            }
            DomUDtError::InitrdOutsideRam(r) => write!(
                f,
                "DomU tree: initrd {:#x}..{:#x} is not inside one RAM bank",
                r.base,
                r.end()
            ),
            DomUDtError::Writer { node, why } => write!(f, "DomU tree: {node}: {why}"),
        }
    }
}

/// The UART's node name (Xen's `make_vpl011_uart_node`).
pub const VPL011_NODE: &str = "sbsa-uart@22000000";
/// The UART's `current-speed` in baud (Xen's default).
pub const VPL011_BAUD: u32 = 115_200;
/// The most vCPUs a guest GICv2 serves (8 CPU interfaces, ARM IHI 0048B 4.3.12).
pub const MAX_VCPUS: u32 = 8;
/// `PSCI_cpu_off` (arch-arm.h:488): PSCI 0.1's CPU_OFF function id for Xen guests.
pub const PSCI_CPU_OFF: u32 = 1;
/// `PSCI_cpu_on` (arch-arm.h:489): PSCI 0.1's CPU_ON function id.
pub const PSCI_CPU_ON: u32 = 2;

/// `interrupts` cells of one GIC interrupt: type (0 SPI, 1 PPI), number
/// within the type, flags (the CPU mask in bits 15:8 for PPIs; 4 = level
/// high, 8 = level low), as the `arm,gic` binding encodes it.
fn irq(intid: u32, flags: u32) -> [u32; 3] {
    if intid >= 32 {
        [0, intid - 32, flags]
    } else {
        [1, intid - 16, flags]
    }
}

/// Level-low on the 4 CPUs Xen names (cpumask 0xf), as Xen sets timer and
/// event-channel PPIs.
const PPI_LEVEL_LOW: u32 = 0xf08;
/// Level-high, cpumask 0xf (ignored for SPIs), as Xen sets the vpl011 SPI.
const SPI_LEVEL_HIGH: u32 = 0xf04;

fn cells(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|c| c.to_be_bytes()).collect()
}

/// `reg` of `regions` with the guest root's 2 address and 2 size cells.
fn reg(regions: &[Region]) -> Vec<u8> {
    regions
        .iter()
        .flat_map(|r| [r.base, r.size])
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

/// The writer, with the path of the open nodes for errors.
struct W {
    w: FdtWriter,
    path: Vec<String>,
}

impl W {
    fn fail(&self, why: WriteError) -> DomUDtError {
        let node = match self.path.len() {
            0 | 1 => String::from("/"),
            _ => self.path.join("/"),
        };
        DomUDtError::Writer { node, why }
    }

    fn begin(&mut self, name: &str) -> Result<OpenNode, DomUDtError> {
        self.path.push(String::from(name));
        self.w.begin_node(name).map_err(|e| self.fail(e))
    }

    fn end(&mut self, h: OpenNode) -> Result<(), DomUDtError> {
        self.w.end_node(h).map_err(|e| self.fail(e))?;
        self.path.pop();
        Ok(())
    }

    fn props(&mut self, props: &[(&str, &[u8])]) -> Result<(), DomUDtError> {
        for (k, v) in props {
            self.w.property(k, v).map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    /// A node without children.
    fn node(&mut self, name: &str, props: &[(&str, &[u8])]) -> Result<(), DomUDtError> {
        let h = self.begin(name)?;
        self.props(props)?;
        self.end(h)
    }
}

/// The DomU's device tree blob. Errors: no RAM, a vCPU count a GICv2 cannot
/// serve, an initrd outside RAM (each named), or the writer's.
pub fn build(p: &DomUParams<'_>) -> Result<Vec<u8>, DomUDtError> {
    let first = p.memory.first().ok_or(DomUDtError::NoMemory)?;
    if !(1..=MAX_VCPUS).contains(&p.vcpus) {
        return Err(DomUDtError::Vcpus(p.vcpus));
    }
    if let Some(i) = p.initrd {
        if !p.memory.iter().any(|m| m.contains(&i)) {
            return Err(DomUDtError::InitrdOutsideRam(i));
        }
    }
    let (major, minor) = p.xen_version;
    let gic = GUEST_PHANDLE_GIC.to_be_bytes();
    let mut w = W {
        w: FdtWriter::new(&[]),
        path: Vec::new(),
    };
    let root = w.begin("")?;
    w.props(&[
        (
            "compatible",
            format!("xen,xenvm-{major}.{minor}\0xen,xenvm\0").as_bytes(),
        ),
        ("model", format!("XENVM-{major}.{minor}\0").as_bytes()),
        ("interrupt-parent", &gic),
        ("#address-cells", &GUEST_ROOT_ADDRESS_CELLS.to_be_bytes()),
        ("#size-cells", &GUEST_ROOT_SIZE_CELLS.to_be_bytes()),
    ])?;

    let bootargs = p
        .bootargs
        .filter(|a| !a.is_empty())
        .map(|a| format!("{a}\0"));
    let stdout = format!("/{VPL011_NODE}\0");
    let initrd = p
        .initrd
        .map(|i| (i.base.to_be_bytes(), i.end().to_be_bytes()));
    let mut chosen: Vec<(&str, &[u8])> = Vec::new();
    if let Some(a) = &bootargs {
        chosen.push(("bootargs", a.as_bytes()));
    }
    if p.vpl011 {
        chosen.push(("stdout-path", stdout.as_bytes()));
    }
    if let Some((start, end)) = &initrd {
        chosen.push(("linux,initrd-start", start));
        chosen.push(("linux,initrd-end", end));
    }
    w.node("chosen", &chosen)?;

    w.node(
        "psci",
        &[
            ("compatible", b"arm,psci-1.0\0arm,psci-0.2\0arm,psci\0"),
            ("method", b"hvc\0"),
            ("cpu_off", &PSCI_CPU_OFF.to_be_bytes()),
            ("cpu_on", &PSCI_CPU_ON.to_be_bytes()),
        ],
    )?;

    let cpus = w.begin("cpus")?;
    w.props(&[
        ("#address-cells", &1u32.to_be_bytes()),
        ("#size-cells", &0u32.to_be_bytes()),
    ])?;
    let compat = format!("{}\0", p.cpu_compatible);
    for n in 0..p.vcpus {
        w.node(
            &format!("cpu@{n:x}"),
            &[
                ("compatible", compat.as_bytes()),
                ("device_type", b"cpu\0"),
                ("reg", &n.to_be_bytes()),
                ("enable-method", b"psci\0"),
            ],
        )?;
    }
    w.end(cpus)?;

    w.node(
        &format!("memory@{:x}", first.base),
        &[("device_type", b"memory\0"), ("reg", &reg(&p.memory))],
    )?;

    let gic_frames = [
        Region {
            base: GUEST_GICD_BASE,
            size: GUEST_GICD_SIZE,
        },
        Region {
            base: GUEST_GICC_BASE,
            size: GUEST_GICC_SIZE,
        },
    ];
    w.node(
        &format!("interrupt-controller@{GUEST_GICD_BASE:x}"),
        &[
            ("compatible", b"arm,gic-400\0"),
            ("#interrupt-cells", &3u32.to_be_bytes()),
            ("#address-cells", &0u32.to_be_bytes()),
            ("interrupt-controller", &[]),
            ("reg", &reg(&gic_frames)),
            ("phandle", &gic),
        ],
    )?;

    let timer_irqs: Vec<u32> = [
        GUEST_TIMER_PHYS_S_PPI,
        GUEST_TIMER_PHYS_NS_PPI,
        GUEST_TIMER_VIRT_PPI,
    ]
    .into_iter()
    .flat_map(|i| irq(i, PPI_LEVEL_LOW))
    .collect();
    let timer_irqs = cells(&timer_irqs);
    let hz = p.timer_clock_frequency.map(u32::to_be_bytes);
    let mut timer: Vec<(&str, &[u8])> = Vec::from([
        ("compatible", &b"arm,armv7-timer\0"[..]),
        ("interrupts", &timer_irqs[..]),
    ]);
    if let Some(hz) = &hz {
        timer.push(("clock-frequency", hz));
    }
    w.node("timer", &timer)?;

    if p.vpl011 {
        let uart = Region {
            base: GUEST_PL011_BASE,
            size: GUEST_PL011_SIZE,
        };
        w.node(
            VPL011_NODE,
            &[
                ("compatible", b"arm,sbsa-uart\0"),
                ("reg", &reg(&[uart])),
                ("interrupts", &cells(&irq(GUEST_VPL011_SPI, SPI_LEVEL_HIGH))),
                ("current-speed", &VPL011_BAUD.to_be_bytes()),
            ],
        )?;
    }

    if p.xen_pv {
        let grant_table = Region {
            base: GUEST_GNTTAB_BASE,
            size: GUEST_GNTTAB_SIZE,
        };
        w.node(
            "hypervisor",
            &[
                (
                    "compatible",
                    format!("xen,xen-{major}.{minor}\0xen,xen\0").as_bytes(),
                ),
                ("reg", &reg(&[grant_table])),
                ("interrupts", &cells(&irq(GUEST_EVTCHN_PPI, PPI_LEVEL_LOW))),
            ],
        )?;
    }

    w.end(root)?;
    w.w.finish().map_err(|why| DomUDtError::Writer {
        node: String::from("/"),
        why,
    })
}
