#!/bin/bash
# Set up a development/operator machine (Debian): system packages for the
# local rehearsal, the load test and the linters, and a virtual environment
# in .venv with this package, Magnum, Heat, Keystone and Glance (the
# 'rehearsal' extra of setup.cfg) and the test tools.
#
# Usage: tools/setup.sh            (idempotent; run as root or with sudo)
#
# It prints one line per step; the output of apt-get and pip (hundreds of
# build warnings) goes to a log file, $VENV/setup.log, whose last lines are
# shown when a step fails.
set -euo pipefail

cd "$(dirname "$0")/.."
TOP=$(pwd)
VENV=${MAGNUM_CERN_VENV:-$TOP/.venv}
PYTHON=${PYTHON:-python3}
LOG=$VENV/setup.log

APT_PACKAGES=(
    rabbitmq-server mariadb-server   # rehearsal: message bus and database
    nginx wrk nghttp2-client         # load phase: server and load tools
    shellcheck openssl file          # shell and element lint; test certs
    git python3-venv iproute2 procps lsof
    docker-registry rpm createrepo-c # artifact check: functional tests
    cloud-init containerd keepalived # node files checked by the real tools
    systemd iptables curl            # (tests/unit/fragments/test_real_tools)
)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

# step DESCRIPTION COMMAND...: run COMMAND with its output in the log.
step() {
    local what=$1
    shift
    echo "setup: $what"
    printf '\n=== %s: %s\n' "$(date -u +%FT%TZ)" "$what" >>"$LOG"
    if ! "$@" >>"$LOG" 2>&1; then
        echo "setup: FAILED: $what; the last lines of $LOG:" >&2
        tail -n 25 "$LOG" | sed 's/^/    /' >&2
        echo "setup: full log: $LOG" >&2
        exit 1
    fi
}

mkdir -p "$VENV"
: >"$LOG"
echo "setup: log: $LOG"

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null \
            | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    # The rehearsal runs private RabbitMQ, MariaDB and nginx instances on
    # ports of its own: keep the packages' system services from starting
    # (policy-rc.d), and leave an existing policy alone.
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy" ]; then
        # Removed however apt-get ends: a policy left behind would keep
        # every service on this machine from starting.
        trap 'as_root rm -f "$policy"' EXIT
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        created_policy=1
    fi
    step "apt-get update" as_root apt-get update -q
    step "installing Debian packages: ${missing[*]}" \
        as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    if [ "$created_policy" -eq 1 ]; then
        as_root rm -f "$policy"
        trap - EXIT
    fi
    # Installed as tools (their checkers and servers run only inside the
    # tests), never as this machine's services: keep them off at boot.
    for pkg in "${missing[@]}"; do
        case "$pkg" in
            cloud-init)
                as_root mkdir -p /etc/cloud
                as_root touch /etc/cloud/cloud-init.disabled
                ;;
            containerd | keepalived | docker-registry)
                if command -v systemctl >/dev/null; then
                    as_root systemctl disable "$pkg" >/dev/null 2>&1 || true
                fi
                ;;
        esac
    done
else
    echo "setup: Debian packages: all ${#APT_PACKAGES[@]} installed"
fi

if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV" "$PYTHON" -m venv "$VENV"
fi
step "upgrading pip and wheel" "$VENV/bin/pip" install -U pip wheel
step "installing Python packages (this takes a minute)" \
    "$VENV/bin/pip" install -e "${TOP}[rehearsal]" \
    -r "$TOP/test-requirements.txt" tox
echo "setup: done. The self-test is $VENV/bin/magnum-cern-selftest"
