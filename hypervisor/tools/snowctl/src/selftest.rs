//! `snowctl selftest`: Dom0's view of snowvisor's Xen ABI. A grant round trip
//! (gntalloc grants a page to ourselves, gntdev maps it), an event-channel
//! round trip (evtchn: unbound port, interdomain bind to it, notify, read),
//! then hostile hypercalls through privcmd, each expecting its documented
//! error. One line per check:
//!
//!   snowctl selftest: <name>: PASS|FAIL (<detail>)
//!
//! and `snowctl selftest: N passed, M failed` at the end.

use std::io;

use crate::privcmd::{HcBuf, Privcmd};
use crate::xendev::{Evtchn, Granted, Mapped, Mapping, PAGE};
use crate::{errno_text, xen};

/// Dom0's domain id: what gntalloc grants to and evtchn binds to.
const DOM0: u16 = 0;

const EFAULT: i32 = 14;
const EINVAL: i32 = 22;
const ESRCH: i32 = 3;
const ENOSYS: i32 = 38;
const EACCES: i32 = 13;

/// `GNTST_*` of `public/grant_table.h`.
const GNTST_BAD_GNTREF: i16 = -3;
const GNTST_BAD_HANDLE: i16 = -4;
const GNTMAP_HOST_MAP: u32 = 1 << 1;

struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    fn check(&mut self, name: &str, r: Result<String, String>) {
        match r {
            Ok(d) => {
                self.passed += 1;
                println!("snowctl selftest: {name}: PASS ({d})");
            }
            Err(d) => {
                self.failed += 1;
                println!("snowctl selftest: {name}: FAIL ({d})");
            }
        }
    }

    /// A hypercall expected to fail with `-errno`.
    fn expect_err(&mut self, name: &str, r: io::Result<i32>, errno: i32) {
        let want = errno_text(&io::Error::from_raw_os_error(errno));
        let want = want.split(' ').next().unwrap_or("").to_string();
        self.check(
            name,
            match r {
                Err(e) if e.raw_os_error() == Some(errno) => Ok(want),
                Err(e) => Err(format!("expected {want}, got {}", errno_text(&e))),
                Ok(v) => Err(format!("expected {want}, got {v}")),
            },
        );
    }
}

fn io_err(what: &str) -> impl Fn(io::Error) -> String + '_ {
    move |e| format!("{what}: {}", errno_text(&e))
}

/// gntalloc grants a page to Dom0, gntdev maps that grant: the two mappings
/// must show the same bytes, written from either side.
fn grant_round_trip() -> Result<String, String> {
    let g = Granted::alloc(DOM0).map_err(io_err("gntalloc alloc_gref"))?;
    let gref = g.gref;
    let a = g.map.as_ref().ok_or("no gntalloc mapping")?;
    for i in 0..PAGE {
        a.write(i, (i as u8) ^ 0x5a);
    }
    let m = Mapped::map(DOM0.into(), gref).map_err(io_err("gntdev map_grant_ref/mmap"))?;
    let b = m.map.as_ref().ok_or("no gntdev mapping")?;
    if a.addr() == b.addr() {
        return Err("both mappings at the same address".into());
    }
    if let Some(i) = (0..PAGE).find(|&i| b.read(i) != (i as u8) ^ 0x5a) {
        return Err(format!(
            "gntalloc->gntdev: byte {i} is {:#x}, expected {:#x}",
            b.read(i),
            (i as u8) ^ 0x5a
        ));
    }
    for i in 0..PAGE {
        b.write(i, (i as u8).wrapping_mul(7).wrapping_add(3));
    }
    if let Some(i) = (0..PAGE).find(|&i| a.read(i) != (i as u8).wrapping_mul(7).wrapping_add(3)) {
        return Err(format!("gntdev->gntalloc: byte {i} is {:#x}", a.read(i)));
    }
    m.unmap().map_err(io_err("gntdev unmap"))?;
    g.dealloc().map_err(io_err("gntalloc dealloc_gref"))?;
    Ok(format!("gref {gref}, 4096 bytes each way, unmapped"))
}

