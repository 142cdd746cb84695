/**
 * Awaits a condition instead of sleeping: polls `probe` until it returns a value that is not undefined or false, or
 * the deadline passes. The second argument names the condition (`'the document'`) or gives options.
 */
export async function eventually<T>(
  probe: () => Promise<T | undefined | false>,
  whatOrOptions: string | { timeoutMs?: number; intervalMs?: number; what?: string } = {},
  timeoutMs?: number,
): Promise<T> {
  const options = typeof whatOrOptions === 'string' ? { what: whatOrOptions, timeoutMs } : whatOrOptions;
  const limit = options.timeoutMs ?? 20_000;
  const deadline = Date.now() + limit;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const detail = last === undefined ? '' : ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})`;
      throw new Error(`timed out after ${limit} ms waiting for ${options.what ?? 'a condition'}${detail}`, { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 20));
  }
}
