//! The boot summary: what snowvisor found, one line per fact, from the host tree
//! plus what only the CPU can tell. Pure, so host tests check it on real trees.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use snowvisor_dt::{DtError, HostTree, Region};

/// Facts read from the CPU rather than the tree.
#[derive(Debug, Clone, Copy)]
pub struct CpuFacts {
    pub midr: u32,
    pub mode: &'static str,
    /// CNTFRQ as read.
    pub cntfrq: u32,
    /// GICH_VTR list registers, if the virtual interface was read.
    pub list_registers: Option<u32>,
}

fn region(r: &Region) -> String {
    format!(
        "{:#010x}-{:#010x} ({} MiB)",
        r.base,
        r.end().saturating_sub(1),
        r.size >> 20
    )
}

fn opt(r: Option<Region>) -> String {
    r.map_or_else(|| String::from("absent"), |r| format!("{:#010x}", r.base))
}

/// The CPU part number in words, for the common cores.
pub fn cpu_name(midr: u32) -> &'static str {
    match (midr >> 24, (midr >> 4) & 0xfff) {
        (0x41, 0xc0f) => "Cortex-A15",
        (0x41, 0xc07) => "Cortex-A7",
        (0x41, 0xc0e) => "Cortex-A17",
        (0x41, 0xd03) => "Cortex-A53",
        (0x41, 0xd08) => "Cortex-A72",
        _ => "unknown core",
    }
}

