//! `snowctl stats [--clear]`: snowvisor's exit counters through its sysctl
//! `SNOWVISOR_SYSCTL_exit_stats` (0x534e0002; `hypervisor/core/src/stats.rs` has
//! the classes and keys). One line per counter, biggest first within each
//! class: `stats: CLASS KEY COUNT NAME`, then `stats: total N`.

use std::collections::BTreeMap;

use crate::privcmd::{HcBuf, Privcmd};
use crate::{errno_text, xen, Fail};

/// snowvisor's sysctl command for the exit counters.
const SYSCTL_SNOWVISOR_EXIT_STATS: u32 = 0x534e_0002;
/// Bytes per entry: class, key, count (`u32` each).
const ENTRY: usize = 12;
/// Entries asked for (the hypervisor has far fewer non-zero counters).
const ROOM: usize = 2048;

/// The sysctl op: buffer handle at `u + 0`, count at `u + 8`, clear at `u + 12`.
fn op(buf: u64, room: u32, clear: bool) -> [u8; xen::SYSCTL_SIZE] {
    let mut b = [0u8; xen::SYSCTL_SIZE];
    b[0..4].copy_from_slice(&SYSCTL_SNOWVISOR_EXIT_STATS.to_le_bytes());
    b[4..8].copy_from_slice(&xen::SYSCTL_INTERFACE_VERSION.to_le_bytes());
    b[8..16].copy_from_slice(&buf.to_le_bytes());
    b[16..20].copy_from_slice(&room.to_le_bytes());
    b[20..24].copy_from_slice(&(clear as u32).to_le_bytes());
    b
}

/// The class names, by number (`stats::Class` in the hypervisor).
const CLASSES: &[&str] = &[
    "?",
    "hypercall",
    "psci-hvc",
    "smc",
    "wfi",
    "wfe",
    "gicd-read",
    "gicd-write",
    "data-abort",
    "prefetch-abort",
    "cp15",
    "cp15-64",
    "irq",
    "maintenance",
    "lr-refill",
    "other",
    "vcpu-switch",
];

/// Xen's hypercall numbers (`public/xen.h`).
fn hypercall_name(nr: u32) -> &'static str {
    match nr {
        7 => "platform_op",
        12 => "memory_op",
        13 => "multicall",
        17 => "xen_version",
        18 => "console_io",
        20 => "grant_table_op",
        21 => "vm_assist",
        24 => "vcpu_op",
        29 => "sched_op",
        30 => "callback_op",
        32 => "event_channel_op",
        33 => "physdev_op",
        34 => "hvm_op",
        35 => "sysctl",
        36 => "domctl",
        41 => "dm_op",
        63 => "63 and above",
        _ => "not one snowvisor implements",
    }
}

/// The distributor register bank at `off` (a multiple of 0x80; GICv2 4.1.2).
fn gicd_name(off: u32) -> &'static str {
    match off {
        0x000 => "GICD_CTLR/TYPER/IIDR",
        0x080 => "GICD_IGROUPRn",
        0x100 => "GICD_ISENABLERn",
        0x180 => "GICD_ICENABLERn",
        0x200 => "GICD_ISPENDRn",
        0x280 => "GICD_ICPENDRn",
        0x300 => "GICD_ISACTIVERn",
        0x380 => "GICD_ICACTIVERn",
        0x400..=0x7ff => "GICD_IPRIORITYRn",
        0x800..=0xbff => "GICD_ITARGETSRn",
        0xc00..=0xcff => "GICD_ICFGRn",
        0xd00..=0xdff => "implementation defined",
        0xe00..=0xeff => "GICD_NSACRn",
        0xf00 => "GICD_SGIR/CPENDSGIRn/SPENDSGIRn",
        0xf80 => "ID registers",
        _ => "reserved",
    }
}

/// A CP15 register key `CRn << 12 | opc1 << 8 | CRm << 4 | opc2`.
fn cp15_name(key: u32) -> String {
    if key == 0xffff {
        return "other registers".into();
    }
    let (crn, opc1, crm, opc2) = (key >> 12, (key >> 8) & 7, (key >> 4) & 0xf, key & 7);
    let name = match (crn, opc1, crm, opc2) {
        (1, 0, 0, 1) => " ACTLR",
        (14, 0, 2, 0) => " CNTP_TVAL",
        (14, 0, 2, 1) => " CNTP_CTL",
        _ => "",
    };
    format!("c{crn}, {opc1}, c{crm}, {opc2}{name}")
}

