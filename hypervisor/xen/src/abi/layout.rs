//! `#[repr(C)]` layouts of the ABI structs for arm32 (AAPCS: `uint64_t` is
//! 8-byte aligned), with every offset asserted at compile time against the table
//! in `xen-dom0-abi.md` §3.10. Guest handles are `u64` slots holding a 32-bit
//! virtual address in their low half. Unions are plain integers or arrays of the
//! union's size and alignment; padding is explicit (`pad*`).

use super::wire::wire_struct;

wire_struct! {
    /// `struct vcpu_time_info` (pvclock; unused by an arm32 dom0, kept zero).
    pub struct VcpuTimeInfo (size 32, align 8) {
        pub version: u32 = 0,
        pub pad0: u32 = 4,
        pub tsc_timestamp: u64 = 8,
        pub system_time: u64 = 16,
        pub tsc_to_system_mul: u32 = 24,
        pub tsc_shift: i8 = 28,
        pub flags: u8 = 29,
        pub pad1: [u8; 2] = 30,
    }
}

wire_struct! {
    /// `struct vcpu_info` with ARM's empty `arch_vcpu_info`. Byte 1 is `pad0` in
    /// Xen's headers (`evtchn_upcall_mask` in Linux's, unused on ARM).
    pub struct VcpuInfo (size 48, align 8) {
        pub evtchn_upcall_pending: u8 = 0,
        pub evtchn_upcall_mask: u8 = 1,
        pub pad: [u8; 6] = 2,
        pub evtchn_pending_sel: u64 = 8,
        pub arch: [u8; 0] = 16,
        pub time: VcpuTimeInfo = 16,
    }
}

wire_struct! {
    /// `struct shared_info` (ARM: one legacy `vcpu_info`, empty `arch_shared_info`).
    pub struct SharedInfo (size 1088, align 8) {
        pub vcpu_info: VcpuInfo = 0,
        pub evtchn_pending: [u64; 64] = 48,
        pub evtchn_mask: [u64; 64] = 560,
        pub wc_version: u32 = 1072,
        pub wc_sec: u32 = 1076,
        pub wc_nsec: u32 = 1080,
        pub wc_sec_hi: u32 = 1084,
        pub arch: [u8; 0] = 1088,
    }
}

wire_struct! {
    /// `struct xen_feature_info` (`XENVER_get_features`).
    pub struct XenFeatureInfo (size 8, align 4) {
        pub submap_idx: u32 = 0,
        pub submap: u32 = 4,
    }
}

wire_struct! {
    /// `xen_compile_info_t` (`XENVER_compile_info`).
    pub struct XenCompileInfo (size 144, align 1) {
        pub compiler: [u8; 64] = 0,
        pub compile_by: [u8; 16] = 64,
        pub compile_domain: [u8; 32] = 80,
        pub compile_date: [u8; 32] = 112,
    }
}

wire_struct! {
    /// `xen_platform_parameters_t` (`XENVER_platform_parameters`).
    pub struct XenPlatformParameters (size 8, align 8) {
        pub virt_start: u64 = 0,
    }
}

wire_struct! {
    /// `struct xen_add_to_physmap` (`XENMEM_add_to_physmap`).
    pub struct XenAddToPhysmap (size 24, align 8) {
        pub domid: u16 = 0,
        pub size: u16 = 2,
        pub space: u32 = 4,
        pub idx: u64 = 8,
        pub gpfn: u64 = 16,
    }
}

wire_struct! {
    /// `struct xen_remove_from_physmap` (`XENMEM_remove_from_physmap`).
    pub struct XenRemoveFromPhysmap (size 16, align 8) {
        pub domid: u16 = 0,
        pub gpfn: u64 = 8,
    }
}

wire_struct! {
    /// `struct xen_domctl_max_mem` (`XEN_DOMCTL_max_mem`), in `xen_domctl.u`.
    pub struct XenDomctlMaxMem (size 8, align 8) {
        pub max_memkb: u64 = 0,
    }
}

wire_struct! {
    /// `struct xen_domctl_setdomainhandle` (`XEN_DOMCTL_setdomainhandle`).
    pub struct XenDomctlSetdomainhandle (size 16, align 1) {
        pub handle: [u8; 16] = 0,
    }
}

wire_struct! {
    /// `xen_pfn_t`: one element of an extent list.
    pub struct XenPfn (size 8, align 8) {
        pub pfn: u64 = 0,
    }
}

