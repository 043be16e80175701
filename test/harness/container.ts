// Runs the built image (image.ts) with runc, the way a kubelet runs the chart's Deployment: the
// image's entry point and working directory, a numeric user, a read-only root filesystem, no
// capabilities, no new privileges, an emptyDir-like /tmp, host network (the local API server is on
// loopback), and read-only bind mounts such as the service-account token directory.
// The OCI spec is written here (not `podman run`): podman adds rlimits that this machine refuses.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuiltImage } from './image.js';
import { run } from './run.js';

export interface ContainerOptions {
  /** Arguments after the image's entry point (the Deployment's `args`). */
  args: string[];
  env?: Record<string, string>;
  uid: number;
  gid: number;
  readOnlyRootFilesystem: boolean;
  /** Host directories bind-mounted read-only: container path -> host path. */
  readOnlyMounts?: Record<string, string>;
}

export interface Container {
  readonly id: string;
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with runc's exit code (the container process's). */
  readonly exited: Promise<number | null>;
  signal(sig: 'TERM' | 'KILL'): Promise<void>;
  /** Removes the container's state and bundle (after it exited, or forcibly). */
  remove(): Promise<void>;
}

/** The OCI runtime spec for `opts`: what the chart's securityContext means to a container runtime. */
export function runtimeSpec(image: BuiltImage, opts: ContainerOptions): Record<string, unknown> {
  const noCaps = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] };
  const env = [...(image.config.Env ?? []), ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`)];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: opts.uid, gid: opts.gid },
      args: [...(image.config.Entrypoint ?? []), ...opts.args],
      env,
      cwd: image.config.WorkingDir ?? '/',
      capabilities: noCaps,
      noNewPrivileges: true,
    },
    root: { path: image.rootfs, readonly: opts.readOnlyRootFilesystem },
    hostname: 'impop',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755'] },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      // The chart's `tmp` emptyDir.
      {
        destination: '/tmp',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'mode=1777', 'size=16m'],
      },
      ...Object.entries(opts.readOnlyMounts ?? {}).map(([destination, source]) => ({
        destination,
        type: 'bind',
        source,
        options: ['rbind', 'ro'],
      })),
    ],
    linux: {
      // No network namespace: host network.
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/kcore', '/proc/timer_list', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/** Starts a container in the foreground of `runc run` (runc forwards signals to its process). */
export async function startContainer(image: BuiltImage, opts: ContainerOptions): Promise<Container> {
  const bundle = await mkdtemp(join(tmpdir(), 'impop-container-'));
  const id = `impop-${randomBytes(4).toString('hex')}`;
  await writeFile(join(bundle, 'config.json'), JSON.stringify(runtimeSpec(image, opts), null, 2));
  const child = spawn('runc', ['run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Never leave a container behind when the test process ends.
  const reap = () => {
    spawn('runc', ['delete', '--force', id], { stdio: 'ignore' });
  };
  process.once('exit', reap);
  return {
    id,
    child,
    exited,
    output: () => out,
    async signal(sig) {
      await run('runc', ['kill', id, sig]);
    },
    async remove() {
      await run('runc', ['delete', '--force', id]);
      process.removeListener('exit', reap);
      await rm(bundle, { recursive: true, force: true });
    },
  };
}
