//! A host model of a guest for the Xen tests: RAM with holes, read-only
//! pages, a page of "hypervisor memory" reachable from a guest address,
//! hypervisor frames the platform maps in, and a platform that records what it
//! was asked to do.
//!
//! Layout: guest RAM is IPA `RAM_BASE..+RAM_PAGES*4K`, linearly mapped at
//! `KVA_BASE` (like Linux's lowmem). `HYP_GVA` translates (stage 1) to
//! `HYP_IPA`, whose stage-2 entry is hypervisor-owned: any access must fail.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{RefCell, RefMut};

use super::abi::wire::Wire;
use super::guest::{Fault, GuestMemory, GFN_LIMIT};
use super::platform::{
    CacheOp, ExitCounters, HypervisorLog, Platform, PlatformError, ShutdownReason, XenFrame,
};
use super::{Outcome, Xen, XenConfig};

pub const PAGE: usize = 4096;
pub const RAM_BASE: u64 = 0x4000_0000;
pub const RAM_GFN: u64 = RAM_BASE >> 12;
pub const RAM_PAGES: usize = 256;
pub const KVA_BASE: u32 = 0xC000_0000;
pub const HYP_GVA: u32 = 0xF000_0000;
pub const HYP_IPA: u64 = 0x7000_0000;
/// The DT grant-table region (an IPA hole).
pub const GNTTAB_GFN: u64 = 0x38000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// Guest RAM page `n`.
    Ram(usize),
    /// Hypervisor frame `n` given to the guest.
    Frame(usize),
    /// Hypervisor memory: never accessible.
    Hyp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S2 {
    pub backing: Backing,
    pub writable: bool,
}

#[derive(Debug, Default)]
pub struct Model {
    pub ram: Vec<u8>,
    pub frames: Vec<Box<[u8; PAGE]>>,
    pub hyp: Vec<u8>,
    pub s2: BTreeMap<u64, S2>,
    /// Guest virtual pages with no stage-1 mapping.
    pub s1_holes: BTreeSet<u32>,
    /// Guest virtual pages mapped read-only.
    pub s1_readonly: BTreeSet<u32>,
    pub grant_frames: BTreeMap<u32, (usize, Option<u64>)>,
    // What the platform was asked.
    pub vcpu: u32,
    pub console: Vec<u8>,
    pub shutdowns: Vec<ShutdownReason>,
    pub shutdown_result: Option<PlatformError>,
    pub injected: Vec<u32>,
    pub flushes: Vec<(u64, u32, CacheOp)>,
    pub released: Vec<u64>,
    pub yields: u32,
    pub blocks: u32,
    pub ipa_accesses: u64,
    /// The hypervisor's logs for `sysctl`: (index of the first byte held,
    /// the bytes), this boot's and the previous boot's.
    pub log_current: Option<(u32, Vec<u8>)>,
    pub log_previous: Option<(u32, Vec<u8>)>,
    /// Largest `out` a `log_read` was given.
    pub log_read_max: usize,
    /// The exit counters `exit_stats` hands out (leaked per test).
    pub exits: Option<&'static Counters>,
}

impl Model {
    fn new() -> Self {
        let mut m = Model {
            ram: vec![0; RAM_PAGES * PAGE],
            hyp: vec![0x5a; PAGE],
            ..Default::default()
        };
        for i in 0..RAM_PAGES {
            m.s2.insert(
                RAM_GFN + i as u64,
                S2 {
                    backing: Backing::Ram(i),
                    writable: true,
                },
            );
        }
        m.s2.insert(
            HYP_IPA >> 12,
            S2 {
                backing: Backing::Hyp,
                writable: true,
            },
        );
        m
    }

    fn s1(&self, gva: u32, write: bool) -> Result<u64, Fault> {
        let page = gva >> 12;
        if self.s1_holes.contains(&page) {
            return Err(Fault::Unmapped(gva.into()));
        }
        if write && self.s1_readonly.contains(&page) {
            return Err(Fault::Denied(gva.into()));
        }
        if page == HYP_GVA >> 12 {
            return Ok(HYP_IPA + u64::from(gva & 0xfff));
        }
        let off = gva
            .checked_sub(KVA_BASE)
            .ok_or(Fault::Unmapped(gva.into()))?;
        if off as usize >= RAM_PAGES * PAGE {
            return Err(Fault::Unmapped(gva.into()));
        }
        Ok(RAM_BASE + u64::from(off))
    }

