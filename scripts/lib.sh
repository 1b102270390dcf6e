# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by the scripts: package installation and apt sources derived from
# the machine's own Debian sources (never a hard-coded host).

QVC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The service time, in microseconds, the e2e scripts give each channel
# program of the simulated kernel (vfio-ccw-sim run --latency): programs
# complete asynchronously, as on a real host. QVC_SIM_LATENCY overrides it
# (0: inside the write); so does a --latency among a script's launcher
# options, which come after this one.
QVC_SIM_LATENCY=${QVC_SIM_LATENCY:-1000}

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# debian_archive_field FIELD: FIELD's value in the machine's Debian archive
# stanza (the first one whose URIs are not the security archive).
debian_archive_field() {
    local f=/etc/apt/sources.list.d/debian.sources
    [ -r "$f" ] || die "cannot read $f to derive apt sources"
    awk -v field="$1:" '
        /^[[:space:]]*$/ { if (uri !~ /security/ && value != "") { print value; exit } uri = value = "" }
        $1 == "URIs:" { uri = $2 }
        $1 == field { value = $2 }
        END { if (uri !~ /security/ && value != "") print value }' "$f" | head -n 1
}
debian_archive_uri() { debian_archive_field URIs; }

# add_apt_source NAME TYPES SUITE: an idempotent deb822 file next to the
# machine's own, with the same archive and keyring.
add_apt_source() {
    local name=$1 types=$2 suite=$3 uri file keyring
    uri=$(debian_archive_uri)
    [ -n "$uri" ] || die "no archive URI in /etc/apt/sources.list.d/debian.sources"
    file=/etc/apt/sources.list.d/qvc-$name.sources
    local want
    want=$(printf 'Types: %s\nURIs: %s\nSuites: %s\nComponents: main\n' "$types" "$uri" "$suite")
    keyring=$(debian_archive_field Signed-By)
    [ -z "$keyring" ] || want+=$(printf '\nSigned-By: %s' "$keyring")
    if [ ! -f "$file" ] || [ "$(cat "$file")" != "$want" ]; then
        printf '%s\n' "$want" >"$file"
        QVC_APT_UPDATED=
    fi
}

apt_update_once() {
    if [ -z "${QVC_APT_UPDATED:-}" ]; then
        apt-get update -qq
        QVC_APT_UPDATED=1
    fi
}

# apt_install PKG...: installs what is missing.
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# debian_rust: Debian 12's own Rust toolchain (package rustc-web) beside
# rustup's, which stays first on PATH, at the newest version whose s390x
# standard library Debian also ships; that library goes under
# /usr/lib/rustlib/s390x-unknown-linux-gnu. Sets QVC_DEBIAN_RUST to the
# package version.
debian_rust() {
    local host version stamp tmp
    [ "$(id -u)" -eq 0 ] || die "run as root: packages are installed with apt"
    host=$(dpkg --print-architecture)
    if ! dpkg --print-foreign-architectures | grep -qx s390x; then
        dpkg --add-architecture s390x
        QVC_APT_UPDATED=
    fi
    apt_update_once
    version=$(comm -12 \
        <(apt-cache show "rustc-web:$host" 2>/dev/null | awk '/^Version:/{print $2}' | sort -u) \
        <(apt-cache show libstd-rust-web-dev:s390x 2>/dev/null | awk '/^Version:/{print $2}' | sort -u) |
        sort -V | tail -n 1)
    [ -n "$version" ] || die "no rustc-web version exists for both $host and s390x"
    if [ "$(dpkg-query -W -f='${Version}' rustc-web 2>/dev/null)" != "$version" ] ||
        [ "$(dpkg-query -W -f='${Version}' libstd-rust-web-dev 2>/dev/null)" != "$version" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --allow-downgrades \
            "rustc-web=$version" "libstd-rust-web-dev=$version" >/dev/null
    fi
    stamp=/usr/lib/rustlib/s390x-unknown-linux-gnu/.qvc-version
    if [ "$(cat "$stamp" 2>/dev/null)" != "$version" ]; then
        # Under multiarch its s390x dependencies clash with the host's;
        # its files are all rustc needs.
        tmp=$(mktemp -d)
        # apt fetches as _apt where it can write.
        chown _apt "$tmp" 2>/dev/null || true
        (cd "$tmp" && apt-get download -q "libstd-rust-web-dev:s390x=$version" >/dev/null)
        dpkg-deb -x "$tmp"/libstd-rust-web-dev_*_s390x.deb "$tmp/x"
        rm -rf /usr/lib/rustlib/s390x-unknown-linux-gnu
        cp -a "$tmp/x/usr/lib/rustlib/s390x-unknown-linux-gnu" /usr/lib/rustlib/
        echo "$version" >"$stamp"
        rm -rf "$tmp"
    fi
    QVC_DEBIAN_RUST=$version
}

# pip_install SPEC...: into the project's own venv under build/.
QVC_VENV=$QVC_ROOT/build/venv
pip_install() {
    if [ ! -x "$QVC_VENV/bin/python3" ]; then
        python3 -m venv "$QVC_VENV" || die "python3 -m venv failed"
    fi
    "$QVC_VENV/bin/pip" install -q --disable-pip-version-check "$@"
}

# How QEMU is configured here: s390x-softmmu only, no docs, tools, user
# mode or downloads; the firmware is built from source, not installed.
QVC_QEMU_CONFIGURE_FLAGS=(--target-list=s390x-softmmu --disable-docs --disable-tools
    --disable-user --disable-download --disable-install-blobs)
