// Identities for tests: an admin (system:masters), any user/groups (client certificates), and
// service accounts (real TokenRequest tokens). Each gets its own kubeconfig file.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { clusterInfo } from './cluster-info.js';
import { issueClientCert, writeKubeconfig } from './pki.js';

const byIdentity = new Map<string, Promise<string>>();

export function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(clusterInfo().adminKubeconfig);
  return kc;
}

/** Path of a kubeconfig whose client certificate says CN=user, O=groups. */
export function kubeconfigFor(user: string, groups: string[] = []): Promise<string> {
  const key = JSON.stringify([user, [...groups].sort()]);
  let p = byIdentity.get(key);
  if (!p) {
    p = (async () => {
      const info = clusterInfo();
      const pkiDir = dirname(info.caFile);
      const id = `${createHash('sha256').update(key).digest('hex').slice(0, 10)}-${process.pid}`;
      const dir = join(info.workDir, 'identities');
      await mkdir(dir, { recursive: true });
      const pair = await issueClientCert(
        { certFile: info.caFile, keyFile: join(pkiDir, 'ca.key') },
        join(dir, id),
        user,
        groups,
      );
      const path = join(dir, `${id}.kubeconfig`);
      await writeKubeconfig(path, info.server, info.caFile, { user, ...pair });
      return path;
    })();
    byIdentity.set(key, p);
  }
  return p;
}

export async function kubeConfigFor(user: string, groups: string[] = []): Promise<KubeConfig> {
  const kc = new KubeConfig();
  kc.loadFromFile(await kubeconfigFor(user, groups));
  return kc;
}

/** Requests a real token for an existing ServiceAccount through the TokenRequest API. */
export async function serviceAccountToken(
  namespace: string,
  name: string,
  expirationSeconds = 3600,
): Promise<string> {
  const kc = adminKubeConfig();
  const { CoreV1Api } = await import('@kubernetes/client-node');
  const core = kc.makeApiClient(CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  return token;
}

/** Path of a kubeconfig authenticating as the ServiceAccount with a TokenRequest token. */
export async function serviceAccountKubeconfig(namespace: string, name: string): Promise<string> {
  const info = clusterInfo();
  const token = await serviceAccountToken(namespace, name);
  const dir = join(info.workDir, 'identities');
  await mkdir(dir, { recursive: true });
  const path = join(dir, `sa-${namespace}-${name}-${randomBytes(4).toString('hex')}.kubeconfig`);
  await writeKubeconfig(path, info.server, info.caFile, {
    user: `system:serviceaccount:${namespace}:${name}`,
    token,
  });
  return path;
}
