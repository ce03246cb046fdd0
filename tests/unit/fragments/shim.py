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
"""The sandbox's stand-in for every system command (one file, many names).

It records each call (command, arguments, the sandbox files it names, stdin)
and answers by the first matching rule. ``dnf`` and ``helm`` also know the
facts the real tools would enforce, and fail as they would:

* ``dnf install`` fails ("No match for argument") for a package that no
  configured repository provides: the repositories are the ones the node
  wrote under ``/etc/yum.repos.d`` plus the distribution's own, and each
  provides what the artifact manifest records for it;
* ``helm upgrade --install`` fails for a chart or version the manifest does
  not pin, for a values key the pinned chart's own ``values.yaml`` does not
  have (``tests/unit/fragments/data/charts/``, read upstream), for an image
  the manifest does not pin ("image pull" of an unpinned reference), and
  without ``--wait`` (Heat must not hear "ready" before the add-on runs).

The facts come from ``SHIM_FACTS`` (JSON written by the sandbox).
"""

import json
import os
import sys


def _record(name, args, root):
    files = {}
    for arg in args:
        path = arg.split('=')[-1].lstrip('@')
        if path.startswith(root + '/') and os.path.isfile(path):
            with open(path, encoding='utf-8', errors='replace') as f:
                files[path[len(root):]] = f.read()
    stdin = ''
    if not sys.stdin.isatty() and '-' in args:
        stdin = sys.stdin.read()
    with open(os.environ['SHIM_LOG'], 'a') as f:
        f.write(json.dumps({'cmd': name, 'args': args, 'files': files,
                            'stdin': stdin}) + '\n')


def _rule(name, args):
    """The answer of the first matching rule, or None."""
    with open(os.environ['SHIM_RULES']) as f:
        rules = json.load(f)
    for i, rule in enumerate(rules):
        if rule['cmd'] != name:
            continue
        if rule.get('args') is not None and rule['args'] != args:
            continue
        if any(word not in args for word in rule.get('contains', ())):
            continue
        if rule.get('times') is not None:
            counter = os.environ['SHIM_RULES'] + '.%d' % i
            used = 0
            if os.path.exists(counter):
                with open(counter) as f:
                    used = int(f.read())
            if used >= rule['times']:
                continue
            with open(counter, 'w') as f:
                f.write(str(used + 1))
        return rule
    return None


def _facts():
    path = os.environ.get('SHIM_FACTS')
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _fail(message, rc=1):
    sys.stderr.write(message + '\n')
    sys.exit(rc)


def _configured_repos(root):
    """baseurl of every repository file the node wrote."""
    urls = []
    repo_dir = root + '/etc/yum.repos.d'
    if os.path.isdir(repo_dir):
        for name in sorted(os.listdir(repo_dir)):
            with open(os.path.join(repo_dir, name)) as f:
                for line in f:
                    if line.startswith('baseurl='):
                        url = line.strip()[len('baseurl='):]
                        # dnf expands its variables (AlmaLinux 9, x86_64)
                        for var, value in (('$releasever', '9'),
                                           ('$basearch', 'x86_64')):
                            url = url.replace(var, value)
                        urls.append(url)
    return urls


def check_dnf(args, root, facts):
    if 'install' not in args:
        return
    repos = facts['distro_repos'] + _configured_repos(root)
    provided = {}
    for url in repos:
        for pkg in facts['rpm'].get(url, ()):
            provided[pkg] = url
    wanted = [a for a in args[args.index('install') + 1:]
              if not a.startswith('-')]
    missing = [p for p in wanted if p not in provided]
    if missing:
        for pkg in missing:
            sys.stderr.write('No match for argument: %s\n' % pkg)
        _fail('Error: Unable to find a match: %s' % ' '.join(missing))


def _option(args, name):
    if name in args:
        i = args.index(name)
        if i + 1 < len(args):
            return args[i + 1]
    for arg in args:
        if arg.startswith(name + '='):
            return arg.split('=', 1)[1]
    return None


def _key_paths(data, prefix=''):
    """Dotted paths of every leaf or list in a values mapping."""
    paths = []
    for key, value in data.items():
        key = str(key)
        # values.yaml keys with a dot are written quoted in the data files
        path = prefix + ('"%s"' % key if '.' in key else key)
        if isinstance(value, dict) and value:
            paths.extend(_key_paths(value, path + '.'))
        else:
            paths.append(path)
    return paths


def _lookup(data, path):
    for part in path.split('.'):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


_HELM_VALUE_OPTIONS = ('--kubeconfig', '--repo', '--version', '--namespace',
                       '-n', '--values', '-f', '--timeout', '--set')


