# shellcheck shell=bash
# Defaults for the magnum-k8s-node element (see README.rst). The versions,
# package repositories, helm and the pre-pulled images come from the
# artifact manifest: environment.d/05-magnum-k8s-node-artifacts.sh.

# Kubernetes package repository. Empty means the manifest's repository
# (MAGNUM_K8S_KUBE_REPO_TEMPLATE) for the minor release of
# DIB_KUBE_VERSION; set it to use a mirror.
export DIB_KUBE_REPO_URL=${DIB_KUBE_REPO_URL:-}
# cloud-init asks only these data sources at first boot (element
# cloud-init-datasources): probing every source it knows delays the boot of
# every node.
export DIB_CLOUD_INIT_DATASOURCES=${DIB_CLOUD_INIT_DATASOURCES:-"ConfigDrive, OpenStack"}
