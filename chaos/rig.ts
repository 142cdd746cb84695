/**
 * One chaos run: start the cluster, drive inputs while the schedule's faults hit it, heal everything, wait for the
 * system to quiesce, and check the ledger against what the systems hold.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { check, settledYet, type Findings } from './checker.js';
import { startCluster, type Cluster } from './cluster.js';
import { startDriver, type Driver } from './driver.js';
import { makeSchedule, type Fault, type ScheduleName } from './schedule.js';

export interface RigOptions {
  readonly schedule: ScheduleName;
  readonly seed: number;
  readonly inputs: number;
  readonly ratePerSecond: number;
  /** Run directory: database, instance logs, ledger and result. */
  readonly dir: string;
  readonly sourceRoot: string;
  /** Longest wait for the system to settle after the last fault. */
  readonly quiesceTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

export interface RigResult extends Findings {
  readonly schedule: ScheduleName;
  readonly seed: number;
  readonly faults: readonly Fault[];
  /** From the last fault healed (or the last input answered, if later) to every effect in place; null: never settled. */
  readonly quiesceMs: number | null;
  readonly drivingMs: number;
}

/** Whether a run broke a guarantee (or never settled). */
export function broken(result: RigResult): boolean {
  return result.lost + result.parkedValid + result.duplicated + result.stuck + result.gaps + result.orderViolations + result.writtenForRejected > 0 || result.quiesceMs === null;
}

export async function runRig(options: RigOptions): Promise<RigResult> {
  // A fresh directory: an earlier run's database would answer for this one (its dead letters even take the same
  // Kafka positions, so this run's poison would seem never parked).
  await rm(options.dir, { recursive: true, force: true });
  await mkdir(options.dir, { recursive: true });
  const began = Date.now();
  const log = (line: string) => (options.log ?? console.info)(`[chaos ${options.schedule}/${options.seed} +${((Date.now() - began) / 1000).toFixed(1)}s] ${line}`);
  const cluster = await startCluster({ dir: options.dir, sourceRoot: options.sourceRoot, log });
  let driver: Driver | undefined;
  try {
    await waitForInstances(cluster);
    const spanMs = Math.round((options.inputs / options.ratePerSecond) * 1000);
    const schedule = makeSchedule(options.schedule, options.seed, spanMs, cluster.instances.length);
    log(`${schedule.faults.length} faults over ${spanMs} ms: ${schedule.faults.map((fault) => `${fault.kind}@${fault.atMs}`).join(' ')}`);
    driver = await startDriver({
      seed: options.seed,
      inputs: options.inputs,
      ratePerSecond: options.ratePerSecond,
      bootstrapServers: cluster.kafka.bootstrapServers,
      natsUrl: cluster.nats.url,
      instances: cluster.instances,
      log,
    });
    const drivingStart = Date.now();
    // One fault at a time per server: a restart whose start outlasts its planned duration finishes before the next
    // fault on that server begins. After a failure, faults still waiting are not applied.
    const lanes = new Map<string, Promise<void>>();
    let failed = false;
    const faults = Promise.all(
      schedule.faults.map(async (fault) => {
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, drivingStart + fault.atMs - Date.now())));
        const lane = serverOf(fault);
        const run = (lanes.get(lane) ?? Promise.resolve()).then(async () => {
          if (failed) return;
          try {
            await applyFault(cluster, fault, log);
          } catch (error) {
            failed = true;
            throw error;
          }
        });
        lanes.set(lane, run.catch(() => undefined));
        await run;
      }),
    );
    const driving = driver.done;
    await Promise.all([driving, faults]);
    const drivingMs = Date.now() - drivingStart;
    const calm = Date.now();
    log(`driving done after ${drivingMs} ms; every fault healed; waiting for the system to settle`);
    for (const instance of cluster.instances) instance.start();

    const sources = { databaseUrl: cluster.databaseUrl, bootstrapServers: cluster.kafka.bootstrapServers, natsUrl: cluster.nats.url };
    let quiesceMs: number | null = null;
    let last = '';
    const deadline = calm + (options.quiesceTimeoutMs ?? 180_000);
    while (Date.now() < deadline) {
      const state = await settledYet(sources, driver.ledger);
      if (state.why !== last) log(`settling: ${state.why}`);
      last = state.why;
      if (state.settled) {
        quiesceMs = Date.now() - calm;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await driver.stop();
    await writeFile(path.join(options.dir, 'ledger.jsonl'), driver.ledger.map((entry) => JSON.stringify({ ...entry, body: undefined })).join('\n'));
    const findings = await check(sources, driver.ledger);
    const result: RigResult = { schedule: options.schedule, seed: options.seed, faults: schedule.faults, quiesceMs, drivingMs, ...findings };
    await writeFile(path.join(options.dir, 'result.json'), JSON.stringify(result, null, 2));
    return result;
  } finally {
    await driver?.stop();
    await cluster.stop();
  }
}

async function waitForInstances(cluster: Cluster): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (const instance of cluster.instances) {
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${instance.port}/health/ready`).then((response) => response.status, () => 0);
      if (status === 200) break;
      if (Date.now() > deadline) throw new Error(`instance ${instance.index} not ready within 120 s`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

function serverOf(fault: Fault): string {
  if (fault.kind === 'kill-instance') return `instance-${fault.target}`;
  if (fault.kind.endsWith('broker')) return 'broker';
  if (fault.kind.endsWith('nats')) return 'nats';
  return 'postgres';
}

async function applyFault(cluster: Cluster, fault: Fault, log: (line: string) => void): Promise<void> {
  log(`fault ${fault.kind}${fault.target === undefined ? '' : ` ${fault.target}`} for ${fault.durationMs} ms`);
  const hold = () => new Promise((resolve) => setTimeout(resolve, fault.durationMs));
  switch (fault.kind) {
    case 'kill-instance': {
      const instance = cluster.instances[fault.target ?? 0];
      await instance?.kill();
      await hold();
      instance?.start();
      return;
    }
    case 'freeze-broker':
      cluster.kafka.signalNode(1, 'SIGSTOP');
      await hold();
      cluster.kafka.signalNode(1, 'SIGCONT');
      return;
    case 'restart-broker':
      await cluster.kafka.stopNode(1, 'SIGKILL');
      await hold();
      await cluster.kafka.startNode(1);
      return;
    case 'freeze-nats':
      cluster.nats.signal('SIGSTOP');
      await hold();
      cluster.nats.signal('SIGCONT');
      return;
    case 'restart-nats':
      await cluster.nats.stop();
      await hold();
      await cluster.nats.start();
      return;
    case 'freeze-postgres':
      await cluster.signalPostgres('SIGSTOP');
      await hold();
      await cluster.signalPostgres('SIGCONT');
      return;
    case 'kill-postgres':
      await cluster.killPostgres();
      await hold();
      await cluster.startPostgres();
      return;
    case 'terminate-transactions': {
      // Every 100 ms for the fault's duration: most transactions in flight meet it somewhere between BEGIN and COMMIT.
      let terminated = 0;
      for (const until = Date.now() + fault.durationMs; Date.now() < until; ) {
        terminated += await cluster.terminateTransactions();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      log(`terminated ${terminated} backends in a transaction`);
      return;
    }
    case 'exhaust-connections': {
      const release = await cluster.exhaustConnections();
      await hold();
      await release();
      return;
    }
  }
}
