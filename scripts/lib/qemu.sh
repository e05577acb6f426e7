# QEMU command lines for snowvisor. Sourced, not run.
# shellcheck shell=bash

# Where the Dom0 modules go: clear of QEMU's own DTB, which sits at
# RAM base + min(RAM/2, 128 MiB) = 0x4800_0000 for 256 MiB and up, and where
# snowvisor can hand them to Dom0 in place (above the 32 MiB at Dom0's RAM start
# where the zImage decompresses itself; see hypervisor/core/src/domain/layout.rs).
# Modules anywhere else in RAM work too: snowvisor then copies them.
DOM0_KERNEL_ADDR=0x46000000
DOM0_INITRD_ADDR=0x44000000
# The DomUs' modules (scripts/run --domu) go from here up, each at a 2 MiB
# boundary: above QEMU's DTB, below the memory snowvisor gives the DomUs
# (taken from the top of RAM).
DOMU_MODULES_ADDR=0x49000000

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

# QEMU does not add guest-loader's /chosen modules to a tree given with -dtb.
# As a bootloader does (U-Boot's fdt commands, ImageBuilder's scripts), this
# edits a copy of DTB in place with libfdt (fdtput), adding Xen-style module
# nodes, and loads the files there with QEMU's generic loader. Appends the
# loaders and -dtb to QEMU_CMD. The edited copy is unlinked at once and
# handed to QEMU as an open descriptor (-dtb /dev/fd/N; QEMU reads it once,
# at machine init), so it cannot outlive the run however QEMU ends.
#   qemu_dtb_with_modules DTB KERNEL INITRD DOM0_ARGS
qemu_dtb_with_modules() {
    local dtb=$1 kernel=$2 initrd=$3 dom0args=$4 out ac sc
    out=$(mktemp "${TMPDIR:-/tmp}/snowvisor-$(basename "$dtb" .dtb)-modules.XXXXXX") ||
        die "cannot create a copy of $dtb"
    dtb_fail() { rm -f "$out"; die "$@"; }
    cp "$dtb" "$out" || dtb_fail "cannot copy $dtb"
    ac=$(fdtget -t u "$out" / '#address-cells' 2>/dev/null || echo 2)
    sc=$(fdtget -t u "$out" / '#size-cells' 2>/dev/null || echo 1)
    cells() { # value ncells -> big-endian cells, high first
        local v=$1 n=$2 c=()
        while [ "$n" -gt 0 ]; do c=("$(( v & 0xffffffff ))" "${c[@]}"); v=$(( v >> 32 )); n=$(( n - 1 )); done
        echo "${c[@]}"
    }
    add_module() { # file addr compatible...
        local f=$1 addr=$2 node
        shift 2
        node="/chosen/module@$(printf '%x' "$addr")"
        # shellcheck disable=SC2046 # cells are separate words on purpose
        fdtput -p -t s "$out" "$node" compatible "$@" &&
            fdtput -t u "$out" "$node" reg $(cells "$addr" "$ac") $(cells "$(stat -c %s "$f")" "$sc") ||
            dtb_fail "fdtput on $out failed"
        QEMU_CMD+=(-device "loader,file=$(qemu_escape "$f"),addr=$addr,force-raw=on")
    }
    if [ -n "$kernel" ]; then
        add_module "$kernel" "$DOM0_KERNEL_ADDR" multiboot,kernel multiboot,module
        fdtput -t s "$out" "/chosen/module@$(printf '%x' "$DOM0_KERNEL_ADDR")" bootargs "$dom0args" ||
            dtb_fail "fdtput on $out failed"
    fi
    [ -z "$initrd" ] || add_module "$initrd" "$DOM0_INITRD_ADDR" multiboot,ramdisk multiboot,module
    add_domus
    exec {QEMU_DTB_FD}<"$out" || dtb_fail "cannot open $out"
    rm -f "$out"
    QEMU_CMD+=(-dtb "/dev/fd/$QEMU_DTB_FD")
}

