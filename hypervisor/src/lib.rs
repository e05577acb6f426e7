//! snowvisor: a small type-1 hypervisor for ARMv7-A with the Virtualization
//! Extensions.
//!
//! The kernel crate: boot (`start`), domain building, the vCPU trap
//! dispatcher over [`hal::Arch`], the vGIC, PSCI, console and RAM log. What
//! only makes sense on the target is `start` and `cpu` (the ARMv7 adapter over
//! `snowvisor-arch-armv7`); the rest builds and is unit-tested on the host.
//! Layers and what each crate may use: `ARCHITECTURE.md`.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod arch;
pub mod board;
pub mod bootargs;
pub mod console;
pub mod console_uart;
#[cfg(target_arch = "arm")]
pub mod cpu;
pub mod debugkeys;
pub mod domain;
pub mod drivers;
pub mod hal;
pub mod psci;
pub mod ramlog;
pub mod ratelimit;
pub mod stats;
pub mod summary;
pub mod vcpu;
pub mod vgic;

#[cfg(target_arch = "arm")]
pub mod start;

/// The version printed in the banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
