//! Where Dom0's memory is and where its kernel, initrd and device tree go.
//!
//! Dom0 is mapped 1:1 (IPA == PA), as on Xen/ARM: swiotlb-xen and DMA without an
//! IOMMU rely on it. Its RAM is the host's banks minus snowvisor's own region,
//! capped by `dom0_mem=`. The boot modules are validated, then given final
//! places inside Dom0's first bank the way Linux expects them. A zImage guesses
//! the start of RAM as its own address rounded down to 128 MiB, and falls back
//! to the lowest memory bank when that guess is not RAM; either way it must land
//! on the bank start, where it decompresses itself. So the zImage goes at the
//! top of the 128 MiB window that holds the bank start, and the device tree and
//! initrd right above it, clear of the decompressed kernel.

use alloc::vec::Vec;
use core::fmt;

use crate::dt::{BootModule, ModuleKind, Region};

pub const MIB: u64 = 1 << 20;
const ALIGN_2M: u64 = 2 * MIB;
/// Space the zImage wants below it for the decompressed kernel.
const KERNEL_WINDOW: u64 = 128 * MIB;
/// Room reserved for Dom0's device tree.
pub const DTB_MAX: u64 = 2 * MIB;
/// Where the kernel decompresses itself: the bank start up to this much above
/// (the Debian armmp-lpae Image with its bss is about 20 MiB).
const DECOMPRESS_ZONE: u64 = 32 * MIB;
/// An initrd used in place must lie this close to the bank start, well inside
/// the lowmem Linux maps (about 760 MiB with the default 3G/1G split).
const LOWMEM_SAFE: u64 = 512 * MIB;
/// The zImage's decompressor needs stack and heap after its end.
const ZIMAGE_SLACK: u64 = MIB;