wire_struct! {
    /// `struct xen_add_to_physmap_batch` (`foreign_domid` is the union
    /// `u`, used by `XENMAPSPACE_gmfn_foreign` only).
    pub struct XenAddToPhysmapBatch (size 32, align 8) {
        pub domid: u16 = 0,
        pub space: u16 = 2,
        pub size: u16 = 4,
        pub foreign_domid: u16 = 6,
        pub idxs: u64 = 8,
        pub gpfns: u64 = 16,
        pub errs: u64 = 24,
    }
}

wire_struct! {
    /// `struct xen_mem_acquire_resource` (`XENMEM_acquire_resource`).
    pub struct XenMemAcquireResource (size 32, align 8) {
        pub domid: u16 = 0,
        pub ty: u16 = 2,
        pub id: u32 = 4,
        pub nr_frames: u32 = 8,
        pub pad: u32 = 12,
        pub frame: u64 = 16,
        pub frame_list: u64 = 24,
    }
}

wire_struct! {
    /// `struct sched_remote_shutdown`.
    pub struct SchedRemoteShutdown (size 8, align 4) {
        pub domain_id: u16 = 0,
        pub pad: u16 = 2,
        pub reason: u32 = 4,
    }
}

wire_struct! {
    /// One `int` of an error array (`xen_add_to_physmap_batch.errs`).
    pub struct XenErr (size 4, align 4) {
        pub err: i32 = 0,
    }
}

wire_struct! {
    /// `struct xen_memory_reservation` (`XENMEM_{increase,decrease}_reservation`,
    /// `XENMEM_populate_physmap`).
    pub struct XenMemoryReservation (size 32, align 8) {
        pub extent_start: u64 = 0,
        pub nr_extents: u64 = 8,
        pub extent_order: u32 = 16,
        pub mem_flags: u32 = 20,
        pub domid: u16 = 24,
        pub pad: [u8; 6] = 26,
    }
}

wire_struct! {
    /// `struct xen_memory_domain` (`XENMEM_current_reservation`,
    /// `XENMEM_maximum_reservation`, `XENMEM_maximum_gpfn`).
    pub struct XenMemoryDomain (size 2, align 2) {
        pub domid: u16 = 0,
    }
}

wire_struct! {
    /// `struct vcpu_register_vcpu_info`: `mfn` is a guest frame number.
    pub struct VcpuRegisterVcpuInfo (size 16, align 8) {
        pub mfn: u64 = 0,
        pub offset: u32 = 8,
        pub rsvd: u32 = 12,
    }
}

wire_struct! {
    /// `struct vcpu_register_runstate_memory_area`: a guest virtual address.
    pub struct VcpuRegisterRunstateMemoryArea (size 8, align 8) {
        pub addr: u64 = 0,
    }
}

wire_struct! {
    /// `struct vcpu_runstate_info`.
    pub struct VcpuRunstateInfo (size 48, align 8) {
        pub state: i32 = 0,
        pub pad: u32 = 4,
        pub state_entry_time: u64 = 8,
        pub time: [u64; 4] = 16,
    }
}

wire_struct! {
    /// `struct evtchn_alloc_unbound`.
    pub struct EvtchnAllocUnbound (size 8, align 4) {
        pub dom: u16 = 0,
        pub remote_dom: u16 = 2,
        pub port: u32 = 4,
    }
}

wire_struct! {
    /// `struct evtchn_bind_interdomain`.
    pub struct EvtchnBindInterdomain (size 12, align 4) {
        pub remote_dom: u16 = 0,
        pub pad: [u8; 2] = 2,
        pub remote_port: u32 = 4,
        pub local_port: u32 = 8,
    }
}

wire_struct! {
    /// `struct evtchn_bind_virq`.
    pub struct EvtchnBindVirq (size 12, align 4) {
        pub virq: u32 = 0,
        pub vcpu: u32 = 4,
        pub port: u32 = 8,
    }
}

wire_struct! {
    /// `struct evtchn_bind_ipi`.
    pub struct EvtchnBindIpi (size 8, align 4) {
        pub vcpu: u32 = 0,
        pub port: u32 = 4,
    }
}

wire_struct! {
    /// The fixed head of `struct xen_build_id` (`public/version.h`): `len`,
    /// the size of the `buf[]` that follows it.
    pub struct XenBuildId (size 4, align 4) {
        pub len: u32 = 0,
    }
}

