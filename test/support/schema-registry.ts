/**
 * A real Schema Registry for tests: Apicurio Registry 2.6 (Maven Central, fetched by `scripts/fetch-apicurio.sh`, which
 * `.ci/run` calls), started on a free port with its in-memory storage, answering the Confluent REST API under
 * `/apis/ccompat/v6`. Karapace, the other candidate, is not on PyPI (https://pypi.org/simple/karapace/ answers 404).
 * Start-up takes 10-40 s on a busy 2-core machine; one per test file that needs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './cli.js';
import { freePort } from './global-setup.js';

export const APICURIO_VERSION = '2.6.13.Final';

export interface TestSchemaRegistry {
  /** The Confluent-compatible base URL. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export function apicurioJar(): string {
  return (
    process.env.APICURIO_REGISTRY_JAR ??
    path.join(ROOT, '.cache', `apicurio-registry-${APICURIO_VERSION}`, `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`)
  );
}

export async function startSchemaRegistry(): Promise<TestSchemaRegistry> {
  const jar = apicurioJar();
  if (!existsSync(jar)) {
    throw new Error(`Apicurio Registry not found at ${jar}: run scripts/fetch-apicurio.sh (bash .ci/run does) or set APICURIO_REGISTRY_JAR`);
  }
  const port = await freePort();
  const child: ChildProcess = spawn(
    'java',
    ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', `-Dquarkus.http.port=${port}`, '-Dquarkus.http.host=127.0.0.1', '-jar', jar],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}/apis/ccompat/v6`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Apicurio Registry exited with ${child.exitCode}: ${stderr}`);
    const ok = await fetch(`${url}/subjects`).then((response) => response.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Apicurio Registry did not answer within 180 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return {
    url,
    port,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
