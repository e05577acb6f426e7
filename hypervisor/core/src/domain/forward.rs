//! Trap-and-forward of a device's registers that share a 4 KiB page with an
//! IOMMU snowvisor owns ([`snowvisor_plan::Passthrough::forwarded`]).
//!
//! The shared page is not in Dom0's stage 2, so Dom0's accesses to it fault
//! to HYP. An access that lies wholly inside one of the device's forwarded
//! ranges, is naturally aligned, is below 4 GiB (HYP's reach) and comes with a
//! valid syndrome (HSR.ISV: the size and register are known) is performed by
//! snowvisor with the same size at the same physical address (Dom0 is 1:1); a
//! read's value goes to the guest's register, zero- or sign-extended as the
//! load asked (ARM ARM B3.13.6, ISS SSE). Anything else in the page (the
//! IOMMU's registers, a gap, LDRD/STRD or LDM without a syndrome) is refused,
//! and the caller injects the data abort, as for any page Dom0 does not have.
//! The register access itself is [`Arch::read_device`] / [`Arch::write_device`].

use core::fmt;

use crate::hal::Arch;
use snowvisor_dt::Region;

/// A faulting guest access, from the data abort's syndrome and address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The faulting IPA (= PA for Dom0).
    pub ipa: u64,
    /// Bytes: 1, 2 or 4 (HSR.SAS); meaningless without `valid`.
    pub size: u32,
    pub write: bool,
    /// HSR.ISV: size and register are valid.
    pub valid: bool,
}

/// Why an access inside a forwarded range is not performed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No instruction syndrome (HSR.ISV = 0: LDRD/STRD, LDM/STM, ...).
    NoSyndrome,
    /// Not aligned to its size.
    Unaligned,
    /// Runs past the end of the device's range.
    Crosses,
    /// Above 4 GiB: snowvisor's HYP map does not reach it.
    AboveHypReach,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::NoSyndrome => "no instruction syndrome (a multiple or doubleword access)",
            Refused::Unaligned => "not aligned to its size",
            Refused::Crosses => "runs past the device's registers",
            Refused::AboveHypReach => "above 4 GiB",
        })
    }
}

/// Whether `a` falls in one of `ranges` (sorted or not); None if in none of
/// them (the caller's usual stage-2 fault). Some(Ok(pa)) to perform it.
pub fn check(ranges: &[Region], a: Access) -> Option<Result<u64, Refused>> {
    let r = ranges.iter().find(|r| a.ipa >= r.base && a.ipa < r.end())?;
    let size = u64::from(a.size);
    Some(if !a.valid {
        Err(Refused::NoSyndrome)
    } else if !a.ipa.is_multiple_of(size) {
        Err(Refused::Unaligned)
    } else if a.ipa + size > r.end() {
        Err(Refused::Crosses)
    } else if a.ipa + size > 1 << 32 {
        Err(Refused::AboveHypReach)
    } else {
        Ok(a.ipa)
    })
}

