/** `deploy/sveltos/`: the Job template renders to a safe manifest, and the JetStream definitions are accepted by NATS. */
import { readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { fixtureEvent } from '../support/corporate.js';
import { goJson, goQuote } from '../support/go-template.js';
import { startNatsServer, type NatsServer } from '../support/nats.js';
import { renderJobTemplate } from '../support/sveltos.js';

const deployFile = (name: string) => readFileSync(new URL(`../../deploy/sveltos/${name}`, import.meta.url), 'utf8');

const EXPECTED_ENV = ['COMPANY_NAME', 'COMPANY_DATA', 'SUBSCRIPTION_TIER', 'EVENT_ID', 'EVENT_TIME', 'EVENT_SOURCE', 'CUSTOMER_ID', 'NATS_SUBJECT', 'NATS_ENSURE_STREAM'];

describe('Sveltos Job template', () => {
  it('runs customer-service in Job mode with the CloudEvent in the environment the Job reads', () => {
    const event = fixtureEvent();
    const { manifest, env } = renderJobTemplate(event);
    expect(manifest.kind).toBe('Job');
    expect(manifest.metadata.name).toBe('customer-registered-550e8400-e29b-41d4-a716-446655440000');
    expect(manifest.spec.template.spec.containers[0]?.args).toEqual(['register-corporate-customer']);
    expect(Object.keys(env)).toEqual(EXPECTED_ENV);
    expect(env).toMatchObject({
      COMPANY_NAME: 'TechCorp Solutions',
      SUBSCRIPTION_TIER: 'far-out',
      EVENT_ID: 'evt-customer-20251004120000',
      EVENT_TIME: '2025-10-04T12:00:00Z',
      EVENT_SOURCE: 'knapscen.disco',
      CUSTOMER_ID: '550e8400-e29b-41d4-a716-446655440000',
      NATS_SUBJECT: 'customer-saved',
    });
    expect(JSON.parse(env.COMPANY_DATA ?? '')).toEqual(event.data);
  });

  it('does not retry invalid input (exit 2), retries transient failures a bounded number of times, and cleans up', () => {
    const { manifest } = renderJobTemplate(fixtureEvent());
    expect(manifest.spec.template.spec.restartPolicy).toBe('Never');
    expect(manifest.spec.backoffLimit).toBeGreaterThan(0);
    expect(manifest.spec.backoffLimit).toBeLessThan(6);
    expect(manifest.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
    expect(manifest.spec.podFailurePolicy.rules).toContainEqual({
      action: 'FailJob',
      onExitCodes: { containerName: 'register-corporate-customer', operator: 'In', values: [2] },
    });
  });

  it('runs the Job non-root, without privileges, on a read-only root, with requests and a memory limit', () => {
    const { manifest } = renderJobTemplate(fixtureEvent());
    const pod = manifest.spec.template.spec;
    const [container] = pod.containers;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container?.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container?.resources?.requests).toEqual({ cpu: '100m', memory: '128Mi' });
    expect(container?.resources?.limits?.memory).toBe('256Mi');
  });

  it("takes the image from the managed cluster's customer-service.acme.io/image annotation, else the default", () => {
    expect(renderJobTemplate(fixtureEvent()).manifest.spec.template.spec.containers[0]?.image).toBe('ghcr.io/acme/customer-service:latest');
    const pinned = { metadata: { name: 'prod-eu', annotations: { 'customer-service.acme.io/image': 'registry.example/customer-service:1.4.2@sha256:abc' } } };
    expect(renderJobTemplate(fixtureEvent(), pinned).manifest.spec.template.spec.containers[0]?.image).toBe('registry.example/customer-service:1.4.2@sha256:abc');
  });

  it('keeps a hostile company name one string: quotes, newlines and YAML syntax cannot add keys', () => {
    const event = fixtureEvent();
    const hostile = 'Evil" Corp\n            - name: NATS_SERVER\n              value: nats://attacker:4222 \\ \' # & <b> {{ .CloudEvent.id }} \u0007 ü';
    event.data.name = hostile;
    event.subject = 'x"\nkind: Secret';
    const { manifest, env } = renderJobTemplate(event);
    expect(Object.keys(env)).toEqual(EXPECTED_ENV);
    expect(env.COMPANY_NAME).toBe(hostile);
    expect((JSON.parse(env.COMPANY_DATA ?? '') as { name: string }).name).toBe(hostile);
    expect(env.CUSTOMER_ID).toBe('x"\nkind: Secret');
    expect(manifest.kind).toBe('Job');
    expect(manifest.metadata.name).toBe('customer-registered-x"\nkind: Secret');
  });

  it('renders quote and toJson as Go does', () => {
    expect(goQuote('a"b\\c\nd\te\u0001é')).toBe('"a\\"b\\\\c\\nd\\te\\x01é"');
    expect(goJson({ b: 1, a: '<&>' })).toBe('{"a":"\\u003c\\u0026\\u003e","b":1}');
  });
});

describe('Sveltos EventSource and EventTrigger', () => {
  it('match customer-registered from knapscen.disco and instantiate the Job template', () => {
    const source = parse(deployFile('eventsource.yaml')) as { metadata: { name: string }; spec: { messagingMatchCriteria: { subject: string; cloudEventSource: string; cloudEventType: string }[] } };
    const trigger = parse(deployFile('eventtrigger.yaml')) as { spec: { eventSourceName: string; oneForEvent: boolean; policyRefs: { name: string; kind: string }[] } };
    const configMap = parse(deployFile('configmap.yaml')) as { metadata: { name: string; annotations: Record<string, string> } };
    expect(source.spec.messagingMatchCriteria).toEqual([
      { subject: 'customer-registered', cloudEventSource: 'knapscen.disco', cloudEventType: 'disco.knapscen.customer.registered' },
    ]);
    expect(trigger.spec.eventSourceName).toBe(source.metadata.name);
    expect(trigger.spec.oneForEvent).toBe(true);
    expect(trigger.spec.policyRefs).toEqual([{ name: configMap.metadata.name, namespace: 'projectsveltos', kind: 'ConfigMap' }]);
    expect(configMap.metadata.annotations['projectsveltos.io/instantiate']).toBe('ok');
  });
});

describe('JetStream definitions', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(() => server?.close());

  it('are accepted by nats-server: one stream per subject, the sveltos-agent and customer-service consumers', async () => {
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      for (const subject of ['customer-registered', 'customer-saved', 'user-saved']) {
        const stream = JSON.parse(deployFile(`jetstream/stream-${subject}.json`)) as { name: string; subjects: string[]; num_replicas: number };
        expect(stream).toMatchObject({ name: subject, subjects: [subject] });
        // The test server is a single node; production runs three replicas.
        expect(stream.num_replicas).toBe(3);
        await jsm.streams.add({ ...stream, num_replicas: 1 });
      }
      for (const [stream, file] of [
        ['customer-registered', 'consumer-sveltos-agent-customer-registered.json'],
        ['user-saved', 'consumer-sveltos-agent-user-saved.json'],
        ['customer-registered', 'consumer-customer-service.json'],
      ] as const) {
        const config = JSON.parse(deployFile(`jetstream/${file}`)) as { backoff: number[]; max_deliver: number; durable_name: string };
        expect(config.max_deliver).toBeGreaterThan(config.backoff.length);
        const info = await jsm.consumers.add(stream, config);
        expect(info.config.durable_name).toBe(config.durable_name);
      }
    } finally {
      await nc.close();
    }
  });
});
