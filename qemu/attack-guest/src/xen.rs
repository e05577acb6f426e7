//! Xen's privileged interfaces, called from an unprivileged DomU on Dom0
//! (domid 0) and on what the guest does not own. Numbers and layouts from
//! Xen 4.17's public headers (`xen/include/public/`: xen.h, domctl.h,
//! sysctl.h, platform.h, physdev.h, memory.h, grant_table.h,
//! event_channel.h, sched.h, hvm/hvm_op.h, hvm/params.h, vcpu.h), written
//! here independently of snowvisor's own copy, and what Xen 4.17 answers
//! a DomU (the XSM dummy policy: `xsm/dummy.h`): the "documented error".

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::console::Line;
use crate::probe::{self, Outcome};
use crate::report::{self, Report, Verdict};

// Hypercall numbers (xen.h).
const PLATFORM_OP: u32 = 7;
const MEMORY_OP: u32 = 12;
const XEN_VERSION: u32 = 17;
const CONSOLE_IO: u32 = 18;
const GRANT_TABLE_OP: u32 = 20;
const VCPU_OP: u32 = 24;
const XSM_OP: u32 = 27;
const SCHED_OP: u32 = 29;
const EVENT_CHANNEL_OP: u32 = 32;
const PHYSDEV_OP: u32 = 33;
const HVM_OP: u32 = 34;
const SYSCTL: u32 = 35;
const DOMCTL: u32 = 36;
const KEXEC_OP: u32 = 37;
const DM_OP: u32 = 41;

// errno.h (Xen's public copy).
const EPERM: i32 = -1;
const ENOENT: i32 = -2;
const EINVAL: i32 = -22;
const ENOSYS: i32 = -38;

// grant_table.h GNTST_*.
const GNTST_GENERAL_ERROR: i32 = -1;
const GNTST_BAD_GNTREF: i32 = -3;
const GNTST_BAD_HANDLE: i32 = -4;
const GNTST_PERMISSION_DENIED: i32 = -8;

const DOM0: u16 = 0;
/// xen.h DOMID_SELF.
const DOMID_SELF: u16 = 0x7ff0;

/// A hypercall argument in the guest's memory (VA = IPA), 8-byte aligned
/// as Xen's 64-bit guest handles need.
#[repr(C, align(8))]
struct Buf([u8; 64]);

impl Buf {
    fn new() -> Self {
        Buf([0; 64])
    }
    fn u16(&mut self, off: usize, v: u16) -> &mut Self {
        self.0[off..off + 2].copy_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_le_bytes());
        self
    }
    fn i16_at(&self, off: usize) -> i32 {
        // SAFETY: a volatile read: Xen wrote it behind the compiler's back.
        let b = unsafe { core::ptr::read_volatile(self.0.as_ptr().add(off) as *const [u8; 2]) };
        i32::from(i16::from_le_bytes(b))
    }
    fn i32_at(&self, off: usize) -> i32 {
        // SAFETY: as above.
        let b = unsafe { core::ptr::read_volatile(self.0.as_ptr().add(off) as *const [u8; 4]) };
        i32::from_le_bytes(b)
    }
    fn ptr(&self) -> u32 {
        self.0.as_ptr() as u32
    }
}

/// Xen 4.17's -EPERM, or -ENOSYS from a hypervisor that implements the
/// operation for no domain at all (snowvisor: XENMEM_remove_from_physmap,
/// XENMEM_acquire_resource, EVTCHNOP_reset, SCHEDOP_remote_shutdown,
/// SCHEDOP_pin_override): refused either way.
const UNIMPLEMENTED: &[i32] = &[EPERM, ENOSYS];

/// A page of the guest's own RAM to name as a target GFN (never mapped over).
#[repr(C, align(4096))]
struct Page([u8; 4096]);
static mut SCRATCH: Page = Page([0; 4096]);

fn scratch_gfn() -> u64 {
    u64::from(core::ptr::addr_of!(SCRATCH) as u32) >> 12
}

/// Whether the domain has no hypercall interface at all (`xen_version`
/// answers -ENOSYS): then every call must be refused with -ENOSYS.
static NO_XEN: AtomicBool = AtomicBool::new(false);

