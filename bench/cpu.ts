/**
 * CPU time of the processes a run shares the two cores with, from /proc: every descendant of the benchmark process,
 * grouped as PostgreSQL (`postgres`), the broker (`java`: Kafka; `nats-server`), the service processes (`node` children)
 * and the benchmark itself. Children that have exited are counted through their parent's cutime/cstime, so a
 * PostgreSQL backend that ended is still in the PostgreSQL figure.
 */
import { readdir, readFile } from 'node:fs/promises';

const CLOCK_TICKS_PER_SECOND = 100;

export type CpuGroup = 'postgres' | 'broker' | 'service' | 'bench' | 'other';

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly ticks: number;
}

async function processes(): Promise<Proc[]> {
  const entries = await readdir('/proc');
  const result: Proc[] = [];
  await Promise.all(
    entries
      .filter((entry) => /^\d+$/.test(entry))
      .map(async (entry) => {
        const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
        if (stat === undefined) return;
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // After the command: state ppid … utime(12) stime(13) cutime(14) cstime(15), 1-based from state = 1.
        const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
        result.push({ pid: Number(entry), ppid: Number(fields[1]), comm, ticks });
      }),
  );
  return result;
}

/** CPU milliseconds used so far by each group of this process's descendants (and by itself, as `bench`). */
export async function cpuByGroup(): Promise<Record<CpuGroup, number>> {
  const all = await processes();
  const children = new Map<number, Proc[]>();
  for (const proc of all) children.set(proc.ppid, [...(children.get(proc.ppid) ?? []), proc]);
  const totals: Record<CpuGroup, number> = { postgres: 0, broker: 0, service: 0, bench: 0, other: 0 };
  const groupOf = (proc: Proc, inherited: CpuGroup | undefined): CpuGroup => {
    if (inherited !== undefined && inherited !== 'bench') return inherited;
    if (proc.pid === process.pid) return 'bench';
    if (proc.comm.startsWith('postgres')) return 'postgres';
    if (proc.comm === 'java' || proc.comm.startsWith('nats-server')) return 'broker';
    if (proc.comm === 'node' || proc.comm.startsWith('MainThread')) return 'service';
    return inherited === 'bench' ? 'other' : 'other';
  };
  const visit = (proc: Proc, inherited: CpuGroup | undefined) => {
    const group = groupOf(proc, inherited);
    // A wrapper (bash, npx) takes the group of what runs under it.
    if (group === 'other' && (children.get(proc.pid) ?? []).length > 0) {
      for (const child of children.get(proc.pid) ?? []) visit(child, undefined);
      totals.other += proc.ticks;
      return;
    }
    totals[group] += proc.ticks;
    for (const child of children.get(proc.pid) ?? []) visit(child, group === 'bench' ? undefined : group);
  };
  const self = all.find((proc) => proc.pid === process.pid);
  if (self !== undefined) visit(self, undefined);
  for (const group of Object.keys(totals) as CpuGroup[]) totals[group] = (totals[group] * 1000) / CLOCK_TICKS_PER_SECOND;
  return totals;
}

/** `after - before`, per group, divided by `per` (e.g. ms per event). */
export function cpuDelta(before: Record<CpuGroup, number>, after: Record<CpuGroup, number>, per: number): Record<CpuGroup, number> {
  const result = { ...after };
  for (const group of Object.keys(after) as CpuGroup[]) result[group] = (after[group] - before[group]) / per;
  return result;
}
