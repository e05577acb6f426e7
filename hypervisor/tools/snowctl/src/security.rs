//! `snowctl domu-security`: run in a boot-time DomU connected to xenstore
//! (`xen,enhanced = "enabled"`, introduced by Xen 4.17's `init-dom0less`),
//! it tries what an unprivileged domain must not do and checks each answer
//! against the one Xen 4.17 (its dummy XSM policy) and its C xenstored
//! give:
//!
//! - xenstore, through the kernel's `/dev/xen/xenbus`: its own relative
//!   paths resolve to `/local/domain/<its id>` and a node it creates is
//!   owned by it (xenstored was told the right domain id); Dom0's keys
//!   (`/local/domain/0`, and a key Dom0 made `n0`) cannot be read, listed,
//!   written, removed or re-permissioned, another domain's area cannot be
//!   written, and the privileged requests (`XS_INTRODUCE`, `XS_RELEASE`,
//!   `XS_SET_TARGET`, `XS_IS_DOMAIN_INTRODUCED`, `XS_CONTROL`) are refused:
//!   `EACCES` (`tools/xenstore/xenstored_core.c`: `perm_for_conn`,
//!   `errno_from_parents`, `XS_FLAG_PRIV`);
//! - grants (raw `GNTTABOP_*` through privcmd): a ref of Dom0's that Dom0
//!   granted to another domain, or to nobody, or one of its own table
//!   granted to nobody: `GNTST_general_error` (`_set_status_v1`); a domain
//!   that does not exist: `GNTST_bad_domain`; a copy naming another
//!   domain's frame: `GNTST_permission_denied`
//!   (`gnttab_copy_lock_domain`), of a ref not granted:
//!   `GNTST_general_error` (`common/grant_table.c`);
//! - event channels: binding to a port of Dom0's that is not unbound for
//!   it (one unbound for d2, xenstored's bound port, one out of range):
//!   `-EINVAL`; a domain that does not exist: `-ESRCH`; send and close of a
//!   port it does not have: `-EINVAL`; status, alloc_unbound and reset
//!   naming Dom0: `-EPERM` (`XSM_TARGET`); a global VIRQ on vCPU 1:
//!   `-EINVAL` (`common/event_channel.c`); binding to the port Dom0 did
//!   offer it works (the positive control), and its event reaches Dom0;
//!   a port of its own unbound for any domain is allowed, as in Xen;
//! - privileged hypercalls: sysctl, domctl, `HVMOP_get_param` and
//!   `XENMEM_current_reservation` naming Dom0, `SCHEDOP_remote_shutdown`
//!   of Dom0, `XENVER_build_id`: `-EPERM`; `XENVER_commandline`:
//!   `<denied>`; a foreign map through `XENMEM_add_to_physmap_batch`:
//!   `-EPERM` in its `errs`.
//!
//! What Dom0 set up for it (`qemu/dom0-initramfs/tests/xen-security`) is
//! read from `data/snowvisor-security/` in its xenstore directory. One line
//! per check, `snowctl domu-security: <name>: PASS|FAIL (expected X, got
//! Y)`, then `snowctl domu-security: N passed, M failed`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::privcmd::{HcBuf, Privcmd};
use crate::{errno_text, xen};

/// `enum xsd_sockmsg_type` (`public/io/xs_wire.h`).
mod xs {
    pub const CONTROL: u32 = 0;
    pub const DIRECTORY: u32 = 1;
    pub const READ: u32 = 2;
    pub const GET_PERMS: u32 = 3;
    pub const INTRODUCE: u32 = 8;
    pub const RELEASE: u32 = 9;
    pub const GET_DOMAIN_PATH: u32 = 10;
    pub const WRITE: u32 = 11;
    pub const MKDIR: u32 = 12;
    pub const RM: u32 = 13;
    pub const SET_PERMS: u32 = 14;
    pub const ERROR: u32 = 16;
    pub const IS_DOMAIN_INTRODUCED: u32 = 17;
    pub const SET_TARGET: u32 = 19;
}

