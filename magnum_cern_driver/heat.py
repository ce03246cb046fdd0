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
"""The Heat adapter: Keystone sessions, stack calls, failure reasons.

Magnum 23 has no Heat client of its own, so this module owns all Heat
access. Three rules shape it:

* Sockets are reused. Every Keystone session created here shares one
  ``requests.Session`` (one urllib3 connection pool per host), and sessions
  are cached per auth identity, so a poll loop over many clusters does not
  open a connection (or a token request) per call. Magnum once ran out of
  file descriptors at scale.
* Identity: the user's token when Magnum passes a user context; the
  ``[keystone_auth]`` service credentials for the periodic status task
  (admin context without a token). With the admin role Heat lets that user
  read the stack of any project.
* Errors are translated into three kinds callers can act on:
  :class:`StackNotFound` (404: the stack is gone), :class:`HeatTransient`
  (5xx, time-outs, connection errors: retry later) and :class:`HeatError`
  (anything else: the request itself was refused). Messages never contain
  secret parameter values (see ``redact``).
"""

import collections
import contextlib
import hashlib
import logging as std_logging
import threading

from heatclient import client as heat_client
from heatclient.common import template_utils
from heatclient import exc as heat_exc
from keystoneauth1.access import access as ka_access
from keystoneauth1 import exceptions as ka_exc
from keystoneauth1.identity import access as ka_access_plugin
from keystoneauth1.identity import v3 as ka_v3
from keystoneauth1 import loading as ka_loading
from oslo_config import cfg
from oslo_log import log as logging
import requests

from magnum_cern_driver import conf as cern_conf

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

KEYSTONE_GROUP = 'keystone_auth'

# Per-request time-out (seconds) when [keystone_auth] timeout is unset: a
# hung Heat API must not hold a conductor green thread forever.
DEFAULT_TIMEOUT = 60
# How many per-token sessions to keep. User tokens differ per request; the
# service session is one entry. All of them share the same socket pool.
MAX_CACHED_SESSIONS = 128
# Depth of the resource tree searched for the deepest failure: root ->
# shard (nested stack) -> ResourceGroup (nested stack) -> server, plus
# margin for nested templates of sites.
FAILURE_NESTED_DEPTH = 5
# Status codes retried inside one idempotent call (GET, DELETE, PATCH).
RETRIABLE_STATUS = (500, 502, 503, 504)
# How much of Heat's reason to keep in a status_reason.
MAX_REASON = 1000

# keystoneauth logs request and response bodies at DEBUG. Calls that carry
# secret parameters (stack create and update) go through this logger, which
# drops everything, so turning on debug logging cannot leak them.
QUIET_LOG = std_logging.getLogger('magnum_cern_driver.heat.no_bodies')
QUIET_LOG.addHandler(std_logging.NullHandler())
QUIET_LOG.propagate = False
QUIET_LOG.disabled = True


