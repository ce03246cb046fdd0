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
"""Keep secrets out of reports.

Two nets: values under keys that name secrets are replaced, and every
string is scrubbed of known secret values (the password, application
credential secret or token of the cloud config) and of credentials
embedded in URLs.
"""

import re

MASK = '***'
_SECRET_KEY = re.compile(
    r'(passw|secret|token|private|credential_secret|authorization|'
    r'x-auth|^key$|key_pem|client_key|cert_pem|^pem$|kubeconfig_data)',
    re.IGNORECASE)
_URL_USERINFO = re.compile(r'(\b[a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@',
                           re.IGNORECASE)
# Public identifiers that merely mention the words.
_ALLOWED_KEYS = frozenset(['token_expires', 'max_tokens'])
MIN_SECRET_LENGTH = 4


def is_secret_key(key):
    return (isinstance(key, str) and key not in _ALLOWED_KEYS and
            bool(_SECRET_KEY.search(key)))


def secrets_of(cloud_config):
    """Secret values in an openstacksdk cloud config dict."""
    out = []

    def walk(obj):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if is_secret_key(k) and isinstance(v, str) and v:
                    out.append(v)
                else:
                    walk(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v)
    walk(cloud_config or {})
    return out


def scrub_text(text, secrets=()):
    text = _URL_USERINFO.sub(r'\1%s@' % MASK, text)
    for s in sorted(set(secrets or ()), key=len, reverse=True):
        if s and len(s) >= MIN_SECRET_LENGTH:
            text = text.replace(s, MASK)
    return text


def scrub(obj, secrets=()):
    """A deep copy of ``obj`` without secrets."""
    if isinstance(obj, dict):
        return {k: (MASK if is_secret_key(k) and v not in (None, '', {}, [])
                    else scrub(v, secrets)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub(v, secrets) for v in obj]
    if isinstance(obj, str):
        return scrub_text(obj, secrets)
    return obj
