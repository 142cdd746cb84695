/**
 * Renders the subset of Go text/template + sprig that `deploy/sveltos/configmap.yaml` uses, as Sveltos would:
 * `{{ .Path.to.value }}`, pipelines through `quote` (Go `%q`) and `toJson` (Go `json.Marshal`: sorted keys, HTML
 * characters escaped), `print`, and sprig's `dig` (keys…, default, map). Anything else throws, so a template change the renderer does not understand fails
 * the test instead of being rendered wrongly.
 */
type Value = unknown;

export function renderGoTemplate(template: string, data: Record<string, unknown>): string {
  return template.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_match, pipeline: string) => {
    const value = evaluatePipeline(pipeline, data);
    return value === undefined || value === null ? '<no value>' : stringOf(value);
  });
}

function evaluatePipeline(pipeline: string, data: Record<string, unknown>): Value {
  const commands = pipeline.split('|').map((part) => part.trim());
  let value: Value;
  commands.forEach((command, index) => {
    const words = tokenize(command);
    const [name, ...args] = words;
    if (name === undefined) throw new Error(`empty command in {{ ${pipeline} }}`);
    const operands = args.map((arg) => operand(arg, data));
    if (index > 0) operands.push(value);
    if (name.startsWith('.')) {
      if (operands.length > 0) throw new Error(`a field cannot take arguments: ${command}`);
      value = lookup(name, data);
    } else if (name === 'quote') {
      // sprig: each non-nil argument %q-quoted, joined by spaces; nil is skipped.
      value = operands.filter((operand) => operand !== undefined && operand !== null).map((operand) => goQuote(stringOf(operand))).join(' ');
    } else if (name === 'toJson') {
      value = goJson(operands[0]);
    } else if (name === 'dig') {
      // sprig: dig "k1" "k2" … default map; the default when any key is missing.
      const map = operands.at(-1);
      const fallback = operands.at(-2);
      let found: Value = map;
      for (const key of operands.slice(0, -2)) {
        found = found !== null && typeof found === 'object' ? (found as Record<string, unknown>)[String(key)] : undefined;
      }
      value = found === undefined ? fallback : found;
    } else if (name === 'print') {
      value = operands.map(stringOf).join('');
    } else {
      throw new Error(`template function "${name}" is not supported by this renderer`);
    }
  });
  return value;
}

function tokenize(command: string): string[] {
  return command.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
}

function operand(word: string, data: Record<string, unknown>): Value {
  if (word.startsWith('"')) return JSON.parse(word) as string;
  if (word.startsWith('.')) return lookup(word, data);
  throw new Error(`unsupported operand ${word}`);
}

function lookup(path: string, data: Record<string, unknown>): Value {
  let value: Value = data;
  for (const key of path.slice(1).split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function stringOf(value: Value): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  // Go prints maps as map[k:v]; the template only ever quotes strings, so refuse rather than guess.
  throw new Error(`cannot print a ${typeof value} without toJson`);
}

/** Go's strconv.Quote. */
export function goQuote(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"' || char === '\\') out += `\\${char}`;
    else if (char === '\u0007') out += '\\a';
    else if (char === '\b') out += '\\b';
    else if (char === '\f') out += '\\f';
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (char === '\v') out += '\\v';
    else if (/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(char)) out += char;
    else if (code < 0x80) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code < 0x10000) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += `\\U${code.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

/** Go's json.Marshal: map keys sorted, <, > and & escaped as \u003c, \u003e, \u0026, U+2028/2029 escaped. */
export function goJson(value: Value): string {
  const sorted = (input: Value): Value => {
    if (Array.isArray(input)) return input.map(sorted);
    if (input !== null && typeof input === 'object') {
      return Object.fromEntries(Object.keys(input).sort().map((key) => [key, sorted((input as Record<string, unknown>)[key])]));
    }
    return input;
  };
  return JSON.stringify(sorted(value))
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
