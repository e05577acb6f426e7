//! The flattened device tree, read in one pass (Devicetree Specification
//! v0.4, chapter 5): the header is checked, the memory-reservation block is
//! proven terminated, and the structure block is walked into [`RawNode`]s.
//!
//! This walk is both the structural check and the parser, so what is accepted
//! is exactly what is read: every blob that reaches snowvisor (from firmware,
//! from a user's file in `scripts/plan`) is either a clear [`DtError`] or a
//! list of nodes that every later reader indexes without panicking. As the
//! specification and Linux's `unflatten_device_tree` do, `FDT_NOP` tokens are
//! skipped wherever they appear (libfdt-based fix-ups in QEMU and U-Boot leave
//! them), and a property after a child node still belongs to its node.
//!
//! Checked crates (none reads every tree Linux reads without panicking):
//! `fdt` 0.1.5 stops path look-ups at the first NOP and panics ("bad node") on a
//! property after a child; `fdt` 0.2.0-alpha1 panics on a property after a
//! child and on a non-UTF-8 `compatible`; `flat_device_tree` 3.1 sees one node
//! in a tree with a NOP after each property and drops properties after a child;
//! `fdt-parser` 0.5 drops properties after a child; `fdt-rs` 0.4 needs `unsafe`
//! to open a blob; `dtb-walker` 0.1 has no random access.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::address::TranslateError;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
const HEADER_LEN: usize = 40;
/// Largest tree snowvisor accepts. Real ones are tens of KiB, but QEMU pads a
/// `-dtb` file by its own 1 MiB on top of whatever the file says.
pub const MAX_DTB_SIZE: usize = 8 * 1024 * 1024;
/// Deeper nesting than this is treated as corruption.
const MAX_DEPTH: usize = 64;

/// What is wrong with a device-tree blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DtError {
    /// The boot register that should hold the DTB address was zero.
    NoPointer,
    /// The DTB address is not 4-byte aligned or lies outside the RAM window.
    BadPointer { addr: usize },
    /// Fewer bytes than a header.
    TooShort { len: usize },
    /// The first word is not 0xd00dfeed.
    BadMagic { found: u32 },
    /// `totalsize` is larger than the bytes available.
    Truncated { totalsize: usize, available: usize },
    /// `totalsize` is larger than [`MAX_DTB_SIZE`].
    TooLarge { totalsize: usize },
    /// Version older than 16 (the first with the layout this code reads).
    OldVersion { version: u32 },
    /// A block (`what`) lies outside `totalsize`.
    BlockOutOfRange { what: &'static str },
    /// The structure block is malformed at byte offset `offset` (from the start of the blob).
    Structure { offset: usize, why: &'static str },
    /// The tree has no memory node with a usable `reg`.
    NoMemory,
    /// A property that must be present is missing or malformed.
    BadProperty {
        node: &'static str,
        prop: &'static str,
    },
    /// No node has a GICv2 compatible ([`super::host::GIC_COMPATIBLES`]).
    NoGic,
    /// The GIC node's `reg` has fewer than the two frames (GICD, GICC) it needs.
    GicFrames { node: String },
    /// A node snowvisor drives has a `reg` with no CPU address.
    Translate(TranslateError),
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtError::NoPointer => write!(
                f,
                "no device tree: the DTB address register (r2) is 0 (an ELF boot? boot the raw image, which QEMU and U-Boot enter with r2 = DTB)"
            ),
            DtError::BadPointer { addr } => {
                write!(f, "DTB address {addr:#x} is misaligned or outside RAM")
            }
            DtError::TooShort { len } => {
                write!(f, "device tree is {len} bytes, shorter than its 40-byte header")
            }
            DtError::BadMagic { found } => write!(
                f,
                "device tree has bad magic {found:#010x} (expected 0xd00dfeed): not a DTB"
            ),
            DtError::Truncated {
                totalsize,
                available,
            } => write!(
                f,
                "device tree is truncated: header says {totalsize} bytes, only {available} present"
            ),
            DtError::TooLarge { totalsize } => write!(
                f,
                "device tree claims {totalsize} bytes, more than the {MAX_DTB_SIZE}-byte limit"
            ),
            DtError::OldVersion { version } => {
                write!(f, "device tree version {version} is too old (need >= 16)")
            }
            DtError::BlockOutOfRange { what } => {
                write!(f, "device tree {what} block lies outside the blob")
            }
            DtError::Structure { offset, why } => {
                write!(f, "device tree structure is corrupt at byte {offset:#x}: {why}")
            }
            DtError::NoMemory => write!(f, "device tree has no memory node with a usable reg"),
            DtError::BadProperty { node, prop } => {
                write!(f, "device tree node {node}: property {prop} missing or malformed")
            }
            DtError::NoGic => write!(
                f,
                "no GICv2 node (arm,cortex-a15-gic, arm,gic-400, arm,cortex-a7-gic or arm,cortex-a9-gic) in the device tree"
            ),
            DtError::GicFrames { node } => write!(
                f,
                "{node}: reg has fewer than two frames (GICD, GICC)"
            ),
            DtError::Translate(e) => write!(f, "{e}"),
        }
    }
}

