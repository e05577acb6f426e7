//! snowctl's benchmarks (`scripts/bench` runs them under `-icount shift=0`,
//! where a guest nanosecond is one instruction):
//!
//! - `bench-hypercall [N]`: a set of hypercalls through privcmd, each N
//!   times, against N unknown privcmd ioctls (same system call and driver
//!   entry, no hypercall): `bench-hypercall: NAME: X ns/call, Y over the
//!   baseline`. Then an event-channel round trip through `/dev/xen/evtchn`.
//! - `bench-timer [N]`: N sleeps of 1 ms (a timer interrupt each):
//!   `bench-timer: N sleeps of 1 ms: X ns`.
//! - `bench-cpu [N]`: N rounds of a fixed integer workload, no system
//!   call: `bench-cpu: N rounds: X ns (checksum C, T timer interrupts)`; T
//!   from `/proc/interrupts` (`arch_timer`), so that what the loop loses
//!   to each tick can be worked out against native.
//! - `bench-gicd [N]`: N reads of the GIC distributor's `GICD_TYPER`
//!   through `/dev/mem` against N reads of a RAM word: `bench-gicd:
//!   GICD_TYPER ...: X ns/read, Y over a RAM read`. Under a hypervisor the
//!   read traps and is emulated; natively it is QEMU's device.
//!
//! The last three need no hypervisor: native Linux runs them too.

use std::time::{Duration, Instant};

use crate::privcmd::{HcBuf, Hypercall, Privcmd, IOCTL_HYPERCALL, IOCTL_UNKNOWN};
use crate::xendev::{Evtchn, Mapping};
use crate::{errno_text, reservation, xen, Fail};

/// `SCHEDOP_yield` (`public/sched.h`).
const SCHEDOP_YIELD: u64 = 0;
/// Hypercall numbers (`public/xen.h`).
const SCHED_OP: u32 = 29;
/// A hypercall number no hypervisor implements.
const UNKNOWN_OP: u32 = 1000;

/// Nanoseconds per call of `n` ioctls `request` on `p`, and how many failed.
fn time_calls(p: &Privcmd, request: u32, h: &Hypercall, n: u32) -> (f64, u32) {
    let mut h = *h;
    let mut failed = 0;
    let t = Instant::now();
    for _ in 0..n {
        failed += p.raw(request, &mut h).is_err() as u32;
    }
    (t.elapsed().as_nanos() as f64 / f64::from(n), failed)
}

/// One hypercall of the set: name, what it is, the call, whether it fails
/// by design.
struct Call {
    name: &'static str,
    what: &'static str,
    h: Hypercall,
    fails: bool,
}

fn call(name: &'static str, what: &'static str, op: u32, arg: [u64; 5], fails: bool) -> Call {
    Call {
        name,
        what,
        h: Hypercall { op: op.into(), arg },
        fails,
    }
}