def check_helm(args, root, facts):
    if 'upgrade' not in args or '--install' not in args:
        return
    import yaml     # the sandbox runs this with the test's Python

    positional = []
    i = 0
    while i < len(args):
        if args[i] in _HELM_VALUE_OPTIONS:
            i += 2
            continue
        if not args[i].startswith('-'):
            positional.append(args[i])
        i += 1
    # upgrade RELEASE CHART
    release, chart_ref = positional[1], positional[2]
    repo = _option(args, '--repo')
    version = _option(args, '--version')
    chart = None
    for entry in facts['charts']:
        if repo is not None and entry['url'] == repo and \
                entry['chart'] == chart_ref:
            chart = entry
        if repo is None and entry['url'].startswith('oci://') and \
                entry['url'].rstrip('/') + '/' + entry['chart'] == chart_ref:
            chart = entry
    if chart is None:
        _fail('Error: chart "%s" not found in %s' % (chart_ref, repo or
                                                     'the registry'))
    if version != chart['version']:
        _fail('Error: chart "%s" version "%s" not found (the manifest pins '
              '%s)' % (chart['chart'], version, chart['version']))
    if '--wait' not in args:
        _fail('shim: helm %s without --wait: the release is not ready when '
              'helm returns' % release)
    recorded = facts['chart_keys'].get('%s-%s' % (chart['chart'], version))
    if recorded is None:
        _fail('shim: no values.yaml recorded for chart %s %s (add it to '
              'tests/unit/fragments/data/charts/ from upstream)'
              % (chart['chart'], version))
    values_file = _option(args, '--values')
    values = {}
    if values_file:
        with open(values_file) as f:
            values = yaml.safe_load(f) or {}
    keys = set(recorded['values_keys'])
    free = tuple(p + '.' for p in recorded.get('free_form', ()))
    for path in _key_paths(values):
        if path in keys or path.startswith(free):
            continue
        if any(k.startswith(path + '.') for k in keys):
            node = _lookup(values, path)
            if isinstance(node, list) and node:
                # The chart's template ranges over a map there: a list
                # renders objects named 0, 1, ... (invalid) and drops the
                # chart's own entries.
                _fail('Error: values don\'t meet the specifications of the '
                      'chart: %s is a list where %s %s has a map'
                      % (path, chart['chart'], version))
            continue    # an empty map where the chart has a map
        _fail('Error: values don\'t meet the specifications of the chart: '
              'unknown key %s in %s %s' % (path, chart['chart'], version))
    pinned = set(facts['images'])
    for image in recorded.get('images', ()):
        node = _lookup(values, image['values_key'])
        repository = image['repository']
        # a chart image without a tag of its own runs the appVersion
        tag = image.get('tag') or recorded.get('app_version')
        if isinstance(node, dict):
            repository = node.get('repository', repository)
            tag = node.get('tag', tag)
        elif isinstance(node, str):
            repository, _, tag = node.rpartition(':')
        ref = '%s:%s' % (repository, tag)
        if ref not in pinned:
            _fail('ErrImagePull: %s (values key %s of chart %s) is not an '
                  'image the manifest pins' % (ref, image['values_key'],
                                               chart['chart']))


def check_kubeadm(args):
    """kubeadm >= 1.36 reads only kubeadm.k8s.io/v1beta4 configuration.

    v1beta3 is deprecated from 1.31 and to be removed (kubernetes/kubernetes
    cmd/kubeadm/app/apis/kubeadm/v1beta3/doc.go, commit 81810de6).
    """
    import re

    path = _option(args, '--config')
    if path is None or not os.path.isfile(path):
        return
    with open(path) as f:
        text = f.read()
    for version in re.findall(r'^apiVersion:\s*kubeadm\.k8s\.io/(\S+)',
                              text, re.M):
        if version != 'v1beta4':
            _fail('kubeadm: no kind registered for version '
                  '"kubeadm.k8s.io/%s"' % version)


def main():
    name = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    root = os.environ['MCD_ROOT']
    _record(name, args, root)
    if name == 'kubeadm':
        check_kubeadm(args)
    rule = _rule(name, args)
    if rule is not None:
        out = _option(args, '-o') or _option(args, '--output')
        if rule.get('output_file') and out:
            with open(rule['output_file'], 'rb') as src, \
                    open(out, 'wb') as dst:
                dst.write(src.read())
        sys.stdout.write(rule.get('stdout', ''))
        sys.exit(rule.get('rc', 0))
    facts = _facts()
    if facts is not None:
        if name == 'dnf':
            check_dnf(args, root, facts)
        elif name == 'helm':
            check_helm(args, root, facts)
    sys.exit(0)


if __name__ == '__main__':
    main()
