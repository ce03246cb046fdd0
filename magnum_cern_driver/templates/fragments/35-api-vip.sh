#!/bin/bash
# API VIP: without a load balancer, the API address is a Neutron VIP port
# (an allowed address pair of every master port); keepalived holds it on a
# master whose API answers. The security group must let the masters
# exchange VRRP (IP protocol 112).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
. "${MCD_ROOT:-}/usr/local/lib/magnum-cern/common.sh"
load_env

if [ "$MCD_ROLE" != master ] || is_true "$MASTER_LB_ENABLED"; then
    log "api vip: not used (behind a load balancer)"
    exit 0
fi
check VRRP_ROUTER_ID "${VRRP_ROUTER_ID:-}" '^[1-9][0-9]{0,2}$'

vip=$(runtime_value api_address "$RE_IPV4")
iface=$(ip -o -4 route show default | awk '{
    for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }
}')
check "default interface" "$iface" '^[A-Za-z0-9_.-]{1,15}$'
priority=100
if is_first_master; then
    priority=150
fi

if ! rpm -q keepalived >/dev/null 2>&1; then
    retry 3 10 dnf install -y keepalived
fi
install -d -m 0755 "$R/etc/keepalived"
cat >"$R/etc/keepalived/keepalived.conf" <<CONF
global_defs {
  enable_script_security
  script_user root
}
vrrp_script magnum_cern_api {
  script "/usr/bin/curl -sfk --max-time 3 -o /dev/null https://127.0.0.1:$KUBE_API_PORT/livez"
  interval 5
  fall 3
  rise 2
  weight -60
}
vrrp_instance magnum_cern_api {
  state BACKUP
  interface $iface
  virtual_router_id $VRRP_ROUTER_ID
  priority $priority
  advert_int 1
  virtual_ipaddress {
    $vip
  }
  track_script {
    magnum_cern_api
  }
}
CONF
chmod 0644 "$R/etc/keepalived/keepalived.conf"
systemctl enable keepalived
systemctl restart keepalived
log "api vip: keepalived holds $vip (priority $priority)"
