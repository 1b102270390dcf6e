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

# check NAME COMMAND...: runs COMMAND as one check of a script's, printing
# "ok: NAME" or "FAILED: NAME" and counting it; check_summary prints the
# line scripts/test adds up and fails if any check did.
passed=0 failed=0
check() {
    local name=$1
    shift
    if "$@"; then
        echo "ok: $name"
        passed=$((passed + 1))
    else
        echo "FAILED: $name"
        failed=$((failed + 1))
    fi
}
check_summary() {
    echo "check: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
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

# apt_source_stanza TYPES SUITE: a deb822 entry for SUITE of the machine's
# own Debian archive, with its keyring.
apt_source_stanza() {
    local uri keyring
    uri=$(debian_archive_uri)
    [ -n "$uri" ] || die "no archive URI in /etc/apt/sources.list.d/debian.sources"
    printf 'Types: %s\nURIs: %s\nSuites: %s\nComponents: main\n' "$1" "$uri" "$2"
    keyring=$(debian_archive_field Signed-By)
    [ -z "$keyring" ] || printf 'Signed-By: %s\n' "$keyring"
}

# add_apt_source NAME TYPES SUITE: an idempotent deb822 file next to the
# machine's own, for packages the scripts install.
add_apt_source() {
    local file=/etc/apt/sources.list.d/qvc-$1.sources want
    want=$(apt_source_stanza "$2" "$3")
    if [ ! -f "$file" ] || [ "$(cat "$file")" != "$want" ]; then
        printf '%s\n' "$want" >"$file"
    fi
}

# apt_config_dir DIR: an apt configuration in DIR (its file is
# DIR/apt.conf) with package lists and caches of its own, empty at first.
apt_config_dir() {
    local dir=$1
    mkdir -p "$dir"/lists/partial "$dir"/cache/archives/partial
    # apt downloads as _apt where that user can write.
    chmod 755 "$dir" "$dir"/lists "$dir"/cache
    chown _apt "$dir"/lists/partial "$dir"/cache/archives/partial 2>/dev/null || true
    cat >"$dir/apt.conf" <<CONF
Dir::State::Lists "$dir/lists/";
Dir::Cache "$dir/cache/";
CONF
}

# private_apt DIR TYPES SUITE: an apt configuration of the project's own
# in DIR (apt_config_dir) that knows only SUITE of the machine's archive,
# updated now. For look-ups that must not change the machine's apt sources
# (QEMU's source packages of other Debian releases).
private_apt() {
    local dir=$1
    apt_config_dir "$dir"
    mkdir -p "$dir"/sources.list.d
    apt_source_stanza "$2" "$3" >"$dir/sources.list.d/$3.sources"
    cat >>"$dir/apt.conf" <<CONF
Dir::Etc::sourcelist "/dev/null";
Dir::Etc::sourceparts "$dir/sources.list.d/";
CONF
    APT_CONFIG=$dir/apt.conf apt-get update -qq || die "apt-get update of $3 ($2) failed"
}

# apt_lists_key: what apt's package lists depend on: the apt configuration
# in use (APT_CONFIG can point at other list directories), the foreign
# architectures and every source entry. A change to any of them calls for
# another apt-get update.
apt_lists_key() {
    {
        printf 'APT_CONFIG=%s\n' "${APT_CONFIG:-}"
        dpkg --print-foreign-architectures
        # Whichever of them exist.
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true
    } | sha256sum | cut -c1-16
}

# apt_update_once: apt-get update, unless this command (or the one that
# started it: the key is exported) already did so for the same sources,
# architectures and configuration. Every apt look-up (apt-cache, apt-get
# source/download/install) comes after it: on a fresh machine the lists of
# an added architecture or deb-src entry do not exist yet, and lists left
# by an earlier session may name versions the archive no longer serves.
# Setting QVC_APT_UPDATED= forces the next call to update.
apt_update_once() {
    local key
    key=$(apt_lists_key)
    if [ "${QVC_APT_UPDATED:-}" != "$key" ]; then
        apt-get update -qq || die "apt-get update failed"
        export QVC_APT_UPDATED=$key
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
    dpkg --print-foreign-architectures | grep -qx s390x || dpkg --add-architecture s390x
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

# The QEMU release whose build the scripts use unless told otherwise: a
# folder of qemu-patch/.
QVC_QEMU_DEFAULT=10.0

# qemu_release_dir RELEASE: where scripts/build-qemu puts that release's
# trees, binaries and firmware.
qemu_release_dir() {
    if [ "$1" = "$QVC_QEMU_DEFAULT" ]; then
        echo "$QVC_ROOT/build/qemu"
    else
        echo "$QVC_ROOT/build/qemu-$1"
    fi
}

# qemu_source_field FILE KEY: KEY's value in a qemu-patch/*/source file
# (KEY=VALUE lines; # starts a comment). Read, never sourced.
qemu_source_field() {
    awk -F= -v key="$2" '$0 !~ /^[[:space:]]*#/ && $1 == key { sub(/^[^=]*=/, ""); print; exit }' "$1"
}
