# The default Dom0: Debian bookworm's armmp-lpae kernel, its DTBs and a
# busybox-static initramfs, cached under target/dom0/. Sourced after common.sh.
# shellcheck shell=bash
#
#   ensure_dom0   fetch/build whatever is missing or stale; prints nothing on stdout
#
# Outputs (paths also in DOM0_ZIMAGE, DOM0_INITRD, DOM0_DTBS):
#   target/dom0/zImage            the package's /boot/vmlinuz-*
#   target/dom0/dtbs/             the package's /usr/lib/linux-image-*/ tree
#   target/dom0/initrd.cpio.gz    newc cpio: busybox + qemu/dom0-initramfs/{init,tests/}
#                                 + the kernel modules qemu/dom0-initramfs/modules names and
#                                   their dependencies, in /lib/modules/ (+ modules.dep)
#                                 + /bin/snowctl (hypervisor/tools/snowctl, static armhf)
#   target/dom0/kernel-version    "<package> <version> <uname -r>"
# Packages come from the machine's own apt sources (no mirror named here),
# downloaded with `apt-get download` into target/dom0/debs/, never installed.

DOM0_DIR="$ROOT/target/dom0"
DOM0_SRC="$ROOT/qemu/dom0-initramfs"
DOM0_ZIMAGE="$DOM0_DIR/zImage"
DOM0_INITRD="$DOM0_DIR/initrd.cpio.gz"
DOM0_DTBS="$DOM0_DIR/dtbs"
DOM0_LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
# snowctl, Dom0's tool: its own cargo workspace, built for armhf Linux, static.
SNOWCTL_SRC="$ROOT/hypervisor/tools/snowctl"
SNOWCTL_TRIPLE=armv7-unknown-linux-gnueabihf
# The workspace's target directory. A relative CARGO_TARGET_DIR means relative
# to where cargo was started (here), not to the snowctl crate cargo runs in below.
SNOWCTL_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$SNOWCTL_TARGET_DIR" in /*) ;; *) SNOWCTL_TARGET_DIR="$PWD/$SNOWCTL_TARGET_DIR" ;; esac
SNOWCTL_BIN="$SNOWCTL_TARGET_DIR/$SNOWCTL_TRIPLE/release/snowctl"

# dpkg must know armhf for apt to list (and download) armhf packages.
dom0_ensure_armhf() {
    if [ "$(dpkg --print-architecture)" = armhf ] || dpkg --print-foreign-architectures | grep -qx armhf; then
        return 0
    fi
    say "enabling the armhf architecture in dpkg"
    as_root dpkg --add-architecture armhf || die "dpkg --add-architecture armhf failed"
    APT_UPDATED=""
    apt_update_once
}

# Name of the newest bookworm 6.1 armmp-lpae kernel package, e.g.
# linux-image-6.1.0-31-armmp-lpae, read from the metapackage's dependencies
# (any version of it apt knows; a backports kernel of another series is skipped).
dom0_kernel_package() {
    apt-cache show linux-image-armmp-lpae:armhf 2>/dev/null \
        | sed -n 's/^Depends:.*\(linux-image-6\.1\.0-[0-9][0-9]*-armmp-lpae\).*/\1/p' \
        | sort -V -u | tail -1 || true
}

# apt-get download PKG... into DIR, updating the package lists once if they are stale.
dom0_download() {
    local dir=$1; shift
    local opts=(-q)
    mkdir -p "$dir"
    # As root, apt hands downloads to the _apt user, who cannot write into a
    # root-owned work tree; download as root there instead of warning about it.
    [ "$(id -u)" = 0 ] && opts+=(-o APT::Sandbox::User=root)
    if ! (cd "$dir" && apt-get download "${opts[@]}" "$@" >&2); then
        [ -n "$APT_UPDATED" ] && die "apt-get download $* failed"
        apt_update_once
        (cd "$dir" && apt-get download "${opts[@]}" "$@" >&2) || die "apt-get download $* failed"
    fi
}

# The newest .deb of PKG (base name, no arch) in DIR.
dom0_deb() {
    local f
    f=$(find "$1" -maxdepth 1 -name "${2}_*_armhf.deb" | sort -V | tail -1) || true
    [ -n "$f" ] || die "no ${2} .deb in $1"
    echo "$f"
}

dom0_kernel_ready() {
    [ -s "$DOM0_ZIMAGE" ] && [ -d "$DOM0_DTBS" ] && [ -s "$DOM0_DIR/kernel-version" ]
}

