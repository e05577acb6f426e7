//! What Dom0's Xen view needs from the host tree and the plan, worked out
//! before anything is mapped (pure, host-tested): where the grant-table region
//! goes, the console UART snowvisor keeps, and Dom0's `console=` argument.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use snowvisor_dt::{HostTree, Region};
use snowvisor_plan::irq::{self, Irq};
use snowvisor_plan::Plan;

const MIB: u64 = 1 << 20;
const FOUR_GIB: u64 = 1 << 32;

/// Every range of the host's physical address space something lives in:
/// RAM, the MMIO of every node (devices, kept or not, the GIC) and every
/// passthrough window (PCI `ranges`).
pub fn taken_regions(tree: &HostTree<'_>, plan: &Plan, ram: &[Region]) -> Vec<Region> {
    let mut v: Vec<Region> = ram.to_vec();
    v.extend(plan.mmio_regions());
    let x = tree.index();
    for i in 0..x.len() {
        v.extend(x.mmio(i).unwrap_or_default());
    }
    v
}

/// The grant-table region of Dom0's `/hypervisor` node: the highest 1 MiB
/// aligned range of `size` bytes below 4 GiB that overlaps nothing in
/// `taken`. Never at 0 (Linux takes a zero base for "no region"). The IPA
/// space above Dom0's RAM is usually free; Xen uses its own `.text` instead,
/// which is never Dom0 RAM either.
pub fn grant_table_region(taken: &[Region], size: u64) -> Option<Region> {
    if size == 0 {
        return None;
    }
    let span = size.div_ceil(MIB) * MIB;
    let mut top = FOUR_GIB;
    while top >= span + MIB {
        let r = Region {
            base: top - span,
            size,
        };
        let probe = Region {
            base: r.base,
            size: span,
        };
        match taken
            .iter()
            .filter(|t| t.size > 0 && t.overlaps(&probe))
            .map(|t| t.base)
            .min()
        {
            None => return Some(r),
            // Below the lowest thing in the way, 1 MiB aligned.
            Some(b) => top = b & !(MIB - 1),
        }
    }
    None
}

/// The console UART snowvisor keeps for itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUart {
    pub path: String,
    pub compatible: String,
    /// Its receive interrupt, if it is a GIC SPI.
    pub intid: Option<u32>,
}

/// The UART snowvisor writes to (the device whose registers hold `base`,
/// whether or not `/chosen/stdout-path` names it), with its SPI.
pub fn console_uart(tree: &HostTree<'_>, base: u64) -> Option<ConsoleUart> {
    let x = tree.index();
    let i = tree.device_at(base)?;
    let intid = irq::interrupts(x, i).ok().and_then(|v| {
        v.into_iter().find_map(|q| match q {
            Irq::Spi(n) => Some(n),
            _ => None,
        })
    });
    Some(ConsoleUart {
        path: x.path(i).to_string(),
        compatible: x.str_prop(i, "compatible").unwrap_or("").to_string(),
        intid,
    })
}

/// The name Linux gives a UART of this kind (`console=<prefix><n>`).
pub fn tty_prefix(compatible: &str) -> Option<&'static str> {
    match compatible {
        "arm,pl011" | "arm,primecell" => Some("ttyAMA"),
        "samsung,exynos4210-uart" | "samsung,s3c6400-uart" => Some("ttySAC"),
        "ns16550a" | "ns16550" | "snps,dw-apb-uart" => Some("ttyS"),
        _ => None,
    }
}

/// Dom0's command line with its console on hvc0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleArgs {
    pub bootargs: String,
    /// What was changed, for the boot log.
    pub note: Option<String>,
}

