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
#                                 + the kernel modules qemu/dom0-initramfs/modules lists, in /lib/modules/
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

# Copies the modules qemu/dom0-initramfs/modules lists (paths under
# /lib/modules/<version>/, one a line, # comments) from the kernel package into DEST.
dom0_stage_modules() {
    local dest=$1 list="$DOM0_SRC/modules" pkg deb tmp="$DOM0_DIR/modules.tmp" m
    [ -s "$list" ] || return 0
    pkg=$(cut -d' ' -f1 "$DOM0_DIR/kernel-version" 2>/dev/null) || true
    [ -n "$pkg" ] || die "no target/dom0/kernel-version: fetch the kernel first"
    deb=$(dom0_deb "$DOM0_DIR/debs" "$pkg")
    rm -rf "$tmp" && mkdir -p "$tmp" "$dest"
    local want=()
    while read -r m; do
        case "$m" in ''|'#'*) continue ;; esac
        want+=("./lib/modules/*/$m")
    done <"$list"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards "${want[@]}" \
        || die "modules listed in $list are missing from $deb"
    find "$tmp" -name '*.ko' -exec install -m 0644 {} "$dest/" \;
    rm -rf "$tmp"
}

dom0_build_initrd() {
    [ -f "$DOM0_SRC/init" ] || die "$DOM0_SRC/init is missing"
    if ! command -v cpio >/dev/null || ! command -v gzip >/dev/null; then
        apt_install cpio gzip
    fi
    local deb
    deb=$(find "$DOM0_DIR/debs" -maxdepth 1 -name 'busybox-static_*_armhf.deb' 2>/dev/null | sort -V | tail -1) || true
    if [ -z "$deb" ]; then
        dom0_ensure_armhf
        say "dom0: downloading busybox-static:armhf"
        dom0_download "$DOM0_DIR/debs" busybox-static:armhf
        deb=$(dom0_deb "$DOM0_DIR/debs" busybox-static)
    fi
    local bbroot="$DOM0_DIR/busybox.tmp" stage="$DOM0_DIR/initramfs.tmp" bb
    rm -rf "$bbroot" "$stage"
    dpkg-deb -x "$deb" "$bbroot" || die "dpkg-deb -x $deb failed"
    for bb in "$bbroot/bin/busybox" "$bbroot/usr/bin/busybox" ""; do
        [ -f "$bb" ] && break
    done
    [ -n "$bb" ] || die "$deb has no /bin/busybox or /usr/bin/busybox"

    say "dom0: building target/dom0/initrd.cpio.gz"
    (
        umask 022
        mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,tests}
        install -m 0755 "$bb" "$stage/bin/busybox"
        ln -s busybox "$stage/bin/sh"
        install -m 0755 "$DOM0_SRC/init" "$stage/init"
        if [ -d "$DOM0_SRC/tests" ]; then
            cp -R "$DOM0_SRC/tests/." "$stage/tests/"
        fi
        dom0_stage_modules "$stage/lib/modules"
        install -m 0755 "$SNOWCTL_BIN" "$stage/bin/snowctl"
        chmod 1777 "$stage/tmp"
    ) || die "staging the initramfs failed"
    # A plain file list packed with every file owned by root: no root needed here.
    # No /dev/console node: /init mounts devtmpfs and takes the console itself.
    (
        cd "$stage" &&
            find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
            cpio --quiet -o -H newc --owner=0:0 --reproducible |
                gzip -9 -n >"$DOM0_INITRD.tmp"
    ) || die "packing the initramfs failed"
    mv "$DOM0_INITRD.tmp" "$DOM0_INITRD"
    rm -rf "$bbroot" "$stage"
    say "dom0: initramfs $(du -k "$DOM0_INITRD" | cut -f1) KiB"
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
