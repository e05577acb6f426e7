//! snowvisor's arch-independent core: the vCPU trap dispatcher, domains and
//! the per-CPU context, the vGIC, PSCI, a DomU's emulated UART ([`vpl011`]),
//! boot arguments, the console's and the RAM log's logic, exit counters and
//! the boot summary.
//!
//! It reaches the CPU, and the kernel's console, RAM log and counters, only
//! through [`hal::Arch`] (the kernel's ARMv7 adapter on the target,
//! `hal::fake::FakeArch` in host tests): it never imports the arch crate or
//! the drivers, never calls back into the kernel, and holds no global state.
//! Layers and what each crate may use: `ARCHITECTURE.md`.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod bootargs;
pub mod console;
pub mod console_uart;
pub mod debugkeys;
pub mod domain;
pub mod hal;
pub mod integrity;
pub mod psci;
pub mod ramlog;
pub mod ratelimit;
pub mod sched;
pub mod stats;
pub mod summary;
pub mod vcpu;
pub mod vgic;
pub mod vpl011;

/// The version printed in the banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
