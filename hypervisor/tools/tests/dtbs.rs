//! Every real DTB of Debian's armmp kernel package (cached by `scripts/fetch-dom0`
//! in target/dom0/dtbs/) through the plan and the Dom0 writer, with default
//! options and with `iommu=pass:all`: no panic, no error, an output that
//! snowvisor can plan again (so no dangling phandle), that `dtc` reads with no
//! warning the input did not have, and from which every hidden IOMMU is gone.
//! Each DTB is also rewritten with FDT_NOP tokens (at the start of the
//! structure block, between properties, between nodes) and with properties
//! after child nodes: the summary, the plan and Dom0's tree must not change.
//! And the addresses the boot path reads (GIC frames, console UART, RAM) are
//! the plan's, translated through every bus's `ranges` alike.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use snowvisor_core::summary::{self, CpuFacts};
use snowvisor_dt::host::GIC_COMPATIBLES;
use snowvisor_dt::{HostTree, Region};
use snowvisor_plan::devices::is_memory_node;
use snowvisor_plan::{self as plan, dom0, IommuAction, Keep, PlanOptions};
use snowvisor_tools::fdt_edit::{rewrite, Rewrite};
use snowvisor_tools::{dtc_warnings, expected_new_warning, preview_params};

fn dtb_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dom0/dtbs")
}

#[derive(Default)]
struct Tally {
    files: usize,
    with_iommus: usize,
    iommu_nodes: usize,
    gic_translated: usize,
}

/// The boot path's addresses equal the plan's. Returns whether the GIC sits
/// behind a `ranges` that is not the identity.
fn boot_path_matches_plan(tree: &HostTree<'_>, p: &plan::Plan) -> Result<bool, String> {
    let x = tree.index();
    let mut translated = false;
    if let Ok(g) = tree.gic() {
        let frames = &p
            .gic
            .as_ref()
            .ok_or("boot path has a GIC, the plan none")?
            .frames;
        let boot: Vec<Region> = [Some(g.gicd), Some(g.gicc), g.gich, g.gicv]
            .into_iter()
            .flatten()
            .collect();
        if !frames.starts_with(&boot) {
            return Err(format!("GIC: boot path {boot:x?}, plan {frames:x?}"));
        }
        let n = tree.find_compatible(GIC_COMPATIBLES).ok_or("GIC node")?;
        translated = x.reg(n).and_then(|r| r.first().copied()).map(|r| r.0) != Some(g.gicd.base);
    }
    if let Some(u) = tree.stdout() {
        let n = x.by_path(u.path).ok_or("stdout node")?;
        let plan_base = x.mmio(n).and_then(|r| r.first().map(|r| r.base));
        if plan_base != Some(u.base) {
            return Err(format!(
                "UART {}: boot path {:#x}, plan {plan_base:x?}",
                u.path, u.base
            ));
        }
    }
    if let Ok(mem) = tree.memory() {
        for r in &mem {
            if !(0..x.len())
                .any(|i| is_memory_node(x, i) && x.mmio(i).is_some_and(|m| m.contains(r)))
            {
                return Err(format!(
                    "memory bank {r:x?} is in no memory node's translated reg"
                ));
            }
        }
    }
    Ok(translated)
}

/// What snowvisor reads from a tree: the boot summary, the plan and Dom0's tree
/// (default options).
fn reading(blob: &[u8]) -> Result<(Vec<String>, plan::Plan, Vec<u8>), String> {
    let tree = HostTree::new(blob).map_err(|e| format!("host tree: {e}"))?;
    let cpu = CpuFacts {
        midr: 0x412f_c0f1,
        mode: "HYP",
        cntfrq: 0,
        list_registers: None,
    };
    let lines = summary::lines(&tree, &cpu).unwrap_or_else(|e| vec![e.to_string()]);
    let p = plan::make(&tree, &PlanOptions::default(), &Keep::none().console(&tree))
        .map_err(|e| format!("plan: {e}"))?;
    let preview = preview_params(&tree, &p, true);
    let out = dom0::build(&tree, &p, &preview.params).map_err(|e| format!("dom0: {e}"))?;
    Ok((lines, p, out))
}

/// The same tree in the forms of [`Rewrite`] reads the same.
fn same_under_rewrites(blob: &[u8]) -> Result<(), String> {
    let want = reading(blob)?;
    let each = Rewrite::ALL.map(|r| vec![r]);
    for how in each.iter().map(Vec::as_slice).chain([&Rewrite::ALL[..]]) {
        let edited = rewrite(blob, how)?;
        let got = reading(&edited).map_err(|e| format!("{how:?}: {e}"))?;
        if got.0 != want.0 {
            return Err(format!("{how:?}: summary {:?} != {:?}", got.0, want.0));
        }
        if got.1 != want.1 {
            return Err(format!("{how:?}: the plan differs"));
        }
        if got.2 != want.2 {
            return Err(format!("{how:?}: Dom0's tree differs"));
        }
    }
    Ok(())
}

/// Dom0's INTIDs and snowvisor's never intersect: no SPI routed to Dom0 is
/// one the plan keeps, nor the GIC maintenance or HYP timer PPI as the boot
/// summary (`HostTree`, a separate reading of the tree) finds them.
fn check_intids(tree: &HostTree<'_>, p: &plan::Plan, args: &str) -> Result<(), String> {
    let mut ours: Vec<u32> = p.kept_irqs.iter().map(|k| k.intid).collect();
    ours.extend(tree.gic().ok().and_then(|g| g.maintenance_intid));
    ours.extend(tree.timer().and_then(|t| t.intids[3]));
    match p.spis().into_iter().find(|s| ours.contains(s)) {
        Some(s) => Err(format!("({args}): INTID {s} is snowvisor's and Dom0's")),
        None => Ok(()),
    }
}

