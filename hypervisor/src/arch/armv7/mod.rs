//! ARMv7-A with the Virtualization Extensions, running at HYP (PL2).

pub mod frame;
pub mod hsr;
pub mod lpae;

#[cfg(target_arch = "arm")]
pub mod cpu;
#[cfg(target_arch = "arm")]
pub mod entry;
#[cfg(target_arch = "arm")]
pub mod mmu;
#[cfg(target_arch = "arm")]
pub mod sysreg;
