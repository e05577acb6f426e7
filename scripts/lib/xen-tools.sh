# Xen's own Dom0 userland (scripts/run --xen-tools): Debian armhf's
# xen-utils-4.17, xen-utils-common and xenstore-utils with the shared
# libraries they need, unpacked (dpkg-deb -x, nothing armhf runs here) into
# a newc archive that is appended to Dom0's initramfs. Linux unpacks
# concatenated archives in order, so the base initramfs stays as it is and
# its /init finds /usr/lib/xen-4.17 and starts xenstored.
# Sourced after common.sh and dom0.sh.
# shellcheck shell=bash
#
#   ensure_xen_tools   sets XEN_TOOLS_CPIO (target/dom0/xen-tools.cpio.gz),
#                      downloading into target/dom0/debs/ what is missing
#
# Which packages: the three above and, transitively, every library package
# (lib*, zlib*) among their Depends/Pre-Depends (apt-cache depends, armhf),
# plus libcom-err2, which libext2fs.so.2 links against without its package
# declaring it (bookworm). The other dependencies (python3, udev, ucf, sysvinit-utils: the init scripts'
# and pygrub's) are left out: no binary kept here links against them, and
# the archive is checked for that: every NEEDED library of every ELF file in
# it must be in it (readelf), else the build fails naming both.

XEN_TOOLS_ROOTS=(xen-utils-4.17 xen-utils-common xenstore-utils libcom-err2)
XEN_TOOLS_CPIO="$DOM0_DIR/xen-tools.cpio.gz"
XEN_TOOLS_LIST="$DOM0_DIR/xen-tools.packages"
XEN_TOOLS_LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

# The package closure described above, one name a line, sorted.
xen_tools_closure() {
    local -A seen=()
    local queue=("${XEN_TOOLS_ROOTS[@]}") p d
    while [ ${#queue[@]} -gt 0 ]; do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        [ -z "${seen[$p]:-}" ] || continue
        seen[$p]=1
        echo "$p"
        for d in $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
            --no-replaces --no-enhances "$p:armhf" 2>/dev/null |
            awk '/^ *(Pre)?Depends: [^<]/ { sub(/:armhf$/, "", $2); print $2 }'); do
            case "$d" in lib*|zlib*) queue+=("$d") ;; esac
        done
    done | LC_ALL=C sort
}

