//! Boot-time guests the dom0less way: the `/chosen/<name>` nodes with
//! compatible `"xen,domain"` (Xen 4.17's `docs/misc/arm/device-tree/booting.txt`,
//! "Creating Multiple Domains directly from Xen"), read into one [`DomUSpec`]
//! each, in tree order (domain ids 1, 2, ... as Xen numbers them).
//!
//! Everything the binding documents is read, the static event channels
//! of Xen 4.18's binding (`xen,evtchn-v1` nodes, [`static_evtchns`]) and
//! Xen 4.17's boot-time cpupools (`xen,cpupool` nodes, [`cpupools`], and a
//! domain's `domain-cpupool`). What snowvisor does not do yet (static
//! memory, direct map, device passthrough, static shared memory, UEFI-loaded modules) is refused with a
//! [`DomUError`] naming the node and property, never ignored: a tree that
//! asks for it would otherwise boot a guest that is not what it describes.
//!
//! Only direct children of `/chosen` are Dom0's modules
//! ([`crate::HostTree::modules`]); the modules under a `xen,domain` node
//! belong to that domain alone.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::index::{be_cells, NodeIndex};
use crate::{HostTree, Region};

/// The compatible of a dom0less domain node.
pub const DOMAIN_COMPATIBLE: &str = "xen,domain";

/// At most this many vCPUs per DomU: the guest sees a GICv2, whose
/// `GICD_ITARGETSR` and `GICD_SGIR` target lists hold 8 CPU interfaces
/// (ARM IHI 0048B, 4.3.12 and 4.3.15). Xen's vGICv2 has the same limit.
pub const MAX_VCPUS: u32 = 8;

/// Largest `nr_spis`: INTIDs 32..1019 are SPIs (ARM IHI 0048B, 2.2.1), so
/// at most 1020 - 32 = 988; Xen's `vgic_domain_init` refuses more.
pub const MAX_NR_SPIS: u32 = 988;

/// Memory is given in KiB and allocated in pages of this many KiB (4 KiB,
/// the stage-2 granule).
pub const PAGE_KIB: u64 = 4;
/// The first domain ID Xen reserves (`DOMID_FIRST_RESERVED`,
/// `xen/include/public/xen.h`): DomUs are numbered below it.
pub const DOMID_FIRST_RESERVED: u16 = 0x7ff0;

/// `xen,enhanced`: which Xen PV interfaces the guest gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enhanced {
    /// The property is absent, or `"disabled"`: no PV interfaces, no
    /// `/hypervisor` node in the guest's tree.
    Disabled,
    /// Present and empty, or `"enabled"`: grant table, event channels and
    /// xenstore.
    Enabled,
    /// `"no-xenstore"`: grant table and event channels, no xenstore.
    NoXenstore,
}

/// A DomU boot module: where its bytes are in host memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomUModule<'a> {
    /// The module node's name (`module@4a000000`).
    pub node: &'a str,
    /// Host physical address and size in bytes, from `reg`.
    pub region: Region,
}

/// One `xen,domain` node, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomUSpec<'a> {
    /// Domain id: 1 for the first `xen,domain` node in tree order, and so on
    /// (Xen's `create_domUs`: domain 0 is Dom0).
    pub domid: u16,
    /// The node's name under `/chosen`, which is the domain's name.
    pub name: &'a str,
    /// `memory`, in KiB (a multiple of [`PAGE_KIB`], never 0).
    pub memory_kib: u64,
    /// `cpus`: the number of vCPUs, 1..=[`MAX_VCPUS`].
    pub vcpus: u32,
    /// `vpl011`: an emulated PL011 at `GUEST_PL011_BASE`, SPI `GUEST_VPL011_SPI`.
    pub vpl011: bool,
    /// `nr_spis`, if given: SPIs of the guest's distributor. Absent: as many
    /// as the host GIC has, and at least one when `vpl011` is set (Xen's rule).
    pub nr_spis: Option<u32>,
    /// `xen,enhanced`.
    pub enhanced: Enhanced,
    /// `xen,domain-p2m-mem-mb`, if given: MiB for the stage-2 tables.
    pub p2m_mem_mb: Option<u32>,
    /// The `multiboot,kernel` module.
    pub kernel: DomUModule<'a>,
    /// The `multiboot,ramdisk` module, if any.
    pub ramdisk: Option<DomUModule<'a>>,
    /// The kernel module's `bootargs`; `None` if it has none.
    pub bootargs: Option<&'a str>,
    /// `domain-cpupool`: the name under `/chosen` of the `xen,cpupool`
    /// node it names; `None`: Pool-0, with Dom0 ([`cpupools`]).
    pub cpupool: Option<&'a str>,
}

