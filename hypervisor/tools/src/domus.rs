//! The boot-time DomUs a tree asks for (dom0less `xen,domain` nodes), as
//! `scripts/plan` shows them: read and checked by the hypervisor's own code
//! (`snowvisor_dt::dom0less::domus`, `static_evtchns` and `cpupools`, the module check
//! `snowvisor_core::domain::layout::check_module`), so the plan stops on
//! what snowvisor's boot stops on and warns about what it leaves out.

use serde::Serialize;
use snowvisor_core::domain::layout::check_module;
use snowvisor_dt::dom0less::{self, CpuPool, DomUModule, DomUSpec, Enhanced, StaticEvtchn};
use snowvisor_dt::{HostTree, Region};

/// The DomUs and static event channels of a tree, or why snowvisor would
/// stop the boot on it.
#[derive(Debug)]
pub struct DomUs<'a> {
    pub specs: Vec<DomUSpec<'a>>,
    pub evtchns: Vec<StaticEvtchn>,
    /// The boot-time cpupools (`xen,cpupool` nodes), every CPU of the tree
    /// taken as up (the plan cannot know one that will not come up).
    pub pools: Vec<CpuPool<'a>>,
    /// DomUs snowvisor would name and not start, with the reason (a module
    /// outside RAM or above 4 GiB, as at boot).
    pub not_started: Vec<(u16, String)>,
    /// The binding error snowvisor's boot stops on (`fatal:`), if any.
    pub fatal: Option<String>,
}

/// Reads `tree`'s `xen,domain` nodes as snowvisor's boot does.
pub fn read<'a>(tree: &HostTree<'a>) -> DomUs<'a> {
    let mut out = DomUs {
        specs: Vec::new(),
        evtchns: Vec::new(),
        pools: Vec::new(),
        not_started: Vec::new(),
        fatal: None,
    };
    let specs = match dom0less::domus(tree) {
        Ok(s) => s,
        Err(e) => {
            out.fatal = Some(e.to_string());
            return out;
        }
    };
    match dom0less::static_evtchns(tree, &specs) {
        Ok(e) => out.evtchns = e,
        Err(e) => out.fatal = Some(e.to_string()),
    }
    // The CPUs in tree order, the first taken as the boot CPU (Pool-0's).
    let cpus: Vec<u64> = snowvisor_plan::cpus::host_cpus(tree.index())
        .iter()
        .map(|c| c.mpidr)
        .collect();
    match dom0less::cpupools(tree, &cpus) {
        Ok(p) => out.pools = p,
        Err(e) => {
            out.fatal.get_or_insert_with(|| e.to_string());
        }
    }
    // Without a memory node (a bootloader fills it in) nothing is checked.
    let ram = tree.memory().unwrap_or_default();
    // snowvisor's own region depends on the image, not the tree: not checked.
    let hyp = Region { base: 0, size: 0 };
    for s in &specs {
        let mods = core::iter::once(&s.kernel).chain(s.ramdisk.as_ref());
        if ram.is_empty() {
            break;
        }
        if let Some(e) = mods
            .filter_map(|m| check_module(m.node, m.region, &ram, hyp).err())
            .next()
        {
            out.not_started
                .push((s.domid, format!("{}: not started: {e}", s.name)));
        }
    }
    out.specs = specs;
    out
}

fn enhanced(e: Enhanced) -> &'static str {
    match e {
        Enhanced::Disabled => "no",
        Enhanced::Enabled => "enabled",
        Enhanced::NoXenstore => "no-xenstore",
    }
}

fn module_text(what: &str, m: &DomUModule<'_>) -> String {
    format!(
        "{what} {} {:#x}-{:#x} ({} KiB)",
        m.node,
        m.region.base,
        m.region.end() - 1,
        m.region.size.div_ceil(1024)
    )
}

