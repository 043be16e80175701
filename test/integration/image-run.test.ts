// The real container image: the project's Dockerfile built with buildah against local stand-in bases
// (test/harness/image.ts, cached by the build context's hash) and run with runc the way the chart's
// Deployment runs it (test/harness/container.ts): the chart's securityContext and arguments, in-cluster
// configuration from a projected service-account token, host network.
// Needs root and buildah, umoci, runc, mmdebstrap (the harness installs them with apt when missing).
// The chart's author check is turned off here (authorCheck.enabled=false renders --no-author-check): its
// author-stamp MutatingAdmissionPolicy is cluster-wide and would stamp the other test files' policies
// in this shared control plane; test/integration/author-check.test.ts covers the check.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadAll } from 'js-yaml';
import { clusterInfo } from '../harness/cluster-info.js';
import { startContainer, type Container } from '../harness/container.js';
import { freePort, repoRoot } from '../harness/controlplane.js';
import { requestAs } from '../harness/http.js';
import { kubeconfigFor } from '../harness/identities.js';
import { ensureImage, type BuiltImage } from '../harness/image.js';
import { installOperatorRbac, type OperatorRbac } from '../harness/operator-rbac.js';
import { adminRequest, applyPolicy, deletePolicy, eventually, policy } from '../harness/policies.js';
import { helmTemplateOk } from '../harness/tools.js';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const suffix = Date.now().toString(36);

let image: BuiltImage;

beforeAll(async () => {
  image = await ensureImage();
  process.stderr.write(
    `[image] ${image.tag}: ${image.layers.length} layers, ${(image.sizeBytes / 1e6).toFixed(1)} MB ` +
      `(cold build ${image.buildSeconds.toFixed(0)}s)\n`,
  );
}, 30 * 60_000);

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...(await walk(p)));
  }
  return out;
}

describe('the built image (unpacked filesystem and config)', () => {
  it('has no shell, no package manager, no npm, no dev dependency, no test or bench file', async () => {
    const files = (await walk(image.rootfs)).map((p) => `/${relative(image.rootfs, p)}`);
    const forbidden =
      /^\/(bin|usr\/bin|sbin|usr\/sbin)\/|\/(sh|bash|dash|busybox|apt|apt-get|dpkg|npm|npx|corepack)$/;
    expect(files.filter((f) => forbidden.test(f))).toEqual([]);
    // The project's own files (dependencies' published files, such as zod's tests, are theirs).
    const own = files.filter((f) => f.startsWith('/app/') && !f.startsWith('/app/node_modules/'));
    expect(
      own.filter((f) => /^\/app\/(test|bench|src|scripts)(\/|$)|\.(test|bench)\.[jt]s$|\.ts$/.test(f)),
    ).toEqual([]);
    expect(own.filter((f) => !/^\/app\/(dist\/src|crds|node_modules)(\/|$)/.test(f)).sort()).toEqual([
      '/app/dist',
      '/app/package.json',
    ]);
    const lock = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && entry.dev === true)
      .map(([path]) => path);
    expect(devOnly).toEqual(expect.arrayContaining(['node_modules/typescript', 'node_modules/jest']));
    expect(devOnly.filter((path) => existsSync(join(image.rootfs, 'app', path)))).toEqual([]);
    expect(existsSync(join(image.rootfs, 'app', 'dist', 'src', 'main.js'))).toBe(true);
    expect(existsSync(join(image.rootfs, 'app', 'crds'))).toBe(true);
  });

  it('runs as 65532 with the distroless entry point and fills its OCI labels', () => {
    expect(image.config.User).toBe('65532:65532');
    expect(image.config.Entrypoint).toEqual(['/nodejs/bin/node', 'dist/src/main.js']);
    expect(image.config.WorkingDir).toBe('/app');
    const labels = image.config.Labels ?? {};
    for (const key of ['title', 'description', 'licenses', 'version', 'revision', 'created', 'source']) {
      expect([key, (labels[`org.opencontainers.image.${key}`] ?? '').length > 0]).toEqual([key, true]);
    }
    expect(labels['org.opencontainers.image.revision']).toMatch(/^context-[0-9a-f]{12}$/);
  });
});

interface Deployment {
  spec: {
    template: {
      spec: {
        securityContext: { runAsUser: number; runAsGroup: number; runAsNonRoot: boolean };
        containers: {
          args: string[];
          securityContext: {
            readOnlyRootFilesystem: boolean;
            allowPrivilegeEscalation: boolean;
            capabilities: { drop: string[] };
          };
        }[];
      };
    };
  };
}

