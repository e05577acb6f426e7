# A real bootloader in the loop: Debian's u-boot-qemu (U-Boot's qemu_arm) as
# QEMU's -bios, booting snowvisor from a virtio disk as a board would.
# Sourced after common.sh and qemu.sh.
# shellcheck shell=bash
#
# The disk has an MBR and one bootable ext4 partition holding boot.scr and the
# images. U-Boot's default boot command (distro_bootcmd) finds /boot.scr there
# and runs it. Two scripts:
#   script  the ImageBuilder way: load snowvisor, Dom0's kernel and initrd,
#           copy QEMU's tree, fdt addr/resize, fdt mknod /chosen/dom0 and
#           /chosen/dom0-ramdisk, fdt set compatible/reg/bootargs, then bootz
#   script-old  the same with booting.txt's older forms: "xen,linux-zimage" /
#           "xen,linux-initrd" with "xen,multiboot-module", and Dom0's command
#           line in /chosen/xen,dom0-bootargs (the kernel module has none)
#   fit     load scripts/snow-image's FIT (built with --board qemu-virt) and bootm
# U-Boot for qemu_arm is built without CONFIG_ARMV7_NONSEC: it runs in the mode
# QEMU starts it in (HYP with virtualization=on) and enters snowvisor there.

UBOOT_BIN=/usr/lib/u-boot/qemu_arm/u-boot.bin
# Load addresses inside the first 128 MiB of RAM, clear of U-Boot (it relocates
# itself to the top of RAM) and of QEMU's tree at RAM base.
UBOOT_IMAGE_ADDR=0x40400000
UBOOT_FDT_ADDR=0x48000000
UBOOT_FIT_ADDR=0x50000000

ensure_uboot_deps() {
    # sfdisk is in fdisk, mke2fs (with -d) in e2fsprogs, mkimage in u-boot-tools.
    apt_install u-boot-qemu u-boot-tools e2fsprogs fdisk
    [ -r "$UBOOT_BIN" ] || die "u-boot-qemu installed but $UBOOT_BIN is missing"
}

# QEMU's own tree for the machine U-Boot runs on (same options as qemu_uboot_cmd).
uboot_dump_dtb() { # uboot_dump_dtb MEM_MIB OUT
    qemu-system-arm -M "virt,virtualization=on,highmem-ecam=off,dumpdtb=$2" \
        -cpu cortex-a15 -m "$1" -nic none -display none >/dev/null 2>&1 || die "dumping QEMU's device tree failed"
}

# Quotes a value for a U-Boot script's double-quoted string.
uboot_string() {
    case "$1" in *'"'*|*'$'*|*'\'*) die "U-Boot script string may not contain \" \$ or \\: $1" ;; esac
    printf '"%s"' "$1"
}

# uboot_check_args MODE HYP_ARGS DOM0_ARGS: dies unless uboot_disk can take them.
uboot_check_args() {
    case "$1" in
        script|script-old|fit) ;;
        *) die "--uboot $1: script, script-old or fit expected" ;;
    esac
    local opt val
    for opt in "--hyp-args=$2" "--dom0-args=$3"; do
        val=${opt#*=}
        case "$val" in
            *'"'*|*'$'*|*'\'*) die "${opt%%=*} $val: with --uboot it goes into a U-Boot script string, which may not contain \" \$ or \\" ;;
        esac
    done
}

# uboot_disk MODE MEM_MIB IMAGE KERNEL INITRD HYP_ARGS DOM0_ARGS -> path of the disk image
# Called as `disk=$(uboot_disk ...) || exit 1`: a die inside a command
# substitution ends only the substitution, so every failure here is a die
# (non-zero status), never a command whose failure goes unnoticed.
uboot_disk() {
    local mode=$1 mem=$2 image=$3 kernel=$4 initrd=$5 hypargs=$6 dom0args=$7
    local out="$ROOT/target/uboot/$mode" work key
    # Checked here, outside the substitutions below, where a die is lost.
    uboot_check_args "$mode" "$hypargs" "$dom0args"
    # One disk per set of inputs: parallel boots with other arguments never
    # pick up each other's disk (QEMU opens it with snapshot=on, read-only).
    key=$( { echo "$mode $mem $hypargs $dom0args"; stat -c '%n %s %Y' "$image" "$kernel" "$initrd"; } | sha1sum | cut -c1-12)
    if [ -s "$out/disk-$key.img" ]; then echo "$out/disk-$key.img"; return 0; fi
    mkdir -p "$out" || die "cannot create $out"
    work=$(mktemp -d "$out/build.XXXXXX") || die "cannot create a directory in $out"
    mkdir -p "$work/fs" || die "cannot create $work/fs"
    local src="\${devtype} \${devnum}:\${distro_bootpart}"
    local kcompat='"multiboot,kernel" "multiboot,module"' rcompat='"multiboot,ramdisk" "multiboot,module"'
    local dom0line
    dom0line="fdt set /chosen/dom0 bootargs $(uboot_string "$dom0args")"
    if [ "$mode" = script-old ]; then
        kcompat='"xen,linux-zimage" "xen,multiboot-module"'
        rcompat='"xen,linux-initrd" "xen,multiboot-module"'
        dom0line="fdt set /chosen xen,dom0-bootargs $(uboot_string "$dom0args")"
    fi
    case "$mode" in
        script|script-old)
            cp "$image" "$work/fs/snowvisor.bin" && cp "$kernel" "$work/fs/dom0-kernel" &&
                cp "$initrd" "$work/fs/dom0-ramdisk" || die "copying the images to $work/fs failed"
            cat >"$work/boot.cmd" <<EOF