/// An unbound port for Dom0, a second port bound to it, a notify on the
/// second: the event must arrive on the first.
fn evtchn_round_trip() -> Result<String, String> {
    let e = Evtchn::open().map_err(io_err("open /dev/xen/evtchn"))?;
    let remote = e
        .bind_unbound(DOM0.into())
        .map_err(io_err("bind_unbound_port"))?;
    let local = e
        .bind_interdomain(DOM0.into(), remote)
        .map_err(io_err(&format!("bind_interdomain to port {remote}")))
        .map_err(|m| format!("{m} (unbound port {remote})"))?;
    e.notify(local).map_err(io_err("notify"))?;
    // Xen raises the new local port on an interdomain bind (an event may
    // have been sent before it): that one may come first.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        match e.wait(2000).map_err(io_err("read"))? {
            Some(p) if p == remote => {
                let _ = e.unbind(local);
                let _ = e.unbind(remote);
                return Ok(format!(
                    "port {local} -> port {remote}, read {:?}",
                    [seen.as_slice(), &[p]].concat()
                ));
            }
            Some(p) => seen.push(p),
            None => break,
        }
    }
    Err(format!(
        "notify on port {local}: no event on port {remote} within 2 s (read {seen:?})"
    ))
}

/// `struct gnttab_map_grant_ref` (32 bytes): host_addr, flags, ref, dom,
/// status (out), handle (out), dev_bus_addr (out).
fn map_grant_op(host_addr: u64, gref: u32, dom: u16) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0..8].copy_from_slice(&host_addr.to_le_bytes());
    b[8..12].copy_from_slice(&GNTMAP_HOST_MAP.to_le_bytes());
    b[12..16].copy_from_slice(&gref.to_le_bytes());
    b[16..18].copy_from_slice(&dom.to_le_bytes());
    b
}

/// `struct gnttab_unmap_grant_ref` (24 bytes): host_addr, dev_bus_addr,
/// handle, status (out).
fn unmap_grant_op(host_addr: u64, handle: u32) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[0..8].copy_from_slice(&host_addr.to_le_bytes());
    b[16..20].copy_from_slice(&handle.to_le_bytes());
    b
}

/// A grant op's `status` field.
fn status_at(b: &[u8], at: usize) -> i16 {
    i16::from_le_bytes([b[at], b[at + 1]])
}

/// A batch-of-one grant op whose per-op status is checked: the call returns
/// 0 and writes `want` into the op's status.
fn grant_status(
    p: &Privcmd,
    cmd: u64,
    op: &[u8],
    status_off: usize,
    want: i16,
) -> Result<String, String> {
    let mut b = HcBuf::new(op.len());
    b.bytes_mut().copy_from_slice(op);
    b.bytes_mut()[status_off..status_off + 2].copy_from_slice(&0x7777u16.to_le_bytes());
    let r = p
        .hypercall(xen::GRANT_TABLE_OP, [cmd, b.addr(), 1, 0, 0])
        .map_err(|e| format!("call failed: {}", errno_text(&e)))?;
    let s = status_at(b.bytes(), status_off);
    if r == 0 && s == want {
        Ok(format!("returned 0, status {s}"))
    } else {
        Err(format!("returned {r}, status {s}, expected 0 and {want}"))
    }
}

