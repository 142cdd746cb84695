/**
 * The service under test, as its own process (the compiled `dist/main.js`, as the container runs it), with the
 * resident memory and CPU time the kernel accounts to it sampled from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface ServiceProcess {
  readonly pid: number;
  readonly url: string;
  /** Resident set size now, in bytes. */
  rss(): Promise<number>;
  /** Largest resident set size sampled since start (every 100 ms), in bytes. */
  peakRss(): number;
  /** User + system CPU seconds used since start. */
  cpuSeconds(): Promise<number>;
  /** The service's own memory figures from its /metrics (V8 heap used and total, external, array buffers), in MB. */
  memory(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

const CLOCK_TICKS_PER_SECOND = 100;

export async function startServiceProcess(options: {
  readonly root: string;
  readonly env: Readonly<Record<string, string>>;
  readonly port: number;
  readonly onOutput?: (line: string) => void;
  /** Writes a V8 CPU profile of the service into this folder when it exits (`--cpu-prof`). */
  readonly cpuProfileDir?: string;
}): Promise<ServiceProcess> {
  const profile = options.cpuProfileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`];
  // Node flags NODE_OPTIONS does not take (e.g. --trace-gc), space-separated.
  const nodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  const child: ChildProcess = spawn(process.execPath, [...profile, ...nodeArgs, 'dist/main.js', 'serve'], {
    cwd: options.root,
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(options.port),
      LOG_LEVEL: 'warn',
      // A/B of the read model written in the use cases' transactions (`READ_MODEL_IN_TRANSACTION=true npm run bench`).
      ...(process.env.READ_MODEL_IN_TRANSACTION === undefined ? {} : { READ_MODEL_IN_TRANSACTION: process.env.READ_MODEL_IN_TRANSACTION }),
      // Any other service setting to compare, e.g. BENCH_SERVICE_ENV='KAFKA_FETCH_MAX_BYTES=10485760'.
      ...Object.fromEntries(
        (process.env.BENCH_SERVICE_ENV ?? '')
          .split(' ')
          .filter((pair) => pair.includes('='))
          .map((pair): [string, string] => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
      ),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    output = (output + text).slice(-20_000);
    options.onOutput?.(text);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  const pid = child.pid;
  if (pid === undefined) throw new Error('the service did not start');
  const url = `http://127.0.0.1:${options.port}`;

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}:\n${output}`);
    const ready = await fetch(`${url}/health/ready`).then((response) => response.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`the service did not become ready:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const rss = async () => {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  };
  let peak = 0;
  const sampler = setInterval(() => {
    rss().then((value) => (peak = Math.max(peak, value)), () => undefined);
  }, 100);
  sampler.unref();

  return {
    pid,
    url,
    rss,
    peakRss: () => peak,
    cpuSeconds: async () => {
      // Fields 14 and 15 of /proc/<pid>/stat, counted after the parenthesised command name.
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    },
    memory: async () => {
      const text = await fetch(`${url}/metrics`).then((response) => response.text(), () => '');
      const figures: Record<string, number> = {};
      for (const name of ['nodejs_heap_size_used_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_external_memory_bytes', 'process_resident_memory_bytes']) {
        const value = new RegExp(`^${name} ([\\d.e+]+)`, 'm').exec(text)?.[1];
        if (value !== undefined) figures[name.replace(/^(nodejs|process)_/, '').replace(/_bytes$/, 'Mb')] = Math.round(Number(value) / 2 ** 20);
      }
      return figures;
    },
    stop: async () => {
      clearInterval(sampler);
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`the service exited with ${code} on SIGTERM:\n${output}`);
    },
  };
}
