//! Command and event queue records (IHI 0070 §4, §7). Pure, host-tested.

use core::fmt;
use tock_registers::{register_bitfields, LocalRegisterCopy};

register_bitfields![u64,
    /// Command word 0 (§4.1.1): the opcode, and the stream or VMID operand.
    CMD0 [
        OPCODE OFFSET(0) NUMBITS(8) [
            CfgiSte = 0x03,
            CfgiAll = 0x04,
            TlbiS12Vmall = 0x28,
            TlbiNsnhAll = 0x30,
            Sync = 0x46
        ],
        /// CMD_SYNC's completion signal (0: SIG_NONE).
        CS OFFSET(12) NUMBITS(2) [],
        /// CMD_CFGI_STE's StreamID; CMD_TLBI_S12_VMALL's VMID (bits 47:32).
        SID_OR_VMID OFFSET(32) NUMBITS(32) []
    ],
    /// Command word 1.
    CMD1 [
        /// CMD_CFGI_STE: only the STE changed, no descriptor it points at.
        LEAF OFFSET(0) NUMBITS(1) [],
        /// CMD_CFGI_STE_RANGE (CMD_CFGI_ALL): 2^(RANGE + 1) streams.
        RANGE OFFSET(0) NUMBITS(5) []
    ],
    /// Event record word 0 (§7.3).
    EVT0 [
        TYPE OFFSET(0) NUMBITS(8) [],
        SSV OFFSET(11) NUMBITS(1) [],
        SUBSTREAM_ID OFFSET(12) NUMBITS(20) [],
        STREAM_ID OFFSET(32) NUMBITS(32) []
    ],
    /// Event record word 1 (translation-related faults).
    EVT1 [
        PNU OFFSET(33) NUMBITS(1) [],
        IND OFFSET(34) NUMBITS(1) [],
        RNW OFFSET(35) NUMBITS(1) [],
        S2 OFFSET(39) NUMBITS(1) [],
        CLASS OFFSET(40) NUMBITS(2) []
    ],
    /// Event record word 3.
    EVT3 [
        /// Fetch address or IPA, bits 51:3.
        ADDR2 OFFSET(3) NUMBITS(49) []
    ]
];

/// A command snowvisor issues; 16 bytes on the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// CMD_CFGI_STE: forget the cached STE of one stream.
    CfgiSte { sid: u32 },
    /// CMD_CFGI_ALL: forget every cached STE and CD.
    CfgiAll,
    /// CMD_TLBI_S12_VMALL: forget every TLB entry of one VMID.
    TlbiS12Vmall { vmid: u16 },
    /// CMD_TLBI_NSNH_ALL: forget every non-secure, non-HYP TLB entry.
    TlbiNsnhAll,
    /// CMD_SYNC without a signal: complete once every earlier command has;
    /// snowvisor polls CMDQ_CONS for it.
    Sync,
}

impl Command {
    pub fn encode(&self) -> [u64; 2] {
        let (w0, w1) = match *self {
            Command::CfgiSte { sid } => (
                CMD0::OPCODE::CfgiSte + CMD0::SID_OR_VMID.val(u64::from(sid)),
                CMD1::LEAF::SET,
            ),
            // CFGI_STE_RANGE with Range = 31 covers every stream.
            Command::CfgiAll => (CMD0::OPCODE::CfgiAll, CMD1::RANGE.val(31)),
            Command::TlbiS12Vmall { vmid } => (
                CMD0::OPCODE::TlbiS12Vmall + CMD0::SID_OR_VMID.val(u64::from(vmid)),
                CMD1::RANGE.val(0),
            ),
            Command::TlbiNsnhAll => (CMD0::OPCODE::TlbiNsnhAll, CMD1::RANGE.val(0)),
            Command::Sync => (CMD0::OPCODE::Sync + CMD0::CS.val(0), CMD1::RANGE.val(0)),
        };
        let (mut r0, mut r1) = (
            LocalRegisterCopy::<u64, CMD0::Register>::new(0),
            LocalRegisterCopy::<u64, CMD1::Register>::new(0),
        );
        r0.write(w0);
        r1.write(w1);
        [r0.get(), r1.get()]
    }

    pub fn name(&self) -> &'static str {
        match self {
            Command::CfgiSte { .. } => "CMD_CFGI_STE",
            Command::CfgiAll => "CMD_CFGI_ALL",
            Command::TlbiS12Vmall { .. } => "CMD_TLBI_S12_VMALL",
            Command::TlbiNsnhAll => "CMD_TLBI_NSNH_ALL",
            Command::Sync => "CMD_SYNC",
        }
    }
}