class HeatError(Exception):
    """Heat refused the request (message is safe to show to the user)."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class StackNotFound(HeatError):
    """The stack does not exist (any more)."""


class HeatTransient(HeatError):
    """Heat could not be reached or failed internally; worth retrying."""


def redact(text, secrets):
    """Return ``text`` with every non-empty secret value replaced.

    A multi-line secret (a PEM key) reaches user data re-indented, so it
    never appears whole: each of its longer lines is replaced as well.
    """
    text = str(text)
    for value in secrets or ():
        if not (value and isinstance(value, str) and len(value) >= 4):
            continue
        text = text.replace(value, '***')
        for line in value.splitlines():
            line = line.strip()
            if len(line) >= 16:
                text = text.replace(line, '***')
    return text


# --------------------------------------------------------------------------
# Sessions


# oslo.messaging's executor_thread_pool_size (default 64, oslo_messaging
# server.py, 18.3.1): the conductor's RPC handler threads.
POOL_MAXSIZE = 64
_LOCK = threading.Lock()
_HTTP = None
_SESSIONS = collections.OrderedDict()


def _shared_http():
    """The one ``requests.Session`` every Keystone session here uses."""
    global _HTTP
    with _LOCK:
        if _HTTP is None:
            http = requests.Session()
            # One pool per host (and port); a conductor talks to a
            # handful. Up to POOL_MAXSIZE requests to one of them at once
            # keep their connections: with 16, the 1000-cluster fleet's
            # conductor discarded connections 85 times ("Connection pool
            # is full"), its RPC handlers alone being 64 threads.
            adapter = requests.adapters.HTTPAdapter(
                pool_connections=8, pool_maxsize=POOL_MAXSIZE)
            http.mount('https://', adapter)
            http.mount('http://', adapter)
            _HTTP = http
        return _HTTP


def reset_sessions():
    """Drop every cached session and close the shared pool (tests, reload)."""
    global _HTTP
    with _LOCK:
        _SESSIONS.clear()
        if _HTTP is not None:
            _HTTP.close()
        _HTTP = None


def _auth_url():
    url = None
    try:
        url = CONF[KEYSTONE_GROUP].auth_url
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
        pass
    if not url:
        try:
            url = CONF.keystone_authtoken.www_authenticate_uri
        except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
            url = None
    return url


def _identity(context):
    """(cache key, auth plugin factory) for a Magnum request context."""
    token = getattr(context, 'auth_token', None)
    if token:
        digest = hashlib.sha256(token.encode('utf-8')).hexdigest()
        token_info = getattr(context, 'auth_token_info', None)

        def make():
            if token_info:
                access = ka_access.create(body=token_info, auth_token=token)
                return ka_access_plugin.AccessInfoPlugin(access)
            return ka_v3.Token(auth_url=_auth_url(), token=token,
                               project_id=context.project_id)
        return ('token', digest), make
    if getattr(context, 'is_admin', False):
        def make():
            return ka_loading.load_auth_from_conf_options(CONF,
                                                          KEYSTONE_GROUP)
        return ('service',), make
    raise HeatError('No credentials to reach Heat: the request context has '
                    'no token and is not an admin context.')


def get_session(context):
    """A cached keystoneauth session for ``context`` (created once)."""
    key, make = _identity(context)
    with _LOCK:
        sess = _SESSIONS.get(key)
        if sess is not None:
            _SESSIONS.move_to_end(key)
            return sess
    http = _shared_http()
    try:
        auth = make()
    except ka_exc.ClientException as e:
        raise HeatError('Cannot load the [%s] credentials: %s'
                        % (KEYSTONE_GROUP, type(e).__name__))
    kwargs = {'auth': auth, 'session': http}
    if CONF[KEYSTONE_GROUP].timeout is None:
        kwargs['timeout'] = DEFAULT_TIMEOUT
    sess = ka_loading.load_session_from_conf_options(CONF, KEYSTONE_GROUP,
                                                     **kwargs)
    with _LOCK:
        _SESSIONS[key] = sess
        while len(_SESSIONS) > MAX_CACHED_SESSIONS:
            _SESSIONS.popitem(last=False)
    return sess


# --------------------------------------------------------------------------
# Error translation


def _heat_message(exc):
    error = getattr(exc, 'error', None) or {}
    message = (error.get('error') or {}).get('message')
    return message or str(exc)


@contextlib.contextmanager
def translate(what, secrets=()):
    """Turn heatclient/keystoneauth errors into the three kinds above."""
    try:
        yield
    except heat_exc.HTTPNotFound as e:
        raise StackNotFound('%s: not found in Heat (%s)'
                            % (what, redact(_heat_message(e), secrets)),
                            code=404)
    except heat_exc.HTTPException as e:
        code = e.code if isinstance(e.code, int) else None
        message = redact(_heat_message(e), secrets)
        if code is None or code >= 500:
            raise HeatTransient('%s: Heat error %s: %s'
                                % (what, code or '?', message), code=code)
        raise HeatError('%s: Heat refused the request (%s): %s'
                        % (what, code, message), code=code)
    except (ka_exc.ConnectionError, ka_exc.RetriableConnectionFailure,
            heat_exc.CommunicationError, requests.RequestException) as e:
        raise HeatTransient('%s: Heat unreachable (%s)'
                            % (what, type(e).__name__))
    except ka_exc.DiscoveryFailure as e:
        # Keystone itself could not be reached or understood.
        raise HeatTransient('%s: identity service unreachable (%s)'
                            % (what, type(e).__name__))
    except ka_exc.HttpServerError as e:
        raise HeatTransient('%s: identity service error %s'
                            % (what, e.http_status), code=e.http_status)
    except ka_exc.EndpointNotFound:
        raise HeatError('%s: no orchestration endpoint in the catalog '
                        '(interface %s, region %s)'
                        % (what, CONF.cern_driver.heat_endpoint_interface,
                           CONF.cern_driver.heat_region_name or 'any'))
    except ka_exc.ClientException as e:
        # Authentication and catalog problems: a name, never the payload.
        raise HeatError('%s: keystone error (%s)' % (what, type(e).__name__))


# --------------------------------------------------------------------------
# Stack calls


def _stack_ref(stack_id, stack_name=None):
    # name/id avoids Heat's redirect from /stacks/<id> (one HTTP request).
    return '%s/%s' % (stack_name, stack_id) if stack_name else stack_id


def stack_id_of(resource):
    """Id of the stack a listed resource belongs to (its 'stack' link)."""
    for link in resource.get('links') or ():
        if link.get('rel') == 'stack':
            return link.get('href', '').rstrip('/').rsplit('/', 1)[-1]
    return None


def deepest(resources, status_suffix):
    """Resources in a status ending ``status_suffix`` with none inside.

    ``resources`` are dicts as Heat lists them with ``nested_depth``. A
    nested stack (shard, group) that failed or is in progress is the
    parent of members in that state; the leaves are what a user can act
    on.
    """
    matching = [r for r in resources
                if str(r.get('resource_status', '')).endswith(status_suffix)]
    parents = {stack_id_of(r) for r in matching}
    leaves = [r for r in matching
              if not r.get('physical_resource_id')
              or r.get('physical_resource_id') not in parents]
    return leaves or matching


def deepest_failures(resources):
    """Failed resources that contain no failed resource themselves."""
    return deepest(resources, 'FAILED')


class Heat(object):
    """Stack operations for one request context.

    Cheap to build: the session comes from the cache, the client object
    does no I/O.
    """

    def __init__(self, context, retries=None):
        self.session = get_session(context)
        if retries is None:
            retries = CONF.cern_driver.heat_api_retries
        opts = CONF[cern_conf.GROUP]
        common = dict(session=self.session,
                      service_type='orchestration',
                      interface=opts.heat_endpoint_interface)
        if opts.heat_region_name:
            common['region_name'] = opts.heat_region_name
        # Idempotent calls retry connection failures and 5xx answers.
        self._client = heat_client.Client(
            '1', connect_retries=retries, status_code_retries=retries,
            retriable_status_codes=list(RETRIABLE_STATUS), **common)
        # Calls that carry secrets never log bodies. An update (PATCH with
        # the same values) is idempotent; a create is not, and is never
        # re-sent here: keystoneauth counts a read time-out as a connect
        # failure (session.py maps every requests Timeout to
        # ConnectTimeout), so its connect retries re-send a POST Heat is
        # already working on (seen: 73 extra POSTs, each a full template
        # validation, for 50 creates at once). The driver re-sends a
        # create only once Heat shows no stack of that name
        # (driver._create_stack).
        self._update_client = heat_client.Client(
            '1', connect_retries=retries, status_code_retries=retries,
            retriable_status_codes=list(RETRIABLE_STATUS), logger=QUIET_LOG,
            **common)
        self._create_client = heat_client.Client(
            '1', connect_retries=0, logger=QUIET_LOG, **common)

    # -- reads

    def get_stack(self, stack_id, stack_name=None, outputs=False):
        """The stack as a dict; outputs resolved only when asked.

        Resolving outputs makes Heat load every resource of the stack, so
        the poll asks without outputs while the stack is in progress.
        """
        with translate('stack %s' % stack_id):
            stack = self._client.stacks.get(
                _stack_ref(stack_id, stack_name), resolve_outputs=outputs)
        return stack.to_dict()

    def find_stack_id(self, stack_name):
        """Id of the stack called ``stack_name``, or None."""
        try:
            with translate('stack %s' % stack_name):
                stack = self._client.stacks.get(stack_name,
                                                resolve_outputs=False)
        except StackNotFound:
            return None
        return stack.to_dict().get('id')

    def get_output(self, stack_id, stack_name, key):
        """One output's value (Heat resolves only that output)."""
        with translate('output %s of stack %s' % (key, stack_id)):
            body = self._client.stacks.output_show(
                _stack_ref(stack_id, stack_name), key)
        output = (body or {}).get('output') or {}
        if output.get('output_error'):
            raise HeatError('output %s of stack %s: %s'
                            % (key, stack_id, output['output_error']))
        return output.get('output_value')

    def resources(self, stack_id, stack_name=None, nested_depth=0,
                  filters=None):
        with translate('resources of stack %s' % stack_id):
            kwargs = {}
            if nested_depth:
                kwargs['nested_depth'] = nested_depth
            if filters:
                kwargs['filters'] = filters
            found = self._client.resources.list(
                _stack_ref(stack_id, stack_name), **kwargs)
        return [r.to_dict() for r in found]

    def in_progress_resources(self, stack_id, stack_name=None):
        """Every resource in progress, at every depth (one Heat call)."""
        return self.resources(stack_id, stack_name,
                              nested_depth=FAILURE_NESTED_DEPTH,
                              filters={'status': 'IN_PROGRESS'})

    def failure_reason(self, stack_id, stack_name=None, stack=None):
        """Name the deepest failed resource and Heat's reason for it.

        Never raises: when the resources cannot be listed, Heat's stack
        status reason is returned instead.
        """
        fallback = (stack or {}).get('stack_status_reason') or ''
        try:
            resources = self.resources(stack_id, stack_name,
                                       nested_depth=FAILURE_NESTED_DEPTH,
                                       filters={'status': 'FAILED'})
        except HeatError as e:
            LOG.warning('Cannot list failed resources of stack %s: %s',
                        stack_id, e)
            return fallback[:MAX_REASON]
        leaves = deepest_failures(resources)
        if not leaves:
            return fallback[:MAX_REASON]
        parts = []
        for r in leaves[:3]:
            where = r.get('resource_name')
            if r.get('parent_resource'):
                where = '%s/%s' % (r['parent_resource'], where)
            parts.append('%s (%s): %s' % (
                where, r.get('resource_type', '?'),
                r.get('resource_status_reason') or r.get('resource_status')))
        if len(leaves) > 3:
            parts.append('and %d more failed resources' % (len(leaves) - 3))
        return '; '.join(parts)[:MAX_REASON]

    # -- writes

    @staticmethod
    def _environment(environment_files):
        if not environment_files:
            return {}, {}, []
        files, env = template_utils.process_multiple_environments_and_files(
            env_paths=list(environment_files))
        return files, env, []

    def create_stack(self, name, template, files=None, parameters=None,
                     environment_files=None, timeout_mins=None, tags=None,
                     secrets=()):
        """Create a stack and return its id."""
        env_files, env, _ = self._environment(environment_files)
        all_files = dict(files or {})
        all_files.update(env_files)
        fields = {
            'stack_name': name,
            'template': template,
            'files': all_files,
            'parameters': dict(parameters or {}),
            'environment': env,
            'disable_rollback': True,
        }
        if timeout_mins:
            fields['timeout_mins'] = int(timeout_mins)
        if tags:
            fields['tags'] = ','.join(tags)
        with translate('create stack %s' % name, secrets):
            body = self._create_client.stacks.create(**fields)
        return body['stack']['id']

    def update_stack(self, stack_id, stack_name=None, parameters=None,
                     template=None, files=None, environment_files=None,
                     timeout_mins=None, clear_parameters=None, secrets=()):
        """Partial update (PATCH): existing parameters and template kept.

        Only what is given is sent: ``parameters`` should hold just the
        changed values, ``template``/``files`` only when the layout changed.
        """
        fields = {'existing': True,
                  'parameters': dict(parameters or {}),
                  'disable_rollback': True}
        if template is not None:
            env_files, env, _ = self._environment(environment_files)
            all_files = dict(files or {})
            all_files.update(env_files)
            fields['template'] = template
            fields['files'] = all_files
            if env:
                fields['environment'] = env
        if timeout_mins:
            fields['timeout_mins'] = int(timeout_mins)
        if clear_parameters:
            fields['clear_parameters'] = list(clear_parameters)
        with translate('update stack %s' % stack_id, secrets):
            self._update_client.stacks.update(
                _stack_ref(stack_id, stack_name), **fields)

    def delete_stack(self, stack_id, stack_name=None):
        """Start deleting; True if started, False if the stack was gone."""
        try:
            with translate('delete stack %s' % stack_id):
                self._client.stacks.delete(_stack_ref(stack_id, stack_name))
        except StackNotFound:
            return False
        except HeatError as e:
            if e.code == 409:
                # A delete is already running (a second delete request).
                return True
            raise
        return True
