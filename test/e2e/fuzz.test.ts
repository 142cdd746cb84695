/**
 * The fuzzers' reduced run (`npm run fuzz` is the full one: 10,000 messages per broker): malformed messages on Kafka
 * and NATS, schemathesis against the HTTP API from its own /openapi.json. Every input rejected or parked with a reason
 * code, nothing written, no 5xx, the instance alive, its RSS reported.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fuzzFailures, runFuzz } from '../../chaos/fuzz.js';
import { ROOT } from '../support/cli.js';
import { kafkaDescription, kafkaIsReal } from '../support/kafka-test-broker.js';

let dir: string | undefined;
afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe(`fuzzing every way in, reduced [${kafkaDescription}]`, () => {
  it('1,000 malformed messages per broker and schemathesis on the API: all refused or parked with a reason, nothing written, no 5xx', async () => {
    expect(kafkaIsReal, 'the fuzz run needs a real Kafka broker (Java 17 and Maven)').toBe(true);
    // .ci/run installs it; a missing schemathesis fails here rather than skipping the HTTP half.
    const schemathesis = execFileSync('bash', [path.join(ROOT, 'scripts/install-schemathesis.sh')], { encoding: 'utf8' }).trim();
    dir = await mkdtemp(path.join(tmpdir(), 'customer-service-fuzz-'));
    const result = await runFuzz({ seed: 7, messages: 1_000, httpExamples: 25, schemathesis, dir, sourceRoot: ROOT, log: () => undefined });
    console.info(
      `fuzz: Kafka ${result.kafka.parked}/${result.kafka.sent} parked, NATS ${result.nats.parked}/${result.nats.sent} parked, ` +
        `HTTP ${result.http.cases} schemathesis cases, RSS ${result.rssStartMb} -> ${result.rssEndMb} MB`,
    );
    expect(fuzzFailures(result)).toEqual([]);
    expect(result.http.ran).toBe(true);
    expect(result.http.cases).toBeGreaterThan(500);
    expect(Object.keys(result.kafka.kinds).length).toBeGreaterThanOrEqual(12);
    expect(result.kafka.reasons).not.toHaveProperty('RETRIES_EXHAUSTED');
    expect(result.nats.reasons).not.toHaveProperty('RETRIES_EXHAUSTED');
  }, 600_000);
});
