// Starts one control plane for the whole integration run; workers find it via IMPOP_CLUSTER_INFO.
// Jest loads global setup through Node's own ESM loader (no ts-jest path mapping), so this file is
// plain JavaScript and uses the compiled harness (`npm run test:integration` builds first).
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';

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
  // Build (or find cached) helm, kubeconform, the Lua runner, Prometheus and promtool here, where no test timeout applies:
  // on a cold machine that takes minutes, which would otherwise land in whichever test needs them first.
  const { ensureTools } = await import(new URL('../../dist/test/harness/tools.js', import.meta.url).href);
  await ensureTools();
  const { ensurePromTools } = await import(
    new URL('../../dist/test/harness/prometheus.js', import.meta.url).href
  );
  await ensurePromTools();
  const cp = await ControlPlane.start({
    keepWorkDir: process.env.IMPOP_KEEP_WORKDIR === '1',
    crds: [new URL('../../crds', import.meta.url).pathname],
  });
  globalThis.__IMPOP_CONTROL_PLANE__ = cp;
  process.env.IMPOP_CLUSTER_INFO = cp.infoPath;
  process.env.IMPOP_OWN_CLUSTER = '1';
  // Fault-injection tests run in workers; the processes belong to this one. A loopback endpoint lets
  // a worker ask for an API server restart without leaking a process the teardown does not know.
  const control = createServer((req, res) => {
    if (req.method === 'POST' && req.url?.startsWith('/restart-apiserver')) {
      const downtime = Number(new URL(req.url, 'http://x').searchParams.get('downtimeMs') ?? '1000');
      cp.restartApiserver(downtime).then(
        () => res.end('ok'),
        (err) => {
          res.statusCode = 500;
          res.end(String(err));
        },
      );
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise((resolve) => control.listen(0, '127.0.0.1', resolve));
  control.unref();
  globalThis.__IMPOP_CONTROL_SERVER__ = control;
  process.env.IMPOP_HARNESS_CONTROL = `http://127.0.0.1:${control.address().port}`;
  process.stderr.write(`[controlplane] started in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
}
