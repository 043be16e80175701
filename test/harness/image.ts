// Builds the project's real Dockerfile without Docker and caches the result, so tests can run the
// image the chart pulls. Tools (Debian packages, installed once with apt when missing and root):
// buildah (`bud --isolation chroot`), umoci (unpacks the OCI image into a rootfs), runc (runs it; see
// container.ts) and mmdebstrap (a Debian base for the build stages).
//
// The public base images are not reachable here, so the build arguments NODE_IMAGE and RUNTIME_IMAGE
// point at local stand-ins with the same layout (the Dockerfile's defaults stay the public images):
//   node stand-in:    Debian bookworm minbase + Node 24 (the `node` dev dependency's official binary)
//                     at /usr/local/bin/node + npm at /usr/local/lib/node_modules/npm, like
//                     node:24-bookworm-slim. It trusts this host's CA bundle (NODE_EXTRA_CA_CERTS), as
//                     the registry may sit behind a TLS-inspecting proxy; only the build stages use it.
//   runtime stand-in: FROM scratch with /nodejs/bin/node, the shared libraries it links, the CA bundle,
//                     /etc/passwd with nonroot 65532, USER 65532, no shell: the distroless nodejs image.
// The image is cached under ~/.cache/impersonation-operator/image-<key>, the key hashing everything the
// build context may contain (the paths .dockerignore admits), the Dockerfile and the stand-ins.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { cacheRoot, withLock } from './go-build.js';
import { repoRoot } from './paths.js';
import { HarnessError, run, runOk } from './run.js';

const APT_PACKAGES = { buildah: 'buildah', umoci: 'umoci', runc: 'runc', mmdebstrap: 'mmdebstrap' };
/** Bump when the stand-ins' recipe changes. */
const STANDIN_RECIPE = 'standins-v1';

export interface ImageLayer {
  digest: string;
  size: number;
}

export interface BuiltImage {
  /** Cache directory of this build. */
  dir: string;
  /** buildah's tag of the image (in buildah's local storage). */
  tag: string;
  /** The unpacked root filesystem (read-only to containers). */
  rootfs: string;
  /** The OCI image config: Entrypoint, User, WorkingDir, Env, Labels. */
  config: {
    Entrypoint?: string[];
    Cmd?: string[];
    User?: string;
    WorkingDir?: string;
    Env?: string[];
    Labels?: Record<string, string>;
  };
  layers: ImageLayer[];
  /** Sum of the (compressed) layer blobs, bytes. */
  sizeBytes: number;
  /** Seconds the cold build took (recorded when it was built). */
  buildSeconds: number;
}

const log = (msg: string) => process.stderr.write(`[image] ${msg}\n`);

async function onPath(cmd: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${cmd}`])).code === 0;
}

/** Installs the Debian packages this needs, once, when they are missing (root only). */
export async function ensureImageTools(): Promise<void> {
  const missing: string[] = [];
  for (const [cmd, pkg] of Object.entries(APT_PACKAGES)) if (!(await onPath(cmd))) missing.push(pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || !(await onPath('apt-get'))) {
    throw new HarnessError(
      `Building and running the container image needs ${missing.join(', ')} (Debian packages) and root ` +
        `(buildah --isolation chroot, runc). Install them: sudo apt-get install -y ${missing.join(' ')}`,
    );
  }
  await mkdir(cacheRoot(), { recursive: true });
  await withLock(join(cacheRoot(), 'apt.lock'), log, async () => {
    log(`installing ${missing.join(', ')} with apt-get (once)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = ['install', '-y', '--no-install-recommends', ...missing];
    if ((await run('apt-get', install, { env })).code !== 0) {
      await runOk('apt-get', ['update'], { env });
      await runOk('apt-get', install, { env });
    }
  });
}