# Adds a dom0less node /chosen/domUN (Xen's booting.txt: xen,domain with
# memory in KiB, cpus (QEMU_DOMU_VCPUS, default 1), vpl011, and its modules with 1-cell addresses) for
# each entry "KERNEL|INITRD|MEM_MIB|BOOTARGS" of QEMU_DOMUS, and loads the
# files from DOMU_MODULES_ADDR up. Called by qemu_dtb_with_modules, on its
# copy of the tree ($out).
add_domus() {
    local spec k r m args node n=0 addr=$((DOMU_MODULES_ADDR)) f kind i total=0
    [ -z "${QEMU_DOMUS+x}" ] || total=${#QEMU_DOMUS[@]}
    # fdtput -p puts a new node before its siblings: made last to first, the
    # nodes are in /chosen in --domu order, and the first is domain 1.
    for ((i = total; i >= 1; i--)); do
        fdtput -p -t s "$out" "/chosen/domU$i" compatible xen,domain || dtb_fail "fdtput on $out failed"
    done
    [ -z "${QEMU_DOMU_CPUPOOL:-}" ] || add_cpupool
    for spec in ${QEMU_DOMUS[@]+"${QEMU_DOMUS[@]}"}; do
        IFS='|' read -r k r m args <<<"$spec"
        n=$((n + 1))
        node=/chosen/domU$n
        fdtput -p -t s "$out" "$node" compatible xen,domain &&
            fdtput -t u "$out" "$node" '#address-cells' 1 &&
            fdtput -t u "$out" "$node" '#size-cells' 1 &&
            fdtput -t u "$out" "$node" memory 0 $((m * 1024)) &&
            fdtput -t u "$out" "$node" cpus "${QEMU_DOMU_VCPUS:-1}" &&
            fdtput "$out" "$node" vpl011 ||
            dtb_fail "fdtput on $out failed"
        if [ -n "${QEMU_DOMU_CPUPOOL:-}" ]; then
            fdtput -t u "$out" "$node" domain-cpupool "$DOMU_CPUPOOL_PHANDLE" || dtb_fail "fdtput on $out failed"
        fi
        if [ -n "${QEMU_DOMU_XEN:-}" ]; then
            fdtput -t s "$out" "$node" xen,enhanced "$QEMU_DOMU_XEN" || dtb_fail "fdtput on $out failed"
        fi
        for f in "$k" "$r"; do
            [ -n "$f" ] || continue
            if [ "$f" = "$k" ]; then kind=kernel; else kind=ramdisk; fi
            fdtput -p -t s "$out" "$node/module@$(printf '%x' "$addr")" compatible "multiboot,$kind" multiboot,module &&
                fdtput -t u "$out" "$node/module@$(printf '%x' "$addr")" reg "$addr" "$(stat -c %s "$f")" ||
                dtb_fail "fdtput on $out failed"
            if [ "$kind" = kernel ]; then
                fdtput -t s "$out" "$node/module@$(printf '%x' "$addr")" bootargs "$args" || dtb_fail "fdtput on $out failed"
            fi
            QEMU_CMD+=(-device "loader,file=$(qemu_escape "$f"),addr=$addr,force-raw=on")
            addr=$(( (addr + $(stat -c %s "$f") + 0x1fffff) & ~0x1fffff ))
        done
    done
    add_evtchns
}

# Far above the phandles QEMU's tree uses (and the event channels' below).
DOMU_CPUPOOL_PHANDLE=$((0x7d000001))

# Writes a cpupool (Xen 4.17's cpupools.txt: /chosen/cpupool, compatible
# xen,cpupool, cpupool-cpus naming /cpus/cpu@N by phandle) of the CPUs N
# in QEMU_DOMU_CPUPOOL ("1" or "1,2"); add_domus points each DomU's
# domain-cpupool at it.
add_cpupool() {
    local c ph phs=() cpus
    IFS=, read -r -a cpus <<<"$QEMU_DOMU_CPUPOOL"
    for c in "${cpus[@]}"; do
        ph=$(fdtget "$out" "/cpus/cpu@$c" phandle 2>/dev/null) || {
            ph=$((0x7d000100 + c))
            fdtput -t u "$out" "/cpus/cpu@$c" phandle "$ph" || dtb_fail "no /cpus/cpu@$c in $out for the cpupool"
        }
        phs+=("$ph")
    done
    fdtput -p -t s "$out" /chosen/cpupool compatible xen,cpupool &&
        fdtput -t u "$out" /chosen/cpupool phandle "$DOMU_CPUPOOL_PHANDLE" &&
        fdtput -t u "$out" /chosen/cpupool cpupool-cpus "${phs[@]}" ||
        dtb_fail "fdtput on $out failed"
}

# Writes a static event channel (Xen 4.18's xen,evtchn-v1 nodes, each end
# naming the other by phandle) for each "P0:P1" of QEMU_EVTCHNS: Dom0's
# port P0 under /chosen, domU1's port P1 under /chosen/domU1.
add_evtchns() {
    local spec p0 p1 n=0 ph a b
    for spec in ${QEMU_EVTCHNS[@]+"${QEMU_EVTCHNS[@]}"}; do
        IFS=':' read -r p0 p1 <<<"$spec"
        n=$((n + 1))
        # Far above the phandles QEMU's tree uses.
        ph=$((0x7e000000 + 2 * n))
        a=/chosen/evtchn@$n b=/chosen/domU1/evtchn@$n
        fdtput -p -t s "$out" "$a" compatible xen,evtchn-v1 &&
            fdtput -t u "$out" "$a" phandle "$ph" &&
            fdtput -t u "$out" "$a" xen,evtchn "$p0" $((ph + 1)) &&
            fdtput -p -t s "$out" "$b" compatible xen,evtchn-v1 &&
            fdtput -t u "$out" "$b" phandle $((ph + 1)) &&
            fdtput -t u "$out" "$b" xen,evtchn "$p1" "$ph" ||
            dtb_fail "fdtput on $out failed"
    done
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
