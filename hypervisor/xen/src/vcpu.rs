//! `vcpu_op` (the two calls Xen supports on ARM) and `vm_assist`.

use super::abi::layout::{VcpuInfo, VcpuRegisterRunstateMemoryArea, VcpuRegisterVcpuInfo};
use super::abi::wire::Wire;
use super::abi::{vcpuop, vmasst, Errno};
use super::guest::{gfn_ipa, in_page, read_struct};
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
                // Recorded, never written: all-zero runstate means "no steal".
                // Linux BUGs on failure, and Xen does not check the address.
                if let Some(a) = self.shared.vcpu_mut(vcpu) {
                    a.runstate = Some(r.addr);
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
        log::info!("xen: vCPU {vcpu} vcpu_info at {ipa:#x}");
        Ok(Outcome::Return(0))
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