    /// One page-contained access by IPA, as the guest would do it (`check`
    /// false) or as the hypervisor (`check` true: ownership and write rules).
    fn bytes(
        &mut self,
        ipa: u64,
        len: usize,
        write: bool,
        check: bool,
    ) -> Result<&mut [u8], Fault> {
        let off = (ipa & 0xfff) as usize;
        assert!(
            off + len <= PAGE,
            "IPA access {ipa:#x}+{len} crosses a page"
        );
        let e = *self.s2.get(&(ipa >> 12)).ok_or(Fault::Unmapped(ipa))?;
        if check && write && !e.writable {
            return Err(Fault::Denied(ipa));
        }
        Ok(match e.backing {
            Backing::Ram(n) => &mut self.ram[n * PAGE + off..n * PAGE + off + len],
            Backing::Frame(n) => &mut self.frames[n][off..off + len],
            Backing::Hyp if check => return Err(Fault::Denied(ipa)),
            Backing::Hyp => &mut self.hyp[off..off + len],
        })
    }

    /// Reads as the guest (no hypervisor checks).
    pub fn peek(&mut self, ipa: u64, out: &mut [u8]) {
        let b = self
            .bytes(ipa, out.len(), false, false)
            .expect("guest read of unmapped IPA");
        out.copy_from_slice(b);
    }

    /// Writes as the guest.
    pub fn poke(&mut self, ipa: u64, data: &[u8]) {
        let b = self
            .bytes(ipa, data.len(), true, false)
            .expect("guest write of unmapped IPA");
        b.copy_from_slice(data);
    }

    pub fn peek_u32(&mut self, ipa: u64) -> u32 {
        let mut w = [0u8; 4];
        self.peek(ipa, &mut w);
        u32::from_le_bytes(w)
    }

    pub fn poke_u32(&mut self, ipa: u64, v: u32) {
        self.poke(ipa, &v.to_le_bytes());
    }

    fn virt(
        &mut self,
        gva: u32,
        len: usize,
        write: bool,
        mut f: impl FnMut(&mut [u8], usize),
    ) -> Result<(), Fault> {
        let mut done = 0;
        while done < len {
            let at = gva
                .checked_add(done as u32)
                .ok_or(Fault::Unmapped(gva.into()))?;
            let n = (len - done).min(PAGE - (at as usize & 0xfff));
            let ipa = self.s1(at, write)?;
            f(self.bytes(ipa, n, write, true)?, done);
            done += n;
        }
        Ok(())
    }
}

/// The shared model, seen as guest memory.
pub struct TestMem(pub Rc<RefCell<Model>>);
/// The shared model, seen as the platform.
pub struct TestPlat(pub Rc<RefCell<Model>>);

impl GuestMemory for TestMem {
    fn read(&mut self, gva: u32, buf: &mut [u8]) -> Result<(), Fault> {
        let len = buf.len();
        self.0.borrow_mut().virt(gva, len, false, |src, at| {
            buf[at..at + src.len()].copy_from_slice(src)
        })
    }
    fn write(&mut self, gva: u32, data: &[u8]) -> Result<(), Fault> {
        self.0.borrow_mut().virt(gva, data.len(), true, |dst, at| {
            dst.copy_from_slice(&data[at..at + dst.len()])
        })
    }
    fn read_ipa(&mut self, ipa: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let mut m = self.0.borrow_mut();
        m.ipa_accesses += 1;
        buf.copy_from_slice(m.bytes(ipa, buf.len(), false, true)?);
        Ok(())
    }
    fn write_ipa(&mut self, ipa: u64, data: &[u8]) -> Result<(), Fault> {
        let mut m = self.0.borrow_mut();
        m.ipa_accesses += 1;
        m.bytes(ipa, data.len(), true, true)?.copy_from_slice(data);
        Ok(())
    }
}

fn ram_page(m: &Model, gfn: u64) -> Option<usize> {
    match m.s2.get(&gfn)?.backing {
        Backing::Ram(n) => Some(n),
        _ => None,
    }
}

