//! Where Dom0's memory is and where its kernel, initrd and device tree go.
//!
//! Dom0 is mapped 1:1 (IPA == PA), as on Xen/ARM: swiotlb-xen and DMA without an
//! IOMMU rely on it. Its RAM is the host's banks minus snowvisor's own region,
//! capped by `dom0_mem=`. The boot modules are validated, then given final
//! places inside Dom0's first bank, computed from their real sizes and what
//! the zImage says it needs to decompress ([`super::zimage`]).
//!
//! A zImage guesses the start of RAM as its own address rounded down to
//! 128 MiB, and falls back to the lowest memory bank when that guess is not
//! RAM; it decompresses the kernel at that start plus TEXT_OFFSET, relocating
//! itself past the decompressed Image first if it would be overwritten. So, as
//! Xen does, the zImage goes as high as possible inside the 128 MiB window that
//! holds the bank start (and no higher, or the guess would be RAM above the
//! bank start and Linux would lose what lies below it); the device tree and
//! initrd go at that window's top when there is room, else in the first gap
//! clear of the decompressed kernel and the zImage.

use alloc::vec::Vec;
use core::fmt;

use snowvisor_dt::{BootModule, ModuleKind, Region, Reserved};

pub const MIB: u64 = 1 << 20;
/// Dom0's RAM is given in 2 MiB granules (stage-2 blocks).
pub const GRANULE: u64 = 2 * MIB;
const ALIGN_2M: u64 = GRANULE;
/// Space the zImage wants below it for the decompressed kernel.
const KERNEL_WINDOW: u64 = 128 * MIB;
/// Room reserved for Dom0's device tree.
pub const DTB_MAX: u64 = 2 * MIB;
/// An initrd used in place must lie this close to the bank start, well inside
/// the lowmem Linux maps (about 760 MiB with the default 3G/1G split).
const LOWMEM_SAFE: u64 = 512 * MIB;
use super::zimage::{ZImage, DECOMPRESSOR_SLACK};
use snowvisor_arm::stage2::IPA_BITS;

/// Why Dom0 cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    NoKernel,
    TwoKernels {
        first: u64,
        second: u64,
    },
    ModuleOutsideRam {
        node: alloc::string::String,
        region: Region,
    },
    ModulesOverlap {
        a: alloc::string::String,
        b: alloc::string::String,
    },
    ModuleOverlapsHypervisor {
        node: alloc::string::String,
    },
    /// A module, or Dom0's first bank, lies above 4 GiB: snowvisor's HYP
    /// addresses are 32 bits and it copies and writes these directly.
    AboveHypReach {
        what: alloc::string::String,
        region: Region,
    },
    NotAZImage {
        found: u32,
    },
    NoRamLeft,
    /// Linux decompresses itself at Dom0's RAM start + TEXT_OFFSET, over
    /// memory firmware reserved.
    KernelOverReserved {
        kernel: Region,
        reserved: Reserved,
    },
    /// Dom0's first bank cannot hold the kernel's decompression, the device
    /// tree and the initrd; all in bytes.
    TooSmall {
        need: u64,
        have: u64,
        /// From the bank start to the end of the decompressed kernel.
        kernel: u64,
        zimage: u64,
        initrd: u64,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::NoKernel => write!(
                f,
                "no Dom0 kernel: /chosen has no kernel module; expected {} (QEMU: -device guest-loader,addr=0x46000000,kernel=zImage,bootargs=\"...\")",
                snowvisor_dt::bootproto::KERNEL_FORMS
            ),
            LayoutError::TwoKernels { first, second } => write!(
                f,
                "two Dom0 kernel modules (at {first:#x} and {second:#x}): keep one"
            ),
            LayoutError::ModuleOutsideRam { node, region } => write!(
                f,
                "module {node} at {:#x}-{:#x} (last byte inclusive, as in the memory lines) is not inside RAM",
                region.base,
                region.end() - 1
            ),
            LayoutError::ModulesOverlap { a, b } => write!(f, "modules {a} and {b} overlap"),
            LayoutError::ModuleOverlapsHypervisor { node } => {
                write!(f, "module {node} overlaps snowvisor's own memory")
            }
            LayoutError::AboveHypReach { what, region } => write!(
                f,
                "{what} at {:#x}-{:#x} (inclusive) lies above 4 GiB, where snowvisor does not load or copy boot modules: load the modules below 4 GiB and give Dom0 RAM there",
                region.base,
                region.end() - 1
            ),
            LayoutError::NotAZImage { found } => write!(
                f,
                "Dom0 kernel is not an ARM zImage (word at 0x24 is {found:#010x}, expected 0x016f2818)"
            ),
            LayoutError::NoRamLeft => write!(f, "no RAM left for Dom0 after snowvisor's own region"),
            LayoutError::KernelOverReserved { kernel, reserved } => write!(
                f,
                "Dom0's kernel decompresses itself to {:#010x}-{:#010x} (RAM start + TEXT_OFFSET, Linux's choice), over reserved memory {} ({:#010x}-{:#010x}): move the reservation above the kernel",
                kernel.base,
                kernel.end() - 1,
                reserved.what,
                reserved.region.base,
                reserved.region.end() - 1
            ),
            LayoutError::TooSmall {
                need,
                have,
                kernel,
                zimage,
                initrd,
            } => write!(
                f,
                "Dom0's first bank is {} MiB; it needs at least {} MiB: {} MiB for the decompressed kernel, {} MiB for the zImage and its decompressor, {} MiB for the device tree, {} MiB for the initrd: raise dom0_mem or shrink the initrd",
                have / MIB,
                need.div_ceil(MIB),
                kernel.div_ceil(MIB),
                zimage.div_ceil(MIB),
                DTB_MAX / MIB,
                initrd.div_ceil(MIB)
            ),
        }
    }
}

