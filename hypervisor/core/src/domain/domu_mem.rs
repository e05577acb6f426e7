//! A DomU's memory: which host RAM it gets and how its guest addresses map
//! onto it, and where its kernel, device tree and initrd go.
//!
//! A DomU is not 1:1 (as Xen's dom0less DomUs without `direct-map`): its
//! RAM is taken from what Dom0 would get, in whole 2 MiB granules (stage-2
//! blocks) from the top of host RAM down, clear of snowvisor, memory the
//! firmware reserved and every boot module (they are still to be copied),
//! and below 4 GiB (HYP's identity map, where snowvisor scrubs it and
//! copies the modules in). The guest sees it at Xen's guest RAM banks
//! (`snowvisor_plan::domu::layout::ram_banks`); [`Extent`]s say which host
//! piece backs which guest range. The zImage, its device tree and initrd go
//! into the guest's first bank by the same rules as Dom0's ([`super::layout::place`]).

use alloc::vec::Vec;

use super::layout::{self, Dom0Layout, LayoutError, GRANULE};
use super::zimage::ZImage;
use snowvisor_dt::{BootModule, ModuleKind, Region};

/// Host RAM snowvisor reads and writes directly (its identity map).
const HYP_REACH: u64 = 1 << 32;

/// One guest range and the host range backing it (same size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// Guest physical address (IPA), bytes.
    pub ipa: u64,
    /// Host physical address, bytes.
    pub pa: u64,
    /// Bytes, a multiple of 2 MiB.
    pub size: u64,
}

/// `bytes` (a multiple of 4 KiB; rounded up to 2 MiB granules) of host RAM
/// for a DomU: the highest free granules of `ram` below 4 GiB, clear of
/// everything in `avoid`. Returns the pieces, highest first, or `None` if
/// there is not enough.
pub fn take(ram: &[Region], avoid: &[Region], bytes: u64) -> Option<Vec<Region>> {
    let mut want = bytes.div_ceil(GRANULE) * GRANULE;
    let mut out: Vec<Region> = Vec::new();
    let mut banks: Vec<Region> = ram.to_vec();
    banks.sort_by_key(|r| core::cmp::Reverse(r.base));
    for r in banks {
        let lo = r.base.div_ceil(GRANULE) * GRANULE;
        let mut top = r.end().min(HYP_REACH) & !(GRANULE - 1);
        while want > 0 && top >= lo + GRANULE {
            let g = Region {
                base: top - GRANULE,
                size: GRANULE,
            };
            top -= GRANULE;
            if avoid.iter().any(|a| a.overlaps(&g)) {
                continue;
            }
            match out.last_mut() {
                Some(l) if l.base == g.end() => {
                    l.base = g.base;
                    l.size += GRANULE;
                }
                _ => out.push(g),
            }
            want -= GRANULE;
        }
    }
    (want == 0).then_some(out)
}

/// `ram` without the ranges in `taken`: what is left for Dom0.
pub fn subtract(ram: &[Region], taken: &[Region]) -> Vec<Region> {
    let mut out = Vec::new();
    for r in ram {
        let mut pieces = alloc::vec![*r];
        for t in taken {
            pieces = pieces
                .into_iter()
                .flat_map(|p| {
                    if !p.overlaps(t) {
                        return alloc::vec![p];
                    }
                    let mut v = Vec::new();
                    if p.base < t.base {
                        v.push(Region {
                            base: p.base,
                            size: t.base - p.base,
                        });
                    }
                    if t.end() < p.end() {
                        v.push(Region {
                            base: t.end(),
                            size: p.end() - t.end(),
                        });
                    }
                    v
                })
                .collect();
        }
        out.extend(pieces);
    }
    out
}

/// Maps the guest's banks (`ipa`, lowest first) onto the host pieces
/// (`host`, in the order given), in order. The two must have the same
/// total size.
pub fn extents(ipa: &[Region], host: &[Region]) -> Vec<Extent> {
    let mut out = Vec::new();
    let mut hosts = host.iter().copied();
    let mut h = hosts.next();
    for bank in ipa {
        let (mut at, end) = (bank.base, bank.end());
        while at < end {
            let Some(piece) = h.as_mut() else {
                return out;
            };
            let size = piece.size.min(end - at);
            out.push(Extent {
                ipa: at,
                pa: piece.base,
                size,
            });
            at += size;
            piece.base += size;
            piece.size -= size;
            if piece.size == 0 {
                h = hosts.next();
            }
        }
    }
    out
}

