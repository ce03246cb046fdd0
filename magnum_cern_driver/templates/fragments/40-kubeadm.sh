#!/bin/bash
# Kubernetes. Masters get Magnum's shared keys in /etc/kubernetes/pki, then
# the first master inits only when no API answers; every other master (and
# a replaced first master) removes a stale etcd member and Node of its own
# name and joins, one at a time; workers join with token and CA hash.
# Secrets go to kubeadm in a 0600 file only. Upstream facts (repository
# path @ commit; docs/node-bootstrap.md lists them):
# - v1beta4 config, list-form extraArgs, nodeRegistration.name:
#   kubernetes/kubernetes cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go
#   @13299357
# - join without certificateKey needs the shared files on disk
#   (SharedCertificateExists): cmd/kubeadm/app/cmd/phases/join/
#   preflight.go @0ccffebc; the file list: kubernetes/website .../kubeadm/
#   high-availability.md "Manual certificate distribution" @c0dffcfa. The
#   same preflight runs init's KubeletVersion check on the cluster's config.
# - providerID openstack:///<id>: kubernetes/cloud-provider-openstack
#   pkg/openstack/instancesv2.go @0facb5bd
# - etcdctl member list / member remove: kubernetes/website .../
#   administer-cluster/configure-upgrade-etcd.md @dfab190c
# - one minor at a time, upgrade apply then upgrade node: kubernetes/website
#   .../administer-cluster/kubeadm/kubeadm-upgrade.md @0189ae0f
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
name=$(node_name)
server_id=$(instance_id)
provider_id="openstack:///$server_id"
pki="$R/etc/kubernetes/pki"
config="$MCD_SECRETS/kubeadm.yaml"
admin="$MCD_STATE/admin"
upgrading=false
trap 'rm -rf "$config" "$admin"' EXIT

