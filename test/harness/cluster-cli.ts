// `npm run cluster`: starts the local control plane by hand and stops it on Ctrl-C.
import { ControlPlane } from './controlplane.js';

const cp = await ControlPlane.start({ keepWorkDir: process.argv.includes('--keep') }).catch((err: Error) => {
  process.stderr.write(`\n${err.message}\n`);
  process.exit(1);
});
const info = cp.info!;
process.stdout.write(
  [
    '',
    `Kubernetes ${info.version} is running at ${info.server}`,
    `  kubeconfig (system:masters): ${info.adminKubeconfig}`,
    `  audit log:                   ${info.auditLogPath}`,
    `  kubectl (same version):      ${info.kubectl}`,
    '',
    'Try:',
    `  export KUBECONFIG=${info.adminKubeconfig}`,
    `  ${info.kubectl} get --raw /version && ${info.kubectl} get clusterroles | head`,
    '',
    'Press Ctrl-C to stop it (everything is removed).',
    '',
  ].join('\n'),
);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  process.stdout.write('\nStopping the control plane...\n');
  await cp.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
