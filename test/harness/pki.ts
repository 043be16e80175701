// Certificates and kubeconfigs for the local control plane, made with the openssl command line.
// Identities are client certificates (CN = user name, O = groups), as kube-apiserver authenticates them.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { HarnessError } from './go-build.js';

const exec = promisify(execFile);

export interface Ca {
  certFile: string;
  keyFile: string;
}

export interface CertPair {
  certFile: string;
  keyFile: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await exec('openssl', args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new HarnessError(
        'The `openssl` command is needed to make test certificates; install it (apt-get install openssl).',
      );
    }
    throw new HarnessError(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

/** openssl -subj syntax: `/CN=a/O=b`, with `/`, `+`, `=` and `\` escaped inside values. */
function subject(cn: string, orgs: string[]): string {
  const esc = (v: string) => v.replace(/[\\/+=]/g, (c) => `\\${c}`);
  return `/CN=${esc(cn)}${orgs.map((o) => `/O=${esc(o)}`).join('')}`;
}

export async function makeCa(dir: string): Promise<Ca> {
  const ca = { certFile: `${dir}/ca.crt`, keyFile: `${dir}/ca.key` };
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', ca.keyFile, '-out', ca.certFile, '-days', '30', '-subj', '/CN=impersonation-operator-test-ca',
  ]); // prettier-ignore
  return ca;
}

/** Issues a certificate signed by `ca` at `<base>.crt`/`<base>.key`; `sans` makes it a serving certificate. */
export async function issueClientCert(
  ca: Ca,
  base: string,
  cn: string,
  orgs: string[],
  sans: string[] = [],
): Promise<CertPair> {
  const pair = { certFile: `${base}.crt`, keyFile: `${base}.key` };
  const csr = `${base}.csr`;
  const req = ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  req.push('-keyout', pair.keyFile, '-out', csr, '-subj', subject(cn, orgs));
  if (sans.length > 0) req.push('-addext', `subjectAltName=${sans.join(',')}`);
  await openssl(req);
  await openssl([
    'x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial',
    '-days', '30', '-copy_extensions', 'copyall', '-out', pair.certFile,
  ]); // prettier-ignore
  return pair;
}

export type KubeconfigUser = { user: string } & ({ certFile: string; keyFile: string } | { token: string });

export async function writeKubeconfig(
  path: string,
  server: string,
  caFile: string,
  u: KubeconfigUser,
): Promise<void> {
  const userEntry =
    'token' in u ? { token: u.token } : { 'client-certificate': u.certFile, 'client-key': u.keyFile };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: u.user, user: userEntry }],
    contexts: [{ name: 'local', context: { cluster: 'local', user: u.user } }],
    'current-context': 'local',
  };
  await writeFile(path, JSON.stringify(config, null, 2), { mode: 0o600 });
}
