//! The serial console shared by Dom0, the DomUs and snowvisor, as Xen does
//! it: input goes to Dom0 (hvc0) until Ctrl-a is typed three times in a row,
//! which switches it to the first DomU with a console (its vpl011), then the
//! next, then to snowvisor's own console, where single keys print debug
//! state, then back to Dom0. Output from all always reaches the UART.
//!
//! The switch, the key table and what a key prints are host-tested (the CPU
//! through [`Arch`]); [`run`] writes it to the console.

use core::fmt::{self, Write};

use crate::bootargs::LogLevel;
use crate::domain::Domain;
use crate::hal::Arch;
use snowvisor_arm::frame::{mode_name, TrapFrame};

/// Ctrl-a, Xen's default switch code.
pub const SWITCH_CODE: u8 = 0x01;
/// Presses of the switch code in a row that switch.
const SWITCH_COUNT: u8 = 3;

/// Who receives console input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Dom0,
    /// The DomU with this domain ID (its vpl011).
    DomU(u16),
    Hypervisor,
}

impl fmt::Display for Focus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Focus::Dom0 => f.write_str("Dom0"),
            Focus::DomU(id) => write!(f, "d{id}"),
            Focus::Hypervisor => f.write_str("snowvisor"),
        }
    }
}

/// What one received byte turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A byte for Dom0's console.
    Dom0(u8),
    /// A byte for the console of the DomU with this domain ID.
    DomU(u16, u8),
    /// A key for snowvisor's console.
    Key(u8),
    /// Input now goes to this side.
    Switched(Focus),
}

/// The input switch. Ctrl-a presses are held back until it is clear whether
/// they are a switch (three in a row) or input (fewer, then another byte),
/// in which case they are passed on first, as Xen's `serial_rx` does.
#[derive(Debug, Clone)]
pub struct ConsoleSwitch {
    focus: Focus,
    held: u8,
    /// The DomUs with a console, in the order input visits them (domain IDs).
    domus: alloc::vec::Vec<u16>,
}

impl Default for ConsoleSwitch {
    fn default() -> Self {
        ConsoleSwitch {
            focus: Focus::Dom0,
            held: 0,
            domus: alloc::vec::Vec::new(),
        }
    }
}

impl ConsoleSwitch {
    /// A switch whose cycle visits the DomUs `domus` (domain IDs, in
    /// order) between Dom0 and snowvisor.
    pub fn with_domus(domus: alloc::vec::Vec<u16>) -> Self {
        ConsoleSwitch {
            domus,
            ..Self::default()
        }
    }

    /// Where input goes after `f`: Dom0, each DomU, snowvisor, Dom0 again.
    fn next(&self, f: Focus) -> Focus {
        let after = match f {
            Focus::Dom0 => 0,
            Focus::DomU(id) => self
                .domus
                .iter()
                .position(|&d| d == id)
                .map_or(usize::MAX, |i| i + 1),
            Focus::Hypervisor => return Focus::Dom0,
        };
        self.domus
            .get(after)
            .map_or(Focus::Hypervisor, |&id| Focus::DomU(id))
    }

    pub fn focus(&self) -> Focus {
        self.focus
    }

    /// Feeds one received byte; `emit` gets what it means, in order.
    pub fn feed(&mut self, b: u8, emit: &mut dyn FnMut(Input)) {
        if b == SWITCH_CODE {
            self.held += 1;
            if self.held == SWITCH_COUNT {
                self.held = 0;
                self.focus = self.next(self.focus);
                emit(Input::Switched(self.focus));
            }
            return;
        }
        for _ in 0..core::mem::take(&mut self.held) {
            emit(self.deliver(SWITCH_CODE));
        }
        emit(self.deliver(b));
    }

    fn deliver(&self, b: u8) -> Input {
        match self.focus {
            Focus::Dom0 => Input::Dom0(b),
            Focus::DomU(id) => Input::DomU(id, b),
            Focus::Hypervisor => Input::Key(b),
        }
    }
}

/// The console's state kept with the domain: the switch, the UART's receive
/// interrupt, what the `p` key prints and the DomUs (for their input and
/// the `d` key).
#[derive(Clone, Default)]
pub struct Console {
    pub switch: ConsoleSwitch,
    /// The UART's SPI, routed to snowvisor (None: input is not interrupt driven).
    pub intid: Option<u32>,
    pub plan_lines: alloc::vec::Vec<alloc::string::String>,
    /// The boot-time DomUs, in domain ID order.
    pub domus: alloc::vec::Vec<ConsoleDomU>,
    /// Dom0, whose hvc0 gets the input typed for Dom0 whichever vCPU (of
    /// any domain, or none) the UART's CPU runs when the byte arrives.
    pub dom0: Option<&'static crate::vcpu::DomainCell>,
}

