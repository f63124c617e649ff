/**
 * Narrowing for JSON documents read from images. Everything in an image is
 * untrusted, so each field is checked for its type where it is used, and a
 * wrong type is an error naming the document and the field.
 */
import { WhiteoutError } from '../errors.js';

export type JsonObject = { readonly [key: string]: unknown };

export function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (e) {
    throw new WhiteoutError(what, `is not valid JSON (${e instanceof Error ? e.message : String(e)})`, 'input');
  }
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function asObject(v: unknown, what: string): JsonObject {
  if (!isObject(v)) throw new WhiteoutError(what, 'is not a JSON object', 'input');
  return v;
}

/** An array, or [] for a missing/null field (Docker writes `null` for empty lists). */
export function asArray(v: unknown, what: string): readonly unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new WhiteoutError(what, 'is not a JSON array', 'input');
  return v;
}

export function optString(o: JsonObject, key: string, what: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new WhiteoutError(what, `field '${key}' is not a string`, 'input');
  return v;
}

export function needString(o: JsonObject, key: string, what: string): string {
  const v = optString(o, key, what);
  if (v === undefined) throw new WhiteoutError(what, `field '${key}' is missing`, 'input');
  return v;
}

export function optStringMap(o: JsonObject, key: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  const v = o[key];
  if (v === undefined || v === null) return out;
  for (const [k, x] of Object.entries(asObject(v, `${what} '${key}'`))) {
    if (typeof x === 'string') out.set(k, x);
  }
  return out;
}
