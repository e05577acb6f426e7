//! The guest-visible event state: where `shared_info` and each vCPU's
//! `vcpu_info` live, and the 2-level bit operations on them
//! (`xen-dom0-abi.md` §4.1-4.2).
//!
//! Bitmaps are arrays of 64-bit `xen_ulong_t`; on little-endian, bit `n` of
//! such an array is bit `n % 32` of the 32-bit word `n / 32`, which is what
//! Linux's 32-bit `sync_*_bit` use too. Every update is one atomic 32-bit
//! operation through [`GuestMemory`], so it composes with Linux's `LDREX/STREX`.

use alloc::vec;
use alloc::vec::Vec;

use super::abi::layout::{off, VcpuInfo, XenpfSettime64};
use super::abi::wire::Wire;
use super::guest::{gfn_ipa, Fault, GuestMemory};

const VCPU_INFO_SIZE: usize = <VcpuInfo as Wire>::SIZE;

/// Where a vCPU's guest-visible areas are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VcpuAreas {
    /// IPA of the registered `vcpu_info` (`VCPUOP_register_vcpu_info`).
    pub vcpu_info: Option<u64>,
    /// Guest virtual address of `vcpu_runstate_info`, written at every
    /// runstate change ([`crate::Xen::set_runstate`]).
    pub runstate: Option<u64>,
    /// The vCPU's runstate accounting (Xen's `struct vcpu_runstate_info`).
    pub run: RunState,
}

/// A vCPU's runstate: the current state (`RUNSTATE_*`), since when (ns of
/// Xen system time), and the time spent in each state before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunState {
    pub state: u32,
    pub entry_ns: u64,
    pub time: [u64; 4],
}

/// The domain's shared pages.
#[derive(Debug, Clone)]
pub struct SharedPages {
    shared_info_gfn: Option<u64>,
    vcpus: Vec<VcpuAreas>,
}

/// Bit `n` of a bitmap at `base`: the 32-bit word's IPA and the mask in it.
fn bit(base: u64, n: u32) -> (u64, u32) {
    (base + u64::from(n / 32) * 4, 1 << (n % 32))
}

fn test_and_set(mem: &mut dyn GuestMemory, base: u64, n: u32) -> Result<bool, Fault> {
    let (w, m) = bit(base, n);
    Ok(mem.fetch_or_ipa(w, m)? & m != 0)
}

fn test_and_clear(mem: &mut dyn GuestMemory, base: u64, n: u32) -> Result<bool, Fault> {
    let (w, m) = bit(base, n);
    Ok(mem.fetch_and_ipa(w, !m)? & m != 0)
}

fn test(mem: &mut dyn GuestMemory, base: u64, n: u32) -> Result<bool, Fault> {
    let (w, m) = bit(base, n);
    Ok(super::guest::read_ipa_u32(mem, w)? & m != 0)
}

impl SharedPages {
    pub fn new(nr_vcpus: u32) -> Self {
        SharedPages {
            shared_info_gfn: None,
            vcpus: vec![VcpuAreas::default(); nr_vcpus as usize],
        }
    }

    pub fn shared_info_gfn(&self) -> Option<u64> {
        self.shared_info_gfn
    }

    fn shared_info_ipa(&self) -> Option<u64> {
        self.shared_info_gfn.and_then(gfn_ipa)
    }

    pub fn set_shared_info(&mut self, gfn: Option<u64>) {
        self.shared_info_gfn = gfn;
    }

    pub fn vcpu(&self, v: u32) -> Option<&VcpuAreas> {
        self.vcpus.get(v as usize)
    }

    pub fn vcpu_mut(&mut self, v: u32) -> Option<&mut VcpuAreas> {
        self.vcpus.get_mut(v as usize)
    }

    /// Where vCPU `v`'s event state is: its registered area, or for vCPU 0
    /// before registration the legacy `shared_info.vcpu_info[0]`. Other vCPUs
    /// have none until they register (Xen gives them a dummy; events wait in
    /// the port bitmaps and registration marks everything pending).
    pub fn vcpu_info_ipa(&self, v: u32) -> Option<u64> {
        match self.vcpus.get(v as usize)?.vcpu_info {
            Some(ipa) => Some(ipa),
            None if v == 0 => self.shared_info_ipa(),
            None => None,
        }
    }

    /// Whether the frame at `gfn` holds `shared_info` or a registered
    /// `vcpu_info` (so mapping something else over it would break events).
    pub fn uses_gfn(&self, gfn: u64) -> bool {
        self.shared_info_gfn == Some(gfn)
            || self
                .vcpus
                .iter()
                .any(|a| a.vcpu_info.map(|i| i >> 12) == Some(gfn))
    }

    /// Moves vCPU `v`'s event state to `ipa` (already checked: 8-aligned, inside
    /// one page, not registered before): copies the current `vcpu_info`, then
    /// marks every word pending and sets `evtchn_upcall_pending`, like Xen
    /// ("the domain will get a spurious event, but it can cope"). The caller
    /// injects the upcall.
    pub fn register_vcpu_info(
        &mut self,
        mem: &mut dyn GuestMemory,
        v: u32,
        ipa: u64,
    ) -> Result<(), Fault> {
        let mut old = [0u8; VCPU_INFO_SIZE];
        if let Some(src) = self.vcpu_info_ipa(v) {
            // A legacy area that cannot be read just means nothing to carry over.
            if mem.read_ipa(src, &mut old).is_err() {
                old = [0; VCPU_INFO_SIZE];
            }
        }
        mem.write_ipa(ipa, &old)?;
        mem.fetch_or_ipa(ipa + off::VI_PENDING_SEL, u32::MAX)?;
        mem.fetch_or_ipa(ipa + off::VI_PENDING_SEL + 4, u32::MAX)?;
        mem.fetch_or_ipa(ipa + off::VI_UPCALL_PENDING, 1)?;
        if let Some(a) = self.vcpus.get_mut(v as usize) {
            a.vcpu_info = Some(ipa);
        }
        Ok(())
    }

