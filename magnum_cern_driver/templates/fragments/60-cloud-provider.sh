#!/bin/bash
# Cloud provider: the first master stores the cluster's application
# credential (cloud.conf, 0600) as a Kubernetes secret and installs the
# OpenStack cloud controller manager (Helm chart) that reads it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"
load_env

if ! is_true "$CLOUD_PROVIDER_ENABLED"; then
    log "cloud provider: disabled"
    exit 0
fi
if ! is_first_master; then
    log "cloud provider: installed by the first master"
    exit 0
fi

[ -f "$MCD_SECRETS/cloud.conf" ] || die "cloud provider: no cloud.conf"
secret="$MCD_STATE/cloud-config-secret.yaml"
mkdir -p "$MCD_STATE"
kubectl_admin create secret generic cloud-config --namespace kube-system \
    --from-file=cloud.conf="$MCD_SECRETS/cloud.conf" \
    --dry-run=client --output yaml >"$secret"
kubectl_admin apply --filename "$secret" >/dev/null
rm -f "$secret"

values="$MCD_STATE/ccm-values.yaml"
ccm_image=$(image_repo registry.k8s.io \
    provider-os/openstack-cloud-controller-manager)
cat >"$values" <<YAML
secret:
  enabled: true
  create: false
  name: cloud-config
image:
  repository: $(yaml_str "$ccm_image")
nodeSelector:
  node-role.kubernetes.io/control-plane: ""
tolerations:
- key: node-role.kubernetes.io/control-plane
  effect: NoSchedule
- key: node.cloudprovider.kubernetes.io/uninitialized
  value: "true"
  effect: NoSchedule
YAML
retry 5 10 helm_admin upgrade --install openstack-ccm \
    openstack-cloud-controller-manager \
    --repo https://kubernetes.github.io/cloud-provider-openstack \
    --version "$CCM_CHART_VERSION" --namespace kube-system \
    --values "$values"
log "cloud provider: openstack-cloud-controller-manager $CCM_CHART_VERSION"