/// What a refused call must answer: `want`, or -ENOSYS without Xen.
fn expected(want: &[i32]) -> &[i32] {
    if NO_XEN.load(Ordering::Relaxed) {
        &[ENOSYS]
    } else {
        want
    }
}

fn call(r: &mut Report, group: &str, name: &str, op: u32, args: [u32; 5], want: &[i32]) {
    let want = expected(want);
    let o = probe::xen(op, args);
    let mut l = Line::new();
    let v = report::call(&o, want, false, &mut l);
    r.case(
        group,
        format_args!("{name}"),
        v,
        format_args!("{}", l.as_str()),
    );
}

/// A grant-table op with one `struct` whose int16 status is at `status`:
/// refused if the call fails or the status is one of `want`.
fn gnttab(r: &mut Report, name: &str, cmd: u32, b: &Buf, status: usize, want: &[i32]) {
    let o = probe::xen(GRANT_TABLE_OP, [cmd, b.ptr(), 1, 0, 0]);
    let mut l = Line::new();
    let v = match o {
        Outcome::Returned(x) if x[0] == 0 => {
            let st = b.i16_at(status);
            let _ = write!(l, "r0 0 status {st}");
            if want.contains(&st) {
                Verdict::Refused
            } else if st < 0 {
                let _ = write!(l, " (want {want:?})");
                Verdict::Wrong
            } else {
                Verdict::Breach
            }
        }
        o => report::call(&o, expected(&[EPERM, EINVAL, ENOSYS]), false, &mut l),
    };
    r.case(
        "gnttab",
        format_args!("{name}"),
        v,
        format_args!("{}", l.as_str()),
    );
}

fn domctl(r: &mut Report) {
    /// domctl.h XEN_DOMCTL_INTERFACE_VERSION in 4.17.
    const VERSION: u32 = 0x15;
    for (name, cmd, dom) in [
        ("createdomain", 1, 0),
        ("destroydomain-dom0", 2, DOM0),
        ("pausedomain-dom0", 3, DOM0),
        ("getdomaininfo-dom0", 5, DOM0),
        ("max_mem-dom0", 11, DOM0),
        ("pausedomain-self", 3, 1),
    ] {
        let mut b = Buf::new();
        b.u32(0, cmd).u32(4, VERSION).u16(8, dom);
        // xen_domctl_max_mem.max_memkb: leave nothing to chance.
        b.u64(16, 1 << 40);
        call(r, "domctl", name, DOMCTL, [b.ptr(), 0, 0, 0, 0], &[EPERM]);
    }
}

fn sysctl(r: &mut Report) {
    /// sysctl.h XEN_SYSCTL_INTERFACE_VERSION in 4.17.
    const VERSION: u32 = 0x15;
    static mut OUT: Page = Page([0; 4096]);
    let out = core::ptr::addr_of_mut!(OUT) as u32;
    for (name, cmd) in [
        ("readconsole", 1),
        ("physinfo", 3),
        ("getdomaininfolist", 6),
    ] {
        let mut b = Buf::new();
        b.u32(0, cmd).u32(4, VERSION);
        // readconsole: buffer handle at u+8, count at u+16;
        // getdomaininfolist: first_domain, max_domains, buffer at u+8.
        b.u32(12, 16).u64(16, u64::from(out)).u32(24, 256);
        call(r, "sysctl", name, SYSCTL, [b.ptr(), 0, 0, 0, 0], &[EPERM]);
    }
}

fn platform_op(r: &mut Report) {
    /// platform.h XENPF_INTERFACE_VERSION.
    const VERSION: u32 = 0x0300_0001;
    for (name, cmd) in [("settime32", 17), ("settime64", 62), ("cpu_offline", 57)] {
        let mut b = Buf::new();
        b.u32(0, cmd).u32(4, VERSION);
        call(
            r,
            "platform_op",
            name,
            PLATFORM_OP,
            [b.ptr(), 0, 0, 0, 0],
            &[EPERM],
        );
    }
}