async function filesUnder(path: string): Promise<string[]> {
  if (!existsSync(path)) return [];
  if (!(await stat(path)).isDirectory()) return [path];
  const out: string[] = [];
  for (const entry of (await readdir(path, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    if (entry.name === 'node_modules') continue;
    out.push(...(await filesUnder(join(path, entry.name))));
  }
  return out;
}

/** Hash of the Dockerfile, .dockerignore and every file under a path .dockerignore admits (`!path`). */
export async function contextKey(extra: string): Promise<string> {
  const ignore = await readFile(join(repoRoot, '.dockerignore'), 'utf8');
  const roots = [...ignore.matchAll(/^!([^*\s]+?)(?:\/\*\*)?\s*$/gm)].map((m) => m[1]!);
  const hash = createHash('sha256').update(extra);
  for (const file of ['Dockerfile', '.dockerignore', ...roots]) {
    for (const path of await filesUnder(join(repoRoot, file))) {
      hash
        .update(relative(repoRoot, path))
        .update('\0')
        .update(await readFile(path))
        .update('\0');
    }
  }
  return hash.digest('hex').slice(0, 12);
}

async function imageExists(tag: string): Promise<boolean> {
  return (await run('buildah', ['inspect', '--type', 'image', tag])).code === 0;
}

/**
 * `buildah bud`, retried (three attempts) only when a RUN step could not start because the kernel
 * refused to seal buildah's memfd copy of itself (EBUSY, seen here now and then): that is this
 * machine, not the Dockerfile. Any other failure is returned at once.
 */
async function bud(context: string, tag: string, args: string[] = []): Promise<RunOutput> {
  const argv = ['bud', '--isolation', 'chroot', '--pull=never', ...args, '-t', tag, context];
  for (let attempt = 1; ; attempt++) {
    const r = await run('buildah', argv);
    const output = `${r.stdout}${r.stderr}`;
    if (r.code === 0 || attempt === 3 || !/sealing memfd copy: Device or resource busy/.test(output)) {
      return { ok: r.code === 0, output };
    }
    log(`buildah could not seal its memfd copy (EBUSY, a transient of this kernel); attempt ${attempt + 1}`);
  }
}

interface RunOutput {
  ok: boolean;
  output: string;
}

/** The node and runtime stand-in bases, built once into buildah's storage. */
async function ensureStandins(): Promise<{ node: string; runtime: string }> {
  const nodeBin = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
  // The npm that runs this (npm test): `npm root -g` names its global prefix, which is wrong when npm
  // itself runs on the project's own Node (node_modules/node has no npm); npm_execpath is exact.
  const candidates = [
    ...(process.env.npm_execpath ? [dirname(dirname(process.env.npm_execpath))] : []),
    join((await runOk('npm', ['root', '-g'])).trim(), 'npm'),
  ];
  const npmDir = candidates.find((d) => existsSync(join(d, 'package.json')));
  if (npmDir === undefined) {
    throw new HarnessError(
      `npm's own files were not found (looked in ${candidates.join(', ')}); run through npm test`,
    );
  }
  if (!existsSync(nodeBin)) throw new HarnessError(`${nodeBin} is missing: run \`npm ci\` first.`);
  const nodeVersion = (await runOk(nodeBin, ['--version'])).trim();
  const npmVersion = JSON.parse(await readFile(join(npmDir, 'package.json'), 'utf8')).version as string;
  const key = createHash('sha256')
    .update(`${STANDIN_RECIPE} ${nodeVersion} ${npmVersion}`)
    .update(await readFile('/etc/ssl/certs/ca-certificates.crt'))
    .digest('hex')
    .slice(0, 12);
  const node = `localhost/impop-node-standin:${key}`;
  const runtime = `localhost/impop-runtime-standin:${key}`;
  if ((await imageExists(node)) && (await imageExists(runtime))) return { node, runtime };
  const dir = join(cacheRoot(), `image-standins-${key}`);
  await mkdir(cacheRoot(), { recursive: true });
  await withLock(`${dir}.lock`, log, async () => {
    if ((await imageExists(node)) && (await imageExists(runtime))) return;
    const t0 = Date.now();
    await rm(dir, { recursive: true, force: true });
    const nodeCtx = join(dir, 'node');
    await mkdir(nodeCtx, { recursive: true });
    log(`building the stand-in base images (${nodeVersion}, npm ${npmVersion}; once, about a minute)`);
    await runOk('mmdebstrap', ['--variant=minbase', '--quiet', 'bookworm', join(nodeCtx, 'rootfs.tar')]);
    await cp(nodeBin, join(nodeCtx, 'node'));
    await cp(npmDir, join(nodeCtx, 'npm'), { recursive: true, dereference: true });
    await cp('/etc/ssl/certs/ca-certificates.crt', join(nodeCtx, 'host-ca.crt'), { dereference: true });
    await writeFile(
      join(nodeCtx, 'Dockerfile'),
      [
        'FROM scratch',
        'ADD rootfs.tar /',
        'COPY node /usr/local/bin/node',
        'COPY npm /usr/local/lib/node_modules/npm',
        'COPY host-ca.crt /usr/local/share/impop-host-ca.crt',
        'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/impop-host-ca.crt',
        'RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ' +
          'ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && node --version && npm --version',
        'CMD ["node"]',
        '',
      ].join('\n'),
    );
    const n = await bud(nodeCtx, node);
    if (!n.ok) throw new HarnessError(`building the node stand-in failed:\n${n.output.slice(-3000)}`);

    const rtCtx = join(dir, 'runtime');
    const root = join(rtCtx, 'root');
    for (const d of ['nodejs/bin', 'etc/ssl/certs', 'tmp', 'home/nonroot', 'root']) {
      await mkdir(join(root, d), { recursive: true });
    }
    await cp(nodeBin, join(root, 'nodejs', 'bin', 'node'));
    const libs = [...(await runOk('ldd', [nodeBin])).matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
    for (const lib of libs) {
      await mkdir(join(root, lib, '..'), { recursive: true });
      await cp(lib, join(root, lib), { dereference: true });
    }
    await cp('/etc/ssl/certs/ca-certificates.crt', join(root, 'etc/ssl/certs/ca-certificates.crt'), {
      dereference: true,
    });
    await writeFile(
      join(root, 'etc', 'passwd'),
      'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' +
        'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n',
    );
    await writeFile(join(root, 'etc', 'group'), 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n');
    await runOk('chmod', ['1777', join(root, 'tmp')]);
    await runOk('chown', ['65532:65532', join(root, 'home', 'nonroot')]);
    await writeFile(
      join(rtCtx, 'Dockerfile'),
      'FROM scratch\nCOPY root/ /\nUSER 65532:65532\nWORKDIR /home/nonroot\nENTRYPOINT ["/nodejs/bin/node"]\n',
    );
    const r = await bud(rtCtx, runtime);
    if (!r.ok) throw new HarnessError(`building the runtime stand-in failed:\n${r.output.slice(-3000)}`);
    await rm(dir, { recursive: true, force: true });
    log(`stand-in base images built in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  });
  return { node, runtime };
}

/** The Dockerfile step that failed, from buildah's output, for a message a person can act on. */
export function failedStep(output: string): string {
  const step = /Error: building at STEP "([^"]*)"(?:: (.*))?/.exec(output);
  if (step) return `the Dockerfile step \`${step[1]}\` failed${step[2] ? ` (${step[2]})` : ''}`;
  const other = /^Error: (.*)$/m.exec(output);
  return other ? `buildah failed: ${other[1]}` : 'buildah failed';
}

async function readBuilt(dir: string): Promise<BuiltImage> {
  return JSON.parse(await readFile(join(dir, 'image.json'), 'utf8')) as BuiltImage;
}

let imagePromise: Promise<BuiltImage> | undefined;

/** Builds the real Dockerfile against the stand-ins (first run for this context only) and unpacks it. */
export function ensureImage(): Promise<BuiltImage> {
  imagePromise ??= (async () => {
    await ensureImageTools();
    const bases = await ensureStandins();
    const key = await contextKey(`${bases.node} ${bases.runtime}`);
    const dir = join(cacheRoot(), `image-${key}`);
    const tag = `localhost/impersonation-operator:${key}`;
    if (existsSync(join(dir, 'image.json'))) return readBuilt(dir);
    return withLock(`${dir}.lock`, log, async () => {
      if (existsSync(join(dir, 'image.json'))) return readBuilt(dir);
      const tmp = `${dir}.tmp-${process.pid}`;
      await rm(tmp, { recursive: true, force: true });
      await mkdir(tmp, { recursive: true });
      const t0 = Date.now();
      log(`building the Dockerfile (context ${key}; once per change of the build context, a minute or two)`);
      const built = await bud(repoRoot, tag, [
        '--build-arg',
        `NODE_IMAGE=${bases.node}`,
        '--build-arg',
        `RUNTIME_IMAGE=${bases.runtime}`,
        '--build-arg',
        `REVISION=context-${key}`,
        '--build-arg',
        `CREATED=${new Date().toISOString()}`,
      ]);
      if (!built.ok) {
        await writeFile(`${dir}.failed.log`, built.output);
        await rm(tmp, { recursive: true, force: true });
        throw new HarnessError(
          `Building the Dockerfile failed: ${failedStep(built.output)}.\n` +
            `Full log: ${dir}.failed.log; its end:\n${built.output.slice(-2500)}`,
        );
      }
      const buildSeconds = (Date.now() - t0) / 1000;
      const layout = join(tmp, 'oci');
      await runOk('buildah', ['push', '--quiet', tag, `oci:${layout}:impop`]);
      await runOk('umoci', ['unpack', '--image', `${layout}:impop`, join(tmp, 'bundle')]);
      const blob = async (digest: string) =>
        JSON.parse(await readFile(join(layout, 'blobs', ...digest.split(':')), 'utf8')) as unknown;
      const idx = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
        manifests: { digest: string }[];
      };
      const manifest = (await blob(idx.manifests[0]!.digest)) as {
        config: { digest: string };
        layers: ImageLayer[];
      };
      const config = ((await blob(manifest.config.digest)) as { config: BuiltImage['config'] }).config;
      const layers = manifest.layers.map((l) => ({ digest: l.digest, size: l.size }));
      const image: BuiltImage = {
        dir,
        tag,
        rootfs: join(dir, 'bundle', 'rootfs'),
        config,
        layers,
        sizeBytes: layers.reduce((sum, l) => sum + l.size, 0),
        buildSeconds,
      };
      await writeFile(join(tmp, 'image.json'), JSON.stringify(image, null, 2));
      // The unpacked rootfs is what containers run; the layout was only needed for its metadata.
      await rm(layout, { recursive: true, force: true });
      await writeFile(join(tmp, 'build.log'), built.output);
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
      log(
        `built ${tag} in ${buildSeconds.toFixed(0)}s: ${layers.length} layers, ` +
          `${(image.sizeBytes / 1e6).toFixed(1)} MB`,
      );
      return image;
    });
  })();
  return imagePromise;
}
