#!/bin/bash
# Set up a development/operator machine (Debian): system packages for the
# local rehearsal, the load test and the linters, and a virtual environment
# in .venv with this package, Magnum, Heat, Keystone and Glance.
#
# Usage: tools/setup.sh            (idempotent; run as root or with sudo)
set -euo pipefail

cd "$(dirname "$0")/.."
TOP=$(pwd)
VENV=${MAGNUM_CERN_VENV:-$TOP/.venv}
PYTHON=${PYTHON:-python3}

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

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null \
            | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
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
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
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
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -U pip wheel
echo "setup: installing Python packages (this takes a minute)"
"$VENV/bin/pip" install -q -e "$TOP" \
    -r "$TOP/test-requirements.txt" \
    -r "$TOP/tools/rehearsal-requirements.txt" tox
echo "setup: done. The self-test is $VENV/bin/magnum-cern-selftest"
