//! Device trees: reading the host's (one total walk, one index, one address
//! translator), writing a blob ([`writer`]), and Xen's boot protocol
//! ([`bootproto`]: which `/chosen` modules are Dom0's kernel and initrd;
//! [`dom0less`]: the `xen,domain` nodes of boot-time guests).
//!
//! Pure, host-tested, no `unsafe`; depends on no other snowvisor crate.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod address;
pub mod blob;
pub mod bootproto;
pub mod dom0less;
pub mod host;
pub mod index;
pub mod sort;
pub mod writer;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use blob::DtError;
pub use host::{BootModule, GicInfo, HostTree, ModuleKind, Region, Reserved, TimerInfo, UartInfo};
pub use index::TreeError;