node_registration() {
    printf 'nodeRegistration:\n'
    printf '  name: %s\n' "$(yaml_str "$name")"
    printf '  kubeletExtraArgs:\n'
    if is_true "$CLOUD_PROVIDER_ENABLED"; then
        printf '  - name: cloud-provider\n    value: external\n'
    fi
    printf '  - name: provider-id\n    value: %s\n' \
        "$(yaml_str "$provider_id")"
    printf '  - name: node-labels\n    value: %s\n' \
        "$(yaml_str "magnum.openstack.org/role=$MCD_ROLE")"
    if [ "$upgrading" = true ]; then
        printf '  ignorePreflightErrors:\n  - KubeletVersion\n'
    fi
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

cert_sans() {
    local public
    public=$(runtime_value api_public_address "$RE_IPV4_OR_EMPTY")
    printf '  certSANs:\n  - %s\n' "$(yaml_str "$api")"
    if [ -n "$public" ] && [ "$public" != "$api" ]; then
        printf '  - %s\n' "$(yaml_str "$public")"
    fi
}

# Is there a cluster at the API address already? (short, bounded probe)
api_answers() {
    retry 3 5 curl -sf --connect-timeout 3 --max-time 5 \
        --cacert "$MCD_SECRETS/ca.crt" -o /dev/null "https://$endpoint/readyz"
}

# MCD_API_WAIT_TRIES (tries 10 s apart, default one hour) is for tests.
wait_for_api() {
    local tries=${MCD_API_WAIT_TRIES:-360}
    check MCD_API_WAIT_TRIES "$tries" '^[1-9][0-9]{0,4}$'
    log "kubeadm: waiting for the API at $endpoint"
    retry "$tries" 10 curl -sf --max-time 5 --cacert "$MCD_SECRETS/ca.crt" \
        -o /dev/null "https://$endpoint/readyz" ||
        die "the API at $endpoint did not answer"
}

install_pki() {
    install -d -m 0755 "$pki" "$pki/etcd"
    install -m 0644 "$MCD_SECRETS/ca.crt" "$pki/ca.crt"
    install -m 0600 "$MCD_SECRETS/ca.key" "$pki/ca.key"
    install -m 0644 "$MCD_SECRETS/etcd-ca.crt" "$pki/etcd/ca.crt"
    install -m 0600 "$MCD_SECRETS/etcd-ca.key" "$pki/etcd/ca.key"
    install -m 0644 "$MCD_SECRETS/front-proxy-ca.crt" "$pki/front-proxy-ca.crt"
    install -m 0600 "$MCD_SECRETS/front-proxy-ca.key" "$pki/front-proxy-ca.key"
    install -m 0600 "$MCD_SECRETS/sa.key" "$pki/sa.key"
    openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
}

# A joining master's short-lived admin client certificate (O=system:masters,
# from the CA key; removed on exit).
admin_client() {
    [ -z "${admin_ready:-}" ] || return 0
    install -d -m 0700 "$admin"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$admin/client.key"
    openssl req -new -key "$admin/client.key" \
        -subj '/O=system:masters/CN=magnum-cern-bootstrap' \
        -out "$admin/client.csr"
    openssl x509 -req -in "$admin/client.csr" -CA "$MCD_SECRETS/ca.crt" \
        -CAkey "$MCD_SECRETS/ca.key" -set_serial "$(date +%s)" -days 1 \
        -out "$admin/client.crt"
    admin_ready=1
}

kubectl_boot() {
    kubectl --server "https://$endpoint" \
        --certificate-authority "$MCD_SECRETS/ca.crt" \
        --client-certificate "$admin/client.crt" \
        --client-key "$admin/client.key" "$@"
}

etcdctl_in() {
    local pod=$1
    shift
    kubectl_boot -n kube-system exec "$pod" -- etcdctl \
        --endpoints=https://127.0.0.1:2379 \
        --cacert=/etc/kubernetes/pki/etcd/ca.crt \
        --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt \
        --key=/etc/kubernetes/pki/etcd/healthcheck-client.key "$@"
}

# Masters join one at a time (kubeadm's HA guide joins them in turn): the
# master of index i waits until min(i, masters - 1) other control-plane
# nodes are Ready. MCD_JOIN_WAIT_TRIES (10 s apart, default 30 minutes).
wait_for_turn() {
    local index need tries=${MCD_JOIN_WAIT_TRIES:-180} i ready
    local fields='{range .items[*]}{.metadata.name}{" "}'
    fields+='{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}'
    check MCD_JOIN_WAIT_TRIES "$tries" '^[1-9][0-9]{0,4}$'
    index=$(runtime_value node_index "$RE_INDEX")
    need=$((index < MASTER_COUNT - 1 ? index : MASTER_COUNT - 1))
    [ "$need" -gt 0 ] || return 0
    log "kubeadm: waiting for $need other Ready control-plane nodes"
    for ((i = 1; i <= tries; i++)); do
        ready=$(kubectl_boot get nodes \
            -l node-role.kubernetes.io/control-plane -o "jsonpath=$fields" |
            awk -v me="$name" '$1 != me && $2 == "True"' | wc -l) || ready=0
        if [ "$ready" -ge "$need" ]; then
            return 0
        fi
        sleep 10
    done
    die "kubeadm: fewer than $need other control-plane nodes became Ready"
}

# A replaced master has the name of the server it replaces: its Node and
# etcd member are stale. Remove both before joining (the member through
# etcdctl in a healthy etcd pod), but never the last etcd member.
remove_stale_member() {
    local pods pod p members id count
    local found
    found=$(kubectl_boot get node "$name" -o name --ignore-not-found)
    if [ -n "$found" ]; then
        log "kubeadm: removing the stale Node $name"
        kubectl_boot delete node "$name" --ignore-not-found
    fi
    pods=$(kubectl_boot -n kube-system get pods -l component=etcd \
        --field-selector=status.phase=Running \
        -o 'jsonpath={.items[*].metadata.name}')
    pod=""
    for p in $pods; do
        check "etcd pod" "$p" '^etcd-[a-z0-9.-]{1,253}$'
        if [ "$p" != "etcd-$name" ]; then
            pod=$p
            break
        fi
    done
    if [ -z "$pod" ]; then
        log "kubeadm: no other etcd member to ask"
        return 0
    fi
    members=$(etcdctl_in "$pod" member list)
    count=$(grep -c . <<<"$members" || true)
    id=$(awk -F', ' -v n="$name" '$3 == n { print $1 }' <<<"$members")
    [ -n "$id" ] || return 0
    check "etcd member id" "$id" '^[0-9a-f]{1,16}$'
    [ "$count" -gt 1 ] ||
        die "kubeadm: the only etcd member is the stale $name; not removed"
    log "kubeadm: removing the stale etcd member $name ($id)"
    etcdctl_in "$pod" member remove "$id" >/dev/null
}

# version_cmp A B: -1, 0 or 1 (vMAJOR.MINOR.PATCH, already validated).
version_cmp() {
    local -a a b
    local i
    IFS=. read -r -a a <<<"${1#v}"
    IFS=. read -r -a b <<<"${2#v}"
    for i in 0 1 2; do
        if ((a[i] < b[i])); then
            printf -- '-1'
            return 0
        fi
        if ((a[i] > b[i])); then
            printf '1'
            return 0
        fi
    done
    printf '0'
}

# kubernetesVersion of the cluster (kube-system/kubeadm-config).
cluster_version() {
    local text version
    text=$(kubectl_boot -n kube-system get configmap kubeadm-config \
        -o 'jsonpath={.data.ClusterConfiguration}')
    version=$(sed -n \
        's/^kubernetesVersion: *"\{0,1\}\(v[0-9.]*\)"\{0,1\} *$/\1/p' \
        <<<"$text")
    check "cluster kubernetesVersion" "$version" "$RE_VERSION"
    printf '%s' "$version"
}

# Before a control-plane join: is this master newer than the cluster (an
# upgrade)? Downgrades and minor-version skips are refused.
check_skew() {
    local current minor_now minor_new
    current=$(cluster_version)
    case $(version_cmp "$current" "$KUBE_TAG") in
        0) return 0 ;;
        1) die "kubeadm: kube_tag $KUBE_TAG is older than the cluster" ;;
    esac
    minor_now=$(cut -d. -f2 <<<"$current")
    minor_new=$(cut -d. -f2 <<<"$KUBE_TAG")
    [ "$((minor_new - minor_now))" -le 1 ] ||
        die "kubeadm: $current to $KUBE_TAG skips a minor version"
    log "kubeadm: upgrading the cluster from $current to $KUBE_TAG"
    upgrading=true
}

