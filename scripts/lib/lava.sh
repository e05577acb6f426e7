# LAVA (boot farms) on this machine: lava-dispatcher's lava-run, and what
# LAVA's QEMU test overlay needs. Sourced after common.sh.
# shellcheck shell=bash

LAVA_DIR="$ROOT/target/lava"
# Debian's python3, where lava-dispatcher's modules live (not a pyenv's).
LAVA_PYTHON=/usr/bin/python3

# lava-dispatcher from Debian, on first use. Its libguestfs wants
# qemu-system-x86 of the same QEMU as qemu-system-arm: where QEMU comes from
# a newer suite (bookworm-backports), take qemu-system-x86 from there too.
ensure_lava() {
    if command -v lava-run >/dev/null && "$LAVA_PYTHON" -c 'import guestfs, lava_common' 2>/dev/null; then
        return 0
    fi
    local pkgs=(lava-dispatcher) suite
    suite=$(qemu_suite)
    # apt's PKG/SUITE: only this package from the newer suite.
    [ -z "$suite" ] || pkgs+=("qemu-system-x86/$suite")
    apt_install "${pkgs[@]}"
    command -v lava-run >/dev/null || die "lava-dispatcher installed but lava-run is missing"
}

# LAVA puts its test overlay on an ext2 disk made with libguestfs, whose
# appliance boots the host's kernel from /boot. A container has none: then
# take Debian's kernel for this host's architecture (never installed, only
# unpacked under target/lava/appliance/) and point supermin at it. Sets
# SUPERMIN_KERNEL, SUPERMIN_MODULES, SUPERMIN_KERNEL_VERSION when needed.
lava_appliance_kernel() {
    local k
    for k in /boot/vmlinuz-*; do
        [ -r "$k" ] && [ -d "/lib/modules/${k#/boot/vmlinuz-}" ] && return 0
    done
    local dir="$LAVA_DIR/appliance" arch meta pkg deb rel
    if [ ! -f "$dir/.ready" ]; then
        arch=$(dpkg --print-architecture)
        meta="linux-image-$arch"
        pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }') || true
        if [ -z "$pkg" ]; then
            apt_update_once
            pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }') || true
        fi
        [ -n "$pkg" ] || die "no kernel in /boot for libguestfs, and apt knows no $meta to take one from"
        say "lava: no kernel in /boot for libguestfs's appliance; unpacking $pkg into target/lava/appliance"
        rm -rf "$dir" && mkdir -p "$dir/debs"
        (cd "$dir/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) || die "apt-get download $pkg failed"
        deb=$(find "$dir/debs" -name "${pkg}_*.deb" | head -1)
        dpkg-deb -x "$deb" "$dir/root" || die "dpkg-deb -x $deb failed"
        rm -rf "$dir/debs"
        rel=$(basename "$(find "$dir/root/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -1)")
        command -v depmod >/dev/null || apt_install kmod
        depmod -b "$dir/root" "$rel" || die "depmod for $rel failed"
        echo "$rel" >"$dir/.ready"
    fi
    rel=$(cat "$dir/.ready")
    export SUPERMIN_KERNEL="$dir/root/boot/vmlinuz-$rel" SUPERMIN_MODULES="$dir/root/lib/modules/$rel" \
        SUPERMIN_KERNEL_VERSION="$rel"
}

# lava_results LOG: prints LAVA's results from lava-run's log (one YAML
# mapping a line), "DEFINITION CASE RESULT [MEASUREMENT UNITS]" a line.
lava_results() {
    "$LAVA_PYTHON" - "$1" <<'PY'
import sys, yaml
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.strip()
    if not line.startswith("- {") and not line.startswith("{"):
        continue
    try:
        entry = yaml.safe_load(line.lstrip("- "))
    except yaml.YAMLError:
        continue
    if not isinstance(entry, dict) or entry.get("lvl") != "results":
        continue
    m = entry["msg"]
    extra = [str(m[k]) for k in ("measurement", "units") if k in m]
    print(m.get("definition"), m.get("case"), m.get("result"), *extra)
PY
}
