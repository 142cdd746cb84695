/**
 * Replay of parked messages, shared by every transport and flow. Each flow declares a route per way in: the dead letters'
 * `transport` value (`kafka`, `nats`, …) and, when two flows share a transport, the `source` (topic, subject) it owns;
 * the handler pushes the original bytes through the same decoding and use
 * case as a live delivery, so a replay is deduplicated like a redelivery and replaying twice is harmless.
 */
import type { Pool } from './postgres/database.js';
import { getDeadLetter, listDeadLetters, resolveDeadLetter, type DeadLetter, type DeadLetterFilter } from './postgres/dead-letters.js';

export type ReplayOutcome =
  | { readonly outcome: 'replayed'; readonly resolution: string }
  /** Still not acceptable (e.g. invalid input): the letter stays parked. */
  | { readonly outcome: 'rejected'; readonly reasonCode: string; readonly message: string };

/** Replays one letter; throws on a transient failure (the letter stays parked, try again later). */
export type ReplayHandler = (letter: DeadLetter) => Promise<ReplayOutcome>;

/** Which parked letters a handler replays: those of `transport`, and only those of `source` (topic, subject) when it names one. */
export interface ReplayRoute {
  readonly transport: string;
  readonly source?: string;
  readonly handler: ReplayHandler;
}

/** The replay routes of every flow (`src/flows.ts`); a record of handlers by transport is the short form of routes without a source. */
export type ReplayHandlers = readonly ReplayRoute[] | Readonly<Record<string, ReplayHandler>>;

function routesOf(handlers: ReplayHandlers): readonly ReplayRoute[] {
  // Array.isArray does not narrow a readonly array type out of the union.
  if (isRouteList(handlers)) return handlers;
  return Object.entries(handlers).map(([transport, handler]) => ({ transport, handler }));
}

function isRouteList(handlers: ReplayHandlers): handlers is readonly ReplayRoute[] {
  return Array.isArray(handlers);
}

/**
 * The handler of a letter: the route naming its transport and source, else the one naming its transport alone.
 * Two routes claiming the same letters are a wiring mistake, refused when the routes are assembled (`replayRoutes`).
 */
export function replayHandlerFor(handlers: ReplayHandlers, letter: Pick<DeadLetter, 'transport' | 'source'>): ReplayHandler | undefined {
  const routes = routesOf(handlers);
  return (
    routes.find((route) => route.transport === letter.transport && route.source === letter.source) ??
    routes.find((route) => route.transport === letter.transport && route.source === undefined)
  )?.handler;
}

/** The routes, checked: no two of them claim the same (transport, source). */
export function replayRoutes(routes: readonly ReplayRoute[]): readonly ReplayRoute[] {
  const seen = new Set<string>();
  for (const route of routes) {
    const key = JSON.stringify([route.transport, route.source ?? null]);
    if (seen.has(key)) throw new Error(`two replay handlers for transport "${route.transport}"${route.source === undefined ? '' : ` and source "${route.source}"`}`);
    seen.add(key);
  }
  return routes;
}

export interface ReplayReport {
  readonly id: string;
  readonly outcome: 'replayed' | 'rejected' | 'failed' | 'skipped';
  readonly detail: string;
}

/**
 * Replay of an outbox message the broker refused (transport `outbox`, offset = outbox id): the row is unparked, and
 * its destination's relay publishes it again, in outbox-id order ahead of newer rows. Resolves once unparked, not
 * once published: if the broker still refuses it, the relay parks it again as a new letter.
 */
export function outboxReplayHandler(pool: Pool): ReplayHandler {
  return async (letter) => {
    const { rowCount } = await pool.query('UPDATE outbox SET parked_at = NULL, attempts = 0 WHERE id = $1 AND parked_at IS NOT NULL', [letter.offset]);
    return rowCount === 1
      ? { outcome: 'replayed', resolution: `outbox row ${String(letter.offset)} unparked; the ${letter.source} relay publishes it again` }
      : { outcome: 'rejected', reasonCode: 'NOT_PARKED', message: `outbox row ${String(letter.offset)} is not parked (published or removed)` };
  };
}

/** Replays the letters with `ids`, or every parked letter matching `filter`; one report per letter, in order. */
export async function replayDeadLetters(
  pool: Pool,
  handlers: ReplayHandlers,
  selection: { readonly ids: readonly string[] } | { readonly filter: DeadLetterFilter },
  onProgress?: (done: number, total: number) => void,
): Promise<ReplayReport[]> {
  const letters: (DeadLetter | string)[] =
    'ids' in selection
      ? await Promise.all(selection.ids.map(async (id) => (await getDeadLetter(pool, id)) ?? id))
      : await listDeadLetters(pool, { ...selection.filter, status: 'parked' });
  const reports: ReplayReport[] = [];
  for (const letter of letters) {
    onProgress?.(reports.length, letters.length);
    if (typeof letter === 'string') {
      reports.push({ id: letter, outcome: 'skipped', detail: 'no such dead letter' });
      continue;
    }
    if (letter.status !== 'parked') {
      reports.push({ id: letter.id, outcome: 'skipped', detail: `already ${letter.status}${letter.resolution === null ? '' : `: ${letter.resolution}`}` });
      continue;
    }
    const handler = replayHandlerFor(handlers, letter);
    if (handler === undefined) {
      reports.push({ id: letter.id, outcome: 'skipped', detail: `no replay handler for transport "${letter.transport}"` });
      continue;
    }
    try {
      const result = await handler(letter);
      if (result.outcome === 'rejected') {
        reports.push({ id: letter.id, outcome: 'rejected', detail: `${result.reasonCode}: ${result.message}` });
        continue;
      }
      const resolved = await resolveDeadLetter(pool, letter.id, 'replayed', result.resolution);
      reports.push({ id: letter.id, outcome: resolved ? 'replayed' : 'skipped', detail: resolved ? result.resolution : 'resolved concurrently' });
    } catch (error) {
      reports.push({ id: letter.id, outcome: 'failed', detail: error instanceof Error ? error.message : String(error) });
    }
  }
  onProgress?.(reports.length, letters.length);
  return reports;
}
