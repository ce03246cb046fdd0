#!/bin/bash
# Readiness: every master signals its own wait condition (master.yaml) when
# the API answers and its own node is Ready (the network add-on runs); on
# the first master the add-ons are installed by then (50-70 install each
# Helm release with --wait, and run before this fragment). Heat therefore
# completes a create only when every master is Ready, and a rolling upgrade
# replaces the next master only when the new one is.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"
load_env

if [ "$MCD_ROLE" != master ]; then
    log "ready: workers send no signal"
    exit 0
fi
name=$(node_name)
retry 60 10 kubectl_admin get --raw=/readyz >/dev/null ||
    die "ready: the API did not become ready"
# MCD_READY_TIMEOUT (kubectl duration, default 15 minutes) is for tests.
timeout=${MCD_READY_TIMEOUT:-15m}
check MCD_READY_TIMEOUT "$timeout" '^[1-9][0-9]{0,3}[sm]$'
kubectl_admin wait "node/$name" --for=condition=Ready --timeout="$timeout" \
    >/dev/null || die "ready: node $name did not become Ready"
if is_first_master; then
    reason="the first master is Ready, the add-ons installed"
else
    reason="master $name is Ready"
fi
signal_heat SUCCESS "$reason" || die "ready: could not signal Heat"
log "ready: signalled Heat"
