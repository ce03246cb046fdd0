#!/bin/bash
# Site CA: the site CA bundle into the system trust store, and into
# containerd's trust for the registry mirror.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"
load_env

if ! is_true "$SITE_CA_ENABLED"; then
    log "site CA: none configured"
    exit 0
fi

anchor=/etc/pki/ca-trust/source/anchors/magnum-cern-site-ca.pem
install -d -m 0755 "$R/etc/pki/ca-trust/source/anchors"
install -m 0644 "$MCD_BASE/site-ca.pem" "$R$anchor"
update-ca-trust extract

if [ -n "$REGISTRY_MIRROR" ]; then
    host=${REGISTRY_MIRROR%%/*}
    install -d -m 0755 "$R/etc/containerd/certs.d/$host"
    cat >"$R/etc/containerd/certs.d/$host/hosts.toml" <<TOML
server = "https://$host"

[host."https://$host"]
  capabilities = ["pull", "resolve"]
  ca = "$anchor"
TOML
    chmod 0644 "$R/etc/containerd/certs.d/$host/hosts.toml"
fi
log "site CA: installed"
