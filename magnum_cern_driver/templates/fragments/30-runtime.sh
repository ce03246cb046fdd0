#!/bin/bash
# Runtime: kernel modules and sysctls, MTU, containerd, kubelet, kubeadm and
# kubectl at the label versions (installed only when the image lacks them),
# containerd configuration (systemd cgroups, registry mirror, sandbox image),
# and the unit that starts the metadata guard before the kubelet.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"
load_env

kube_version=${KUBE_TAG#v}

# Kernel modules, now and at every boot.
modules=(overlay br_netfilter)
if [ "$KUBE_PROXY_MODE" = ipvs ]; then
    modules+=(ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack)
fi
if is_true "$CVMFS_ENABLED" || is_true "$EOS_ENABLED"; then
    modules+=(fuse)
fi
install -d -m 0755 "$R/etc/modules-load.d" "$R/etc/sysctl.d"
printf '%s\n' "${modules[@]}" >"$R/etc/modules-load.d/magnum-cern.conf"
chmod 0644 "$R/etc/modules-load.d/magnum-cern.conf"
for module in "${modules[@]}"; do
    modprobe "$module"
done

cat >"$R/etc/sysctl.d/90-magnum-cern.conf" <<CONF
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
fs.inotify.max_user_instances = 8192
fs.inotify.max_user_watches = 1048576
CONF
chmod 0644 "$R/etc/sysctl.d/90-magnum-cern.conf"
sysctl --system >/dev/null

# kubelet refuses to run with swap on.
swapoff -a
if [ -f "$R/etc/fstab" ]; then
    sed -i -e '/^[^#].*[ \t]swap[ \t]/s/^/#/' "$R/etc/fstab"
fi

# MTU of the node interface (0: keep what DHCP gave).
if [ "$NETWORK_MTU" -gt 0 ]; then
    iface=$(ip -o -4 route show default | awk '{
        for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }
    }')
    check "default interface" "$iface" '^[A-Za-z0-9_.-]{1,15}$'
    ip link set dev "$iface" mtu "$NETWORK_MTU"
    install -d -m 0755 "$R/etc/NetworkManager/conf.d"
    cat >"$R/etc/NetworkManager/conf.d/90-magnum-cern-mtu.conf" <<CONF
[connection-magnum-cern-mtu]
match-device=interface-name:$iface
ethernet.mtu=$NETWORK_MTU
CONF
    chmod 0644 "$R/etc/NetworkManager/conf.d/90-magnum-cern-mtu.conf"
fi

# Packages at the label versions, from the manifest's repositories (only
# when the image lacks those exact versions).
packages=("$PKG_CONTAINERD_IO" "$PKG_KUBELET" "$PKG_KUBEADM" "$PKG_KUBECTL")
if [ "$KUBE_PROXY_MODE" = ipvs ]; then
    packages+=("$PKG_IPSET" "$PKG_IPVSADM")
fi
if ! rpm -q "${packages[@]}" >/dev/null 2>&1; then
    write_repo_files
    retry 3 10 dnf install -y "${packages[@]}"
fi

# containerd: systemd cgroups, registry trust in certs.d, sandbox image.
pause_image=$(image_ref PAUSE)
install -d -m 0755 "$R/etc/containerd" "$R/etc/containerd/certs.d"
cat >"$R/etc/containerd/config.toml" <<TOML
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = $(yaml_str "$pause_image")

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
TOML
chmod 0644 "$R/etc/containerd/config.toml"
cat >"$R/etc/crictl.yaml" <<CONF
runtime-endpoint: unix:///run/containerd/containerd.sock
CONF
chmod 0644 "$R/etc/crictl.yaml"

# The metadata guard (metadata-guard.sh) at every boot, before the
# kubelet; the kubelet does not start without it. The runner adds the rule
# for the pods' cgroup once the kubelet made it.
guard=/etc/systemd/system/magnum-cern-metadata-guard.service
install -d -m 0755 "$R/etc/systemd/system"
cat >"$R$guard" <<UNIT
[Unit]
Description=Keep pods and non-root processes away from the metadata service
Before=kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/bash /usr/local/lib/magnum-cern/metadata-guard.sh early

[Install]
WantedBy=multi-user.target
RequiredBy=kubelet.service
UNIT
chmod 0644 "$R$guard"

systemctl daemon-reload
systemctl enable --now magnum-cern-metadata-guard.service
systemctl enable containerd
systemctl restart containerd
systemctl enable kubelet
log "runtime: containerd $CONTAINERD_VERSION, kubernetes $kube_version"