dom0_fetch_kernel() {
    dom0_ensure_armhf
    local pkg deb tmp vmlinuz dtbdir ver n
    pkg=$(dom0_kernel_package)
    if [ -z "$pkg" ]; then
        apt_update_once
        pkg=$(dom0_kernel_package)
    fi
    [ -n "$pkg" ] || die "apt knows no linux-image-armmp-lpae:armhf depending on a 6.1.0 kernel (bookworm sources?)"
    say "dom0: downloading $pkg:armhf"
    rm -f "$DOM0_DIR/debs/${pkg}_"*.deb
    dom0_download "$DOM0_DIR/debs" "$pkg:armhf"
    deb=$(dom0_deb "$DOM0_DIR/debs" "$pkg")
    tmp="$DOM0_DIR/kernel.tmp"
    rm -rf "$tmp" "$DOM0_DTBS.tmp"
    say "dom0: extracting $(basename "$deb")"
    dpkg-deb -x "$deb" "$tmp" || die "dpkg-deb -x $deb failed"
    vmlinuz=$(find "$tmp/boot" -maxdepth 1 -name 'vmlinuz-*' | head -1) || true
    dtbdir=$(find "$tmp/usr/lib" -maxdepth 1 -type d -name 'linux-image-*' | head -1) || true
    [ -n "$vmlinuz" ] || die "$deb has no /boot/vmlinuz-*"
    [ -n "$dtbdir" ] || die "$deb has no /usr/lib/linux-image-*/ DTB directory"
    mv "$dtbdir" "$DOM0_DTBS.tmp"
    cp "$vmlinuz" "$DOM0_ZIMAGE.tmp"
    ver=$(dpkg-deb -f "$deb" Version)
    rm -rf "$tmp" "$DOM0_DTBS"
    mv "$DOM0_DTBS.tmp" "$DOM0_DTBS"
    mv "$DOM0_ZIMAGE.tmp" "$DOM0_ZIMAGE"
    echo "$pkg $ver ${vmlinuz##*/vmlinuz-}" >"$DOM0_DIR/kernel-version"
    n=$(find "$DOM0_DTBS" -name '*.dtb' | wc -l) || true
    say "dom0: kernel ${vmlinuz##*/vmlinuz-} ($ver), $n DTBs in target/dom0/dtbs"
}

# True when the initramfs is missing or older than anything it is made from.
dom0_initrd_stale() {
    [ -s "$DOM0_INITRD" ] || return 0
    [ -n "$(find "$DOM0_SRC" "$DOM0_LIB" -newer "$DOM0_INITRD" 2>/dev/null | head -1)" ] && return 0
    [ -n "$(find "$DOM0_DIR/debs" -maxdepth 1 -name 'busybox-static_*_armhf.deb' -newer "$DOM0_INITRD" 2>/dev/null | head -1)" ] && return 0
    [ -n "$(find "$DOM0_DIR/debs" -maxdepth 1 -name 'linux-image-*_armhf.deb' -newer "$DOM0_INITRD" 2>/dev/null | head -1)" ] && return 0
    [ -n "$(find "$SNOWCTL_BIN" -newer "$DOM0_INITRD" 2>/dev/null | head -1)" ] && return 0
    return 1
}

# Builds snowctl (cargo does nothing when it is up to date), installing the
# Rust target and Debian's armhf cross linker on first use.
dom0_build_snowctl() {
    if ! (cd "$SNOWCTL_SRC" && rustup target list --installed 2>/dev/null | grep -qx "$SNOWCTL_TRIPLE"); then
        say "installing the Rust target $SNOWCTL_TRIPLE (for snowctl)"
        (cd "$SNOWCTL_SRC" && rustup target add "$SNOWCTL_TRIPLE" >&2) \
            || die "rustup target add $SNOWCTL_TRIPLE failed"
    fi
    if ! command -v arm-linux-gnueabihf-gcc >/dev/null; then
        apt_install gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
    fi
    # The crate's .cargo/config.toml names the target, the linker and +crt-static.
    (cd "$SNOWCTL_SRC" && cargo build -q --release --target "$SNOWCTL_TRIPLE" \
        --target-dir "$SNOWCTL_TARGET_DIR" >&2) || die "building snowctl failed"
    [ -x "$SNOWCTL_BIN" ] || die "snowctl was built but $SNOWCTL_BIN is missing"
}