impl DomUSpec<'_> {
    /// Memory in bytes (`memory_kib` * 1024; cannot overflow, checked at parse).
    pub fn memory_bytes(&self) -> u64 {
        self.memory_kib * 1024
    }
}

/// What is wrong with a property (or a child node) of a domain node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// A required property is absent.
    Missing,
    /// A number property of the wrong length (it must be `cells` cells).
    Length { len: usize, cells: &'static str },
    /// `memory` is 0.
    ZeroMemory,
    /// `memory` is not a multiple of [`PAGE_KIB`].
    NotPages(u64),
    /// `memory` in bytes does not fit 64 bits.
    MemoryTooBig(u64),
    /// `cpus` is 0.
    ZeroCpus,
    /// `cpus` above [`MAX_VCPUS`].
    TooManyCpus(u32),
    /// `nr_spis` above [`MAX_NR_SPIS`], or 0 with `vpl011`.
    NrSpis(u32),
    /// `xen,enhanced` holds an unknown value.
    Enhanced(String),
    /// A documented feature snowvisor does not implement yet.
    Unsupported(&'static str),
    /// No child with compatible `multiboot,kernel`.
    NoKernel,
    /// A second module of a kind the domain takes once.
    Second { kind: &'static str, first: String },
    /// A child whose compatible is none of the binding's.
    UnknownCompatible(String),
    /// A child with only the generic `multiboot,module`: Xen gives it no role
    /// inside a domain node.
    GenericModule,
    /// A module in the old Dom0-only form (`xen,linux-zimage`, ...).
    OldForm(String),
    /// `reg` does not decode with the domain node's cell sizes, or has not
    /// exactly one entry.
    BadReg,
    /// A module of size 0.
    EmptyModule,
    /// `bootargs` on a module other than the kernel.
    BootargsNotOnKernel,
    /// The module's bytes overlap another module's.
    Overlaps(String),
    /// A static event channel's local port outside `1..=max` (the domain's
    /// ports: 1023 for a DomU, Xen's `max_evtchn_port`; 4095 for Dom0).
    EvtchnPort { port: u32, max: u32 },
    /// The phandle of `xen,evtchn` names no node.
    EvtchnPhandle(u32),
    /// The remote node is not a `xen,evtchn-v1` node.
    EvtchnNotChannel(String),
    /// The remote node's `xen,evtchn` names a node other than this one.
    EvtchnNotMutual(String),
    /// The remote node is not a child of `/chosen` (Dom0) or of a
    /// `xen,domain` node.
    EvtchnNoDomain(String),
    /// Another channel node of the same domain has this local port.
    EvtchnPortTaken(String),
    /// The domain has no Xen PV interface to use the channel with.
    EvtchnNotEnhanced,
    /// The domain would get an ID at or above [`DOMID_FIRST_RESERVED`].
    TooManyDomains,
    /// A phandle (`domain-cpupool`, `cpupool-cpus`) that names no node.
    Phandle(u32),
    /// `domain-cpupool` names a node that is not a `xen,cpupool` child of
    /// `/chosen`.
    NotCpupool(String),
    /// `cpupool-cpus` is absent or empty.
    EmptyCpupool,
    /// `cpupool-cpus` names a node that is not a `cpu` node under `/cpus`
    /// with a `reg`.
    NotCpu(String),
    /// `cpupool-cpus` names a CPU another pool node lists too.
    CpuInTwoPools { cpu: String, other: String },
    /// `cpupool-cpus` names a CPU that did not come up.
    CpuNotUp(String),
    /// `cpupool-sched` is not a scheduler Xen 4.17 knows.
    UnknownScheduler(String),
}

/// A domain node the binding (or snowvisor) does not accept: the node's path,
/// the property (or child node) at fault, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomUError {
    /// Path of the node at fault (the domain node or one of its modules).
    pub node: String,
    /// The property at fault, or `"compatible"` for a child node.
    pub property: &'static str,
    pub why: Why,
}

impl fmt::Display for DomUError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: ", self.node, self.property)?;
        match &self.why {
            Why::Missing => write!(f, "missing (booting.txt requires it)"),
            Why::Length { len, cells } => {
                write!(f, "{len} bytes, expected {cells}")
            }
            Why::ZeroMemory => write!(f, "0 KiB: a domain needs memory"),
            Why::NotPages(k) => write!(
                f,
                "{k} KiB is not a whole number of {PAGE_KIB} KiB pages"
            ),
            Why::MemoryTooBig(k) => write!(f, "{k} KiB does not fit a 64-bit byte count"),
            Why::ZeroCpus => write!(f, "0: a domain needs at least one vCPU"),
            Why::TooManyCpus(n) => write!(
                f,
                "{n} vCPUs: a guest GICv2 serves at most {MAX_VCPUS}"
            ),
            Why::NrSpis(n) => write!(
                f,
                "{n}: must be 1..={MAX_NR_SPIS} with vpl011 (its SPI is INTID 32), 0..={MAX_NR_SPIS} without"
            ),
            Why::Enhanced(v) => write!(
                f,
                "\"{v}\": expected \"enabled\", \"disabled\" or \"no-xenstore\" (or no value)"
            ),
            Why::Unsupported(what) => write!(f, "not supported by snowvisor yet ({what})"),
            Why::NoKernel => write!(
                f,
                "no child with compatible \"multiboot,kernel\" (the domain's kernel module)"
            ),
            Why::Second { kind, first } => write!(f, "a second {kind} module ({first} is one)"),
            Why::UnknownCompatible(c) => write!(
                f,
                "\"{c}\" is not a dom0less child (multiboot,kernel, multiboot,ramdisk, multiboot,device-tree)"
            ),
            Why::GenericModule => write!(
                f,
                "only \"multiboot,module\": inside a domain node say \"multiboot,kernel\" or \"multiboot,ramdisk\" too (Xen ignores such a module)"
            ),
            Why::OldForm(c) => write!(
                f,
                "\"{c}\" names Dom0's modules only; a domain's kernel is \"multiboot,kernel\", its ramdisk \"multiboot,ramdisk\""
            ),
            Why::BadReg => write!(
                f,
                "not one (address, size) entry in the domain node's #address-cells/#size-cells"
            ),
            Why::EmptyModule => write!(f, "size 0: the module is empty"),
            Why::BootargsNotOnKernel => {
                write!(f, "only the kernel module's bootargs are the domain's command line")
            }
            Why::Overlaps(other) => write!(f, "overlaps {other}"),
            Why::EvtchnPort { port, max } => {
                write!(f, "local port {port} is outside 1..={max}, the domain's ports")
            }
            Why::EvtchnPhandle(ph) => write!(f, "phandle {ph:#x} names no node"),
            Why::EvtchnNotChannel(p) => {
                write!(f, "names {p}, which is not a \"xen,evtchn-v1\" node")
            }
            Why::EvtchnNotMutual(p) => write!(
                f,
                "the remote end {p} does not name this node back (each end's xen,evtchn names the other)"
            ),
            Why::EvtchnNoDomain(p) => write!(
                f,
                "the remote end {p} is neither under /chosen (Dom0) nor under a \"xen,domain\" node"
            ),
            Why::EvtchnPortTaken(p) => write!(f, "the domain's local port is also {p}'s"),
            Why::EvtchnNotEnhanced => write!(
                f,
                "the domain has no event channels: give it xen,enhanced (\"no-xenstore\" or \"enabled\")"
            ),
            Why::Phandle(ph) => write!(f, "phandle {ph:#x} names no node"),
            Why::NotCpupool(p) => write!(
                f,
                "names {p}, which is not a \"xen,cpupool\" node directly under /chosen"
            ),
            Why::EmptyCpupool => write!(
                f,
                "missing or empty: a cpupool needs at least one CPU (cpupools.txt)"
            ),
            Why::NotCpu(p) => write!(
                f,
                "names {p}, which is not a cpu node (device_type = \"cpu\" under /cpus, with reg)"
            ),
            Why::CpuInTwoPools { cpu, other } => {
                write!(f, "{cpu} is already in cpupool {other}: a CPU is in one pool")
            }
            Why::CpuNotUp(p) => write!(
                f,
                "{p} did not come up: every CPU of a cpupool must be up (Xen stops too)"
            ),
            Why::UnknownScheduler(s) => write!(
                f,
                "\"{s}\" is not a Xen scheduler ({})",
                cpupool::XEN_SCHEDULERS.join(", ")
            ),
            Why::TooManyDomains => write!(
                f,
                "domain IDs run out: at most {} domains beside Dom0 (IDs from {DOMID_FIRST_RESERVED:#x} are Xen's reserved ones)",
                DOMID_FIRST_RESERVED - 1
            ),
        }
    }
}