    /// `evtchn_2l_set_pending` + `vcpu_mark_events_pending` for `port` bound to
    /// vCPU `v`. Returns true when `evtchn_upcall_pending` went 0 -> 1: the
    /// upcall PPI must be injected into `v`. Without a `shared_info` page there
    /// is nowhere to record the event and it is dropped.
    pub fn set_pending(&self, mem: &mut dyn GuestMemory, port: u32, v: u32) -> Result<bool, Fault> {
        let Some(si) = self.shared_info_ipa() else {
            return Ok(false);
        };
        if test_and_set(mem, si + off::SI_EVTCHN_PENDING, port)? {
            return Ok(false);
        }
        if test(mem, si + off::SI_EVTCHN_MASK, port)? {
            return Ok(false);
        }
        self.mark_word_pending(mem, port, v)
    }

    /// `evtchn_2l_unmask`: clears the mask bit; if it was set and the port is
    /// pending, re-delivers it. Returns whether to inject into `v`.
    pub fn unmask(&self, mem: &mut dyn GuestMemory, port: u32, v: u32) -> Result<bool, Fault> {
        let Some(si) = self.shared_info_ipa() else {
            return Ok(false);
        };
        if test_and_clear(mem, si + off::SI_EVTCHN_MASK, port)?
            && test(mem, si + off::SI_EVTCHN_PENDING, port)?
        {
            return self.mark_word_pending(mem, port, v);
        }
        Ok(false)
    }

    /// Sets `evtchn_pending_sel` bit `port / 64` of vCPU `v`; on 0 -> 1 also
    /// `evtchn_upcall_pending`. True if that one went 0 -> 1.
    fn mark_word_pending(
        &self,
        mem: &mut dyn GuestMemory,
        port: u32,
        v: u32,
    ) -> Result<bool, Fault> {
        let Some(vi) = self.vcpu_info_ipa(v) else {
            return Ok(false);
        };
        if test_and_set(mem, vi + off::VI_PENDING_SEL, port / 64)? {
            return Ok(false);
        }
        Ok(!test_and_set(mem, vi + off::VI_UPCALL_PENDING, 0)?)
    }

    /// Clears `evtchn_pending[port]` (Xen does it when a port is freed).
    pub fn clear_pending(&self, mem: &mut dyn GuestMemory, port: u32) -> Result<(), Fault> {
        if let Some(si) = self.shared_info_ipa() {
            test_and_clear(mem, si + off::SI_EVTCHN_PENDING, port)?;
        }
        Ok(())
    }

    /// Whether `evtchn_pending[port]` is set (for tests and the debug dump).
    pub fn is_pending(&self, mem: &mut dyn GuestMemory, port: u32) -> Option<bool> {
        test(mem, self.shared_info_ipa()? + off::SI_EVTCHN_PENDING, port).ok()
    }

    /// Whether `evtchn_pending[port]`'s mask bit is set.
    pub fn is_masked(&self, mem: &mut dyn GuestMemory, port: u32) -> Option<bool> {
        test(mem, self.shared_info_ipa()? + off::SI_EVTCHN_MASK, port).ok()
    }

    /// vCPU `v`'s `evtchn_upcall_pending`: the level of its upcall PPI. The
    /// target may re-sync the PPI from it on guest entry (Xen's new vGIC does).
    pub fn upcall_pending(&self, mem: &mut dyn GuestMemory, v: u32) -> bool {
        let Some(vi) = self.vcpu_info_ipa(v) else {
            return false;
        };
        let mut b = [0u8; 1];
        mem.read_ipa(vi + off::VI_UPCALL_PENDING, &mut b).is_ok() && b[0] != 0
    }

    /// Publishes the wall clock at system time 0 in `shared_info.wc_*`, with
    /// the version protocol (odd while updating).
    pub fn write_wallclock(
        &self,
        mem: &mut dyn GuestMemory,
        t: &XenpfSettime64,
    ) -> Result<(), Fault> {
        let Some(si) = self.shared_info_ipa() else {
            return Ok(());
        };
        let now_ns = u128::from(t.secs) * 1_000_000_000 + u128::from(t.nsecs);
        let base = now_ns.saturating_sub(u128::from(t.system_time));
        let sec = (base / 1_000_000_000) as u64;
        let nsec = (base % 1_000_000_000) as u32;
        let ver_ipa = si + off::SI_WC_VERSION;
        let ver = super::guest::read_ipa_u32(mem, ver_ipa)?;
        mem.write_ipa(ver_ipa, &(ver | 1).to_le_bytes())?;
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&(sec as u32).to_le_bytes());
        b[4..8].copy_from_slice(&nsec.to_le_bytes());
        b[8..12].copy_from_slice(&((sec >> 32) as u32).to_le_bytes());
        mem.write_ipa(ver_ipa + 4, &b)?;
        mem.write_ipa(ver_ipa, &((ver | 1).wrapping_add(1)).to_le_bytes())
    }
}
