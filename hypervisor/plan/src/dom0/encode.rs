//! Encoding values for Dom0's tree: numbers as cells, regions as `reg`, and the
//! host's `/memreserve/` entries that still apply.

use alloc::vec::Vec;

use super::Dom0DtError;
use snowvisor_dt::Region;

/// Value as `cells` big-endian cells.
pub fn to_cells(what: &'static str, value: u64, cells: usize) -> Result<Vec<u32>, Dom0DtError> {
    let fits = match cells {
        0 => value == 0,
        1 => value <= u64::from(u32::MAX),
        _ => true,
    };
    if !fits {
        return Err(Dom0DtError::DoesNotFit { what, value, cells });
    }
    let mut v = alloc::vec![0u32; cells];
    for (c, shift) in v.iter_mut().rev().zip([0u32, 32]) {
        *c = (value >> shift) as u32;
    }
    Ok(v)
}

pub fn reg_bytes(
    what: &'static str,
    regions: &[Region],
    ac: usize,
    sc: usize,
) -> Result<Vec<u8>, Dom0DtError> {
    let mut cells = Vec::new();
    for r in regions {
        cells.extend(to_cells(what, r.base, ac)?);
        cells.extend(to_cells(what, r.size, sc)?);
    }
    Ok(cells.iter().flat_map(|c| c.to_be_bytes()).collect())
}

/// Host reservations that lie inside Dom0's RAM (firmware data Dom0 must not
/// reuse), sorted, overlaps dropped.
pub fn reservations(blob: &[u8], memory: &[Region]) -> Vec<(u64, u64)> {
    let mut v: Vec<Region> = snowvisor_dt::blob::memreserve(blob)
        .into_iter()
        .map(|(base, size)| Region { base, size })
        .filter(|r| r.size > 0 && memory.iter().any(|m| m.contains(r)))
        .collect();
    snowvisor_dt::sort::by_key(&mut v, |r| r.base);
    let mut out = Vec::new();
    let mut end = 0;
    for r in v
        .into_iter()
        .filter(|r| r.base.checked_add(r.size).is_some())
    {
        if r.base >= end {
            out.push((r.base, r.size));
            end = r.end();
        }
    }
    out
}
