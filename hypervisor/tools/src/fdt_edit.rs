//! Rewrites of a valid DTB into other valid forms of the same tree, as
//! bootloaders and fix-up code produce them: `FDT_NOP` tokens where libfdt
//! leaves them (Devicetree Specification v0.4, 5.4.1: "ignored by any program
//! parsing the device tree") and properties after child nodes (which dtc warns
//! about and Linux reads). A reader must see the same tree in every form.

use std::ops::Range;

const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// One kind of rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// One `FDT_NOP` before the root node.
    NopAtStart,
    /// One `FDT_NOP` between every two consecutive properties.
    NopBetweenProperties,
    /// One `FDT_NOP` after every `FDT_END_NODE` (between sibling nodes, and
    /// between a node's last child and its end).
    NopBetweenNodes,
    /// In every node with children, its properties moved after its children.
    PropertiesAfterChildren,
}

impl Rewrite {
    pub const ALL: [Rewrite; 4] = [
        Rewrite::NopAtStart,
        Rewrite::NopBetweenProperties,
        Rewrite::NopBetweenNodes,
        Rewrite::PropertiesAfterChildren,
    ];

    /// The forms a test reads a tree in: each rewrite alone, then all at once.
    pub fn forms() -> Vec<Vec<Rewrite>> {
        let mut v: Vec<Vec<Rewrite>> = Rewrite::ALL.iter().map(|&r| vec![r]).collect();
        v.push(Rewrite::ALL.to_vec());
        v
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A parsed node: its `FDT_BEGIN_NODE` token with name, properties (byte ranges of
/// the structure block, each a whole `FDT_PROP` token) and children, in order.
struct Node {
    begin: Range<usize>,
    props: Vec<Range<usize>>,
    kids: Vec<Node>,
}

fn parse(s: &[u8], at: &mut usize) -> Result<Node, String> {
    let start = *at;
    if be32(s, start) != Some(BEGIN_NODE) {
        return Err(format!("no FDT_BEGIN_NODE at {start:#x}"));
    }
    let nul = s[start + 4..]
        .iter()
        .position(|&b| b == 0)
        .ok_or("node name not terminated")?;
    *at = (start + 4 + nul + 1 + 3) & !3;
    let mut node = Node {
        begin: start..*at,
        props: Vec::new(),
        kids: Vec::new(),
    };
    loop {
        match be32(s, *at).ok_or("structure block ends inside a node")? {
            PROP => {
                let len = be32(s, *at + 4).ok_or("property header truncated")? as usize;
                let end = (*at + 12 + len + 3) & !3;
                node.props.push(*at..end);
                *at = end;
            }
            NOP => *at += 4,
            BEGIN_NODE => node.kids.push(parse(s, at)?),
            END_NODE => {
                *at += 4;
                return Ok(node);
            }
            t => return Err(format!("token {t:#x} at {:#x}", *at)),
        }
    }
}

fn emit(s: &[u8], n: &Node, how: &[Rewrite], out: &mut Vec<u8>) {
    let nop = NOP.to_be_bytes();
    out.extend_from_slice(&s[n.begin.clone()]);
    let props = |out: &mut Vec<u8>| {
        for (i, p) in n.props.iter().enumerate() {
            if i > 0 && how.contains(&Rewrite::NopBetweenProperties) {
                out.extend_from_slice(&nop);
            }
            out.extend_from_slice(&s[p.clone()]);
        }
    };
    let late = how.contains(&Rewrite::PropertiesAfterChildren) && !n.kids.is_empty();
    if !late {
        props(out);
    }
    for k in &n.kids {
        emit(s, k, how, out);
    }
    if late {
        props(out);
    }
    out.extend_from_slice(&END_NODE.to_be_bytes());
    if how.contains(&Rewrite::NopBetweenNodes) {
        out.extend_from_slice(&nop);
    }
}

/// `dtb` rewritten in the forms `how` lists; header, memory-reservation and
/// strings blocks kept (laid out again after the new structure block).
pub fn rewrite(dtb: &[u8], how: &[Rewrite]) -> Result<Vec<u8>, String> {
    let field = |i: usize| be32(dtb, i * 4).map(|v| v as usize).ok_or("short header");
    let (off_struct, off_strings, off_rsv) = (field(2)?, field(3)?, field(4)?);
    let (size_strings, size_struct) = (field(8)?, field(9)?);
    let s = dtb
        .get(off_struct..off_struct + size_struct)
        .ok_or("structure block outside the blob")?;
    let mut at = 0;
    while be32(s, at) == Some(NOP) {
        at += 4;
    }
    let root = parse(s, &mut at)?;
    let mut st = Vec::new();
    if how.contains(&Rewrite::NopAtStart) {
        st.extend_from_slice(&NOP.to_be_bytes());
    }
    emit(s, &root, how, &mut st);
    st.extend_from_slice(&END.to_be_bytes());
    let mut rsv_end = off_rsv;
    while dtb
        .get(rsv_end..rsv_end + 16)
        .is_some_and(|e| e.iter().any(|&b| b != 0))
    {
        rsv_end += 16;
    }
    let rsv = dtb
        .get(off_rsv..rsv_end + 16)
        .ok_or("memory-reservation block not terminated")?;
    let strings = dtb
        .get(off_strings..off_strings + size_strings)
        .ok_or("strings block outside the blob")?;
    let new_rsv = 40;
    let new_struct = new_rsv + rsv.len();
    let new_strings = new_struct + st.len();
    let total = new_strings + strings.len();
    let mut out = dtb[..40].to_vec();
    for (i, v) in [
        (1, total),
        (2, new_struct),
        (3, new_strings),
        (4, new_rsv),
        (8, strings.len()),
        (9, st.len()),
    ] {
        out[i * 4..i * 4 + 4].copy_from_slice(&(v as u32).to_be_bytes());
    }
    out.extend_from_slice(rsv);
    out.extend_from_slice(&st);
    out.extend_from_slice(strings);
    Ok(out)
}
