/** Stopping a test server's process: SIGTERM, SIGKILL when it has not exited after `graceMs`. */
import type { ChildProcess } from 'node:child_process';

export async function stopProcess(running: ChildProcess | undefined, graceMs = 5_000): Promise<void> {
  if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => running.kill('SIGKILL'), graceMs);
    running.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    running.kill('SIGTERM');
  });
}
