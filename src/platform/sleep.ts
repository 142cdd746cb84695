/**
 * Waits `ms`, or less once `stillRunning()` turns false (checked every 50 ms): background loops back off without
 * holding up a shutdown.
 */
export async function sleepWhile(ms: number, stillRunning: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (stillRunning() && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(50, until - Date.now())));
  }
}
