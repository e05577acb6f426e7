//! The Xen guest ABI as a 32-bit ARM guest sees it: hypercall and sub-op numbers,
//! error codes, feature bits, flag values and struct layouts.
//!
//! Numbers and layouts come from Xen's public headers (`xen/include/public/*.h`,
//! 4.17) as listed in `xen-dom0-abi.md`; on ARM `xen_ulong_t` and `xen_pfn_t` are
//! 64-bit, and guest handles inside structs are 8-byte, 8-byte-aligned slots.

pub mod errno;
pub mod layout;
pub mod wire;

pub use errno::Errno;

/// Guest page size and shift (Xen's ABI page size on ARM is always 4 KiB).
pub const PAGE_SIZE: usize = 4096;
pub const PAGE_SHIFT: u32 = 12;

/// `XEN_HYPERCALL_TAG`: the HVC immediate of a Xen hypercall (ISS[15:0]).
pub const HVC_XEN_IMM: u32 = 0xEA1;

/// Hypercall numbers (`__HYPERVISOR_*`, `public/xen.h`), passed in r12.
pub mod hc {
    pub const PLATFORM_OP: u32 = 7;
    pub const MEMORY_OP: u32 = 12;
    pub const MULTICALL: u32 = 13;
    pub const EVENT_CHANNEL_OP_COMPAT: u32 = 16;
    pub const XEN_VERSION: u32 = 17;
    pub const CONSOLE_IO: u32 = 18;
    pub const PHYSDEV_OP_COMPAT: u32 = 19;
    pub const GRANT_TABLE_OP: u32 = 20;
    pub const VM_ASSIST: u32 = 21;
    pub const VCPU_OP: u32 = 24;
    /// `__HYPERVISOR_xsm_op`: FLASK's interface (libxl asks `getenforce`).
    pub const XSM_OP: u32 = 27;
    pub const SCHED_OP: u32 = 29;
    pub const EVENT_CHANNEL_OP: u32 = 32;
    pub const PHYSDEV_OP: u32 = 33;
    pub const HVM_OP: u32 = 34;
    pub const SYSCTL: u32 = 35;
    pub const DOMCTL: u32 = 36;
    pub const DM_OP: u32 = 41;
}

/// Domain ids (`public/xen.h`).
pub mod domid {
    pub const FIRST_RESERVED: u16 = 0x7FF0;
    pub const SELF: u16 = 0x7FF0;
    pub const IO: u16 = 0x7FF1;
    pub const XEN: u16 = 0x7FF2;
    pub const INVALID: u16 = 0x7FF4;
}

/// `xen_version` sub-ops (`public/version.h`).
pub mod xenver {
    pub const VERSION: u32 = 0;
    pub const EXTRAVERSION: u32 = 1;
    pub const COMPILE_INFO: u32 = 2;
    pub const CAPABILITIES: u32 = 3;
    pub const CHANGESET: u32 = 4;
    pub const PLATFORM_PARAMETERS: u32 = 5;
    pub const GET_FEATURES: u32 = 6;
    pub const PAGESIZE: u32 = 7;
    pub const GUEST_HANDLE: u32 = 8;
    pub const COMMANDLINE: u32 = 9;
    pub const BUILD_ID: u32 = 10;

    /// `xen_extraversion_t`: `char[16]`.
    pub const EXTRAVERSION_LEN: usize = 16;
    /// `xen_capabilities_info_t`: `char[1024]`.
    pub const CAPABILITIES_LEN: usize = 1024;
    /// `xen_changeset_info_t`: `char[64]`.
    pub const CHANGESET_LEN: usize = 64;
    /// `xen_domain_handle_t`: `uint8_t[16]`.
    pub const GUEST_HANDLE_LEN: usize = 16;
    /// `xen_commandline_t`: `char[1024]`.
    pub const COMMANDLINE_LEN: usize = 1024;
    /// `XENFEAT_NR_SUBMAPS`.
    pub const NR_SUBMAPS: u32 = 1;
}