# The packages' .debs in target/dom0/debs/, downloaded once; the closure is
# kept in target/dom0/xen-tools.packages so later runs need no apt at all.
xen_tools_debs() {
    local pkgs=() p missing=()
    if [ -s "$XEN_TOOLS_LIST" ]; then
        mapfile -t pkgs <"$XEN_TOOLS_LIST"
    else
        dom0_ensure_armhf
        mapfile -t pkgs < <(xen_tools_closure)
        if [ ${#pkgs[@]} -lt ${#XEN_TOOLS_ROOTS[@]} ] || ! printf '%s\n' "${pkgs[@]}" | grep -qx libxenstore4; then
            apt_update_once
            mapfile -t pkgs < <(xen_tools_closure)
        fi
        printf '%s\n' "${pkgs[@]}" | grep -qx libxenstore4 ||
            die "apt knows no xen-utils-4.17:armhf with its libraries (bookworm sources and armhf needed)"
        printf '%s\n' "${pkgs[@]}" >"$XEN_TOOLS_LIST.tmp" && mv "$XEN_TOOLS_LIST.tmp" "$XEN_TOOLS_LIST"
    fi
    for p in "${pkgs[@]}"; do
        find "$DOM0_DIR/debs" -maxdepth 1 -name "${p}_*_armhf.deb" 2>/dev/null | grep -q . || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        dom0_ensure_armhf
        say "xen-tools: downloading ${missing[*]} (armhf)"
        dom0_download "$DOM0_DIR/debs" "${missing[@]/%/:armhf}"
    fi
    for p in "${pkgs[@]}"; do dom0_deb "$DOM0_DIR/debs" "$p"; done
}

# True when the archive is missing or older than its packages or this file.
xen_tools_stale() {
    [ -s "$XEN_TOOLS_CPIO" ] || return 0
    [ -n "$(find "$XEN_TOOLS_LIB" "$@" -newer "$XEN_TOOLS_CPIO" 2>/dev/null | head -1)" ]
}

# Every NEEDED soname of every ELF file under ROOT must be a file or link in
# ROOT's library directories or the file's own RUNPATH (${ORIGIN}-relative).
xen_tools_check_libs() {
    local root=$1 f n d dirs bad=() found ds
    command -v readelf >/dev/null || apt_install binutils
    while IFS= read -r f; do
        [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
        dirs="$root/lib/arm-linux-gnueabihf:$root/usr/lib/arm-linux-gnueabihf"
        d=$(readelf -d "$f" 2>/dev/null | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
        d=${d//'${ORIGIN}'/$(dirname "$f")}
        [ -z "$d" ] || dirs="$dirs:${d//'$ORIGIN'/$(dirname "$f")}"
        for n in $(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            found=""
            IFS=: read -r -a ds <<<"$dirs"
            for d in "${ds[@]}"; do [ -e "$d/$n" ] && found=1 && break; done
            [ -n "$found" ] || bad+=("${f#"$root"}: $n")
        done
    done < <(find "$root" -type f)
    [ ${#bad[@]} -eq 0 ] || die "xen-tools: libraries missing from the archive: ${bad[*]}"
}

ensure_xen_tools() {
    local debs=() deb work stage
    mkdir -p "$DOM0_DIR"
    local lock
    exec {lock}>"$DOM0_DIR/.xen-tools.lock"
    flock "$lock"
    mapfile -t debs < <(xen_tools_debs)
    [ ${#debs[@]} -gt 0 ] || die "xen-tools: no packages"
    if xen_tools_stale "${debs[@]}"; then
        if ! command -v cpio >/dev/null || ! command -v gzip >/dev/null; then
            apt_install cpio gzip
        fi
        work=$(mktemp -d "$DOM0_DIR/xen-tools.XXXXXX")
        stage="$work/root"
        for deb in "${debs[@]}"; do
            dpkg-deb -x "$deb" "$stage" || die "dpkg-deb -x $deb failed"
        done
        # Documentation, locales' converters, SysV init scripts and Python
        # (pygrub, which has no python3 here) are not needed in Dom0's RAM.
        rm -rf "$stage/usr/share" "$stage/usr/lib/arm-linux-gnueabihf/gconv" "$stage/etc/init.d" \
            "$stage/usr/lib/python3" "$stage/usr/lib/xen-4.17/lib/python" \
            "$stage/usr/lib/xen-4.17/bin/pygrub" "$stage/usr/bin/pygrub"
        # The state directories xenstored and libxl write to.
        mkdir -p "$stage/var/run/xenstored" "$stage/var/lib/xenstored" "$stage/var/lib/xen" \
            "$stage/var/log/xen" "$stage/run/xen"
        xen_tools_check_libs "$stage"
        [ -x "$stage/usr/lib/xen-4.17/bin/xenstored" ] && [ -x "$stage/usr/lib/xen-4.17/bin/xl" ] ||
            die "xen-tools: the packages have no /usr/lib/xen-4.17/bin/xenstored or xl"
        dom0_pack_dir "$stage" "$XEN_TOOLS_CPIO"
        rm -rf "$work"
        say "xen-tools: ${#debs[@]} packages, $(du -k "$XEN_TOOLS_CPIO" | cut -f1) KiB (${XEN_TOOLS_CPIO#"$ROOT"/})"
    fi
    flock -u "$lock"
    exec {lock}>&-
    return 0
}

# xen_tools_guest_cpio KERNEL INITRD OUT: a newc archive (gzip) for `xl
# create` in Dom0, appended after the tools by scripts/run --xen-tools:
#   /var/lib/snowvisor/domu/zImage          KERNEL (the kernel Dom0 boots)
#   /var/lib/snowvisor/domu/initrd.cpio.gz  INITRD (Dom0's own initramfs,
#                                           without the tools)
#   /etc/xen/*.cfg                          qemu/dom0-initramfs/xl/*.cfg
# Built for each run (the files are already compressed: packing them takes
# well under a second); it adds their size, about 7.5 MiB for Debian's
# armmp-lpae zImage and the default initramfs, to the initramfs QEMU loads.
xen_tools_guest_cpio() {
    local kernel=$1 initrd=$2 out=$3 stage f
    stage=$(mktemp -d "$(dirname "$out")/xl-guest.XXXXXX")
    (
        umask 022
        mkdir -p "$stage/var/lib/snowvisor/domu" "$stage/etc/xen"
        install -m 0644 "$kernel" "$stage/var/lib/snowvisor/domu/zImage"
        install -m 0644 "$initrd" "$stage/var/lib/snowvisor/domu/initrd.cpio.gz"
        for f in "$DOM0_SRC"/xl/*.cfg; do
            [ -e "$f" ] || continue
            install -m 0644 "$f" "$stage/etc/xen/${f##*/}"
        done
    ) || die "staging the xl guest's files failed"
    dom0_pack_dir "$stage" "$out"
    rm -rf "$stage"
}
