/**
 * The Confluent wire format: byte 0 is the magic byte 0, bytes 1-4 the schema id (big-endian), then the Avro binary
 * encoding of the value with that (writer) schema. JSON text never starts with byte 0, so a consumer can tell the two
 * apart per message.
 */
import type avro from 'avsc';
import { SchemaNotFoundError, type SchemaRegistry } from './schema-registry.js';

const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

/** True when `value` is framed in the Confluent wire format (it may still fail to decode). */
export function isConfluentAvro(value: Buffer): boolean {
  return value.length >= HEADER_BYTES && value[0] === MAGIC_BYTE;
}

export function frame(schemaId: number, type: avro.Type, value: unknown): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt8(MAGIC_BYTE, 0);
  header.writeInt32BE(schemaId, 1);
  return Buffer.concat([header, type.toBuffer(value)]);
}

export type AvroDecoded =
  | { readonly ok: true; readonly schemaId: number; readonly value: unknown }
  | { readonly ok: false; readonly schemaId: number; readonly reasonCode: 'SCHEMA_NOT_FOUND' | 'MALFORMED_AVRO'; readonly message: string };

/**
 * Decodes a framed value with its writer schema from the registry, into plain JSON-like data (Avro nulls become
 * absent fields, as the JSON form of the same event would have them). Throws only what the registry throws when it
 * is unavailable (transient); an unknown id or bytes that do not decode are results.
 */
export async function decodeConfluentAvro(value: Buffer, registry: SchemaRegistry | undefined): Promise<AvroDecoded> {
  const schemaId = value.readInt32BE(1);
  if (registry === undefined) {
    return { ok: false, schemaId, reasonCode: 'SCHEMA_NOT_FOUND', message: `Avro message (schema id ${schemaId}) but no SCHEMA_REGISTRY_URL is configured` };
  }
  let type: avro.Type;
  try {
    type = await registry.typeById(schemaId);
  } catch (error) {
    if (error instanceof SchemaNotFoundError) return { ok: false, schemaId, reasonCode: 'SCHEMA_NOT_FOUND', message: error.message };
    throw error;
  }
  let decoded: unknown;
  try {
    // fromBuffer refuses truncated input and trailing bytes.
    decoded = type.fromBuffer(value.subarray(HEADER_BYTES));
  } catch (error) {
    return { ok: false, schemaId, reasonCode: 'MALFORMED_AVRO', message: `does not decode with schema ${schemaId}: ${error instanceof Error ? error.message : String(error)}` };
  }
  return { ok: true, schemaId, value: toPlain(decoded) };
}

function toPlain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, item: unknown) => (item === null ? undefined : typeof item === 'bigint' ? Number(item) : item))) as unknown;
}