wire_struct! {
    /// `struct evtchn_close`, `evtchn_send` and `evtchn_unmask` (one port).
    pub struct EvtchnPort (size 4, align 4) {
        pub port: u32 = 0,
    }
}

wire_struct! {
    /// `struct evtchn_status`. `u` is the union: `unbound.dom` (low half of
    /// `u[0]`), `interdomain.{dom, port}` (`u[0]` low half, `u[1]`), `pirq`, `virq`.
    pub struct EvtchnStatus (size 24, align 4) {
        pub dom: u16 = 0,
        pub pad: [u8; 2] = 2,
        pub port: u32 = 4,
        pub status: u32 = 8,
        pub vcpu: u32 = 12,
        pub u: [u32; 2] = 16,
    }
}

wire_struct! {
    /// `struct evtchn_bind_vcpu`.
    pub struct EvtchnBindVcpu (size 8, align 4) {
        pub port: u32 = 0,
        pub vcpu: u32 = 4,
    }
}

wire_struct! {
    /// `struct evtchn_init_control` (FIFO ABI; refused).
    pub struct EvtchnInitControl (size 24, align 8) {
        pub control_gfn: u64 = 0,
        pub offset: u32 = 8,
        pub vcpu: u32 = 12,
        pub link_bits: u8 = 16,
        pub pad: [u8; 7] = 17,
    }
}

wire_struct! {
    /// `struct gnttab_setup_table` (only for guests without auto-translation).
    pub struct GnttabSetupTable (size 24, align 8) {
        pub dom: u16 = 0,
        pub pad: [u8; 2] = 2,
        pub nr_frames: u32 = 4,
        pub status: i16 = 8,
        pub pad1: [u8; 6] = 10,
        pub frame_list: u64 = 16,
    }
}

wire_struct! {
    /// `struct gnttab_query_size`.
    pub struct GnttabQuerySize (size 16, align 4) {
        pub dom: u16 = 0,
        pub pad: [u8; 2] = 2,
        pub nr_frames: u32 = 4,
        pub max_nr_frames: u32 = 8,
        pub status: i16 = 12,
        pub pad1: [u8; 2] = 14,
    }
}

wire_struct! {
    /// `struct gnttab_set_version`.
    pub struct GnttabSetVersion (size 4, align 4) {
        pub version: u32 = 0,
    }
}

wire_struct! {
    /// `struct gnttab_get_version`.
    pub struct GnttabGetVersion (size 8, align 4) {
        pub dom: u16 = 0,
        pub pad: u16 = 2,
        pub version: u32 = 4,
    }
}

wire_struct! {
    /// `struct gnttab_cache_flush`. `a` is the union of `dev_bus_addr` and `ref`.
    pub struct GnttabCacheFlush (size 16, align 8) {
        pub a: u64 = 0,
        pub offset: u16 = 8,
        pub length: u16 = 10,
        pub op: u32 = 12,
    }
}

wire_struct! {
    /// `struct gnttab_map_grant_ref`. For an auto-translated guest `host_addr`
    /// is a guest physical address.
    pub struct GnttabMapGrantRef (size 32, align 8) {
        pub host_addr: u64 = 0,
        pub flags: u32 = 8,
        pub gref: u32 = 12,
        pub dom: u16 = 16,
        pub status: i16 = 18,
        pub handle: u32 = 20,
        pub dev_bus_addr: u64 = 24,
    }
}

wire_struct! {
    /// `struct gnttab_unmap_grant_ref`.
    pub struct GnttabUnmapGrantRef (size 24, align 8) {
        pub host_addr: u64 = 0,
        pub dev_bus_addr: u64 = 8,
        pub handle: u32 = 16,
        pub status: i16 = 20,
        pub pad: [u8; 2] = 22,
    }
}

wire_struct! {
    /// `struct gnttab_copy_ptr`: `u` is the union of `ref` and `gmfn`.
    pub struct GnttabCopyPtr (size 16, align 8) {
        pub u: u64 = 0,
        pub domid: u16 = 8,
        pub offset: u16 = 10,
        pub pad: [u8; 4] = 12,
    }
}

wire_struct! {
    /// `struct gnttab_copy`.
    pub struct GnttabCopy (size 40, align 8) {
        pub source: GnttabCopyPtr = 0,
        pub dest: GnttabCopyPtr = 16,
        pub len: u16 = 32,
        pub flags: u16 = 34,
        pub status: i16 = 36,
        pub pad: [u8; 2] = 38,
    }
}

