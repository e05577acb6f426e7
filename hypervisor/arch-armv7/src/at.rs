//! Guest address translation from HYP (the `ATS12NSOPR`/`ATS12NSOPW`
//! operations, decoded by `snowvisor_arm::at`, re-exported here) and the TLB
//! invalidation a stage-2 change needs.

pub use snowvisor_arm::at::*;

#[cfg(target_arch = "arm")]
mod ops {
    use crate::sysreg;
    use snowvisor_arm::at::{decode_par, Translation};

    /// Translates guest VA `va` as a PL1 read (or write) of the guest would,
    /// through its current stage 1 and stage 2. The guest's PAR is kept.
    pub fn translate_pl1(va: u32, write: bool) -> Translation {
        let saved = sysreg::read_par();
        sysreg::ats12nso(va, write);
        let par = sysreg::read_par();
        sysreg::write_par(saved);
        decode_par(par.raw_value(), va)
    }

    /// Invalidates all non-secure PL0/PL1 TLB entries (TLBIALLNSNH), after a
    /// stage-2 descriptor changed.
    pub fn flush_guest_tlb() {
        sysreg::tlbi_all_nsnh();
    }
}

#[cfg(target_arch = "arm")]
pub use ops::{flush_guest_tlb, translate_pl1};