# dom0_stage_modules MODROOT DEST: copies the modules qemu/dom0-initramfs/modules
# names (one a line, # comments) and every module they depend on (modinfo's
# `depends`) from MODROOT, a kernel's lib/modules/<release> tree (.ko, .ko.xz,
# .ko.gz or .ko.zst), into DEST as plain NAME.ko, and writes DEST/modules.dep:
# "NAME: DEP..." lines, dependencies first, for /init's loader (and the
# same as DEST/<release>/modules.dep for busybox's modprobe), and
# DEST/modules.builtin: the listed names the kernel has built in. Prints one line
# naming what was packed and what the kernel does not have; fails only when
# the modules' vermagic is not MODROOT's release.
dom0_stage_modules() {
    local modroot=$1 dest=$2 list="$DOM0_SRC/modules" release m f vm
    release=$(basename "$modroot")
    command -v modinfo >/dev/null || apt_install kmod
    command -v xz >/dev/null || apt_install xz-utils
    mkdir -p "$dest"
    : >"$dest/modules.dep"
    unset DOM0_MOD_PATH DOM0_MOD_DONE
    declare -gA DOM0_MOD_PATH=() DOM0_MOD_DONE=()
    DOM0_MOD_MISSING=()
    while IFS= read -r f; do
        m=${f##*/}
        DOM0_MOD_PATH[${m%%.ko*}]=$f
    done < <(find "$modroot" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.gz' -o -name '*.ko.zst')
    local packed=() builtin=()
    : >"$dest/modules.builtin"
    while read -r m _; do
        case "$m" in ''|'#'*) continue ;; esac
        if dom0_module_builtin "$m" "$modroot"; then
            builtin+=("$m")
            echo "$m" >>"$dest/modules.builtin"
        elif dom0_stage_module "$m" "$modroot" "$dest" "$m"; then
            packed+=("$m")
        fi
    done <"$list"
    # Busybox's modprobe reads /lib/modules/<release>/modules.dep, paths
    # relative to that directory: the same modules, one level up.
    mkdir -p "$dest/$release"
    sed -E 's#([^: ]+)#../\1.ko#g' "$dest/modules.dep" >"$dest/$release/modules.dep"
    local deps=$(($(wc -l <"$dest/modules.dep") - ${#packed[@]})) more=""
    [ "$deps" -le 0 ] || more=" (+$deps they need)"
    say "dom0: $release modules packed: ${packed[*]:-none}$more; built in: ${builtin[*]:-none}; missing: ${DOM0_MOD_MISSING[*]:-none}"
    # A module built for another kernel fails insmod at boot; say so now.
    for f in "$dest"/*.ko; do
        [ -e "$f" ] || break
        vm=$(modinfo -F vermagic "$f" 2>/dev/null | cut -d' ' -f1)
        [ "$vm" = "$release" ] || die "$(basename "$f") in $modroot is built for kernel '$vm', not '$release'"
    done
}

# True when MODROOT's kernel has NAME built in (modules.builtin lists
# kernel/.../NAME.ko; - and _ are one to the kernel).
dom0_module_builtin() {
    grep -qE "/(${1}|${1//-/_}|${1//_/-})\.ko\$" "$2/modules.builtin" 2>/dev/null
}

# dom0_stage_module NAME MODROOT DEST WANTED_BY: stages NAME (file names use
# - or _ as the kernel tree spells them) after its dependencies; false when
# missing. A dependency built into the kernel goes to DEST/modules.builtin.
dom0_stage_module() {
    local n=$1 modroot=$2 dest=$3 by=$4 f d deps
    [ -z "${DOM0_MOD_DONE[$n]:-}" ] || return 0
    f=${DOM0_MOD_PATH[$n]:-${DOM0_MOD_PATH[${n//-/_}]:-${DOM0_MOD_PATH[${n//_/-}]:-}}}
    if [ -z "$f" ] && [ "$by" != "$n" ] && dom0_module_builtin "$n" "$modroot"; then
        DOM0_MOD_DONE[$n]=1
        echo "$n" >>"$dest/modules.builtin"
        return 0
    fi
    if [ -z "$f" ]; then
        if [ "$by" = "$n" ]; then DOM0_MOD_MISSING+=("$n"); else DOM0_MOD_MISSING+=("$n(for $by)"); fi
        return 1
    fi
    n=${f##*/}
    n=${n%%.ko*}
    DOM0_MOD_DONE[$n]=1
    case "$f" in
        *.ko) cp "$f" "$dest/$n.ko" ;;
        *.ko.xz) xz -dc "$f" >"$dest/$n.ko" ;;
        *.ko.gz) gzip -dc "$f" >"$dest/$n.ko" ;;
        *.ko.zst) command -v zstd >/dev/null || apt_install zstd; zstd -qdc "$f" >"$dest/$n.ko" ;;
    esac || die "cannot unpack $f"
    chmod 0644 "$dest/$n.ko"
    deps=$(modinfo -F depends "$dest/$n.ko" 2>/dev/null) || true
    deps=${deps//,/ }
    for d in $deps; do
        dom0_stage_module "$d" "$modroot" "$dest" "$by" || true
    done
    echo "$n:${deps:+ $deps}" >>"$dest/modules.dep"
}