wire_struct! {
    /// `struct grant_entry_v1`: one entry of a shared grant frame.
    pub struct GrantEntryV1 (size 8, align 4) {
        pub flags: u16 = 0,
        pub domid: u16 = 2,
        pub frame: u32 = 4,
    }
}

wire_struct! {
    /// `struct xen_hvm_param`.
    pub struct XenHvmParam (size 16, align 8) {
        pub domid: u16 = 0,
        pub pad: u16 = 2,
        pub index: u32 = 4,
        pub value: u64 = 8,
    }
}

wire_struct! {
    /// `struct sched_shutdown`.
    pub struct SchedShutdown (size 4, align 4) {
        pub reason: u32 = 0,
    }
}

wire_struct! {
    /// `struct xen_platform_op`: the command header; `u` is the 128-byte union.
    pub struct XenPlatformOp (size 136, align 8) {
        pub cmd: u32 = 0,
        pub interface_version: u32 = 4,
        pub u: [u64; 16] = 8,
    }
}

wire_struct! {
    /// `struct xenpf_settime64` (inside `xen_platform_op.u`).
    pub struct XenpfSettime64 (size 24, align 8) {
        pub secs: u64 = 0,
        pub nsecs: u32 = 8,
        pub mbz: u32 = 12,
        pub system_time: u64 = 16,
    }
}

wire_struct! {
    /// `struct xenpf_settime32` (inside `xen_platform_op.u`).
    pub struct XenpfSettime32 (size 16, align 8) {
        pub secs: u32 = 0,
        pub nsecs: u32 = 4,
        pub system_time: u64 = 8,
    }
}

wire_struct! {
    /// `struct multicall_entry` (multicall is not implemented; layout for reference).
    pub struct MulticallEntry (size 64, align 8) {
        pub op: u64 = 0,
        pub result: i64 = 8,
        pub args: [u64; 6] = 16,
    }
}

/// Byte offset of `u` in `xen_platform_op`, where the per-command struct starts.
pub const PLATFORM_OP_U: usize = core::mem::offset_of!(XenPlatformOp, u);

wire_struct! {
    /// `struct xen_sysctl`: the command header; `u` is the 128-byte union.
    pub struct XenSysctl (size 136, align 8) {
        pub cmd: u32 = 0,
        pub interface_version: u32 = 4,
        pub u: [u64; 16] = 8,
    }
}

wire_struct! {
    /// `struct xen_sysctl_readconsole` (inside `xen_sysctl.u`): `index` and
    /// `count` are IN/OUT, `buffer` a 64-bit guest handle.
    pub struct XenSysctlReadconsole (size 24, align 8) {
        pub clear: u8 = 0,
        pub incremental: u8 = 1,
        pub pad: [u8; 2] = 2,
        pub index: u32 = 4,
        pub buffer: u64 = 8,
        pub count: u32 = 16,
        pub pad1: u32 = 20,
    }
}

wire_struct! {
    /// snowvisor's `SNOWVISOR_SYSCTL_exit_stats` (inside `xen_sysctl.u`):
    /// `buffer` a 64-bit guest handle to `count` entries of three `u32`
    /// (class, key, count; `stats::Class`); on return `count` is how many
    /// non-zero counters there are (more than fit: only the first are
    /// copied). `clear` non-zero: every counter restarts from 0 afterwards.
    pub struct XenSysctlSnowvisorExits (size 16, align 8) {
        pub buffer: u64 = 0,
        pub count: u32 = 8,
        pub clear: u32 = 12,
    }
}

wire_struct! {
    /// `struct xen_sysctl_getdomaininfolist` (inside `xen_sysctl.u`):
    /// `buffer` a 64-bit guest handle to `max_domains` entries of
    /// [`XenDomctlGetdomaininfo`]; `num_domains` OUT.
    pub struct XenSysctlGetdomaininfolist (size 24, align 8) {
        pub first_domain: u16 = 0,
        pub pad: u16 = 2,
        pub max_domains: u32 = 4,
        pub buffer: u64 = 8,
        pub num_domains: u32 = 16,
        pub pad1: u32 = 20,
    }
}

