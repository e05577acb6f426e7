/work/main/hypervisor/tools/snowctl/target/lead/armv7-unknown-linux-gnueabihf/release/snowctl: /work/main/hypervisor/tools/snowctl/src/main.rs /work/main/hypervisor/tools/snowctl/src/privcmd.rs
