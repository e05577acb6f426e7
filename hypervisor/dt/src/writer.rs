//! A flattened-device-tree serializer with vm-fdt's call shape (`begin_node`,
//! `property`, `end_node`, `finish`) but dtc's tolerance for names: vm-fdt
//! rejects node and property names over 31 characters or starting with a digit,
//! and Linux's own DTBs have both (`arm,cpu-registers-not-fw-configured` in every
//! Allwinner timer node, `display-timings/800x480` on VIA/WonderMedia boards,
//! `__symbols__`). This writer refuses only what the format cannot hold: NUL
//! bytes, `/` in a node name, empty property names, and nesting past 64.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_END: u32 = 9;
const HEADER_LEN: usize = 40;
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// A node name with NUL or `/`, or a non-root node with an empty name.
    NodeName(String),
    /// A property name that is empty or holds NUL.
    PropertyName(String),
    /// A property after a child node, or outside any node.
    PropertyOutOfPlace(String),
    TooDeep,
    /// `end_node` or `finish` out of order.
    Unbalanced,
    /// Past the 32-bit sizes of the header.
    TooLarge,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::NodeName(n) => write!(f, "node name '{n}' cannot be written"),
            WriteError::PropertyName(n) => write!(f, "property name '{n}' cannot be written"),
            WriteError::PropertyOutOfPlace(n) => write!(f, "property {n} after a child node"),
            WriteError::TooDeep => write!(f, "nodes nested deeper than {MAX_DEPTH}"),
            WriteError::Unbalanced => write!(f, "nodes opened and closed out of order"),
            WriteError::TooLarge => write!(f, "tree larger than 4 GiB"),
        }
    }
}

/// Token for an open node; pass it back to [`FdtWriter::end_node`].
#[derive(Debug)]
pub struct OpenNode {
    depth: usize,
}

pub struct FdtWriter {
    rsvmap: Vec<(u64, u64)>,
    structs: Vec<u8>,
    strings: Vec<u8>,
    offsets: BTreeMap<String, u32>,
    depth: usize,
    /// A child was closed at the current depth: properties may no longer follow.
    child_closed: bool,
    boot_cpuid: u32,
}

fn push_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

fn size32(n: usize) -> Result<u32, WriteError> {
    u32::try_from(n).map_err(|_| WriteError::TooLarge)
}

impl FdtWriter {
    /// A writer whose blob will carry `reservations` as `/memreserve/` entries.
    pub fn new(reservations: &[(u64, u64)]) -> Self {
        FdtWriter {
            rsvmap: reservations.to_vec(),
            structs: Vec::new(),
            strings: Vec::new(),
            offsets: BTreeMap::new(),
            depth: 0,
            child_closed: false,
            boot_cpuid: 0,
        }
    }

    pub fn set_boot_cpuid_phys(&mut self, id: u32) {
        self.boot_cpuid = id;
    }

    pub fn begin_node(&mut self, name: &str) -> Result<OpenNode, WriteError> {
        if self.depth == 0 && !self.structs.is_empty() {
            return Err(WriteError::Unbalanced);
        }
        if (self.depth > 0 && name.is_empty()) || name.contains(['\0', '/']) {
            return Err(WriteError::NodeName(String::from(name)));
        }
        if self.depth >= MAX_DEPTH {
            return Err(WriteError::TooDeep);
        }
        push_u32(&mut self.structs, FDT_BEGIN_NODE);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        pad4(&mut self.structs);
        self.depth += 1;
        self.child_closed = false;
        Ok(OpenNode { depth: self.depth })
    }

    pub fn end_node(&mut self, node: OpenNode) -> Result<(), WriteError> {
        if node.depth != self.depth || self.depth == 0 {
            return Err(WriteError::Unbalanced);
        }
        push_u32(&mut self.structs, FDT_END_NODE);
        self.depth -= 1;
        self.child_closed = true;
        Ok(())
    }

    pub fn property(&mut self, name: &str, value: &[u8]) -> Result<(), WriteError> {
        if name.is_empty() || name.contains('\0') {
            return Err(WriteError::PropertyName(String::from(name)));
        }
        if self.depth == 0 || self.child_closed {
            return Err(WriteError::PropertyOutOfPlace(String::from(name)));
        }
        let off = match self.offsets.get(name) {
            Some(&o) => o,
            None => {
                let o = size32(self.strings.len())?;
                self.strings.extend_from_slice(name.as_bytes());
                self.strings.push(0);
                self.offsets.insert(String::from(name), o);
                o
            }
        };
        push_u32(&mut self.structs, FDT_PROP);
        push_u32(&mut self.structs, size32(value.len())?);
        push_u32(&mut self.structs, off);
        self.structs.extend_from_slice(value);
        pad4(&mut self.structs);
        Ok(())
    }

    /// The blob: header, reservation map, structure block, strings block.
    pub fn finish(mut self) -> Result<Vec<u8>, WriteError> {
        if self.depth != 0 || self.structs.is_empty() {
            return Err(WriteError::Unbalanced);
        }
        push_u32(&mut self.structs, FDT_END);
        let off_rsvmap = HEADER_LEN; // 8-aligned
        let off_struct = off_rsvmap + (self.rsvmap.len() + 1) * 16;
        let off_strings = off_struct + self.structs.len();
        let total = off_strings + self.strings.len();
        let mut out = Vec::with_capacity(total);
        for x in [
            FDT_MAGIC,
            size32(total)?,
            size32(off_struct)?,
            size32(off_strings)?,
            size32(off_rsvmap)?,
            17, // version
            16, // last compatible version
            self.boot_cpuid,
            size32(self.strings.len())?,
            size32(self.structs.len())?,
        ] {
            push_u32(&mut out, x);
        }
        for (base, size) in self.rsvmap.iter().chain([&(0, 0)]) {
            out.extend_from_slice(&base.to_be_bytes());
            out.extend_from_slice(&size.to_be_bytes());
        }
        out.extend_from_slice(&self.structs);
        out.extend_from_slice(&self.strings);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostTree;

    #[test]
    fn long_names_and_round_trip() {
        let mut w = FdtWriter::new(&[(0x4000_0000, 0x1000)]);
        w.set_boot_cpuid_phys(1);
        let root = w.begin_node("").unwrap();
        w.property("#address-cells", &1u32.to_be_bytes()).unwrap();
        w.property("#size-cells", &1u32.to_be_bytes()).unwrap();
        let m = w.begin_node("memory@40000000").unwrap();
        w.property("device_type", b"memory\0").unwrap();
        w.property("reg", &[0x40, 0, 0, 0, 0, 0x10, 0, 0]).unwrap();
        w.end_node(m).unwrap();
        let t = w.begin_node("800x480").unwrap();
        w.property("arm,cpu-registers-not-fw-configured", &[])
            .unwrap();
        w.end_node(t).unwrap();
        assert_eq!(
            w.property("late", &[]),
            Err(WriteError::PropertyOutOfPlace("late".into()))
        );
        assert!(matches!(w.begin_node("a/b"), Err(WriteError::NodeName(_))));
        w.end_node(root).unwrap();
        let blob = w.finish().unwrap();
        let tree = HostTree::new(&blob).unwrap();
        assert_eq!(tree.memory().unwrap()[0].size, 0x10_0000);
        let n = tree.index().by_path("/800x480").unwrap();
        assert!(tree.index().has(n, "arm,cpu-registers-not-fw-configured"));
        assert_eq!(crate::blob::memreserve(tree.blob).len(), 1);
    }
}