/// The text lines (`plan: ...`), in tree order; a fatal error last.
pub fn lines(d: &DomUs<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for s in &d.specs {
        let spis = s
            .nr_spis
            .map_or_else(|| String::from("the host's"), |n| n.to_string());
        out.push(format!(
            "plan: d{} {}: {} MiB ({} KiB), {} vCPU(s), vpl011 {}, xen,enhanced {}, nr_spis {spis}",
            s.domid,
            s.name,
            s.memory_kib / 1024,
            s.memory_kib,
            s.vcpus,
            if s.vpl011 { "yes" } else { "no" },
            enhanced(s.enhanced)
        ));
        let args = s.bootargs.map_or_else(
            || String::from("no bootargs"),
            |a| format!("bootargs \"{a}\""),
        );
        out.push(format!(
            "plan: d{} {}: {}, {args}",
            s.domid,
            s.name,
            module_text("kernel", &s.kernel)
        ));
        if let Some(r) = &s.ramdisk {
            out.push(format!(
                "plan: d{} {}: {}",
                s.domid,
                s.name,
                module_text("ramdisk", r)
            ));
        }
    }
    for (_, why) in &d.not_started {
        out.push(format!("plan: warning: {why}"));
    }
    // As the boot's `cpupool:` lines, only when the tree has pool nodes.
    if d.pools.iter().any(|p| p.node.is_some()) {
        for p in &d.pools {
            let cpus: Vec<String> = p.cpus.iter().map(|m| format!("{m:#010x}")).collect();
            let doms: Vec<String> = (p.id == 0)
                .then(|| String::from("d0"))
                .into_iter()
                .chain(
                    d.specs
                        .iter()
                        .filter(|s| match s.cpupool {
                            Some(n) => p.node == Some(n),
                            None => p.id == 0,
                        })
                        .map(|s| format!("d{}", s.domid)),
                )
                .collect();
            out.push(format!(
                "plan: cpupool: Pool-{} {}: CPU(s) with MPIDR {}; domains: {}",
                p.id,
                p.path(),
                cpus.join(", "),
                if doms.is_empty() {
                    String::from("none")
                } else {
                    doms.join(" ")
                }
            ));
            if let Some(s) = p.sched.filter(|&s| s != "credit") {
                out.push(format!(
                    "plan: warning: cpupool: {}: cpupool-sched \"{s}\": snowvisor runs its own scheduler on every CPU (reported as Xen's credit)",
                    p.path()
                ));
            }
        }
    }
    for e in &d.evtchns {
        out.push(format!(
            "plan: evtchn: static channel d{} port {} ({}) <-> d{} port {} ({})",
            e.first.domid, e.first.port, e.first.node, e.second.domid, e.second.port, e.second.node
        ));
    }
    if let Some(f) = &d.fatal {
        out.push(format!(
            "plan: fatal: {f} (snowvisor stops the boot on this tree)"
        ));
    }
    out
}

/// A DomU in the JSON (`"domus"`).
#[derive(Serialize)]
pub struct Json<'a> {
    domid: u16,
    name: &'a str,
    memory_kib: u64,
    vcpus: u32,
    vpl011: bool,
    /// `null`: as many as the host's GIC has.
    nr_spis: Option<u32>,
    enhanced: &'static str,
    kernel: JsonModule<'a>,
    ramdisk: Option<JsonModule<'a>>,
    bootargs: Option<&'a str>,
    /// The `xen,cpupool` node its `domain-cpupool` names (`null`: Pool-0).
    cpupool: Option<&'a str>,
    /// Why snowvisor would not start it (`null`: it would).
    not_started: Option<&'a str>,
}

#[derive(Serialize)]
pub struct JsonModule<'a> {
    node: &'a str,
    /// Hex strings, as the plan's other addresses.
    base: String,
    size: String,
}

/// A static event channel in the JSON (`"evtchns"`).
#[derive(Serialize)]
pub struct JsonEvtchn<'a> {
    first: (u16, u32, &'a str),
    second: (u16, u32, &'a str),
}

fn json_module<'a>(m: &DomUModule<'a>) -> JsonModule<'a> {
    JsonModule {
        node: m.node,
        base: format!("{:#x}", m.region.base),
        size: format!("{:#x}", m.region.size),
    }
}

/// The DomUs and the static channels for the JSON document.
pub fn json<'a>(d: &'a DomUs<'a>) -> (Vec<Json<'a>>, Vec<JsonEvtchn<'a>>) {
    let domus = d
        .specs
        .iter()
        .map(|s| Json {
            domid: s.domid,
            name: s.name,
            memory_kib: s.memory_kib,
            vcpus: s.vcpus,
            vpl011: s.vpl011,
            nr_spis: s.nr_spis,
            enhanced: enhanced(s.enhanced),
            kernel: json_module(&s.kernel),
            ramdisk: s.ramdisk.as_ref().map(json_module),
            bootargs: s.bootargs,
            cpupool: s.cpupool,
            not_started: d
                .not_started
                .iter()
                .find(|(id, _)| *id == s.domid)
                .map(|(_, w)| w.as_str()),
        })
        .collect();
    let evtchns = d
        .evtchns
        .iter()
        .map(|e| JsonEvtchn {
            first: (e.first.domid, e.first.port, e.first.node.as_str()),
            second: (e.second.domid, e.second.port, e.second.node.as_str()),
        })
        .collect();
    (domus, evtchns)
}
