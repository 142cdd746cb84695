/**
 * A real `nats-server` with JetStream for one test file: `nats-server -a 127.0.0.1 -p <free port> -js -sd <tmpdir>`.
 * `stop()` and `start()` again on the same port and store simulate an outage; `close()` removes everything.
 * Never the machine's own server on 4222.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './global-setup.js';
import { stopProcess } from './stop-process.js';

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Starts the server (again); resolves once it accepts clients. */
  start(): Promise<void>;
  /** Stops the server, keeping its JetStream store. */
  stop(): Promise<void>;
  /** Sends the running server `SIGSTOP` (frozen: connections stay open, nothing answers) or `SIGCONT`. */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void;
  /** Stops the server and deletes its store. */
  close(): Promise<void>;
}

const BINARY = process.env.NATS_SERVER_BIN ?? 'nats-server';
const INSTALL_HINT = 'Install it with `apt-get install -y nats-server` (Debian), or set NATS_SERVER_BIN to its path.';
const START_TIMEOUT_MS = 20_000;

export async function startNatsServer(
  options: { user?: string; password?: string; tls?: { readonly certFile: string; readonly keyFile: string } } = {},
): Promise<NatsServer> {
  const storeDir = await mkdtemp(path.join(tmpdir(), 'customer-service-test-nats-'));
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const auth = options.user === undefined ? [] : ['--user', options.user, '--pass', options.password ?? ''];
      if (options.tls !== undefined) auth.push('--tls', '--tlscert', options.tls.certFile, '--tlskey', options.tls.keyFile);
      const process_ = spawn(BINARY, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...auth], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = process_;
      let log = '';
      const timer = setTimeout(() => {
        process_.kill('SIGKILL');
        reject(new Error(`nats-server did not become ready within ${START_TIMEOUT_MS} ms:\n${log}`));
      }, START_TIMEOUT_MS);
      process_.stderr?.setEncoding('utf8');
      process_.stderr?.on('data', (chunk: string) => {
        log = (log + chunk).slice(-4000);
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      process_.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(error.code === 'ENOENT' ? new Error(`nats-server not found (${BINARY}). ${INSTALL_HINT}`) : error);
      });
      process_.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (code ${code}, signal ${signal}) before it was ready:\n${log}`));
      });
    });

  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    await stopProcess(running);
  };

  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    start,
    stop,
    signal: (signal) => {
      if (child?.pid === undefined || child.exitCode !== null) throw new Error('nats-server is not running');
      child.kill(signal);
    },
    close: async () => {
      await stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