/// Feature bits of submap 0 (`public/features.h`).
pub mod xenfeat {
    pub const WRITABLE_PAGE_TABLES: u32 = 0;
    pub const AUTO_TRANSLATED_PHYSMAP: u32 = 2;
    /// The domain is the initial (hardware) domain: Linux's only dom0 test on arm32.
    pub const DOM0: u32 = 11;
    pub const MEMORY_OP_VNODE_SUPPORTED: u32 = 13;
    pub const ARM_SMCCC_SUPPORTED: u32 = 14;
    /// The domain is *not* 1:1 (IPA != PA): swiotlb-xen stays off.
    pub const NOT_DIRECT_MAPPED: u32 = 16;
    /// The domain is 1:1 (IPA == PA): swiotlb-xen is used for every DMA master.
    pub const DIRECT_MAPPED: u32 = 17;
}

/// `memory_op` commands (`public/memory.h`).
pub mod xenmem {
    pub const INCREASE_RESERVATION: u32 = 0;
    pub const DECREASE_RESERVATION: u32 = 1;
    /// `arg` = `struct xen_memory_domain`; returns the domain's pages.
    pub const CURRENT_RESERVATION: u32 = 3;
    /// `arg` = `struct xen_memory_domain`; returns the domain's page limit.
    pub const MAXIMUM_RESERVATION: u32 = 4;
    pub const POPULATE_PHYSMAP: u32 = 6;
    pub const ADD_TO_PHYSMAP: u32 = 7;
    pub const ADD_TO_PHYSMAP_BATCH: u32 = 23;
    /// `XENMEM_acquire_resource`: another domain's frames for the toolstack.
    pub const ACQUIRE_RESOURCE: u32 = 28;
    /// `XENMEM_get_sharing_freed_pages` / `_shared_pages`: memory sharing's
    /// page counts (`xl info`'s `sharing_*_memory`).
    pub const GET_SHARING_FREED_PAGES: u32 = 18;
    pub const GET_SHARING_SHARED_PAGES: u32 = 19;
    /// `XENMEM_remove_from_physmap`: `struct xen_remove_from_physmap`.
    pub const REMOVE_FROM_PHYSMAP: u32 = 15;
    /// `XENMEMF_populate_on_demand` (`mem_flags`; not on ARM).
    pub const MEMF_POPULATE_ON_DEMAND: u32 = 1 << 16;
    /// The low bits of `cmd` are the command, the rest the continuation's start extent.
    pub const CMD_MASK: u32 = 0x3f;
    pub const EXTENT_SHIFT: u32 = 6;

    /// `XENMAPSPACE_*`.
    pub const SPACE_SHARED_INFO: u32 = 0;
    pub const SPACE_GRANT_TABLE: u32 = 1;
    pub const SPACE_GMFN: u32 = 2;
    pub const SPACE_GMFN_RANGE: u32 = 3;
    pub const SPACE_GMFN_FOREIGN: u32 = 4;
    pub const SPACE_DEV_MMIO: u32 = 5;
    /// `XENMAPIDX_grant_table_status`: grant v2 status frames.
    pub const IDX_GRANT_TABLE_STATUS: u64 = 0x8000_0000;

    /// `XENMEM_resource_grant_table` and its ids (`public/memory.h`).
    pub const RESOURCE_GRANT_TABLE: u16 = 1;
    pub const RESOURCE_GRANT_TABLE_ID_SHARED: u32 = 0;
}

/// `vcpu_op` commands (`public/vcpu.h`).
pub mod vcpuop {
    pub const REGISTER_RUNSTATE_MEMORY_AREA: u32 = 5;
    pub const REGISTER_VCPU_INFO: u32 = 10;
}

/// `RUNSTATE_*` (`public/vcpu.h`): a vCPU's state in `vcpu_runstate_info`.
pub mod runstate {
    /// Running on a physical CPU.
    pub const RUNNING: u32 = 0;
    /// Runnable, waiting for a CPU (never, with vCPUs pinned 1:1).
    pub const RUNNABLE: u32 = 1;
    /// Blocked: waiting for an event (a WFI the hypervisor idles in).
    pub const BLOCKED: u32 = 2;
    /// Offline (PSCI CPU_OFF, or not yet started).
    pub const OFFLINE: u32 = 3;
}

