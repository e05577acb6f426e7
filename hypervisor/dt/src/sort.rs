//! A stable insertion sort for the short lists snowvisor sorts while it
//! builds Dom0 (memory banks, MMIO pages, SPIs, stream ranges: tens to a
//! few hundred entries, sorted once).
//!
//! Why not `slice::sort*`: core's driftsort and ipnsort are instantiated per
//! element type and key, 43 functions and 18 KiB of the 203 KiB image for
//! eight call sites (llvm-nm --size-sort, Thumb-2, opt-level "z"); this is
//! one loop per type. Quadratic, so only for lists known to be short.

/// Sorts `v` by `key`, keeping equal keys in their order (like `sort_by_key`).
pub fn by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && key(&v[j - 1]) > key(&v[j]) {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Sorts `v` ascending (like `sort` / `sort_unstable`).
pub fn ascending<T: Ord + Copy>(v: &mut [T]) {
    by_key(v, |&x| x);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn matches_core_sort() {
        let mut x = 0x1234_5678u32;
        for n in [0usize, 1, 2, 3, 17, 200] {
            let v: Vec<(u32, u32)> = (0..n)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x % 7, i as u32)
                })
                .collect();
            let mut a = v.clone();
            let mut b = v.clone();
            by_key(&mut a, |p| p.0);
            b.sort_by_key(|p| p.0);
            assert_eq!(a, b, "stable, like sort_by_key (n = {n})");
            let mut c = v.clone();
            let mut d = v;
            ascending(&mut c);
            d.sort_unstable();
            assert_eq!(c, d);
        }
    }
}
