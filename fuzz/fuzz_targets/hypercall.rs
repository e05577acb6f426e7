//! Xen's hypercall dispatcher over snowvisor's real address space and stage-2
//! code (`snowvisor_tools::fuzz::hypercall`, where the oracles are).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snowvisor_tools::fuzz::hypercall::run(data);
});