fn hostile(p: &Privcmd, t: &mut Report) {
    let hc = |op: u32, a: [u64; 5]| p.hypercall(op, a);
    let extra = xen::XENVER_EXTRAVERSION;
    t.expect_err(
        "xen_version extraversion NULL",
        hc(xen::XEN_VERSION, [extra, 0, 0, 0, 0]),
        EFAULT,
    );
    t.expect_err(
        "xen_version extraversion unmapped 0x1000",
        hc(xen::XEN_VERSION, [extra, 0x1000, 0, 0, 0]),
        EFAULT,
    );
    match Mapping::read_only() {
        Ok(ro) => t.expect_err(
            "xen_version extraversion read-only page",
            hc(xen::XEN_VERSION, [extra, ro.addr(), 0, 0, 0]),
            EFAULT,
        ),
        Err(e) => t.check(
            "xen_version extraversion read-only page",
            Err(format!("mmap: {}", errno_text(&e))),
        ),
    }
    // The vector page: kernel space, read-only to the kernel too. (Writable
    // kernel addresses such as 0xc0000000 are Dom0's own memory: an HVC
    // comes from PL1 either way, so the hypervisor cannot tell privcmd's
    // calls from the kernel's, and Xen would write there as well.)
    t.expect_err(
        "xen_version extraversion kernel read-only 0xffff0000",
        hc(xen::XEN_VERSION, [extra, 0xffff_0000, 0, 0, 0]),
        EFAULT,
    );
    t.expect_err(
        "xen_version get_features unmapped 0x1000",
        hc(
            xen::XEN_VERSION,
            [xen::XENVER_GET_FEATURES, 0x1000, 0, 0, 0],
        ),
        EFAULT,
    );
    t.expect_err(
        "xen_version unknown command",
        hc(xen::XEN_VERSION, [0x7fff, 0, 0, 0, 0]),
        ENOSYS,
    );
    // Out-of-range ref: GNTST_bad_gntref, nothing mapped (the ref is
    // checked before the host address is used).
    t.check(
        "grant_table_op map_grant_ref bad ref",
        grant_status(
            p,
            xen::GNTTABOP_MAP_GRANT_REF,
            &map_grant_op(0, 0xffff_ffff, xen::DOMID_SELF),
            18,
            GNTST_BAD_GNTREF,
        ),
    );
    t.check(
        "grant_table_op unmap_grant_ref bad handle",
        grant_status(
            p,
            xen::GNTTABOP_UNMAP_GRANT_REF,
            &unmap_grant_op(0x1000, 0xffff_ffff),
            20,
            GNTST_BAD_HANDLE,
        ),
    );
    t.expect_err(
        "grant_table_op map_grant_ref unmapped 0x1000",
        hc(
            xen::GRANT_TABLE_OP,
            [xen::GNTTABOP_MAP_GRANT_REF, 0x1000, 1, 0, 0],
        ),
        EFAULT,
    );
    t.expect_err(
        "grant_table_op query_size unmapped 0x1000",
        hc(
            xen::GRANT_TABLE_OP,
            [xen::GNTTABOP_QUERY_SIZE, 0x1000, 1, 0, 0],
        ),
        EFAULT,
    );
    t.expect_err(
        "grant_table_op unknown command",
        hc(xen::GRANT_TABLE_OP, [0x7fff, 0, 0, 0, 0]),
        ENOSYS,
    );
    let port_op = |port: u32| {
        let mut b = HcBuf::new(4);
        b.bytes_mut().copy_from_slice(&port.to_le_bytes());
        b
    };
    let bad = port_op(0x7fff_ffff);
    t.expect_err(
        "event_channel_op close invalid port",
        hc(
            xen::EVENT_CHANNEL_OP,
            [xen::EVTCHNOP_CLOSE, bad.addr(), 0, 0, 0],
        ),
        EINVAL,
    );
    t.expect_err(
        "event_channel_op send invalid port",
        hc(
            xen::EVENT_CHANNEL_OP,
            [xen::EVTCHNOP_SEND, bad.addr(), 0, 0, 0],
        ),
        EINVAL,
    );
    t.expect_err(
        "event_channel_op close reserved port 0",
        hc(
            xen::EVENT_CHANNEL_OP,
            [xen::EVTCHNOP_CLOSE, port_op(0).addr(), 0, 0, 0],
        ),
        EINVAL,
    );
    t.expect_err(
        "event_channel_op alloc_unbound unmapped 0x1000",
        hc(
            xen::EVENT_CHANNEL_OP,
            [xen::EVTCHNOP_ALLOC_UNBOUND, 0x1000, 0, 0, 0],
        ),
        EFAULT,
    );
    t.expect_err(
        "event_channel_op unknown command",
        hc(xen::EVENT_CHANNEL_OP, [0x7fff, bad.addr(), 0, 0, 0]),
        ENOSYS,
    );
    // memory_op's page counts: Xen 4.17 checks the start extent, then
    // copies the xen_memory_domain, then looks the domain up.
    let mut dom = HcBuf::new(2);
    dom.bytes_mut().copy_from_slice(&1u16.to_le_bytes());
    for (name, cmd) in [
        ("current_reservation", xen::XENMEM_CURRENT_RESERVATION),
        ("maximum_reservation", xen::XENMEM_MAXIMUM_RESERVATION),
    ] {
        t.expect_err(
            &format!("memory_op {name} no domain 1"),
            hc(xen::MEMORY_OP, [cmd, dom.addr(), 0, 0, 0]),
            ESRCH,
        );
        t.expect_err(
            &format!("memory_op {name} unmapped 0x1000"),
            hc(xen::MEMORY_OP, [cmd, 0x1000, 0, 0, 0]),
            EFAULT,
        );
        t.expect_err(
            &format!("memory_op {name} with a start extent"),
            hc(xen::MEMORY_OP, [cmd | 1 << 6, dom.addr(), 0, 0, 0]),
            EINVAL,
        );
    }
    t.expect_err(
        "hvm_op get_param unmapped 0x1000",
        hc(xen::HVM_OP, [xen::HVMOP_GET_PARAM, 0x1000, 0, 0, 0]),
        EFAULT,
    );
    t.expect_err(
        "console_io write unmapped 0x1000",
        hc(xen::CONSOLE_IO, [xen::CONSOLEIO_WRITE, 16, 0x1000, 0, 0]),
        EFAULT,
    );
    let mut sysctl = HcBuf::new(xen::SYSCTL_SIZE);
    sysctl.bytes_mut()[0..4].copy_from_slice(&xen::SYSCTL_READCONSOLE.to_le_bytes());
    sysctl.bytes_mut()[4..8].copy_from_slice(&0x0bad_u32.to_le_bytes());
    t.expect_err(
        "sysctl wrong interface version",
        hc(xen::SYSCTL, [sysctl.addr(), 0, 0, 0, 0]),
        EACCES,
    );
    for op in [47u32, 1000, 0xffff_ffff] {
        t.expect_err(&format!("unknown hypercall {op}"), hc(op, [0; 5]), ENOSYS);
    }
}