/// A DomU as the console knows it.
#[derive(Clone, Copy)]
pub struct ConsoleDomU {
    /// Its domain ID.
    pub id: u16,
    /// Its node's name under `/chosen` (`domU1`).
    pub node: &'static str,
    pub cell: &'static crate::vcpu::DomainCell,
}

impl fmt::Debug for ConsoleDomU {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "d{} ({})", self.id, self.node)
    }
}

/// snowvisor's debug keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Help,
    Plan,
    Registers,
    Events,
    LogLevel,
    Stats,
    /// The integrity check: snowvisor's text and read-only data and the
    /// guard pages against their checksums at boot.
    Integrity,
    /// The domains: ID, name, memory, vCPUs, state ([`list_domains`]).
    Domains,
    /// Return, newline: nothing to do.
    Nothing,
    Unknown(u8),
}

/// (key, what it does), for the help text.
pub const KEYS: &[(u8, &str)] = &[
    (b'h', "this help"),
    (b'p', "the plan: what Dom0 got and why"),
    (b'd', "the domains: ID, name, memory, vCPUs, state"),
    (b'r', "Dom0's vCPU registers"),
    (b'e', "event channels, grant table and upcall state"),
    (
        b's',
        "exit counters by class and key since boot (snowctl stats)",
    ),
    (
        b'l',
        "cycle the log level (error, warn, info, debug, trace)",
    ),
    (
        b'c',
        "integrity: CRC-32 of snowvisor's text+rodata and the guard pages, against boot",
    ),
];

impl Command {
    pub fn from_key(k: u8) -> Self {
        match k {
            b'h' | b'?' => Command::Help,
            b'p' => Command::Plan,
            b'd' => Command::Domains,
            b'r' => Command::Registers,
            b'e' => Command::Events,
            b'l' => Command::LogLevel,
            b's' => Command::Stats,
            b'c' => Command::Integrity,
            b'\r' | b'\n' | b' ' => Command::Nothing,
            k => Command::Unknown(k),
        }
    }
}

/// The level after `l` in the `l` key's cycle.
pub fn next_level(l: LogLevel) -> LogLevel {
    match l {
        LogLevel::Error => LogLevel::Warn,
        LogLevel::Warn => LogLevel::Info,
        LogLevel::Info => LogLevel::Debug,
        LogLevel::Debug => LogLevel::Trace,
        LogLevel::Trace => LogLevel::Error,
    }
}

/// The line printed when input changes sides.
pub fn switch_banner(f: Focus) -> alloc::string::String {
    match f {
        Focus::Dom0 => {
            alloc::format!("*** serial input to {f} (type Ctrl-a three times to switch input)")
        }
        Focus::DomU(_) => {
            alloc::format!("*** serial input to {f} (type Ctrl-a three times to switch input)")
        }
        Focus::Hypervisor => alloc::format!(
            "*** serial input to {f} (type Ctrl-a three times to switch input, h for help)"
        ),
    }
}

/// One line of the `d` key: domain `d`, named `node`, and `lost` bytes of
/// its console output lost since boot (said only when some were).
pub fn domain_line(d: &Domain, node: &str, lost: u64) -> alloc::string::String {
    let mib: u64 = d.memory.iter().map(|r| r.size).sum::<u64>() >> 20;
    let on = d
        .vcpus
        .iter()
        .filter(|s| s.power == crate::psci::Power::On)
        .count();
    let lost = if lost > 0 {
        alloc::format!(", console: {lost} byte(s) of output lost")
    } else {
        alloc::string::String::new()
    };
    let restarts = d
        .restart
        .as_ref()
        .map_or(alloc::string::String::new(), |r| {
            alloc::format!(", restarts {}", r.guard.count())
        });
    alloc::format!(
        "d{} {node}: {mib} MiB, {} vCPU(s) ({on} on), {}{restarts}{lost}",
        d.id,
        d.vcpus.len(),
        d.state.name()
    )
}

/// Bytes of domain `d`'s console output lost since boot: to its UART's
/// full FIFO, and beyond its room in the console's queue.
fn console_lost(a: &impl Arch, d: &Domain) -> u64 {
    d.uart.as_ref().map_or(0, |u| u.lost()) + a.console_lost(d.id)
}

/// The `d` key: every domain, each locked in turn (never two at once,
/// never with another lock but the CPU's own: the lock order), Dom0's
/// first. The caller holds no domain lock.
pub fn list_domains(a: &impl Arch, dom0: &crate::vcpu::DomainCell, console: &Console) {
    let line = {
        let d = dom0.lock();
        domain_line(&d, "dom0", console_lost(a, &d))
    };
    a.console_write(format_args!("snowvisor: domains:\n"));
    a.console_write(format_args!("snowvisor:   {line}\n"));
    for u in &console.domus {
        let line = {
            let d = u.cell.lock();
            domain_line(&d, u.node, console_lost(a, &d))
        };
        a.console_write(format_args!("snowvisor:   {line}\n"));
    }
}