/// The host address of guest `ipa` with `len` bytes from it, if they lie in
/// one extent.
pub fn host_address(ext: &[Extent], ipa: u64, len: u64) -> Option<u64> {
    ext.iter()
        .find(|e| {
            ipa >= e.ipa
                && ipa
                    .checked_add(len)
                    .is_some_and(|end| end <= e.ipa + e.size)
        })
        .map(|e| e.pa + (ipa - e.ipa))
}

/// Places a DomU's zImage (`kernel_size` bytes), its device tree and its
/// initrd in guest bank `bank` (IPAs), as Dom0's are placed
/// ([`layout::place`]): the modules are always copied (they lie in host
/// memory, not in the guest's). The `_src` fields of the answer are
/// meaningless.
pub fn place(
    bank: Region,
    z: &ZImage,
    kernel_size: u64,
    initrd_size: Option<u64>,
) -> Result<Dom0Layout, LayoutError> {
    // Regions at guest address 0, below every guest bank (GUEST_RAM0_BASE
    // is 1 GiB), so never taken as already in place.
    let module = |kind, size| BootModule {
        node: "",
        kind,
        region: Region { base: 0, size },
        bootargs: None,
    };
    let kernel = module(ModuleKind::Kernel, kernel_size);
    let initrd = initrd_size.map(|s| module(ModuleKind::Ramdisk, s));
    layout::place(alloc::vec![bank], &kernel, z, initrd.as_ref(), &[])
}

/// A layout error of DomU `node` (its path, `/chosen/domU1`) worded for
/// that DomU, not Dom0 (whose remedies, `dom0_mem`, do not apply): a
/// kernel that is not a zImage names its kernel module `kernel`, a bank too
/// small names the node's `memory` and the size to give it.
pub fn domu_error(e: &LayoutError, node: &str, kernel: &str) -> alloc::string::String {
    use layout::{DTB_MAX, MIB};
    match e {
        LayoutError::NotAZImage { found } => alloc::format!(
            "{node}/{kernel}: its kernel is not an ARM zImage (word at 0x24 is {found:#010x}, expected 0x016f2818)"
        ),
        LayoutError::TooSmall {
            need,
            have,
            kernel,
            zimage,
            initrd,
        } => alloc::format!(
            "{node}: memory: {} MiB is too little: its first {} MiB must hold {} MiB for the decompressed kernel, {} MiB for the zImage and its decompressor, {} MiB for the device tree, {} MiB for the initrd: give it at least {} MiB (memory = <0 {}> in KiB; scripts/run --domu KERNEL,INITRD,MEM)",
            have / MIB,
            have / MIB,
            kernel.div_ceil(MIB),
            zimage.div_ceil(MIB),
            DTB_MAX / MIB,
            initrd.div_ceil(MIB),
            need.div_ceil(MIB),
            need.div_ceil(MIB) * 1024
        ),
        e => alloc::format!("{node}: {e}"),
    }
}

