/**
 * A client of the Confluent Schema Registry REST API (also served by Apicurio Registry's `ccompat` API and by
 * Karapace): schemas by id for decoding, registration and compatibility checks for the schemas this service owns.
 *
 * Failures are classified here, once: an id the registry does not know is permanent (`SchemaNotFoundError`, the
 * message is parked `SCHEMA_NOT_FOUND`); a registry that does not answer, times out or answers 5xx is transient
 * (`SchemaRegistryUnavailableError`, retried on the schedule). Parsed schemas are cached by id for the life of the
 * process (an id's schema never changes), so an outage only affects ids not seen before.
 */
import avro from 'avsc';

export interface SchemaRegistryConfig {
  /** Base URL, e.g. `http://registry:8081` or Apicurio's `http://registry:8080/apis/ccompat/v7`; without credentials. */
  readonly url: string;
  /** Basic auth (Confluent Cloud: API key and secret). */
  readonly username?: string;
  readonly password?: string;
  readonly timeoutMs: number;
}

export class SchemaNotFoundError extends Error {
  override readonly name = 'SchemaNotFoundError';
  readonly code = 'SCHEMA_NOT_FOUND';
  constructor(readonly schemaId: number) {
    super(`the schema registry has no schema with id ${schemaId}`);
  }
}

/** The registry did not answer usefully; `transient` makes `isTransientError` (and so every retry schedule) retry it. */
export class SchemaRegistryUnavailableError extends Error {
  override readonly name = 'SchemaRegistryUnavailableError';
  readonly transient = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The registry refused a request for a reason that retrying will not change (401, 403, 409 incompatible, 422…). */
export class SchemaRegistryRequestError extends Error {
  override readonly name = 'SchemaRegistryRequestError';
  constructor(
    message: string,
    readonly status: number,
    readonly errorCode: number | undefined,
  ) {
    super(message);
  }
}

export interface SchemaRegistry {
  /** The writer schema of `id`, parsed; cached. */
  typeById(id: number): Promise<avro.Type>;
  /** Registers `schema` under `subject` (idempotent: an identical schema keeps its id) and returns its id. */
  register(subject: string, schema: string): Promise<number>;
  /** The id of `schema` when it is already registered under `subject`. */
  lookup(subject: string, schema: string): Promise<number>;
  /** Whether `schema` is compatible with the latest version of `subject` under the registry's rules (true for a new subject). */
  isCompatible(subject: string, schema: string): Promise<boolean>;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export function createSchemaRegistry(config: SchemaRegistryConfig): SchemaRegistry {
  const base = config.url.replace(/\/+$/, '');
  const authorization =
    config.username === undefined ? undefined : `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}`;
  const types = new Map<number, avro.Type>();
  const pending = new Map<number, Promise<avro.Type>>();

  async function request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: {
          accept: CONTENT_TYPE,
          ...(body === undefined ? {} : { 'content-type': CONTENT_TYPE }),
          ...(authorization === undefined ? {} : { authorization }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(config.timeoutMs),
      });
    } catch (error) {
      throw new SchemaRegistryUnavailableError(`schema registry unreachable: ${describe(error)}`, { cause: error });
    }
    const text = await response.text().catch(() => '');
    let json: Record<string, unknown> = {};
    try {
      const parsed: unknown = text === '' ? {} : JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
    } catch {
      // A proxy's HTML error page: the status says enough.
    }
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      throw new SchemaRegistryUnavailableError(`schema registry answered ${response.status} to ${method} ${path}`);
    }
    return { status: response.status, json };
  }

  function refused(what: string, status: number, json: Record<string, unknown>): SchemaRegistryRequestError {
    const code = typeof json.error_code === 'number' ? json.error_code : undefined;
    const message = typeof json.message === 'string' ? json.message.slice(0, 300) : '';
    return new SchemaRegistryRequestError(`schema registry refused to ${what}: ${status}${code === undefined ? '' : ` (${code})`} ${message}`.trim(), status, code);
  }

  async function fetchType(id: number): Promise<avro.Type> {
    const { status, json } = await request('GET', `/schemas/ids/${id}`);
    if (status === 404) throw new SchemaNotFoundError(id);
    if (status !== 200 || typeof json.schema !== 'string') throw refused(`return schema ${id}`, status, json);
    // Only Avro schemas are decoded here; a JSON Schema or Protobuf id is as good as unknown.
    if (json.schemaType !== undefined && json.schemaType !== 'AVRO') throw new SchemaNotFoundError(id);
    return avro.Type.forSchema(JSON.parse(json.schema) as avro.Schema);
  }

  const subjectPath = (subject: string) => encodeURIComponent(subject);

  return {
    typeById(id) {
      const known = types.get(id);
      if (known !== undefined) return Promise.resolve(known);
      let loading = pending.get(id);
      if (loading === undefined) {
        // Only successes are cached: an unknown id may be registered later, an outage ends.
        loading = fetchType(id).then(
          (type) => {
            types.set(id, type);
            pending.delete(id);
            return type;
          },
          (error: unknown) => {
            pending.delete(id);
            throw error;
          },
        );
        pending.set(id, loading);
      }
      return loading;
    },

    async register(subject, schema) {
      const { status, json } = await request('POST', `/subjects/${subjectPath(subject)}/versions`, { schema, schemaType: 'AVRO' });
      if (status !== 200 || typeof json.id !== 'number') throw refused(`register ${subject}`, status, json);
      return json.id;
    },

    async lookup(subject, schema) {
      const { status, json } = await request('POST', `/subjects/${subjectPath(subject)}`, { schema, schemaType: 'AVRO' });
      if (status !== 200 || typeof json.id !== 'number') throw refused(`find ${subject}`, status, json);
      return json.id;
    },

    async isCompatible(subject, schema) {
      const { status, json } = await request('POST', `/compatibility/subjects/${subjectPath(subject)}/versions/latest`, { schema, schemaType: 'AVRO' });
      // No version yet: anything is compatible with nothing.
      if (status === 404) return true;
      if (status !== 200 || typeof json.is_compatible !== 'boolean') throw refused(`check ${subject}`, status, json);
      return json.is_compatible;
    },
  };
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