/// Lines written to the console as they come (each carries snowvisor's prefix).
struct Out<'a, A>(&'a A);

impl<A: Arch> Write for Out<'_, A> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for line in s.split_inclusive('\n') {
            self.0.console_write(format_args!("{line}"));
        }
        Ok(())
    }
}

/// The vCPU loaded on the CPU that takes the key.
#[derive(Debug, Clone, Copy)]
pub struct VcpuView {
    /// Its index in its domain.
    pub id: u32,
    /// Virtual interrupts queued for it.
    pub queued: usize,
}

/// Carries out a debug key on the console: `d` is the domain of the vCPU
/// `v` loaded on this CPU, `f` its registers at the interrupt.
pub fn run(
    a: &impl Arch,
    cmd: Command,
    console: &Console,
    d: &mut Domain,
    v: VcpuView,
    f: &TrapFrame,
) {
    let _ = write_key(&mut Out(a), a, cmd, console, d, v, f);
}

pub(crate) fn write_key(
    o: &mut impl Write,
    a: &impl Arch,
    cmd: Command,
    console: &Console,
    d: &mut Domain,
    v: VcpuView,
    f: &TrapFrame,
) -> fmt::Result {
    match cmd {
        Command::Plan => console
            .plan_lines
            .iter()
            .try_for_each(|l| writeln!(o, "snowvisor: {l}")),
        Command::Registers => registers(o, a, d, v, f),
        Command::Events => events(o, a, d, v),
        // Listed by the caller, which holds no domain lock then.
        Command::Domains => Ok(()),
        c => write_plain_key(o, a, c),
    }
}

/// A debug key Dom0 sent (`XEN_SYSCTL_debug_keys`: `xl debug-keys`), run
/// inside its hypercall. The keys that read no domain ('h', 's', 'l', 'c')
/// run as on the console, their lines going to the console and the RAM
/// log (`xl dmesg`); those that show a domain or the plan ('d', 'e', 'p',
/// 'r') say they are the console's: the hypercall holds its own domain's
/// lock and has no plan or vCPU registers to show.
pub fn run_for_guest(a: &impl Arch, key: u8) {
    let o = &mut Out(a);
    let _ = match Command::from_key(key) {
        Command::Plan | Command::Registers | Command::Events | Command::Domains => writeln!(
            o,
            "snowvisor: key '{}' shows a domain's state: type it on the console (Ctrl-a three times)",
            key as char
        ),
        c => write_plain_key(o, a, c),
    };
}

/// The keys that need no domain: help, counters, log level, integrity.
fn write_plain_key(o: &mut impl Write, a: &impl Arch, cmd: Command) -> fmt::Result {
    match cmd {
        Command::Help => KEYS
            .iter()
            .try_for_each(|(k, what)| writeln!(o, "snowvisor: '{}': {what}", *k as char)),
        Command::Stats => {
            let mut r = Ok(());
            a.exits().for_each(|c, k, n| {
                if r.is_ok() {
                    r = writeln!(o, "snowvisor: exits: {} {k:#x}: {n}", c.name());
                }
            });
            r
        }
        Command::LogLevel => {
            let l = next_level(crate::console::level());
            log::set_max_level(crate::console::level_filter(l));
            writeln!(o, "snowvisor: log level {l:?}")
        }
        Command::Integrity => {
            a.integrity_check("debug key 'c'");
            Ok(())
        }
        // Printable keys quoted, others as a byte (no char Debug escaping:
        // it brings Unicode tables into the image).
        Command::Unknown(k) if k.is_ascii_graphic() => writeln!(
            o,
            "snowvisor: key '{}' does nothing here; 'h' lists the keys",
            k as char
        ),
        Command::Unknown(k) => writeln!(
            o,
            "snowvisor: key {k:#04x} does nothing here; 'h' lists the keys"
        ),
        Command::Nothing
        | Command::Plan
        | Command::Registers
        | Command::Events
        | Command::Domains => Ok(()),
    }
}

fn registers(
    o: &mut impl Write,
    a: &impl Arch,
    d: &Domain,
    v: VcpuView,
    f: &TrapFrame,
) -> fmt::Result {
    let who = alloc::format!("{} vCPU {}", d.name, v.id);
    for i in (0..13).step_by(4) {
        write!(o, "snowvisor: {who}:")?;
        for (j, r) in f.r[i..(i + 4).min(13)].iter().enumerate() {
            write!(o, " r{:<2}={r:#010x}", i + j)?;
        }
        writeln!(o)?;
    }
    writeln!(
        o,
        "snowvisor: {who}: lr_usr={:#010x} pc={:#010x} cpsr={:#010x} ({} mode)",
        f.lr,
        f.elr,
        f.spsr,
        mode_name(f.spsr)
    )?;
    let (dfar, dfsr) = a.guest_data_fault();
    writeln!(
        o,
        "snowvisor: {who}: SCTLR={:#010x} DFAR={dfar:#010x} DFSR={dfsr:#010x}",
        a.guest_control().sctlr,
    )
}

