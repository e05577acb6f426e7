//! ARMv7-A with the Virtualization Extensions, running at HYP (PL2).

pub mod at;
pub mod coproc;
pub mod exception;
pub mod frame;
pub mod gic;
pub mod hsr;
pub mod lpae;
pub mod stage2;

#[cfg(target_arch = "arm")]
pub mod cpu;
#[cfg(target_arch = "arm")]
pub mod entry;
#[cfg(target_arch = "arm")]
pub mod guest;
#[cfg(target_arch = "arm")]
pub mod mmu;
pub mod secure;
pub mod sysreg;
