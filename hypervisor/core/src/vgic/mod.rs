//! The virtual GIC for a guest on GICv2 with the virtualization extensions.
//!
//! The guest's CPU interface is the hardware GICV frame, mapped at the guest's
//! GICC address. Its distributor is emulated here ([`dist::VDist`]): the guest's
//! view of enables, priorities, targets and configuration, with the changes
//! that matter forwarded to the physical distributor for interrupts the guest
//! owns. Interrupts reach the guest through list registers ([`lr`]).

pub mod dist;
pub mod lr;

pub use dist::{PhysGic, VDist};
pub use lr::{ListRegister, LrState, PendingQueue};
