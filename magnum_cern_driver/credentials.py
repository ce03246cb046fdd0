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
"""Per-cluster Keystone application credentials, and the bootstrap token.

Magnum 23 has no trusts, so nodes get no OpenStack credential from Magnum.
For the in-cluster OpenStack integrations (cloud provider, CSI) the driver
creates one application credential per cluster, with the user's own
context, when the cluster is created.

Where it is kept (DB-free): Keystone *is* the store. The credential's name
is ``magnum-<cluster uuid>-<serial>``, so it is found again by listing the
owner's (``cluster.user_id``) credentials; its secret is only ever handed to
Heat as part of a hidden parameter (master user data), which Heat encrypts
at rest when ``encrypt_parameters_and_properties`` is on. Magnum's cluster
table has no spare column and its cert store (x509keypair or Barbican)
only keeps certificate/key pairs addressed by references on the cluster
row, so storing the secret there would mean abusing a certificate field;
and the driver never needs the secret again after it is in the stack.

The workers' kubeadm bootstrap token is derived (HMAC-SHA256) from the
cluster CA's private key, which Magnum keeps: it is the same on every call
(a nodegroup added later gets the token the masters accepted), needs no
storage, and changes when the CA changes.

Secrets never reach a log line or an exception message here.
"""

import hashlib
import hmac
import string
import time

from keystoneauth1 import exceptions as ka_exc
from oslo_log import log as logging

from magnum_cern_driver import heat

LOG = logging.getLogger(__name__)

NAME_PREFIX = 'magnum-'
_TOKEN_ALPHABET = string.ascii_lowercase + string.digits


