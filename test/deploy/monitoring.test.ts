/**
 * The dashboard, the alerting rules and their Kubernetes wrappers (issue #19): every metric they query is one the
 * service really exports (read from a running app's /metrics), the operator's PrometheusRule carries exactly the rules
 * Prometheus loads in docker-compose, every alert has a runbook section, and docker-compose provisions both.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildTestApp } from '../support/app.js';
import { validateManifest, loadManifests } from '../support/kubernetes.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const read = (file: string) => readFileSync(`${ROOT}${file}`, 'utf8');

interface Rule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: { readonly severity: string };
  readonly annotations: { readonly summary: string; readonly runbook_url: string };
}
const alerts = (parse(read('deploy/monitoring/alerts.yaml')) as { groups: { name: string; rules: Rule[] }[] }).groups;
const rules = alerts.flatMap((group) => group.rules);
const dashboard = JSON.parse(read('deploy/monitoring/grafana-dashboard.json')) as { panels: { title: string; targets?: { expr: string }[] }[] };
const dashboardExprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ where: `panel "${panel.title}"`, expr: target.expr })));

/** PromQL words that are not metric names. */
const PROMQL = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'by', 'without', 'rate', 'increase', 'irate', 'histogram_quantile', 'and', 'or', 'unless',
  'on', 'ignoring', 'group_left', 'group_right', 'abs', 'absent', 'bool', 'le', 'humanizePercentage',
]);
/** Series Prometheus makes itself rather than the service. */
const PROMETHEUS_OWN = new Set(['up']);

/** Metric names in a PromQL expression: identifiers not inside quotes or label matchers, not functions or keywords. */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\{[^}]*\}/g, '{}').replace(/\[[^\]]*\]/g, '[]');
  const withoutGrouping = withoutStrings.replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '');
  return [...withoutGrouping.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b/g)]
    .map((match) => match[1] ?? '')
    .filter((name) => !PROMQL.has(name) && !/^\d/.test(name) && !/^(e\d+)$/.test(name));
}

let db: TestDatabase;
let app: FastifyInstance;
let exported: Set<string>;

beforeAll(async () => {
  db = await createTestDatabase();
  ({ app } = buildTestApp(db, { defaultMetrics: true }));
  const text = (await app.inject({ url: '/metrics' })).body;
  exported = new Set<string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name = '', type] = match;
    exported.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) exported.add(`${name}${suffix}`);
  }
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
});

describe('dashboard and alerts', () => {
  it('query only metrics the service exports', () => {
    const queries = [...dashboardExprs, ...rules.map((rule) => ({ where: `alert ${rule.alert}`, expr: rule.expr }))];
    expect(queries.length).toBeGreaterThan(20);
    const unknown = queries.flatMap(({ where, expr }) =>
      metricNames(expr)
        .filter((name) => !exported.has(name) && !PROMETHEUS_OWN.has(name))
        .map((name) => `${where}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });

  it('the metric-name check catches a metric the service does not export', () => {
    expect(metricNames('sum(rate(customer_created_totl{status="failed"}[5m])) > 0')).toEqual(['customer_created_totl']);
    expect(exported.has('customer_created_totl')).toBe(false);
    expect(metricNames('histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{job="x"}[5m])))')).toEqual([
      'http_request_duration_seconds_bucket',
    ]);
  });

  it('select the job the ServiceMonitor and the compose Prometheus give the service', () => {
    for (const { where, expr } of dashboardExprs) expect(expr, where).toContain('job="customer-service"');
    const monitor = parse(read('deploy/kubernetes/monitoring/servicemonitor.yaml')) as { spec: { jobLabel: string; endpoints: { port: string; path: string }[] } };
    const service = loadManifests(`${ROOT}deploy/kubernetes`).find((manifest) => manifest.kind === 'Service') as unknown as {
      metadata: { labels: Record<string, string> };
    };
    expect(service.metadata.labels[monitor.spec.jobLabel]).toBe('customer-service');
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })]);
    expect(read('deploy/monitoring/prometheus.yml')).toMatch(/job_name: customer-service/);
  });

  it('every alert has a severity, a summary and a runbook section that names the CLI commands to use', () => {
    const runbook = read('docs/runbook.md');
    for (const rule of rules) {
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels.severity);
      expect(rule.annotations.summary, rule.alert).not.toBe('');
      expect(rule.annotations.runbook_url, rule.alert).toBe(`docs/runbook.md#${rule.alert.toLowerCase()}`);
      const section = new RegExp(`^## ${rule.alert}\\n([\\s\\S]*?)(?=^## |(?![\\s\\S]))`, 'm').exec(runbook)?.[1];
      expect(section, `docs/runbook.md has no "## ${rule.alert}" section`).toBeDefined();
      expect(section, rule.alert).toMatch(/\*\*Meaning\*\*/);
      expect(section, rule.alert).toMatch(/\*\*What to do\*\*/);
    }
  });

  it('the PrometheusRule for the operator carries exactly the rules of alerts.yaml', () => {
    const rule = parse(read('deploy/kubernetes/monitoring/prometheusrule.yaml')) as { kind: string; spec: { groups: unknown } };
    expect(rule.kind).toBe('PrometheusRule');
    expect(rule.spec.groups).toEqual(alerts);
  });
});

describe('NetworkPolicy', () => {
  it('is valid, selects the service pods and admits only its HTTP port', () => {
    const policy = loadManifests(`${ROOT}deploy/kubernetes`).find((manifest) => manifest.kind === 'NetworkPolicy');
    expect(policy).toBeDefined();
    expect(() => validateManifest(policy as NonNullable<typeof policy>)).not.toThrow();
    const spec = (policy as unknown as { spec: { podSelector: { matchLabels: Record<string, string> }; ingress: { ports: { port: string }[] }[] } }).spec;
    expect(spec.podSelector.matchLabels['app.kubernetes.io/name']).toBe('customer-service');
    expect(spec.ingress.flatMap((rule) => rule.ports.map((port) => port.port))).toEqual(['http']);
  });
});

describe('docker-compose.yml', () => {
  it('runs Prometheus with the alerting rules and Grafana provisioned with the dashboard', () => {
    const compose = parse(read('docker-compose.yml')) as { services: Record<string, { volumes?: string[] }> };
    const mounts = (name: string) => (compose.services[name]?.volumes ?? []).map((volume) => volume.split(':')[0] ?? '');
    expect(mounts('prometheus')).toEqual(expect.arrayContaining(['./deploy/monitoring/prometheus.yml', './deploy/monitoring/alerts.yaml']));
    expect(mounts('grafana')).toEqual(expect.arrayContaining(['./deploy/monitoring/grafana/provisioning', './deploy/monitoring/grafana-dashboard.json']));
    for (const mount of [...mounts('prometheus'), ...mounts('grafana')]) expect(existsSync(`${ROOT}${mount}`), mount).toBe(true);
  });
});
