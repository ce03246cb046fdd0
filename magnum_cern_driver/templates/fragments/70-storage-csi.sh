#!/bin/bash
# Storage for pods: the first master installs the CVMFS CSI driver
# (cvmfs-csi chart: site repositories and proxy) and the EOS CSI driver
# (eosxd-csi chart: CERN's EOS instances as the chart ships them), each
# when its label enables it, each with a StorageClass so that users can
# claim volumes. Charts and images come from the artifact manifest (and
# through the registry mirror when one is set).
#
# cvmfs-csi values keys (cvmfs-contrib/cvmfs-csi
# deployments/helm/cvmfs-csi/values.yaml @ 34ceae1d): extraConfigMaps is a
# map keyed by ConfigMap name (cvmfs-csi-default-local holds default.local,
# rendered through tpl); automountStorageClass.create/name; the images of
# nodeplugin.{plugin,automount,automountReconciler,singlemount,registrar}
# and controllerplugin.{plugin,provisioner}.
# eosxd-csi values keys (cern-eos/eosxd-csi
# deployments/helm/eosxd-csi/values.yaml @ 0086e638, chart 1.3.1): the
# automount container mounts ConfigMap eos-csi-dir-etc-eos on /etc/eos,
# which holds fuse.<instance>.conf for each CERN instance and the autofs
# map auto.eos; commonStorageClass.enabled/className; the images of
# nodeplugin.{plugin,automount,mountreconciler,registrar} and
# controllerplugin.{plugin,provisioner}.
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
ensure_helm
mkdir -p "$MCD_STATE"

# image_values KEY NAME INDENT: a values block "KEY: image: {repository,
# tag}" for manifest image NAME.
image_values() {
    local repo="IMAGE_${2}_REPO" tag="IMAGE_${2}_TAG" pad
    pad=$(printf '%*s' "$3" '')
    printf '%s%s:\n%s  image:\n' "$pad" "$1" "$pad"
    printf '%s    repository: %s\n' "$pad" "$(yaml_str "${!repo}")"
    printf '%s    tag: %s\n' "$pad" "$(yaml_str "${!tag}")"
}

install_cvmfs() {
    local values="$MCD_STATE/cvmfs-csi-values.yaml" part
    {
        cat <<YAML
extraConfigMaps:
  cvmfs-csi-default-local:
    default.local: |
      CVMFS_HTTP_PROXY=$(yaml_str "$CVMFS_HTTP_PROXY")
      CVMFS_REPOSITORIES=$(yaml_str "$CVMFS_REPOSITORIES")
      CVMFS_QUOTA_LIMIT={{ .Values.cache.local.cvmfsQuotaLimit }}
      CVMFS_CACHE_BASE=/cvmfs-localcache
automountStorageClass:
  create: true
  name: cvmfs
nodeplugin:
YAML
        for part in plugin automount automountReconciler singlemount; do
            image_values "$part" CVMFS_CSI 2
        done
        image_values registrar CVMFS_CSI_REGISTRAR 2
        printf 'controllerplugin:\n'
        image_values plugin CVMFS_CSI 2
        image_values provisioner CVMFS_CSI_PROVISIONER 2
    } >"$values"
    helm_install cvmfs-csi CVMFS_CSI kube-system "$values"
    log "storage csi: cvmfs-csi $CHART_CVMFS_CSI_VERSION"
}

install_eos() {
    local values="$MCD_STATE/eosxd-csi-values.yaml" instance part
    local -a instances
    IFS=, read -r -a instances <<<"$EOS_INSTANCES"
    {
        printf 'commonStorageClass:\n  enabled: true\n  className: eos\n'
        if [ "${#instances[@]}" -gt 0 ]; then
            # Only the listed instances in the autofs map; their
            # fuse.<instance>.conf come with the chart.
            printf 'extraConfigMaps:\n  eos-csi-dir-etc-eos:\n'
            printf '    auto.eos: |\n'
            for instance in "${instances[@]}"; do
                check EOS_INSTANCES "$instance" '^[a-z][a-z0-9-]{0,62}$'
                printf '      %s -fstype=eosx,fsname=%s :eosxd\n' \
                    "$instance" "$instance"
            done
        fi
        printf 'nodeplugin:\n'
        for part in plugin automount mountreconciler; do
            image_values "$part" EOSXD_CSI 2
        done
        image_values registrar EOSXD_CSI_REGISTRAR 2
        printf 'controllerplugin:\n'
        image_values plugin EOSXD_CSI 2
        image_values provisioner EOSXD_CSI_PROVISIONER 2
    } >"$values"
    helm_install eosxd-csi EOSXD_CSI kube-system "$values"
    log "storage csi: eosxd-csi $CHART_EOSXD_CSI_VERSION"
}

if is_true "$CVMFS_ENABLED"; then
    install_cvmfs
fi
if is_true "$EOS_ENABLED"; then
    install_eos
fi
