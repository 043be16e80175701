// Starts one control plane for the whole integration run; workers find it via IMPOP_CLUSTER_INFO.
import { ControlPlane } from './controlplane.js';

declare global {
  var __IMPOP_CONTROL_PLANE__: ControlPlane | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (process.env.IMPOP_CLUSTER_INFO && !process.env.IMPOP_OWN_CLUSTER) return; // reuse a running one
  const started = Date.now();
  const cp = await ControlPlane.start({ keepWorkDir: process.env.IMPOP_KEEP_WORKDIR === '1' });
  globalThis.__IMPOP_CONTROL_PLANE__ = cp;
  process.env.IMPOP_CLUSTER_INFO = cp.infoPath;
  process.env.IMPOP_OWN_CLUSTER = '1';
  process.stderr.write(`[controlplane] started in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
}