/// `vm_assist` commands and types (`public/xen.h`).
pub mod vmasst {
    pub const CMD_ENABLE: u32 = 0;
    pub const CMD_DISABLE: u32 = 1;
    pub const TYPE_RUNSTATE_UPDATE_FLAG: u32 = 5;
}

/// `event_channel_op` commands and status values (`public/event_channel.h`).
pub mod evtchnop {
    pub const BIND_INTERDOMAIN: u32 = 0;
    pub const BIND_VIRQ: u32 = 1;
    pub const BIND_PIRQ: u32 = 2;
    pub const CLOSE: u32 = 3;
    pub const SEND: u32 = 4;
    pub const STATUS: u32 = 5;
    pub const ALLOC_UNBOUND: u32 = 6;
    pub const BIND_IPI: u32 = 7;
    pub const BIND_VCPU: u32 = 8;
    pub const UNMASK: u32 = 9;
    pub const RESET: u32 = 10;
    pub const INIT_CONTROL: u32 = 11;
    pub const EXPAND_ARRAY: u32 = 12;
    pub const SET_PRIORITY: u32 = 13;

    /// `EVTCHNSTAT_*`.
    pub const STAT_CLOSED: u32 = 0;
    pub const STAT_UNBOUND: u32 = 1;
    pub const STAT_INTERDOMAIN: u32 = 2;
    pub const STAT_PIRQ: u32 = 3;
    pub const STAT_VIRQ: u32 = 4;
    pub const STAT_IPI: u32 = 5;

    /// `EVTCHN_2L_NR_CHANNELS` on ARM: 64-bit words, 64 x 64 ports.
    pub const NR_CHANNELS_2L: u32 = 4096;
}

/// Virtual IRQs (`VIRQ_*`, `public/xen.h`).
pub mod virq {
    pub const TIMER: u32 = 0;
    pub const DEBUG: u32 = 1;
    pub const CONSOLE: u32 = 2;
    pub const DOM_EXC: u32 = 3;
    pub const XENOPROF: u32 = 7;
    pub const XENPMU: u32 = 13;
    pub const NR: u32 = 24;

    /// Global VIRQs are bound on vCPU 0 only; the rest are per vCPU.
    pub fn is_global(v: u32) -> bool {
        !matches!(v, TIMER | DEBUG | XENOPROF | XENPMU)
    }
}

/// `grant_table_op` commands, flags and status codes (`public/grant_table.h`).
pub mod gnttabop {
    pub const MAP_GRANT_REF: u32 = 0;
    pub const UNMAP_GRANT_REF: u32 = 1;
    pub const SETUP_TABLE: u32 = 2;
    pub const COPY: u32 = 5;
    pub const QUERY_SIZE: u32 = 6;
    pub const SET_VERSION: u32 = 8;
    pub const GET_VERSION: u32 = 10;
    pub const CACHE_FLUSH: u32 = 12;

    /// v1 entries per 4 KiB frame.
    pub const ENTRIES_PER_FRAME: u32 = 512;

    /// Entries a guest's grant allocator leaves alone, for the toolstack
    /// to seed before the guest runs (`GNTTAB_NR_RESERVED_ENTRIES`,
    /// `public/grant_table.h`).
    pub const NR_RESERVED_ENTRIES: u32 = 8;
    /// The entry granting the guest's PV console page to the console
    /// domain (`GNTTAB_RESERVED_CONSOLE`, `public/grant_table.h`).
    pub const RESERVED_CONSOLE: u32 = 0;
    /// The entry granting the guest's xenstore page to the xenstore domain
    /// (`GNTTAB_RESERVED_XENSTORE`, `public/grant_table.h`).
    pub const RESERVED_XENSTORE: u32 = 1;
}

