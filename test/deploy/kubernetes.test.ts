/**
 * deploy/kubernetes and docker-compose.yml: valid against the Kubernetes schemas (vendored in the kubernetes-models
 * package, no network), and consistent with the service: its health routes, its port, its shutdown deadline, and a
 * configuration that config.ts accepts.
 */
import { readFileSync } from 'node:fs';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { decideAuth } from '../../src/platform/auth/authenticator.js';
import { loadManifests, parseManifests, validateManifest, type Manifest } from '../support/kubernetes.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const DIR = `${ROOT}deploy/kubernetes`;
const manifests = loadManifests(DIR);

const find = <T = Manifest>(kind: string, name?: string): T => {
  const found = manifests.find((manifest) => manifest.kind === kind && (name === undefined || manifest.metadata.name === name));
  if (found === undefined) throw new Error(`no ${kind} ${name ?? ''}`);
  return found as T;
};
const deployment = find<IDeployment & Manifest>('Deployment');
const pod = deployment.spec?.template.spec;
const container = pod?.containers.find((candidate) => candidate.name === 'customer-service');
const configMap = find<Manifest & { data: Record<string, string> }>('ConfigMap', 'customer-service-config');
const secret = find<Manifest & { stringData: Record<string, string> }>('Secret', 'knapscen-config');

