//! What an ARM zImage needs to decompress itself, read from the image.
//!
//! Header (Linux `arch/arm/boot/compressed/head.S`): magic 0x016f2818 at 0x24,
//! then at 0x34 the magic 0x45454545 and at 0x38 the offset of a table of
//! little-endian words (`vmlinux.lds.S`): its length in words, the tag `KLSZ`
//! (0x5a534c4b), the offset of the word holding the decompressed Image's size,
//! the kernel's bss size, TEXT_OFFSET and the decompressor's malloc size.
//! Older zImages have no table; then a generous estimate is used.

use super::layout::LayoutError;

const ZIMAGE_MAGIC: u32 = 0x016f_2818;
const TABLE_MAGIC: u32 = 0x4545_4545;
const KLSZ: u32 = 0x5a53_4c4b;
const MIB: u64 = 1 << 20;
/// Without a size table: room assumed for the decompressed kernel and its bss
/// (the Debian armmp-lpae 6.1 Image with its bss is about 23 MiB).
const ESTIMATED_KERNEL: u64 = 32 * MIB;
/// TEXT_OFFSET of kernels too old to say (`arch/arm/Makefile`'s default).
const DEFAULT_TEXT_OFFSET: u64 = 0x8000;
/// The decompressor's own bss, stack and malloc arena after the zImage's end,
/// plus its 16 KiB page directory below the kernel: one MiB covers them.
pub const DECOMPRESSOR_SLACK: u64 = MIB;

/// Sizes from a zImage, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZImage {
    /// The zImage file itself.
    pub len: u64,
    /// TEXT_OFFSET: where the kernel decompresses, from the start of RAM.
    pub text_offset: u64,
    /// The decompressed Image plus its bss.
    pub kernel: u64,
    /// The decompressed Image alone (the zImage relocates itself past it when
    /// it would be overwritten).
    pub image: u64,
    /// True if the sizes came from the image's table, false if estimated.
    pub from_table: bool,
}

fn word(b: &[u8], at: usize) -> Option<u32> {
    let w = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

impl ZImage {
    /// Reads `bytes` (the whole zImage): checks the magic, then the size table.
    pub fn parse(bytes: &[u8]) -> Result<ZImage, LayoutError> {
        let found = word(bytes, 0x24).unwrap_or(0);
        if found != ZIMAGE_MAGIC {
            return Err(LayoutError::NotAZImage { found });
        }
        let len = bytes.len() as u64;
        Ok(Self::table(bytes).unwrap_or(ZImage {
            len,
            text_offset: DEFAULT_TEXT_OFFSET,
            kernel: ESTIMATED_KERNEL.max(len * 5),
            image: ESTIMATED_KERNEL.max(len * 5),
            from_table: false,
        }))
    }

    fn table(bytes: &[u8]) -> Option<ZImage> {
        if word(bytes, 0x34)? != TABLE_MAGIC {
            return None;
        }
        let t = word(bytes, 0x38)? as usize;
        if word(bytes, t)? < 5 || word(bytes, t + 4)? != KLSZ {
            return None;
        }
        let image = u64::from(word(bytes, word(bytes, t + 8)? as usize)?);
        let bss = u64::from(word(bytes, t + 12)?);
        let text_offset = u64::from(word(bytes, t + 16)?);
        Some(ZImage {
            len: bytes.len() as u64,
            text_offset,
            kernel: image + bss,
            image,
            from_table: true,
        })
    }

    /// End of the decompressed kernel (with bss) when RAM starts at `base`.
    pub fn kernel_end(&self, base: u64) -> u64 {
        base + self.text_offset + self.kernel
    }

    /// The span a zImage copied to `at` occupies until the kernel runs: the
    /// zImage with its decompressor slack and, if it lies where the kernel
    /// decompresses, its relocated copy past the decompressed Image.
    pub fn decompressor_end(&self, base: u64, at: u64) -> u64 {
        let own_end = at + self.len + DECOMPRESSOR_SLACK;
        if at >= self.kernel_end(base) + 16 * 1024 {
            own_end
        } else {
            own_end.max(base + self.text_offset + self.image + self.len + DECOMPRESSOR_SLACK)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zImage-like blob with the Debian 6.1 armmp-lpae kernel's table values.
    pub fn fake_zimage(len: usize) -> alloc::vec::Vec<u8> {
        let mut z = alloc::vec![0u8; len];
        let mut put = |at: usize, v: u32| z[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put(0x24, ZIMAGE_MAGIC);
        put(0x2c, len as u32);
        put(0x34, TABLE_MAGIC);
        put(0x38, 0x100);
        for (i, v) in [6, KLSZ, 0x201, 0x601c0, 0x208000, 0x10000]
            .iter()
            .enumerate()
        {
            put(0x100 + 4 * i, *v);
        }
        put(0x201, 22_696_136);
        z
    }

    #[test]
    fn reads_the_size_table() {
        let z = ZImage::parse(&fake_zimage(0x1000)).unwrap();
        assert_eq!(
            z,
            ZImage {
                len: 0x1000,
                text_offset: 0x208000,
                kernel: 22_696_136 + 0x601c0,
                image: 22_696_136,
                from_table: true
            }
        );
        // Without the table: estimated.
        let mut old = fake_zimage(0x1000);
        old[0x34] = 0;
        let z = ZImage::parse(&old).unwrap();
        assert!(!z.from_table);
        assert_eq!((z.kernel, z.text_offset), (32 * MIB, 0x8000));
        // A table pointer out of the image is no table, not a fault.
        let mut bad = fake_zimage(0x1000);
        bad[0x38..0x3c].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert!(!ZImage::parse(&bad).unwrap().from_table);
        assert!(matches!(
            ZImage::parse(&[0x5a; 0x40]),
            Err(LayoutError::NotAZImage { found: 0x5a5a_5a5a })
        ));
        assert!(ZImage::parse(&[0; 0x20]).is_err());
    }

    #[test]
    fn relocation_is_counted_only_when_needed() {
        let z = ZImage::parse(&fake_zimage(0x54_5200)).unwrap();
        let base = 0x40a0_0000;
        let above = 0x4780_0000;
        assert_eq!(z.decompressor_end(base, above), above + 0x54_5200 + MIB);
        // Inside the kernel's span: relocated past the decompressed Image.
        let inside = 0x4100_0000;
        assert_eq!(
            z.decompressor_end(base, inside),
            base + 0x208000 + 22_696_136 + 0x54_5200 + MIB
        );
    }
}
