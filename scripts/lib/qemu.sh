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
    QEMU_CMD=(qemu-system-arm -M "${QEMU_MACHINE:-virt},virtualization=on,highmem-ecam=off${QEMU_MACHINE_EXTRA:-}"
        -cpu cortex-a15 -m "$mem" -nic none -kernel "$image" -append "$hypargs")
    if [ -n "$kernel" ]; then
        QEMU_CMD+=(-device "guest-loader,addr=$DOM0_KERNEL_ADDR,kernel=$kernel,bootargs=$(qemu_escape "$dom0args")")
    fi
    if [ -n "$initrd" ]; then
        QEMU_CMD+=(-device "guest-loader,addr=$DOM0_INITRD_ADDR,initrd=$initrd")
    fi
}

# An SMMUv3 in front of the PCIe host and a virtio-blk-pci disk behind it.
# Call qemu_smmu_machine before qemu_virt_cmd and qemu_smmu_devices after it.
#
# Which stages the model offers: since QEMU 9.2 the virt machine makes its
# SMMU "nested" (stage 1 and 2) and ignores -global arm-smmuv3.stage; 8.2 to
# 9.1 offer stage 1 unless told stage=2. SMMU_STAGE=1 or 2 picks the virt-9.1
# machine, where the -global still decides (1 is the stage-1-only model that
# snowvisor refuses); unset, the current virt machine is used, with stage=2
# asked for the benefit of QEMU 8.2 to 9.1.
SMMU_DISK="$ROOT/target/smmu/disk.raw"
SMMU_DISK_MIB=16

# highmem=off also drops the 64-bit PCI window above 4 GiB, where Linux would
# put the disk's 64-bit BAR out of reach of Dom0's 32-bit IPA space.
qemu_smmu_machine() {
    QEMU_MACHINE_EXTRA="${QEMU_MACHINE_EXTRA:-},iommu=smmuv3,highmem=off"
    [ -z "${SMMU_STAGE:-}" ] || QEMU_MACHINE=virt-9.1
}

# Appends the SMMU's stage setting and the disk to QEMU_CMD. The raw image is
# created once, zeroed; snapshot=on keeps every boot's writes in a throw-away
# overlay, so parallel boots neither lock nor see each other's data. The disk
# needs iommu_platform=on: without it QEMU's virtio devices skip the IOMMU.
qemu_smmu_devices() {
    if [ ! -s "$SMMU_DISK" ]; then
        mkdir -p "$(dirname "$SMMU_DISK")"
        qemu-img create -q -f raw "$SMMU_DISK.$$" "${SMMU_DISK_MIB}M" >&2 || die "qemu-img create $SMMU_DISK failed"
        mv -f "$SMMU_DISK.$$" "$SMMU_DISK"
    fi
    case "${SMMU_STAGE:-2}" in
        1) ;;
        *) QEMU_CMD+=(-global "arm-smmuv3.stage=${SMMU_STAGE:-2}") ;;
    esac
    QEMU_CMD+=(-drive "if=none,id=smmudisk,file=$(qemu_escape "$SMMU_DISK"),format=raw,snapshot=on"
        -device virtio-blk-pci,drive=smmudisk,iommu_platform=on,disable-legacy=on)
}
