# shellcheck shell=bash
# Generated from magnum_cern_driver/templates/artifacts.yaml; do not edit.
# Regenerate: python -m magnum_cern_driver.elements_env --write

# kubelet, kubeadm and kubectl version (the kube_tag label default
# without its v).
export DIB_KUBE_VERSION=${DIB_KUBE_VERSION:-1.31.4}

# containerd.io version (the containerd_version label default).
export DIB_CONTAINERD_VERSION=${DIB_CONTAINERD_VERSION:-1.7.24}

# Kubernetes package repository when DIB_KUBE_REPO_URL is empty;
# @KUBE_MINOR@ is the X.Y of DIB_KUBE_VERSION.
export MAGNUM_K8S_KUBE_REPO_TEMPLATE=${MAGNUM_K8S_KUBE_REPO_TEMPLATE:-https://pkgs.k8s.io/core:/stable:/v@KUBE_MINOR@/rpm/}

# Its signing key (same @KUBE_MINOR@).
export MAGNUM_K8S_KUBE_REPO_GPGKEY_TEMPLATE=${MAGNUM_K8S_KUBE_REPO_GPGKEY_TEMPLATE:-https://pkgs.k8s.io/core:/stable:/v@KUBE_MINOR@/rpm/repodata/repomd.xml.key}

# Repository of containerd.io (dnf expands $releasever and $basearch).
export DIB_CONTAINERD_REPO_URL=${DIB_CONTAINERD_REPO_URL:-https://download.docker.com/linux/rhel/\$releasever/\$basearch/stable}

# Its signing key.
export DIB_CONTAINERD_REPO_GPGKEY=${DIB_CONTAINERD_REPO_GPGKEY:-https://download.docker.com/linux/rhel/gpg}

# helm release tarball installed as /usr/local/bin/helm (empty: no helm
# in the image).
export DIB_MAGNUM_K8S_HELM_URL=${DIB_MAGNUM_K8S_HELM_URL-https://get.helm.sh/helm-v3.16.3-linux-amd64.tar.gz}

# Its sha256 (required when the URL is set).
export DIB_MAGNUM_K8S_HELM_SHA256=${DIB_MAGNUM_K8S_HELM_SHA256:-f5355c79190951eed23c5432a3b920e071f4c00a64f75e077de0dd4cb7b294ea}

# Images pulled at build time (skopeo on the build host) and imported at
# first boot: every image of the manifest for the label defaults. Set it
# to an empty string to pull none.
export DIB_MAGNUM_K8S_PREPULL_IMAGES=${DIB_MAGNUM_K8S_PREPULL_IMAGES-"registry.k8s.io/kube-apiserver:v1.31.4 registry.k8s.io/kube-controller-manager:v1.31.4 registry.k8s.io/kube-scheduler:v1.31.4 registry.k8s.io/kube-proxy:v1.31.4 registry.k8s.io/etcd:3.5.15-0 registry.k8s.io/coredns/coredns:v1.11.3 registry.k8s.io/pause:3.10 ghcr.io/flannel-io/flannel:v0.26.4 ghcr.io/flannel-io/flannel-cni-plugin:v1.6.2-flannel1 registry.k8s.io/provider-os/openstack-cloud-controller-manager:v1.31.0 registry.cern.ch/kubernetes/cvmfs-csi:v2.5.0 registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.10.1 registry.k8s.io/sig-storage/csi-provisioner:v4.0.1 registry.cern.ch/kubernetes/eosxd-csi:v1.3.1 registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.9.3 registry.k8s.io/sig-storage/csi-provisioner:v4.0.0"}