/// Puts Dom0's console on hvc0: appends `console=hvc0` when the command line
/// names no console, and turns a `console=` naming the UART snowvisor keeps
/// (`kept_tty` is its name prefix, e.g. `ttyAMA`) into `console=hvc0`, since
/// Dom0 no longer has that UART. Any other console is the user's choice.
pub fn dom0_console_args(user: &str, kept_tty: Option<&str>) -> ConsoleArgs {
    let names_kept = |dev: &str| {
        kept_tty.is_some_and(|p| {
            dev.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    let mut words: Vec<String> = Vec::new();
    let mut replaced: Vec<&str> = Vec::new();
    let mut any_console = false;
    for w in user.split_whitespace() {
        let Some(dev) = w.strip_prefix("console=") else {
            words.push(w.to_string());
            continue;
        };
        any_console = true;
        let name = dev.split(',').next().unwrap_or("");
        if names_kept(name) {
            replaced.push(w);
            if !words.iter().any(|x| x == "console=hvc0") {
                words.push("console=hvc0".into());
            }
        } else if !(w == "console=hvc0" && words.iter().any(|x| x == w)) {
            words.push(w.to_string());
        }
    }
    let note = if !any_console {
        words.push("console=hvc0".into());
        Some("console=hvc0 added to Dom0's command line".into())
    } else if !replaced.is_empty() {
        Some(alloc::format!(
            "{} names the UART snowvisor keeps: Dom0's console is hvc0",
            replaced.join(" ")
        ))
    } else {
        None
    };
    ConsoleArgs {
        bootargs: words.join(" "),
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snowvisor_dt::testing::QEMU_VIRT_MODULES_DTB;
    use snowvisor_plan::{self as plan, Keep, PlanOptions};

    fn r(base: u64, size: u64) -> Region {
        Region { base, size }
    }

    #[test]
    fn grant_region_on_qemu_virt_is_just_below_4_gib() {
        let t = HostTree::new(QEMU_VIRT_MODULES_DTB).unwrap();
        let keep = Keep::none().console(&t);
        let p = plan::make(&t, &PlanOptions::parse(None, None).0, &keep).unwrap();
        let ram = t.memory().unwrap();
        let taken = taken_regions(&t, &p, &ram);
        assert!(
            taken.iter().any(|x| x.base == 0x0900_0000),
            "the kept UART counts"
        );
        let g = grant_table_region(&taken, 64 << 12).unwrap();
        assert_eq!(g, r(0xfff0_0000, 0x4_0000));
        assert!(taken.iter().all(|x| !x.overlaps(&g)));
    }

    #[test]
    fn grant_region_skips_what_is_taken() {
        // RAM up to 4 GiB, a device at 0x3ff0_0000: the hole below it.
        let taken = [r(0x4000_0000, 0xc000_0000), r(0x3ff0_0000, 0x1000)];
        assert_eq!(
            grant_table_region(&taken, 0x4_0000),
            Some(r(0x3fe0_0000, 0x4_0000))
        );
        // An unaligned thing in the way moves the region below its MiB.
        let taken = [r(0xfff8_0000, 0x100)];
        assert_eq!(
            grant_table_region(&taken, 0x18_0000),
            Some(r(0xffd0_0000, 0x18_0000))
        );
        // Everything taken (or only page 0 free): none.
        assert_eq!(grant_table_region(&[r(0x10_0000, FOUR_GIB)], 0x1000), None);
        assert_eq!(grant_table_region(&[], 0), None);
    }

    #[test]
    fn console_uart_of_qemu_virt() {
        let t = HostTree::new(QEMU_VIRT_MODULES_DTB).unwrap();
        let u = console_uart(&t, 0x0900_0000).unwrap();
        assert_eq!(u.path, "/pl011@9000000");
        assert_eq!(u.intid, Some(33));
        assert_eq!(tty_prefix(&u.compatible), Some("ttyAMA"));
    }

    #[test]
    fn console_argument() {
        let a = dom0_console_args("rdinit=/init", Some("ttyAMA"));
        assert_eq!(a.bootargs, "rdinit=/init console=hvc0");
        assert!(a.note.is_some());
        let a = dom0_console_args("", None);
        assert_eq!(a.bootargs, "console=hvc0");
        let a = dom0_console_args(
            "console=ttyAMA0,115200 snowvisor.test=poweroff",
            Some("ttyAMA"),
        );
        assert_eq!(a.bootargs, "console=hvc0 snowvisor.test=poweroff");
        assert!(a.note.unwrap().starts_with("console=ttyAMA0,115200 names"));
        // Already there, or another console the user chose: unchanged.
        let a = dom0_console_args("console=hvc0 quiet", Some("ttyAMA"));
        assert_eq!((a.bootargs.as_str(), a.note), ("console=hvc0 quiet", None));
        let a = dom0_console_args("console=tty0", Some("ttyAMA"));
        assert_eq!(a.bootargs, "console=tty0");
        // Both: one hvc0 left.
        let a = dom0_console_args("console=hvc0 console=ttyAMA0", Some("ttyAMA"));
        assert_eq!(a.bootargs, "console=hvc0");
        let a = dom0_console_args("console=ttyAMA0 console=hvc0", Some("ttyAMA"));
        assert_eq!(a.bootargs, "console=hvc0");
        // Not a kept-UART name: ttyAMAx, another driver.
        let a = dom0_console_args("console=ttyAMAx console=ttyS0", Some("ttyAMA"));
        assert_eq!(a.bootargs, "console=ttyAMAx console=ttyS0");
    }
}