/// Where everything goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dom0Layout {
    /// Dom0's RAM banks (IPA == PA).
    pub banks: Vec<Region>,
    /// Where the zImage is copied; also the entry point.
    pub kernel: Region,
    pub dtb: Region,
    pub initrd: Option<Region>,
    /// Where each came from, to copy.
    pub kernel_src: Region,
    pub initrd_src: Option<Region>,
}

fn align_down(x: u64, a: u64) -> u64 {
    x & !(a - 1)
}
fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Checks the modules: one kernel, at most one initrd, all in RAM, no overlaps.
pub fn check_modules<'a>(
    modules: &[BootModule<'a>],
    ram: &[Region],
    hyp: Region,
) -> Result<(BootModule<'a>, Option<BootModule<'a>>), LayoutError> {
    use alloc::string::ToString;
    for m in modules {
        if m.kind == ModuleKind::Other {
            continue;
        }
        check_module(m.node, m.region, ram, hyp)?;
    }
    for (i, a) in modules.iter().enumerate() {
        for b in &modules[i + 1..] {
            if a.region.overlaps(&b.region) {
                return Err(LayoutError::ModulesOverlap {
                    a: a.node.to_string(),
                    b: b.node.to_string(),
                });
            }
        }
    }
    let mut kernels = modules.iter().filter(|m| m.kind == ModuleKind::Kernel);
    let kernel = kernels.next().ok_or(LayoutError::NoKernel)?.clone();
    if let Some(second) = kernels.next() {
        return Err(LayoutError::TwoKernels {
            first: kernel.region.base,
            second: second.region.base,
        });
    }
    let initrd = modules
        .iter()
        .find(|m| m.kind == ModuleKind::Ramdisk)
        .cloned();
    Ok((kernel, initrd))
}

/// Checks one boot module (Dom0's or a DomU's) before snowvisor reads it:
/// `region` (host PA, bytes) is not empty, lies wholly inside one bank of
/// `ram`, clear of snowvisor's own memory `hyp`, and below 4 GiB.
///
/// Errors: [`LayoutError::ModuleOutsideRam`], [`LayoutError::ModuleOverlapsHypervisor`]
/// or [`LayoutError::AboveHypReach`], each naming `node`.
pub fn check_module(
    node: &str,
    region: Region,
    ram: &[Region],
    hyp: Region,
) -> Result<(), LayoutError> {
    use alloc::string::ToString;
    if !ram.iter().any(|r| r.contains(&region)) || region.size == 0 {
        return Err(LayoutError::ModuleOutsideRam {
            node: node.to_string(),
            region,
        });
    }
    if region.overlaps(&hyp) {
        return Err(LayoutError::ModuleOverlapsHypervisor {
            node: node.to_string(),
        });
    }
    if region.end() > HYP_REACH {
        return Err(LayoutError::AboveHypReach {
            what: alloc::format!("module {node}"),
            region,
        });
    }
    Ok(())
}

