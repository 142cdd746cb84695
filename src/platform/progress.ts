/**
 * Progress of a long command (`publish`, `dead-letters replay --all`, `projections rebuild`, `import knapscen`): one
 * line on stderr at most once per interval while it runs, and a last line when it ends, so an operator sees it move and
 * stdout keeps only the command's report.
 */
export interface Progress {
  /** Adds `count` units done (default 1). */
  add(count?: number): void;
  /** Sets the units done so far. */
  set(done: number): void;
  /** Writes the last line. */
  finish(): void;
}

export interface ProgressOptions {
  /** e.g. `publish user-registered`. */
  readonly label: string;
  /** e.g. `events`. */
  readonly unit: string;
  /** When known, lines show `done/total (percent)`. */
  readonly total?: number;
  readonly intervalMs?: number;
  readonly write?: (line: string) => void;
  readonly now?: () => number;
}

export function createProgress(options: ProgressOptions): Progress {
  const now = options.now ?? Date.now;
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const intervalMs = options.intervalMs ?? 1_000;
  const started = now();
  let lastWritten = started;
  let done = 0;
  let finished = false;

  const line = (final: boolean) => {
    const seconds = Math.max((now() - started) / 1000, 0.001);
    const { total } = options;
    const count = total === undefined ? `${done} ${options.unit}` : `${done}/${total} ${options.unit} (${total === 0 ? 100 : Math.floor((done / total) * 100)}%)`;
    const rate = `${Math.round(done / seconds)}/s`;
    write(`${options.label}: ${count}, ${rate}, ${seconds.toFixed(1)} s${final ? ', done' : ''}`);
  };
  const maybeWrite = () => {
    if (finished || now() - lastWritten < intervalMs) return;
    lastWritten = now();
    line(false);
  };
  return {
    add(count = 1) {
      done += count;
      maybeWrite();
    },
    set(value) {
      done = value;
      maybeWrite();
    },
    finish() {
      if (finished) return;
      finished = true;
      line(true);
    },
  };
}
