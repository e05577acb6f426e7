//! Exit counters: every trap and interrupt the guest costs, by class and key
//! (what `snowctl stats` and the `s` debug key print, and `scripts/bench`'s
//! breakdown of Dom0's boot).
//!
//! Counting is one relaxed atomic add into a fixed table (no lock, no
//! allocation), so it stays on in release builds. The classes and their keys
//! are ABI: `snowctl` reads them through `SNOWVISOR_SYSCTL_exit_stats`
//! (`xen::sysctl`) as `(class, key, count)` triples of `u32`.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

/// What an exit was. The number is the `class` field of a sysctl entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Class {
    /// `HVC #0xEA1`; key: the Xen hypercall number (`r12`; numbers at or
    /// above [`HYPERCALLS`] - 1 share the last key).
    Hypercall = 1,
    /// `HVC #0` (PSCI); key 0. Other immediates count as [`Class::Other`].
    Psci = 2,
    /// A trapped SMC; key 0.
    Smc = 3,
    /// A trapped WFI; key 0.
    Wfi = 4,
    /// A trapped WFE; key 0.
    Wfe = 5,
    /// A read of the emulated distributor; key: the register's offset,
    /// rounded down to [`GICD_BANK`] bytes (0x100: GICD_ISENABLERn, ...).
    GicdRead = 6,
    /// A write to the emulated distributor; key as for [`Class::GicdRead`].
    GicdWrite = 7,
    /// Any other stage-2 data abort; key 0.
    DataAbort = 8,
    /// A stage-2 instruction abort; key 0.
    PrefetchAbort = 9,
    /// A trapped 32-bit CP15 access (MCR/MRC); key: `CRn << 12 | opc1 << 8 |
    /// CRm << 4 | opc2`.
    Cp15 = 10,
    /// A trapped 64-bit CP15 access (MCRR/MRRC); key: `opc1 << 4 | CRm`.
    Cp15x64 = 11,
    /// A physical interrupt taken while the guest ran, for the guest; key:
    /// the INTID (GICv2: < 1020).
    Irq = 12,
    /// The GIC maintenance interrupt (list registers underflowed); key 0.
    Maintenance = 13,
    /// A list-register refill that wrote at least one list register; key:
    /// how many it wrote.
    LrRefill = 14,
    /// An exception class snowvisor does not handle; key: the HSR's EC.
    Other = 15,
    /// A vCPU switched in on a CPU that held another (not an exit: what
    /// the scheduler did); key 0.
    VcpuSwitch = 16,
}

impl Class {
    /// The name `snowctl stats` and the `s` debug key print.
    pub fn name(self) -> &'static str {
        match self {
            Class::Hypercall => "hypercall",
            Class::Psci => "psci-hvc",
            Class::Smc => "smc",
            Class::Wfi => "wfi",
            Class::Wfe => "wfe",
            Class::GicdRead => "gicd-read",
            Class::GicdWrite => "gicd-write",
            Class::DataAbort => "data-abort",
            Class::PrefetchAbort => "prefetch-abort",
            Class::Cp15 => "cp15",
            Class::Cp15x64 => "cp15-64",
            Class::Irq => "irq",
            Class::Maintenance => "maintenance",
            Class::LrRefill => "lr-refill",
            Class::Other => "other",
            Class::VcpuSwitch => "vcpu-switch",
        }
    }
}

/// Hypercall numbers counted apart (Xen's are below 64).
pub const HYPERCALLS: usize = 64;
/// GICD bytes per counted bank.
pub const GICD_BANK: u32 = 0x80;
const GICD_BANKS: usize = 0x1000 / GICD_BANK as usize;
/// INTIDs counted (GICv2: 0..1019).
const INTIDS: usize = 1020;
/// Distinct CP15 registers counted (more are added to the last slot's count).
const CP15_SLOTS: usize = 16;
/// Key slots for list-register refills (LRs written; GICv2 has at most 64).
const REFILLS: usize = 65;
/// A free CP15 slot (a taken one holds its key + 1), so that the whole
/// table is zero at start and lives in `.bss`, not in the image.
const FREE: u32 = 0;