/// Every `xen,domain` child of `/chosen`, checked, in tree order. Modules
/// of one domain may not overlap each other, another domain's, or Dom0's
/// ([`HostTree::modules`]). An empty list if there is no `/chosen` or no
/// domain node.
///
/// Errors: the first node or property the binding (or snowvisor) refuses
/// ([`Why`] says which rule).
pub fn domus<'a>(tree: &HostTree<'a>) -> Result<Vec<DomUSpec<'a>>, DomUError> {
    let x = tree.index();
    let Some(chosen) = x.by_path("/chosen") else {
        return Ok(Vec::new());
    };
    let mut out: Vec<DomUSpec<'a>> = Vec::new();
    let mut taken: Vec<(String, Region)> = tree
        .modules()
        .iter()
        .map(|m| (alloc::format!("/chosen/{}", m.node), m.region))
        .collect();
    for &n in kids(x, chosen) {
        let compat = x.compatibles(n);
        if compat.contains(&"xen,domain-shared-memory-v1") {
            return Err(err(x, n, "compatible", Why::Unsupported(SHM)));
        }
        if !compat.contains(&DOMAIN_COMPATIBLE) {
            continue;
        }
        let domid = domid_for(out.len()).map_err(|w| err(x, n, "compatible", w))?;
        let spec = domain(x, n, domid)?;
        for m in core::iter::once(&spec.kernel).chain(spec.ramdisk.as_ref()) {
            let path = alloc::format!("{}/{}", x.path(n), m.node);
            if let Some((other, _)) = taken.iter().find(|(_, r)| r.overlaps(&m.region)) {
                return Err(DomUError {
                    node: path,
                    property: "reg",
                    why: Why::Overlaps(other.clone()),
                });
            }
            taken.push((path, m.region));
        }
        out.push(spec);
    }
    Ok(out)
}

