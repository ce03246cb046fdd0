#!/bin/bash
# magnum-cern-driver node bootstrap: runs the fragments in order and stops
# at the first failure. cloud-init runs it once (runcmd); running it again
# skips the fragments that completed. No `set -x`: fragments handle secrets.
# The metadata guard (metadata-guard.sh) runs at every boot right after the
# kubelet's fragment (run or skipped), so before any add-on pod on the
# first boot; and, best effort, when a fragment fails.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"

load_env
mkdir -p "$MCD_STATE/done"
chmod 0700 "$MCD_BASE" "$MCD_SECRETS"
printf '%s\n' "$CLUSTER_NAME" >"$MCD_BASE/cluster-name"
printf '%s\n' "$NODEGROUP_NAME" >"$MCD_BASE/nodegroup-name"

GUARD_AFTER=40-kubeadm.sh

# MCD_STAGE names it on the console if it fails (console_failure).
guard() {
    MCD_STAGE="the metadata guard"
    bash "$MCD_LIB/metadata-guard.sh" "$1"
    MCD_STAGE=""
}

for fragment in "$MCD_LIB"/fragments/[0-9][0-9]-*.sh; do
    name=${fragment##*/}
    if [ -e "$MCD_STATE/done/$name" ]; then
        log "$name: completed before, skipped"
    else
        log "$name: start"
        if ! bash "$fragment"; then
            log "$name: failed, bootstrap stopped"
            bash "$MCD_LIB/metadata-guard.sh" early ||
                log "metadata guard: not installed"
            if [ "$MCD_ROLE" = master ]; then
                signal_heat FAILURE "bootstrap fragment $name failed" ||
                    log "could not signal the failure to Heat"
            fi
            exit 1
        fi
        : >"$MCD_STATE/done/$name"
        log "$name: done"
    fi
    if [ "$name" = "$GUARD_AFTER" ]; then
        guard final
        log "metadata guard: done"
    fi
done
log "bootstrap complete"