echo "snowvisor boot script (ImageBuilder style) from $src"
load $src $UBOOT_IMAGE_ADDR snowvisor.bin
load $src $DOM0_KERNEL_ADDR dom0-kernel
setenv dom0_kernel_size 0x\${filesize}
load $src $DOM0_INITRD_ADDR dom0-ramdisk
setenv dom0_ramdisk_size 0x\${filesize}
cp.b \${fdt_addr} $UBOOT_FDT_ADDR 0x100000
fdt addr $UBOOT_FDT_ADDR
fdt resize 1024
fdt set /chosen \\#address-cells <0x2>
fdt set /chosen \\#size-cells <0x2>
fdt set /chosen xen,xen-bootargs $(uboot_string "$hypargs")
fdt mknod /chosen dom0
fdt set /chosen/dom0 compatible $kcompat
fdt set /chosen/dom0 reg <0x0 $DOM0_KERNEL_ADDR 0x0 \${dom0_kernel_size}>
$dom0line
fdt mknod /chosen dom0-ramdisk
fdt set /chosen/dom0-ramdisk compatible $rcompat
fdt set /chosen/dom0-ramdisk reg <0x0 $DOM0_INITRD_ADDR 0x0 \${dom0_ramdisk_size}>
setenv fdt_high 0xffffffff
bootz $UBOOT_IMAGE_ADDR - $UBOOT_FDT_ADDR
EOF
            ;;
        fit)
            local itb
            uboot_dump_dtb "$mem" "$work/qemu-virt.dtb"
            itb=$("$ROOT/scripts/snow-image" --board qemu-virt --image "$image" --dtb "$work/qemu-virt.dtb" \
                --args "$hypargs" --dom0-args "$dom0args" --kernel "$kernel" --initrd "$initrd" | tail -1) ||
                die "scripts/snow-image failed"
            cp "$itb" "$work/fs/snowvisor.itb" || die "copying $itb failed"
            cat >"$work/boot.cmd" <<EOF
echo "snowvisor FIT (scripts/snow-image --board qemu-virt) from $src"
load $src $UBOOT_FIT_ADDR snowvisor.itb
bootm $UBOOT_FIT_ADDR
EOF
            ;;
    esac
    mkimage -A arm -T script -C none -n "snowvisor $mode" -d "$work/boot.cmd" "$work/fs/boot.scr" >/dev/null \
        || die "mkimage of the boot script failed"
    # 1 MiB for the MBR, then an ext4 partition with room to spare.
    local kib
    kib=$(( $(du -sk "$work/fs" | cut -f1) * 2 + 8192 ))
    truncate -s $(( (kib + 1024) * 1024 )) "$work/disk.img"
    echo 'start=2048, type=83, bootable' | sfdisk -q "$work/disk.img" >/dev/null || die "sfdisk failed"
    mke2fs -q -t ext4 -d "$work/fs" -E offset=1048576 "$work/disk.img" "${kib}k" || die "mke2fs failed"
    mv -f "$work/disk.img" "$out/disk-$key.img"
    rm -rf "$work"
    echo "$out/disk-$key.img"
}

# qemu_uboot_cmd MEM_MIB DISK -> array QEMU_CMD
qemu_uboot_cmd() {
    QEMU_CMD=(qemu-system-arm -M virt,virtualization=on,highmem-ecam=off -cpu cortex-a15 -m "$1" -nic none
        -bios "$UBOOT_BIN"
        -drive "if=none,id=bootdisk,file=$(qemu_escape "$2"),format=raw,snapshot=on"
        -device virtio-blk-device,drive=bootdisk)
}