/// Grant entry flags (`GTF_*`, `public/grant_table.h`), v1: the low 16
/// bits of an entry's first word, the granted-to domain in the high 16,
/// the frame in the second word (`struct grant_entry_v1`).
pub mod gtf {
    pub const INVALID: u16 = 0;
    pub const PERMIT_ACCESS: u16 = 1;
    pub const ACCEPT_TRANSFER: u16 = 2;
    pub const TYPE_MASK: u16 = 3;
    pub const READONLY: u16 = 1 << 2;
    pub const READING: u16 = 1 << 3;
    pub const WRITING: u16 = 1 << 4;
}

/// Grant map flags (`GNTMAP_*`) and copy flags (`GNTCOPY_*`).
pub mod gntmap {
    pub const DEVICE_MAP: u32 = 1 << 0;
    pub const HOST_MAP: u32 = 1 << 1;
    pub const READONLY: u32 = 1 << 2;
    pub const APPLICATION_MAP: u32 = 1 << 3;
    pub const CONTAINS_PTE: u32 = 1 << 4;

    pub const COPY_SOURCE_GREF: u16 = 1 << 0;
    pub const COPY_DEST_GREF: u16 = 1 << 1;

    /// `GNTTAB_CACHE_*` for `GNTTABOP_cache_flush`.
    pub const CACHE_CLEAN: u32 = 1 << 0;
    pub const CACHE_INVAL: u32 = 1 << 1;
    pub const CACHE_SOURCE_GREF: u32 = 1 << 31;
}

/// Per-op grant status codes (`GNTST_*`), written into the op's `status` field.
pub mod gntst {
    pub const OKAY: i16 = 0;
    pub const GENERAL_ERROR: i16 = -1;
    pub const BAD_DOMAIN: i16 = -2;
    pub const BAD_GNTREF: i16 = -3;
    pub const BAD_HANDLE: i16 = -4;
    pub const BAD_VIRT_ADDR: i16 = -5;
    pub const BAD_DEV_ADDR: i16 = -6;
    pub const NO_DEVICE_SPACE: i16 = -7;
    pub const PERMISSION_DENIED: i16 = -8;
    pub const BAD_PAGE: i16 = -9;
    pub const BAD_COPY_ARG: i16 = -10;
}

/// `console_io` commands.
pub mod consoleio {
    pub const WRITE: u32 = 0;
    pub const READ: u32 = 1;
}

/// `sched_op` commands and shutdown reasons (`public/sched.h`).
pub mod schedop {
    pub const YIELD: u32 = 0;
    pub const BLOCK: u32 = 1;
    pub const SHUTDOWN: u32 = 2;
    pub const REMOTE_SHUTDOWN: u32 = 4;
    /// `SCHEDOP_pin_override`: the hardware domain's only.
    pub const PIN_OVERRIDE: u32 = 7;

    pub const SHUTDOWN_POWEROFF: u32 = 0;
    pub const SHUTDOWN_REBOOT: u32 = 1;
    pub const SHUTDOWN_SUSPEND: u32 = 2;
    pub const SHUTDOWN_CRASH: u32 = 3;
    pub const SHUTDOWN_WATCHDOG: u32 = 4;
    pub const SHUTDOWN_SOFT_RESET: u32 = 5;
}

/// The PV console ring page (`struct xencons_interface`,
/// `public/io/console.h`): `in[1024]`, `out[2048]`, then the indexes
/// (`XENCONS_RING_IDX`, 32 bits each) `in_cons`, `in_prod`, `out_cons`,
/// `out_prod`.
pub mod xencons {
    /// Byte offset of `out_cons`.
    pub const OUT_CONS_OFFSET: u64 = 3080;
    /// Byte offset of `out_prod`.
    pub const OUT_PROD_OFFSET: u64 = 3084;
}

/// The xenstore ring page (`struct xenstore_domain_interface`,
/// `public/io/xs_wire.h`): two 1024-byte rings, their four indexes,
/// `server_features`, `connection`, `error`.
pub mod xs_wire {
    /// Byte offset of `connection`.
    pub const CONNECTION_OFFSET: u64 = 2068;
    /// `XENSTORE_RECONNECT`: the page is not connected to xenstored yet
    /// (what Xen's `init-dom0less` writes into a new page).
    pub const RECONNECT: u32 = 1;
}

