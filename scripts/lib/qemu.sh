# QEMU command lines for snowvisor. Sourced, not run.
# shellcheck shell=bash

# Where the Dom0 modules go: clear of QEMU's own DTB, which sits at
# RAM base + min(RAM/2, 128 MiB) = 0x4800_0000 for 256 MiB and up.
DOM0_KERNEL_ADDR=0x42000000
DOM0_INITRD_ADDR=0x44000000

# QEMU's option parser takes ",," for a literal comma.
qemu_escape() { printf '%s' "${1//,/,,}"; }

# qemu_virt_cmd IMAGE MEM_MIB HYP_ARGS [KERNEL INITRD DOM0_ARGS] -> array QEMU_CMD
qemu_virt_cmd() {
    local image=$1 mem=$2 hypargs=$3 kernel=${4:-} initrd=${5:-} dom0args=${6:-}
    QEMU_CMD=(qemu-system-arm -M "virt,virtualization=on,highmem-ecam=off${QEMU_MACHINE_EXTRA:-}"
        -cpu cortex-a15 -m "$mem" -nic none -kernel "$image" -append "$hypargs")
    if [ -n "$kernel" ]; then
        QEMU_CMD+=(-device "guest-loader,addr=$DOM0_KERNEL_ADDR,kernel=$kernel,bootargs=$(qemu_escape "$dom0args")")
    fi
    if [ -n "$initrd" ]; then
        QEMU_CMD+=(-device "guest-loader,addr=$DOM0_INITRD_ADDR,initrd=$initrd")
    fi
}