fn events(o: &mut impl Write, a: &impl Arch, d: &mut Domain, v: VcpuView) -> fmt::Result {
    let Domain { xen, vdist, .. } = d;
    let Some(x) = xen.as_mut() else {
        return writeln!(o, "snowvisor: Dom0 has no Xen state");
    };
    let ppi = x.event_ppi();
    writeln!(
        o,
        "snowvisor: vgic: event PPI {ppi} {}abled, upcall {}waiting; {} interrupt(s) queued",
        if vdist.enabled(v.id as usize, ppi) {
            "en"
        } else {
            "dis"
        },
        if x.upcall_waiting(v.id) { "" } else { "not " },
        v.queued
    )?;
    let mut lines = alloc::string::String::new();
    x.dump(a, &mut lines)?;
    lines
        .lines()
        .try_for_each(|l| writeln!(o, "snowvisor: {l}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn feed(s: &mut ConsoleSwitch, bytes: &[u8]) -> Vec<Input> {
        let mut v = Vec::new();
        for &b in bytes {
            s.feed(b, &mut |i| v.push(i));
        }
        v
    }

    #[test]
    fn three_ctrl_a_switch_and_back() {
        let mut s = ConsoleSwitch::default();
        assert_eq!(feed(&mut s, b"ls"), [Input::Dom0(b'l'), Input::Dom0(b's')]);
        assert_eq!(
            feed(&mut s, &[1, 1, 1]),
            [Input::Switched(Focus::Hypervisor)]
        );
        assert_eq!(s.focus(), Focus::Hypervisor);
        assert_eq!(feed(&mut s, b"e"), [Input::Key(b'e')]);
        assert_eq!(
            feed(&mut s, &[1, 1, 1, b'x']),
            [Input::Switched(Focus::Dom0), Input::Dom0(b'x')]
        );
    }

    #[test]
    fn ctrl_a_cycles_through_the_domus() {
        let mut s = ConsoleSwitch::with_domus(alloc::vec![1, 3]);
        let cycle = [
            Focus::DomU(1),
            Focus::DomU(3),
            Focus::Hypervisor,
            Focus::Dom0,
        ];
        for to in cycle {
            assert_eq!(feed(&mut s, &[1, 1, 1]), [Input::Switched(to)]);
            let want = match to {
                Focus::Dom0 => Input::Dom0(b'x'),
                Focus::DomU(id) => Input::DomU(id, b'x'),
                Focus::Hypervisor => Input::Key(b'x'),
            };
            assert_eq!(feed(&mut s, b"x"), [want]);
        }
        assert_eq!(Command::from_key(b'd'), Command::Domains);
        assert!(switch_banner(Focus::DomU(3)).starts_with("*** serial input to d3 "));
    }

    #[test]
    fn fewer_ctrl_a_are_input() {
        let mut s = ConsoleSwitch::default();
        // Ctrl-a Ctrl-a then 'c': both Ctrl-a reach Dom0 before the 'c'.
        assert_eq!(
            feed(&mut s, &[1, 1, b'c']),
            [Input::Dom0(1), Input::Dom0(1), Input::Dom0(b'c')]
        );
        // Four in a row: a switch, then one held.
        assert_eq!(
            feed(&mut s, &[1, 1, 1, 1, b'h']),
            [
                Input::Switched(Focus::Hypervisor),
                Input::Key(1),
                Input::Key(b'h')
            ]
        );
    }

    #[test]
    fn keys_and_levels() {
        assert_eq!(Command::from_key(b'h'), Command::Help);
        assert_eq!(Command::from_key(b'e'), Command::Events);
        assert_eq!(Command::from_key(b's'), Command::Stats);
        assert_eq!(Command::from_key(b'c'), Command::Integrity);
        assert_eq!(Command::from_key(b'\r'), Command::Nothing);
        assert_eq!(Command::from_key(b'z'), Command::Unknown(b'z'));
        let mut l = LogLevel::Info;
        for _ in 0..5 {
            l = next_level(l);
        }
        assert_eq!(l, LogLevel::Info, "the cycle has five levels");
        assert!(switch_banner(Focus::Hypervisor).contains("h for help"));
        for (k, _) in KEYS {
            assert!(!matches!(
                Command::from_key(*k),
                Command::Unknown(_) | Command::Nothing
            ));
        }
    }
}
