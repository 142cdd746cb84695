/** The Sveltos Job template of `deploy/sveltos/configmap.yaml`, rendered for a CloudEvent as Sveltos would. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { renderGoTemplate } from './go-template.js';

const configMapPath = new URL('../../deploy/sveltos/configmap.yaml', import.meta.url);

export interface RenderedJob {
  readonly yaml: string;
  readonly manifest: {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace: string; labels: Record<string, string> };
    spec: {
      backoffLimit: number;
      ttlSecondsAfterFinished: number;
      podFailurePolicy: { rules: { action: string; onExitCodes?: { containerName: string; operator: string; values: number[] } }[] };
      template: {
        spec: {
          restartPolicy: string;
          securityContext?: Record<string, unknown>;
          containers: {
            name: string;
            image: string;
            args: string[];
            env: { name: string; value: string | null }[];
            securityContext?: Record<string, unknown>;
            resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
          }[];
        };
      };
    };
  };
  /** The container's explicit env, name → value. */
  readonly env: Record<string, string>;
}

/** `cluster` is the managed cluster's object as Sveltos passes it (`.Cluster`); by default one without annotations. */
export function renderJobTemplate(cloudEvent: unknown, cluster: unknown = { metadata: { name: 'cluster-a', namespace: 'default' } }): RenderedJob {
  const configMap = parse(readFileSync(configMapPath, 'utf8')) as { data: { 'job.yaml': string } };
  const yaml = renderGoTemplate(configMap.data['job.yaml'], { CloudEvent: cloudEvent, Cluster: cluster });
  const manifest = parse(yaml) as RenderedJob['manifest'];
  const container = manifest.spec.template.spec.containers[0];
  const env = Object.fromEntries((container?.env ?? []).map((entry) => [entry.name, entry.value ?? '']));
  return { yaml, manifest, env };
}