wire_struct! {
    /// `struct xen_arch_domainconfig` of ARM (`public/arch-arm.h`).
    pub struct XenArchDomainconfig (size 12, align 4) {
        pub gic_version: u8 = 0,
        pub pad: u8 = 1,
        pub tee_type: u16 = 2,
        pub nr_spis: u32 = 4,
        pub clock_frequency: u32 = 8,
    }
}

wire_struct! {
    /// `struct xen_domctl_getdomaininfo` of Xen 4.17 (`public/domctl.h`),
    /// offsets checked with an armhf compiler: 120 bytes.
    pub struct XenDomctlGetdomaininfo (size 120, align 8) {
        pub domain: u16 = 0,
        pub pad1: u16 = 2,
        pub flags: u32 = 4,
        pub tot_pages: u64 = 8,
        pub max_pages: u64 = 16,
        pub outstanding_pages: u64 = 24,
        pub shr_pages: u64 = 32,
        pub paged_pages: u64 = 40,
        pub shared_info_frame: u64 = 48,
        pub cpu_time: u64 = 56,
        pub nr_online_vcpus: u32 = 64,
        pub max_vcpu_id: u32 = 68,
        pub ssidref: u32 = 72,
        pub handle: [u8; 16] = 76,
        pub cpupool: u32 = 92,
        pub gpaddr_bits: u8 = 96,
        pub pad2: [u8; 7] = 97,
        pub arch_config: XenArchDomainconfig = 104,
        pub pad3: u32 = 116,
    }
}

wire_struct! {
    /// `struct xen_domctl`: the header (`u` is the 128-byte union, whose
    /// first member here is `getdomaininfo`).
    pub struct XenDomctl (size 144, align 8) {
        pub cmd: u32 = 0,
        pub interface_version: u32 = 4,
        pub domain: u16 = 8,
        pub pad: [u16; 3] = 10,
        pub u: [u64; 16] = 16,
    }
}

/// Byte offset of `u` in `xen_domctl`.
pub const DOMCTL_U: usize = core::mem::offset_of!(XenDomctl, u);

wire_struct! {
    /// snowvisor's `SNOWVISOR_SYSCTL_domain_name` (inside `xen_sysctl.u`):
    /// `domain` IN; `name` OUT, NUL-padded (the `xen,domain` node's name,
    /// `Domain-0` for Dom0, as `xl list` prints it).
    pub struct XenSysctlSnowvisorDomainName (size 72, align 2) {
        pub domain: u16 = 0,
        pub pad: [u8; 6] = 2,
        pub name: [u8; 64] = 8,
    }
}

/// Bytes per entry of `XenSysctlSnowvisorExits.buffer`.
pub const EXIT_ENTRY_BYTES: usize = 12;

/// Byte offset of `u` in `xen_sysctl`, where the per-command struct starts.
pub const SYSCTL_U: usize = core::mem::offset_of!(XenSysctl, u);

/// Offsets inside `shared_info` and `vcpu_info` used by event delivery.
pub mod off {
    use super::{SharedInfo, VcpuInfo};
    use core::mem::offset_of;

    pub const SI_EVTCHN_PENDING: u64 = offset_of!(SharedInfo, evtchn_pending) as u64;
    pub const SI_EVTCHN_MASK: u64 = offset_of!(SharedInfo, evtchn_mask) as u64;
    pub const SI_WC_VERSION: u64 = offset_of!(SharedInfo, wc_version) as u64;
    pub const VI_UPCALL_PENDING: u64 = offset_of!(VcpuInfo, evtchn_upcall_pending) as u64;
    pub const VI_PENDING_SEL: u64 = offset_of!(VcpuInfo, evtchn_pending_sel) as u64;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::wire::Wire;

    /// Encodes `v` with every byte of the buffer first set to 0xAA, so that
    /// padding shows as 0 and fields as their values.
    fn bytes<T: Wire>(v: &T) -> alloc::vec::Vec<u8> {
        let mut b = alloc::vec![0xAA; T::SIZE];
        v.encode(&mut b).unwrap();
        b
    }

    #[test]
    fn add_to_physmap_matches_the_notes() {
        let x = XenAddToPhysmap {
            domid: 0x7FF0,
            size: 0,
            space: 1,
            idx: 5,
            gpfn: 0x40010,
        };
        let b = bytes(&x);
        assert_eq!(&b[0..2], &[0xF0, 0x7F]);
        assert_eq!(&b[4..8], &[1, 0, 0, 0]);
        assert_eq!(b[8], 5);
        assert_eq!(&b[16..20], &[0x10, 0x00, 0x04, 0x00]);
        assert_eq!(XenAddToPhysmap::decode(&b), Some(x));
    }