/// Checks one DTB; returns its IOMMU count and whether its GIC is behind
/// translating `ranges`, or what went wrong.
fn check(path: &Path) -> Result<(usize, bool), String> {
    let blob = std::fs::read(path).map_err(|e| e.to_string())?;
    same_under_rewrites(&blob)?;
    let tree = HostTree::new(&blob).map_err(|e| format!("host tree: {e}"))?;
    let translated = boot_path_matches_plan(
        &tree,
        &plan::make(&tree, &PlanOptions::default(), &Keep::none()).map_err(|e| e.to_string())?,
    )?;
    let before = dtc_warnings(&blob)?;
    // With the console UART kept, as at boot, and every SMMUv3 owned.
    let (opts, _) = PlanOptions::parse(Some("own:arm,smmu-v3"), None);
    let p = plan::make(&tree, &opts, &Keep::none().console(&tree))
        .map_err(|e| format!("plan (console kept): {e}"))?;
    check_intids(&tree, &p, "console kept")?;
    let mut iommus = 0;
    for args in [None, Some("pass:all")] {
        let (opts, errs) = PlanOptions::parse(args, None);
        assert!(errs.is_empty());
        let p =
            plan::make(&tree, &opts, &Keep::none()).map_err(|e| format!("plan ({args:?}): {e}"))?;
        iommus = p.iommus.len();
        check_intids(&tree, &p, &format!("{args:?}"))?;
        let preview = preview_params(&tree, &p, true);
        let out =
            dom0::build(&tree, &p, &preview.params).map_err(|e| format!("dom0 ({args:?}): {e}"))?;
        let t2 =
            HostTree::new(&out).map_err(|e| format!("output ({args:?}) does not parse: {e}"))?;
        let p2 = plan::make(&t2, &PlanOptions::default(), &Keep::none())
            .map_err(|e| format!("output ({args:?}) cannot be planned: {e}"))?;
        // Hidden IOMMUs are gone; with pass:all, every IOMMU is still there.
        for d in &p.iommus {
            let still = p2.iommus.iter().any(|d2| d2.path == d.path);
            if still == d.removed {
                return Err(format!(
                    "{} ({args:?}): removed={} but present={still}",
                    d.path, d.removed
                ));
            }
            if d.action != IommuAction::Pass {
                if let Some(d2) = p2.iommus.iter().find(|d2| d2.path == d.path) {
                    if !d2.masters.is_empty() {
                        return Err(format!(
                            "{}: hidden but still has masters {:?}",
                            d.path, d2.masters
                        ));
                    }
                }
            }
        }
        let after = dtc_warnings(&out)?;
        if let Some(w) = after.iter().find(|w| w.contains("iommus_property")) {
            return Err(format!("({args:?}): {w}"));
        }
        let new: Vec<&String> = after
            .difference(&before)
            .filter(|w| !expected_new_warning(w))
            .collect();
        if !new.is_empty() {
            return Err(format!("new dtc warnings ({args:?}): {new:#?}"));
        }
    }
    Ok((iommus, translated))
}

#[test]
fn every_debian_dtb() {
    let dir = dtb_dir();
    let rd = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the DTBs of Debian's armmp kernel are missing (scripts/fetch-dom0 fetches them; scripts/test does)",
            dir.display()
        )
    });
    if dtc_warnings(&[]).is_err_and(|e| e.starts_with("cannot run dtc")) {
        panic!("dtc is needed: apt-get install device-tree-compiler");
    }
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "dtb"))
        .collect();
    files.sort();
    // Debian's 6.1 armmp-lpae package has 898; a partial fetch is not a sweep.
    assert!(
        files.len() > 800,
        "only {} DTBs in {}: the fetch is incomplete (rerun scripts/fetch-dom0)",
        files.len(),
        dir.display()
    );
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let tally = Mutex::new(Tally::default());
    let failures = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(16);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(f) = files.get(i) else { break };
                let name = f
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                let r = std::panic::catch_unwind(|| check(f))
                    .unwrap_or_else(|_| Err(String::from("panicked")));
                let mut t = tally.lock().unwrap();
                t.files += 1;
                match r {
                    Ok((n, translated)) => {
                        t.iommu_nodes += n;
                        t.with_iommus += usize::from(n > 0);
                        t.gic_translated += usize::from(translated);
                    }
                    Err(e) => failures.lock().unwrap().push(format!("{name}: {e}")),
                }
            });
        }
    });
    let t = tally.into_inner().unwrap();
    let failures = failures.into_inner().unwrap();
    println!(
        "{} DTBs in {:.1} s: {} passed, {} with IOMMU nodes ({} IOMMU nodes), {} with the GIC behind translating ranges, {} failed",
        t.files,
        start.elapsed().as_secs_f64(),
        t.files - failures.len(),
        t.with_iommus,
        t.iommu_nodes,
        t.gic_translated,
        failures.len(),
    );
    assert!(
        t.gic_translated > 0,
        "no DTB with the GIC behind translating ranges: the address check proved nothing"
    );
    assert!(
        failures.is_empty(),
        "{} of {} DTBs failed:\n{}",
        failures.len(),
        t.files,
        failures.join("\n")
    );
}

/// QEMU's own trees (`-M virt,...,dumpdtb=`, in hypervisor/dt/src/testdata):
/// the Dom0 tree built from them round-trips through dtc with no new warnings.
#[test]
fn qemu_dumped_trees() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dt/src/testdata");
    for name in [
        "qemu-virt.dtb",
        "qemu-virt-modules.dtb",
        "qemu-virt-smmuv3.dtb",
    ] {
        if let Err(e) = check(&dir.join(name)) {
            panic!("{name}: {e}");
        }
    }
}