# After a control-plane join. The first upgraded master (the one that
# creates the marker ConfigMap) runs `kubeadm upgrade apply`; the others
# wait for the cluster's new version, then run `kubeadm upgrade node` only
# when their static pods are older.
upgrade_control_plane() {
    local marker="magnum-cern-upgrade-$KUBE_TAG" i
    local tries=${MCD_JOIN_WAIT_TRIES:-180}
    if [ "$upgrading" = true ]; then
        if kubectl_boot -n kube-system create configmap "$marker" \
            >/dev/null 2>&1; then
            log "kubeadm: upgrade apply $KUBE_TAG"
            kubeadm upgrade apply "$KUBE_TAG" -y
            return 0
        fi
        for ((i = 1; i <= tries; i++)); do
            if [ "$(cluster_version)" = "$KUBE_TAG" ]; then
                break
            fi
            [ "$i" -lt "$tries" ] ||
                die "kubeadm: the cluster did not reach $KUBE_TAG"
            sleep 10
        done
    fi
    upgrade_node_if_needed
}

upgrade_node_if_needed() {
    local manifest="$R/etc/kubernetes/manifests/kube-apiserver.yaml" tag
    [ -f "$manifest" ] || return 0
    tag=$(sed -n 's/^ *image: .*kube-apiserver:\(v[0-9.]*\) *$/\1/p' \
        "$manifest")
    if [ -n "$tag" ] && [ "$tag" != "$KUBE_TAG" ]; then
        log "kubeadm: upgrade node ($tag to $KUBE_TAG)"
        kubeadm upgrade node
    fi
}

# Every control plane image comes from the artifact manifest (mirrored
# when a registry mirror is set): kubeadm pulls
# <imageRepository>/kube-apiserver:<kubernetesVersion> and the others,
# etcd from etcd.local, CoreDNS from <dns.imageRepository>/coredns
# (kubernetes/kubernetes cmd/kubeadm/app/images/images.go, GetDNSImage).
init_config() {
    cat <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
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
localAPIEndpoint:
  bindPort: $KUBE_API_PORT
$(node_registration)
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: $(yaml_str "$KUBE_TAG")
controlPlaneEndpoint: $(yaml_str "$endpoint")
imageRepository: $(yaml_str "${IMAGE_KUBE_APISERVER_REPO%/*}")
etcd:
  local:
    imageRepository: $(yaml_str "${IMAGE_ETCD_REPO%/*}")
    imageTag: $(yaml_str "$IMAGE_ETCD_TAG")
dns:
  imageRepository: $(yaml_str "${IMAGE_COREDNS_REPO%/*}")
  imageTag: $(yaml_str "$IMAGE_COREDNS_TAG")
networking:
  podSubnet: $(yaml_str "$FLANNEL_NETWORK_CIDR")
  serviceSubnet: $(yaml_str "$SERVICE_CLUSTER_IP_RANGE")
apiServer:
$(cert_sans)
controllerManager:
  extraArgs:
  # The -ipv4 form is the one kubeadm validates against the pod subnet
  # (cmd/kubeadm/app/apis/kubeadm/validation/validation.go @ 00d24de6,
  # ValidatePodSubnetNodeMask); kube-controller-manager takes it for a
  # single-stack cluster too.
  - name: node-cidr-mask-size-ipv4
    value: $(yaml_str "$FLANNEL_NETWORK_SUBNETLEN")
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
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
$(discovery)
$(node_registration)
YAML
    if [ "$MCD_ROLE" = master ]; then
        cat <<YAML
controlPlane:
  localAPIEndpoint:
    bindPort: $KUBE_API_PORT
YAML
    fi
}

# A failed join leaves state behind that fails the next attempt.
join_once() {
    if [ "$MCD_ROLE" = master ]; then
        # The replaced server's kubelet may have registered its Node again.
        kubectl_boot delete node "$name" --ignore-not-found >/dev/null
    fi
    if kubeadm join --config "$config"; then
        return 0
    fi
    kubeadm reset -f || true
    return 1
}

if [ "$MCD_ROLE" = master ]; then
    install_pki
fi

if is_first_master && ! api_answers; then
    init_config >"$config"
    log "kubeadm: init (first master, no API at $endpoint)"
    kubeadm init --config "$config"
else
    wait_for_api
    if [ "$MCD_ROLE" = master ]; then
        admin_client
        wait_for_turn
        remove_stale_member
        check_skew
    fi
    join_config >"$config"
    log "kubeadm: join as $MCD_ROLE ($name)"
    retry 3 30 join_once || die "kubeadm join failed"
    if [ "$MCD_ROLE" = master ]; then
        upgrade_control_plane
    fi
fi
log "kubeadm: node $name configured"
