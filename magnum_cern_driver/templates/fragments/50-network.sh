#!/bin/bash
# Network: the first master installs flannel (Helm chart) with the label's
# backend (host-gw by default) on the pod network the ports' allowed
# address pairs permit. kube-proxy's mode is set by 40-kubeadm.sh.
#
# Chart values keys (flannel-io/flannel chart/kube-flannel/values.yaml @
# c22fb8cd, chart v0.26.4): podCidr, flannel.backend, flannel.image and
# flannel.image_cni (repository, tag). The chart does not create its
# namespace: flannel's README has it created and labelled privileged
# first.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"
load_env

if ! is_first_master; then
    log "network: flannel is installed by the first master"
    exit 0
fi
ensure_helm

values="$MCD_STATE/flannel-values.yaml"
mkdir -p "$MCD_STATE"
cat >"$values" <<YAML
podCidr: $(yaml_str "$FLANNEL_NETWORK_CIDR")
flannel:
  backend: $(yaml_str "$FLANNEL_BACKEND")
  image:
    repository: $(yaml_str "$IMAGE_FLANNEL_REPO")
    tag: $(yaml_str "$IMAGE_FLANNEL_TAG")
  image_cni:
    repository: $(yaml_str "$IMAGE_FLANNEL_CNI_PLUGIN_REPO")
    tag: $(yaml_str "$IMAGE_FLANNEL_CNI_PLUGIN_TAG")
YAML

ensure_namespace kube-flannel privileged
helm_install flannel FLANNEL kube-flannel "$values"
log "network: flannel $CHART_FLANNEL_VERSION ($FLANNEL_BACKEND)"