/// The domain ID of the `index`-th domain node (from 0): `index + 1`,
/// below [`DOMID_FIRST_RESERVED`] ([`Why::TooManyDomains`] otherwise).
pub fn domid_for(index: usize) -> Result<u16, Why> {
    u16::try_from(index + 1)
        .ok()
        .filter(|&d| d < DOMID_FIRST_RESERVED)
        .ok_or(Why::TooManyDomains)
}

const SHM: &str = "static shared memory, xen,domain-shared-memory-v1";

fn kids<'x>(x: &'x NodeIndex<'_>, n: usize) -> &'x [usize] {
    x.nodes.get(n).map_or(&[][..], |c| &c.children[..])
}

fn err(x: &NodeIndex<'_>, n: usize, property: &'static str, why: Why) -> DomUError {
    DomUError {
        node: String::from(x.path(n)),
        property,
        why,
    }
}

/// A number property of 1 or 2 cells (`memory`), or exactly 1 (`one`).
fn number(
    x: &NodeIndex<'_>,
    n: usize,
    name: &'static str,
    two: bool,
) -> Result<Option<u64>, DomUError> {
    let Some(v) = x.prop(n, name) else {
        return Ok(None);
    };
    let c: Vec<u32> = be_cells(v).collect();
    match (v.len(), &c[..]) {
        (4, [lo]) => Ok(Some(u64::from(*lo))),
        (8, [hi, lo]) if two => Ok(Some((u64::from(*hi) << 32) | u64::from(*lo))),
        (len, _) => Err(err(
            x,
            n,
            name,
            Why::Length {
                len,
                cells: if two { "1 or 2 cells" } else { "1 cell" },
            },
        )),
    }
}

