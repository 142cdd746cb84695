/**
 * Seeded fault schedules: the same name and seed give the same faults at the same times, so a failing run can be
 * repeated exactly (`npm run chaos -- --schedule overlap --seed 4`).
 */

export type FaultKind =
  | 'kill-instance'
  | 'freeze-broker'
  | 'restart-broker'
  | 'freeze-nats'
  | 'restart-nats'
  | 'freeze-postgres'
  | 'kill-postgres'
  | 'exhaust-connections'
  | 'terminate-transactions';

export interface Fault {
  readonly kind: FaultKind;
  /** Milliseconds after the driver starts. */
  readonly atMs: number;
  /** How long the fault lasts (until the instance, server or connections come back). */
  readonly durationMs: number;
  /** The instance, for `kill-instance`. */
  readonly target?: number;
}

export interface Schedule {
  readonly name: ScheduleName;
  readonly seed: number;
  readonly faults: readonly Fault[];
}

export const SCHEDULES = {
  /** Instances SIGKILLed and restarted: partitions and JetStream deliveries move between the survivors. */
  instances: ['kill-instance'],
  /** The brokers frozen and restarted under the instances. */
  brokers: ['freeze-broker', 'restart-broker', 'freeze-nats', 'restart-nats', 'kill-instance'],
  /** PostgreSQL frozen, crashed and out of connections. */
  database: ['freeze-postgres', 'kill-postgres', 'exhaust-connections', 'terminate-transactions', 'kill-instance'],
  /** Every kind of fault, at random. */
  everything: [
    'kill-instance',
    'freeze-broker',
    'restart-broker',
    'freeze-nats',
    'restart-nats',
    'freeze-postgres',
    'kill-postgres',
    'exhaust-connections',
    'terminate-transactions',
  ],
  /** A broker fault and a PostgreSQL fault always overlapping, with instances killed meanwhile. */
  overlap: [],
} as const satisfies Record<string, readonly FaultKind[]>;

export type ScheduleName = keyof typeof SCHEDULES;

export function isScheduleName(name: string): name is ScheduleName {
  return Object.hasOwn(SCHEDULES, name);
}

/** mulberry32: a small, well-known seeded generator (reproducibility is all that matters here). */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DURATION_MS: Readonly<Record<FaultKind, readonly [number, number]>> = {
  'kill-instance': [500, 4_000],
  'freeze-broker': [2_000, 10_000],
  'restart-broker': [1_000, 6_000],
  'freeze-nats': [2_000, 8_000],
  'restart-nats': [1_000, 5_000],
  'freeze-postgres': [1_000, 6_000],
  'kill-postgres': [1_000, 5_000],
  'exhaust-connections': [2_000, 8_000],
  'terminate-transactions': [2_000, 6_000],
};

/** Faults over `spanMs` of driving, one starting every `everyMs` on average; at most one of each server fault at a time. */
export function makeSchedule(name: ScheduleName, seed: number, spanMs: number, instances: number, everyMs = 4_000): Schedule {
  const next = random(seed);
  const between = (low: number, high: number) => Math.round(low + next() * (high - low));
  const fault = (kind: FaultKind, atMs: number): Fault => {
    const [low, high] = DURATION_MS[kind];
    return { kind, atMs, durationMs: between(low, high), ...(kind === 'kill-instance' ? { target: Math.floor(next() * instances) } : {}) };
  };
  const faults: Fault[] = [];
  if (name === 'overlap') {
    // Pairs: a broker fault, and a PostgreSQL fault that begins while it lasts; an instance killed in between.
    const broker: FaultKind[] = ['freeze-broker', 'restart-broker', 'freeze-nats', 'restart-nats'];
    const database: FaultKind[] = ['freeze-postgres', 'kill-postgres', 'exhaust-connections', 'terminate-transactions'];
    for (let at = 1_000; at < spanMs; at += everyMs * 3) {
      const first = fault(broker[Math.floor(next() * broker.length)] as FaultKind, at);
      faults.push(first);
      faults.push(fault(database[Math.floor(next() * database.length)] as FaultKind, at + between(200, Math.max(300, first.durationMs - 200))));
      faults.push(fault('kill-instance', at + between(0, everyMs)));
    }
  } else {
    const kinds: readonly FaultKind[] = SCHEDULES[name];
    for (let at = between(500, everyMs); at < spanMs; at += between(everyMs / 2, everyMs * 1.5)) {
      faults.push(fault(kinds[Math.floor(next() * kinds.length)] as FaultKind, at));
    }
  }
  return { name, seed, faults: withoutClashes(faults.sort((a, b) => a.atMs - b.atMs)) };
}

/** The same server cannot be frozen and restarted at once: a fault on a server still under one is dropped. */
function withoutClashes(faults: readonly Fault[]): Fault[] {
  const server = (kind: FaultKind) => (kind.endsWith('broker') ? 'broker' : kind.endsWith('nats') ? 'nats' : kind === 'kill-instance' ? 'instance' : 'postgres');
  const busyUntil = new Map<string, number>();
  return faults.filter((fault) => {
    const key = fault.kind === 'kill-instance' ? `instance-${fault.target}` : server(fault.kind);
    if ((busyUntil.get(key) ?? -1) > fault.atMs) return false;
    busyUntil.set(key, fault.atMs + fault.durationMs);
    return true;
  });
}
