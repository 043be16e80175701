// Starts one control plane for the whole integration run; workers find it via IMPOP_CLUSTER_INFO.
// Jest loads global setup through Node's own ESM loader (no ts-jest path mapping), so this file is
// plain JavaScript and uses the compiled harness (`npm run test:integration` builds first).
import { existsSync } from 'node:fs';

const compiled = new URL('../../dist/test/harness/controlplane.js', import.meta.url);

export default async function globalSetup() {
  if (process.env.IMPOP_CLUSTER_INFO && !process.env.IMPOP_OWN_CLUSTER) return; // reuse a running one
  if (!existsSync(compiled)) {
    throw new Error(
      'The compiled test harness is missing: run `npm run build` (npm run test:integration does).',
    );
  }
  const { ControlPlane } = await import(compiled.href);
  const started = Date.now();
  const cp = await ControlPlane.start({ keepWorkDir: process.env.IMPOP_KEEP_WORKDIR === '1' });
  globalThis.__IMPOP_CONTROL_PLANE__ = cp;
  process.env.IMPOP_CLUSTER_INFO = cp.infoPath;
  process.env.IMPOP_OWN_CLUSTER = '1';
  process.stderr.write(`[controlplane] started in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
}
