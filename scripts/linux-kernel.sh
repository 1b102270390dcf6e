# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the Linux-guest scripts (e2e-linux, e2e-hotplug) after lib.sh,
# with $work set: downloads (never installs) Debian's s390x kernel and
# busybox packages with apt into $work/root, and defines add_module.
# Sets kpkg, kver, bver, kabi, vmlinuz and moddir; add_module NAME appends
# NAME's module and the modules it needs to modules (paths under
# $moddir), or NAME to builtin when the kernel has it built in.
dpkg --print-foreign-architectures | grep -qx s390x || dpkg --add-architecture s390x
apt_update_once
# resolve: sets kpkg to the image package the meta package depends on
# (linux-image-6.1.0-N-s390x), kver and bver to the versions apt would
# take of it and of busybox-static, empty where apt knows none.
resolve() {
    kpkg=$(apt-cache depends linux-image-s390x:s390x |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { sub(/:s390x$/, "", $2); print $2; exit }') ||
        die "apt-cache depends linux-image-s390x:s390x failed"
    kver='' bver=''
    [ -n "$kpkg" ] || return 0
    local policy
    policy=$(apt-cache policy "$kpkg:s390x" busybox-static:s390x) ||
        die "apt-cache policy $kpkg:s390x busybox-static:s390x failed"
    kver=$(awk -v p="$kpkg:s390x:" '$0 == p { f = 1 } f && $1 == "Candidate:" && $2 != "(none)" { print $2; exit }' <<<"$policy")
    bver=$(awk '$0 == "busybox-static:s390x:" { f = 1 } f && $1 == "Candidate:" && $2 != "(none)" { print $2; exit }' <<<"$policy")
}
resolve
[ -n "$kpkg" ] || die "apt knows no linux-image-s390x:s390x dependency"
[ -n "$kver" ] && [ -n "$bver" ] || die "apt has no candidate for $kpkg:s390x or busybox-static:s390x"
want="$kpkg $kver busybox-static $bver"
if [ "$(cat "$work/packages" 2>/dev/null)" != "$want" ] || [ ! -d "$work/root/boot" ]; then
    log "downloading $kpkg $kver and busybox-static $bver (s390x)"
    rm -rf "$work/debs" "$work/root" "$work/packages"
    mkdir -p "$work/debs"
    # apt fetches as _apt where it can write.
    chown _apt "$work/debs" 2>/dev/null || true
    (cd "$work/debs" && apt-get download -q "$kpkg:s390x=$kver" "busybox-static:s390x=$bver" >/dev/null) ||
        die "apt-get download of $kpkg:s390x=$kver and busybox-static:s390x=$bver failed"
    for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
    echo "$want" >"$work/packages"
fi
kabi=${kpkg#linux-image-}
vmlinuz=$work/root/boot/vmlinuz-$kabi
moddir=$work/root/lib/modules/$kabi
[ -f "$vmlinuz" ] && [ -d "$moddir" ] || die "no kernel $kabi in $work/root"
[ -f "$moddir/modules.dep" ] || depmod -b "$work/root" "$kabi"


modules=() builtin=()
add_module() {
    local name=$1 line path dep
    if grep -q "/$name.ko$" "$moddir/modules.builtin"; then
        builtin+=("$name")
        return
    fi
    line=$(grep -m1 "/$name.ko:" "$moddir/modules.dep") || die "$name is neither a module nor built into $kabi"
    path=${line%%:*}
    # Its soft dependencies ("pre:" in modules.softdep, which modules.dep
    # leaves out) first; they name aliases, which modules.alias resolves.
    local pre alias
    while read -r pre; do
        alias=$(awk -v a="$pre" '$1 == "alias" && $2 == a { print $3; exit }' "$moddir/modules.alias")
        add_module "${alias:-$pre}"
    done < <(awk -v m="$name" '$1 == "softdep" && $2 == m {
        for (i = 3; i <= NF; i++) if ($i == "pre:") f = 1; else if ($i ~ /:$/) f = 0; else if (f) print $i }' \
        "$moddir/modules.softdep")
    # Dependencies first; modules.dep lists the deepest last.
    for dep in $(echo "${line#*:}" | tr ' ' '\n' | tac); do
        [[ " ${modules[*]} " == *" $dep "* ]] || modules+=("$dep")
    done
    [[ " ${modules[*]} " == *" $path "* ]] || modules+=("$path")
}
