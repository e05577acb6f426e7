//! Turns on snowvisor's HYP MMU and caches with the map from [`super::lpae`].

use aarch32_cpu::register::Hsctlr;
use alloc::boxed::Box;

use super::lpae::{HypMap, Table, HMAIR0, HTCR};
use super::{cpu, sysreg};
use crate::dt::Region;

fn phys(t: &Table) -> u64 {
    t as *const Table as usize as u64
}

/// Builds the identity map for `ram` and enables the MMU, D- and I-caches at HYP.
/// Called once, before any other CPU runs; the tables live for ever.
pub fn enable(ram: &[Region]) {
    let map = Box::leak(Box::new(HypMap::build(ram, phys)));
    cpu::invalidate_l1_dcache();
    cpu::dsb();
    sysreg::write_hmair0(HMAIR0);
    sysreg::write_htcr(HTCR);
    sysreg::write_httbr(phys(&map.l1));
    cpu::isb();
    sysreg::tlbi_allh();
    cpu::invalidate_icache();
    Hsctlr::modify(|r| {
        r.set_m(true);
        r.set_c(true);
        r.set_i(true);
        r.set_a(false);
        r.set_wxn(false);
    });
    cpu::isb();
}

/// True once [`enable`] has run.
pub fn enabled() -> bool {
    Hsctlr::read().m()
}