pub fn hypercalls(p: &Privcmd, n: u32) -> Result<(), Fail> {
    let v = p
        .hypercall(xen::XEN_VERSION, [xen::XENVER_VERSION, 0, 0, 0, 0])
        .map_err(|e| Fail::io("xen_version(XENVER_version)", e))?;
    // Arguments in memory the hypervisor reads and writes: a domid_t, a
    // gnttab_query_size {dom, nr_frames, max_nr_frames, status} and an
    // evtchn_send {port}.
    let mut domid = HcBuf::new(2);
    domid
        .bytes_mut()
        .copy_from_slice(&xen::DOMID_SELF.to_le_bytes());
    let mut query = HcBuf::new(16);
    query.bytes_mut()[..2].copy_from_slice(&xen::DOMID_SELF.to_le_bytes());
    // A bound port: an unbound one for Dom0 and a local port bound to it.
    // The driver masks the far end after its first event, so later sends
    // only set it pending: the hypervisor's path, not Linux's handler.
    let ev = Evtchn::open().map_err(|e| Fail::io("/dev/xen/evtchn", e))?;
    let far = ev
        .bind_unbound(0)
        .map_err(|e| Fail::io("evtchn bind_unbound", e))?;
    let near = ev
        .bind_interdomain(0, far)
        .map_err(|e| Fail::io("evtchn bind_interdomain", e))?;
    let mut send = HcBuf::new(4);
    send.bytes_mut().copy_from_slice(&near.to_le_bytes());
    let set = [
        call(
            "xen_version",
            "xen_version(XENVER_version)",
            xen::XEN_VERSION,
            [xen::XENVER_VERSION, 0, 0, 0, 0],
            false,
        ),
        call(
            "invalid_op",
            "unknown hypercall 1000, -ENOSYS",
            UNKNOWN_OP,
            [0; 5],
            true,
        ),
        call(
            "evtchn_send",
            "EVTCHNOP_send on a bound port",
            xen::EVENT_CHANNEL_OP,
            [xen::EVTCHNOP_SEND, send.addr(), 0, 0, 0],
            false,
        ),
        call(
            "gnttab_query_size",
            "GNTTABOP_query_size(DOMID_SELF)",
            xen::GRANT_TABLE_OP,
            [xen::GNTTABOP_QUERY_SIZE, query.addr(), 1, 0, 0],
            false,
        ),
        call(
            "current_reservation",
            "XENMEM_current_reservation(DOMID_SELF)",
            xen::MEMORY_OP,
            [xen::XENMEM_CURRENT_RESERVATION, domid.addr(), 0, 0, 0],
            false,
        ),
        call(
            "sched_yield",
            "SCHEDOP_yield",
            SCHED_OP,
            [SCHEDOP_YIELD, 0, 0, 0, 0],
            false,
        ),
    ];
    let null = set[0].h;
    match p.raw(IOCTL_UNKNOWN, &mut null.clone()) {
        Err(e) if e.raw_os_error() == Some(25) => {}
        r => return Err(Fail(format!("baseline ioctl: expected -ENOTTY, got {r:?}"))),
    }
    println!(
        "bench-hypercall: {n} calls each on {} (Xen {}.{})",
        p.path,
        v >> 16,
        v & 0xffff
    );
    // What the measured memory_op returns, for comparing hypervisors.
    for (name, cmd) in [
        ("current_reservation", xen::XENMEM_CURRENT_RESERVATION),
        ("maximum_reservation", xen::XENMEM_MAXIMUM_RESERVATION),
    ] {
        match reservation(p, cmd) {
            Ok(pages) => println!("bench-hypercall: XENMEM_{name}(DOMID_SELF) = {pages} pages"),
            Err(e) => println!(
                "bench-hypercall: XENMEM_{name}(DOMID_SELF): {}",
                errno_text(&e)
            ),
        }
    }
    // Warm up caches, TLBs and branch predictors on every path.
    time_calls(p, IOCTL_UNKNOWN, &null, n.min(1000));
    for c in &set {
        time_calls(p, IOCTL_HYPERCALL, &c.h, n.min(1000));
    }
    let (base, _) = time_calls(p, IOCTL_UNKNOWN, &null, n);
    println!("bench-hypercall: baseline (unknown privcmd ioctl, -ENOTTY): {base:.1} ns/call");
    for c in &set {
        let (t, failed) = time_calls(p, IOCTL_HYPERCALL, &c.h, n);
        if (failed != 0) != c.fails {
            // Reported, not fatal: the rest of the set is still measured.
            let e = p.raw(IOCTL_HYPERCALL, &mut c.h.clone()).err();
            let why = e.map_or("succeeded".into(), |e| errno_text(&e));
            println!(
                "bench-hypercall: {}: not measured, {failed} of {n} calls failed ({}: {why})",
                c.name, c.what
            );
            continue;
        }
        println!(
            "bench-hypercall: {}: {t:.1} ns/call, {:.1} over the baseline ({})",
            c.name,
            t - base,
            c.what
        );
    }
    let _ = ev.unbind(near);
    let _ = ev.unbind(far);
    evtchn_round_trip(&ev, n.min(10_000))
}