/// The opcode of an encoded command, for error reports.
pub fn opcode(words: [u64; 2]) -> u8 {
    LocalRegisterCopy::<u64, CMD0::Register>::new(words[0]).read(CMD0::OPCODE) as u8
}

/// CMDQ_CONS.ERR values.
pub fn cmd_error_name(err: u32) -> &'static str {
    match err {
        0 => "CERROR_NONE",
        1 => "CERROR_ILL (illegal or unsupported command)",
        2 => "CERROR_ABT (abort reading the command)",
        3 => "CERROR_ATC_INV_SYNC",
        _ => "unknown CERROR",
    }
}

/// GERROR / GERRORN bits.
pub const GERROR_CMDQ_ERR: u32 = 1 << 0;

/// Names of the active GERROR bits, for the console.
pub fn gerror_names(bits: u32) -> impl Iterator<Item = &'static str> {
    const NAMES: [(u32, &str); 9] = [
        (0, "CMDQ_ERR (a command failed)"),
        (
            2,
            "EVENTQ_ABT_ERR (event queue full or unwritable: events were lost)",
        ),
        (3, "PRIQ_ABT_ERR"),
        (4, "MSI_CMDQ_ABT_ERR"),
        (5, "MSI_EVENTQ_ABT_ERR"),
        (6, "MSI_PRIQ_ABT_ERR"),
        (7, "MSI_GERROR_ABT_ERR"),
        (
            8,
            "SFM_ERR (service failure mode: the SMMU stopped translating)",
        ),
        (9, "CMDQP_ERR"),
    ];
    NAMES
        .into_iter()
        .filter(move |(b, _)| bits & (1 << b) != 0)
        .map(|(_, n)| n)
}

/// One event record (32 bytes), decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub kind: u8,
    pub sid: u32,
    /// SubstreamID, when SSV is set.
    pub ssid: Option<u32>,
    /// The transaction was a read (RnW); only meaningful for faults with an address.
    pub read: bool,
    /// Instruction fetch (InD) and privileged (PnU) accesses.
    pub instruction: bool,
    pub privileged: bool,
    /// The fault came from the stage-2 walk (S2).
    pub stage2: bool,
    /// CLASS: 0 CD fetch, 1 stage-1 table walk, 2 input address.
    pub class: u8,
    /// The transaction's input address.
    pub addr: u64,
    /// Fetch address or IPA (ADDR2, bits [51:3]).
    pub addr2: u64,
}

pub const F_UUT: u8 = 0x01;
pub const C_BAD_STREAMID: u8 = 0x02;
pub const F_STE_FETCH: u8 = 0x03;
pub const C_BAD_STE: u8 = 0x04;
pub const F_STREAM_DISABLED: u8 = 0x06;
pub const F_TRANSL_FORBIDDEN: u8 = 0x07;
pub const F_WALK_EABT: u8 = 0x0b;
pub const F_TRANSLATION: u8 = 0x10;
pub const F_ADDR_SIZE: u8 = 0x11;
pub const F_ACCESS: u8 = 0x12;
pub const F_PERMISSION: u8 = 0x13;