fn be32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads `totalsize` from a header, checking magic and the size cap only.
/// Used to size the slice over firmware memory before [`check`].
pub fn header_totalsize(header: &[u8]) -> Result<usize, DtError> {
    if header.len() < HEADER_LEN {
        return Err(DtError::TooShort { len: header.len() });
    }
    let magic = be32(header, 0).unwrap_or(0);
    if magic != FDT_MAGIC {
        return Err(DtError::BadMagic { found: magic });
    }
    let totalsize = be32(header, 4).unwrap_or(0) as usize;
    if totalsize > MAX_DTB_SIZE {
        return Err(DtError::TooLarge { totalsize });
    }
    if totalsize < HEADER_LEN {
        return Err(DtError::TooShort { len: totalsize });
    }
    Ok(totalsize)
}

/// Checks the header and the memory-reservation block; returns the blob
/// trimmed to `totalsize`, with the structure and strings blocks inside it.
fn check_header(blob: &[u8]) -> Result<&[u8], DtError> {
    let totalsize = header_totalsize(blob)?;
    if totalsize > blob.len() {
        return Err(DtError::Truncated {
            totalsize,
            available: blob.len(),
        });
    }
    let blob = &blob[..totalsize];
    let field = |i: usize| be32(blob, i * 4).unwrap_or(0) as usize;
    let (off_struct, off_strings, off_rsvmap) = (field(2), field(3), field(4));
    let version = field(5) as u32;
    let (size_strings, size_struct) = (field(8), field(9));
    if version < 16 {
        return Err(DtError::OldVersion { version });
    }
    let in_range = |off: usize, len: usize| off.checked_add(len).is_some_and(|e| e <= totalsize);
    if !in_range(off_struct, size_struct) || off_struct < HEADER_LEN {
        return Err(DtError::BlockOutOfRange { what: "structure" });
    }
    if !in_range(off_strings, size_strings) {
        return Err(DtError::BlockOutOfRange { what: "strings" });
    }
    check_rsvmap(blob, off_rsvmap)?;
    Ok(blob)
}

fn check_rsvmap(blob: &[u8], off: usize) -> Result<(), DtError> {
    if off < HEADER_LEN || !off.is_multiple_of(8) {
        return Err(DtError::BlockOutOfRange {
            what: "memory-reservation",
        });
    }
    let mut at = off;
    loop {
        let entry = blob.get(at..at + 16).ok_or(DtError::BlockOutOfRange {
            what: "memory-reservation",
        })?;
        if entry.iter().all(|&b| b == 0) {
            return Ok(());
        }
        at += 16;
    }
}