fn physdev(r: &mut Report) {
    // Xen 4.17 on Arm has no PCI passthrough: -ENOSYS for every command;
    // snowvisor refuses devices a domain does not own with -EPERM.
    let mut b = Buf::new();
    // physdev_map_pirq: domid 0, type MAP_PIRQ_TYPE_GSI (1), index 33.
    b.u16(0, DOM0).u32(4, 1).u32(8, 33).u32(12, 33);
    call(
        r,
        "physdev",
        "map_pirq-dom0",
        PHYSDEV_OP,
        [13, b.ptr(), 0, 0, 0],
        &[EPERM, ENOSYS],
    );
    let mut b = Buf::new();
    b.u32(0, 33);
    call(
        r,
        "physdev",
        "eoi",
        PHYSDEV_OP,
        [12, b.ptr(), 0, 0, 0],
        &[EPERM, ENOSYS],
    );
    let mut b = Buf::new();
    // physdev_pci_device_add: seg 0, bus 0, devfn 8.
    b.u16(0, 0).u8_(2, 0).u8_(3, 8);
    call(
        r,
        "physdev",
        "pci_device_add",
        PHYSDEV_OP,
        [25, b.ptr(), 0, 0, 0],
        &[EPERM, ENOSYS],
    );
}

impl Buf {
    fn u8_(&mut self, off: usize, v: u8) -> &mut Self {
        self.0[off] = v;
        self
    }
}

fn memory_op(r: &mut Report) {
    let gfn = scratch_gfn();
    // XENMEM_add_to_physmap_batch (23), XENMAPSPACE_gmfn_foreign (4):
    // Dom0's page 0x40a00 (its first) into our scratch page. Xen answers in
    // the per-page error (memory.h: errs) with -EPERM, or fails the call.
    static mut IDX: u64 = 0x40a00;
    static mut GPFN: u64 = 0;
    static mut ERR: i32 = 0;
    // SAFETY: single-threaded guest; Xen reads and writes these.
    unsafe {
        GPFN = gfn;
        ERR = 0;
    }
    let mut b = Buf::new();
    b.u16(0, DOMID_SELF)
        .u16(2, 4)
        .u16(4, 1)
        .u16(6, DOM0)
        .u64(8, u64::from(core::ptr::addr_of!(IDX) as u32))
        .u64(16, u64::from(core::ptr::addr_of!(GPFN) as u32))
        .u64(24, u64::from(core::ptr::addr_of!(ERR) as u32));
    let o = probe::xen(MEMORY_OP, [23, b.ptr(), 0, 0, 0]);
    let mut l = Line::new();
    let v = match o {
        Outcome::Returned(x) if x[0] == 0 => {
            // SAFETY: written by Xen.
            let e = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(ERR)) };
            let _ = write!(l, "r0 0 errs[0] {e}");
            match e {
                EPERM => Verdict::Refused,
                e if e < 0 => Verdict::Wrong,
                _ => Verdict::Breach,
            }
        }
        o => report::call(&o, expected(&[EPERM]), false, &mut l),
    };
    r.case(
        "memory_op",
        format_args!("map-foreign-dom0"),
        v,
        format_args!("{}", l.as_str()),
    );

    // XENMEM_add_to_physmap (7) on Dom0's physmap: its shared-info page.
    let mut b = Buf::new();
    b.u16(0, DOM0).u16(2, 1).u32(4, 0).u64(8, 0).u64(16, gfn);
    call(
        r,
        "memory_op",
        "add_to_physmap-dom0",
        MEMORY_OP,
        [7, b.ptr(), 0, 0, 0],
        &[EPERM],
    );
    // xen_memory_reservation on Dom0: decrease (1), populate (6).
    static mut EXTENT: u64 = 0x40a00;
    for (name, cmd) in [
        ("decrease_reservation-dom0", 1),
        ("populate_physmap-dom0", 6),
    ] {
        let mut b = Buf::new();
        b.u64(0, u64::from(core::ptr::addr_of!(EXTENT) as u32))
            .u64(8, 1)
            .u32(16, 0)
            .u32(20, 0)
            .u16(24, DOM0);
        call(
            r,
            "memory_op",
            name,
            MEMORY_OP,
            [cmd, b.ptr(), 0, 0, 0],
            &[EPERM],
        );
    }
    // Dom0's reservation: current (3), maximum (4); the argument is a domid_t.
    for (name, cmd) in [
        ("current_reservation-dom0", 3),
        ("maximum_reservation-dom0", 4),
    ] {
        let mut b = Buf::new();
        b.u16(0, DOM0);
        call(
            r,
            "memory_op",
            name,
            MEMORY_OP,
            [cmd, b.ptr(), 0, 0, 0],
            &[EPERM],
        );
    }
    // XENMEM_remove_from_physmap (15): Dom0's first page.
    let mut b = Buf::new();
    b.u16(0, DOM0).u64(8, 0x40a00);
    call(
        r,
        "memory_op",
        "remove_from_physmap-dom0",
        MEMORY_OP,
        [15, b.ptr(), 0, 0, 0],
        UNIMPLEMENTED,
    );
    // XENMEM_acquire_resource (28): Dom0's grant table (type 1) into our page.
    static mut FRAME: u64 = 0;
    // SAFETY: single-threaded guest.
    unsafe { FRAME = gfn };
    let mut b = Buf::new();
    b.u16(0, DOM0)
        .u16(2, 1)
        .u32(4, 0)
        .u32(8, 1)
        .u64(16, 0)
        .u64(24, u64::from(core::ptr::addr_of!(FRAME) as u32));
    call(
        r,
        "memory_op",
        "acquire_resource-dom0",
        MEMORY_OP,
        [28, b.ptr(), 0, 0, 0],
        UNIMPLEMENTED,
    );
}

