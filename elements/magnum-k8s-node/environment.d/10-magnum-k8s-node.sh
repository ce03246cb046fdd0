# shellcheck shell=bash
# Defaults for the magnum-k8s-node element (see README.rst).

# kubelet, kubeadm and kubectl version (the default of the kube_tag label,
# without its leading v).
export DIB_KUBE_VERSION=${DIB_KUBE_VERSION:-1.31.4}
# containerd version (the default of the containerd_version label).
export DIB_CONTAINERD_VERSION=${DIB_CONTAINERD_VERSION:-1.7.24}
# Package repositories. An empty DIB_KUBE_REPO_URL means the upstream
# repository of the minor release of DIB_KUBE_VERSION on pkgs.k8s.io.
export DIB_KUBE_REPO_URL=${DIB_KUBE_REPO_URL:-}
export DIB_CONTAINERD_REPO_URL=${DIB_CONTAINERD_REPO_URL:-https://download.docker.com/linux/centos/\$releasever/\$basearch/stable}
export DIB_CONTAINERD_REPO_GPGKEY=${DIB_CONTAINERD_REPO_GPGKEY:-https://download.docker.com/linux/centos/gpg}
# Space-separated image references pulled at build time (with skopeo on
# the build host) and imported into containerd at first boot.
export DIB_MAGNUM_K8S_PREPULL_IMAGES=${DIB_MAGNUM_K8S_PREPULL_IMAGES:-}
# cloud-init asks only these data sources at first boot (element
# cloud-init-datasources): probing every source it knows delays the boot of
# every node.
export DIB_CLOUD_INIT_DATASOURCES=${DIB_CLOUD_INIT_DATASOURCES:-"ConfigDrive, OpenStack"}