/// Runs every check; `Ok` when all passed.
pub fn run(p: &Privcmd) -> Result<(), (u32, u32)> {
    let mut t = Report {
        passed: 0,
        failed: 0,
    };
    t.check("grant round trip (gntalloc/gntdev)", grant_round_trip());
    t.check("event channel round trip (evtchn)", evtchn_round_trip());
    hostile(p, &mut t);
    // Still alive and answering after all that.
    t.check(
        "xen_version after hostile calls",
        p.hypercall(xen::XEN_VERSION, [xen::XENVER_VERSION, 0, 0, 0, 0])
            .map(|v| format!("Xen {}.{}", v >> 16, v & 0xffff))
            .map_err(|e| errno_text(&e)),
    );
    println!("snowctl selftest: {} passed, {} failed", t.passed, t.failed);
    if t.failed == 0 {
        Ok(())
    } else {
        Err((t.passed, t.failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_op_layouts() {
        let m = map_grant_op(0x1000, 7, xen::DOMID_SELF);
        assert_eq!(&m[8..12], &[2, 0, 0, 0]);
        assert_eq!(&m[12..16], &[7, 0, 0, 0]);
        assert_eq!(&m[16..18], &[0xf0, 0x7f]);
        let u = unmap_grant_op(0x2000, 5);
        assert_eq!(&u[16..20], &[5, 0, 0, 0]);
        assert_eq!(status_at(&[0, 0, 0xfd, 0xff], 2), -3);
    }
}
