# Xen 4.17, the hypervisor snowvisor is measured against (scripts/bench):
# Debian's xen-hypervisor-4.17-armhf, downloaded with the Dom0 packages into
# target/dom0/debs/ (never installed) and its arm32 image cached as
# target/dom0/xen-4.17-armhf. Sourced after common.sh and dom0.sh.
# shellcheck shell=bash
#
#   ensure_xen   sets XEN_IMAGE; returns 1 (after a warning) when the package
#                cannot be fetched, so a bench can go on without the Xen column
#   qemu_xen_cmd MEM_MIB XEN_ARGS KERNEL INITRD DOM0_ARGS -> array QEMU_CMD

XEN_PACKAGE=xen-hypervisor-4.17-armhf
XEN_IMAGE="$DOM0_DIR/xen-4.17-armhf"

ensure_xen() {
    [ -s "$XEN_IMAGE" ] && return 0
    local deb tmp="$DOM0_DIR/xen.tmp" img
    deb=$(find "$DOM0_DIR/debs" -maxdepth 1 -name "${XEN_PACKAGE}_*_armhf.deb" 2>/dev/null | sort -V | tail -1) || true
    if [ -z "$deb" ]; then
        dom0_ensure_armhf
        say "xen: downloading $XEN_PACKAGE:armhf (the anchor snowvisor is measured against)"
        if ! (dom0_download "$DOM0_DIR/debs" "$XEN_PACKAGE:armhf"); then
            say "warning: $XEN_PACKAGE:armhf cannot be fetched from this machine's apt sources; no Xen column"
            return 1
        fi
        deb=$(dom0_deb "$DOM0_DIR/debs" "$XEN_PACKAGE")
    fi
    rm -rf "$tmp"
    dpkg-deb -x "$deb" "$tmp" || die "dpkg-deb -x $deb failed"
    img=$(find "$tmp/boot" -maxdepth 1 -name 'xen-4.17*armhf' -type f | head -1) || true
    [ -n "$img" ] || die "$deb has no /boot/xen-4.17*-armhf"
    mv "$img" "$XEN_IMAGE"
    rm -rf "$tmp"
    say "xen: $(basename "$deb") -> target/dom0/xen-4.17-armhf ($(stat -c %s "$XEN_IMAGE") bytes)"
}

# Xen's recipe (the same machine flags as snowvisor's runs): Xen is QEMU's
# -kernel with its own command line in /chosen/bootargs, Dom0's kernel and
# initrd are /chosen modules from guest-loader at the addresses snowvisor's
# runs use, Dom0's console is hvc0. console_timestamps=boot puts Xen's uptime
# on its lines so that the Dom0 build time can be read from them.
qemu_xen_cmd() {
    local mem=$1 xenargs=$2 kernel=$3 initrd=$4 dom0args=$5
    QEMU_CMD=(qemu-system-arm -M "virt,virtualization=on,highmem-ecam=off${QEMU_MACHINE_EXTRA:-}"
        -cpu cortex-a15 -m "$mem" -nic none -kernel "$XEN_IMAGE"
        -append "console=dtuart dtuart=/pl011@9000000 console_timestamps=boot $xenargs"
        -device "guest-loader,addr=$DOM0_KERNEL_ADDR,kernel=$kernel,bootargs=$(qemu_escape "console=hvc0 $dom0args")"
        -device "guest-loader,addr=$DOM0_INITRD_ADDR,initrd=$initrd")
}
