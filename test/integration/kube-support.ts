// Helpers for the kube-*.test.ts integration tests: clients on the real control plane, a TCP proxy that
// can cut every connection or hold every byte (a real network failure or stall, not a fake), and polling.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, type KubeClientOptions } from '../../src/kube/client.js';
import { adminKubeConfig } from '../harness/identities.js';
import { eventually as pollUntil } from '../harness/policies.js';

export const suffix = (): string => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

export function adminClient(opts: KubeClientOptions = {}): Promise<KubeClient> {
  return KubeClient.fromKubeConfig(adminKubeConfig(), opts);
}

/** The same kubeconfig, pointed at another server address (e.g. a proxy). */
export function kubeConfigVia(kc: KubeConfig, server: string): KubeConfig {
  const copy = new KubeConfig();
  copy.loadFromOptions({
    clusters: kc.clusters.map((c) => ({ ...c, server })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return copy;
}

/**
 * A TCP pass-through to the API server that can drop every connection and refuse new ones, or stall: hold
 * every byte in both directions (connections stay open, the API server sees nothing) until released.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private stalled = false;
  /** Bytes held while stalled, in arrival order, with the socket each is bound for. */
  private held: Array<[Socket, Buffer]> = [];

  private constructor(
    private readonly target: URL,
    public port = 0,
  ) {}

  static async start(targetServer: string): Promise<TcpProxy> {
    const proxy = new TcpProxy(new URL(targetServer));
    await proxy.resume();
    return proxy;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Resets every open connection (in-flight requests and watches fail) but keeps accepting new ones. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** Holds every byte from now on, on open and new connections, until `release()`. */
  stall(): void {
    this.stalled = true;
  }

  /** Delivers what was held, in order, and passes bytes through again. */
  release(): void {
    this.stalled = false;
    const held = this.held;
    this.held = [];
    for (const [to, chunk] of held) if (!to.destroyed) to.write(chunk);
  }

  /** Cuts every connection and stops listening: new connections are refused. */
  async pause(): Promise<void> {
    this.cut();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again, on the same port. */
  async resume(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(Number(this.target.port), this.target.hostname);
      this.sockets.add(client).add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      this.forward(client, upstream);
      this.forward(upstream, client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  close(): Promise<void> {
    this.held = [];
    return this.pause();
  }

  private forward(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (this.stalled) this.held.push([to, chunk]);
      else to.write(chunk);
    });
    from.on('end', () => to.end());
  }
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
/** Polls `check` every 50 ms until it returns a value other than undefined/false (the harness's poller). */
export function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<T> {
  return pollUntil(what, async () => check(), timeoutMs, 50);
}