/// A copy naming another domain's frame by GFN: Xen 4.17's
/// `gnttab_copy_lock_domain` says GNTST_permission_denied; snowvisor answers
/// GNTST_general_error. Both refuse.
const COPY_BY_GFN: &[i32] = &[GNTST_PERMISSION_DENIED, GNTST_GENERAL_ERROR];

fn grant_table(r: &mut Report) {
    let host_addr = scratch_gfn() << 12;
    // gnttab_map_grant_ref: host_addr, flags GNTMAP_host_map (1), ref, dom;
    // status at 18. Refs Dom0 did not grant us: "bad flags or dom"
    // (general error), or past its table (bad gntref).
    for (name, gref) in [
        ("map-dom0-ref0", 0u32),
        ("map-dom0-ref8", 8),
        ("map-dom0-ref9", 9),
        ("map-dom0-ref511", 511),
        ("map-dom0-ref-max", 0xffff_ffff),
    ] {
        let mut b = Buf::new();
        b.u64(0, host_addr).u32(8, 1).u32(12, gref).u16(16, DOM0);
        gnttab(
            r,
            name,
            0,
            &b,
            18,
            &[
                GNTST_GENERAL_ERROR,
                GNTST_BAD_GNTREF,
                GNTST_PERMISSION_DENIED,
            ],
        );
    }
    // gnttab_unmap_grant_ref: a handle never given; status at 20.
    for (name, handle) in [("unmap-handle0", 0u32), ("unmap-handle-max", 0xffff_ffff)] {
        let mut b = Buf::new();
        b.u64(0, host_addr).u32(16, handle);
        gnttab(r, name, 1, &b, 20, &[GNTST_BAD_HANDLE]);
    }
    // gnttab_setup_table for Dom0: status at 8, frame list handle at 16.
    static mut FRAMES: [u64; 4] = [0; 4];
    let mut b = Buf::new();
    b.u16(0, DOM0)
        .u32(4, 4)
        .u64(16, u64::from(core::ptr::addr_of!(FRAMES) as u32));
    gnttab(r, "setup_table-dom0", 2, &b, 8, &[GNTST_PERMISSION_DENIED]);
    // gnttab_copy: from Dom0's frame 0x40a00 (flags 0: a GFN, not a ref),
    // then from Dom0's ref 8 (GNTCOPY_source_gref), into our page; status at 36.
    for (name, src, flags, want) in [
        ("copy-from-dom0-gfn", 0x40a00u64, 0u16, COPY_BY_GFN),
        (
            "copy-from-dom0-ref8",
            8,
            1,
            &[
                GNTST_GENERAL_ERROR,
                GNTST_BAD_GNTREF,
                GNTST_PERMISSION_DENIED,
            ][..],
        ),
    ] {
        let mut b = Buf::new();
        b.u64(0, src)
            .u16(8, DOM0)
            .u16(10, 0)
            .u64(16, scratch_gfn())
            .u16(24, DOMID_SELF)
            .u16(26, 0)
            .u16(32, 64)
            .u16(34, flags);
        gnttab(r, name, 5, &b, 36, want);
    }
    // gnttab_copy into Dom0's frame (the destination side).
    let mut b = Buf::new();
    b.u64(0, scratch_gfn())
        .u16(8, DOMID_SELF)
        .u64(16, 0x40a00)
        .u16(24, DOM0)
        .u16(32, 64);
    gnttab(r, "copy-to-dom0-gfn", 5, &b, 36, COPY_BY_GFN);
    // gnttab_query_size for Dom0: status at 12.
    let mut b = Buf::new();
    b.u16(0, DOM0);
    gnttab(r, "query_size-dom0", 6, &b, 12, &[GNTST_PERMISSION_DENIED]);
}

