// Stops the control plane started by the global setup (the watchdog covers a killed jest).
export default async function globalTeardown() {
  globalThis.__IMPOP_CONTROL_SERVER__?.close();
  const cp = globalThis.__IMPOP_CONTROL_PLANE__;
  if (cp) {
    await cp.stop();
    globalThis.__IMPOP_CONTROL_PLANE__ = undefined;
  }
}
