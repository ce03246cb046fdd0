#!/bin/bash
# Kubernetes: the first master runs `kubeadm init` with Magnum's cluster CA;
# the other masters join the control plane through the API address (VIP or
# load balancer); workers join with the bootstrap token and the CA
# certificate hash. kubeadm reads everything from a 0600 config file: no
# secret on a command line.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"
load_env

if [ -e "$R/etc/kubernetes/kubelet.conf" ]; then
    log "kubeadm: this node is already a cluster member"
    exit 0
fi

api=$(runtime_value api_address "$RE_IPV4")
endpoint="$api:$KUBE_API_PORT"
token=$(runtime_value bootstrap_token "$RE_BOOTSTRAP_TOKEN")
ca_hash=$(runtime_value ca_cert_hash "$RE_CA_HASH")
config="$MCD_SECRETS/kubeadm.yaml"
trap 'rm -f "$config"' EXIT

kubelet_args() {
    printf '  kubeletExtraArgs:\n'
    if is_true "$CLOUD_PROVIDER_ENABLED"; then
        printf '    cloud-provider: external\n'
    fi
    printf '    node-labels: %s\n' \
        "$(yaml_str "magnum.openstack.org/role=$MCD_ROLE")"
}

discovery() {
    cat <<YAML
discovery:
  bootstrapToken:
    apiServerEndpoint: $(yaml_str "$endpoint")
    token: $(yaml_str "$token")
    caCertHashes:
    - $(yaml_str "$ca_hash")
YAML
}

# The API answers /readyz to anyone, with Magnum's CA on its certificate.
# MCD_API_WAIT_TRIES (tries 10 s apart, default one hour) is for tests.
wait_for_api() {
    local tries=${MCD_API_WAIT_TRIES:-360}
    check MCD_API_WAIT_TRIES "$tries" '^[1-9][0-9]{0,4}$'
    log "kubeadm: waiting for the API at $endpoint"
    retry "$tries" 10 curl -sf --max-time 5 --cacert "$MCD_SECRETS/ca.crt" \
        -o /dev/null "https://$endpoint/readyz" ||
        die "the API at $endpoint did not answer"
}

init_config() {
    local image_repository=""
    if [ -n "$REGISTRY_MIRROR" ]; then
        image_repository="imageRepository: $(yaml_str "$REGISTRY_MIRROR")"
    fi
    cat <<YAML
apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
bootstrapTokens:
- token: $(yaml_str "$token")
  ttl: "0s"
  description: "magnum-cern-driver node bootstrap token"
  groups:
  - system:bootstrappers:kubeadm:default-node-token
  usages:
  - signing
  - authentication
certificateKey: $(yaml_str "$cert_key")
localAPIEndpoint:
  bindPort: $KUBE_API_PORT
nodeRegistration:
$(kubelet_args)
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: $(yaml_str "$KUBE_TAG")
controlPlaneEndpoint: $(yaml_str "$endpoint")
$image_repository
networking:
  podSubnet: $(yaml_str "$FLANNEL_NETWORK_CIDR")
  serviceSubnet: $(yaml_str "$SERVICE_CLUSTER_IP_RANGE")
apiServer:
  certSANs:
  - $(yaml_str "$api")
controllerManager:
  extraArgs:
    node-cidr-mask-size: $(yaml_str "$FLANNEL_NETWORK_SUBNETLEN")
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: $(yaml_str "$KUBE_PROXY_MODE")
clusterCIDR: $(yaml_str "$FLANNEL_NETWORK_CIDR")
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
YAML
}

join_config() {
    cat <<YAML
apiVersion: kubeadm.k8s.io/v1beta3
kind: JoinConfiguration
$(discovery)
nodeRegistration:
$(kubelet_args)
YAML
    if [ "$MCD_ROLE" = master ]; then
        cat <<YAML
controlPlane:
  certificateKey: $(yaml_str "$cert_key")
  localAPIEndpoint:
    bindPort: $KUBE_API_PORT
YAML
    fi
}

# A failed join leaves state behind that fails the next attempt.
join_once() {
    if kubeadm join --config "$config"; then
        return 0
    fi
    kubeadm reset -f || true
    return 1
}

if [ "$MCD_ROLE" = master ]; then
    cert_key=$(runtime_value certificate_key "$RE_CERT_KEY")
fi

if is_first_master; then
    install -d -m 0755 "$R/etc/kubernetes/pki"
    install -m 0644 "$MCD_SECRETS/ca.crt" "$R/etc/kubernetes/pki/ca.crt"
    install -m 0600 "$MCD_SECRETS/ca.key" "$R/etc/kubernetes/pki/ca.key"
    init_config >"$config"
    log "kubeadm: init (first master)"
    kubeadm init --config "$config" --upload-certs
else
    wait_for_api
    join_config >"$config"
    log "kubeadm: join as $MCD_ROLE"
    retry 3 30 join_once || die "kubeadm join failed"
fi
log "kubeadm: node configured"