fn event_channels(r: &mut Report) {
    // Our own ports first (EVTCHNOP_status, 5, on DOMID_SELF): a port we
    // hold is not attacked. evtchn_status: dom, port, status at 8.
    let mut ours = [false; 8];
    for (p, own) in ours.iter_mut().enumerate() {
        let mut b = Buf::new();
        b.u16(0, DOMID_SELF).u32(4, p as u32);
        if let Outcome::Returned(x) = probe::xen(EVENT_CHANNEL_OP, [5, b.ptr(), 0, 0, 0]) {
            *own = x[0] == 0 && b.i32_at(8) != 0;
        }
    }
    for port in [1u32, 2, 3, 4, 5, 6, 7, 1023, 4095, 0xffff_ffff] {
        if ours.get(port as usize).copied().unwrap_or(false) {
            r.case(
                "evtchn",
                format_args!("port{port}"),
                Verdict::Own,
                format_args!("bound in this domain"),
            );
            continue;
        }
        // evtchn_send (4), evtchn_close (3): the port; evtchn_bind_vcpu (8):
        // the port, vCPU 0.
        let mut b = Buf::new();
        b.u32(0, port);
        for (op, cmd) in [("send", 4), ("close", 3), ("bind_vcpu", 8)] {
            let mut n = Line::new();
            let _ = write!(n, "{op}-port{port}");
            let args = [cmd, b.ptr(), 0, 0, 0];
            call(r, "evtchn", n.as_str(), EVENT_CHANNEL_OP, args, &[EINVAL]);
        }
    }
    let mut b = Buf::new();
    b.u32(0, 0xffff_0000);
    call(
        r,
        "evtchn",
        "unmask-port-out-of-range",
        EVENT_CHANNEL_OP,
        [9, b.ptr(), 0, 0, 0],
        &[EINVAL],
    );
    for port in [1u32, 2, 3] {
        // Dom0's ports: status (5), bind_interdomain (0) to one not offered to us.
        let mut b = Buf::new();
        b.u16(0, DOM0).u32(4, port);
        let mut n = Line::new();
        let _ = write!(n, "status-dom0-port{port}");
        call(
            r,
            "evtchn",
            n.as_str(),
            EVENT_CHANNEL_OP,
            [5, b.ptr(), 0, 0, 0],
            &[EPERM],
        );
        let mut b = Buf::new();
        b.u16(0, DOM0).u32(4, port);
        let mut n = Line::new();
        let _ = write!(n, "bind_interdomain-dom0-port{port}");
        call(
            r,
            "evtchn",
            n.as_str(),
            EVENT_CHANNEL_OP,
            [0, b.ptr(), 0, 0, 0],
            &[EINVAL],
        );
    }
    // evtchn_alloc_unbound in Dom0's table (dom 0, remote us); reset (10) Dom0's.
    let mut b = Buf::new();
    b.u16(0, DOM0).u16(2, DOMID_SELF);
    call(
        r,
        "evtchn",
        "alloc_unbound-in-dom0",
        EVENT_CHANNEL_OP,
        [6, b.ptr(), 0, 0, 0],
        &[EPERM],
    );
    let mut b = Buf::new();
    b.u16(0, DOM0);
    call(
        r,
        "evtchn",
        "reset-dom0",
        EVENT_CHANNEL_OP,
        [10, b.ptr(), 0, 0, 0],
        UNIMPLEMENTED,
    );
}