/// One node of the structure block, in tree (depth-first) order.
#[derive(Debug, Clone)]
pub struct RawNode<'a> {
    /// Index of the parent in the walk's output; `None` for the root.
    pub parent: Option<usize>,
    /// Name with unit address (`""` for the root).
    pub name: &'a str,
    /// Properties in blob order (also those after child nodes).
    pub props: Vec<RawProp<'a>>,
}

/// One property, borrowed from the blob.
#[derive(Debug, Clone, Copy)]
pub struct RawProp<'a> {
    pub name: &'a str,
    pub value: &'a [u8],
}

/// Checks header and structure block, and reads the nodes.
/// Returns the blob trimmed to `totalsize` and its nodes (root first).
pub fn parse(blob: &[u8]) -> Result<(&[u8], Vec<RawNode<'_>>), DtError> {
    let blob = check_header(blob)?;
    let field = |i: usize| be32(blob, i * 4).unwrap_or(0) as usize;
    let nodes = walk(blob, field(2), field(9), field(3), field(8))?;
    Ok((blob, nodes))
}

/// The `/memreserve/` entries ([`check`] proved the block terminated).
pub fn memreserve(blob: &[u8]) -> Vec<(u64, u64)> {
    let be64 = |at: usize| {
        blob.get(at..at.checked_add(8)?)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
    };
    let mut out = Vec::new();
    let mut at = be32(blob, 16).unwrap_or(0) as usize;
    while let (Some(base), Some(size)) = (be64(at), be64(at + 8)) {
        if base == 0 && size == 0 {
            break;
        }
        out.push((base, size));
        at += 16;
    }
    out
}

fn walk<'a>(
    blob: &'a [u8],
    off: usize,
    len: usize,
    strings: usize,
    strings_len: usize,
) -> Result<Vec<RawNode<'a>>, DtError> {
    let end = off + len;
    let err = |offset: usize, why: &'static str| Err(DtError::Structure { offset, why });
    let block = &blob[..end];
    let strings = &blob[strings..strings + strings_len];
    let mut nodes: Vec<RawNode<'a>> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut at = off;
    loop {
        let Some(token) = be32(block, at) else {
            return err(at, "structure block ends without FDT_END");
        };
        let token_at = at;
        at += 4;
        match token {
            FDT_BEGIN_NODE => {
                if open.is_empty() && !nodes.is_empty() {
                    return err(token_at, "second root node");
                }
                let rest = &block[at..];
                let Some(nul) = rest.iter().position(|&b| b == 0) else {
                    return err(token_at, "node name not terminated");
                };
                let Ok(name) = core::str::from_utf8(&rest[..nul]) else {
                    return err(token_at, "node name is not UTF-8");
                };
                at = align4(at + nul + 1);
                if open.len() >= MAX_DEPTH {
                    return err(token_at, "nodes nested too deeply");
                }
                nodes.push(RawNode {
                    parent: open.last().copied(),
                    name,
                    props: Vec::new(),
                });
                open.push(nodes.len() - 1);
            }
            FDT_END_NODE => {
                if open.pop().is_none() {
                    return err(token_at, "FDT_END_NODE without a node");
                }
            }
            FDT_PROP => {
                let Some(&node) = open.last() else {
                    return err(token_at, "property outside any node");
                };
                let (Some(plen), Some(nameoff)) = (be32(block, at), be32(block, at + 4)) else {
                    return err(token_at, "property header truncated");
                };
                let (plen, nameoff) = (plen as usize, nameoff as usize);
                at += 8;
                let Some(value) = at.checked_add(plen).and_then(|e| block.get(at..e)) else {
                    return err(token_at, "property value runs past the structure block");
                };
                let Some(name) = strings.get(nameoff..) else {
                    return err(token_at, "property name offset outside the strings block");
                };
                let Some(nul) = name.iter().position(|&b| b == 0) else {
                    return err(token_at, "property name not terminated");
                };
                let Ok(name) = core::str::from_utf8(&name[..nul]) else {
                    return err(token_at, "property name is not UTF-8");
                };
                if (name == "#address-cells" || name == "#size-cells") && plen != 4 {
                    return err(token_at, "#address-cells/#size-cells is not one cell");
                }
                nodes[node].props.push(RawProp { name, value });
                at = align4(at + plen);
            }
            FDT_NOP => {}
            FDT_END => {
                if !open.is_empty() {
                    return err(token_at, "FDT_END inside an open node");
                }
                if nodes.is_empty() {
                    return err(token_at, "no root node");
                }
                return Ok(nodes);
            }
            _ => return err(token_at, "unknown token"),
        }
    }
}