# The busybox-static .deb, downloaded on first use.
dom0_busybox_deb() {
    local deb
    deb=$(find "$DOM0_DIR/debs" -maxdepth 1 -name 'busybox-static_*_armhf.deb' 2>/dev/null | sort -V | tail -1) || true
    if [ -z "$deb" ]; then
        dom0_ensure_armhf
        say "dom0: downloading busybox-static:armhf"
        dom0_download "$DOM0_DIR/debs" busybox-static:armhf
        deb=$(dom0_deb "$DOM0_DIR/debs" busybox-static)
    fi
    echo "$deb"
}

# dom0_pack_initrd MODROOT OUT: the initramfs for the kernel whose modules
# are in MODROOT (lib/modules/<release>), written to OUT.
dom0_pack_initrd() {
    local modroot=$1 out=$2
    [ -f "$DOM0_SRC/init" ] || die "$DOM0_SRC/init is missing"
    if ! command -v cpio >/dev/null || ! command -v gzip >/dev/null; then
        apt_install cpio gzip
    fi
    local deb work bbroot stage bb
    deb=$(dom0_busybox_deb)
    mkdir -p "$(dirname "$out")"
    work=$(mktemp -d "$(dirname "$out")/initramfs.XXXXXX")
    bbroot="$work/busybox" stage="$work/stage"
    dpkg-deb -x "$deb" "$bbroot" || die "dpkg-deb -x $deb failed"
    for bb in "$bbroot/bin/busybox" "$bbroot/usr/bin/busybox" ""; do
        [ -f "$bb" ] && break
    done
    [ -n "$bb" ] || die "$deb has no /bin/busybox or /usr/bin/busybox"

    say "dom0: building ${out#"$ROOT"/}"
    (
        umask 022
        mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,tests}
        install -m 0755 "$bb" "$stage/bin/busybox"
        ln -s busybox "$stage/bin/sh"
        install -m 0755 "$DOM0_SRC/init" "$stage/init"
        if [ -d "$DOM0_SRC/tests" ]; then
            cp -R "$DOM0_SRC/tests/." "$stage/tests/"
        fi
        dom0_stage_modules "$modroot" "$stage/lib/modules"
        install -m 0755 "$SNOWCTL_BIN" "$stage/bin/snowctl"
        chmod 1777 "$stage/tmp"
    ) || die "staging the initramfs failed"
    # No /dev/console node: /init mounts devtmpfs and takes the console itself.
    dom0_pack_dir "$stage" "$out"
    rm -rf "$work"
    say "dom0: initramfs $(du -k "$out" | cut -f1) KiB"
}

# dom0_pack_dir DIR OUT: DIR as a gzipped newc archive OUT, every file owned
# by root (a plain file list: no root needed here), reproducible.
dom0_pack_dir() {
    local dir=$1 out=$2
    (
        cd "$dir" &&
            find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
            cpio --quiet -o -H newc --owner=0:0 --reproducible |
                gzip -9 -n >"$out.tmp"
    ) || die "packing $out failed"
    mv "$out.tmp" "$out"
}