/// The exception classes counted as "other" (ARM ARM B3.13.6, HSR.EC).
fn ec_name(ec: u32) -> &'static str {
    match ec {
        0x05 => " (MCR/MRC CP14)",
        0x06 => " (LDC/STC CP14)",
        0x07 => " (CP10/CP11, HCPTR)",
        0x08 => " (MRC CP10 ID registers)",
        0x0c => " (MCRR/MRRC CP14)",
        0x0e => " (illegal exception return)",
        _ => "",
    }
}

/// What `key` means in `class`.
fn key_name(class: u32, key: u32) -> String {
    match class {
        1 => hypercall_name(key).into(),
        6 | 7 => gicd_name(key).into(),
        10 => cp15_name(key),
        11 => format!("opc1 {}, c{}", key >> 4, key & 0xf),
        12 => match key {
            0..=15 => format!("SGI {key}"),
            16..=31 => format!(
                "PPI {key}{}",
                if key == 27 { " (virtual timer)" } else { "" }
            ),
            _ => format!("SPI {key}"),
        },
        14 => format!("{key} list register(s) written"),
        15 => format!("HSR.EC {key:#x}{}", ec_name(key)),
        _ => String::new(),
    }
}

/// The counters as (class, key, count), sorted by class, then biggest first.
fn parse(bytes: &[u8], n: usize) -> Vec<(u32, u32, u32)> {
    let word = |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
    let mut v: Vec<_> = (0..n)
        .map(|i| (word(i * ENTRY), word(i * ENTRY + 4), word(i * ENTRY + 8)))
        .collect();
    v.sort_by_key(|&(c, k, n)| (c, std::cmp::Reverse(n), k));
    v
}

pub fn run(p: &Privcmd, clear: bool) -> Result<(), Fail> {
    let mut o = HcBuf::new(xen::SYSCTL_SIZE);
    let data = HcBuf::new(ROOM * ENTRY);
    o.bytes_mut()
        .copy_from_slice(&op(data.addr(), ROOM as u32, clear));
    p.hypercall(xen::SYSCTL, [o.addr(), 0, 0, 0, 0])
        .map_err(|e| {
            let hint = if e.raw_os_error() == Some(38) {
                ": the hypervisor keeps no exit counters (not snowvisor?)"
            } else {
                ""
            };
            Fail(format!("sysctl exit_stats: {}{hint}", errno_text(&e)))
        })?;
    let b = o.bytes();
    let total = u32::from_le_bytes([b[16], b[17], b[18], b[19]]) as usize;
    let entries = parse(data.bytes(), total.min(ROOM));
    let mut by_class: BTreeMap<u32, u64> = BTreeMap::new();
    for &(c, k, n) in &entries {
        *by_class.entry(c).or_default() += u64::from(n);
        let class = CLASSES.get(c as usize).copied().unwrap_or("?");
        println!("stats: {class:<14} {k:>#7x} {n:>10}  {}", key_name(c, k));
    }
    for (c, n) in &by_class {
        let class = CLASSES.get(*c as usize).copied().unwrap_or("?");
        println!("stats: class {class:<14} {n:>10}");
    }
    // Refills are work on the way back, vCPU switches the scheduler's:
    // not exits of their own.
    let exits: u64 = by_class
        .iter()
        .filter(|(c, _)| **c != 14 && **c != 16)
        .map(|(_, n)| n)
        .sum();
    println!(
        "stats: total exits {exits}{}",
        if clear { " (counters cleared)" } else { "" }
    );
    if total > ROOM {
        println!("stats: {} more counters not shown", total - ROOM);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_layout_and_names() {
        let b = op(0xbeef_0000, 7, true);
        assert_eq!(&b[0..8], &[2, 0, 0x4e, 0x53, 0x15, 0, 0, 0]);
        assert_eq!(&b[8..12], &0xbeef_0000u32.to_le_bytes());
        assert_eq!((b[16], b[20]), (7, 1));
        assert_eq!(key_name(1, 17), "xen_version");
        assert_eq!(key_name(6, 0x480), "GICD_IPRIORITYRn");
        assert_eq!(key_name(10, 0x1001), "c1, 0, c0, 1 ACTLR");
        assert_eq!(key_name(12, 27), "PPI 27 (virtual timer)");
        assert_eq!(key_name(15, 5), "HSR.EC 0x5 (MCR/MRC CP14)");
        assert_eq!(CLASSES.len(), 17);
        assert_eq!(CLASSES[16], "vcpu-switch");
    }

    #[test]
    fn sorted_by_class_then_count() {
        let mut bytes = Vec::new();
        for (c, k, n) in [(12u32, 33u32, 5u32), (1, 17, 2), (12, 27, 9)] {
            for w in [c, k, n] {
                bytes.extend_from_slice(&w.to_le_bytes());
            }
        }
        assert_eq!(parse(&bytes, 3), [(1, 17, 2), (12, 27, 9), (12, 33, 5)]);
    }
}