/// Performs an access [`check`] let through, at `pa`: a write of `value`'s
/// low `a.size` bytes (returns 0), or a read whose value is returned
/// zero-extended, or sign-extended when `sign_extend` (a signed load of 1 or
/// 2 bytes).
pub fn perform(arch: &impl Arch, pa: u64, a: Access, value: u32, sign_extend: bool) -> u32 {
    let bits = 8 * a.size;
    let mask = if bits >= 32 {
        u32::MAX
    } else {
        (1 << bits) - 1
    };
    if a.write {
        arch.write_device(pa, a.size, value & mask);
        return 0;
    }
    let v = arch.read_device(pa, a.size) & mask;
    if sign_extend && bits < 32 {
        let sh = 32 - bits;
        (((v << sh) as i32) >> sh) as u32
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hal::fake::FakeArch;
    use alloc::string::String;
    use alloc::vec::Vec;
    use snowvisor_dt::testing::vop_sharing_a_page_with_an_iommu;
    use snowvisor_dt::HostTree;
    use snowvisor_plan::{IommuAction, Keep, PlanOptions};

    /// rk3288's first display controller, `vop@ff930000` (reg 0xff930000+0x19c),
    /// whose page also holds `iommu@ff930300` (reg 0xff930300+0x100), as the
    /// plan computes it when snowvisor owns the IOMMU.
    const VOP: [Region; 1] = [Region {
        base: 0xff93_0000,
        size: 0x19c,
    }];

    fn acc(ipa: u64, size: u32, write: bool) -> Access {
        Access {
            ipa,
            size,
            write,
            valid: true,
        }
    }

    #[test]
    fn the_plan_forwards_the_devices_registers_and_never_the_iommus() {
        // rk3288's VOP and an IOMMU snowvisor owns in one page: the ranges the
        // plan gives the data-abort handler.
        let dtb = vop_sharing_a_page_with_an_iommu(true);
        let (opts, errs) = PlanOptions::parse(None, None);
        assert!(errs.is_empty(), "{errs:?}");
        let p = snowvisor_plan::make(&HostTree::new(&dtb).unwrap(), &opts, &Keep::none()).unwrap();
        assert_eq!(p.iommus[0].action, IommuAction::Own);
        assert_eq!(p.forwarded(), [(VOP[0], String::from("/vop@ff930000"))]);
        let fw: Vec<Region> = p.forwarded().into_iter().map(|(r, _)| r).collect();
        let read = |ipa| check(&fw, acc(ipa, 4, false));
        assert_eq!(read(0xff93_0000), Some(Ok(0xff93_0000)));
        assert_eq!(
            read(0xff93_0198),
            Some(Ok(0xff93_0198)),
            "the VOP's last word"
        );
        assert_eq!(read(0xff93_01a0), None, "the gap before the IOMMU");
        assert_eq!(read(0xff93_0300), None, "the IOMMU's DTE_ADDR");
        assert_eq!(read(0xff93_1000), None, "the mapped page: no trap");
    }

    #[test]
    fn the_devices_registers_are_forwarded_with_the_same_size() {
        let a = FakeArch::new(0);
        // SYS_CTRL (0x8) written as a word, read back as a word and a byte.
        let w = acc(0xff93_0008, 4, true);
        let pa = check(&VOP, w).unwrap().unwrap();
        assert_eq!(perform(&a, pa, w, 0x8000_00f1, false), 0);
        let r = acc(0xff93_0008, 4, false);
        assert_eq!(perform(&a, pa, r, 0, false), 0x8000_00f1);
        let b = acc(0xff93_000b, 1, false);
        let pa_b = check(&VOP, b).unwrap().unwrap();
        assert_eq!(perform(&a, pa_b, b, 0, false), 0x80);
        assert_eq!(perform(&a, pa_b, b, 0, true), 0xffff_ff80, "LDRSB");
        // A halfword store writes only 2 bytes.
        let h = acc(0xff93_0010, 2, true);
        perform(&a, check(&VOP, h).unwrap().unwrap(), h, 0xdead_beef, false);
        assert_eq!(a.phys(0xff93_0010, 4), [0xef, 0xbe, 0, 0]);
        assert_eq!(
            *a.device.borrow(),
            [
                (true, 0xff93_0008, 4, 0x8000_00f1),
                (false, 0xff93_0008, 4, 0x8000_00f1),
                (false, 0xff93_000b, 1, 0x80),
                (false, 0xff93_000b, 1, 0x80),
                (true, 0xff93_0010, 2, 0xbeef),
            ]
        );
    }

    #[test]
    fn the_iommus_registers_and_odd_accesses_are_refused() {
        // The IOMMU's DTE_ADDR (0xff930300) and the gap before it: not the VOP's.
        assert_eq!(check(&VOP, acc(0xff93_0300, 4, true)), None);
        assert_eq!(check(&VOP, acc(0xff93_01a0, 4, false)), None);
        assert_eq!(
            check(&VOP, acc(0xff93_0002, 4, false)),
            Some(Err(Refused::Unaligned))
        );
        assert_eq!(
            check(&VOP, acc(0xff93_019a, 4, false)),
            Some(Err(Refused::Unaligned))
        );
        let mut crossing = VOP;
        crossing[0].size = 0x19a;
        assert_eq!(
            check(&crossing, acc(0xff93_0198, 4, false)),
            Some(Err(Refused::Crosses))
        );
        let ldrd = Access {
            valid: false,
            ..acc(0xff93_0000, 4, false)
        };
        assert_eq!(check(&VOP, ldrd), Some(Err(Refused::NoSyndrome)));
        let high = [Region {
            base: 0x1_0000_0000,
            size: 0x100,
        }];
        assert_eq!(
            check(&high, acc(0x1_0000_0000, 4, false)),
            Some(Err(Refused::AboveHypReach))
        );
    }
}
