#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.
"""A cluster's secrets for its nodes, read from Magnum's certificates.

The thin adapter between Magnum's certificate store and the pure
:class:`params.Secrets`: the cluster CA, the etcd and front-proxy CAs and
Magnum's client key (the service-account key), the bootstrap token and the
application credential; and the list of values that must never be shown
(the driver redacts them from anything Heat echoes).
"""

import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography import x509
from magnum.common import cert_manager as magnum_cert_manager
from magnum.common import exception
from magnum.conductor.handlers.common import cert_manager
from magnum import objects
from oslo_log import log as logging

from magnum_cern_driver import credentials
from magnum_cern_driver import params
from magnum_cern_driver import userdata

LOG = logging.getLogger(__name__)

# Stands in for the application credential when user data is rendered only
# to validate, or for parameters Heat already holds (never sent to Heat).
PLACEHOLDER = ('not-sent-placeholder-id', 'not-sent-placeholder-secret')
#: The certificate references Magnum keeps on a cluster.
CERT_REFS = ('ca_cert_ref', 'magnum_cert_ref', 'etcd_ca_cert_ref',
             'front_proxy_ca_cert_ref')


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8')
    return value or ''


def ca_cert_hash(cert_pem):
    """kubeadm's discovery hash: sha256 of the CA's SubjectPublicKeyInfo."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode('utf-8'))
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    return 'sha256:' + hashlib.sha256(spki).hexdigest()


def gather(context, cluster, app_cred=PLACEHOLDER):
    """The :class:`params.Secrets` of ``cluster`` (with ``app_cred``)."""
    ca = cert_manager.get_cluster_ca_certificate(cluster, context=context)
    ca_cert = _text(ca.get_certificate())
    ca_key = _text(ca.get_decrypted_private_key())
    # Magnum 23 makes an etcd CA, a front-proxy CA and its own client
    # certificate for every cluster (cert_manager.
    # generate_certificates_to_cluster): the masters get them all, so a
    # master joins without kubeadm's two-hour kubeadm-certs secret.
    etcd = cert_manager.get_cluster_ca_certificate(
        cluster, context=context, ca_cert_type='etcd')
    front_proxy = cert_manager.get_cluster_ca_certificate(
        cluster, context=context, ca_cert_type='front_proxy')
    client = cert_manager.get_cluster_magnum_cert(cluster, context=context)
    return params.Secrets(
        ca_cert=ca_cert, ca_key=ca_key,
        ca_cert_hash=ca_cert_hash(ca_cert),
        bootstrap_token=credentials.bootstrap_token(ca_key, cluster.uuid),
        app_cred_id=app_cred[0], app_cred_secret=app_cred[1],
        auth_url=credentials.auth_url(context),
        etcd_ca_cert=_text(etcd.get_certificate()),
        etcd_ca_key=_text(etcd.get_decrypted_private_key()),
        front_proxy_ca_cert=_text(front_proxy.get_certificate()),
        front_proxy_ca_key=_text(front_proxy.get_decrypted_private_key()),
        sa_key=_text(client.get_decrypted_private_key()))


def redaction_values(secrets, spec=None):
    """Every value that must never be shown, for Heat calls' redaction."""
    values = [secrets.ca_key, secrets.bootstrap_token,
              secrets.app_cred_secret, secrets.etcd_ca_key,
              secrets.front_proxy_ca_key, secrets.sa_key]
    if spec is not None:
        # The secrets also travel compressed, in the user data's archive:
        # an error that echoed it must not show it either.
        for name in spec.hidden_parameters:
            values.extend(userdata.archive_blobs(
                spec.parameters.get(name) or ''))
    return [v for v in values if v]


def undo_new_ca(context, cluster):
    """Put back the certificate references Magnum replaced before a refusal.

    Magnum's CA rotation stores new certificates before it calls the
    driver; when the driver refuses, the new ones are deleted and the old
    references restored, so the cluster keeps the CA its nodes trust.
    """
    try:
        saved = objects.Cluster.get_by_uuid(context, cluster.uuid)
    except exception.ClusterNotFound:
        return
    backend = magnum_cert_manager.get_backend().CertManager
    for field in CERT_REFS:
        new, old = getattr(cluster, field), getattr(saved, field)
        if new and new != old:
            try:
                backend.delete_cert(new, resource_ref=cluster.uuid,
                                    context=context)
            except Exception:
                LOG.warning('Cluster %s: cannot delete the unused new '
                            'certificate %s', cluster.uuid, field)
            setattr(cluster, field, old)