describe('Kubernetes manifests', () => {
  it('has a Deployment, Service, ConfigMap, example Secret, PodDisruptionBudget and HorizontalPodAutoscaler', () => {
    expect(manifests.map((manifest) => manifest.kind).sort()).toEqual(
      ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Secret', 'Service'].sort(),
    );
  });

  it.each(manifests.map((manifest) => [`${manifest.file}: ${manifest.kind}`, manifest] as const))('%s is valid against the Kubernetes schema', (_label, manifest) => {
    expect(() => validateManifest(manifest)).not.toThrow();
  });

  it('lists every manifest but the example Secret in the kustomization', () => {
    const kustomization = parse(readFileSync(`${DIR}/kustomization.yaml`, 'utf8')) as { resources: string[] };
    const files = [...new Set(manifests.map((manifest) => manifest.file))].filter((file) => file !== 'secret.example.yaml');
    expect(kustomization.resources.sort()).toEqual(files.sort());
  });

  it('probes the service’s real health endpoints on its port', () => {
    expect(container?.livenessProbe?.httpGet?.path).toBe('/health/live');
    expect(container?.startupProbe?.httpGet?.path).toBe('/health/live');
    expect(container?.readinessProbe?.httpGet?.path).toBe('/health/ready');
    const http = container?.ports?.find((port) => port.name === 'http');
    expect(String(http?.containerPort)).toBe(configMap.data.PORT);
    for (const probe of [container?.livenessProbe, container?.readinessProbe, container?.startupProbe]) expect(probe?.httpGet?.port).toBe('http');
  });

  it('runs non-root on a read-only root file system, with no privileges, and with resources set', () => {
    expect(pod?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: expect.any(Number) as number });
    expect(pod?.securityContext?.runAsUser).not.toBe(0);
    expect(container?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(container?.resources?.requests).toMatchObject({ cpu: expect.any(String) as string, memory: expect.any(String) as string });
    expect(container?.resources?.limits?.memory).toEqual(expect.any(String));
  });

  it('gives the graceful shutdown time: grace period > preStop sleep + SHUTDOWN_TIMEOUT_MS', () => {
    const command = container?.lifecycle?.preStop?.exec?.command ?? [];
    expect(command[0]).toBe('sleep');
    const preStopMs = Number(command[1]) * 1000;
    expect(preStopMs).toBeGreaterThan(0);
    const shutdownMs = loadConfig(configMap.data).shutdownTimeoutMs;
    expect((pod?.terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThan(preStopMs + shutdownMs);
  });

  it('is configured with variables config.ts accepts: the ConfigMap plus the knapscen-config Secret', () => {
    expect(container?.envFrom?.map((source) => source.configMapRef?.name ?? source.secretRef?.name)).toEqual(['customer-service-config', 'knapscen-config']);
    const config = loadConfig({ ...configMap.data, ...secret.stringData });
    expect(config.database.kind).toBe('external');
    expect(config.tracing.exporter).toBe('otlp');
    // serve's safe-by-default rule: an external database is served only with authentication.
    expect(decideAuth(config)).toEqual({ enforced: true, methods: ['jwt'] });
    expect(Object.keys(secret.stringData)).toEqual(
      expect.arrayContaining(['DB_HOST', 'DB_PORT', 'DB_USER', 'DB_PASSWORD', 'DB_NAME', 'NATS_SERVER', 'NATS_STREAM', 'NATS_SUBJECT', 'NATS_USER', 'NATS_PASSWORD']),
    );
  });

  it('points the Service, PodDisruptionBudget and autoscaler at the Deployment’s pods', () => {
    const labels = deployment.spec?.template.metadata?.labels ?? {};
    const service = find<Manifest & { spec: { selector: Record<string, string>; ports: { targetPort: string }[] } }>('Service');
    expect(labels).toMatchObject(service.spec.selector);
    expect(service.spec.ports.map((port) => port.targetPort)).toEqual(['http']);
    expect(labels).toMatchObject(find<Manifest & { spec: { selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget').spec.selector.matchLabels);
    const hpa = find<Manifest & { spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number } }>('HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name });
    // The PodDisruptionBudget keeps one pod: the autoscaler must never go down to that one.
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
  });

  describe('the validation catches a broken manifest', () => {
    const text = readFileSync(`${DIR}/deployment.yaml`, 'utf8');
    it.each([
      ['replicas as a string', 'replicas: 2', 'replicas: two'],
      ['a Deployment without containers', /containers:[\s\S]*?(?=\n {6}volumes:)/, 'initContainers: []\n'],
      ['an unknown protocol', 'protocol: TCP', 'protocol: SCTPX'],
      ['a probe without a port', /readinessProbe:\n {12}httpGet:\n {14}path: \/health\/ready\n {14}port: http/, 'readinessProbe:\n            httpGet:\n              path: /health/ready'],
      ['a wrong apiVersion', 'apiVersion: apps/v1', 'apiVersion: apps/v2'],
    ])('%s', (_label, from, to) => {
      const changed = text.replace(from, to);
      expect(changed).not.toBe(text);
      const [broken] = parseManifests(changed, 'deployment.yaml');
      expect(() => validateManifest(broken as Manifest)).toThrow(/deployment\.yaml/);
    });
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')) as {
    services: Record<string, { image?: string; build?: unknown; command?: string[]; environment?: Record<string, string>; stop_grace_period?: string }>;
  };

  it('runs PostgreSQL 16+, MongoDB 8.2, Kafka in KRaft mode, NATS with JetStream and the service built from the Dockerfile', () => {
    const { postgres, mongodb, kafka, nats } = compose.services;
    expect(Number(/^postgres:(\d+)/.exec(postgres?.image ?? '')?.[1])).toBeGreaterThanOrEqual(16);
    expect(mongodb?.image).toMatch(/^mongo:8\.2/);
    expect(kafka?.environment?.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(nats?.command).toContain('-js');
    expect(compose.services['customer-service']?.build).toBe('.');
  });

  it('configures the service with variables config.ts accepts, and a stop grace period longer than its shutdown deadline', () => {
    const service = compose.services['customer-service'];
    const config = loadConfig(service?.environment ?? {});
    expect(config.database.kind).toBe('external');
    expect(decideAuth(config)).toEqual({ enforced: false, reason: 'AUTH_MODE=none' });
    expect(Number(/^(\d+)s$/.exec(service?.stop_grace_period ?? '')?.[1]) * 1000).toBeGreaterThan(config.shutdownTimeoutMs);
  });
});