fn others(r: &mut Report) {
    // sched_remote_shutdown (SCHEDOP_remote_shutdown 4): Dom0, SHUTDOWN_poweroff.
    let mut b = Buf::new();
    b.u16(0, DOM0).u32(4, 0);
    call(
        r,
        "sched_op",
        "remote_shutdown-dom0",
        SCHED_OP,
        [4, b.ptr(), 0, 0, 0],
        UNIMPLEMENTED,
    );
    // SCHEDOP_pin_override (7): the hardware domain's only.
    let mut b = Buf::new();
    b.u32(0, 0);
    call(
        r,
        "sched_op",
        "pin_override",
        SCHED_OP,
        [7, b.ptr(), 0, 0, 0],
        UNIMPLEMENTED,
    );
    // xen_hvm_param on Dom0: set (0) HVM_PARAM_CALLBACK_IRQ (0), get (1)
    // HVM_PARAM_STORE_PFN (1).
    for (name, cmd, index) in [("set_param-dom0", 0, 0), ("get_param-dom0", 1, 1)] {
        let mut b = Buf::new();
        b.u16(0, DOM0).u32(4, index).u64(8, 0x0300_0000_0000_001f);
        call(r, "hvm_op", name, HVM_OP, [cmd, b.ptr(), 0, 0, 0], &[EPERM]);
    }
    // CONSOLEIO_read (1): Xen 4.17 makes every dom0less DomU a console
    // domain (`d->is_console`), reading its own input: never Dom0's, which
    // the console gives Dom0 while it has the focus. Nothing was typed for
    // this domain, so nothing may come back.
    static mut IN: Page = Page([0; 4096]);
    let buf = core::ptr::addr_of_mut!(IN) as u32;
    let o = probe::xen(CONSOLE_IO, [1, 64, buf, 0, 0]);
    let mut l = Line::new();
    let v = match o {
        Outcome::Returned(x) if x[0] == 0 => {
            let _ = write!(l, "r0 0 (its own input, empty)");
            Verdict::Own
        }
        o => report::call(&o, expected(&[EPERM]), false, &mut l),
    };
    r.case(
        "console_io",
        format_args!("read"),
        v,
        format_args!("{}", l.as_str()),
    );
    // VCPUOP_register_vcpu_info (10), register_runstate_memory_area (5) for
    // a vCPU this domain does not have.
    let mut b = Buf::new();
    b.u64(0, scratch_gfn()).u32(8, 0);
    call(
        r,
        "vcpu_op",
        "register_vcpu_info-vcpu7",
        VCPU_OP,
        [10, 7, b.ptr(), 0, 0],
        &[ENOENT],
    );
    call(
        r,
        "vcpu_op",
        "register_runstate-vcpu7",
        VCPU_OP,
        [5, 7, b.ptr(), 0, 0],
        &[ENOENT],
    );
    // Interfaces Xen on Arm does not have (XSM without FLASK, kexec, the
    // device model's dm_op without ioreq servers): -ENOSYS, or -EPERM.
    call(
        r,
        "xsm_op",
        "flask",
        XSM_OP,
        [b.ptr(), 0, 0, 0, 0],
        &[ENOSYS, EPERM],
    );
    call(
        r,
        "kexec_op",
        "load",
        KEXEC_OP,
        [1, b.ptr(), 0, 0, 0],
        &[ENOSYS, EPERM],
    );
    call(r, "dm_op", "dom0", DM_OP, [0, 0, 0, 0, 0], &[ENOSYS, EPERM]);
}

/// Every hypercall attack.
pub fn run(r: &mut Report) {
    // XENVER_version (0): the interface is there, or every call is -ENOSYS.
    match probe::xen(XEN_VERSION, [0, 0, 0, 0, 0]) {
        Outcome::Returned(x) if x[0] as i32 == ENOSYS => {
            NO_XEN.store(true, Ordering::Relaxed);
            crate::say!(
                "xen: no hypercall interface (xen_version: -38): every call must be -ENOSYS"
            );
        }
        Outcome::Returned(x) => crate::say!("xen: Xen {}.{}", x[0] >> 16, x[0] & 0xffff),
        Outcome::Took(e) => crate::say!("xen: xen_version took {}", e.vector.name()),
    }
    domctl(r);
    sysctl(r);
    platform_op(r);
    physdev(r);
    memory_op(r);
    grant_table(r);
    event_channels(r);
    others(r);
}