impl Platform for TestPlat {
    fn current_vcpu(&self) -> u32 {
        self.0.borrow().vcpu
    }
    fn console_write(&mut self, bytes: &[u8]) {
        assert!(bytes.len() <= 128);
        self.0.borrow_mut().console.extend_from_slice(bytes);
    }
    fn shutdown(&mut self, reason: ShutdownReason) -> Result<(), PlatformError> {
        let mut m = self.0.borrow_mut();
        m.shutdowns.push(reason);
        m.shutdown_result.map_or(Ok(()), Err)
    }
    fn map_frame(&mut self, frame: XenFrame, gfn: u64) -> Result<(), PlatformError> {
        let mut m = self.0.borrow_mut();
        assert!(gfn < GFN_LIMIT);
        if m.s2.get(&gfn).is_some_and(|e| e.backing == Backing::Hyp) {
            return Err(PlatformError::BadAddress);
        }
        match frame {
            // Keep the guest's own page as shared_info.
            XenFrame::SharedInfo => ram_page(&m, gfn)
                .map(|_| ())
                .ok_or(PlatformError::BadAddress),
            XenFrame::GrantTable(i) => {
                let (n, old) = match m.grant_frames.get(&i) {
                    Some(&(n, old)) => (n, old),
                    None => {
                        m.frames.push(Box::new([0; PAGE]));
                        (m.frames.len() - 1, None)
                    }
                };
                if let Some(old) = old {
                    m.s2.remove(&old);
                }
                m.s2.insert(
                    gfn,
                    S2 {
                        backing: Backing::Frame(n),
                        writable: true,
                    },
                );
                m.grant_frames.insert(i, (n, Some(gfn)));
                Ok(())
            }
        }
    }
    fn map_grant(
        &mut self,
        host_gfn: u64,
        frame_gfn: u64,
        readonly: bool,
    ) -> Result<u64, PlatformError> {
        assert!(
            host_gfn < GFN_LIMIT && frame_gfn < GFN_LIMIT,
            "unchecked frame numbers"
        );
        let mut m = self.0.borrow_mut();
        let page = ram_page(&m, frame_gfn).ok_or(PlatformError::BadFrame)?;
        if m.s2
            .get(&host_gfn)
            .is_some_and(|e| e.backing == Backing::Hyp)
        {
            return Err(PlatformError::BadAddress);
        }
        m.s2.insert(
            host_gfn,
            S2 {
                backing: Backing::Ram(page),
                writable: !readonly,
            },
        );
        Ok(frame_gfn << 12)
    }
    fn unmap_grant(&mut self, host_gfn: u64, frame_gfn: u64) -> Result<(), PlatformError> {
        let mut m = self.0.borrow_mut();
        let frame = ram_page(&m, frame_gfn);
        if m.s2.get(&host_gfn).map(|e| e.backing) != frame.map(Backing::Ram) {
            return Err(PlatformError::BadAddress);
        }
        m.s2.remove(&host_gfn);
        Ok(())
    }
    fn ram_pages(&self) -> u32 {
        RAM_PAGES as u32
    }
    fn release_frame(&mut self, gfn: u64) -> Result<(), PlatformError> {
        assert!(gfn < GFN_LIMIT);
        let mut m = self.0.borrow_mut();
        ram_page(&m, gfn).ok_or(PlatformError::BadAddress)?;
        m.s2.remove(&gfn);
        m.released.push(gfn);
        Ok(())
    }
    fn populate_frame(&mut self, gfn: u64) -> Result<(), PlatformError> {
        assert!(gfn < GFN_LIMIT);
        let mut m = self.0.borrow_mut();
        let n = gfn
            .checked_sub(RAM_GFN)
            .filter(|n| *n < RAM_PAGES as u64)
            .ok_or(PlatformError::NoMemory)?;
        if m.s2.contains_key(&gfn) {
            return Err(PlatformError::Busy);
        }
        m.s2.insert(
            gfn,
            S2 {
                backing: Backing::Ram(n as usize),
                writable: true,
            },
        );
        Ok(())
    }
    fn inject_upcall(&mut self, vcpu: u32) {
        self.0.borrow_mut().injected.push(vcpu);
    }
    fn cache_flush(&mut self, ipa: u64, len: u32, op: CacheOp) -> Result<(), PlatformError> {
        let mut m = self.0.borrow_mut();
        assert!((ipa & 0xfff) + u64::from(len) <= PAGE as u64 && ipa >> 12 < GFN_LIMIT);
        ram_page(&m, ipa >> 12).ok_or(PlatformError::BadAddress)?;
        m.flushes.push((ipa, len, op));
        Ok(())
    }
    fn yield_vcpu(&mut self) {
        self.0.borrow_mut().yields += 1;
    }
    fn block_vcpu(&mut self) {
        self.0.borrow_mut().blocks += 1;
    }
    fn exit_stats(&mut self) -> Option<&dyn ExitCounters> {
        self.0.borrow().exits.map(|c| c as &dyn ExitCounters)
    }
    fn log_span(&mut self, which: HypervisorLog) -> Option<(u32, u32)> {
        let m = self.0.borrow();
        let (first, bytes) = m.log(which)?;
        Some((*first, first + bytes.len() as u32))
    }
    fn log_read(&mut self, which: HypervisorLog, at: u32, out: &mut [u8]) -> usize {
        let mut m = self.0.borrow_mut();
        m.log_read_max = m.log_read_max.max(out.len());
        let Some((first, bytes)) = m.log(which) else {
            return 0;
        };
        let Some(from) = at.checked_sub(*first).map(|o| o as usize) else {
            return 0;
        };
        let src = bytes.get(from..).unwrap_or(&[]);
        let n = src.len().min(out.len());
        out[..n].copy_from_slice(&src[..n]);
        n
    }
}

