//! The formats and decisions the ARM architecture defines, as snowvisor uses
//! them at HYP on ARMv7-A with the Virtualization Extensions (ARM DDI 0406C.d)
//! and the GICv2 (ARM IHI 0048B): the trap frame, HSR decoding (on
//! aarch32-cpu's `Hsr`), LPAE descriptors and tables, the stage-2 tables and
//! `VTCR`, the layouts of the system registers aarch32-cpu lacks, PAR
//! decoding, the register state of an exception taken by a guest, what a
//! guest may do with trapped coprocessor registers, and the GICv2 register
//! maps and list-register fields.
//!
//! Pure and host-tested: nothing here touches the CPU. Register *access* is
//! `snowvisor_arch_armv7`'s; this crate depends on no other snowvisor crate.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod at;
pub mod context;
pub mod coproc;
pub mod exception;
pub mod frame;
pub mod gic;
pub mod hsr;
pub mod lpae;
pub mod regs;
pub mod stage2;
pub mod sysreg;
