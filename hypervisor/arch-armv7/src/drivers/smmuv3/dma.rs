//! Memory the SMMU reads and writes (stream tables, queues): zeroed, aligned
//! heap blocks whose physical address is their address (snowvisor's identity
//! map), with cache maintenance when the SMMU does not snoop the caches.

use alloc::alloc::{alloc_zeroed, dealloc, Layout};

use crate::cpu;

/// A block of SMMU-visible memory. It must outlive the SMMU's use of it:
/// the driver frees blocks only after turning the SMMU off.
pub struct DmaBuf {
    ptr: *mut u64,
    layout: Layout,
    coherent: bool,
}

// SAFETY: the block is owned by one DmaBuf and only reached through it.
unsafe impl Send for DmaBuf {}

impl DmaBuf {
    /// `bytes` zeroed bytes aligned to `align` (a power of two), cleaned to
    /// the point of coherency when the SMMU is not coherent. None when the
    /// heap cannot satisfy it.
    pub fn new(bytes: usize, align: usize, coherent: bool) -> Option<DmaBuf> {
        let layout = Layout::from_size_align(bytes.max(8), align.max(8)).ok()?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) } as *mut u64;
        if ptr.is_null() {
            return None;
        }
        let b = DmaBuf {
            ptr,
            layout,
            coherent,
        };
        b.clean(0, b.len());
        Some(b)
    }

    /// Physical address (identity map).
    pub fn pa(&self) -> u64 {
        self.ptr as usize as u64
    }

    pub fn len(&self) -> usize {
        self.layout.size()
    }

    fn words(&self) -> usize {
        self.layout.size() / 8
    }

    /// Writes 64-bit word `i`; out-of-range writes are dropped.
    pub fn write(&self, i: usize, v: u64) {
        if i < self.words() {
            // SAFETY: in bounds of the block this DmaBuf owns; volatile because
            // the SMMU reads it behind the compiler's back.
            unsafe { self.ptr.add(i).write_volatile(v) }
        }
    }

    /// Reads 64-bit word `i` (0 when out of range).
    pub fn read(&self, i: usize) -> u64 {
        if i < self.words() {
            // SAFETY: in bounds, as above; the SMMU may have written it.
            unsafe { self.ptr.add(i).read_volatile() }
        } else {
            0
        }
    }

    /// Makes CPU writes to [byte, byte+len) visible to a non-coherent SMMU.
    pub fn clean(&self, byte: usize, len: usize) {
        if !self.coherent {
            cpu::clean_inval_dcache_range(self.pa() as usize + byte, len);
        }
    }

    /// Drops cached copies of [byte, byte+len) before reading what a
    /// non-coherent SMMU wrote (the lines are clean: the CPU never writes them
    /// after [`DmaBuf::new`]).
    pub fn invalidate(&self, byte: usize, len: usize) {
        self.clean(byte, len);
    }
}

impl Drop for DmaBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { dealloc(self.ptr as *mut u8, self.layout) }
    }
}

/// Cleans an LPAE stage-2 table tree (level 1 at `root`, tables at levels 2
/// and 3) to the point of coherency, for an SMMU that walks it without
/// snooping the CPU's caches.
pub fn clean_stage2_tables(root: u64) {
    const TABLE: u64 = 0b11;
    const ADDR: u64 = 0x0000_00ff_ffff_f000;
    fn clean_table(pa: u64, level: u32) {
        cpu::clean_inval_dcache_range(pa as usize, 4096);
        if level == 3 {
            return;
        }
        for i in 0..512 {
            // SAFETY: `pa` is a stage-2 table snowvisor built in its own heap,
            // identity mapped; reading a descriptor has no side effect.
            let d = unsafe { ((pa as usize + 8 * i) as *const u64).read_volatile() };
            if d & 3 == TABLE {
                clean_table(d & ADDR, level + 1);
            }
        }
    }
    clean_table(root, 1);
}
