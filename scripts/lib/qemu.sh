# QEMU command lines for snowvisor. Sourced, not run.
# shellcheck shell=bash

# Where the Dom0 modules go: clear of QEMU's own DTB, which sits at
# RAM base + min(RAM/2, 128 MiB) = 0x4800_0000 for 256 MiB and up, and where
# snowvisor can hand them to Dom0 in place (above the 32 MiB at Dom0's RAM start
# where the zImage decompresses itself; see hypervisor/src/domain/layout.rs).
# Modules anywhere else in RAM work too: snowvisor then copies them.
DOM0_KERNEL_ADDR=0x46000000
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

# An SMMUv3 with stage-2 translation (QEMU >= 8.2; the default model is stage 1
# only) in front of the PCIe host, and a virtio-blk-pci disk behind it.
# Call qemu_smmu_machine before qemu_virt_cmd and qemu_smmu_devices after it.
SMMU_DISK="$ROOT/target/smmu/disk.raw"
SMMU_DISK_MIB=16

# highmem=off also drops the 64-bit PCI window above 4 GiB, where Linux would
# put the disk's 64-bit BAR out of reach of Dom0's 32-bit IPA space.
qemu_smmu_machine() { QEMU_MACHINE_EXTRA="${QEMU_MACHINE_EXTRA:-},iommu=smmuv3,highmem=off"; }

# Appends the SMMU's stage setting and the disk to QEMU_CMD. The raw image is
# created once, zeroed; snapshot=on keeps every boot's writes in a throw-away
# overlay, so parallel boots neither lock nor see each other's data.
qemu_smmu_devices() {
    if [ ! -s "$SMMU_DISK" ]; then
        mkdir -p "$(dirname "$SMMU_DISK")"
        qemu-img create -q -f raw "$SMMU_DISK.$$" "${SMMU_DISK_MIB}M" >&2 || die "qemu-img create $SMMU_DISK failed"
        mv -f "$SMMU_DISK.$$" "$SMMU_DISK"
    fi
    QEMU_CMD+=(-global arm-smmuv3.stage=2
        -drive "if=none,id=smmudisk,file=$(qemu_escape "$SMMU_DISK"),format=raw,snapshot=on"
        -device virtio-blk-pci,drive=smmudisk)
}
