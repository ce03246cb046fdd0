#!/bin/bash
# Storage for pods: the first master installs the CVMFS CSI driver
# (cvmfs-csi chart: site repositories and proxy) and the EOS CSI driver
# (eosxd-csi chart: the listed EOS instances), each when its label enables
# it. Charts and images come through the registry mirror when one is set.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"
load_env

if ! is_true "$CVMFS_ENABLED" && ! is_true "$EOS_ENABLED"; then
    log "storage csi: CVMFS and EOS disabled"
    exit 0
fi
if ! is_first_master; then
    log "storage csi: installed by the first master"
    exit 0
fi

chart_registry=${REGISTRY_MIRROR:-registry.cern.ch}
mkdir -p "$MCD_STATE"

install_cvmfs() {
    local values="$MCD_STATE/cvmfs-csi-values.yaml" plugin registrar
    local provisioner
    plugin=$(image_repo registry.cern.ch magnum/cvmfs-csi)
    registrar=$(image_repo registry.k8s.io \
        sig-storage/csi-node-driver-registrar)
    provisioner=$(image_repo registry.k8s.io sig-storage/csi-provisioner)
    cat >"$values" <<YAML
extraConfigMaps:
- name: cvmfs-csi-default-local
  data:
    default.local: |
      CVMFS_HTTP_PROXY=$(yaml_str "$CVMFS_HTTP_PROXY")
      CVMFS_REPOSITORIES=$(yaml_str "$CVMFS_REPOSITORIES")
      CVMFS_QUOTA_LIMIT={{ .Values.cache.local.cvmfsQuotaLimit }}
      CVMFS_CACHE_BASE=/cvmfs-localcache
nodeplugin:
  plugin:
    image:
      repository: $(yaml_str "$plugin")
  registrar:
    image:
      repository: $(yaml_str "$registrar")
controllerplugin:
  plugin:
    image:
      repository: $(yaml_str "$plugin")
  provisioner:
    image:
      repository: $(yaml_str "$provisioner")
YAML
    retry 5 10 helm_admin upgrade --install cvmfs-csi \
        "oci://$chart_registry/kubernetes/charts/cvmfs-csi" \
        --version "$CVMFS_CSI_VERSION" --namespace kube-system \
        --values "$values"
    log "storage csi: cvmfs-csi $CVMFS_CSI_VERSION"
}

install_eos() {
    local values="$MCD_STATE/eosxd-csi-values.yaml" instance part image
    local -a instances
    image=$(image_repo registry.cern.ch kubernetes/eosxd-csi)
    IFS=, read -r -a instances <<<"$EOS_INSTANCES"
    {
        printf 'extraConfigMaps:\n'
        printf '  eos-csi-dir-etc-auto-master-d:\n'
        printf '    eos.autofs: |\n      /eos /etc/auto.eos\n'
        printf '  eos-csi-file-etc-auto-eos:\n    auto.eos: |\n'
        for instance in "${instances[@]}"; do
            check EOS_INSTANCES "$instance" '^[a-z][a-z0-9-]{0,62}$'
            printf '      %s -fstype=eosx,fsname=%s :eosxd\n' \
                "$instance" "$instance"
        done
        printf '  eos-csi-dir-etc-eos:\n'
        for instance in "${instances[@]}"; do
            printf '    fuse.%s.conf: |\n' "$instance"
            printf '      {"name": "%s", "hostport": "%s", ' \
                "$instance" "$instance"
            printf '"remotemountdir": "/eos/%s/", ' "$instance"
            printf '"auth": {"ssskeytab": "/etc/eos.keytab"}}\n'
        done
        printf 'nodeplugin:\n'
        for part in plugin automount mountreconciler; do
            printf '  %s:\n    image:\n      repository: %s\n' "$part" \
                "$(yaml_str "$image")"
        done
    } >"$values"
    retry 5 10 helm_admin upgrade --install eosxd-csi \
        "oci://$chart_registry/kubernetes/charts/eosxd-csi" \
        --version "$EOS_CSI_VERSION" --namespace kube-system \
        --values "$values"
    log "storage csi: eosxd-csi $EOS_CSI_VERSION"
}

if is_true "$CVMFS_ENABLED"; then
    install_cvmfs
fi
if is_true "$EOS_ENABLED"; then
    install_eos
fi