class CredentialError(Exception):
    """Keystone refused or failed; the message holds no secret."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


def name_prefix(cluster_uuid):
    return '%s%s-' % (NAME_PREFIX, cluster_uuid)


def bootstrap_token(ca_private_key, cluster_uuid):
    """A kubeadm bootstrap token ``[a-z0-9]{6}.[a-z0-9]{16}`` for a cluster.

    Deterministic for (CA key, cluster) so it can be rebuilt for new
    nodegroups without being stored anywhere.
    """
    if isinstance(ca_private_key, str):
        ca_private_key = ca_private_key.encode('utf-8')
    digest = hmac.new(ca_private_key,
                      ('kubeadm-bootstrap-token:%s' % cluster_uuid).encode(),
                      hashlib.sha256).digest()
    chars = ''.join(_TOKEN_ALPHABET[b % len(_TOKEN_ALPHABET)]
                    for b in digest[:22])
    return '%s.%s' % (chars[:6], chars[6:22])


def _identity_url(session):
    """Base URL of the Keystone v3 API, from the catalog or the config."""
    url = None
    try:
        url = session.get_endpoint(service_type='identity',
                                   interface='public')
    except ka_exc.ClientException:
        url = None
    url = url or heat._auth_url()
    if not url:
        raise CredentialError('No identity endpoint: set [keystone_auth] '
                              'auth_url')
    url = url.rstrip('/')
    if not url.endswith('/v3'):
        url += '/v3'
    return url


def auth_url(context):
    """The Keystone v3 URL nodes should authenticate against."""
    return _identity_url(heat.get_session(context))


def _request(context, method, path, expect=(200, 201, 204), **kwargs):
    session = heat.get_session(context)
    url = _identity_url(session) + path
    try:
        resp = session.request(url, method, raise_exc=False, log=False,
                               **kwargs)
    except (ka_exc.ConnectionError, ka_exc.RetriableConnectionFailure) as e:
        raise CredentialError('Keystone unreachable (%s)' % type(e).__name__)
    except ka_exc.ClientException as e:
        raise CredentialError('Keystone authentication failed (%s)'
                              % type(e).__name__)
    if resp.status_code not in expect:
        # The body is not echoed: it could hold what we sent.
        raise CredentialError('Keystone answered %s to %s %s'
                              % (resp.status_code, method,
                                 path.split('?')[0]),
                              code=resp.status_code)
    return resp


def create(context, cluster):
    """Create a credential for ``cluster`` as the context's user.

    :returns: (credential id, secret). The secret is returned once by
        Keystone and must go straight into the stack's hidden parameters.
    """
    user_id = context.user_id
    if not user_id:
        raise CredentialError('Cannot create an application credential: '
                              'the request has no user')
    owner = getattr(cluster, 'user_id', None)
    if owner and owner != user_id:
        # It would belong to this user: the cluster would run on their
        # credential, and it would escape the owner's cleanup.
        raise CredentialError('only the cluster\'s owner (user %s) can do '
                              'this: the cluster\'s cloud credential is '
                              'theirs' % owner)
    name = '%s%d' % (name_prefix(cluster.uuid), int(time.time() * 1000))
    body = {'application_credential': {
        'name': name,
        'description': ('Kubernetes cluster %s (Magnum, magnum-cern-driver). '
                        'Deleted with the cluster.' % cluster.uuid),
        'unrestricted': False,
    }}
    resp = _request(context, 'POST',
                    '/users/%s/application_credentials' % user_id,
                    expect=(201, 200), json=body)
    cred = resp.json().get('application_credential') or {}
    if not cred.get('id') or not cred.get('secret'):
        raise CredentialError('Keystone returned no application credential')
    LOG.info('Created application credential %s for cluster %s',
             cred['id'], cluster.uuid)
    return cred['id'], cred['secret']


def list_for(context, cluster):
    """[(id, name)] of the cluster's credentials (owner: cluster.user_id)."""
    if not cluster.user_id:
        return []
    prefix = name_prefix(cluster.uuid)
    # Filtered by Keystone: an owner of a thousand clusters has a thousand
    # credentials, and the unfiltered list made Keystone build each one
    # (roles, access rules) for every cluster deleted, which stalled a
    # 1000-cluster fleet's cleanup. Only the case-insensitive form is
    # applied in SQL (keystone 30.0.0 keystone/common/sql/core.py
    # inexact_filter leaves case-sensitive ones to the controller, after
    # loading every row; 'name' is the list's filter, keystone/api/users.py
    # UserAppCredListCreateResource.get). The prefix is lower case; the
    # check below keeps a Keystone that ignores the filter correct.
    resp = _request(context, 'GET',
                    '/users/%s/application_credentials' % cluster.user_id,
                    expect=(200,), params={'name__istartswith': prefix})
    found = []
    for cred in resp.json().get('application_credentials') or ():
        if (cred.get('name') or '').startswith(prefix):
            found.append((cred['id'], cred['name']))
    return sorted(found, key=lambda c: c[1])


def delete(context, cluster, cred_id):
    """Delete one credential of the cluster's owner (404 is fine)."""
    _request(context, 'DELETE', '/users/%s/application_credentials/%s'
             % (cluster.user_id, cred_id), expect=(204, 200, 404))


def _delete_with(context, cluster, keep):
    deleted = 0
    for cred_id, _name in list_for(context, cluster):
        if cred_id in keep:
            continue
        delete(context, cluster, cred_id)
        deleted += 1
    return deleted


def delete_all(context, cluster, keep=(), service_context=None):
    """Delete the cluster's credentials (except ``keep``); idempotent.

    The owner may not be the user deleting the cluster; then the service
    credentials (``service_context``, an admin context) are used, which
    Keystone's default policy (admin or owner) allows.

    :returns: number of credentials deleted.
    """
    keep = set(keep or ())
    try:
        return _delete_with(context, cluster, keep)
    except CredentialError as e:
        if service_context is None or e.code not in (401, 403, 404):
            raise
        LOG.info('Deleting application credentials of cluster %s as the '
                 'service user (request user got %s)', cluster.uuid, e.code)
    return _delete_with(service_context, cluster, keep)
