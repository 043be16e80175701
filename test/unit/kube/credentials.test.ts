// Reading kubeconfig files into server/TLS/headers (our parsing; the API server's acceptance of the
// result is in test/integration/kube-client.test.ts).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { credentialSource, loadCredentials } from '../../../src/kube/credentials.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('loadCredentials', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'impop-cred-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function kubeconfig(name: string, body: object): Promise<string> {
    const path = join(dir, name);
    // JSON is valid YAML.
    await writeFile(path, JSON.stringify(body));
    return path;
  }

  const cluster = (name: string, server: string, extra: object = {}) => ({
    name,
    cluster: { server, 'certificate-authority-data': b64(`ca-of-${name}`), ...extra },
  });
  const context = (name: string, clusterName: string, user: string, namespace?: string) => ({
    name,
    context: { cluster: clusterName, user, ...(namespace ? { namespace } : {}) },
  });

  it('reads client certificates, CA, server, namespace and impersonation from the current context', async () => {
    await writeFile(join(dir, 'client.crt'), 'CERT');
    const path = await kubeconfig('certs.yaml', {
      clusters: [cluster('c1', 'https://10.0.0.1:6443/'), cluster('c2', 'https://10.0.0.2:6443')],
      users: [
        {
          name: 'u1',
          user: {
            'client-certificate': 'client.crt', // relative to the kubeconfig's directory
            'client-key-data': b64('KEY'),
            as: 'alice',
            'as-groups': ['dev', 'ops'],
          },
        },
      ],
      contexts: [context('one', 'c1', 'u1', 'team-a'), context('two', 'c2', 'u1')],
      'current-context': 'one',
    });
    const creds = await loadCredentials({ kubeconfig: path }, {});
    expect(creds.server).toBe('https://10.0.0.1:6443');
    expect(creds.source).toBe('file');
    expect(creds.namespace).toBe('team-a');
    expect(creds.tls.ca?.toString()).toBe('ca-of-c1');
    expect(creds.tls.cert?.toString()).toBe('CERT');
    expect(creds.tls.key?.toString()).toBe('KEY');
    expect(await creds.headers()).toEqual({
      'Impersonate-User': 'alice',
      'Impersonate-Group': ['dev', 'ops'],
    });
    expect(await creds.invalidate()).toBe(false);

    const two = await loadCredentials({ kubeconfig: path, context: 'two' }, {});
    expect(two.server).toBe('https://10.0.0.2:6443');
    await expect(loadCredentials({ kubeconfig: path, context: 'three' }, {})).rejects.toThrow(
      /no context named three/,
    );
  });

  it('sends a static bearer token, or basic auth, and honours insecure-skip-tls-verify and tls-server-name', async () => {
    const path = await kubeconfig('token.yaml', {
      clusters: [
        cluster('c', 'https://h:1', { 'insecure-skip-tls-verify': true, 'tls-server-name': 'api.local' }),
      ],
      users: [
        { name: 'tok', user: { token: 'abc' } },
        { name: 'basic', user: { username: 'u', password: 'p' } },
      ],
      contexts: [context('tok', 'c', 'tok'), context('basic', 'c', 'basic')],
      'current-context': 'tok',
    });
    const tok = await loadCredentials({ kubeconfig: path }, {});
    expect(await tok.headers()).toEqual({ Authorization: 'Bearer abc' });
    expect(tok.tls).toMatchObject({ rejectUnauthorized: false, servername: 'api.local' });
    const basic = await loadCredentials({ kubeconfig: path, context: 'basic' }, {});
    expect(await basic.headers()).toEqual({ Authorization: `Basic ${b64('u:p')}` });
  });

  it('merges a KUBECONFIG list: the first file to define a name or current-context wins', async () => {
    const a = await kubeconfig('a.yaml', {
      clusters: [cluster('shared', 'https://from-a:1')],
      users: [{ name: 'u', user: { token: 'from-a' } }],
      contexts: [context('ctx', 'shared', 'u')],
    });
    const b = await kubeconfig('b.yaml', {
      clusters: [cluster('shared', 'https://from-b:1')],
      users: [{ name: 'u', user: { token: 'from-b' } }],
      contexts: [context('ctx', 'shared', 'u')],
      'current-context': 'ctx',
    });
    const missing = join(dir, 'missing.yaml');
    const creds = await loadCredentials({}, { KUBECONFIG: [missing, a, b].join(delimiter) });
    expect(creds.source).toBe('KUBECONFIG');
    expect(creds.server).toBe('https://from-a:1');
    expect(await creds.headers()).toEqual({ Authorization: 'Bearer from-a' });
  });

  it('re-reads a token file after a 401', async () => {
    const tokenPath = join(dir, 'token');
    await writeFile(tokenPath, 'first\n');
    const path = await kubeconfig('tokenfile.yaml', {
      clusters: [cluster('c', 'https://h:1')],
      users: [{ name: 'u', user: { tokenFile: tokenPath } }],
      contexts: [context('x', 'c', 'u')],
      'current-context': 'x',
    });
    const creds = await loadCredentials({ kubeconfig: path }, {});
    expect(await creds.headers()).toEqual({ Authorization: 'Bearer first' });
    await writeFile(tokenPath, 'rotated\n');
    expect(await creds.headers()).toEqual({ Authorization: 'Bearer first' }); // cached for a minute
    expect(await creds.invalidate()).toBe(true);
    expect(await creds.headers()).toEqual({ Authorization: 'Bearer rotated' });
  });

  it('runs an exec credential plugin once, caches its token until it expires, and again after a 401', async () => {
    const counter = join(dir, 'exec-count');
    const plugin = join(dir, 'plugin.sh');
    await writeFile(
      plugin,
      [
        '#!/bin/sh',
        `echo run >> ${counter}`,
        'test -n "$KUBERNETES_EXEC_INFO" || exit 3',
        'echo "{\\"apiVersion\\":\\"client.authentication.k8s.io/v1\\",\\"kind\\":\\"ExecCredential\\",' +
          '\\"status\\":{\\"token\\":\\"$PLUGIN_TOKEN\\",\\"expirationTimestamp\\":\\"2999-01-01T00:00:00Z\\"}}"',
      ].join('\n'),
    );
    await chmod(plugin, 0o755);
    const path = await kubeconfig('exec.yaml', {
      clusters: [cluster('c', 'https://h:1')],
      users: [
        {
          name: 'u',
          user: {
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1',
              command: plugin,
              env: [{ name: 'PLUGIN_TOKEN', value: 'from-plugin' }],
            },
          },
        },
      ],
      contexts: [context('x', 'c', 'u')],
      'current-context': 'x',
    });
    const creds = await loadCredentials({ kubeconfig: path }, {});
    const [h1, h2] = await Promise.all([creds.headers(), creds.headers()]);
    expect(h1).toEqual({ Authorization: 'Bearer from-plugin' });
    expect(h2).toEqual(h1);
    await creds.headers();
    expect((await readFile(counter, 'utf8')).trim().split('\n')).toHaveLength(1);
    await creds.invalidate();
    await creds.headers();
    expect((await readFile(counter, 'utf8')).trim().split('\n')).toHaveLength(2);
  });

  it('reports a failing exec plugin with its stderr', async () => {
    const plugin = join(dir, 'failing.sh');
    await writeFile(plugin, '#!/bin/sh\necho "please log in" >&2\nexit 1\n');
    await chmod(plugin, 0o755);
    const path = await kubeconfig('failing.yaml', {
      clusters: [cluster('c', 'https://h:1')],
      users: [{ name: 'u', user: { exec: { command: plugin } } }],
      contexts: [context('x', 'c', 'u')],
      'current-context': 'x',
    });
    const creds = await loadCredentials({ kubeconfig: path }, {});
    await expect(creds.headers()).rejects.toThrow(/exited 1: please log in/);
  });

  it('refuses plain HTTP without insecure-skip-tls-verify, and a kubeconfig without current-context', async () => {
    const http = await kubeconfig('http.yaml', {
      clusters: [{ name: 'c', cluster: { server: 'http://h:8080' } }],
      users: [{ name: 'u', user: {} }],
      contexts: [context('x', 'c', 'u')],
      'current-context': 'x',
    });
    await expect(loadCredentials({ kubeconfig: http }, {})).rejects.toThrow(/refusing plain HTTP/);
    const noCurrent = await kubeconfig('nocurrent.yaml', { clusters: [], users: [], contexts: [] });
    await expect(loadCredentials({ kubeconfig: noCurrent }, {})).rejects.toThrow(/no current-context/);
  });

  it('says when no cluster is configured at all, instead of falling back to localhost', async () => {
    const env = { HOME: dir };
    expect(credentialSource(undefined, env)).toBeUndefined();
    await expect(loadCredentials({}, env)).rejects.toThrow(/no Kubernetes cluster configured/);
  });
});
