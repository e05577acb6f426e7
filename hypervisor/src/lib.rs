//! snowvisor: a small type-1 hypervisor for ARMv7-A with the Virtualization
//! Extensions.
//!
//! The crate is the hypervisor's core. Everything that is not CPU or MMIO code
//! builds and is unit-tested on the host; `arch::armv7` and `start` hold the
//! parts that only make sense on the target.

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
