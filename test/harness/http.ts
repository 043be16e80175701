// Raw HTTPS requests with an identity's kubeconfig, with real Impersonate-* headers (one header line
// per group: client-node would merge repeated Impersonate-Group headers with commas).
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

export interface Impersonation {
  user?: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

export interface RawResponse {
  status: number;
  body: string;
  json: () => unknown;
}

interface KubeconfigFile {
  clusters: { cluster: { server: string; 'certificate-authority': string } }[];
  users: { user: { 'client-certificate'?: string; 'client-key'?: string; token?: string } }[];
}

export function requestAs(
  kubeconfigPath: string,
  method: string,
  path: string,
  opts: { impersonate?: Impersonation; body?: unknown; contentType?: string } = {},
): Promise<RawResponse> {
  const kc = JSON.parse(readFileSync(kubeconfigPath, 'utf8')) as KubeconfigFile;
  const cluster = kc.clusters[0]!.cluster;
  const user = kc.users[0]!.user;
  const headers: Record<string, string | string[]> = { Accept: 'application/json' };
  if (user.token) headers.Authorization = `Bearer ${user.token}`;
  const imp = opts.impersonate;
  if (imp?.user) headers['Impersonate-User'] = imp.user;
  if (imp?.groups?.length) headers['Impersonate-Group'] = imp.groups;
  if (imp?.uid) headers['Impersonate-Uid'] = imp.uid;
  for (const [k, v] of Object.entries(imp?.extra ?? {}))
    headers[`Impersonate-Extra-${encodeURIComponent(k)}`] = v;
  let payload: string | undefined;
  if (opts.body !== undefined) {
    payload = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['Content-Type'] = opts.contentType ?? 'application/json';
  }
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, cluster.server),
      {
        method,
        headers,
        ca: readFileSync(cluster['certificate-authority']),
        cert: user['client-certificate'] ? readFileSync(user['client-certificate']) : undefined,
        key: user['client-key'] ? readFileSync(user['client-key']) : undefined,
        timeout: 30_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body) as unknown }),
        );
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.end(payload);
  });
}