/** A kubelet-style projected volume: timestamped dir, `..data` symlink swapped atomically. */
class ServiceAccountVolume {
  private n = 0;
  constructor(readonly dir: string) {}
  async write(token: string, namespace: string): Promise<void> {
    const data = `..${suffix}_${this.n++}`;
    await mkdir(join(this.dir, data));
    await writeFile(join(this.dir, data, 'token'), token, { mode: 0o644 });
    await writeFile(join(this.dir, data, 'ca.crt'), await readFile(clusterInfo().caFile), { mode: 0o644 });
    await writeFile(join(this.dir, data, 'namespace'), namespace, { mode: 0o644 });
    await symlink(data, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const f of ['token', 'ca.crt', 'namespace']) {
      if (!existsSync(join(this.dir, f))) await symlink(join('..data', f), join(this.dir, f));
    }
  }
}

describe("running the image as the chart's Deployment does", () => {
  let rbac: OperatorRbac;
  let deployment: Deployment;
  let volume: ServiceAccountVolume;
  let apiHost: string;
  let apiPort: string;
  const containers: Container[] = [];
  const proxy = `image-proxy-${suffix}`;
  const target = `image-target-${suffix}@example.com`;
  const policies: string[] = [];
  let tokenA: string;

  /** A TokenRequest token bound to a Secret: deleting the Secret revokes the token. */
  async function boundToken(secret: string): Promise<string> {
    const s = await adminRequest('POST', `/api/v1/namespaces/${rbac.namespace}/secrets`, {
      metadata: { name: secret },
    });
    expect(s.status).toBe(201);
    const uid = (s.json() as { metadata: { uid: string } }).metadata.uid;
    const tr = await adminRequest(
      'POST',
      `/api/v1/namespaces/${rbac.namespace}/serviceaccounts/${rbac.serviceAccount}/token`,
      {
        spec: {
          expirationSeconds: 3600,
          boundObjectRef: { apiVersion: 'v1', kind: 'Secret', name: secret, uid },
        },
      },
    );
    expect(tr.status).toBe(201);
    return (tr.json() as { status: { token: string } }).status.token;
  }

  async function start(podName: string): Promise<{ c: Container; metrics: number; probes: number }> {
    const [metrics, probes] = [await freePort(), await freePort()];
    const rendered = await helmTemplateOk({
      release: rbac.release,
      namespace: rbac.namespace,
      values: {
        fullnameOverride: rbac.release,
        metrics: { port: metrics },
        probes: { port: probes },
        admissionPolicy: { authorCheck: { enabled: false } },
        grants: { impersonate: { users: [target] } },
      },
      flags: ['--show-only', 'templates/deployment.yaml'],
    });
    deployment = (loadAll(rendered) as Deployment[])[0]!;
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0]!;
    // What the runtime spec below turns into a container; fail here if the chart changes it.
    expect(pod.securityContext).toMatchObject({ runAsUser: 65532, runAsGroup: 65532, runAsNonRoot: true });
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    const c = await startContainer(image, {
      args: container.args.map((a) => a.replace('$(POD_NAMESPACE)', rbac.namespace)),
      env: {
        POD_NAMESPACE: rbac.namespace,
        POD_NAME: podName,
        KUBERNETES_SERVICE_HOST: apiHost,
        KUBERNETES_SERVICE_PORT: apiPort,
      },
      uid: pod.securityContext.runAsUser,
      gid: pod.securityContext.runAsGroup,
      readOnlyRootFilesystem: container.securityContext.readOnlyRootFilesystem,
      readOnlyMounts: { [SA_DIR]: volume.dir },
    });
    containers.push(c);
    return { c, metrics, probes };
  }

  async function status(url: string): Promise<number> {
    return fetch(url, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.status,
      () => 0,
    );
  }

  async function waitReady(c: Container, probes: number): Promise<void> {
    let exited = false;
    void c.exited.then(() => (exited = true));
    await eventually(
      'the container to become ready on /readyz',
      async () => {
        if (exited) throw new Error(`the container exited:\n${c.output().slice(-3000)}`);
        return (await status(`http://127.0.0.1:${probes}/readyz`)) === 200;
      },
      120_000,
      250,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\noutput:\n${c.output().slice(-3000)}`);
    });
  }

  const holder = async (): Promise<string> => {
    const r = await adminRequest(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${rbac.namespace}/leases/${rbac.release}`,
    );
    return r.status === 200
      ? ((r.json() as { spec: { holderIdentity?: string } }).spec.holderIdentity ?? '')
      : '';
  };

  /** Whether `proxy` may impersonate `target` (a real impersonated request, not a review). */
  async function mayImpersonate(proxyKubeconfig: string): Promise<boolean> {
    const r = await requestAs(proxyKubeconfig, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      impersonate: { user: target },
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    if (r.status === 201)
      return (r.json() as { status: { userInfo: { username: string } } }).status.userInfo.username === target;
    if (r.status === 403) return false;
    throw new Error(`unexpected answer ${r.status}: ${r.body}`);
  }

  beforeAll(async () => {
    rbac = await installOperatorRbac({ impersonate: { users: [target] } });
    const server = new URL(clusterInfo().server);
    [apiHost, apiPort] = [server.hostname, server.port || '443'];
    const dir = await mkdtemp(join(tmpdir(), 'impop-sa-'));
    await chmod(dir, 0o755);
    volume = new ServiceAccountVolume(dir);
    tokenA = await boundToken(`token-a-${suffix}`);
    await volume.write(tokenA, rbac.namespace);
  }, 120_000);

  afterAll(async () => {
    for (const c of containers) await c.remove();
    for (const name of policies) await deletePolicy(name);
    await rbac?.uninstall();
    if (volume) await rm(volume.dir, { recursive: true, force: true });
    if (volume) await rm(`${volume.dir}-old-token.kubeconfig`, { force: true });
  });

  it('becomes ready in-cluster, serves /metrics, reconciles a policy, follows a rotated token, releases its Lease on SIGTERM', async () => {
    const { c, metrics, probes } = await start(`impop-image-0-${suffix}`);
    await waitReady(c, probes);
    const body = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
    expect(body).toMatch(/^impersonation_operator_leader 1$/m);
    expect(await holder()).toBe(`impop-image-0-${suffix}`);

    const proxyKubeconfig = await kubeconfigFor(proxy);
    expect(await mayImpersonate(proxyKubeconfig)).toBe(false);
    const first = `image-run-${suffix}`;
    policies.push(first);
    await applyPolicy(
      policy(first, { impersonators: [{ kind: 'User', name: proxy }], targets: { users: [target] } }),
    );
    await eventually('the policy to grant impersonation', () => mayImpersonate(proxyKubeconfig), 60_000, 250);

    // Rotation: a new token arrives in the volume (the kubelet's ..data swap) and the old one is revoked.
    await volume.write(await boundToken(`token-b-${suffix}`), rbac.namespace);
    expect(
      (await adminRequest('DELETE', `/api/v1/namespaces/${rbac.namespace}/secrets/token-a-${suffix}`)).status,
    ).toBe(200);
    const oldToken = `${volume.dir}-old-token.kubeconfig`;
    await writeFile(
      oldToken,
      JSON.stringify({
        clusters: [
          { cluster: { server: clusterInfo().server, 'certificate-authority': clusterInfo().caFile } },
        ],
        users: [{ user: { token: tokenA } }],
      }),
    );
    await eventually(
      'the API server to refuse the revoked token',
      async () => (await requestAs(oldToken, 'GET', '/api')).status === 401,
      60_000,
      250,
    );
    await deletePolicy(first);
    await eventually(
      'the deleted policy to revoke impersonation',
      async () => !(await mayImpersonate(proxyKubeconfig)),
      90_000,
      250,
    );
    expect(c.child.exitCode).toBeNull();
    expect(c.output()).not.toMatch(/forbidden/i);

    await c.signal('TERM');
    expect(await c.exited).toBe(0);
    expect(await holder()).toBe('');
  }, 300_000);

  it('two replicas: only the leader writes; SIGKILL of the leader hands over to the other', async () => {
    const writes = async (metrics: number): Promise<string[]> => {
      const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
      return [...text.matchAll(/^impersonation_operator_api_requests_total\{([^}]*)\} (\d+)/gm)]
        .filter(([, labels]) => /verb="(create|update|patch|delete)"/.test(labels!))
        .filter(([, labels]) => !/resource="leases"/.test(labels!))
        .map(([, labels, n]) => `${labels} ${n}`);
    };
    const [a, b] = [`impop-image-a-${suffix}`, `impop-image-b-${suffix}`];
    const first = await start(a);
    await waitReady(first.c, first.probes);
    await eventually('replica a to hold the Lease', async () => (await holder()) === a, 60_000, 250);
    const second = await start(b);
    await waitReady(second.c, second.probes);

    const proxyKubeconfig = await kubeconfigFor(proxy);
    const name = `image-run-ha-${suffix}`;
    policies.push(name);
    await applyPolicy(
      policy(name, { impersonators: [{ kind: 'User', name: proxy }], targets: { users: [target] } }),
    );
    await eventually('the leader to grant impersonation', () => mayImpersonate(proxyKubeconfig), 60_000, 250);
    expect((await writes(first.metrics)).length).toBeGreaterThan(0);
    expect(await writes(second.metrics)).toEqual([]);
    expect(await (await fetch(`http://127.0.0.1:${second.metrics}/metrics`)).text()).toMatch(
      /^impersonation_operator_leader 0$/m,
    );

    // The leader's container dies without a chance to release the Lease; the standby waits it out.
    await first.c.signal('KILL');
    await first.c.exited;
    await eventually('replica b to take the Lease', async () => (await holder()) === b, 120_000, 250);
    await deletePolicy(name);
    await eventually(
      'the new leader to revoke impersonation',
      async () => !(await mayImpersonate(proxyKubeconfig)),
      90_000,
      250,
    );
    expect((await writes(second.metrics)).length).toBeGreaterThan(0);

    await second.c.signal('TERM');
    expect(await second.c.exited).toBe(0);
    expect(await holder()).toBe('');
  }, 300_000);
});
