#!/bin/bash
# Network: the first master installs flannel (Helm chart) with the label's
# backend (host-gw by default) on the pod network the ports' allowed
# address pairs permit. kube-proxy's mode is set by 40-kubeadm.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"
load_env

if ! is_first_master; then
    log "network: flannel is installed by the first master"
    exit 0
fi

# The node image should carry helm; EPEL has it otherwise.
if ! command -v helm >/dev/null; then
    retry 3 10 dnf install -y helm
fi

values="$MCD_STATE/flannel-values.yaml"
mkdir -p "$MCD_STATE"
cat >"$values" <<YAML
podCidr: $(yaml_str "$FLANNEL_NETWORK_CIDR")
flannel:
  backend: $(yaml_str "$FLANNEL_BACKEND")
  image:
    repository: $(yaml_str "$(image_repo ghcr.io flannel-io/flannel)")
    tag: $(yaml_str "$FLANNEL_TAG")
  flannel_cni:
    image:
      repository: $(yaml_str "$(image_repo ghcr.io flannel-io/flannel-cni-plugin)")
YAML

retry 5 10 helm_admin upgrade --install flannel flannel \
    --repo https://flannel-io.github.io/flannel/ \
    --version "$FLANNEL_TAG" --namespace kube-flannel --create-namespace \
    --values "$values"
kubectl_admin label --overwrite namespace kube-flannel \
    pod-security.kubernetes.io/enforce=privileged
log "network: flannel $FLANNEL_TAG ($FLANNEL_BACKEND)"