/// Hypercall numbers and sub-ops (`public/xen.h`, `event_channel.h`,
/// `grant_table.h`, `memory.h`, `sched.h`, `hvm/params.h`, `sysctl.h`,
/// `domctl.h`, `version.h`).
const SCHED_OP: u32 = 29;
const DOMCTL: u32 = 36;
const SCHEDOP_REMOTE_SHUTDOWN: u64 = 4;
const SHUTDOWN_POWEROFF: u32 = 0;
const EVTCHNOP_BIND_INTERDOMAIN: u64 = 0;
const EVTCHNOP_BIND_VIRQ: u64 = 1;
const EVTCHNOP_STATUS: u64 = 5;
const EVTCHNOP_RESET: u64 = 10;
const VIRQ_DOM_EXC: u32 = 3;
const GNTTABOP_COPY: u64 = 5;
const GNTMAP_HOST_MAP: u32 = 1 << 1;
const GNTCOPY_SOURCE_GREF: u16 = 1 << 0;
const XENMEM_ADD_TO_PHYSMAP_BATCH: u64 = 23;
const XENMAPSPACE_GMFN_FOREIGN: u16 = 4;
const HVM_PARAM_STORE_EVTCHN: u32 = 2;
const XEN_SYSCTL_GETDOMAININFOLIST: u32 = 6;
const XEN_DOMCTL_GETDOMAININFO: u32 = 5;
const XEN_DOMCTL_INTERFACE_VERSION: u32 = 0x15;
const XENVER_COMMANDLINE: u64 = 9;
const XENVER_BUILD_ID: u64 = 10;

/// `GNTST_*` (`public/grant_table.h`) and their names.
const GNTST: [(i16, &str); 4] = [
    (0, "GNTST_okay"),
    (-1, "GNTST_general_error"),
    (-2, "GNTST_bad_domain"),
    (-8, "GNTST_permission_denied"),
];
const GNTST_GENERAL_ERROR: i16 = -1;
const GNTST_BAD_DOMAIN: i16 = -2;
const GNTST_PERMISSION_DENIED: i16 = -8;

const EPERM: i32 = 1;
const ESRCH: i32 = 3;
const EINVAL: i32 = 22;

/// Dom0, and a domain id no domain has.
const DOM0: u16 = 0;
const NO_DOMAIN: u16 = 7;
/// A port no domain here has: past every port the tests allocate, inside
/// Xen's 1024 2-level ports.
const FREE_PORT: u32 = 1000;
/// A guest address in no bank of a DomU's (below `GUEST_GNTTAB_BASE`,
/// `public/arch-arm.h`): where a grant map would go, if one were allowed.
const HOLE: u64 = 0x3000_0000;

/// Where Dom0 leaves what it set up, relative to the DomU's own directory.
const SETUP: &str = "data/snowvisor-security";

struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    fn line(&mut self, name: &str, ok: bool, detail: &str) {
        let verdict = if ok { "PASS" } else { "FAIL" };
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        println!("snowctl domu-security: {name}: {verdict} ({detail})");
    }

    /// `got` must equal `want`; both are printed.
    fn eq(&mut self, name: &str, want: &str, got: &str) {
        self.line(name, want == got, &format!("expected {want}, got {got}"));
    }
}