/// What snowvisor reads and writes directly at HYP (its 32-bit addresses).
const HYP_REACH: u64 = 1 << 32;

/// RAM Dom0's stage 2 can map (IPA == PA, [`IPA_BITS`] bits) and the parts
/// cut off because they lie beyond, to be reported.
pub fn mappable(ram: &[Region]) -> (Vec<Region>, Vec<Region>) {
    let limit = 1u64 << IPA_BITS;
    let (mut keep, mut cut) = (Vec::new(), Vec::new());
    for r in ram {
        if r.end() <= limit {
            keep.push(*r);
        } else if r.base >= limit {
            cut.push(*r);
        } else {
            keep.push(Region {
                base: r.base,
                size: limit - r.base,
            });
            cut.push(Region {
                base: limit,
                size: r.end() - limit,
            });
        }
    }
    (keep, cut)
}

/// Dom0's banks: RAM minus snowvisor's region, trimmed to 2 MiB granules, and
/// cut to the first `limit` bytes.
pub fn dom0_banks(ram: &[Region], hyp: Region, limit: Option<u64>) -> Vec<Region> {
    let (h0, h1) = (
        align_down(hyp.base, ALIGN_2M),
        align_up(hyp.end(), ALIGN_2M),
    );
    let mut out = Vec::new();
    let mut left = limit.unwrap_or(u64::MAX);
    for r in ram {
        let pieces = [(r.base, r.end().min(h0)), (r.base.max(h1), r.end())];
        for (b, e) in pieces {
            let (b, e) = (align_up(b, ALIGN_2M), align_down(e, ALIGN_2M));
            if e <= b || left == 0 {
                continue;
            }
            let size = (e - b).min(align_down(left, ALIGN_2M));
            if size > 0 {
                out.push(Region { base: b, size });
                left -= size;
            }
        }
    }
    out
}

