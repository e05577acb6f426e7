//! Domains. For now there is one: Dom0, built from the host tree and the Plan.

pub mod dma_guard;
pub mod layout;
pub mod xen_params;
pub mod xen_space;
pub mod zimage;

#[cfg(target_arch = "arm")]
pub mod build;
#[cfg(target_arch = "arm")]
pub mod iommu;
#[cfg(target_arch = "arm")]
pub mod xen_glue;
