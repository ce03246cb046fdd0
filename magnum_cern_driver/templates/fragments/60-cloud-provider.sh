#!/bin/bash
# Cloud provider: the first master stores the cluster's application
# credential (cloud.conf, 0600) as a Kubernetes secret and installs the
# OpenStack cloud controller manager (Helm chart) that reads it.
#
# Chart values keys (kubernetes/cloud-provider-openstack
# charts/openstack-cloud-controller-manager/values.yaml @ 5252b7e4, chart
# 2.31.1): secret.enabled/create/name, image.repository/tag, extraVolumes
# and extraVolumeMounts (whose chart defaults, flexvolume-dir and
# k8s-certs, are kept: lists are replaced, not merged). Its nodeSelector
# and tolerations already run it on control-plane nodes before they are
# initialised. The node's CA bundle (site CA included) is mounted for
# cloud.conf's ca-file.
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
ensure_helm

[ -f "$MCD_SECRETS/cloud.conf" ] || die "cloud provider: no cloud.conf"
secret="$MCD_STATE/cloud-config-secret.yaml"
mkdir -p "$MCD_STATE"
kubectl_admin create secret generic cloud-config --namespace kube-system \
    --from-file=cloud.conf="$MCD_SECRETS/cloud.conf" \
    --dry-run=client --output yaml >"$secret"
kubectl_admin apply --filename "$secret" >/dev/null
rm -f "$secret"

values="$MCD_STATE/ccm-values.yaml"
flexvolume=/usr/libexec/kubernetes/kubelet-plugins/volume/exec
cat >"$values" <<YAML
secret:
  enabled: true
  create: false
  name: cloud-config
image:
  repository: $(yaml_str "$IMAGE_OPENSTACK_CLOUD_CONTROLLER_MANAGER_REPO")
  tag: $(yaml_str "$IMAGE_OPENSTACK_CLOUD_CONTROLLER_MANAGER_TAG")
extraVolumes:
- name: flexvolume-dir
  hostPath:
    path: $flexvolume
- name: k8s-certs
  hostPath:
    path: /etc/kubernetes/pki
- name: node-ca-bundle
  hostPath:
    path: /etc/pki/ca-trust/extracted/pem
extraVolumeMounts:
- name: flexvolume-dir
  mountPath: $flexvolume
  readOnly: true
- name: k8s-certs
  mountPath: /etc/kubernetes/pki
  readOnly: true
- name: node-ca-bundle
  mountPath: /etc/magnum-cern/ca
  readOnly: true
YAML
helm_install openstack-ccm OPENSTACK_CLOUD_CONTROLLER_MANAGER kube-system \
    "$values"
log "cloud provider: openstack-cloud-controller-manager" \
    "$CHART_OPENSTACK_CLOUD_CONTROLLER_MANAGER_VERSION"