/// Places kernel, device tree and initrd in Dom0's first bank (see the
/// module's doc), around `reserved` (memory firmware reserved: nothing is
/// copied or written there). A module the loader left where Linux can use it
/// stays there.
pub fn place(
    banks: Vec<Region>,
    kernel: &BootModule<'_>,
    z: &ZImage,
    initrd: Option<&BootModule<'_>>,
    reserved: &[Reserved],
) -> Result<Dom0Layout, LayoutError> {
    let bank = *banks.first().ok_or(LayoutError::NoRamLeft)?;
    let zspan = z.len + DECOMPRESSOR_SLACK;
    let isize = initrd.map_or(0, |i| align_up(i.region.size, 4096));
    // Where the zImage will decide RAM starts: the bank start, unless the
    // window holding it is too short for the zImage; then the next window.
    let window_top = align_up(bank.base + 1, KERNEL_WINDOW);
    let base = if window_top - bank.base >= align_up(zspan, ALIGN_2M) {
        bank.base
    } else {
        window_top
    };
    let hi = align_up(base + 1, KERNEL_WINDOW).min(bank.end());
    let kend = z.kernel_end(base);
    let too_small = || LayoutError::TooSmall {
        need: kend - bank.base + zspan + DTB_MAX + isize,
        have: bank.size,
        kernel: kend - base,
        zimage: zspan,
        initrd: isize,
    };
    // Linux decompresses itself at RAM start + TEXT_OFFSET, whatever lies
    // there: snowvisor cannot move that, only say so.
    let decompressed = Region {
        base,
        size: kend - base,
    };
    if let Some(r) = reserved.iter().find(|r| r.region.overlaps(&decompressed)) {
        return Err(LayoutError::KernelOverReserved {
            kernel: decompressed,
            reserved: r.clone(),
        });
    }
    let clear = |r: &Region| !reserved.iter().any(|x| x.region.overlaps(r));
    let zimage_span = |at: u64| Region {
        base: at,
        size: z.decompressor_end(base, at) - at,
    };
    let k = &kernel.region;
    let kernel_dst = if bank.contains(k)
        && k.base >= kend + 16 * 1024
        && k.end() + DECOMPRESSOR_SLACK <= hi
        && clear(&zimage_span(k.base))
    {
        *k
    } else {
        // As high as possible below the window top, or below a reservation.
        let tops = core::iter::once(hi).chain(
            reserved
                .iter()
                .map(|r| r.region.base)
                .filter(|&b| b > base && b <= hi),
        );
        let at = tops
            .filter_map(|t| t.checked_sub(zspan).map(|a| align_down(a, ALIGN_2M)))
            .filter(|&a| a >= base && clear(&zimage_span(a)))
            .max()
            .ok_or_else(too_small)?;
        Region {
            base: at,
            size: z.len,
        }
    };
    // What must stay untouched until the kernel runs, and what firmware keeps.
    let mut busy = alloc::vec![decompressed, zimage_span(kernel_dst.base)];
    busy.extend(reserved.iter().map(|r| r.region));
    let lowmem_end = base + LOWMEM_SAFE;
    let in_place = initrd.map(|i| i.region).filter(|r| {
        bank.contains(r) && r.end() <= lowmem_end && !busy.iter().any(|b| b.overlaps(r))
    });
    busy.extend(in_place);
    // The device tree (and the initrd right above it, if it must move): at
    // the window top, else right above a reservation, else in the first gap
    // above the kernel, the zImage or the initrd.
    let span = DTB_MAX + if in_place.is_some() { 0 } else { isize };
    let candidates = [hi]
        .into_iter()
        .chain(reserved.iter().map(|r| align_up(r.region.end(), ALIGN_2M)))
        .chain([align_up(kend, ALIGN_2M)])
        .chain(busy.iter().map(|b| align_up(b.end(), ALIGN_2M)));
    let dtb_base = candidates
        .filter(|&a| a >= base)
        .find(|&a| {
            let r = Region {
                base: a,
                size: span,
            };
            bank.contains(&r) && r.end() <= lowmem_end && !busy.iter().any(|b| b.overlaps(&r))
        })
        .ok_or_else(too_small)?;
    let dtb = Region {
        base: dtb_base,
        size: DTB_MAX,
    };
    let initrd_dst = initrd.map(|i| {
        in_place.unwrap_or(Region {
            base: dtb.end(),
            size: i.region.size,
        })
    });
    for (what, r) in [
        ("Dom0's kernel", Some(kernel_dst)),
        ("Dom0's device tree", Some(dtb)),
        ("Dom0's initrd", initrd_dst),
    ] {
        if let Some(r) = r.filter(|r| r.end() > HYP_REACH) {
            return Err(LayoutError::AboveHypReach {
                what: what.into(),
                region: r,
            });
        }
    }
    Ok(Dom0Layout {
        banks,
        kernel: kernel_dst,
        dtb,
        initrd: initrd_dst,
        kernel_src: kernel.region,
        initrd_src: initrd.map(|i| i.region),
    })
}