/// The counters: one table, zeroed at start (it lives in `.bss`).
#[derive(Debug)]
pub struct Exits {
    hypercall: [AtomicU32; HYPERCALLS],
    gicd_read: [AtomicU32; GICD_BANKS],
    gicd_write: [AtomicU32; GICD_BANKS],
    irq: [AtomicU32; INTIDS],
    refill: [AtomicU32; REFILLS],
    /// Psci, Smc, Wfi, Wfe, DataAbort, PrefetchAbort, Maintenance,
    /// VcpuSwitch by class number.
    single: [AtomicU32; 17],
    /// Other, by EC.
    other: [AtomicU32; 64],
    cp15_key: [AtomicU32; CP15_SLOTS],
    cp15: [AtomicU32; CP15_SLOTS],
    cp15x64: [AtomicU32; 256],
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU32 = AtomicU32::new(0);

fn add(c: &AtomicU32) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Default for Exits {
    fn default() -> Self {
        Self::new()
    }
}

impl Exits {
    pub const fn new() -> Self {
        Exits {
            hypercall: [ZERO; HYPERCALLS],
            gicd_read: [ZERO; GICD_BANKS],
            gicd_write: [ZERO; GICD_BANKS],
            irq: [ZERO; INTIDS],
            refill: [ZERO; REFILLS],
            single: [ZERO; 17],
            other: [ZERO; 64],
            cp15_key: [ZERO; CP15_SLOTS],
            cp15: [ZERO; CP15_SLOTS],
            cp15x64: [ZERO; 256],
        }
    }

    /// Counts an exit of a class whose key is always 0 (the keyed classes
    /// have their own methods; given one of them, this counts nothing).
    pub fn count(&self, class: Class) {
        if matches!(
            class,
            Class::Psci
                | Class::Smc
                | Class::Wfi
                | Class::Wfe
                | Class::DataAbort
                | Class::PrefetchAbort
                | Class::Maintenance
                | Class::VcpuSwitch
        ) {
            add(&self.single[class as usize]);
        }
    }

    /// Counts Xen hypercall `nr`.
    #[inline]
    pub fn hypercall(&self, nr: u32) {
        add(&self.hypercall[(nr as usize).min(HYPERCALLS - 1)]);
    }

    /// Counts a distributor access at byte offset `off` (< 0x1000).
    pub fn gicd(&self, off: u32, write: bool) {
        let bank = (off / GICD_BANK) as usize % GICD_BANKS;
        add(if write {
            &self.gicd_write[bank]
        } else {
            &self.gicd_read[bank]
        });
    }

    /// Counts a guest interrupt (INTIDs past 1019 are not counted).
    pub fn irq(&self, intid: u32) {
        if let Some(c) = self.irq.get(intid as usize) {
            add(c);
        }
    }

    /// Counts a list-register refill that wrote `written` (> 0) registers.
    pub fn refill(&self, written: usize) {
        add(&self.refill[written.min(REFILLS - 1)]);
    }

    /// Counts an exception class snowvisor does not handle (HSR.EC).
    pub fn other(&self, ec: u32) {
        add(&self.other[(ec & 63) as usize]);
    }

    /// Counts a 64-bit CP15 access (MCRR/MRRC) to `opc1`, `crm`.
    pub fn cp15x64(&self, opc1: u32, crm: u32) {
        add(&self.cp15x64[((opc1 & 0xf) << 4 | (crm & 0xf)) as usize]);
    }

    /// Counts a 32-bit CP15 access to `crn, opc1, crm, opc2`. The first
    /// `CP15_SLOTS` - 1 distinct registers get a slot each; the rest share the
    /// last one, reported with key `0xffff`.
    pub fn cp15(&self, crn: u32, opc1: u32, crm: u32, opc2: u32) {
        let key = (crn & 0xf) << 12 | (opc1 & 7) << 8 | (crm & 0xf) << 4 | (opc2 & 7);
        let slot = key + 1;
        for (i, k) in self.cp15_key[..CP15_SLOTS - 1].iter().enumerate() {
            let now = match k.compare_exchange(FREE, slot, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => slot,
                Err(now) => now,
            };
            if now == slot {
                add(&self.cp15[i]);
                return;
            }
        }
        add(&self.cp15[CP15_SLOTS - 1]);
    }

