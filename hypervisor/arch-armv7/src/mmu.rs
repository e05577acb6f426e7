//! Turns on snowvisor's HYP MMU and caches with the map from [`super::lpae`].

use aarch32_cpu::register::{Hmair0, Hsctlr};
use alloc::boxed::Box;
use arbitrary_int::u40;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use core::ops::Range;
use snowvisor_arm::lpae::{hyp_window_page, HypMap, Table, HMAIR0, HTCR};

use crate::cpu;
use crate::sysreg::{self, Httbr};

/// The page of HYP virtual addresses through which RAM above 4 GiB is reached.
#[repr(C, align(4096))]
struct WindowPage([u8; 4096]);
static mut WINDOW_PAGE: WindowPage = WindowPage([0; 4096]);
/// The level-3 entry that maps the window page, once the MMU is on.
static WINDOW_ENTRY: AtomicPtr<u64> = AtomicPtr::new(core::ptr::null_mut());
static WINDOW_LOCK: spin::Mutex<()> = spin::Mutex::new(());

fn window_va() -> usize {
    // Only the address is taken; the page's contents are never used as such.
    (&raw const WINDOW_PAGE) as usize
}

fn phys(t: &Table) -> u64 {
    t as *const Table as usize as u64
}

/// The root of the HYP tables [`enable`] built (HTTBR.BADDR), for the
/// secondary CPUs, which translate through the same tables. A secondary
/// reads it with its MMU and caches off (a 32-bit word: plain loads and
/// stores, no exclusives), so [`enable`] writes it before the
/// boot CPU's caches are on (straight to memory).
static HYP_ROOT: AtomicU32 = AtomicU32::new(0);

/// Builds the identity map for `ram` (the RAM banks, physical address
/// ranges) and enables the MMU, D- and I-caches at HYP.
/// Called once, on the boot CPU before any other CPU runs; the tables live
/// for ever. The other CPUs turn theirs on with [`enable_secondary`].
pub fn enable(ram: &[Range<u64>]) {
    let map = Box::leak(Box::new(HypMap::build(ram, Some(window_va() as u64), phys)));
    if let Some((l3, i)) = map.window.as_mut() {
        WINDOW_ENTRY.store(&mut l3.0[*i], Ordering::Release);
    }
    let root = phys(&map.l1);
    HYP_ROOT.store(root as u32, Ordering::Release);
    turn_on(root);
}

/// Turns this secondary CPU's HYP MMU and caches on, with the tables and
/// attributes the boot CPU's [`enable`] set up. Runs with the MMU off (the
/// entry assembly calls it on a stack the boot CPU cleaned to memory).
pub fn enable_secondary() {
    turn_on(u64::from(HYP_ROOT.load(Ordering::Acquire)));
}

/// This CPU's HYP translation registers for tables at `root`, then the MMU,
/// D- and I-caches on (A15: ACTLR.SMP is set by the firmware or the Secure
/// switch, before caches are on).
fn turn_on(root: u64) {
    cpu::invalidate_l1_dcache();
    cpu::dsb();
    // SAFETY: HYP's translation registers, set while its MMU is still off;
    // the tables are leaked, so they live for ever.
    unsafe {
        Hmair0::write(Hmair0(HMAIR0));
        sysreg::write_htcr(HTCR);
        sysreg::write_httbr(Httbr::DEFAULT.with_baddr(u40::new(root)));
    }
    cpu::isb();
    sysreg::tlbi_all_h();
    cpu::invalidate_icache();
    Hsctlr::modify(|r| {
        r.set_m(true);
        r.set_c(true);
        r.set_i(true);
        r.set_a(false);
        r.set_wxn(false);
    });
    cpu::isb();
}

/// True once [`enable`] has run.
pub fn enabled() -> bool {
    Hsctlr::read().m()
}

/// Replaces the 32-bit word of normal memory at `pa` by `f(old)` atomically
/// (an `LDREX`/`STREX` loop, so that a guest updating the same word with
/// exclusives on another CPU loses no update), or leaves it when `f` returns
/// `None`. Returns the old value. `f` may run more than once.
///
/// # Safety
/// `pa` must be 4-byte aligned RAM (a guest's or a frame snowvisor gave it,
/// mapped normal write-back shareable as in the guest's stage 2) that
/// snowvisor holds no Rust reference to.
pub unsafe fn update_word(pa: u64, mut f: impl FnMut(u32) -> Option<u32>) -> u32 {
    with_phys(pa, |p| {
        // SAFETY: the caller vouches that `p` points at an aligned word of
        // RAM that nothing in snowvisor references; other CPUs (guests
        // included) only access it atomically or through memory the
        // atomic type tolerates.
        let word = unsafe { AtomicU32::from_ptr(p.cast::<u32>()) };
        match word.fetch_update(Ordering::SeqCst, Ordering::SeqCst, &mut f) {
            Ok(old) | Err(old) => old,
        }
    })
}

/// Runs `f` with a HYP pointer to physical address `pa`, for an access that
/// stays inside `pa`'s 4 KiB page: `pa` itself below 4 GiB (identity mapped),
/// else the window page pointed at `pa`'s page (normal write-back memory, as
/// Dom0's stage 2 maps RAM, so no cache maintenance is needed).
pub fn with_phys<R>(pa: u64, f: impl FnOnce(*mut u8) -> R) -> R {
    if pa < 1 << 32 {
        return f(pa as usize as *mut u8);
    }
    let entry = WINDOW_ENTRY.load(Ordering::Acquire);
    assert!(
        !entry.is_null(),
        "RAM above 4 GiB accessed before the HYP MMU is on"
    );
    let _guard = WINDOW_LOCK.lock();
    let va = window_va();
    // SAFETY: `entry` is the window's level-3 descriptor in the live HYP
    // tables (leaked, never freed); only this function writes it, under the
    // lock. The TLB entry for the window is invalidated before the access.
    unsafe { core::ptr::write_volatile(entry, hyp_window_page(pa & !0xfff)) };
    cpu::dsb();
    sysreg::tlbi_mva_h(va);
    cpu::dsb();
    cpu::isb();
    f((va + (pa & 0xfff) as usize) as *mut u8)
}