fn domain<'a>(x: &NodeIndex<'a>, n: usize, domid: u16) -> Result<DomUSpec<'a>, DomUError> {
    for (prop, what) in [
        ("xen,static-mem", "static allocation"),
        ("direct-map", "direct-mapped memory"),
    ] {
        if x.has(n, prop) {
            return Err(err(x, n, prop, Why::Unsupported(what)));
        }
    }
    let memory_kib =
        number(x, n, "memory", true)?.ok_or_else(|| err(x, n, "memory", Why::Missing))?;
    let memory = |why| err(x, n, "memory", why);
    if memory_kib == 0 {
        return Err(memory(Why::ZeroMemory));
    }
    if memory_kib.checked_mul(1024).is_none() {
        return Err(memory(Why::MemoryTooBig(memory_kib)));
    }
    if !memory_kib.is_multiple_of(PAGE_KIB) {
        return Err(memory(Why::NotPages(memory_kib)));
    }
    let vcpus = number(x, n, "cpus", false)?.ok_or_else(|| err(x, n, "cpus", Why::Missing))? as u32;
    match vcpus {
        0 => return Err(err(x, n, "cpus", Why::ZeroCpus)),
        v if v > MAX_VCPUS => return Err(err(x, n, "cpus", Why::TooManyCpus(v))),
        _ => {}
    }
    let vpl011 = x.has(n, "vpl011");
    let nr_spis = number(x, n, "nr_spis", false)?.map(|v| v as u32);
    if let Some(s) = nr_spis {
        if s > MAX_NR_SPIS || (vpl011 && s == 0) {
            return Err(err(x, n, "nr_spis", Why::NrSpis(s)));
        }
    }
    let p2m_mem_mb = number(x, n, "xen,domain-p2m-mem-mb", false)?.map(|v| v as u32);
    let enhanced = match x.prop(n, "xen,enhanced") {
        None => Enhanced::Disabled,
        Some([] | [0]) => Enhanced::Enabled,
        Some(_) => match x.str_prop(n, "xen,enhanced") {
            Some("enabled") => Enhanced::Enabled,
            Some("disabled") => Enhanced::Disabled,
            Some("no-xenstore") => Enhanced::NoXenstore,
            other => {
                let v = String::from(other.unwrap_or("(not a string)"));
                return Err(err(x, n, "xen,enhanced", Why::Enhanced(v)));
            }
        },
    };
    let cpupool = cpupool::domain_pool(x, n)?;
    let (kernel, ramdisk, bootargs) = modules(x, n)?;
    Ok(DomUSpec {
        domid,
        name: x.nodes.get(n).map_or("", |d| d.name),
        memory_kib,
        vcpus,
        vpl011,
        nr_spis,
        enhanced,
        p2m_mem_mb,
        kernel,
        ramdisk,
        bootargs,
        cpupool,
    })
}

type Modules<'a> = (DomUModule<'a>, Option<DomUModule<'a>>, Option<&'a str>);

