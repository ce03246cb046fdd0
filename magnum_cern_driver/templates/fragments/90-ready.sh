#!/bin/bash
# Readiness: the first master waits until the API answers, then sends the
# cluster's single readiness signal to Heat's wait condition.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"
load_env

if ! is_first_master; then
    log "ready: the first master signals Heat"
    exit 0
fi

retry 60 10 kubectl_admin get --raw=/readyz >/dev/null ||
    die "ready: the API did not become ready"
signal_heat SUCCESS "the Kubernetes API is ready" ||
    die "ready: could not signal Heat"
log "ready: signalled Heat"