/// `hvm_op` commands and parameters (`public/hvm/hvm_op.h`, `params.h`).
pub mod hvmop {
    pub const SET_PARAM: u32 = 0;
    pub const GET_PARAM: u32 = 1;

    pub const PARAM_CALLBACK_IRQ: u32 = 0;
    pub const PARAM_STORE_PFN: u32 = 1;
    pub const PARAM_STORE_EVTCHN: u32 = 2;
    pub const PARAM_CONSOLE_PFN: u32 = 17;
    pub const PARAM_CONSOLE_EVTCHN: u32 = 18;
    pub const PARAM_MONITOR_RING_PFN: u32 = 28;
    pub const NR_PARAMS: u32 = 39;

    /// `HVM_PARAM_CALLBACK_IRQ` encoding on ARM: type in bits 63:56, PPI flags in 15:8.
    pub const CALLBACK_TYPE_SHIFT: u32 = 56;
    pub const CALLBACK_TYPE_PPI: u64 = 2;
    pub const CALLBACK_PPI_FLAG_SHIFT: u32 = 8;
    pub const CALLBACK_PPI_FLAG_LOW_LEVEL: u64 = 2;
}

/// `platform_op` commands (`public/platform.h`).
pub mod xenpf {
    pub const INTERFACE_VERSION: u32 = 0x0300_0001;
    pub const SETTIME32: u32 = 17;
    pub const SETTIME64: u32 = 62;
}

/// `domctl` (`public/domctl.h` of Xen 4.17): the interface version, the
/// commands snowvisor answers (for Dom0 only) and their flags.
pub mod domctl {
    /// `XEN_DOMCTL_INTERFACE_VERSION` of Xen 4.17.
    pub const INTERFACE_VERSION: u32 = 0x0000_0015;
    pub const CREATEDOMAIN: u32 = 1;
    pub const GETDOMAININFO: u32 = 5;
    /// `XEN_DOMCTL_max_mem`: `struct xen_domctl_max_mem` (`max_memkb`).
    pub const MAX_MEM: u32 = 11;
    /// `XEN_DOMCTL_setdomainhandle`: the domain's 16-byte handle (UUID).
    pub const SETDOMAINHANDLE: u32 = 17;
    /// `XEN_DOMCTL_getvcpuinfo`: one vCPU's state and CPU time.
    pub const GETVCPUINFO: u32 = 14;
    /// `XEN_DOMCTL_getvcpuaffinity`: a vCPU's hard and soft affinity.
    pub const GETVCPUAFFINITY: u32 = 25;

    /// `XEN_VCPUAFFINITY_HARD` / `_SOFT` / `_FORCE`.
    pub const VCPUAFFINITY_HARD: u32 = 1 << 0;
    pub const VCPUAFFINITY_SOFT: u32 = 1 << 1;
    pub const VCPUAFFINITY_FORCE: u32 = 1 << 2;

    /// `XEN_SCHEDULER_*`: the scheduler ids of `sched_id` and cpupools.
    pub const SCHEDULER_CREDIT: u32 = 5;
    pub const TEST_ASSIGN_DEVICE: u32 = 45;
    pub const ASSIGN_DEVICE: u32 = 37;
    pub const DEASSIGN_DEVICE: u32 = 47;
    /// `XEN_DOMCTL_vm_event_op` (56; 60 is `XEN_DOMCTL_settscinfo`).
    pub const VM_EVENT_OP: u32 = 56;

