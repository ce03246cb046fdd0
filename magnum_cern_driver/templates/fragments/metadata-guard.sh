#!/bin/bash
# Metadata guard: only root processes of the host may reach the metadata
# service (it serves the user data, with this node's secrets). Raw
# PREROUTING drops the pod network's packets to it; filter OUTPUT rejects
# non-root processes and the pods' cgroup (host-network pods run as root).
# `early` (unit, every boot, before the kubelet) adds the cgroup rule when
# the cgroup exists (the kernel refuses a missing path); `final` (runner)
# waits for the kubelet to create it. Idempotent. Why and sources:
# docs/node-bootstrap.md, "Metadata guard".
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"
load_env

META=169.254.169.254/32
CHAIN=MAGNUM-CERN-METADATA
# MCD_POD_CGROUP, MCD_GUARD_WAIT_TRIES (5 s apart): for tests.
cg=${MCD_POD_CGROUP:-kubepods.slice}
n='[A-Za-z0-9_][A-Za-z0-9_.-]*'
check MCD_POD_CGROUP "$cg" "^(/|$n(/$n)*)\$"
tries=${MCD_GUARD_WAIT_TRIES:-60}
check MCD_GUARD_WAIT_TRIES "$tries" '^[1-9][0-9]{0,3}$'
check "guard mode" "${1:-}" '^(early|final)$'

# rules CIDR WITH_CGROUP: iptables-restore input (a declared chain is
# flushed first, even with --noflush).
rules() {
    printf '*raw\n:%s - [0:0]\n-A %s -s %s -j DROP\nCOMMIT\n' \
        "$CHAIN" "$CHAIN" "$1"
    printf '*filter\n:%s - [0:0]\n' "$CHAIN"
    printf -- '-A %s -m owner ! --uid-owner 0 -j REJECT\n' "$CHAIN"
    if [ "$2" = true ]; then
        printf -- '-A %s -m cgroup --path %s -j REJECT\n' "$CHAIN" "$cg"
    fi
    printf 'COMMIT\n'
}

# jump TABLE CHAIN: first rule of CHAIN sends META to ours, if missing.
jump() {
    iptables -w -t "$1" -C "$2" -d "$META" -j "$CHAIN" 2>/dev/null ||
        iptables -w -t "$1" -I "$2" 1 -d "$META" -j "$CHAIN"
}

dir="$R/sys/fs/cgroup/${cg#/}"
with=false
if [ -d "$dir" ]; then
    with=true
elif [ "$1" = final ]; then
    log "metadata guard: waiting for cgroup $cg"
    retry "$tries" 5 test -d "$dir" || die "metadata guard: no cgroup $cg"
    with=true
fi
mkdir -p "$MCD_STATE"
rules "$FLANNEL_NETWORK_CIDR" "$with" >"$MCD_STATE/metadata-guard.rules"
iptables-restore -w --noflush <"$MCD_STATE/metadata-guard.rules" ||
    die "metadata guard: rules refused"
jump raw PREROUTING
jump filter OUTPUT
log "metadata guard: on (pods' cgroup: $with)"
