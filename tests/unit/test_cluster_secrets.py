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
"""cluster_secrets: the hash and the redaction (Magnum side: test_driver)."""

import subprocess

import testtools

from magnum_cern_driver import cluster_secrets
from magnum_cern_driver import params
from tests.unit.fragments import sandbox


class ClusterSecretsTest(testtools.TestCase):

    def test_ca_cert_hash_is_kubeadms(self):
        # kubeadm's documented recipe: sha256 of the DER public key.
        cert, _key = sandbox.shared_ca()
        pub = subprocess.run(['openssl', 'x509', '-pubkey', '-noout'],
                             input=cert, capture_output=True, text=True,
                             check=True).stdout
        der = subprocess.run(['openssl', 'pkey', '-pubin', '-outform', 'der'],
                             input=pub.encode(), capture_output=True,
                             check=True).stdout
        digest = subprocess.run(['openssl', 'dgst', '-sha256', '-hex'],
                                input=der, capture_output=True,
                                check=True).stdout.decode().split()[-1]
        self.assertEqual('sha256:' + digest,
                         cluster_secrets.ca_cert_hash(cert))

    def test_redaction_covers_keys_and_the_compressed_archive(self):
        values = sandbox.secrets('master')
        secrets = params.Secrets(**{k: v for k, v in values.items()
                                    if k in params.Secrets.FIELDS})
        text = sandbox.render('master')

        class Spec:
            hidden_parameters = frozenset({'master_user_data'})
            parameters = {'master_user_data': text}
        redacted = cluster_secrets.redaction_values(secrets, Spec)
        self.assertIn(values['ca_key'], redacted)
        self.assertIn(values['bootstrap_token'], redacted)
        self.assertIn(values['app_cred_secret'], redacted)
        blobs = [v for v in redacted if v not in values.values()]
        self.assertTrue(any(len(b) > 1000 and b in text for b in blobs))
        self.assertNotIn('', redacted)
