/**
 * Validates Kubernetes manifests offline against the Kubernetes API schemas: `kubernetes-models` ships validators
 * generated (with ajv) from the Kubernetes OpenAPI definitions, one per kind. They check types, enums, formats and
 * required fields; like `kubectl apply --validate=false` they do not reject unknown fields.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';

export interface Manifest {
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

type Validatable = { validate(): void };
const MODELS: Record<string, new (data: never) => Validatable> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

/** Every document of every `*.yaml` in `dir`, except the kustomization. */
export function loadManifests(dir: string): Manifest[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
    .sort()
    .flatMap((file) => parseManifests(readFileSync(path.join(dir, file), 'utf8'), file));
}

export function parseManifests(text: string, file = '(inline)'): Manifest[] {
  return parseAllDocuments(text).map((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]?.message}`);
    return { ...(document.toJS() as Omit<Manifest, 'file'>), file } as Manifest;
  });
}

/** Throws, naming the file and the offending path, unless `manifest` is valid for its apiVersion and kind. */
export function validateManifest(manifest: Manifest): void {
  const { file, ...object } = manifest;
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (Model === undefined) throw new Error(`${file}: no schema for ${manifest.apiVersion} ${manifest.kind}`);
  try {
    new Model(object as never).validate();
  } catch (error) {
    throw new Error(`${file} (${manifest.kind} ${manifest.metadata?.name}): ${(error as Error).message}`, { cause: error });
  }
}
