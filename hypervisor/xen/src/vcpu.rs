//! `vcpu_op` (the two calls Xen supports on ARM) and `vm_assist`.

use super::abi::layout::{
    VcpuInfo, VcpuRegisterRunstateMemoryArea, VcpuRegisterVcpuInfo, VcpuRunstateInfo,
};
use super::abi::wire::Wire;
use super::abi::{vcpuop, vmasst, Errno};
use super::guest::{gfn_ipa, in_page, read_struct, write_struct, GuestMemory};
use super::shared::RunState;
use super::{Ctx, HcResult, Outcome, Xen};

impl Xen {
    /// `vcpu_op(cmd, vcpuid, arg)`, in Xen 4.17's order (`arch/arm/domain.c`
    /// `do_vcpu_op`): a `vcpuid` the domain does not have is -ENOENT whatever
    /// the command, then every command but the two ARM supports is -EINVAL.
    pub(super) fn vcpu_op(&mut self, cx: &mut Ctx<'_>, cmd: u32, vcpu: u32, arg: u32) -> HcResult {
        if vcpu >= self.cfg.nr_vcpus {
            return Err(Errno::ENOENT);
        }
        match cmd {
            vcpuop::REGISTER_VCPU_INFO => self.register_vcpu_info(cx, vcpu, arg),
            vcpuop::REGISTER_RUNSTATE_MEMORY_AREA => {
                let r: VcpuRegisterRunstateMemoryArea = read_struct(cx.mem, arg)?;
                // Linux BUGs on failure, and Xen does not check the address:
                // a write that faults later is skipped, as Xen's.
                if let Some(a) = self.shared.vcpu_mut(vcpu) {
                    a.runstate = Some(r.addr);
                    let run = a.run;
                    let _ = write_runstate(cx.mem, r.addr, &run, false);
                }
                Ok(Outcome::Return(0))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// `VCPUOP_register_vcpu_info`, with Xen 4.17's errors in its order
    /// (`common/domain.c` `map_vcpu_info`): copy in (-EFAULT); an offset that
    /// leaves no room for a `vcpu_info` in the page or is not 8-byte aligned
    /// (-ENXIO); already registered (-EINVAL); a frame that is not the
    /// domain's writable RAM (-EINVAL).
    fn register_vcpu_info(&mut self, cx: &mut Ctx<'_>, vcpu: u32, arg: u32) -> HcResult {
        let Some(areas) = self.shared.vcpu(vcpu) else {
            return Err(Errno::ENOENT);
        };
        let registered = areas.vcpu_info.is_some();
        let r: VcpuRegisterVcpuInfo = read_struct(cx.mem, arg)?;
        let offset = u64::from(r.offset);
        if !offset.is_multiple_of(8) || !in_page(offset, VcpuInfo::SIZE as u64) {
            return Err(Errno::ENXIO);
        }
        if registered {
            return Err(Errno::EINVAL);
        }
        let base = gfn_ipa(r.mfn).ok_or(Errno::EINVAL)?;
        // Must be the domain's RAM: not a grant frame, not a mapped grant.
        if self.gnttab.frame_at(r.mfn).is_some() || self.gnttab.host_mapped_at(r.mfn) {
            return Err(Errno::EINVAL);
        }
        let ipa = base + offset;
        self.shared
            .register_vcpu_info(cx.mem, vcpu, ipa)
            .map_err(|f| {
                log::debug!("xen: vCPU {vcpu} vcpu_info at {ipa:#x} refused: {f}");
                Errno::EINVAL
            })?;
        cx.plat.inject_upcall(vcpu);
        log::info!(
            "d{}: xen: vCPU {vcpu} vcpu_info at {ipa:#x}",
            self.cfg.domid
        );
        Ok(Outcome::Return(0))
    }

    /// vCPU `vcpu` enters runstate `state` (`abi::runstate`) at `now_ns` (Xen
    /// system time): the time since its last change goes to the state it
    /// leaves, and its registered area is rewritten. `mem` must translate
    /// with the stage 1 of a vCPU of this domain (the area is a kernel
    /// virtual address). With `VMASST_TYPE_runstate_update_flag` on,
    /// `state_entry_time` carries `XEN_RUNSTATE_UPDATE` while the area is
    /// being written (Xen's `update_runstate_area`). An area that cannot be
    /// written is left as it is.
    pub fn set_runstate(&mut self, mem: &mut dyn GuestMemory, vcpu: u32, state: u32, now_ns: u64) {
        let flag = self.vm_assist & (1 << vmasst::TYPE_RUNSTATE_UPDATE_FLAG) != 0;
        self.note_runstate(vcpu, state, now_ns);
        let Some(a) = self.shared.vcpu(vcpu) else {
            return;
        };
        if let Some(va) = a.runstate {
            let _ = write_runstate(mem, va, &a.run, flag);
        }
    }

    /// [`Xen::set_runstate`] without writing the area: for a change made
    /// where the vCPU's stage 1 cannot be used (a vCPU starting with its
    /// MMU off); the next change writes it.
    pub fn note_runstate(&mut self, vcpu: u32, state: u32, now_ns: u64) {
        let Some(a) = self.shared.vcpu_mut(vcpu) else {
            return;
        };
        let r = &mut a.run;
        if let Some(t) = r.time.get_mut(r.state as usize) {
            *t = t.saturating_add(now_ns.saturating_sub(r.entry_ns));
        }
        r.state = state;
        r.entry_ns = now_ns;
    }

    /// Every vCPU starts its accounting at `now_ns` (Xen system time),
    /// offline, no time in any state: for a domain created at run time, as
    /// Xen's `vcpu_create` starts a vCPU's runstate (`RUNSTATE_offline` at
    /// creation), so its CPU time counts from then, not from boot.
    pub fn start_runstates(&mut self, now_ns: u64) {
        for v in 0..self.cfg.nr_vcpus {
            if let Some(a) = self.shared.vcpu_mut(v) {
                a.run = RunState {
                    state: super::abi::runstate::OFFLINE,
                    entry_ns: now_ns,
                    time: [0; 4],
                };
            }
        }
    }

    /// `vm_assist(cmd, type)`: only `runstate_update_flag` exists on ARM.
    pub(super) fn vm_assist(&mut self, cmd: u32, ty: u32) -> HcResult {
        if ty != vmasst::TYPE_RUNSTATE_UPDATE_FLAG {
            return Err(Errno::EINVAL);
        }
        match cmd {
            vmasst::CMD_ENABLE => self.vm_assist |= 1 << ty,
            vmasst::CMD_DISABLE => self.vm_assist &= !(1 << ty),
            _ => return Err(Errno::ENOSYS),
        }
        Ok(Outcome::Return(0))
    }
}

/// `XEN_RUNSTATE_UPDATE` (vcpu.h): bit 63 of `state_entry_time` while the
/// area is being written.
const RUNSTATE_UPDATE: u64 = 1 << 63;

/// Writes `run` to the `vcpu_runstate_info` at guest VA `va` (32-bit: an
/// arm32 guest's), with the update flag around it if `flag`.
fn write_runstate(
    mem: &mut dyn GuestMemory,
    va: u64,
    run: &RunState,
    flag: bool,
) -> Result<(), Errno> {
    let va = u32::try_from(va).map_err(|_| Errno::EFAULT)?;
    let mut info = VcpuRunstateInfo {
        state: run.state as i32,
        pad: 0,
        state_entry_time: run.entry_ns,
        time: run.time,
    };
    if flag {
        let marked = VcpuRunstateInfo {
            state_entry_time: run.entry_ns | RUNSTATE_UPDATE,
            ..info
        };
        write_struct(mem, va, &marked)?;
    }
    info.state_entry_time = run.entry_ns;
    write_struct(mem, va, &info)
}
