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
"""What the operator documentation tells people to set and run exists.

* Every option the devstack plugin, ``devstack/local.conf.sample``,
  ``devstack/README.rst``, ``docs/operator-guide.md`` and the ``etc/``
  snippets set or name is registered: ``[cern_driver]`` options by
  ``magnum_cern_driver.conf``, the others by Magnum or Heat.
* Every ``magnum-cern-selftest`` subcommand and flag they show exists
  (read from the command's ``--help``).
* The numbers the snippets and example templates quote are what the
  budget command prints, and the Heat settings cover them.
* The example templates produce arguments the real
  ``openstack coe cluster template create`` parser accepts.
* Every Markdown file of ``docs/`` is a page of the Sphinx documentation.

That every ``[cern_driver]`` option is documented, with its type, default
and help, is not checked here: ``doc/source/configuration.rst`` renders
them from the code with ``oslo_config.sphinxext`` (``tox -e docs``). What
remains are the names people wrote by hand, which Sphinx does not read.
"""

import configparser
import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from unittest import mock

import fixtures
import testtools
import yaml

from magnum_cern_driver import conf as cern_conf

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
VENV_BIN = os.path.dirname(sys.executable)
TOOL = os.path.join(REPO, 'devstack', 'tools', 'cluster-template.py')
TEMPLATES = sorted(glob.glob(os.path.join(REPO, 'etc', 'cluster-templates',
                                          '*.yaml')))
HEAT_SAMPLE = os.path.join(REPO, 'etc', 'heat.conf.large-stacks.sample')
MAGNUM_SNIPPET = os.path.join(REPO, 'etc', 'magnum.conf.snippet')
GUIDE = os.path.join(REPO, 'docs', 'operator-guide.md')
DS_README = os.path.join(REPO, 'devstack', 'README.rst')
DS_PLUGIN = os.path.join(REPO, 'devstack', 'plugin.sh')
DS_LOCAL_CONF = os.path.join(REPO, 'devstack', 'local.conf.sample')
DOCS = [GUIDE, DS_README, DS_LOCAL_CONF, HEAT_SAMPLE, MAGNUM_SNIPPET,
        os.path.join(REPO, 'etc', 'cluster-templates', 'README.rst')]
DOCS += TEMPLATES + glob.glob(os.path.join(REPO, 'elements', '*',
                                           'README.rst'))


def _read(path):
    with open(path) as f:
        return f.read()


def _ini(text):
    """Parse an ini text.

    Commented-out ``#name = value`` lines count as set: operators
    uncomment them.
    """
    text = re.sub(r'(?m)^#([a-z_]+ = )', r'\1', text)
    parser = configparser.ConfigParser(interpolation=None, strict=False,
                                       default_section='__none__')
    parser.optionxform = str
    parser.read_string(text)
    return parser


def _local_conf_sections(text):
    """[[post-config|$FILE]] blocks of a devstack local.conf."""
    blocks = {}
    for match in re.finditer(r'(?ms)^\[\[post-config\|\$(\w+)\]\]\n(.*?)'
                             r'(?=^\[\[|\Z)', text):
        blocks[match.group(1)] = _ini(match.group(2))
    return blocks


def _pairs(parser):
    return {(s, o) for s in parser.sections() for o in parser.options(s)}


def _cern_options():
    return {opt.dest for opt in cern_conf.ALL_OPTS}


_COLLECT = """
import json, sys
names = {}
def add(source):
    for group, opts in source:
        name = getattr(group, 'name', group) or 'DEFAULT'
        names.setdefault(name, set()).update(o.dest for o in opts)
try:
    if sys.argv[1] == 'magnum':
        import magnum.conf
        from magnum.conf import opts
        add(opts.list_opts())
    else:
        from heat.common import config
        from heat.common import crypt
        import oslo_messaging.opts
        add(config.list_opts())
        add(crypt.list_opts())
        add(oslo_messaging.opts.list_opts())
    from oslo_db import options as db_options
    add(db_options.list_opts())
except ImportError:
    print('null')
else:
    print(json.dumps({k: sorted(v) for k, v in names.items()}))
"""
_REGISTRIES = {}


