/work/main/hypervisor/tools/snowctl/target/lead/armv7-unknown-linux-gnueabihf/release/deps/snowctl-7eef0bb6c931fc35.d: src/main.rs src/privcmd.rs

/work/main/hypervisor/tools/snowctl/target/lead/armv7-unknown-linux-gnueabihf/release/deps/snowctl-7eef0bb6c931fc35: src/main.rs src/privcmd.rs

src/main.rs:
src/privcmd.rs:
