# Shared helpers for snowvisor's scripts. Sourced, not run.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET_TRIPLE=armv7a-none-eabi

say() { printf '[snowvisor] %s\n' "$*" >&2; }
die() { printf '[snowvisor] error: %s\n' "$*" >&2; exit 1; }

# usage SCRIPT: prints SCRIPT's leading comment block (after the #! line),
# its --help text, however long it grows.
usage() { awk 'NR == 1 { next } !/^#/ { exit } { print }' "$1"; }

# Option parsing, shared by the scripts' `while [ $# -gt 0 ]; case "$1"` loops.
# need OPTION WHAT ARGC VALUE: for OPTION (the loop's "$1") that takes a value,
# with ARGC = $# and VALUE = "${2-}": dies unless the value is there, is not
# empty and is not the next option (a value may not start with "--"), so that
# `--domu --xen-tools` is refused instead of taking --xen-tools as a file.
need() {
    [ "$3" -ge 2 ] && [ -n "$4" ] || die "$1 needs $2"
    need_text "$@"
}
# need_count OPTION WHAT ARGC VALUE: need, and the value must be a positive
# integer (decimal digits, no leading 0, which bash arithmetic would read as
# octal), or it dies naming the option and value.
need_count() {
    need "$@"
    case "$4" in
        *[!0-9]*|0*) die "$1 $4: $2 (a whole number, 1 or more) expected" ;;
    esac
}
# need_text OPTION WHAT ARGC VALUE: the same for a free-text value (a command
# line, a shell command), which may be empty ("").
need_text() {
    [ "$3" -ge 2 ] || die "$1 needs $2"
    case "$4" in --*) die "$1 needs $2, not the option $4 (a value may not start with --)" ;; esac
}
# one_of VAR OPTION: for options that exclude each other (VAR names a shell
# variable of the group, empty at first): records OPTION in VAR and dies,
# naming both, when another option of the group came before it; the same
# option again is fine.
one_of() {
    local before=${!1}
    [ -z "$before" ] || [ "$before" = "$2" ] || die "$before and $2 exclude each other: give one of them"
    printf -v "$1" '%s' "$2"
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $*"
    fi
}

# The newest Debian suite with QEMU >= 8.2 for this release, or nothing when the
# release's own QEMU is new enough. bookworm ships 7.2, bookworm-backports 10.0.
qemu_suite() {
    local codename
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    case "$codename" in
        bookworm) echo "bookworm-backports" ;;
        *) echo "" ;;
    esac
}

# Add SUITE to apt, reusing the mirror and keyring of the existing Debian source,
# so no mirror host name lives in this repository.
ensure_apt_suite() {
    local suite=$1 list=/etc/apt/sources.list.d/snowvisor-"$suite".sources
    [ -f "$list" ] && return 0
    if grep -rqs "$suite" /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then return 0; fi
    local uri="" keyring=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri=$(awk '/^URIs:/ && !/security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
        keyring=$(awk '/^Signed-By:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1=="deb" && $0 !~ /security/ { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
    fi
    [ -n "$uri" ] || die "cannot find a Debian mirror in /etc/apt/sources.list*: add $suite by hand"
    say "adding apt suite $suite from the existing mirror $uri"
    {
        echo "Types: deb"
        echo "URIs: $uri"
        echo "Suites: $suite"
        echo "Components: main"
        [ -n "$keyring" ] && echo "Signed-By: $keyring"
    } | as_root tee "$list" >/dev/null
    APT_UPDATED=""
}

APT_UPDATED=""
# A stale or half-synced list (seen on security mirrors) should not stop an
# install whose packages come from elsewhere: warn and let apt-get install decide.
apt_update() {
    say "apt-get update"
    as_root apt-get update -qq >/tmp/snowvisor-apt-update.log 2>&1 \
        || say "warning: apt-get update reported errors (see /tmp/snowvisor-apt-update.log); continuing"
    APT_UPDATED=1
}

# apt-get update unless this run already did.
apt_update_once() { [ -n "$APT_UPDATED" ] || apt_update; }

apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    apt_update_once
    say "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >/tmp/snowvisor-apt.log 2>&1 \
        || { tail -20 /tmp/snowvisor-apt.log >&2; die "apt-get install ${missing[*]} failed"; }
}

qemu_version_ok() {
    command -v qemu-system-arm >/dev/null || return 1
    local v
    v=$(qemu-system-arm --version | sed -n 's/.*version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | head -1)
    set -- $v
    [ "${1:-0}" -gt 8 ] || { [ "${1:-0}" -eq 8 ] && [ "${2:-0}" -ge 2 ]; }
}

ensure_qemu() {
    qemu_version_ok && return 0
    local suite
    suite=$(qemu_suite)
    if [ -n "$suite" ]; then
        ensure_apt_suite "$suite"
        apt_install_from "$suite" qemu-system-arm
    else
        apt_install qemu-system-arm
    fi
    qemu_version_ok || die "qemu-system-arm >= 8.2 needed, have: $(qemu-system-arm --version | head -1)"
}

apt_install_from() {
    local suite=$1; shift
    apt_update_once
    say "installing $* from $suite"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 -t "$suite" "$@" >/tmp/snowvisor-apt.log 2>&1 \
        || { tail -20 /tmp/snowvisor-apt.log >&2; die "apt-get install -t $suite $* failed"; }
}

ensure_rust() {
    command -v rustup >/dev/null || die "rustup not found: install Rust with rustup first (https://rustup.rs)"
    cd "$ROOT" || exit 1
    # rust-toolchain.toml names the toolchain, target and components; rustup installs
    # whatever is missing of them.
    if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET_TRIPLE" \
        || ! rustup component list --installed 2>/dev/null | grep -q '^rust-src' \
        || ! rustup component list --installed 2>/dev/null | grep -q '^llvm-tools'; then
        say "installing the Rust toolchain pieces named in rust-toolchain.toml"
        rustup show active-toolchain >/dev/null 2>&1 || true
        rustup toolchain install >&2 2>/dev/null || true
        rustup target add "$TARGET_TRIPLE" >&2 || die "rustup target add $TARGET_TRIPLE failed"
        rustup component add rust-src llvm-tools >&2 || die "rustup component add failed"
    fi
}

llvm_tool() {
    local sysroot
    sysroot=$(rustc --print sysroot)
    local t
    t=$(find "$sysroot/lib/rustlib" -path "*/bin/llvm-$1" -type f 2>/dev/null | head -1)
    [ -n "$t" ] || die "llvm-$1 not found: rustup component add llvm-tools"
    echo "$t"
}

ensure_build_deps() { ensure_rust; }
ensure_run_deps() { ensure_build_deps; ensure_qemu; apt_install device-tree-compiler; }
