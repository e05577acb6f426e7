//! `snowctl list`: the domains, in `xl list`'s columns (Name, ID, Mem in MiB,
//! VCPUs online, State `rbpscd`, Time(s)), from `XEN_SYSCTL_getdomaininfolist`
//! (Xen 4.17's `xen_domctl_getdomaininfo`, 120 bytes per domain on arm32)
//! and the names from snowvisor's sysctl 0x534e0003 (under Xen, which keeps
//! names in xenstore, Dom0 is `Domain-0` and the others `d<id>`).

use crate::privcmd::{HcBuf, Privcmd};
use crate::{c_str, errno_text, xen, Fail};

/// `XEN_SYSCTL_getdomaininfolist` and snowvisor's domain-name sysctl.
const GETDOMAININFOLIST: u32 = 6;
const DOMAIN_NAME: u32 = 0x534e_0003;
/// `sizeof(struct xen_domctl_getdomaininfo)` on arm32.
const INFO: usize = 120;
/// Domains asked for per call.
const ROOM: usize = 64;
/// `XEN_DOMINF_*` (`public/domctl.h`).
const DYING: u32 = 1 << 0;
const SHUTDOWN: u32 = 1 << 2;
const PAUSED: u32 = 1 << 3;
const BLOCKED: u32 = 1 << 4;
const RUNNING: u32 = 1 << 5;
/// xl's letters for `SHUTDOWN_*` (poweroff, reboot, suspend, crash,
/// watchdog, soft reset).
const REASONS: &[u8] = b"-rscwS";

/// What `snowctl list` shows of a `xen_domctl_getdomaininfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    pub domid: u16,
    pub flags: u32,
    pub tot_pages: u64,
    pub cpu_time_ns: u64,
    pub online: u32,
}

/// Reads one entry (offsets: domain 0, flags 4, tot_pages 8, cpu_time 56,
/// nr_online_vcpus 64).
pub fn parse(b: &[u8]) -> Info {
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    Info {
        domid: u16::from_le_bytes([b[0], b[1]]),
        flags: u32_at(4),
        tot_pages: u64_at(8),
        cpu_time_ns: u64_at(56),
        online: u32_at(64),
    }
}

/// The column header, as `xl list` prints it.
pub const HEADER: &str =
    "Name                                        ID   Mem VCPUs\tState\tTime(s)";

/// One row, as `xl list` prints it.
pub fn row(name: &str, i: &Info) -> String {
    let f = |bit, c| if i.flags & bit != 0 { c } else { '-' };
    let reason = if i.flags & SHUTDOWN != 0 {
        REASONS
            .get(((i.flags >> 16) & 0xff) as usize)
            .map_or('?', |&c| c as char)
    } else {
        '-'
    };
    format!(
        "{name:<40} {:>5} {:>5} {:>5}     {}{}{}{}{}{}  {:>8.1}",
        i.domid,
        i.tot_pages * 4 / 1024,
        i.online,
        f(RUNNING, 'r'),
        f(BLOCKED, 'b'),
        f(PAUSED, 'p'),
        f(SHUTDOWN, 's'),
        reason,
        f(DYING, 'd'),
        i.cpu_time_ns as f64 / 1e9
    )
}

fn sysctl(p: &Privcmd, cmd: u32, u: &[u8]) -> std::io::Result<HcBuf> {
    let mut o = HcBuf::new(xen::SYSCTL_SIZE);
    let b = o.bytes_mut();
    b[0..4].copy_from_slice(&cmd.to_le_bytes());
    b[4..8].copy_from_slice(&xen::SYSCTL_INTERFACE_VERSION.to_le_bytes());
    b[8..8 + u.len()].copy_from_slice(u);
    p.hypercall(xen::SYSCTL, [o.addr(), 0, 0, 0, 0])?;
    Ok(o)
}