    /// The commands `xl create` / `xl destroy` issue (`public/domctl.h`).
    pub const DESTROYDOMAIN: u32 = 2;
    pub const PAUSEDOMAIN: u32 = 3;
    pub const UNPAUSEDOMAIN: u32 = 4;
    pub const SETVCPUAFFINITY: u32 = 9;
    pub const SETVCPUCONTEXT: u32 = 12;
    /// `XEN_DOMCTL_max_vcpus`: still in 4.17; must repeat `createdomain`'s
    /// `max_vcpus` (the vCPUs are made then).
    pub const MAX_VCPUS: u32 = 15;
    pub const SCHEDULER_OP: u32 = 16;
    pub const SET_ADDRESS_SIZE: u32 = 35;
    pub const GET_ADDRESS_SIZE: u32 = 36;
    pub const SETNODEAFFINITY: u32 = 68;
    pub const GETNODEAFFINITY: u32 = 69;
    pub const CACHEFLUSH: u32 = 71;
    /// `XEN_DOMCTL_get_paging_mempool_size` / `_set_` (XSA-409, in 4.17).
    pub const GET_PAGING_MEMPOOL_SIZE: u32 = 85;
    pub const SET_PAGING_MEMPOOL_SIZE: u32 = 86;

    /// `XEN_DOMCTL_CDF_*`: `xen_domctl_createdomain.flags`.
    pub const CDF_HVM: u32 = 1 << 0;
    pub const CDF_HAP: u32 = 1 << 1;
    pub const CDF_S3_INTEGRITY: u32 = 1 << 2;
    pub const CDF_OOS_OFF: u32 = 1 << 3;
    pub const CDF_XS_DOMAIN: u32 = 1 << 4;
    pub const CDF_IOMMU: u32 = 1 << 5;
    pub const CDF_NESTED_VIRT: u32 = 1 << 6;
    pub const CDF_VPMU: u32 = 1 << 7;
    /// `XEN_DOMCTL_IOMMU_no_sharept`: `iommu_opts`.
    pub const IOMMU_NO_SHAREPT: u32 = 1 << 0;
    /// `XEN_DOMCTL_GRANT_version_mask`: `grant_opts`' low 4 bits.
    pub const GRANT_VERSION_MASK: u32 = 0xf;

    /// `XEN_DOMCTL_CONFIG_GIC_*` (`public/arch-arm.h`).
    pub const GIC_NATIVE: u8 = 0;
    pub const GIC_V2: u8 = 1;
    pub const GIC_V3: u8 = 2;
    /// `XEN_DOMCTL_CONFIG_TEE_NONE`.
    pub const TEE_NONE: u16 = 0;

    /// `XEN_DOMCTL_SCHEDOP_*`: `xen_domctl_scheduler_op.cmd`.
    pub const SCHEDOP_PUTINFO: u32 = 0;
    pub const SCHEDOP_GETINFO: u32 = 1;
    pub const SCHEDOP_PUTVCPUINFO: u32 = 2;
    pub const SCHEDOP_GETVCPUINFO: u32 = 3;

    /// `VGCF_online` (`public/arch-arm.h`): `vcpu_guest_context.flags`.
    pub const VGCF_ONLINE: u32 = 1 << 0;
    /// `PSR_MODE_*` (`public/arch-arm.h`) in a 32-bit CPSR's bits 4:0.
    pub const PSR_MODE_MASK: u32 = 0x1f;
    pub const PSR_MODE_USR: u32 = 0x10;
    pub const PSR_MODE_FIQ: u32 = 0x11;
    pub const PSR_MODE_IRQ: u32 = 0x12;
    pub const PSR_MODE_SVC: u32 = 0x13;
    pub const PSR_MODE_MON: u32 = 0x16;
    pub const PSR_MODE_ABT: u32 = 0x17;
    pub const PSR_MODE_HYP: u32 = 0x1a;
    pub const PSR_MODE_UND: u32 = 0x1b;
    pub const PSR_MODE_SYS: u32 = 0x1f;
}

/// `XEN_DOMINF_*` (`public/domctl.h`): `xen_domctl_getdomaininfo.flags`.
pub mod dominf {
    pub const DYING: u32 = 1 << 0;
    pub const HVM_GUEST: u32 = 1 << 1;
    pub const SHUTDOWN: u32 = 1 << 2;
    pub const PAUSED: u32 = 1 << 3;
    pub const BLOCKED: u32 = 1 << 4;
    pub const RUNNING: u32 = 1 << 5;
    pub const DEBUGGED: u32 = 1 << 6;
    pub const XS_DOMAIN: u32 = 1 << 7;
    pub const HAP: u32 = 1 << 8;
    /// The guest's `SHUTDOWN_*` code sits at bits 23:16.
    pub const SHUTDOWN_SHIFT: u32 = 16;
    pub const SHUTDOWN_MASK: u32 = 255;
    /// `XEN_INVALID_MAX_VCPU_ID`: `max_vcpu_id` of a domain without vCPUs.
    pub const INVALID_MAX_VCPU_ID: u32 = !0;
}