    #[test]
    fn map_grant_ref_and_copy_layouts() {
        let m = GnttabMapGrantRef {
            host_addr: 0x1234_5000,
            flags: 2,
            gref: 9,
            dom: 0,
            status: -3,
            handle: 7,
            dev_bus_addr: 0xdead_b000,
        };
        let b = bytes(&m);
        assert_eq!(b[8], 2);
        assert_eq!(b[12], 9);
        assert_eq!(&b[18..20], &(-3i16).to_le_bytes());
        assert_eq!(b[20], 7);
        assert_eq!(&b[24..28], &0xdead_b000u32.to_le_bytes());

        let c = GnttabCopy {
            source: GnttabCopyPtr {
                u: 11,
                domid: 0x7FF0,
                offset: 3,
                pad: [0; 4],
            },
            dest: GnttabCopyPtr {
                u: 0x40042,
                domid: 0,
                offset: 100,
                pad: [0; 4],
            },
            len: 16,
            flags: 1,
            status: 0,
            pad: [0; 2],
        };
        let b = bytes(&c);
        assert_eq!(b[0], 11);
        assert_eq!(&b[8..12], &[0xF0, 0x7F, 3, 0]);
        assert_eq!(b[16], 0x42);
        assert_eq!(b[26], 100);
        assert_eq!(&b[32..36], &[16, 0, 1, 0]);
        assert_eq!(GnttabCopy::decode(&b), Some(c));
    }

    #[test]
    fn shared_info_offsets() {
        assert_eq!(off::SI_EVTCHN_PENDING, 48);
        assert_eq!(off::SI_EVTCHN_MASK, 560);
        assert_eq!(off::SI_WC_VERSION, 1072);
        assert_eq!(off::VI_PENDING_SEL, 8);
        assert_eq!(PLATFORM_OP_U, 8);
        let mut si = SharedInfo::default();
        si.evtchn_pending[1] = 1;
        si.vcpu_info.evtchn_upcall_pending = 1;
        si.wc_sec_hi = 0x0102_0304;
        let b = bytes(&si);
        assert_eq!(b[0], 1);
        assert_eq!(b[48 + 8], 1);
        assert_eq!(&b[1084..1088], &[4, 3, 2, 1]);
    }

    #[test]
    fn status_and_settime() {
        let s = EvtchnStatus {
            dom: 1,
            pad: [0; 2],
            port: 2,
            status: 3,
            vcpu: 4,
            u: [5, 6],
        };
        let b = bytes(&s);
        assert_eq!((b[0], b[4], b[8], b[12], b[16], b[20]), (1, 2, 3, 4, 5, 6));
        let t = XenpfSettime64 {
            secs: 1,
            nsecs: 2,
            mbz: 0,
            system_time: 3,
        };
        let b = bytes(&t);
        assert_eq!((b[0], b[8], b[12], b[16]), (1, 2, 0, 3));
    }
}

wire_struct! {
    /// `struct xenctl_bitmap` (`public/xen.h`): a 64-bit guest handle to
    /// `nr_bits` bits, byte by byte (bit `n` is bit `n % 8` of byte `n / 8`).
    pub struct XenctlBitmap (size 16, align 8) {
        pub bitmap: u64 = 0,
        pub nr_bits: u32 = 8,
        pub pad: u32 = 12,
    }
}

wire_struct! {
    /// `struct xen_sysctl_physinfo` of Xen 4.17 (`public/sysctl.h`, inside
    /// `xen_sysctl.u`), all OUT; offsets checked with an armhf compiler.
    pub struct XenSysctlPhysinfo (size 112, align 8) {
        pub threads_per_core: u32 = 0,
        pub cores_per_socket: u32 = 4,
        pub nr_cpus: u32 = 8,
        pub max_cpu_id: u32 = 12,
        pub nr_nodes: u32 = 16,
        pub max_node_id: u32 = 20,
        pub cpu_khz: u32 = 24,
        pub capabilities: u32 = 28,
        pub arch_capabilities: u32 = 32,
        pub pad: u32 = 36,
        pub total_pages: u64 = 40,
        pub free_pages: u64 = 48,
        pub scrub_pages: u64 = 56,
        pub outstanding_pages: u64 = 64,
        pub max_mfn: u64 = 72,
        pub hw_cap: [u32; 8] = 80,
    }
}