/// A domain's name: snowvisor's sysctl, else xl's defaults.
fn name(p: &Privcmd, domid: u16) -> String {
    let mut u = [0u8; 72];
    u[0..2].copy_from_slice(&domid.to_le_bytes());
    match sysctl(p, DOMAIN_NAME, &u) {
        Ok(o) => c_str(&o.bytes()[16..80]),
        Err(_) if domid == 0 => String::from("Domain-0"),
        Err(_) => format!("d{domid}"),
    }
}

pub fn run(p: &Privcmd) -> Result<(), Fail> {
    let data = HcBuf::new(ROOM * INFO);
    let mut first = 0u16;
    println!("{HEADER}");
    loop {
        let mut u = [0u8; 24];
        u[0..2].copy_from_slice(&first.to_le_bytes());
        u[4..8].copy_from_slice(&(ROOM as u32).to_le_bytes());
        u[8..16].copy_from_slice(&data.addr().to_le_bytes());
        let o = sysctl(p, GETDOMAININFOLIST, &u)
            .map_err(|e| Fail(format!("sysctl getdomaininfolist: {}", errno_text(&e))))?;
        let b = o.bytes();
        let n = (u32::from_le_bytes([b[24], b[25], b[26], b[27]]) as usize).min(ROOM);
        let mut last = None;
        for e in data.bytes()[..n * INFO].chunks_exact(INFO) {
            let i = parse(e);
            println!("{}", row(&name(p, i.domid), &i));
            last = Some(i.domid);
        }
        match last {
            Some(d) if n == ROOM => first = d + 1,
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_line_up_with_xl() {
        let mut e = [0u8; INFO];
        e[0] = 1;
        e[4..8].copy_from_slice(&(BLOCKED | 1 << 1 | 1 << 8).to_le_bytes());
        e[8..16].copy_from_slice(&32768u64.to_le_bytes());
        e[56..64].copy_from_slice(&12_345_000_000u64.to_le_bytes());
        e[64..68].copy_from_slice(&2u32.to_le_bytes());
        let i = parse(&e);
        assert_eq!(
            (i.domid, i.tot_pages, i.online, i.cpu_time_ns),
            (1, 32768, 2, 12_345_000_000)
        );
        let r = row("domU1", &i);
        assert_eq!(
            r,
            "domU1                                        1   128     2     -b----      12.3"
        );
        assert_eq!(
            r.find("  1 ").map(|c| c + 2),
            HEADER.find("ID").map(|c| c + 1)
        );
        let off = Info {
            flags: SHUTDOWN | 3 << 16 | DYING,
            ..i
        };
        assert!(row("x", &off).contains("---scd"));
        let run = Info {
            flags: RUNNING,
            ..i
        };
        assert!(row("Domain-0", &run).contains("     r-----  "));
    }
}

/// `EVTCHNOP_status` (5) and `EVTCHNOP_send` (4).
const EVTCHNOP_STATUS: u64 = 5;
const EVTCHNOP_SEND: u64 = 4;

/// What `EVTCHNOP_status` says of a port (`struct evtchn_status`: dom 0,
/// port 4, status 8, vcpu 12, u 16).
pub fn status_text(b: &[u8]) -> String {
    let w = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let (port, vcpu, u0, u1) = (w(4), w(12), w(16), w(20));
    let what = match w(8) {
        0 => String::from("closed"),
        1 => format!("unbound, for d{u0}"),
        2 => format!("interdomain d{u0} port {u1}"),
        3 => format!("pirq {u0}"),
        4 => format!("virq {u0}"),
        5 => String::from("ipi"),
        s => format!("status {s}"),
    };
    format!("evtchn {port}: {what}, vCPU {vcpu}")
}

/// `snowctl evtchn-status PORT`: one of this domain's ports.
pub fn evtchn_status(p: &Privcmd, port: u32) -> Result<(), Fail> {
    let mut b = HcBuf::new(24);
    b.bytes_mut()[0..2].copy_from_slice(&xen::DOMID_SELF.to_le_bytes());
    b.bytes_mut()[4..8].copy_from_slice(&port.to_le_bytes());
    p.hypercall(xen::EVENT_CHANNEL_OP, [EVTCHNOP_STATUS, b.addr(), 0, 0, 0])
        .map_err(|e| Fail(format!("evtchn-status {port}: {}", errno_text(&e))))?;
    println!("{}", status_text(b.bytes()));
    Ok(())
}

/// `snowctl evtchn-send PORT`: an event on one of this domain's ports (to
/// the other end of an inter-domain channel).
pub fn evtchn_send(p: &Privcmd, port: u32) -> Result<(), Fail> {
    let mut b = HcBuf::new(4);
    b.bytes_mut().copy_from_slice(&port.to_le_bytes());
    p.hypercall(xen::EVENT_CHANNEL_OP, [EVTCHNOP_SEND, b.addr(), 0, 0, 0])
        .map_err(|e| Fail(format!("evtchn-send {port}: {}", errno_text(&e))))?;
    println!("evtchn {port}: sent");
    Ok(())
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn statuses_read_as_words() {
        let mut b = [0u8; 24];
        for (o, v) in [(4, 10u32), (8, 2), (12, 0), (16, 1), (20, 11)] {
            b[o..o + 4].copy_from_slice(&v.to_le_bytes());
        }
        assert_eq!(status_text(&b), "evtchn 10: interdomain d1 port 11, vCPU 0");
        b[8] = 1;
        assert_eq!(status_text(&b), "evtchn 10: unbound, for d1, vCPU 0");
    }
}

/// `snowctl evtchn-offer DOM SECONDS`: a new port of this domain, unbound
/// for domain `DOM` (`EVTCHNOP_alloc_unbound` through `/dev/xen/evtchn`,
/// which needs no xenstore, unlike a DomU's privcmd), then up to `SECONDS`
/// waiting for an event on it.
pub fn evtchn_offer(dom: u32, secs: u32) -> Result<(), Fail> {
    let io =
        |what: &str, e: std::io::Error| Fail(format!("evtchn-offer: {what}: {}", errno_text(&e)));
    let ev = crate::xendev::Evtchn::open().map_err(|e| io("/dev/xen/evtchn", e))?;
    let port = ev
        .bind_unbound(dom)
        .map_err(|e| io(&format!("a port for d{dom}"), e))?;
    println!("evtchn-offer: port {port} waits for d{dom}");
    let ms = i32::try_from(u64::from(secs) * 1000).unwrap_or(i32::MAX);
    match ev.wait(ms).map_err(|e| io("wait", e))? {
        Some(p) => {
            println!("evtchn-offer: event on port {p}");
            Ok(())
        }
        None => Err(Fail(format!("evtchn-offer: no event in {secs} s"))),
    }
}

/// Ports `evtchn-connect` tries, lowest first.
const OFFER_SCAN: u32 = 64;

/// `snowctl evtchn-connect DOM SECONDS`: binds to the port domain `DOM`
/// offered this one (`EVTCHNOP_bind_interdomain` on each of its ports
/// 1..=64 until one takes; the others are not offers, -EINVAL), once a
/// second for up to `SECONDS`, then sends an event on it.
pub fn evtchn_connect(dom: u32, secs: u32) -> Result<(), Fail> {
    let io =
        |what: &str, e: std::io::Error| Fail(format!("evtchn-connect: {what}: {}", errno_text(&e)));
    let ev = crate::xendev::Evtchn::open().map_err(|e| io("/dev/xen/evtchn", e))?;
    for _ in 0..secs.max(1) {
        for remote in 1..=OFFER_SCAN {
            if let Ok(local) = ev.bind_interdomain(dom, remote) {
                println!("evtchn-connect: d{dom} port {remote} bound as local port {local}");
                ev.notify(local).map_err(|e| io("notify", e))?;
                println!("evtchn-connect: event sent on local port {local}");
                return Ok(());
            }
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    Err(Fail(format!(
        "evtchn-connect: d{dom} offered no port in {secs} s"
    )))
}
