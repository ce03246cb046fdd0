#!/bin/bash
# magnum-cern-driver node bootstrap: runs the fragments in order and stops
# at the first failure. cloud-init runs it once (runcmd); running it again
# skips the fragments that completed. No `set -x`: fragments handle secrets.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"

load_env
mkdir -p "$MCD_STATE/done"
chmod 0700 "$MCD_BASE" "$MCD_SECRETS"
printf '%s\n' "$CLUSTER_NAME" >"$MCD_BASE/cluster-name"
printf '%s\n' "$NODEGROUP_NAME" >"$MCD_BASE/nodegroup-name"

for fragment in "$MCD_LIB"/fragments/[0-9][0-9]-*.sh; do
    name=${fragment##*/}
    if [ -e "$MCD_STATE/done/$name" ]; then
        log "$name: completed before, skipped"
        continue
    fi
    log "$name: start"
    if ! bash "$fragment"; then
        log "$name: failed, bootstrap stopped"
        if [ "$MCD_ROLE" = master ]; then
            signal_heat FAILURE "bootstrap fragment $name failed" ||
                log "could not signal the failure to Heat"
        fi
        exit 1
    fi
    : >"$MCD_STATE/done/$name"
    log "$name: done"
done
log "bootstrap complete"
