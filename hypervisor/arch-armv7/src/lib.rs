//! ARMv7-A with the Virtualization Extensions, running at HYP (PL2): the
//! hardware access snowvisor needs (entry and vectors, the HYP MMU, system
//! registers, address translation, TLB and cache maintenance, the Secure
//! switch, secondary-CPU entry, guest entry and configuration) and its drivers. The formats all
//! this reads and writes are `snowvisor_arm`'s, the only snowvisor crate this
//! one depends on: no Xen, plan or device-tree types here; drivers take plain
//! values (addresses, sizes, INTIDs).
//!
//! `unsafe` lives here, in small places, each with a `// SAFETY:` line.
//! Pure parts (the drivers' encodings, the Secure-entry verdict) build and
//! are tested on the host too.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod at;
pub mod drivers;
pub mod secure;
pub mod sysreg;

#[cfg(target_arch = "arm")]
pub mod banked;
#[cfg(target_arch = "arm")]
pub mod context;
#[cfg(target_arch = "arm")]
pub mod cpu;
#[cfg(target_arch = "arm")]
pub mod entry;
#[cfg(target_arch = "arm")]
pub mod guest;
#[cfg(target_arch = "arm")]
pub mod mmu;
#[cfg(target_arch = "arm")]
pub mod phys;
#[cfg(target_arch = "arm")]
pub mod smp;