def _registered(service):
    """{group: {option}} registered by Magnum or Heat, or None.

    Read in a child process: importing both services' options into this
    process's global configuration would collide (both register 'host').
    """
    if service not in _REGISTRIES:
        proc = subprocess.run([sys.executable, '-c', _COLLECT, service],
                              capture_output=True, text=True, timeout=300)
        data = None
        if proc.returncode == 0:
            data = json.loads(proc.stdout.strip().splitlines()[-1])
        if data is not None:
            data = {k: set(v) for k, v in data.items()}
        _REGISTRIES[service] = data
    return _REGISTRIES[service]


def _magnum_options():
    return _registered('magnum')


def _heat_options():
    return _registered('heat')


def _selftest_bin():
    path = os.path.join(VENV_BIN, 'magnum-cern-selftest')
    return path if os.path.exists(path) else shutil.which(
        'magnum-cern-selftest')


def _selftest_help(*args):
    """The output of ``magnum-cern-selftest [ARGS] --help``.

    Runs the module when the console script is not installed.
    """
    exe = _selftest_bin()
    command = [exe] if exe else [sys.executable, '-m',
                                 'magnum_cern_driver.selftest.cli']
    proc = subprocess.run(command + list(args) + ['--help'],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or 'usage' not in proc.stdout.lower():
        raise AssertionError('magnum-cern-selftest %s --help failed (exit '
                             '%d): %s' % (' '.join(args), proc.returncode,
                                          proc.stderr[-2000:]))
    return proc.stdout


def _commands(help_text):
    """Subcommands listed by argparse (indented under COMMAND)."""
    return set(re.findall(r'(?m)^    ([a-z][a-z-]*)(?:  |\n)', help_text))


def _flags(help_text):
    return set(re.findall(r'(--[a-z][a-z-]*)', help_text or ''))


def _selftest_interface():
    """(subcommand -> flags, rehearsal actions) of magnum-cern-selftest.

    Read from its --help.
    """
    main = _selftest_help()
    interface = {}
    for sub in _commands(main):
        interface[sub] = _flags(main) | _flags(_selftest_help(sub))
    # no subcommand means "run"
    interface[''] = _flags(main) | interface.get('run', set())
    actions = _commands(_selftest_help('rehearsal'))
    return interface, actions


def _selftest_invocations():
    """(document, words) of every magnum-cern-selftest command shown."""
    found = []
    for path in DOCS:
        text = _read(path)
        # join continued lines and drop comment markers
        text = re.sub(r'\\\n\s*#?\s*', ' ', text)
        for line in text.splitlines():
            line = line.strip().lstrip('#').strip()
            for match in re.finditer(r'magnum-cern-selftest((?: +[^ `\'"]+)*)',
                                     line):
                words = match.group(1).split()
                found.append((os.path.relpath(path, REPO), words))
    return found


_BUDGETS = {}


def _budget(masters, workers, labels):
    """The budget command's JSON for a shape (cached per process)."""
    key = (masters, workers, tuple(sorted(labels.items())))
    if key not in _BUDGETS:
        _BUDGETS[key] = _run_budget(masters, workers, labels)
    return _BUDGETS[key]


def _run_budget(masters, workers, labels):
    """The budget command's JSON for a shape: the CLI, or its library."""
    exe = _selftest_bin()
    args = ['--masters', str(masters), '--workers', str(workers)]
    for key in sorted(labels):
        args += ['--label', '%s=%s' % (key, labels[key])]
    if exe:
        proc = subprocess.run([exe, 'budget'] + args + ['--format', 'json'],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode == 0:
            try:
                return json.loads(proc.stdout)
            except ValueError:
                pass
    try:
        from magnum_cern_driver import budget
    except ImportError:
        return None
    lb = labels.get('master_lb_enabled') == 'true'
    return budget.count(masters, workers, labels=labels,
                        master_lb_enabled=lb)


def _tool():
    spec = importlib.util.spec_from_file_location('cluster_template', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _template(path):
    tool = _tool()
    return tool, tool.load(path)


class OptionNamesTest(testtools.TestCase):

    def _check(self, where, pairs):
        """pairs: {(section, option)}; each must be registered."""
        cern = _cern_options()
        magnum = _magnum_options()
        heat = _heat_options()
        self.assertTrue(pairs, '%s: found no options to check' % where)
        for section, option in sorted(pairs):
            if section == 'cern_driver':
                self.assertIn(option, cern, '%s: [cern_driver] %s is not '
                              'an option of the driver' % (where, option))
                continue
            known = []
            if magnum is not None:
                known.append(magnum.get(section, set()))
            if heat is not None:
                known.append(heat.get(section, set()))
            if not known:
                continue
            self.assertTrue(any(option in k for k in known),
                            '%s: [%s] %s is registered by neither Magnum '
                            'nor Heat' % (where, section, option))

    def test_the_check_catches_a_wrong_name(self):
        self.assertRaises(AssertionError, self._check, 'x',
                          {('cern_driver', 'worker_shards_size')})
        if _magnum_options() is not None:
            self.assertRaises(AssertionError, self._check, 'x',
                              {('drivers', 'default_drivers')})

    def test_devstack_plugin(self):
        text = _read(DS_PLUGIN)
        pairs = set(re.findall(r'iniset\s+"\$conf"\s+(\w+)\s+(\w+)', text))
        self.assertGreaterEqual(len(pairs), 10)
        self._check('devstack/plugin.sh', pairs)
        self.assertEqual({'application_credentials', 'ca_bundle_file',
                          'default_labels', 'stack_timeout',
                          'unknown_labels', 'worker_shard_size'},
                         {o for s, o in pairs if s == 'cern_driver'})

    def test_devstack_local_conf(self):
        blocks = _local_conf_sections(_read(DS_LOCAL_CONF))
        self.assertEqual({'MAGNUM_CONF', 'HEAT_CONF'}, set(blocks))
        magnum = _pairs(blocks['MAGNUM_CONF'])
        self.assertIn('cern_driver', {s for s, _ in magnum})
        self._check('local.conf.sample [[post-config|$MAGNUM_CONF]]', magnum)
        heat = _heat_options()
        for section, option in _pairs(blocks['HEAT_CONF']):
            if heat is not None:
                self.assertIn(option, heat.get(section, set()))

    def test_devstack_readme(self):
        text = _read(DS_README)
        part = text[text.index('``stack post-config``'):
                    text.index('``stack extra``')]
        names = set(re.findall(r'``(?:\[\w+\] )?([a-z][a-z_]*_[a-z_]+)'
                               r'(?: = [^`]+)?``', part))
        self.assertGreaterEqual(len(names), 10)
        cern = _cern_options()
        magnum = _magnum_options() or {}
        heat = _heat_options() or {}
        everything = set(cern)
        for registry in (magnum, heat):
            for opts in registry.values():
                everything |= opts
        for name in sorted(names):
            self.assertIn(name, everything,
                          'devstack/README.rst names option %s' % name)

    def test_magnum_snippet(self):
        pairs = _pairs(_ini(_read(MAGNUM_SNIPPET)))
        self.assertIn(('cern_driver', 'worker_shard_size'), pairs)
        self.assertIn(('drivers', 'default_driver'), pairs)
        self._check('etc/magnum.conf.snippet', pairs)

    def test_heat_sample(self):
        pairs = _pairs(_ini(_read(HEAT_SAMPLE)))
        self.assertIn(('DEFAULT', 'max_resources_per_stack'), pairs)
        heat = _heat_options()
        if heat is None:
            self.skipTest('openstack-heat is not installed')
        for section, option in pairs:
            self.assertIn(option, heat.get(section, set()),
                          'heat sample: [%s] %s' % (section, option))

    def test_operator_guide(self):
        text = _read(GUIDE)
        pairs = set()
        for block in re.findall(r'(?s)```ini\n(.*?)```', text):
            pairs |= _pairs(_ini(block))
        pairs |= set(re.findall(r'`\[(\w+)\]\s+(\w+)`', text))
        self.assertGreaterEqual(len(pairs), 10)
        self._check('docs/operator-guide.md', pairs)


class SphinxPagesTest(testtools.TestCase):
    """docs/ is the single source of the prose the Sphinx pages include."""

    def test_every_markdown_file_is_included_once(self):
        source = os.path.join(REPO, 'doc', 'source')
        included = []
        for page in glob.glob(os.path.join(source, '**', '*.md'),
                              recursive=True):
            for ref in re.findall(r'(?m)^```\{include\} (\S+)$', _read(page)):
                included.append(os.path.normpath(os.path.join(
                    os.path.dirname(page), ref)))
        markdown = glob.glob(os.path.join(REPO, 'docs', '**', '*.md'),
                             recursive=True)
        self.assertGreaterEqual(len(markdown), 10)
        for path in sorted(markdown):
            if os.path.relpath(path, REPO) == os.path.join('docs',
                                                           'labels.md'):
                # the labels page is generated from the schema at build
                # time, not included from this copy
                continue
            self.assertEqual(1, included.count(path),
                             '%s is not included by exactly one page of '
                             'doc/source' % os.path.relpath(path, REPO))


class CommandsTest(testtools.TestCase):

    def test_selftest_is_a_console_script(self):
        setup = configparser.ConfigParser()
        setup.read(os.path.join(REPO, 'setup.cfg'))
        scripts = setup.get('entry_points', 'console_scripts')
        self.assertIn('magnum-cern-selftest =', scripts)
        drivers = setup.get('entry_points', 'magnum.drivers')
        self.assertIn('k8s_cern_heat_v1 =', drivers)

    def test_documented_selftest_commands_exist(self):
        interface, actions = _selftest_interface()
        invocations = _selftest_invocations()
        self.assertGreaterEqual(len(invocations), 8)
        subcommands = set(interface) - {''}
        for where, words in invocations:
            sub = ''
            if words and not words[0].startswith('-'):
                if words[0] in ('<subcommand>',):
                    continue
                sub = words[0]
                self.assertIn(sub, subcommands, '%s: magnum-cern-selftest '
                              '%s is not a subcommand' % (where, sub))
            flags = {w.split('=')[0] for w in words if w.startswith('--')}
            flags.discard('--help')
            if sub == 'rehearsal':
                action = words[1] if len(words) > 1 else ''
                self.assertIn(action, actions, where)
                continue
            self.assertEqual(set(), flags - interface[sub],
                             '%s: magnum-cern-selftest %s: unknown flags'
                             % (where, sub))

    def test_other_documented_tools_exist(self):
        # Commands the guide and READMEs run, from packages we depend on.
        for script, module in (('oslo-config-generator', 'oslo_config'),
                               ('disk-image-create', 'diskimage_builder'),
                               ('dib-lint', 'diskimage_builder')):
            try:
                __import__(module)
            except ImportError:
                continue
            self.assertTrue(os.path.exists(os.path.join(VENV_BIN, script))
                            or shutil.which(script), script)

    def test_documented_repository_paths_exist(self):
        pattern = re.compile(r'(?<![\w/.$-])((?:etc|devstack|elements|docs|'
                             r'magnum_cern_driver|tools)/[\w./<>-]*[\w>])')
        for path in DOCS:
            for ref in set(pattern.findall(_read(path))):
                if '<' in ref:
                    continue
                if ref == 'etc/magnum-cern-driver.conf.sample':
                    # generated by the lead's tox env from this file
                    ref = 'etc/oslo-config-generator/magnum-cern-driver.conf'
                self.assertTrue(os.path.exists(os.path.join(REPO, ref)),
                                '%s names %s, which does not exist'
                                % (os.path.relpath(path, REPO), ref))


class TemplatesTest(testtools.TestCase):

    def test_there_are_three_examples(self):
        self.assertEqual(['k8s-cern-huge', 'k8s-cern-large',
                          'k8s-cern-small'],
                         [os.path.basename(t)[:-5] for t in TEMPLATES])

    def test_name_is_the_file_name(self):
        for path in TEMPLATES:
            with open(path) as f:
                self.assertEqual(os.path.basename(path)[:-5],
                                 yaml.safe_load(f)['name'])

    def test_openstack_client_accepts_the_arguments(self):
        try:
            from magnumclient.common import utils
            from magnumclient.osc.v1 import cluster_templates
        except ImportError:
            self.skipTest('python-magnumclient is not installed')
        for path in TEMPLATES:
            tool, (name, template, labels, _sizing) = _template(path)
            args = tool.create_args(name, template, labels)
            cmd = cluster_templates.CreateClusterTemplate(mock.Mock(), None)
            parser = cmd.get_parser('openstack coe cluster template create')
            ns = parser.parse_args(args)
            self.assertEqual(name, ns.name)
            self.assertEqual(template['image'], ns.image)
            self.assertEqual(template['master_lb_enabled'],
                             ns.master_lb_enabled)
            # the client turns --labels back into the same mapping
            self.assertEqual(labels, utils.format_labels(ns.labels))

    def test_the_tool_rejects_bad_labels(self):
        tool = _tool()
        bad = os.path.join(self.useFixture(fixtures.TempDir()).path,
                           'bad.yaml')
        with open(bad, 'w') as f:
            f.write('name: bad\nsizing: {masters: 1, workers: 1}\n'
                    'template: {coe: kubernetes, image: i, '
                    'external_network: e, labels: {kube_tag: latest}}\n')
        self.assertRaises(tool.TemplateError, tool.load, bad)


class NumbersTest(testtools.TestCase):
    """The figures quoted in etc/ and the guide are the budget's."""

    def setUp(self):
        super().setUp()
        self.budgets = {}
        for path in TEMPLATES:
            tool, (name, template, labels, sizing) = _template(path)
            args = tool.budget_args(template, labels, sizing)
            blabels = dict(a.split('=', 1) for a in args[args.index(
                '--label') + 1::2]) if '--label' in args else {}
            result = _budget(sizing['masters'], sizing['workers'], blabels)
            if result is None:
                self.skipTest('the budget command is not available')
            self.budgets[name] = result

    def test_template_comments_quote_the_budget(self):
        for path in TEMPLATES:
            name = os.path.basename(path)[:-5]
            text = re.sub(r'\n#\s*', ' ', _read(path))
            quoted = re.search(r'gives total_resources (\d+)', text)
            self.assertIsNotNone(quoted, path)
            self.assertEqual(self.budgets[name]['total_resources'],
                             int(quoted.group(1)),
                             '%s quotes an old budget: update the '
                             'comments of etc/ and the operator guide' % path)

    def test_guide_table_quotes_the_budget(self):
        text = _read(GUIDE)
        for name, result in self.budgets.items():
            row = re.search(r'\| `%s` \|.*\| (\d+) \|' % name, text)
            self.assertIsNotNone(row, name)
            self.assertEqual(result['total_resources'], int(row.group(1)),
                             'docs/operator-guide.md: %s' % name)

    def test_heat_sample_quotes_the_huge_budget(self):
        text = _read(HEAT_SAMPLE)
        huge = self.budgets['k8s-cern-huge']
        for field in ('total_resources', 'largest_template_resources',
                      'worker_shards', 'max_resources_per_stack'):
            if field not in huge:
                continue
            quoted = re.search(r'"%s": (\d+)' % field, text)
            self.assertIsNotNone(quoted, field)
            self.assertEqual(huge[field], int(quoted.group(1)), field)

    def test_heat_limit_covers_every_example(self):
        heat = _ini(_read(HEAT_SAMPLE))
        limit = heat.getint('DEFAULT', 'max_resources_per_stack')
        for name, result in self.budgets.items():
            self.assertGreaterEqual(limit, result['max_resources_per_stack'],
                                    name)
        # and it is not "unlimited" in disguise
        self.assertLess(limit, 2 * max(
            r['max_resources_per_stack'] for r in self.budgets.values()))


class HeatArithmeticTest(testtools.TestCase):

    def test_db_pool_covers_both_rpc_servers(self):
        heat = _ini(_read(HEAT_SAMPLE))
        threads = heat.getint('DEFAULT', 'executor_thread_pool_size')
        pool = (heat.getint('database', 'max_pool_size')
                + heat.getint('database', 'max_overflow'))
        self.assertGreaterEqual(pool, 2 * threads)
        # the comment's figure is the sum
        self.assertIn('= %d' % pool, _read(HEAT_SAMPLE))

    def test_devstack_defaults_match_the_samples(self):
        heat = _ini(_read(HEAT_SAMPLE))
        magnum = _ini(_read(MAGNUM_SNIPPET))
        settings = _read(os.path.join(REPO, 'devstack', 'settings'))

        def default(var):
            return re.search(r'%s=\$\{%s:-([^}]*)\}' % (var, var),
                             settings).group(1)
        self.assertEqual(heat.get('database', 'max_pool_size'),
                         default('MAGNUM_CERN_HEAT_DB_MAX_POOL_SIZE'))
        self.assertEqual(heat.get('database', 'max_overflow'),
                         default('MAGNUM_CERN_HEAT_DB_MAX_OVERFLOW'))
        self.assertEqual(heat.get('DEFAULT', 'rpc_response_timeout'),
                         default('MAGNUM_CERN_HEAT_RPC_RESPONSE_TIMEOUT'))
        self.assertEqual(heat.get('DEFAULT', 'engine_life_check_timeout'),
                         default('MAGNUM_CERN_HEAT_ENGINE_LIFE_CHECK_TIMEOUT'))
        self.assertTrue(heat.getboolean('DEFAULT',
                                        'encrypt_parameters_and_properties'))
        self.assertIn('MAGNUM_CERN_HEAT_ENCRYPT=$(trueorfalse True '
                      'MAGNUM_CERN_HEAT_ENCRYPT)', settings)
        self.assertEqual(heat.get('DEFAULT', 'max_stacks_per_tenant'),
                         default('MAGNUM_CERN_HEAT_MAX_STACKS_PER_PROJECT'))
        self.assertEqual(magnum.get('cern_driver', 'worker_shard_size'),
                         default('MAGNUM_CERN_WORKER_SHARD_SIZE'))
        self.assertEqual(magnum.get('cern_driver', 'stack_timeout'),
                         default('MAGNUM_CERN_STACK_TIMEOUT'))
        self.assertEqual(
            str(cern_conf.CONF.cern_driver.worker_shard_size),
            magnum.get('cern_driver', 'worker_shard_size'))


class RestructuredTextTest(testtools.TestCase):

    def test_readmes_are_valid_rst(self):
        try:
            import docutils.core
            import docutils.utils
        except ImportError:
            self.skipTest('docutils is not installed')
        paths = [p for p in DOCS if p.endswith('.rst')]
        self.assertGreaterEqual(len(paths), 6)
        for path in paths:
            try:
                docutils.core.publish_doctree(
                    _read(path), source_path=path,
                    settings_overrides={'report_level': 5,
                                        'halt_level': 2})
            except docutils.utils.SystemMessage as e:
                self.fail('%s: %s' % (os.path.relpath(path, REPO), e))
