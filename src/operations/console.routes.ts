/**
 * The operator console (`GET /console`): one server-rendered page with a little vanilla JavaScript, over a small JSON
 * API under `/console/api/`: live throughput and lag per flow, outbox backlog, projection lag, parked dead letters
 * (reason, masked payload, replay and discard), and a customer lookup with personal data masked unless the operator
 * may see it. No frontend build. Authentication: every route here is an operations route (scope `operations`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { replayDeadLetters, type ReplayHandlers } from '../platform/dead-letter-replay.js';
import { HttpProblem, invalidInput } from '../platform/http/problem.js';
import type { Metrics } from '../platform/metrics.js';
import type { Pool } from '../platform/postgres/database.js';
import { getDeadLetter, listDeadLetters, resolveDeadLetter, type DeadLetter } from '../platform/postgres/dead-letters.js';
import { pendingCounts } from '../platform/postgres/outbox.js';
import { InvalidInputError } from '../platform/validation.js';
import { CONSOLE_CSS, CONSOLE_HTML, CONSOLE_JS } from './console.page.js';
import { maskPayloadText, maskPersonalData } from '../platform/personal-data.js';

export interface ConsoleDeps {
  readonly pool: Pool;
  readonly metrics: Metrics;
  /** The flows' searches (`RunningFlow.find`), asked in turn: the first record found is shown. */
  readonly find: readonly ((query: string) => Promise<unknown>)[];
  readonly replay: ReplayHandlers;
  /** Whether this request's operator may see personal data unmasked (default: `mayReadPersonalData`). */
  readonly revealPersonalData?: (request: FastifyRequest) => boolean;
}

/**
 * Personal data is shown only to an authenticated operator whose credentials also hold `customers:read` (who could
 * read the customer over the API anyway); everyone else, including anonymous access, sees it masked.
 */
export function mayReadPersonalData(request: FastifyRequest): boolean {
  const { principal } = request;
  return principal !== undefined && principal.kind !== 'anonymous' && principal.scopes.has('customers:read');
}

const hidden = { schema: { hide: true } };

export function consoleRoutes(app: FastifyInstance, deps: ConsoleDeps): void {
  const reveal = deps.revealPersonalData ?? mayReadPersonalData;

  app.get('/console', hidden, async (_request, reply) => {
    void reply.type('text/html; charset=utf-8').header('cache-control', 'no-store');
    return CONSOLE_HTML;
  });

  app.get('/console/console.css', hidden, async (_request, reply) => {
    void reply.type('text/css; charset=utf-8').header('cache-control', 'no-store');
    return CONSOLE_CSS;
  });
  app.get('/console/console.js', hidden, async (_request, reply) => {
    void reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-store');
    return CONSOLE_JS;
  });

  app.get('/console/api/summary', hidden, async () => {
    const [lag, kafkaLag, projectionSeconds, projectionEvents, outbox] = await Promise.all([
      deps.metrics.eventProcessingLag.get(),
      deps.metrics.kafkaConsumerLag.get(),
      deps.metrics.readModelLagSeconds.get(),
      deps.metrics.readModelLagEvents.get(),
      pendingCounts(deps.pool),
    ]);
    // Cumulative per input event type; the page turns two readings into a rate and a mean lag.
    const flows: Record<string, { processed: number; lagSecondsSum: number }> = {};
    for (const sample of lag.values) {
      const eventType = String(sample.labels.event_type ?? 'unknown');
      const flow = (flows[eventType] ??= { processed: 0, lagSecondsSum: 0 });
      if (sample.metricName === 'event_processing_lag_seconds_count') flow.processed = sample.value;
      if (sample.metricName === 'event_processing_lag_seconds_sum') flow.lagSecondsSum = sample.value;
    }
    const sum = (values: readonly { value: number }[]) => values.reduce((total, sample) => total + sample.value, 0);
    const parked = await deps.pool.query<{ reason_code: string; n: string }>(
      "SELECT reason_code, count(*) AS n FROM dead_letters WHERE status = 'parked' GROUP BY reason_code ORDER BY reason_code",
    );
    return {
      at: new Date().toISOString(),
      flows,
      kafkaConsumerLag: sum(kafkaLag.values),
      outboxBacklog: outbox,
      projection: { lagSeconds: Math.max(0, ...projectionSeconds.values.map((sample) => sample.value)), lagEvents: sum(projectionEvents.values) },
      deadLetters: Object.fromEntries(parked.rows.map((row) => [row.reason_code, Number(row.n)])),
    };
  });

  app.get('/console/api/dead-letters', hidden, async (request) => {
    const letters = await listDeadLetters(deps.pool, { status: 'parked', limit: 100 });
    return { deadLetters: letters.map((letter) => view(letter, reveal(request))) };
  });

  app.post<{ Params: { id: string } }>('/console/api/dead-letters/:id/replay', hidden, async (request) => {
    const id = parseId(request.params.id);
    const [report] = await replayDeadLetters(deps.pool, deps.replay, { ids: [id] });
    request.log.info({ deadLetterId: id, outcome: report?.outcome, via: 'console' }, 'dead letter replayed from the console');
    return report;
  });

  app.post<{ Params: { id: string } }>('/console/api/dead-letters/:id/discard', hidden, async (request) => {
    const id = parseId(request.params.id);
    const letter = await getDeadLetter(deps.pool, id);
    const done = letter !== undefined && (await resolveDeadLetter(deps.pool, id, 'discarded', 'discarded from the operator console'));
    request.log.info({ deadLetterId: id, done, via: 'console' }, 'dead letter discarded from the console');
    return { id, outcome: done ? 'discarded' : 'skipped' };
  });

  app.get<{ Querystring: { q?: string } }>('/console/api/customers', hidden, async (request) => {
    const q = (request.query.q ?? '').trim();
    if (q === '' || q.length > 254) throw new HttpProblem(invalidInput(InvalidInputError.of('INVALID_VALUE', 'q', 'give a customer id, user id, customer number or e-mail')));
    for (const find of deps.find) {
      const customer = await find(q);
      if (customer !== undefined) return { customer: reveal(request) ? customer : maskPersonalData(customer), masked: !reveal(request) };
    }
    throw new HttpProblem({ status: 404, code: 'CUSTOMER_NOT_FOUND', detail: 'no customer with this id, user id, number or e-mail' });
  });
}

function parseId(id: string): string {
  if (!/^\d{1,18}$/.test(id)) throw new HttpProblem(invalidInput(InvalidInputError.of('INVALID_VALUE', 'id', 'not a dead-letter id')));
  return id;
}

function displayed(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text.slice(0, 4_000);
  }
}

function view(letter: DeadLetter, reveal: boolean) {
  return {
    id: letter.id,
    transport: letter.transport,
    source: letter.source,
    reasonCode: letter.reasonCode,
    errorMessage: reveal ? letter.errorMessage : String(maskPersonalData(letter.errorMessage)),
    // Parsed for display when it is JSON; masked unless the operator may read personal data.
    attempts: letter.attempts,
    parkedAt: letter.parkedAt.toISOString(),
    messageId: letter.messageId,
    payload: displayed(reveal ? letter.payload.toString('utf8') : maskPayloadText(letter.payload.toString('utf8'))),
  };
}