/// Dom0 to itself: notify one end, wait for the event on the other (the
/// upcall, Linux's handler, the driver's read and unmask), `n` times.
fn evtchn_round_trip(ev: &Evtchn, n: u32) -> Result<(), Fail> {
    let far = ev
        .bind_unbound(0)
        .map_err(|e| Fail::io("evtchn bind_unbound", e))?;
    let near = ev
        .bind_interdomain(0, far)
        .map_err(|e| Fail::io("evtchn bind_interdomain", e))?;
    // Xen raises the new local port on an interdomain bind: take that first.
    while let Ok(Some(_)) = ev.wait(10) {}
    let t = Instant::now();
    for i in 0..n {
        ev.notify(near).map_err(|e| Fail::io("evtchn notify", e))?;
        match ev.wait(1000) {
            Ok(Some(p)) if p == far => {}
            r => {
                return Err(Fail(format!(
                    "evtchn round trip {i}: waited for port {far}, got {r:?}"
                )))
            }
        }
    }
    let ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    println!("bench-hypercall: evtchn_round_trip: {ns:.1} ns/call ({n} notify + poll + read + unmask through /dev/xen/evtchn)");
    let _ = ev.unbind(near);
    let _ = ev.unbind(far);
    Ok(())
}

pub fn timer(n: u32) -> Result<(), Fail> {
    let t = Instant::now();
    for _ in 0..n {
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "bench-timer: {n} sleeps of 1 ms: {} ns",
        t.elapsed().as_nanos()
    );
    Ok(())
}

/// A fixed integer workload: xorshift over a 16 KiB table (stays in the
/// caches, no system call, no page fault after the first round).
fn cpu_round(table: &mut [u32; 4096], mut x: u32) -> u32 {
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let i = (x as usize) & 4095;
        table[i] = table[i].wrapping_add(x);
    }
    x
}

pub fn cpu(n: u32) -> Result<(), Fail> {
    let mut table = Box::new([0u32; 4096]);
    let mut x = 0x1234_5678;
    let ticks = timer_interrupts()?;
    let t = Instant::now();
    for _ in 0..n {
        x = cpu_round(&mut table, x);
    }
    let ns = t.elapsed().as_nanos();
    let ticks = timer_interrupts()? - ticks;
    println!(
        "bench-cpu: {n} rounds: {ns} ns (checksum {:#x}, {ticks} timer interrupts)",
        table.iter().fold(x, |a, &b| a ^ b)
    );
    Ok(())
}

/// The architected timer's interrupts so far, all CPUs (`/proc/interrupts`).
fn timer_interrupts() -> Result<u64, Fail> {
    let text = std::fs::read_to_string("/proc/interrupts")
        .map_err(|e| Fail(format!("/proc/interrupts: {e}")))?;
    arch_timer_count(&text).ok_or_else(|| Fail("/proc/interrupts has no arch_timer line".into()))
}

/// The `arch_timer` lines' per-CPU counts, summed: the header names the
/// CPU columns, the counts follow the `NN:` label. Linux booted in HYP mode
/// without KVM registers the secure and non-secure physical timer PPIs (29
/// and 30), both named `arch_timer`; as a guest, the virtual one (27).
fn arch_timer_count(text: &str) -> Option<u64> {
    let mut lines = text.lines();
    let cpus = lines.next()?.split_whitespace().count();
    let timers: Vec<&str> = lines
        .filter(|l| l.split_whitespace().any(|w| w == "arch_timer"))
        .collect();
    if timers.is_empty() {
        return None;
    }
    timers
        .iter()
        .flat_map(|l| l.split_whitespace().skip(1).take(cpus))
        .map(|c| c.parse::<u64>().ok())
        .sum()
}

/// `GICD_TYPER` (GICv2 architecture specification, 4.3.2): read-only, no
/// side effects, the same on every GICv2.
const GICD_TYPER: usize = 0x004;

pub fn gicd(n: u32) -> Result<(), Fail> {
    let dt = "/proc/device-tree";
    let base = gicd_base(dt)?;
    let m = Mapping::phys(base).map_err(|e| Fail::io(&format!("/dev/mem at {base:#x}"), e))?;
    let word = Box::new(0u32);
    let ram = |k: u32| {
        for _ in 0..k {
            // SAFETY: a live, aligned u32 of ours.
            unsafe { std::ptr::read_volatile(&*word) };
        }
    };
    let dev = |k: u32| {
        for _ in 0..k {
            m.read_u32(GICD_TYPER);
        }
    };
    ram(n.min(1000));
    dev(n.min(1000));
    let t = Instant::now();
    ram(n);
    let base_ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    let t = Instant::now();
    dev(n);
    let ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    println!(
        "bench-gicd: GICD_TYPER ({:#010x}) at {:#x}: {ns:.1} ns/read, {:.1} over a RAM read ({n} reads)",
        m.read_u32(GICD_TYPER),
        base + GICD_TYPER as u64,
        ns - base_ns
    );
    Ok(())
}

