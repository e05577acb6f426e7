//! A DomU (a guest next to Dom0, booted from a dom0less `xen,domain` node,
//! [`snowvisor_dt::dom0less`]): its guest physical memory map ([`layout`],
//! Xen 4.17's) and the device tree it boots with ([`tree`]).
//!
//! Unlike Dom0's tree, a DomU's is not derived from the host's: it describes
//! only the virtual platform snowvisor gives the guest (vCPUs, PSCI, the
//! virtual timer, a GICv2 at the guest addresses, RAM, the Xen node, the
//! emulated UART), node for node as Xen's `prepare_dtb_domU` writes it.

pub mod layout;
pub mod tree;

#[cfg(test)]
mod tests;

pub use tree::{build, DomUDtError, DomUParams};