/// `-EPERM` style name of a hypercall result.
fn hc_text(r: &io::Result<i32>) -> String {
    match r {
        Ok(v) => format!("{v}"),
        Err(e) => errno_text(e)
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

fn errno_name(errno: i32) -> String {
    hc_text(&Err(io::Error::from_raw_os_error(errno)))
}

fn gntst_name(s: i16) -> String {
    GNTST
        .iter()
        .find(|g| g.0 == s)
        .map_or_else(|| format!("GNTST {s}"), |g| g.1.to_string())
}

/// A xenstore connection through the kernel's `/dev/xen/xenbus` (what
/// xenstore-read and friends use in a DomU): one request, one reply.
struct Xenbus {
    dev: File,
    req_id: u32,
}

impl Xenbus {
    fn open() -> io::Result<Xenbus> {
        Ok(Xenbus {
            dev: OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/xen/xenbus")?,
            req_id: 0,
        })
    }

    /// Sends `struct xsd_sockmsg { type, req_id, tx_id = 0, len }` and the
    /// payload; the reply's payload, or xenstored's error name
    /// (`XS_ERROR`'s payload, "EACCES").
    fn request(&mut self, ty: u32, payload: &[u8]) -> Result<Vec<u8>, String> {
        self.req_id += 1;
        let mut msg = Vec::with_capacity(16 + payload.len());
        for w in [ty, self.req_id, 0, payload.len() as u32] {
            msg.extend_from_slice(&w.to_le_bytes());
        }
        msg.extend_from_slice(payload);
        self.dev
            .write_all(&msg)
            .map_err(|e| format!("xenbus write: {}", errno_text(&e)))?;
        let mut head = [0u8; 16];
        self.dev
            .read_exact(&mut head)
            .map_err(|e| format!("xenbus read: {}", errno_text(&e)))?;
        let word = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().unwrap());
        let mut body = vec![0u8; word(12) as usize];
        self.dev
            .read_exact(&mut body)
            .map_err(|e| format!("xenbus read: {}", errno_text(&e)))?;
        if word(0) == xs::ERROR {
            return Err(text(&body));
        }
        if word(0) != ty {
            return Err(format!("reply type {} to request type {ty}", word(0)));
        }
        Ok(body)
    }

    fn read(&mut self, path: &str) -> Result<String, String> {
        self.request(xs::READ, &nul(&[path])).map(|b| text(&b))
    }

    fn write(&mut self, path: &str, value: &str) -> Result<String, String> {
        let mut p = nul(&[path]);
        p.extend_from_slice(value.as_bytes());
        self.request(xs::WRITE, &p).map(|b| text(&b))
    }
}

/// Strings, each with its NUL, one after the other (xenstore's argument list).
fn nul(args: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    for a in args {
        v.extend_from_slice(a.as_bytes());
        v.push(0);
    }
    v
}

/// A reply's strings joined by spaces.
fn text(b: &[u8]) -> String {
    b.split(|&c| c == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What Dom0 set up: `data/snowvisor-security/ready` and the values next to it.
struct Setup {
    /// A ref of Dom0's granted to d2 (gntalloc).
    gref_d2: u32,
    /// A port of Dom0's unbound for d2, one unbound for this domain, and
    /// xenstored's own (bound) port.
    port_d2: u32,
    port_self: u32,
    xsd_port: u32,
    /// A key of Dom0's with permissions `n0`.
    secret: String,
}

fn setup(xb: &mut Xenbus, secs: u32) -> Result<Setup, String> {
    let mut last = String::new();
    for _ in 0..secs.max(1) {
        match xb.read(&format!("{SETUP}/ready")) {
            Ok(_) => {
                let mut num = |k: &str| -> Result<u32, String> {
                    let v = xb.read(&format!("{SETUP}/{k}"))?;
                    v.parse().map_err(|_| format!("{SETUP}/{k} is {v:?}"))
                };
                return Ok(Setup {
                    gref_d2: num("gref-d2")?,
                    port_d2: num("port-d2")?,
                    port_self: num("port-self")?,
                    xsd_port: num("xsd-port")?,
                    secret: xb.read(&format!("{SETUP}/secret"))?,
                });
            }
            Err(e) => last = e,
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    Err(format!("{SETUP}/ready not there after {secs} s ({last})"))
}

/// The xenstore checks; returns this domain's id as xenstored knows it.
fn xenstore(xb: &mut Xenbus, t: &mut Report, s: &Setup) -> u16 {
    let domid = xb.read("domid").unwrap_or_else(|e| e);
    t.eq("xenstore read domid (relative path)", "1", &domid);
    let me: u16 = domid.parse().unwrap_or(u16::MAX);
    let path = xb
        .request(xs::GET_DOMAIN_PATH, &nul(&[&domid]))
        .map(|b| text(&b))
        .unwrap_or_else(|e| e);
    t.eq(
        "xenstore get_domain_path of its id",
        "/local/domain/1",
        &path,
    );
    let key = "data/snowvisor-domu";
    let wrote = xb.write(key, "written by the DomU");
    let back = xb
        .read(&format!("/local/domain/1/{key}"))
        .unwrap_or_else(|e| e);
    t.eq(
        "xenstore write data/snowvisor-domu, read back as /local/domain/1/data/snowvisor-domu",
        "written by the DomU",
        &match wrote {
            Ok(_) => back,
            Err(e) => e,
        },
    );
    // xenstored makes the creating (unprivileged) connection a new node's
    // owner: the first permission names the domain it took us for.
    let perms = xb
        .request(xs::GET_PERMS, &nul(&[key]))
        .map(|b| text(&b))
        .unwrap_or_else(|e| e);
    let owner = perms
        .split(' ')
        .next()
        .and_then(|p| p.get(1..))
        .map_or_else(|| perms.clone(), |id| format!("d{id}"));
    t.eq("xenstore owner of the node it created", "d1", &owner);

    let w = |path: &str| [nul(&[path]), b"evil".to_vec()].concat();
    let secret = s.secret.as_str();
    let denied: Vec<(String, u32, Vec<u8>)> = vec![
        (
            "read /local/domain/0/name".into(),
            xs::READ,
            nul(&["/local/domain/0/name"]),
        ),
        (
            format!("read {secret} (Dom0's, n0)"),
            xs::READ,
            nul(&[secret]),
        ),
        (
            "directory /local/domain/0".into(),
            xs::DIRECTORY,
            nul(&["/local/domain/0"]),
        ),
        (
            "get_perms /local/domain/0/name".into(),
            xs::GET_PERMS,
            nul(&["/local/domain/0/name"]),
        ),
        (
            "write /local/domain/0/name".into(),
            xs::WRITE,
            w("/local/domain/0/name"),
        ),
        (format!("write {secret}"), xs::WRITE, w(secret)),
        (
            "write /local/domain/2/name (another domain's area)".into(),
            xs::WRITE,
            w("/local/domain/2/name"),
        ),
        (
            "mkdir /local/domain/0/evil".into(),
            xs::MKDIR,
            nul(&["/local/domain/0/evil"]),
        ),
        (
            "rm /local/domain/0/name".into(),
            xs::RM,
            nul(&["/local/domain/0/name"]),
        ),
        (
            "set_perms /local/domain/0/name b1".into(),
            xs::SET_PERMS,
            nul(&["/local/domain/0/name", "b1"]),
        ),
        (
            "XS_INTRODUCE d1 (privileged)".into(),
            xs::INTRODUCE,
            nul(&["1", "233473", "1"]),
        ),
        (
            "XS_RELEASE d0 (privileged)".into(),
            xs::RELEASE,
            nul(&["0"]),
        ),
        (
            "XS_SET_TARGET d1 d0 (privileged)".into(),
            xs::SET_TARGET,
            nul(&["1", "0"]),
        ),
        (
            "XS_IS_DOMAIN_INTRODUCED d0 (privileged)".into(),
            xs::IS_DOMAIN_INTRODUCED,
            nul(&["0"]),
        ),
        (
            "XS_CONTROL (privileged)".into(),
            xs::CONTROL,
            nul(&["print", "evil"]),
        ),
    ];
    for (name, ty, payload) in denied {
        let got = match xb.request(ty, &payload) {
            Ok(b) => format!("success {:?}", text(&b)),
            Err(e) => e,
        };
        t.eq(&format!("xenstore {name}"), "EACCES", &got);
    }
    // Dom0's key is still what Dom0 wrote (Dom0 checks it too).
    me
}

/// A raw hypercall's result as `-EXXX` or its value.
fn expect_errno(t: &mut Report, name: &str, r: io::Result<i32>, errno: i32) {
    t.eq(name, &errno_name(errno), &hc_text(&r));
}

/// `struct gnttab_map_grant_ref` (32 bytes): host_addr, flags, ref, dom,
/// status (out) at 18, handle (out), dev_bus_addr (out).
fn map_grant(p: &Privcmd, dom: u16, gref: u32) -> Result<i16, String> {
    let mut b = HcBuf::new(32);
    let o = b.bytes_mut();
    o[0..8].copy_from_slice(&HOLE.to_le_bytes());
    o[8..12].copy_from_slice(&GNTMAP_HOST_MAP.to_le_bytes());
    o[12..16].copy_from_slice(&gref.to_le_bytes());
    o[16..18].copy_from_slice(&dom.to_le_bytes());
    o[18..20].copy_from_slice(&0x7777u16.to_le_bytes());
    let r = p.hypercall(
        xen::GRANT_TABLE_OP,
        [xen::GNTTABOP_MAP_GRANT_REF, b.addr(), 1, 0, 0],
    );
    match r {
        Ok(0) => Ok(i16::from_le_bytes([b.bytes()[18], b.bytes()[19]])),
        other => Err(format!("the call returned {}", hc_text(&other))),
    }
}

/// The guest frame behind this process's page at `va` (`/proc/self/pagemap`:
/// bit 63 present, bits 0-54 the frame).
fn frame_of(va: u64) -> Result<u64, String> {
    let mut f = File::open("/proc/self/pagemap").map_err(|e| format!("pagemap: {e}"))?;
    f.seek(SeekFrom::Start(va / 4096 * 8))
        .map_err(|e| format!("pagemap: {e}"))?;
    let mut e = [0u8; 8];
    f.read_exact(&mut e).map_err(|e| format!("pagemap: {e}"))?;
    let e = u64::from_le_bytes(e);
    if e >> 63 == 0 || e & ((1 << 55) - 1) == 0 {
        return Err(format!("pagemap: {va:#x} not present ({e:#x})"));
    }
    Ok(e & ((1 << 55) - 1))
}

/// `struct gnttab_copy` (40 bytes) of 8 bytes from `source` (a ref of
/// `dom`'s if `gref`, else its frame `u`) into `dest_frame` of our own;
/// the op's status.
fn copy(p: &Privcmd, dom: u16, u: u64, gref: bool, dest_frame: u64) -> Result<i16, String> {
    let mut b = HcBuf::new(40);
    let o = b.bytes_mut();
    o[0..8].copy_from_slice(&u.to_le_bytes());
    o[8..10].copy_from_slice(&dom.to_le_bytes());
    o[16..24].copy_from_slice(&dest_frame.to_le_bytes());
    o[24..26].copy_from_slice(&xen::DOMID_SELF.to_le_bytes());
    o[32..34].copy_from_slice(&8u16.to_le_bytes());
    let flags = if gref { GNTCOPY_SOURCE_GREF } else { 0 };
    o[34..36].copy_from_slice(&flags.to_le_bytes());
    o[36..38].copy_from_slice(&0x7777u16.to_le_bytes());
    match p.hypercall(xen::GRANT_TABLE_OP, [GNTTABOP_COPY, b.addr(), 1, 0, 0]) {
        Ok(0) => Ok(i16::from_le_bytes([b.bytes()[36], b.bytes()[37]])),
        other => Err(format!("the call returned {}", hc_text(&other))),
    }
}

fn grants(p: &Privcmd, t: &mut Report, s: &Setup, me: u16) {
    let mut gnt = |name: &str, r: Result<i16, String>, want: i16| {
        t.eq(name, &gntst_name(want), &r.map_or_else(|e| e, gntst_name));
    };
    gnt(
        &format!("map_grant_ref d0 ref {} (granted to d2)", s.gref_d2),
        map_grant(p, DOM0, s.gref_d2),
        GNTST_GENERAL_ERROR,
    );
    // Linux keeps refs 0-7 reserved: granted to nobody.
    gnt(
        "map_grant_ref d0 ref 2 (granted to nobody)",
        map_grant(p, DOM0, 2),
        GNTST_GENERAL_ERROR,
    );
    gnt(
        &format!("map_grant_ref d{me} ref 100 (its own, granted to nobody)"),
        map_grant(p, me, 100),
        GNTST_GENERAL_ERROR,
    );
    gnt(
        &format!("map_grant_ref d{NO_DOMAIN} ref 2 (no such domain)"),
        map_grant(p, NO_DOMAIN, 2),
        GNTST_BAD_DOMAIN,
    );
    let dest = HcBuf::new(4096);
    match frame_of(dest.addr()) {
        Ok(frame) => {
            gnt(
                &format!("copy from d0 ref {} (granted to d2)", s.gref_d2),
                copy(p, DOM0, u64::from(s.gref_d2), true, frame),
                GNTST_GENERAL_ERROR,
            );
            gnt(
                &format!("copy from d{NO_DOMAIN} ref 2 (no such domain)"),
                copy(p, NO_DOMAIN, 2, true, frame),
                GNTST_BAD_DOMAIN,
            );
            // Dom0 is 1:1: its RAM starts at the machine's, 0x40000000.
            gnt(
                "copy from d0 frame 0x40000 (a frame, not a ref)",
                copy(p, DOM0, 0x40000, false, frame),
                GNTST_PERMISSION_DENIED,
            );
            let untouched = dest.bytes()[..8].iter().all(|&b| b == 0);
            t.line(
                "copy destination untouched",
                untouched,
                &format!("first bytes {:02x?}", &dest.bytes()[..8]),
            );
        }
        Err(e) => t.line("copy (destination frame)", false, &e),
    }
}

/// `EVTCHNOP_*` `cmd` on the op struct `bytes` (copied into a locked buffer);
/// the call's result and the struct as the hypervisor left it.
fn evtchn(p: &Privcmd, cmd: u64, bytes: &[u8]) -> (io::Result<i32>, Vec<u8>) {
    let mut b = HcBuf::new(bytes.len());
    b.bytes_mut().copy_from_slice(bytes);
    let r = p.hypercall(xen::EVENT_CHANNEL_OP, [cmd, b.addr(), 0, 0, 0]);
    (r, b.bytes().to_vec())
}

/// `struct evtchn_bind_interdomain`: remote_dom, pad, remote_port, local_port (out).
fn bind_interdomain(p: &Privcmd, dom: u16, port: u32) -> (io::Result<i32>, u32) {
    let mut b = [0u8; 12];
    b[0..2].copy_from_slice(&dom.to_le_bytes());
    b[4..8].copy_from_slice(&port.to_le_bytes());
    let (r, out) = evtchn(p, EVTCHNOP_BIND_INTERDOMAIN, &b);
    (r, u32::from_le_bytes(out[8..12].try_into().unwrap()))
}

fn port_op(p: &Privcmd, cmd: u64, port: u32) -> io::Result<i32> {
    evtchn(p, cmd, &port.to_le_bytes()).0
}

fn events(p: &Privcmd, t: &mut Report, s: &Setup) {
    for (name, port) in [
        (
            format!("bind_interdomain d0 port {} (unbound for d2)", s.port_d2),
            s.port_d2,
        ),
        (
            format!(
                "bind_interdomain d0 port {} (xenstored's, bound)",
                s.xsd_port
            ),
            s.xsd_port,
        ),
        (
            "bind_interdomain d0 port 0x7fffffff (none)".to_string(),
            0x7fff_ffff,
        ),
    ] {
        expect_errno(t, &name, bind_interdomain(p, DOM0, port).0, EINVAL);
    }
    expect_errno(
        t,
        &format!("bind_interdomain d{NO_DOMAIN} port 1 (no such domain)"),
        bind_interdomain(p, NO_DOMAIN, 1).0,
        ESRCH,
    );
    // The positive control: the port Dom0 offered this domain; its event
    // reaches Dom0 (Dom0's side prints it).
    let (r, local) = bind_interdomain(p, DOM0, s.port_self);
    match r {
        Ok(0) => {
            let sent = port_op(p, xen::EVTCHNOP_SEND, local);
            t.eq(
                &format!(
                    "bind_interdomain d0 port {} (offered to it), send on local port {local}",
                    s.port_self
                ),
                "0",
                &hc_text(&sent),
            );
            let _ = port_op(p, xen::EVTCHNOP_CLOSE, local);
        }
        other => t.eq(
            &format!("bind_interdomain d0 port {} (offered to it)", s.port_self),
            "0",
            &hc_text(&other),
        ),
    }
    expect_errno(
        t,
        &format!("send on port {FREE_PORT} (not its own)"),
        port_op(p, xen::EVTCHNOP_SEND, FREE_PORT),
        EINVAL,
    );
    expect_errno(
        t,
        &format!("close port {FREE_PORT} (not its own)"),
        port_op(p, xen::EVTCHNOP_CLOSE, FREE_PORT),
        EINVAL,
    );
    // struct evtchn_status: dom, pad, port, ... (24 bytes).
    let status = |dom: u16, port: u32| {
        let mut b = [0u8; 24];
        b[0..2].copy_from_slice(&dom.to_le_bytes());
        b[4..8].copy_from_slice(&port.to_le_bytes());
        evtchn(p, EVTCHNOP_STATUS, &b).0
    };
    expect_errno(t, "status d0 port 1", status(DOM0, 1), EPERM);
    expect_errno(
        t,
        &format!("status d{NO_DOMAIN} port 1 (no such domain)"),
        status(NO_DOMAIN, 1),
        ESRCH,
    );
    // struct evtchn_alloc_unbound: dom, remote_dom, port (out).
    let alloc = |dom: u16, remote: u16| {
        let mut b = [0u8; 8];
        b[0..2].copy_from_slice(&dom.to_le_bytes());
        b[2..4].copy_from_slice(&remote.to_le_bytes());
        let (r, out) = evtchn(p, xen::EVTCHNOP_ALLOC_UNBOUND, &b);
        (r, u32::from_le_bytes(out[4..8].try_into().unwrap()))
    };
    expect_errno(t, "alloc_unbound in d0 for d1", alloc(DOM0, 1).0, EPERM);
    expect_errno(
        t,
        &format!("alloc_unbound in d{NO_DOMAIN} (no such domain)"),
        alloc(NO_DOMAIN, 1).0,
        ESRCH,
    );
    // A port of its own offered to any domain, even one that does not
    // exist, is allowed (Xen checks only the domain the port is in:
    // `evtchn_alloc_unbound`'s XSM_TARGET); closed again.
    for remote in [DOM0, NO_DOMAIN] {
        let (r, port) = alloc(xen::DOMID_SELF, remote);
        let closed = match r {
            Ok(_) => hc_text(&port_op(p, xen::EVTCHNOP_CLOSE, port)),
            Err(_) => "not tried".into(),
        };
        t.eq(
            &format!("alloc_unbound in itself for d{remote} (allowed), then close"),
            "0 0",
            &format!("{} {closed}", hc_text(&r)),
        );
    }
    expect_errno(
        t,
        "reset d0",
        evtchn(p, EVTCHNOP_RESET, &DOM0.to_le_bytes()).0,
        EPERM,
    );
    // struct evtchn_bind_virq: virq, vcpu, port (out).
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&VIRQ_DOM_EXC.to_le_bytes());
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    expect_errno(
        t,
        "bind_virq VIRQ_DOM_EXC (global) on vCPU 1",
        evtchn(p, EVTCHNOP_BIND_VIRQ, &b).0,
        EINVAL,
    );
}

fn privileged(p: &Privcmd, t: &mut Report) {
    let mut sysctl = HcBuf::new(xen::SYSCTL_SIZE);
    sysctl.bytes_mut()[0..4].copy_from_slice(&XEN_SYSCTL_GETDOMAININFOLIST.to_le_bytes());
    sysctl.bytes_mut()[4..8].copy_from_slice(&xen::SYSCTL_INTERFACE_VERSION.to_le_bytes());
    expect_errno(
        t,
        "sysctl getdomaininfolist",
        p.hypercall(xen::SYSCTL, [sysctl.addr(), 0, 0, 0, 0]),
        EPERM,
    );
    // struct xen_domctl: cmd, interface_version, domain, then the union.
    let mut domctl = HcBuf::new(256);
    domctl.bytes_mut()[0..4].copy_from_slice(&XEN_DOMCTL_GETDOMAININFO.to_le_bytes());
    domctl.bytes_mut()[4..8].copy_from_slice(&XEN_DOMCTL_INTERFACE_VERSION.to_le_bytes());
    expect_errno(
        t,
        "domctl getdomaininfo d0",
        p.hypercall(DOMCTL, [domctl.addr(), 0, 0, 0, 0]),
        EPERM,
    );
    // struct xen_hvm_param: domid, pad, index, value.
    let mut hvm = HcBuf::new(16);
    hvm.bytes_mut()[4..8].copy_from_slice(&HVM_PARAM_STORE_EVTCHN.to_le_bytes());
    expect_errno(
        t,
        "hvm_op get_param d0 HVM_PARAM_STORE_EVTCHN",
        p.hypercall(xen::HVM_OP, [xen::HVMOP_GET_PARAM, hvm.addr(), 0, 0, 0]),
        EPERM,
    );
    let dom0 = HcBuf::new(2);
    expect_errno(
        t,
        "memory_op current_reservation d0",
        p.hypercall(
            xen::MEMORY_OP,
            [xen::XENMEM_CURRENT_RESERVATION, dom0.addr(), 0, 0, 0],
        ),
        EPERM,
    );
    // struct sched_remote_shutdown: domain_id, pad, reason.
    let mut sd = HcBuf::new(8);
    sd.bytes_mut()[4..8].copy_from_slice(&SHUTDOWN_POWEROFF.to_le_bytes());
    expect_errno(
        t,
        "sched_op remote_shutdown d0",
        p.hypercall(SCHED_OP, [SCHEDOP_REMOTE_SHUTDOWN, sd.addr(), 0, 0, 0]),
        EPERM,
    );
    expect_errno(
        t,
        "xen_version build_id",
        p.hypercall(xen::XEN_VERSION, [XENVER_BUILD_ID, 0, 0, 0, 0]),
        EPERM,
    );
    let line = HcBuf::new(1024);
    let r = p.hypercall(xen::XEN_VERSION, [XENVER_COMMANDLINE, line.addr(), 0, 0, 0]);
    t.eq(
        "xen_version commandline",
        "0 <denied>",
        &format!("{} {}", hc_text(&r), crate::c_str(line.bytes())),
    );
    // struct xen_add_to_physmap_batch: domid, space, size, foreign_domid,
    // then the idxs, gpfns and errs handles; one page of Dom0's (its
    // first frame) at a hole of ours.
    let mut idx = HcBuf::new(8);
    idx.bytes_mut().copy_from_slice(&0x40000u64.to_le_bytes());
    let mut gpfn = HcBuf::new(8);
    gpfn.bytes_mut()
        .copy_from_slice(&(HOLE >> 12).to_le_bytes());
    let mut errs = HcBuf::new(4);
    errs.bytes_mut()
        .copy_from_slice(&0x7777_7777u32.to_le_bytes());
    let mut batch = HcBuf::new(32);
    let o = batch.bytes_mut();
    o[0..2].copy_from_slice(&xen::DOMID_SELF.to_le_bytes());
    o[2..4].copy_from_slice(&XENMAPSPACE_GMFN_FOREIGN.to_le_bytes());
    o[4..6].copy_from_slice(&1u16.to_le_bytes());
    o[6..8].copy_from_slice(&DOM0.to_le_bytes());
    o[8..16].copy_from_slice(&idx.addr().to_le_bytes());
    o[16..24].copy_from_slice(&gpfn.addr().to_le_bytes());
    o[24..32].copy_from_slice(&errs.addr().to_le_bytes());
    let r = p.hypercall(
        xen::MEMORY_OP,
        [XENMEM_ADD_TO_PHYSMAP_BATCH, batch.addr(), 0, 0, 0],
    );
    let err = i32::from_le_bytes(errs.bytes().try_into().unwrap());
    t.eq(
        "memory_op add_to_physmap_batch gmfn_foreign d0",
        &format!("0, errs[0] {}", errno_name(EPERM)),
        &format!("{}, errs[0] {}", hc_text(&r), errno_name(-err)),
    );
}

/// Runs every check; `Ok` when all passed. Waits up to `secs` seconds for
/// Dom0's setup.
pub fn run(p: &Privcmd, secs: u32) -> Result<(), String> {
    let mut xb = Xenbus::open().map_err(|e| format!("/dev/xen/xenbus: {}", errno_text(&e)))?;
    let s = setup(&mut xb, secs)?;
    let mut t = Report {
        passed: 0,
        failed: 0,
    };
    let me = xenstore(&mut xb, &mut t, &s);
    grants(p, &mut t, &s, me);
    events(p, &mut t, &s);
    privileged(p, &mut t);
    let done = xb.write(
        &format!("{SETUP}/done"),
        &format!("{} {}", t.passed, t.failed),
    );
    if let Err(e) = done {
        println!("snowctl domu-security: writing {SETUP}/done: {e}");
    }
    println!(
        "snowctl domu-security: {} passed, {} failed",
        t.passed, t.failed
    );
    if t.failed == 0 {
        Ok(())
    } else {
        Err(format!("{} failed", t.failed))
    }
}

/// `snowctl grant-offer DOM SECONDS`: a fresh page of this domain granted
/// to domain `DOM` (`/dev/xen/gntalloc`), its ref printed, the grant held
/// `SECONDS`, then ended: what `domu-security` must not map when `DOM` is
/// not its id.
pub fn grant_offer(dom: u16, secs: u32) -> Result<(), String> {
    let g = crate::xendev::Granted::alloc(dom)
        .map_err(|e| format!("grant-offer: a page for d{dom}: {}", errno_text(&e)))?;
    println!("grant-offer: gref {} for d{dom}", g.gref);
    let _ = io::stdout().flush();
    std::thread::sleep(std::time::Duration::from_secs(u64::from(secs)));
    let gref = g.gref;
    g.dealloc()
        .map_err(|e| format!("grant-offer: ending gref {gref}: {}", errno_text(&e)))?;
    println!("grant-offer: gref {gref} ended");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xenstore_strings() {
        assert_eq!(nul(&["a", "bc"]), b"a\0bc\0");
        assert_eq!(text(b"EACCES\0"), "EACCES");
        assert_eq!(text(b"n1\0r0\0"), "n1 r0");
        assert_eq!(gntst_name(-1), "GNTST_general_error");
        assert_eq!(gntst_name(-9), "GNTST -9");
        assert_eq!(errno_name(EPERM), "-EPERM");
        assert_eq!(hc_text(&Ok(3)), "3");
    }
}