/// Summary lines, in print order. Fails only if the tree lacks memory.
pub fn lines(t: &HostTree<'_>, cpu: &CpuFacts) -> Result<Vec<String>, DtError> {
    let mut out = Vec::new();
    out.push(format!(
        "snowvisor {} ({})",
        crate::VERSION,
        t.model().unwrap_or("no model")
    ));
    out.push(format!(
        "cpu: MIDR {:#010x} ({} r{}p{}), mode {}, {} CPU node(s)",
        cpu.midr,
        cpu_name(cpu.midr),
        (cpu.midr >> 20) & 0xf,
        cpu.midr & 0xf,
        cpu.mode,
        t.cpu_count()
    ));
    let mem = t.memory()?;
    let total: u64 = mem.iter().map(|r| r.size).sum();
    for (i, r) in mem.iter().enumerate() {
        out.push(format!("memory: bank {i} {}", region(r)));
    }
    out.push(format!(
        "memory: {} MiB in {} bank(s)",
        total >> 20,
        mem.len()
    ));
    for r in t.reserved() {
        out.push(format!(
            "memory: reserved {} {}{}",
            region(&r.region),
            r.what,
            if r.no_map { " (no-map)" } else { "" }
        ));
    }
    match t.gic() {
        Ok(g) => out.push(format!(
            "gic: GICD {:#010x} GICC {:#010x} GICH {} GICV {} maintenance INTID {}{}",
            g.gicd.base,
            g.gicc.base,
            opt(g.gich),
            opt(g.gicv),
            g.maintenance_intid
                .map_or_else(|| String::from("none"), |i| format!("{i}")),
            cpu.list_registers
                .map_or_else(String::new, |n| format!(", {n} list registers")),
        )),
        Err(e) => out.push(format!("gic: {e}")),
    }
    let timer = t.timer();
    let dt_freq = timer.and_then(|t| t.clock_frequency);
    let (freq, source) = match (cpu.cntfrq, dt_freq) {
        (0, Some(f)) => (f, "DT clock-frequency, CNTFRQ unprogrammed"),
        (_, Some(f)) if f != cpu.cntfrq => (f, "DT clock-frequency overrides CNTFRQ"),
        (f, _) => (f, "CNTFRQ"),
    };
    match timer {
        Some(tm) => out.push(format!(
            "timer: {}.{:03} MHz ({source}), hyp INTID {}, virt INTID {}",
            freq / 1_000_000,
            (freq % 1_000_000) / 1000,
            tm.intids[3].map_or_else(|| String::from("?"), |i| format!("{i}")),
            tm.intids[2].map_or_else(|| String::from("?"), |i| format!("{i}")),
        )),
        None => out.push(String::from(
            "timer: no arm,armv7-timer node in the device tree",
        )),
    }
    match t.stdout() {
        Some(u) => out.push(format!(
            "uart: {} ({}) at {:#010x}",
            u.path, u.compatible, u.base
        )),
        None => out.push(match t.stdout_path() {
            // The console line before the summary warns and says which UART
            // snowvisor writes to instead (crate::console_uart).
            Some(p) => format!("uart: /chosen/stdout-path \"{p}\" names no usable UART node"),
            None => String::from("uart: no /chosen/stdout-path"),
        }),
    }
    out.push(format!(
        "devices: {} enabled nodes with a compatible",
        t.device_count()
    ));
    out.push(format!(
        "bootargs: \"{}\"",
        t.hypervisor_bootargs().unwrap_or("")
    ));
    for m in t.modules() {
        out.push(format!(
            "module: {} {:?} {}{}",
            m.node,
            m.kind,
            region(&m.region),
            m.bootargs
                .map_or_else(String::new, |b| format!(" bootargs \"{b}\"")),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snowvisor_dt::testing::{with_reservations, QEMU_VIRT_MODULES_DTB};

    #[test]
    fn reservations_are_listed() {
        let dtb = with_reservations();
        let t = HostTree::new(&dtb).unwrap();
        let cpu = CpuFacts {
            midr: 0x412f_c0f1,
            mode: "HYP",
            cntfrq: 62_500_000,
            list_registers: Some(4),
        };
        let l = lines(&t, &cpu).unwrap();
        assert!(l.contains(&"memory: reserved 0x48000000-0x481fffff (2 MiB) /reserved-memory/fw-carveout@48000000 (no-map)".into()), "{l:#?}");
        assert!(
            l.contains(&"memory: reserved 0x4a000000-0x4a000fff (0 MiB) /memreserve/".into()),
            "{l:#?}"
        );
    }

    #[test]
    fn unusable_stdout_path_is_named() {
        let bad: &[u8] = b"/pl011@9000001";
        let mut dtb = QEMU_VIRT_MODULES_DTB.to_vec();
        let mut hits = 0;
        for i in 0..dtb.len() - bad.len() {
            if &dtb[i..i + bad.len()] == b"/pl011@9000000" {
                dtb[i..i + bad.len()].copy_from_slice(bad);
                hits += 1;
            }
        }
        assert!(hits > 0, "no stdout-path to break");
        let t = HostTree::new(&dtb).unwrap();
        let cpu = CpuFacts {
            midr: 0x414f_c0f0,
            mode: "HYP",
            cntfrq: 62_500_000,
            list_registers: None,
        };
        let l = lines(&t, &cpu).unwrap();
        assert!(
            l.iter()
                .any(|l| l
                    == "uart: /chosen/stdout-path \"/pl011@9000001\" names no usable UART node"),
            "{l:#?}"
        );
    }

    #[test]
    fn qemu_summary_lines() {
        let t = HostTree::new(QEMU_VIRT_MODULES_DTB).unwrap();
        let cpu = CpuFacts {
            midr: 0x412f_c0f1,
            mode: "HYP",
            cntfrq: 62_500_000,
            list_registers: Some(4),
        };
        let l = lines(&t, &cpu).unwrap().join("\n");
        assert!(
            l.contains("cpu: MIDR 0x412fc0f1 (Cortex-A15 r2p1), mode HYP, 1 CPU node(s)"),
            "{l}"
        );
        assert!(
            l.contains("memory: bank 0 0x40000000-0x7fffffff (1024 MiB)"),
            "{l}"
        );
        assert!(l.contains("gic: GICD 0x08000000 GICC 0x08010000 GICH 0x08030000 GICV 0x08040000 maintenance INTID 25, 4 list registers"), "{l}");
        assert!(
            l.contains("timer: 62.500 MHz (CNTFRQ), hyp INTID 26, virt INTID 27"),
            "{l}"
        );
        assert!(
            l.contains("uart: /pl011@9000000 (arm,pl011) at 0x09000000"),
            "{l}"
        );
        assert!(
            l.contains("bootargs: \"loglvl=debug dom0_mem=512M\""),
            "{l}"
        );
        assert!(l.contains("module: module@0x42000000 Kernel"), "{l}");
    }
}