/// The distributor's physical address: `reg` of the GICv2 node at the top
/// of the device tree Linux booted with (root `#address-cells`).
fn gicd_base(dt: &str) -> Result<u64, Fail> {
    let read = |p: &str| std::fs::read(format!("{dt}/{p}"));
    let cells = read("#address-cells")
        .ok()
        .and_then(|b| Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?)))
        .unwrap_or(2) as usize;
    let nodes = std::fs::read_dir(dt).map_err(|e| Fail(format!("{dt}: {e}")))?;
    for node in nodes.flatten() {
        let name = node.file_name().to_string_lossy().into_owned();
        let Ok(compat) = read(&format!("{name}/compatible")) else {
            continue;
        };
        if !compat
            .split(|&b| b == 0)
            .any(|c| GICV2.contains(&String::from_utf8_lossy(c).as_ref()))
        {
            continue;
        }
        let reg =
            read(&format!("{name}/reg")).map_err(|e| Fail(format!("{dt}/{name}/reg: {e}")))?;
        return reg_address(&reg, cells).ok_or_else(|| {
            Fail(format!(
                "{dt}/{name}/reg: {} bytes, {cells} address cells",
                reg.len()
            ))
        });
    }
    Err(Fail(format!(
        "no GICv2 node ({}) at the top of {dt}",
        GICV2.join(", ")
    )))
}

/// GICv2 `compatible` strings (Linux's `irq-gic.c` bindings) whose first
/// `reg` entry is the distributor.
const GICV2: &[&str] = &[
    "arm,cortex-a15-gic",
    "arm,cortex-a7-gic",
    "arm,cortex-a9-gic",
    "arm,gic-400",
    "arm,arm11mp-gic",
];

/// The first address of a `reg` property (`cells` big-endian 32-bit words).
fn reg_address(reg: &[u8], cells: usize) -> Option<u64> {
    if !(1..=2).contains(&cells) || reg.len() < cells * 4 {
        return None;
    }
    Some(reg[..cells * 4].chunks(4).fold(0u64, |a, c| {
        a << 32 | u64::from(u32::from_be_bytes(c.try_into().unwrap()))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_interrupts() {
        let text = "           CPU0       CPU1       \n 17:          0          0     GIC-0  27 Level     arch_timer\n 18:       1234        766     GIC-0  30 Level     kvm guest ptimer\n";
        assert_eq!(arch_timer_count(text), Some(0));
        let text = "           CPU0       CPU1       \n 18:       1234        766     GIC-0  27 Level     arch_timer\nIPI0:    5    6  Rescheduling interrupts\n";
        assert_eq!(arch_timer_count(text), Some(2000));
        assert_eq!(arch_timer_count("CPU0\n 3: 7 GIC-0 29 Level other\n"), None);
        let native = "           CPU0       \n 17:          0     GIC-0  29 Level     arch_timer\n 18:        205     GIC-0  30 Level     arch_timer\n";
        assert_eq!(arch_timer_count(native), Some(205));
    }

    #[test]
    fn reg_addresses() {
        let reg = [0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0];
        assert_eq!(reg_address(&reg, 2), Some(0x0800_0000));
        assert_eq!(reg_address(&reg[4..], 1), Some(0x0800_0000));
        assert_eq!(reg_address(&reg[..6], 2), None);
        assert_eq!(reg_address(&reg, 3), None);
    }

    #[test]
    fn cpu_round_is_deterministic() {
        let mut a = Box::new([0u32; 4096]);
        let mut b = Box::new([0u32; 4096]);
        assert_eq!(cpu_round(&mut a, 1), cpu_round(&mut b, 1));
        assert_eq!(a, b);
        assert_ne!(cpu_round(&mut a, 1), 1);
    }
}