/// The parts of `reserved` inside host `ram` but outside Dom0's `banks` and
/// snowvisor's `hyp`, in whole 4 KiB pages: Dom0 still gets them mapped 1:1
/// (as Xen maps `/reserved-memory` into its hardware domain), so a driver
/// for the firmware's memory works even when `dom0_mem` leaves the region out
/// of Dom0's RAM. Sorted, disjoint.
pub fn reserved_outside(
    ram: &[Region],
    banks: &[Region],
    hyp: Region,
    reserved: &[Reserved],
) -> Vec<Region> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for r in reserved {
        let (b, e) = (
            align_down(r.region.base, 4096),
            align_up(r.region.end(), 4096),
        );
        let mut pieces: Vec<(u64, u64)> = ram
            .iter()
            .map(|m| (b.max(m.base), e.min(m.end())))
            .filter(|(b, e)| b < e)
            .collect();
        for cut in banks.iter().chain([&hyp]) {
            pieces = pieces
                .into_iter()
                .flat_map(|(b, e)| [(b, e.min(cut.base)), (b.max(cut.end()), e)])
                .filter(|(b, e)| b < e)
                .collect();
        }
        out.extend(pieces);
    }
    out.sort_unstable();
    // Merge what overlaps or touches (reservations may overlap).
    let mut merged: Vec<Region> = Vec::new();
    for (b, e) in out {
        match merged.last_mut() {
            Some(m) if b <= m.end() => m.size = m.size.max(e - m.base),
            _ => merged.push(Region {
                base: b,
                size: e - b,
            }),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: [Region; 1] = [Region {
        base: 0x4000_0000,
        size: 0x4000_0000,
    }];
    const HYP: Region = Region {
        base: 0x4001_0000,
        size: 0x9f_0000,
    };

    fn module(node: &'static str, kind: ModuleKind, base: u64, size: u64) -> BootModule<'static> {
        BootModule {
            node,
            kind,
            region: Region { base, size },
            bootargs: Some("console=hvc0"),
        }
    }

    #[test]
    fn banks_skip_hypervisor_and_respect_dom0_mem() {
        let b = dom0_banks(&RAM, HYP, None);
        assert_eq!(
            b,
            [Region {
                base: 0x40a0_0000,
                size: 0x3f60_0000
            }]
        );
        let b = dom0_banks(&RAM, HYP, Some(512 * MIB));
        assert_eq!(
            b,
            [Region {
                base: 0x40a0_0000,
                size: 512 * MIB
            }]
        );
        // Two banks, hypervisor in the second.
        let ram = [
            Region {
                base: 0x4000_0000,
                size: 0x1000_0000,
            },
            Region {
                base: 0x6000_0000,
                size: 0x1000_0000,
            },
        ];
        let hyp = Region {
            base: 0x6000_0000,
            size: 0x20_0000,
        };
        let b = dom0_banks(&ram, hyp, Some(0x1040_0000));
        assert_eq!(
            b,
            [
                ram[0],
                Region {
                    base: 0x6020_0000,
                    size: 4 * MIB
                }
            ]
        );
        assert_eq!(dom0_banks(&ram, hyp, Some(0x1010_0000)), [ram[0]]);
    }

    #[test]
    fn ram_beyond_the_ipa_space_is_cut_and_reported() {
        let ram = [
            Region {
                base: 0x4000_0000,
                size: 0x1_0000_0000,
            },
            Region {
                base: 0xff_c000_0000,
                size: 0x8000_0000,
            },
        ];
        let (keep, cut) = mappable(&ram);
        assert_eq!(
            keep,
            [
                ram[0],
                Region {
                    base: 0xff_c000_0000,
                    size: 0x4000_0000
                }
            ]
        );
        assert_eq!(
            cut,
            [Region {
                base: 1 << 40,
                size: 0x4000_0000
            }]
        );
        // -m 4096: one bank across 4 GiB, all of it Dom0's.
        let b = dom0_banks(&mappable(&ram[..1]).0, HYP, None);
        assert_eq!(b[0].end(), 0x1_4000_0000);
    }

    #[test]
    fn modules_above_4_gib_are_refused_by_name() {
        let ram = [Region {
            base: 0x4000_0000,
            size: 0x1_0000_0000,
        }];
        let k = module("dom0", ModuleKind::Kernel, 0x1_2000_0000, 0x1000);
        let e = check_modules(&[k], &ram, HYP).unwrap_err();
        assert!(
            alloc::format!("{e}")
                .starts_with("module dom0 at 0x120000000-0x120000fff (inclusive) lies above 4 GiB"),
            "{e}"
        );
    }

    #[test]
    fn modules_are_checked() {
        let k = module(
            "module@42000000",
            ModuleKind::Kernel,
            0x4200_0000,
            0x54_5200,
        );
        let i = module(
            "module@44000000",
            ModuleKind::Ramdisk,
            0x4400_0000,
            0xd_7f39,
        );
        let (kk, ii) = check_modules(&[i.clone(), k.clone()], &RAM, HYP).unwrap();
        assert_eq!((kk, ii), (k.clone(), Some(i.clone())));
        assert_eq!(
            check_modules(core::slice::from_ref(&i), &RAM, HYP).unwrap_err(),
            LayoutError::NoKernel
        );
        let over = module("module@42100000", ModuleKind::Ramdisk, 0x4210_0000, 0x1000);
        assert!(matches!(
            check_modules(&[k.clone(), over], &RAM, HYP).unwrap_err(),
            LayoutError::ModulesOverlap { .. }
        ));
        let out = module("module@90000000", ModuleKind::Ramdisk, 0x9000_0000, 0x1000);
        let e = check_modules(&[k.clone(), out], &RAM, HYP).unwrap_err();
        assert_eq!(
            alloc::format!("{e}"),
            "module module@90000000 at 0x90000000-0x90000fff (last byte inclusive, as in the memory lines) is not inside RAM"
        );
        let inhyp = module("module@40100000", ModuleKind::Ramdisk, 0x4010_0000, 0x1000);
        assert!(matches!(
            check_modules(&[k.clone(), inhyp], &RAM, HYP).unwrap_err(),
            LayoutError::ModuleOverlapsHypervisor { .. }
        ));
        let k2 = module("module@50000000", ModuleKind::Kernel, 0x5000_0000, 0x1000);
        assert!(matches!(
            check_modules(&[k, k2], &RAM, HYP).unwrap_err(),
            LayoutError::TwoKernels { .. }
        ));
    }

    #[test]
    fn one_module_checked_alone_as_a_domus_are() {
        let r = |base, size| Region { base, size };
        assert_eq!(check_module("m", r(0x4800_0000, 0x1000), &RAM, HYP), Ok(()));
        let e = check_module("module@40100000", r(0x4010_0000, 0x1000), &RAM, HYP).unwrap_err();
        assert_eq!(
            alloc::format!("{e}"),
            "module module@40100000 overlaps snowvisor's own memory"
        );
        // MMIO (outside every RAM bank) and an empty module are refused too.
        assert!(matches!(
            check_module("uart", r(0x0900_0000, 0x1000), &RAM, HYP),
            Err(LayoutError::ModuleOutsideRam { .. })
        ));
        assert!(matches!(
            check_module("empty", r(0x4800_0000, 0), &RAM, HYP),
            Err(LayoutError::ModuleOutsideRam { .. })
        ));
    }

    fn debian_zimage(len: u64) -> ZImage {
        // The Debian 6.1 armmp-lpae kernel's table values.
        ZImage {
            len,
            text_offset: 0x20_8000,
            kernel: 22_696_136 + 0x6_01c0,
            image: 22_696_136,
            from_table: true,
        }
    }

    #[test]
    fn placement_like_xen() {
        let z = debian_zimage(0x54_5200);
        let k = module("k", ModuleKind::Kernel, 0x4200_0000, 0x54_5200);
        let i = module("i", ModuleKind::Ramdisk, 0x4400_0000, 0xd_7f39);
        let banks = dom0_banks(&RAM, HYP, None);
        let l = place(banks, &k, &z, Some(&i), &[]).unwrap();
        // Bank at 0x40a0_0000: the window ends at 0x4800_0000, so the zImage's
        // own guess (0x4000_0000) is not RAM and it falls back to the bank
        // start. The zImage goes as high as possible below the window top.
        assert_eq!(
            l.kernel,
            Region {
                base: 0x4780_0000,
                size: 0x54_5200
            }
        );
        assert_eq!(l.dtb.base, 0x4800_0000);
        // The initrd is already clear of the decompressed kernel: used in place.
        assert_eq!(l.initrd, Some(i.region));
        // Modules already in usable places stay where they are.
        let k2 = module("k", ModuleKind::Kernel, 0x4600_0000, 0x54_5200);
        let l = place(dom0_banks(&RAM, HYP, None), &k2, &z, Some(&i), &[]).unwrap();
        assert_eq!((l.kernel, l.initrd), (k2.region, Some(i.region)));
        // An initrd where the kernel decompresses is moved above the device tree.
        let low = module("i", ModuleKind::Ramdisk, 0x4100_0000, 0x1000);
        let l = place(dom0_banks(&RAM, HYP, None), &k, &z, Some(&low), &[]).unwrap();
        assert_eq!(l.initrd.unwrap().base, 0x4820_0000);
        // A 128 MiB-aligned bank: the guess is the bank start itself.
        let aligned = vec![Region {
            base: 0x5000_0000,
            size: 512 * MIB,
        }];
        let l = place(aligned, &k, &z, Some(&i), &[]).unwrap();
        assert_eq!(l.kernel.base & 0xf800_0000, 0x5000_0000);
        assert_eq!(l.dtb.base, 0x5800_0000);
    }

    #[test]
    fn small_dom0_placed_from_real_sizes() {
        let z = debian_zimage(0x54_5200);
        let k = module("k", ModuleKind::Kernel, 0x4600_0000, 0x54_5200);
        let i = module("i", ModuleKind::Ramdisk, 0x4400_0000, 0x14_f4d9);
        // dom0_mem=64M: 0x40a0_0000-0x44a0_0000.
        let banks = dom0_banks(&RAM, HYP, Some(64 * MIB));
        let l = place(banks, &k, &z, Some(&i), &[]).unwrap();
        let bank = l.banks[0];
        let kend = z.kernel_end(bank.base);
        for r in [l.kernel, l.dtb, l.initrd.unwrap()] {
            assert!(bank.contains(&r), "{r:x?} outside {bank:x?}");
            assert!(r.base >= kend, "{r:x?} inside the decompressed kernel");
        }
        // The zImage lies above the decompressed kernel: no relocation.
        assert!(l.kernel.base >= kend);
        assert!(!l.dtb.overlaps(&l.kernel) && !l.initrd.unwrap().overlaps(&l.dtb));
        assert!(!l.initrd.unwrap().overlaps(&l.kernel));
        // 32 MiB cannot hold it; the error gives the real need, part by part.
        let banks = dom0_banks(&RAM, HYP, Some(32 * MIB));
        let e = place(banks, &k, &z, Some(&i), &[]).unwrap_err();
        let msg = alloc::format!("{e}");
        assert_eq!(
            msg,
            "Dom0's first bank is 32 MiB; it needs at least 34 MiB: 25 MiB for the decompressed kernel, 7 MiB for the zImage and its decompressor, 2 MiB for the device tree, 2 MiB for the initrd: raise dom0_mem or shrink the initrd"
        );
    }

    fn res(what: &str, base: u64, size: u64) -> Reserved {
        Reserved {
            what: what.into(),
            region: Region { base, size },
            no_map: true,
        }
    }

    /// Everything placed lies in the bank and clear of every reservation.
    fn assert_around(l: &Dom0Layout, reserved: &[Reserved]) {
        let copies = [
            Some(l.kernel).filter(|k| *k != l.kernel_src),
            Some(l.dtb),
            l.initrd.filter(|i| Some(*i) != l.initrd_src),
        ];
        for r in copies.into_iter().flatten() {
            assert!(l.banks[0].contains(&r), "{r:x?} outside the bank");
            for x in reserved {
                assert!(!x.region.overlaps(&r), "{r:x?} inside {}", x.what);
            }
        }
    }

    #[test]
    fn the_device_tree_goes_around_a_carve_out_at_its_usual_place() {
        // The input: a no-map carve-out at the window top (0x48000000),
        // where the device tree goes without it. It goes right above instead.
        let z = debian_zimage(0x54_5200);
        let k = module("k", ModuleKind::Kernel, 0x4600_0000, 0x54_5200);
        let i = module("i", ModuleKind::Ramdisk, 0x4400_0000, 0x1d_5e4b);
        let r = [res(
            "/reserved-memory/fw-carveout@48000000",
            0x4800_0000,
            0x20_0000,
        )];
        let l = place(dom0_banks(&RAM, HYP, None), &k, &z, Some(&i), &r).unwrap();
        assert_eq!(l.dtb.base, 0x4820_0000);
        assert_eq!((l.kernel, l.initrd), (k.region, Some(i.region)), "in place");
        assert_around(&l, &r);
        // A one-page /memreserve/ in the middle of the device tree's 2 MiB.
        let r = [res("/memreserve/", 0x4810_0000, 0x1000)];
        let l = place(dom0_banks(&RAM, HYP, None), &k, &z, Some(&i), &r).unwrap();
        assert_eq!(l.dtb.base, 0x4820_0000);
        assert_around(&l, &r);
    }

    #[test]
    fn module_copies_go_around_reservations() {
        let z = debian_zimage(0x54_5200);
        // Loaded where it cannot stay (inside the decompressed kernel): the
        // zImage is copied below the window top, or below a reservation there.
        let k = module("k", ModuleKind::Kernel, 0x4200_0000, 0x54_5200);
        let r = [res("/reserved-memory/top@47c00000", 0x47c0_0000, 0x40_0000)];
        let l = place(dom0_banks(&RAM, HYP, None), &k, &z, None, &r).unwrap();
        assert_eq!(l.kernel.base, 0x4740_0000);
        assert_around(&l, &r);
        // An initrd loaded inside a reservation is copied out (above the tree).
        let k2 = module("k", ModuleKind::Kernel, 0x4600_0000, 0x54_5200);
        let i = module("i", ModuleKind::Ramdisk, 0x4400_0000, 0x1d_5e4b);
        let r = [res("/memreserve/", 0x4410_0000, 0x1000)];
        let l = place(dom0_banks(&RAM, HYP, None), &k2, &z, Some(&i), &r).unwrap();
        assert_ne!(l.initrd, Some(i.region));
        assert_eq!(l.initrd.unwrap().base, l.dtb.end());
        assert_around(&l, &r);
        // A zImage whose decompressor slack would run into a reservation is
        // not used in place either.
        let r = [res("/reserved-memory/slack@46600000", 0x4660_0000, 0x1000)];
        let l = place(dom0_banks(&RAM, HYP, None), &k2, &z, None, &r).unwrap();
        assert_ne!(l.kernel, k2.region);
        assert_around(&l, &r);
    }

    #[test]
    fn a_window_top_full_of_reservations_leaves_the_gap_above_the_kernel() {
        let z = debian_zimage(0x54_5200);
        let k = module("k", ModuleKind::Kernel, 0x4600_0000, 0x54_5200);
        // Everything from 0x47e00000 to past the lowmem Linux surely maps
        // (bank start + 512 MiB) is firmware's.
        let r = [
            res("/reserved-memory/a@47e00000", 0x47e0_0000, 0x20_0000),
            res("/reserved-memory/b@48000000", 0x4800_0000, 0x1900_0000),
        ];
        let l = place(dom0_banks(&RAM, HYP, None), &k, &z, None, &r).unwrap();
        // First gap above the decompressed kernel (which ends near 0x4240_0000).
        assert!(l.dtb.base < 0x4600_0000, "{:x?}", l.dtb);
        assert_around(&l, &r);
        assert!(!l.dtb.overlaps(&Region {
            base: l.banks[0].base,
            size: z.kernel_end(l.banks[0].base) - l.banks[0].base
        }));
    }

    #[test]
    fn a_reservation_where_linux_decompresses_is_named() {
        let z = debian_zimage(0x54_5200);
        let k = module("k", ModuleKind::Kernel, 0x4600_0000, 0x54_5200);
        let r = [res("/reserved-memory/low@41000000", 0x4100_0000, 0x1000)];
        let e = place(dom0_banks(&RAM, HYP, None), &k, &z, None, &r).unwrap_err();
        assert_eq!(
            alloc::format!("{e}"),
            "Dom0's kernel decompresses itself to 0x40a00000-0x4220d287 (RAM start + TEXT_OFFSET, Linux's choice), over reserved memory /reserved-memory/low@41000000 (0x41000000-0x41000fff): move the reservation above the kernel"
        );
    }

    #[test]
    fn no_room_around_reservations_is_the_size_error() {
        let z = debian_zimage(0x54_5200);
        let k = module("k", ModuleKind::Kernel, 0x4600_0000, 0x54_5200);
        // dom0_mem=64M and all of it above the decompressed kernel reserved.
        let banks = dom0_banks(&RAM, HYP, Some(64 * MIB));
        let r = [res("/reserved-memory/all", 0x4240_0000, 0x260_0000)];
        assert!(matches!(
            place(banks, &k, &z, None, &r).unwrap_err(),
            LayoutError::TooSmall { .. }
        ));
    }

    #[test]
    fn reservations_outside_dom0s_ram_are_still_mapped() {
        let banks = dom0_banks(&RAM, HYP, Some(512 * MIB)); // 0x40a00000-0x60a00000
        let r = [
            // Inside Dom0's RAM: nothing extra.
            res("in", 0x5000_0000, 0x1000),
            // Straddling the end of Dom0's RAM, unaligned: the outside part, whole pages.
            res("edge", 0x609f_f800, 0x2000),
            // Outside, overlapping another: merged.
            res("a", 0x7000_0000, 0x2000),
            res("b", 0x7000_1000, 0x2000),
            // In snowvisor's own memory or outside RAM: never.
            res("hyp", 0x4002_0000, 0x1000),
            res("beyond", 0x9000_0000, 0x1000),
        ];
        assert_eq!(
            reserved_outside(&RAM, &banks, HYP, &r),
            [
                Region {
                    base: 0x60a0_0000,
                    size: 0x2000
                },
                Region {
                    base: 0x7000_0000,
                    size: 0x3000
                },
            ]
        );
    }
}