/// Why DomU `node` is not started: with the memory it would take, Dom0's
/// own placement ([`layout::place`]) fails with `e` (Dom0 must boot; the
/// DomU is the one left out, its memory staying Dom0's).
pub fn dom0_left_error(e: &LayoutError, node: &str) -> alloc::string::String {
    match e {
        LayoutError::TooSmall { need, have, .. } => alloc::format!(
            "its memory would leave Dom0's first bank {} MiB, and Dom0 needs at least {} MiB for its kernel, device tree and initrd: shrink {node}'s memory",
            have / layout::MIB,
            need.div_ceil(layout::MIB)
        ),
        e => alloc::format!("its memory would leave Dom0 unable to boot ({e}): shrink {node}'s memory"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::layout::MIB;

    const RAM: Region = Region {
        base: 0x4000_0000,
        size: 0x4000_0000,
    };

    #[test]
    fn a_domus_layout_errors_name_the_domu_and_its_remedy() {
        let e = domu_error(
            &LayoutError::NotAZImage { found: 0x88e1_0bda },
            "/chosen/domU1",
            "module@49000000",
        );
        assert_eq!(e, "/chosen/domU1/module@49000000: its kernel is not an ARM zImage (word at 0x24 is 0x88e10bda, expected 0x016f2818)");
        let small = LayoutError::TooSmall {
            need: 35 * MIB,
            have: MIB,
            kernel: 25 * MIB,
            zimage: 6 * MIB,
            initrd: 2 * MIB,
        };
        let e = domu_error(&small, "/chosen/domU1", "module@49000000");
        assert!(!e.contains("Dom0") && !e.contains("dom0_mem"), "{e}");
        assert!(
            e.starts_with("/chosen/domU1: memory: 1 MiB is too little:")
                && e.ends_with("give it at least 35 MiB (memory = <0 35840> in KiB; scripts/run --domu KERNEL,INITRD,MEM)"),
            "{e}"
        );
        let e = dom0_left_error(&small, "/chosen/domU1");
        assert_eq!(e, "its memory would leave Dom0's first bank 1 MiB, and Dom0 needs at least 35 MiB for its kernel, device tree and initrd: shrink /chosen/domU1's memory");
    }

    #[test]
    fn takes_from_the_top_around_what_it_avoids() {
        let avoid = [Region {
            base: 0x7f00_0000,
            size: 0x1000,
        }];
        let t = take(&[RAM], &avoid, 64 * MIB).unwrap();
        // 0x7f000000-0x7f1fffff holds the avoided page.
        assert_eq!(
            t,
            [
                Region {
                    base: 0x7f20_0000,
                    size: 0xe0_0000
                },
                Region {
                    base: 0x7be0_0000,
                    size: 0x320_0000
                }
            ]
        );
        assert_eq!(t.iter().map(|r| r.size).sum::<u64>(), 64 * MIB);
        // Rounded up to whole granules; too much is refused.
        assert_eq!(take(&[RAM], &[], 4096).unwrap()[0].size, 2 * MIB);
        assert!(take(&[RAM], &[], 2048 * MIB).is_none());
    }

    #[test]
    fn never_above_4_gib() {
        let high = Region {
            base: 0xc000_0000,
            size: 0x8000_0000,
        };
        let t = take(&[high], &[], 64 * MIB).unwrap();
        assert_eq!(t[0].end(), 1 << 32);
    }

    #[test]
    fn subtracts_and_maps() {
        let taken = [Region {
            base: 0x7000_0000,
            size: 0x800_0000,
        }];
        assert_eq!(
            subtract(&[RAM], &taken),
            [
                Region {
                    base: 0x4000_0000,
                    size: 0x3000_0000
                },
                Region {
                    base: 0x7800_0000,
                    size: 0x800_0000
                }
            ]
        );
        let host = [
            Region {
                base: 0x7e00_0000,
                size: 0x200_0000,
            },
            Region {
                base: 0x7000_0000,
                size: 0x200_0000,
            },
        ];
        let ipa = [Region {
            base: 0x4000_0000,
            size: 0x400_0000,
        }];
        let e = extents(&ipa, &host);
        assert_eq!(
            e,
            [
                Extent {
                    ipa: 0x4000_0000,
                    pa: 0x7e00_0000,
                    size: 0x200_0000
                },
                Extent {
                    ipa: 0x4200_0000,
                    pa: 0x7000_0000,
                    size: 0x200_0000
                }
            ]
        );
        assert_eq!(host_address(&e, 0x4200_0010, 16), Some(0x7000_0010));
        assert_eq!(host_address(&e, 0x41ff_fff0, 0x20), None);
        assert_eq!(host_address(&e, 0x3fff_f000, 4), None);
    }

    #[test]
    fn places_like_dom0_in_the_guest_bank() {
        let z = ZImage {
            len: 5 * MIB,
            text_offset: 0x8000,
            kernel: 20 * MIB,
            image: 5 * MIB,
            from_table: true,
        };
        let bank = Region {
            base: 0x4000_0000,
            size: 128 * MIB,
        };
        let l = place(bank, &z, 5 * MIB, Some(3 * MIB)).unwrap();
        assert!(bank.contains(&l.kernel) && bank.contains(&l.dtb));
        assert!(bank.contains(&l.initrd.unwrap()));
        assert!(l.kernel.base >= 0x4000_0000 + 21 * MIB);
        assert!(!l.dtb.overlaps(&l.kernel) && !l.initrd.unwrap().overlaps(&l.dtb));
    }
}