wire_struct! {
    /// `struct xen_sysctl_cputopoinfo`: `num_cpus` IN/OUT, `cputopo` a
    /// 64-bit guest handle to `num_cpus` [`XenSysctlCputopo`] (or NULL: only
    /// the count).
    pub struct XenSysctlCputopoinfo (size 16, align 8) {
        pub num_cpus: u32 = 0,
        pub pad: u32 = 4,
        pub cputopo: u64 = 8,
    }
}

wire_struct! {
    /// `struct xen_sysctl_cputopo`: one CPU's core, socket and NUMA node.
    pub struct XenSysctlCputopo (size 12, align 4) {
        pub core: u32 = 0,
        pub socket: u32 = 4,
        pub node: u32 = 8,
    }
}

wire_struct! {
    /// `struct xen_sysctl_numainfo`: `num_nodes` IN/OUT; `meminfo` a handle
    /// to `num_nodes` [`XenSysctlMeminfo`], `distance` to `num_nodes`^2
    /// `u32` (either may be NULL).
    pub struct XenSysctlNumainfo (size 24, align 8) {
        pub num_nodes: u32 = 0,
        pub pad: u32 = 4,
        pub meminfo: u64 = 8,
        pub distance: u64 = 16,
    }
}

wire_struct! {
    /// `struct xen_sysctl_meminfo`: a node's memory and free memory, bytes.
    pub struct XenSysctlMeminfo (size 16, align 8) {
        pub memsize: u64 = 0,
        pub memfree: u64 = 8,
    }
}

wire_struct! {
    /// `struct xen_sysctl_cpupool_op`: `op` and the IN/OUT fields its
    /// comment in `public/sysctl.h` marks per operation.
    pub struct XenSysctlCpupoolOp (size 40, align 8) {
        pub op: u32 = 0,
        pub cpupool_id: u32 = 4,
        pub sched_id: u32 = 8,
        pub domid: u32 = 12,
        pub cpu: u32 = 16,
        pub n_dom: u32 = 20,
        pub cpumap: XenctlBitmap = 24,
    }
}

wire_struct! {
    /// `struct xen_sysctl_debug_keys`: a handle to `nr_keys` key bytes.
    pub struct XenSysctlDebugKeys (size 16, align 8) {
        pub keys: u64 = 0,
        pub nr_keys: u32 = 8,
        pub pad: u32 = 12,
    }
}

wire_struct! {
    /// `struct xen_domctl_getvcpuinfo` (inside `xen_domctl.u`): `vcpu` IN,
    /// the rest OUT; `cpu_time` in ns.
    pub struct XenDomctlGetvcpuinfo (size 24, align 8) {
        pub vcpu: u32 = 0,
        pub online: u8 = 4,
        pub blocked: u8 = 5,
        pub running: u8 = 6,
        pub pad: u8 = 7,
        pub cpu_time: u64 = 8,
        pub cpu: u32 = 16,
        pub pad1: u32 = 20,
    }
}

wire_struct! {
    /// `struct xen_domctl_vcpuaffinity` (inside `xen_domctl.u`): `vcpu` and
    /// `flags` (`XEN_VCPUAFFINITY_*`) IN, the bitmaps' bits OUT for
    /// `XEN_DOMCTL_getvcpuaffinity`.
    pub struct XenDomctlVcpuaffinity (size 40, align 8) {
        pub vcpu: u32 = 0,
        pub flags: u32 = 4,
        pub cpumap_hard: XenctlBitmap = 8,
        pub cpumap_soft: XenctlBitmap = 24,
    }
}

wire_struct! {
    /// `struct xen_domctl_createdomain` of Xen 4.17 (`public/domctl.h`,
    /// inside `xen_domctl.u`): all IN but `arch.gic_version` (IN/OUT) and
    /// `arch.clock_frequency` (OUT). `max_grant_frames` and
    /// `max_maptrack_frames` are `int32_t` (< 0: Xen's default).
    pub struct XenDomctlCreatedomain (size 68, align 4) {
        pub ssidref: u32 = 0,
        pub handle: [u8; 16] = 4,
        pub flags: u32 = 20,
        pub iommu_opts: u32 = 24,
        pub max_vcpus: u32 = 28,
        pub max_evtchn_port: u32 = 32,
        pub max_grant_frames: i32 = 36,
        pub max_maptrack_frames: i32 = 40,
        pub grant_opts: u32 = 44,
        pub vmtrace_size: u32 = 48,
        pub cpupool_id: u32 = 52,
        pub arch: XenArchDomainconfig = 56,
    }
}