/// The domain node's children: one kernel, at most one ramdisk.
fn modules<'a>(x: &NodeIndex<'a>, dom: usize) -> Result<Modules<'a>, DomUError> {
    // Cell sizes as Xen's early walk reads them: the node's own, else
    // inherited from /chosen, else from the root.
    let inherit = |name| {
        let mut at = Some(dom);
        while let Some(i) = at {
            if let Some(c) = x.cell_count(i, name) {
                return c;
            }
            at = x.parent(i);
        }
        if name == "#address-cells" {
            2
        } else {
            1
        }
    };
    let (ac, sc) = (inherit("#address-cells"), inherit("#size-cells"));
    let mut kernel: Option<(usize, DomUModule<'a>)> = None;
    let mut ramdisk: Option<(usize, DomUModule<'a>)> = None;
    for &m in kids(x, dom) {
        let compat = x.compatibles(m);
        let has = |c: &str| compat.contains(&c);
        let slot = if has("multiboot,kernel") {
            (&mut kernel, "kernel")
        } else if has("multiboot,ramdisk") {
            (&mut ramdisk, "ramdisk")
        } else if has("multiboot,device-tree") {
            return Err(err(
                x,
                m,
                "compatible",
                Why::Unsupported("device passthrough, multiboot,device-tree"),
            ));
        } else if has(evtchn::COMPATIBLE) {
            // A static event channel end: [`static_evtchns`] reads it.
            continue;
        } else if has("xen,domain-shared-memory-v1") {
            return Err(err(x, m, "compatible", Why::Unsupported(SHM)));
        } else if let Some(old) = compat.iter().find(|c| {
            [
                "xen,linux-zimage",
                "xen,linux-initrd",
                "xen,multiboot-module",
                "xen,xsm-policy",
            ]
            .contains(c)
        }) {
            return Err(err(x, m, "compatible", Why::OldForm(String::from(*old))));
        } else if has("multiboot,module") {
            return Err(err(x, m, "compatible", Why::GenericModule));
        } else {
            let c = compat.first().copied().unwrap_or("(none)");
            return Err(err(
                x,
                m,
                "compatible",
                Why::UnknownCompatible(String::from(c)),
            ));
        };
        if x.has(m, "xen,uefi-binary") && !x.has(m, "reg") {
            return Err(err(
                x,
                m,
                "xen,uefi-binary",
                Why::Unsupported("modules loaded by the UEFI stub"),
            ));
        }
        let reg = x
            .reg_with(m, ac, sc)
            .ok_or_else(|| err(x, m, "reg", Why::BadReg))?;
        let region = match reg[..] {
            [] if !x.has(m, "reg") => return Err(err(x, m, "reg", Why::Missing)),
            [(base, size)] => Region { base, size },
            _ => return Err(err(x, m, "reg", Why::BadReg)),
        };
        if region.size == 0 {
            return Err(err(x, m, "reg", Why::EmptyModule));
        }
        if slot.1 != "kernel" && x.has(m, "bootargs") {
            return Err(err(x, m, "bootargs", Why::BootargsNotOnKernel));
        }
        if let Some((first, _)) = slot.0 {
            let first = String::from(x.path(*first));
            return Err(err(
                x,
                m,
                "compatible",
                Why::Second {
                    kind: slot.1,
                    first,
                },
            ));
        }
        let node = x.nodes.get(m).map_or("", |d| d.name);
        *slot.0 = Some((m, DomUModule { node, region }));
    }
    let (k, kernel) = kernel.ok_or_else(|| err(x, dom, "compatible", Why::NoKernel))?;
    Ok((kernel, ramdisk.map(|(_, r)| r), x.str_prop(k, "bootargs")))
}

mod cpupool;
mod evtchn;
pub use cpupool::{
    cpupools, CpuPool, AFFINITY_MASK, COMPATIBLE as CPUPOOL_COMPATIBLE, XEN_SCHEDULERS,
};
pub use evtchn::{static_evtchns, EvtchnEnd, StaticEvtchn};

#[cfg(test)]
mod tests;