# The default kernel's initramfs, with the modules of its package.
dom0_build_initrd() {
    local pkg deb tmp="$DOM0_DIR/modules.tmp" modroot
    pkg=$(cut -d' ' -f1 "$DOM0_DIR/kernel-version" 2>/dev/null) || true
    [ -n "$pkg" ] || die "no target/dom0/kernel-version: fetch the kernel first"
    deb=$(dom0_deb "$DOM0_DIR/debs" "$pkg")
    rm -rf "$tmp" && mkdir -p "$tmp"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './lib/modules/*' './usr/lib/modules/*' 2>/dev/null || true
    modroot=$(find "$tmp/lib/modules" "$tmp/usr/lib/modules" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | head -1) || true
    [ -n "$modroot" ] || die "$deb has no /lib/modules/<release>/"
    dom0_pack_initrd "$modroot" "$DOM0_INITRD"
    rm -rf "$tmp"
}

ensure_dom0() {
    mkdir -p "$DOM0_DIR"
    # One fetch or rebuild at a time: parallel runs (tests, benchmarks) wait here.
    local lock
    exec {lock}>"$DOM0_DIR/.lock"
    flock "$lock"
    if ! dom0_kernel_ready; then dom0_fetch_kernel; fi
    dom0_build_snowctl
    if dom0_initrd_stale; then dom0_build_initrd; fi
    flock -u "$lock"
    exec {lock}>&-
    return 0
}

# ---- Other Dom0 kernels: scripts/run --dom0 SPEC [--modules DIR] -----------
#
# dom0_use_kernel SPEC [MODULES_DIR] sets DOM0_ZIMAGE, DOM0_INITRD and
# DOM0_RELEASE for SPEC, one of:
#   a zImage (vmlinuz-<release> or any name), its modules in MODULES_DIR or
#     next to it: ../lib/modules/<release>, ./lib/modules/*, ./modules/*
#   an unpacked Debian kernel package (boot/vmlinuz-*, [usr/]lib/modules/*/)
#   a Debian kernel package file (linux-image-*.deb)
#   a Debian armhf kernel package: NAME, NAME=VERSION or NAME/SUITE, e.g.
#     linux-image-6.1.0-50-armmp-lpae, linux-image-armmp-lpae/bookworm-backports;
#     a metapackage is followed to the kernel it depends on. A SUITE missing
#     from apt's sources is added with the mirror already there.
# Packages are downloaded to target/dom0/debs/ and unpacked once under
# target/dom0/kernels/<package>_<version>/; the initramfs, with that kernel's
# own modules, is cached as target/dom0/kernels/<release>/initrd.cpio.gz and
# rebuilt when its inputs change.
DOM0_KERNELS="$DOM0_DIR/kernels"

dom0_use_kernel() {
    local spec=$1 mods=${2:-}
    mkdir -p "$DOM0_KERNELS"
    local lock
    exec {lock}>"$DOM0_DIR/.lock"
    flock "$lock"
    dom0_build_snowctl
    local deb="" tree
    if [ -d "$spec" ]; then
        dom0_kernel_tree "$spec" "$mods"
    elif [ -f "$spec" ] && [ "${spec%.deb}" = "$spec" ]; then
        dom0_kernel_zimage "$spec" "$mods"
    else
        if [ -f "$spec" ]; then
            deb=$spec
        else
            case "$spec" in
                linux-image-*) deb=$(dom0_fetch_package "$spec") || exit 1 ;;
                *) die "--dom0 $spec: no such file or directory, nor a Debian kernel package name (linux-image-...)" ;;
            esac
        fi
        [ -z "$mods" ] || die "--modules goes with a zImage, not with the package $spec"
        tree=$(dom0_unpack_deb "$deb") || exit 1
        dom0_kernel_tree "$tree" ""
    fi
    flock -u "$lock"
    exec {lock}>&-
    return 0
}

# True when FILE carries the ARM zImage magic 0x016f2818 at offset 0x24.
dom0_is_zimage() {
    [ "$(od -An -tx4 -j 36 -N 4 "$1" 2>/dev/null | tr -d ' ')" = 016f2818 ]
}