const ZIMAGE_MAGIC: u32 = 0x016f_2818;

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
    NotAZImage {
        found: u32,
    },
    NoRamLeft,
    TooSmall {
        need: u64,
        have: u64,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::NoKernel => write!(
                f,
                "no Dom0 kernel: /chosen has no module node with compatible \"multiboot,kernel\" (QEMU: -device guest-loader,addr=0x42000000,kernel=zImage,bootargs=\"...\")"
            ),
            LayoutError::TwoKernels { first, second } => write!(
                f,
                "two Dom0 kernel modules (at {first:#x} and {second:#x}): keep one"
            ),
            LayoutError::ModuleOutsideRam { node, region } => write!(
                f,
                "module {node} at {:#x}-{:#x} is not inside RAM",
                region.base,
                region.end()
            ),
            LayoutError::ModulesOverlap { a, b } => write!(f, "modules {a} and {b} overlap"),
            LayoutError::ModuleOverlapsHypervisor { node } => {
                write!(f, "module {node} overlaps snowvisor's own memory")
            }
            LayoutError::NotAZImage { found } => write!(
                f,
                "Dom0 kernel is not an ARM zImage (word at 0x24 is {found:#010x}, expected 0x016f2818)"
            ),
            LayoutError::NoRamLeft => write!(f, "no RAM left for Dom0 after snowvisor's own region"),
            LayoutError::TooSmall { need, have } => write!(
                f,
                "Dom0's first bank is {} MiB, the kernel, device tree and initrd need {} MiB: raise dom0_mem or shrink the initrd",
                have / MIB,
                need.div_ceil(MIB)
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
    pub bootargs: Option<alloc::string::String>,
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
        if !ram.iter().any(|r| r.contains(&m.region)) || m.region.size == 0 {
            return Err(LayoutError::ModuleOutsideRam {
                node: m.node.to_string(),
                region: m.region,
            });
        }
        if m.region.overlaps(&hyp) {
            return Err(LayoutError::ModuleOverlapsHypervisor {
                node: m.node.to_string(),
            });
        }
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

/// Checks the zImage header word (`header` is the image's first 0x30 bytes).
pub fn check_zimage(header: &[u8]) -> Result<(), LayoutError> {
    let found = header
        .get(0x24..0x28)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0);
    if found != ZIMAGE_MAGIC {
        return Err(LayoutError::NotAZImage { found });
    }
    Ok(())
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

/// Places kernel, device tree and initrd in Dom0's first bank.
pub fn place(
    banks: Vec<Region>,
    kernel: &BootModule<'_>,
    initrd: Option<&BootModule<'_>>,
) -> Result<Dom0Layout, LayoutError> {
    let bank = *banks.first().ok_or(LayoutError::NoRamLeft)?;
    let ksize = kernel.region.size;
    let kspace = align_up(ksize + ZIMAGE_SLACK, ALIGN_2M);
    let isize = initrd.map_or(0, |i| align_up(i.region.size, 4096));
    // End of the 128 MiB-aligned window holding the bank start; if that leaves
    // too little room below it, a full window above the start.
    let mut top = align_up(bank.base + 1, KERNEL_WINDOW);
    if top - bank.base < KERNEL_WINDOW / 4 + kspace {
        top = bank.base + KERNEL_WINDOW;
    }
    let need = top - bank.base + DTB_MAX + isize;
    if bank.size < need {
        return Err(LayoutError::TooSmall {
            need,
            have: bank.size,
        });
    }
    let dtb = Region {
        base: top,
        size: DTB_MAX,
    };
    // A module already where Linux can use it stays there (no copy, no cache
    // maintenance): above the decompression zone at the bank start, inside the
    // bank and clear of the device tree; the zImage also below the window top.
    let zone_end = bank.base + DECOMPRESS_ZONE;
    let usable = |r: Region| bank.contains(&r) && r.base >= zone_end && !r.overlaps(&dtb);
    let kernel_dst = if usable(kernel.region) && kernel.region.end() + ZIMAGE_SLACK <= top {
        kernel.region
    } else {
        Region {
            base: top - kspace,
            size: ksize,
        }
    };
    let initrd_dst = initrd.map(|i| {
        if usable(i.region)
            && !i.region.overlaps(&kernel_dst)
            && i.region.end() <= bank.base + LOWMEM_SAFE
        {
            i.region
        } else {
            Region {
                base: dtb.end(),
                size: i.region.size,
            }
        }
    });
    Ok(Dom0Layout {
        banks,
        kernel: kernel_dst,
        dtb,
        initrd: initrd_dst,
        kernel_src: kernel.region,
        initrd_src: initrd.map(|i| i.region),
        bootargs: kernel.bootargs.map(alloc::string::String::from),
    })
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
            "module module@90000000 at 0x90000000-0x90001000 is not inside RAM"
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
    fn zimage_magic() {
        let mut h = [0u8; 0x30];
        assert!(matches!(
            check_zimage(&h),
            Err(LayoutError::NotAZImage { found: 0 })
        ));
        h[0x24..0x28].copy_from_slice(&0x016f_2818u32.to_le_bytes());
        assert!(check_zimage(&h).is_ok());
        assert!(check_zimage(&h[..0x20]).is_err());
    }

    #[test]
    fn placement_like_xen() {
        let k = module("k", ModuleKind::Kernel, 0x4200_0000, 0x54_5200);
        let i = module("i", ModuleKind::Ramdisk, 0x4400_0000, 0xd_7f39);
        let banks = dom0_banks(&RAM, HYP, None);
        let l = place(banks, &k, Some(&i)).unwrap();
        // Bank at 0x40a0_0000: the window ends at 0x4800_0000, so the zImage's
        // own guess (0x4000_0000) is not RAM and it falls back to the bank start.
        assert_eq!(
            l.kernel,
            Region {
                base: 0x4800_0000 - 8 * MIB,
                size: 0x54_5200
            }
        );
        assert_eq!(l.kernel.base & 0xf800_0000, 0x4000_0000);
        assert_eq!(l.dtb.base, 0x4800_0000);
        // The initrd is already clear of the decompression zone: used in place.
        assert_eq!(l.initrd, Some(i.region));
        // Modules already in usable places stay where they are.
        let k2 = module("k", ModuleKind::Kernel, 0x4600_0000, 0x54_5200);
        let l = place(dom0_banks(&RAM, HYP, None), &k2, Some(&i)).unwrap();
        assert_eq!((l.kernel, l.initrd), (k2.region, Some(i.region)));
        // An initrd inside the decompression zone is moved above the device tree.
        let low = module("i", ModuleKind::Ramdisk, 0x4100_0000, 0x1000);
        let l = place(dom0_banks(&RAM, HYP, None), &k, Some(&low)).unwrap();
        assert_eq!(l.initrd.unwrap().base, 0x4820_0000);
        // A 128 MiB-aligned bank: the guess is the bank start itself.
        let aligned = vec![Region {
            base: 0x5000_0000,
            size: 512 * MIB,
        }];
        let l = place(aligned, &k, Some(&i)).unwrap();
        assert_eq!(l.kernel.base & 0xf800_0000, 0x5000_0000);
        assert_eq!(l.dtb.base, 0x5800_0000);
        assert_eq!(l.bootargs.as_deref(), Some("console=hvc0"));
        let small = vec![Region {
            base: 0x4000_0000,
            size: 64 * MIB,
        }];
        assert!(matches!(
            place(small, &k, Some(&i)),
            Err(LayoutError::TooSmall { .. })
        ));
    }
}