impl Event {
    pub fn decode(w: [u64; 4]) -> Event {
        let w0 = LocalRegisterCopy::<u64, EVT0::Register>::new(w[0]);
        let w1 = LocalRegisterCopy::<u64, EVT1::Register>::new(w[1]);
        let w3 = LocalRegisterCopy::<u64, EVT3::Register>::new(w[3]);
        Event {
            kind: w0.read(EVT0::TYPE) as u8,
            sid: w0.read(EVT0::STREAM_ID) as u32,
            ssid: w0
                .is_set(EVT0::SSV)
                .then_some(w0.read(EVT0::SUBSTREAM_ID) as u32),
            read: w1.is_set(EVT1::RNW),
            instruction: w1.is_set(EVT1::IND),
            privileged: w1.is_set(EVT1::PNU),
            stage2: w1.is_set(EVT1::S2),
            class: w1.read(EVT1::CLASS) as u8,
            addr: w[2],
            addr2: w3.read(EVT3::ADDR2) << 3,
        }
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            F_UUT => "F_UUT (unsupported upstream transaction)",
            C_BAD_STREAMID => "C_BAD_STREAMID (stream beyond the stream table)",
            F_STE_FETCH => "F_STE_FETCH (cannot read the STE)",
            C_BAD_STE => "C_BAD_STE (stream not assigned to any domain, or a bad STE)",
            0x05 => "F_BAD_ATS_TREQ",
            F_STREAM_DISABLED => "F_STREAM_DISABLED",
            F_TRANSL_FORBIDDEN => "F_TRANSL_FORBIDDEN",
            0x08 => "C_BAD_SUBSTREAMID",
            0x09 => "F_CD_FETCH",
            0x0a => "C_BAD_CD",
            F_WALK_EABT => "F_WALK_EABT (external abort on a table walk)",
            F_TRANSLATION => "F_TRANSLATION (address not mapped for the domain)",
            F_ADDR_SIZE => "F_ADDR_SIZE (address beyond the output size)",
            F_ACCESS => "F_ACCESS (access flag)",
            F_PERMISSION => "F_PERMISSION (write to a read-only page)",
            0x20 => "F_TLB_CONFLICT",
            0x21 => "F_CFG_CONFLICT",
            0x24 => "E_PAGE_REQUEST",
            0x25 => "F_VMS_FETCH",
            _ => "unknown event",
        }
    }

    /// Events that carry the faulting address and direction.
    pub fn has_address(&self) -> bool {
        matches!(
            self.kind,
            F_UUT
                | F_TRANSL_FORBIDDEN
                | F_WALK_EABT
                | F_TRANSLATION
                | F_ADDR_SIZE
                | F_ACCESS
                | F_PERMISSION
        )
    }
}

impl Event {
    /// The report line, with the faulting addresses `low..=high`.
    fn write_line(&self, f: &mut fmt::Formatter<'_>, low: u64, high: u64) -> fmt::Result {
        write!(f, "stream {:#06x}", self.sid)?;
        if let Some(ss) = self.ssid {
            write!(f, " substream {ss:#x}")?;
        }
        write!(f, ": {}", self.name())?;
        if self.has_address() {
            write!(
                f,
                " on DMA {} {} {low:#010x}",
                if self.read { "read" } else { "write" },
                if self.read { "from" } else { "to" },
            )?;
            if high != low {
                write!(f, "-{high:#010x}")?;
            }
            if self.stage2 && high == low {
                write!(f, " (stage 2, IPA {:#010x})", self.addr2)?;
            } else if self.stage2 {
                write!(f, " (stage 2)")?;
            }
        } else if self.kind == F_STE_FETCH {
            write!(f, " at {:#010x}", self.addr2)?;
        }
        Ok(())
    }
}

impl fmt::Display for Event {
    /// One line: `stream 0x0008: F_TRANSLATION (...) on DMA write to 0x40000000 (stage 2, IPA 0x40000000)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_line(f, self.addr, self.addr)
    }
}

/// Faults of one kind from one stream on neighbouring addresses, reported as
/// one line: a device copying a buffer faults once per access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultRun {
    pub event: Event,
    pub low: u64,
    pub high: u64,
    pub count: u32,
}

/// How far apart two faults of a run may be.
const RUN_GAP: u64 = 0x1000;

impl FaultRun {
    pub fn new(e: Event) -> Self {
        FaultRun {
            event: e,
            low: e.addr,
            high: e.addr,
            count: 1,
        }
    }

    /// Takes `e` in if it is the same fault from the same stream within a
    /// page of the run.
    pub fn absorb(&mut self, e: &Event) -> bool {
        let a = &self.event;
        let same =
            (e.kind, e.sid, e.ssid, e.read, e.stage2) == (a.kind, a.sid, a.ssid, a.read, a.stage2);
        if !same {
            return false;
        }
        if a.has_address() {
            if e.addr.saturating_add(RUN_GAP) < self.low
                || e.addr > self.high.saturating_add(RUN_GAP)
            {
                return false;
            }
            self.low = self.low.min(e.addr);
            self.high = self.high.max(e.addr);
        }
        self.count = self.count.saturating_add(1);
        true
    }
}

impl fmt::Display for FaultRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.event.write_line(f, self.low, self.high)?;
        if self.count > 1 {
            write!(f, " ({} faults)", self.count)?;
        }
        Ok(())
    }
}