/// `sysctl` commands (`public/sysctl.h`) and snowvisor's own.
pub mod sysctl {
    /// `XEN_SYSCTL_INTERFACE_VERSION` of Xen 4.17 (its last bump).
    pub const INTERFACE_VERSION: u32 = 0x0000_0015;
    /// `XEN_SYSCTL_readconsole`: the hypervisor's console ring (snowvisor:
    /// this boot's RAM log).
    pub const READCONSOLE: u32 = 1;
    /// snowvisor's own: `xen_sysctl_readconsole` semantics over the RAM log
    /// of the boot before the last warm reboot. Far above Xen's numbers
    /// (which end below 64), so no Xen tool sends it by accident.
    pub const SNOWVISOR_READCONSOLE_PREVIOUS: u32 = 0x534e_0001;
    /// snowvisor's own: the exit counters (`stats.rs`) as `(class, key,
    /// count)` triples, struct `XenSysctlSnowvisorExits`.
    pub const SNOWVISOR_EXIT_STATS: u32 = 0x534e_0002;
    /// `XEN_SYSCTL_getdomaininfolist`: `xen_domctl_getdomaininfo` of each
    /// domain from `first_domain` on.
    pub const GETDOMAININFOLIST: u32 = 6;
    /// snowvisor's own: a domain's name (`XenSysctlSnowvisorDomainName`);
    /// Xen keeps names in xenstore, which a dom0less system may not run.
    pub const SNOWVISOR_DOMAIN_NAME: u32 = 0x534e_0003;
    /// `XEN_SYSCTL_physinfo`: CPUs, memory and capabilities of the host.
    pub const PHYSINFO: u32 = 3;
    /// `XEN_SYSCTL_sched_id`: the scheduler (`XEN_SCHEDULER_*`).
    pub const SCHED_ID: u32 = 4;
    /// `XEN_SYSCTL_debug_keys`: run debug keys as if typed on the console.
    pub const DEBUG_KEYS: u32 = 7;
    /// `XEN_SYSCTL_cputopoinfo`: core, socket and node of each CPU.
    pub const CPUTOPOINFO: u32 = 16;
    /// `XEN_SYSCTL_numainfo`: memory and distances of each NUMA node.
    pub const NUMAINFO: u32 = 17;
    /// `XEN_SYSCTL_cpupool_op`: CPU pools (`XEN_SYSCTL_CPUPOOL_OP_*`).
    pub const CPUPOOL_OP: u32 = 18;

    /// `XEN_SYSCTL_CPUPOOL_OP_*`.
    pub const CPUPOOL_OP_CREATE: u32 = 1;
    pub const CPUPOOL_OP_DESTROY: u32 = 2;
    pub const CPUPOOL_OP_INFO: u32 = 3;
    pub const CPUPOOL_OP_ADDCPU: u32 = 4;
    pub const CPUPOOL_OP_RMCPU: u32 = 5;
    pub const CPUPOOL_OP_MOVEDOMAIN: u32 = 6;
    pub const CPUPOOL_OP_FREEINFO: u32 = 7;

    /// `XEN_SYSCTL_PHYSCAP_*`: `physinfo.capabilities`.
    pub const PHYSCAP_HVM: u32 = 1 << 0;
    pub const PHYSCAP_HAP: u32 = 1 << 3;
    pub const PHYSCAP_GNTTAB_V1: u32 = 1 << 8;

    /// `XEN_INVALID_CORE_ID`, `_SOCKET_ID`, `_NODE_ID`: a CPU not present.
    pub const INVALID_TOPOLOGY_ID: u32 = !0;
}