    /// Every non-zero counter as `(class, key, count)`, in class order.
    pub fn for_each(&self, mut each: impl FnMut(Class, u32, u32)) {
        // A table whose index times `scale` is the key.
        let mut keyed = |class, table: &[AtomicU32], scale: u32| {
            for (k, c) in table.iter().enumerate() {
                let n = c.load(Ordering::Relaxed);
                if n != 0 {
                    each(class, k as u32 * scale, n);
                }
            }
        };
        keyed(Class::Hypercall, &self.hypercall, 1);
        keyed(Class::GicdRead, &self.gicd_read, GICD_BANK);
        keyed(Class::GicdWrite, &self.gicd_write, GICD_BANK);
        keyed(Class::Irq, &self.irq, 1);
        keyed(Class::LrRefill, &self.refill, 1);
        keyed(Class::Cp15x64, &self.cp15x64, 1);
        keyed(Class::Other, &self.other, 1);
        for class in [
            Class::Psci,
            Class::Smc,
            Class::Wfi,
            Class::Wfe,
            Class::DataAbort,
            Class::PrefetchAbort,
            Class::Maintenance,
            Class::VcpuSwitch,
        ] {
            let n = self.single[class as usize].load(Ordering::Relaxed);
            if n != 0 {
                each(class, 0, n);
            }
        }
        for (i, c) in self.cp15.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            if n != 0 {
                let key = if i == CP15_SLOTS - 1 {
                    0xffff
                } else {
                    self.cp15_key[i].load(Ordering::Relaxed) - 1
                };
                each(Class::Cp15, key, n);
            }
        }
    }

    /// Sets every counter back to 0 (the CP15 register slots stay assigned).
    pub fn clear(&self) {
        let tables: [&[AtomicU32]; 9] = [
            &self.hypercall,
            &self.gicd_read,
            &self.gicd_write,
            &self.irq,
            &self.refill,
            &self.single,
            &self.other,
            &self.cp15,
            &self.cp15x64,
        ];
        for c in tables.into_iter().flatten() {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// The counters as `SNOWVISOR_SYSCTL_exit_stats` hands them to Dom0: the
/// class as its [`Class`] number.
impl snowvisor_xen::ExitCounters for Exits {
    fn read(&self, clear: bool) -> Vec<[u32; 3]> {
        let mut out = Vec::new();
        self.for_each(|class, key, n| out.push([class as u32, key, n]));
        if clear {
            self.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn entries(e: &Exits) -> Vec<(Class, u32, u32)> {
        let mut v = Vec::new();
        e.for_each(|c, k, n| v.push((c, k, n)));
        v
    }

    #[test]
    fn handed_to_xen_as_class_numbers() {
        use snowvisor_xen::ExitCounters;
        let e = Exits::new();
        e.hypercall(17);
        e.irq(27);
        e.irq(27);
        let want = [[Class::Hypercall as u32, 17, 1], [Class::Irq as u32, 27, 2]];
        assert_eq!(ExitCounters::read(&e, false), want);
        assert_eq!(ExitCounters::read(&e, true), want);
        assert!(ExitCounters::read(&e, false).is_empty());
    }

    #[test]
    fn counts_by_class_and_key() {
        let e = Exits::new();
        assert!(entries(&e).is_empty());
        e.hypercall(17);
        e.hypercall(17);
        e.hypercall(1000);
        e.irq(27);
        e.irq(5000);
        e.gicd(0x104, false);
        e.gicd(0x17c, true);
        e.gicd(0x400, false);
        e.count(Class::Wfi);
        e.count(Class::Hypercall); // keyed: counts nothing
        e.cp15(1, 0, 0, 1);
        e.cp15x64(2, 14);
        e.refill(3);
        e.other(0x3f);
        let v = entries(&e);
        for want in [
            (Class::Hypercall, 17, 2),
            (Class::Hypercall, 63, 1),
            (Class::Irq, 27, 1),
            (Class::GicdRead, 0x100, 1),
            (Class::GicdRead, 0x400, 1),
            (Class::GicdWrite, 0x100, 1),
            (Class::Wfi, 0, 1),
            (Class::Cp15, 0x1001, 1),
            (Class::Cp15x64, 0x2e, 1),
            (Class::LrRefill, 3, 1),
            (Class::Other, 0x3f, 1),
        ] {
            assert!(v.contains(&want), "{want:?} missing from {v:?}");
        }
        assert_eq!(v.len(), 11, "{v:?}");
        e.clear();
        assert!(entries(&e).is_empty());
    }

    #[test]
    fn cp15_registers_beyond_the_slots_share_the_last() {
        let e = Exits::new();
        for i in 0..CP15_SLOTS as u32 + 2 {
            e.cp15(9, 0, i & 0xf, i >> 4);
        }
        e.cp15(9, 0, 0, 0);
        let v = entries(&e);
        assert!(v.contains(&(Class::Cp15, 0x9000, 2)), "{v:?}");
        assert!(v.contains(&(Class::Cp15, 0xffff, 3)), "{v:?}");
        assert_eq!(v.len(), CP15_SLOTS);
    }
}
