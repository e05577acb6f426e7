//! snowvisor: a small type-1 hypervisor for ARMv7-A with the Virtualization
//! Extensions.
//!
//! The kernel crate: boot (`start`), the `Board` trait, building Dom0
//! (`domain`), the owned IOMMUs, and the glue that joins the arch-independent
//! core (`snowvisor_core`: trap dispatcher, vGIC, PSCI, domain logic) to the
//! hardware (`snowvisor_arch_armv7`): `cpu::Armv7`, the core's `hal::Arch`
//! over the CPU and the drivers, and the machine's globals (the console, the
//! RAM log, the exit counters, the per-CPU slots). What only makes sense on
//! the target is `start`, `cpu` and `domain`; the rest builds and is
//! unit-tested on the host. Layers and what each crate may use:
//! `ARCHITECTURE.md`.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod board;
pub mod console;
#[cfg(target_arch = "arm")]
pub mod cpu;
pub mod domains;
/// Building Dom0 and the IOMMUs snowvisor owns for it (the domain logic is
/// `snowvisor_core::domain`).
#[cfg(target_arch = "arm")]
pub mod domain {
    pub mod build;
    pub mod created;
    pub mod domu;
    pub mod iommu;
}
#[cfg(target_arch = "arm")]
pub mod integrity;
pub mod ramlog;
#[cfg(target_arch = "arm")]
pub mod smp;

#[cfg(target_arch = "arm")]
pub mod start;

pub use snowvisor_core::VERSION;