fn align4(x: usize) -> usize {
    (x + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::QEMU_VIRT_DTB;

    /// The blob as [`parse`] accepts it, trimmed to `totalsize`.
    fn check(blob: &[u8]) -> Result<&[u8], DtError> {
        parse(blob).map(|(b, _)| b)
    }

    #[test]
    fn real_qemu_tree_passes() {
        assert_eq!(check(QEMU_VIRT_DTB).unwrap().len(), QEMU_VIRT_DTB.len());
    }

    #[test]
    fn bad_magic_is_named() {
        let mut b = QEMU_VIRT_DTB.to_vec();
        b[0] = 0x12;
        let e = check(&b).unwrap_err();
        assert!(matches!(e, DtError::BadMagic { found } if found == 0x120d_feed));
        assert!(alloc::format!("{e}").contains("bad magic 0x120dfeed"));
    }

    #[test]
    fn every_truncation_is_an_error() {
        for len in 0..QEMU_VIRT_DTB.len() {
            let e = check(&QEMU_VIRT_DTB[..len]).unwrap_err();
            match (len, e) {
                (0..40, DtError::TooShort { .. }) => {}
                (40.., DtError::Truncated { available, .. }) => assert_eq!(available, len),
                (l, e) => panic!("truncation to {l} gave {e:?}"),
            }
        }
    }

    #[test]
    fn corrupt_structure_never_panics_and_readers_survive_what_passes() {
        // Flip each byte of the structure block in turn: check() either rejects the
        // blob or every boot-path reader answers on the tree it accepts.
        let blob = QEMU_VIRT_DTB;
        let off_struct = be32(blob, 8).unwrap() as usize;
        let size_struct = be32(blob, 36).unwrap() as usize;
        let mut rejected = 0;
        for i in (off_struct..off_struct + size_struct).step_by(3) {
            let mut b = blob.to_vec();
            b[i] ^= 0xa5;
            match check(&b) {
                Err(_) => rejected += 1,
                Ok(ok) => {
                    let t = crate::HostTree::new(ok).unwrap();
                    let _ = core::hint::black_box((t.memory(), t.gic(), t.timer(), t.stdout()));
                    core::hint::black_box((t.modules(), t.cpu_count(), t.device_count()));
                }
            }
        }
        assert!(rejected > 100, "only {rejected} corruptions were caught");
    }

    #[test]
    fn header_fields_out_of_range() {
        let mut b = QEMU_VIRT_DTB.to_vec();
        b[8..12].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        assert_eq!(
            check(&b).unwrap_err(),
            DtError::BlockOutOfRange { what: "structure" }
        );
        let mut b = QEMU_VIRT_DTB.to_vec();
        b[4..8].copy_from_slice(&(64u32 << 20).to_be_bytes());
        assert!(matches!(check(&b).unwrap_err(), DtError::TooLarge { .. }));
        let mut b = QEMU_VIRT_DTB.to_vec();
        b[20..24].copy_from_slice(&15u32.to_be_bytes());
        assert_eq!(check(&b).unwrap_err(), DtError::OldVersion { version: 15 });
    }
}