/// Groups events into runs, in arrival order.
pub fn runs(events: impl IntoIterator<Item = Event>) -> alloc::vec::Vec<FaultRun> {
    let mut out: alloc::vec::Vec<FaultRun> = alloc::vec::Vec::new();
    for e in events {
        if !out.last_mut().is_some_and(|r| r.absorb(&e)) {
            out.push(FaultRun::new(e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_encodings() {
        assert_eq!(
            Command::CfgiSte { sid: 0x0108 }.encode(),
            [0x0000_0108_0000_0003, 1]
        );
        assert_eq!(Command::CfgiAll.encode(), [0x04, 31]);
        assert_eq!(
            Command::TlbiS12Vmall { vmid: 1 }.encode(),
            [0x0000_0001_0000_0028, 0]
        );
        assert_eq!(Command::TlbiNsnhAll.encode(), [0x30, 0]);
        assert_eq!(Command::Sync.encode(), [0x46, 0]);
        assert_eq!(opcode(Command::Sync.encode()), 0x46);
        assert_eq!(Command::Sync.name(), "CMD_SYNC");
        assert!(cmd_error_name(1).starts_with("CERROR_ILL"));
        let g: alloc::vec::Vec<&str> = gerror_names(0x101).collect();
        assert_eq!(g.len(), 2);
        assert!(g[0].starts_with("CMDQ_ERR") && g[1].starts_with("SFM_ERR"));
    }

    #[test]
    fn translation_fault_event() {
        // As QEMU writes it: type 0x10, SID 8, RnW = 0 (write), S2, input
        // address and IPA 0x4000_0000.
        let w = [
            0x10 | (8u64 << 32),
            (1 << 39) | (2 << 40),
            0x4000_0000,
            0x4000_0000,
        ];
        let e = Event::decode(w);
        assert_eq!(
            (e.kind, e.sid, e.read, e.stage2, e.class),
            (F_TRANSLATION, 8, false, true, 2)
        );
        assert_eq!(e.ssid, None);
        assert_eq!(
            alloc::format!("{e}"),
            "stream 0x0008: F_TRANSLATION (address not mapped for the domain) on DMA write to 0x40000000 (stage 2, IPA 0x40000000)"
        );
        let r = Event::decode([0x10 | (0x18u64 << 32), 1 << 35, 0x4000_1000, 0]);
        assert!(alloc::format!("{r}").contains("DMA read from 0x40001000"));
    }

    #[test]
    fn a_copy_that_faults_word_by_word_is_one_run() {
        let ev =
            |addr: u64, sid: u64| Event::decode([0x10 | (sid << 32), 1 << 39, addr, addr & !7]);
        let mut all: alloc::vec::Vec<Event> =
            (0..128).map(|i| ev(0x4001_0000 + 4 * i, 8)).collect();
        all.push(ev(0x50a0_0000, 8));
        all.push(ev(0x50a0_0004, 0x10));
        let r = runs(all);
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].low, r[0].high, r[0].count),
            (0x4001_0000, 0x4001_01fc, 128)
        );
        assert_eq!(
            alloc::format!("{}", r[0]),
            "stream 0x0008: F_TRANSLATION (address not mapped for the domain) on DMA write to 0x40010000-0x400101fc (stage 2) (128 faults)"
        );
        assert_eq!(
            alloc::format!("{}", r[1]),
            "stream 0x0008: F_TRANSLATION (address not mapped for the domain) on DMA write to 0x50a00000 (stage 2, IPA 0x50a00000)"
        );
        assert_eq!(r[2].event.sid, 0x10);
        // Address-less events of one stream merge too.
        let bad = Event::decode([C_BAD_STE as u64 | (3u64 << 32), 0, 0, 0]);
        assert_eq!(runs([bad, bad, bad])[0].count, 3);
    }

    #[test]
    fn configuration_events() {
        let e = Event::decode([
            C_BAD_STE as u64 | (0x10u64 << 32) | (1 << 11) | (5 << 12),
            0,
            0,
            0,
        ]);
        assert_eq!(e.ssid, Some(5));
        assert_eq!(
            alloc::format!("{e}"),
            "stream 0x0010 substream 0x5: C_BAD_STE (stream not assigned to any domain, or a bad STE)"
        );
        let f = Event::decode([F_STE_FETCH as u64, 0, 0, 0x4100_0008]);
        assert!(alloc::format!("{f}").ends_with("at 0x41000008"));
        assert_eq!(Event::decode([0x7f, 0, 0, 0]).name(), "unknown event");
    }
}