impl Model {
    fn log(&self, which: HypervisorLog) -> Option<&(u32, Vec<u8>)> {
        match which {
            HypervisorLog::Current => self.log_current.as_ref(),
            HypervisorLog::Previous => self.log_previous.as_ref(),
        }
    }
}

/// A guest with its Xen state: the tests' stand-in for Linux.
pub struct Guest {
    pub xen: Xen,
    pub mem: TestMem,
    pub plat: TestPlat,
    pub model: Rc<RefCell<Model>>,
    /// Continuations seen by the last [`call`](Guest::call).
    pub continuations: u32,
}

impl Guest {
    pub fn new(cfg: XenConfig) -> Self {
        let model = Rc::new(RefCell::new(Model::new()));
        Guest {
            xen: Xen::new(cfg).unwrap(),
            mem: TestMem(model.clone()),
            plat: TestPlat(model.clone()),
            model,
            continuations: 0,
        }
    }

    /// One vCPU, 1:1.
    pub fn dom0() -> Self {
        Guest::new(XenConfig::dom0(1, true))
    }

    pub fn m(&self) -> RefMut<'_, Model> {
        self.model.borrow_mut()
    }

    pub fn call_once(&mut self, nr: u32, args: [u32; 5]) -> Outcome {
        self.xen.hypercall(&mut self.mem, &mut self.plat, nr, args)
    }

    /// Issues a hypercall like the guest does, re-issuing continuations.
    pub fn call(&mut self, nr: u32, args: [u32; 5]) -> i32 {
        let mut args = args;
        self.continuations = 0;
        loop {
            match self.call_once(nr, args) {
                Outcome::Return(r) => return r,
                Outcome::Continue(a) => {
                    self.continuations += 1;
                    assert!(self.continuations < 100_000, "endless continuation");
                    args = a;
                }
            }
        }
    }

    /// The kernel virtual address of RAM page `n` (byte `off` in it).
    pub fn kva(n: usize, off: u32) -> u32 {
        KVA_BASE + (n * PAGE) as u32 + off
    }

    pub fn gfn(n: usize) -> u64 {
        RAM_GFN + n as u64
    }

    /// Stores a struct at a guest virtual address, as the guest.
    pub fn put<T: Wire>(&mut self, gva: u32, v: &T) {
        let mut b = vec![0u8; T::SIZE];
        v.encode(&mut b).unwrap();
        self.put_bytes(gva, &b);
    }

    pub fn get<T: Wire>(&mut self, gva: u32) -> T {
        T::decode(&self.get_bytes(gva, T::SIZE)).unwrap()
    }

    pub fn put_bytes(&mut self, gva: u32, data: &[u8]) {
        let mut m = self.m();
        for (i, b) in data.iter().enumerate() {
            let ipa = m.s1(gva + i as u32, false).unwrap();
            m.poke(ipa, &[*b]);
        }
    }

    /// Like `put_bytes`, skipping bytes whose page is not mapped (for fuzzing,
    /// where the hypervisor may have been told to remap anything).
    pub fn try_put_bytes(&mut self, gva: u32, data: &[u8]) {
        let mut m = self.m();
        for (i, b) in data.iter().enumerate() {
            if let Ok(ipa) = m.s1(gva.wrapping_add(i as u32), false) {
                if m.bytes(ipa, 1, true, false).is_ok() {
                    m.poke(ipa, &[*b]);
                }
            }
        }
    }

    /// The "hypervisor memory" page is untouched.
    pub fn hyp_intact(&self) -> bool {
        self.model.borrow().hyp.iter().all(|b| *b == 0x5a)
    }

    pub fn get_bytes(&mut self, gva: u32, len: usize) -> Vec<u8> {
        let mut m = self.m();
        (0..len)
            .map(|i| {
                let ipa = m.s1(gva + i as u32, false).unwrap();
                let mut b = [0u8];
                m.peek(ipa, &mut b);
                b[0]
            })
            .collect()
    }

    pub fn injected(&mut self) -> Vec<u32> {
        core::mem::take(&mut self.m().injected)
    }
}

/// Exit counters as `(class, key, count)` triples, in the order given.
#[derive(Debug, Default)]
pub struct Counters(pub core::cell::RefCell<Vec<[u32; 3]>>);

impl ExitCounters for Counters {
    fn read(&self, clear: bool) -> Vec<[u32; 3]> {
        let mut c = self.0.borrow_mut();
        let out = c.iter().copied().filter(|c| c[2] > 0).collect();
        if clear {
            c.iter_mut().for_each(|c| c[2] = 0);
        }
        out
    }
}