wire_struct! {
    /// `struct xen_domctl_max_vcpus` (`XEN_DOMCTL_max_vcpus`).
    pub struct XenDomctlMaxVcpus (size 4, align 4) {
        pub max: u32 = 0,
    }
}

wire_struct! {
    /// `struct xen_domctl_vcpucontext` (`XEN_DOMCTL_setvcpucontext`):
    /// `ctxt` a 64-bit guest handle to a [`VcpuGuestContext`].
    pub struct XenDomctlVcpucontext (size 16, align 8) {
        pub vcpu: u32 = 0,
        pub pad: u32 = 4,
        pub ctxt: u64 = 8,
    }
}

wire_struct! {
    /// `struct vcpu_guest_core_regs` (`public/arch-arm.h`): every register
    /// is a `__DECL_REG` union of a 64-bit AArch64 and a 32-bit AArch32
    /// name, 8 bytes each; an arm32 guest's value is the low word.
    /// `x[0..13]` are `r0_usr`..`r12_usr`, then `sp_usr`, `lr_usr`,
    /// `__unused_sp_hyp`, `lr_irq`, `sp_irq`, `lr_svc`, `sp_svc`,
    /// `lr_abt`, `sp_abt`, `lr_und`, `sp_und`, `r8_fiq`..`r12_fiq`,
    /// `sp_fiq`, `lr_fiq` (`x[30]`); `pc` is `pc32`.
    pub struct VcpuGuestCoreRegs (size 312, align 8) {
        pub x: [u64; 31] = 0,
        pub pc: u64 = 248,
        pub cpsr: u64 = 256,
        /// `spsr_el1` / `spsr_svc` (its low word).
        pub spsr_svc: u64 = 264,
        pub spsr_fiq: u32 = 272,
        pub spsr_irq: u32 = 276,
        pub spsr_und: u32 = 280,
        pub spsr_abt: u32 = 284,
        pub sp_el0: u64 = 288,
        pub sp_el1: u64 = 296,
        pub elr_el1: u64 = 304,
    }
}

wire_struct! {
    /// `struct vcpu_guest_context` of ARM (`public/arch-arm.h`).
    pub struct VcpuGuestContext (size 352, align 8) {
        pub flags: u32 = 0,
        pub pad: u32 = 4,
        pub user_regs: VcpuGuestCoreRegs = 8,
        pub sctlr: u64 = 320,
        pub ttbcr: u64 = 328,
        pub ttbr0: u64 = 336,
        pub ttbr1: u64 = 344,
    }
}

wire_struct! {
    /// `struct xen_domctl_scheduler_op` (`XEN_DOMCTL_scheduler_op`) with
    /// its union `u` as credit's `struct xen_domctl_sched_credit`
    /// (`weight`, `cap`) and the rest of the union's 16 bytes.
    pub struct XenDomctlSchedulerOp (size 24, align 8) {
        pub sched_id: u32 = 0,
        pub cmd: u32 = 4,
        pub weight: u16 = 8,
        pub cap: u16 = 10,
        pub pad: u32 = 12,
        /// The union's last 8 bytes (its `v.nr_vcpus`, `v.padding`).
        pub rest: u64 = 16,
    }
}

wire_struct! {
    /// `struct xen_domctl_address_size` (`XEN_DOMCTL_{set,get}_address_size`).
    pub struct XenDomctlAddressSize (size 4, align 4) {
        pub size: u32 = 0,
    }
}

wire_struct! {
    /// `struct xen_domctl_cacheflush` (`XEN_DOMCTL_cacheflush`): a range of
    /// the domain's frames.
    pub struct XenDomctlCacheflush (size 16, align 8) {
        pub start_pfn: u64 = 0,
        pub nr_pfns: u64 = 8,
    }
}

wire_struct! {
    /// `struct xen_domctl_paging_mempool`
    /// (`XEN_DOMCTL_{get,set}_paging_mempool_size`): bytes.
    pub struct XenDomctlPagingMempool (size 8, align 8) {
        pub size: u64 = 0,
    }
}