# dom0_kernel_tree ROOT MODS: an unpacked kernel package.
dom0_kernel_tree() {
    local root=$1 mods=$2 k
    local ks=()
    for k in "$root"/boot/vmlinuz-*; do [ -f "$k" ] && ks+=("$k"); done
    [ ${#ks[@]} -eq 1 ] || die "$root: expected one boot/vmlinuz-<release>, found ${#ks[@]}${ks[*]:+: ${ks[*]##*/}}"
    dom0_kernel_zimage "${ks[0]}" "$mods"
}

# dom0_kernel_zimage ZIMAGE MODS: a zImage and the modules found for it.
dom0_kernel_zimage() {
    local zimage=$1 mods=$2 dir release="" c modroot=""
    dom0_is_zimage "$zimage" || die "--dom0 $zimage is not an ARM zImage (no magic 0x016f2818 at offset 0x24)"
    dir=$(cd "$(dirname "$zimage")" && pwd)
    zimage="$dir/${zimage##*/}"
    case "${zimage##*/}" in vmlinuz-*) release=${zimage##*/vmlinuz-} ;; esac
    local cands=()
    if [ -n "$mods" ]; then
        [ -d "$mods" ] || die "--modules $mods: no such directory"
        mods=$(cd "$mods" && pwd)
        # The release directory itself, or a tree holding it.
        if [ -d "$mods/kernel" ] || [ -f "$mods/modules.order" ]; then
            cands=("$mods")
        else
            for c in "$mods"/lib/modules/* "$mods"/usr/lib/modules/* "$mods"/*; do
                [ -d "$c/kernel" ] && cands+=("$c")
            done
        fi
        [ ${#cands[@]} -gt 0 ] || die "--modules $mods: no kernel module tree (<release>/kernel/) in it"
    else
        for c in "$dir"/../lib/modules/* "$dir"/../usr/lib/modules/* "$dir"/lib/modules/* "$dir"/modules/*; do
            [ -d "$c/kernel" ] && cands+=("$(cd "$c" && pwd)")
        done
        [ ${#cands[@]} -gt 0 ] || die "no modules found next to $zimage (looked for ../lib/modules/<release>, lib/modules/<release>, modules/<release> in $dir): give --modules DIR, or --initrd F / --no-initrd to boot it with another initramfs or none"
    fi
    if [ -n "$release" ]; then
        for c in "${cands[@]}"; do
            [ "${c##*/}" = "$release" ] && modroot=$c
        done
        [ -n "$modroot" ] || die "no modules for $release next to $zimage (found: ${cands[*]##*/})"
    else
        [ ${#cands[@]} -eq 1 ] || die "several module trees for $zimage (${cands[*]##*/}): name one with --modules DIR"
        modroot=${cands[0]}
    fi
    release=${modroot##*/}
    case "${zimage##*/}" in
        vmlinuz-*) ;;
        *)
            local own
            own=$(dom0_zimage_release "$zimage")
            if [ -z "$own" ]; then
                say "dom0: warning: cannot read the release out of $zimage; trusting its modules' ($release)"
            elif [ "$own" != "$release" ]; then
                die "$zimage is Linux $own but the modules in $modroot are for $release"
            fi
            ;;
    esac
    DOM0_ZIMAGE=$zimage
    DOM0_RELEASE=$release
    DOM0_INITRD="$DOM0_KERNELS/$release/initrd.cpio.gz"
    dom0_release_initrd "$modroot" "$DOM0_INITRD"
    say "dom0: kernel $release ($zimage), initramfs ${DOM0_INITRD#"$ROOT"/}"
}

# The release ("Linux version X") inside a zImage's gzip- or xz-compressed
# kernel, or nothing. The decompressor's own bytes may look like a stream
# header too, so every candidate offset is tried.
dom0_zimage_release() {
    local z=$1 off v
    for off in $(LC_ALL=C grep -obUaP '\xfd7zXZ\x00|\x1f\x8b\x08' "$z" 2>/dev/null | cut -d: -f1 | head -8); do
        v=$(tail -c +$((off + 1)) "$z" | { xz -dc 2>/dev/null || true; } | LC_ALL=C grep -aom1 'Linux version [^ ]*') || true
        [ -n "$v" ] || v=$(tail -c +$((off + 1)) "$z" | { gzip -dc 2>/dev/null || true; } | LC_ALL=C grep -aom1 'Linux version [^ ]*') || true
        if [ -n "$v" ]; then
            echo "${v#Linux version }"
            return 0
        fi
    done
}

# dom0_release_initrd MODROOT OUT: builds OUT unless the stamp next to it
# says it was built from the same modules, init, tests, busybox and snowctl.
dom0_release_initrd() {
    local modroot=$1 out=$2 stamp
    stamp=$(
        {
            echo "$modroot"
            find "$modroot" \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.gz' -o -name '*.ko.zst' \) -printf '%P %s %T@\n' | LC_ALL=C sort
            find "$DOM0_SRC" "$DOM0_LIB" "$SNOWCTL_BIN" -printf '%p %s %T@\n' | LC_ALL=C sort
            find "$DOM0_DIR/debs" -maxdepth 1 -name 'busybox-static_*_armhf.deb' -printf '%f %s\n' | LC_ALL=C sort
        } | sha256sum | cut -d' ' -f1
    )
    if [ -s "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
        return 0
    fi
    dom0_pack_initrd "$modroot" "$out"
    echo "$stamp" >"$out.stamp"
}

# dom0_unpack_deb DEB: prints the directory DEB is unpacked in (once).
dom0_unpack_deb() {
    local deb=$1 pkg ver dir
    pkg=$(dpkg-deb -f "$deb" Package 2>/dev/null) || die "$deb is not a Debian package"
    ver=$(dpkg-deb -f "$deb" Version)
    dir="$DOM0_KERNELS/${pkg}_${ver//:/%3a}"
    if [ ! -f "$dir/.unpacked" ]; then
        say "dom0: unpacking $(basename "$deb")"
        rm -rf "$dir" && mkdir -p "$dir"
        dpkg-deb -x "$deb" "$dir" || die "dpkg-deb -x $deb failed"
        touch "$dir/.unpacked"
    fi
    echo "$dir"
}

# dom0_fetch_package NAME[=VERSION|/SUITE]: prints the .deb of that armhf
# kernel package (a metapackage followed to its kernel), downloading it once.
dom0_fetch_package() {
    local spec=$1 name ver="" suite="" dep deb
    case "$spec" in
        *=*) name=${spec%%=*} ver=${spec#*=} ;;
        */*) name=${spec%%/*} suite=${spec#*/} ;;
        *) name=$spec ;;
    esac
    dom0_ensure_armhf
    [ -z "$suite" ] || ensure_apt_suite "$suite"
    if [ -z "$ver" ]; then
        ver=$(dom0_package_version "$name" "$suite")
        if [ -z "$ver" ]; then
            apt_update_once
            ver=$(dom0_package_version "$name" "$suite")
        fi
        if [ -z "$ver" ] && [ -n "$suite" ] && ! apt-cache policy 2>/dev/null | grep -q " $suite/"; then
            # Do not leave a suite the mirror does not have in apt's sources.
            as_root rm -f "/etc/apt/sources.list.d/snowvisor-$suite.sources"
            die "--dom0 $spec: the mirror in apt's sources has no suite $suite"
        fi
        [ -n "$ver" ] || die "apt knows no $name:armhf${suite:+ in $suite}"
    fi
    deb=$(find "$DOM0_DIR/debs" -maxdepth 1 -name "${name}_${ver//:/%3a}_armhf.deb" 2>/dev/null | head -1) || true
    if [ -z "$deb" ]; then
        # A metapackage (linux-image-armmp-lpae) depends on exactly one kernel.
        dep=$(apt-cache show "$name:armhf=$ver" 2>/dev/null |
            sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*\) (= \([^)]*\)).*/\1=\2/p' | head -1) || true
        if [ -z "$dep" ] && ! apt-cache show "$name:armhf=$ver" >/dev/null 2>&1; then
            apt_update_once
            dep=$(apt-cache show "$name:armhf=$ver" 2>/dev/null |
                sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*\) (= \([^)]*\)).*/\1=\2/p' | head -1) || true
        fi
        if [ -n "$dep" ]; then
            say "dom0: $name $ver is a metapackage for ${dep%%=*}"
            dom0_fetch_package "$dep" || exit 1
            return 0
        fi
        say "dom0: downloading $name:armhf $ver"
        dom0_download "$DOM0_DIR/debs" "$name:armhf=$ver"
        deb=$(find "$DOM0_DIR/debs" -maxdepth 1 -name "${name}_${ver//:/%3a}_armhf.deb" | head -1) || true
        [ -n "$deb" ] || die "apt-get download $name:armhf=$ver left no ${name}_${ver}_armhf.deb"
    fi
    echo "$deb"
}

# The version of NAME:armhf apt would install (or SUITE's newest).
dom0_package_version() {
    local name=$1 suite=$2
    if [ -n "$suite" ]; then
        apt-cache madison "$name:armhf" 2>/dev/null |
            awk -F'|' -v s="$suite" '$3 ~ ("[ /]" s "/") || $3 ~ (" " s " ") { gsub(/ /, "", $2); print $2; exit }'
    else
        apt-cache policy "$name:armhf" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)" { print $2; exit }'
    fi
}
