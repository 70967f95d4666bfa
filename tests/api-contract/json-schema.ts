/**
 * A JSON Schema (2020-12) validator for the keywords the API's OpenAPI document uses.
 * A keyword it does not know is an error, never silently accepted: a check that cannot
 * read the document must fail, not pass.
 */

export type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set([
  'description',
  'title',
  'default',
  'examples',
  'example',
  'deprecated',
  '$schema',
]);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  const actual = typeOf(value);
  return actual === type || (type === 'number' && actual === 'integer');
}

/** Resolves `#/a/b` against the document. */
export function resolveRef(root: Schema, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported: ${ref}`);
  let node: unknown = root;
  for (const part of ref.slice(2).split('/')) {
    node = (node as Record<string, unknown>)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  if (!node || typeof node !== 'object') throw new Error(`$ref ${ref} resolves to nothing`);
  return node as Schema;
}

/** Every way `value` breaks `schema`, as `path: problem` lines; empty when it conforms. */
export function validate(value: unknown, schema: Schema, root: Schema, path = '$'): string[] {
  const problems: string[] = [];
  const fail = (message: string) => problems.push(`${path}: ${message}`);
  for (const [keyword, argument] of Object.entries(schema)) {
    if (ANNOTATIONS.has(keyword)) continue;
    switch (keyword) {
      case '$ref':
        problems.push(...validate(value, resolveRef(root, argument as string), root, path));
        break;
      case 'type': {
        const types = Array.isArray(argument) ? (argument as string[]) : [argument as string];
        if (!types.some((type) => hasType(value, type)))
          fail(`is ${typeOf(value)}, not ${types.join(' | ')}`);
        break;
      }
      case 'enum':
        if (!(argument as unknown[]).some((option) => option === value))
          fail(`${JSON.stringify(value)} not in enum`);
        break;
      case 'const':
        if (value !== argument) fail(`is not ${JSON.stringify(argument)}`);
        break;
      case 'anyOf':
        if (!(argument as Schema[]).some((option) => validate(value, option, root, path).length === 0)) {
          fail('matches none of anyOf');
        }
        break;
      case 'properties':
        if (typeOf(value) === 'object') {
          for (const [name, propertySchema] of Object.entries(argument as Record<string, Schema>)) {
            const item = (value as Record<string, unknown>)[name];
            if (item !== undefined) problems.push(...validate(item, propertySchema, root, `${path}.${name}`));
          }
        }
        break;
      case 'required':
        if (typeOf(value) === 'object') {
          for (const name of argument as string[]) {
            if ((value as Record<string, unknown>)[name] === undefined) fail(`lacks required ${name}`);
          }
        }
        break;
      case 'additionalProperties':
        if (typeOf(value) === 'object') {
          const declared = new Set(Object.keys((schema['properties'] as object | undefined) ?? {}));
          for (const [name, item] of Object.entries(value as Record<string, unknown>)) {
            if (declared.has(name)) continue;
            if (argument === false) fail(`has undocumented property ${name}`);
            else if (typeof argument === 'object') {
              problems.push(...validate(item, argument as Schema, root, `${path}.${name}`));
            }
          }
        }
        break;
      case 'propertyNames':
        if (typeOf(value) === 'object') {
          for (const name of Object.keys(value as object)) {
            problems.push(...validate(name, argument as Schema, root, `${path}[key ${name}]`));
          }
        }
        break;
      case 'items':
        if (Array.isArray(value)) {
          value.forEach((item, i) => {
            problems.push(...validate(item, argument as Schema, root, `${path}[${i}]`));
          });
        }
        break;
      case 'minItems':
        if (Array.isArray(value) && value.length < (argument as number))
          fail(`has fewer than ${argument} items`);
        break;
      case 'maxItems':
        if (Array.isArray(value) && value.length > (argument as number))
          fail(`has more than ${argument} items`);
        break;
      case 'minLength':
        if (typeof value === 'string' && [...value].length < (argument as number))
          fail(`shorter than ${argument}`);
        break;
      case 'maxLength':
        if (typeof value === 'string' && [...value].length > (argument as number))
          fail(`longer than ${argument}`);
        break;
      case 'pattern':
        if (typeof value === 'string' && !new RegExp(argument as string, 'u').test(value))
          fail(`does not match ${argument}`);
        break;
      case 'minimum':
        if (typeof value === 'number' && value < (argument as number)) fail(`below ${argument}`);
        break;
      case 'maximum':
        if (typeof value === 'number' && value > (argument as number)) fail(`above ${argument}`);
        break;
      case 'exclusiveMinimum':
        if (typeof value === 'number' && value <= (argument as number)) fail(`not above ${argument}`);
        break;
      case 'exclusiveMaximum':
        if (typeof value === 'number' && value >= (argument as number)) fail(`not below ${argument}`);
        break;
      case 'format':
        // Formats are annotations in 2020-12; `binary` marks image bodies, checked by the caller.
        break;
      default:
        throw new Error(`${path}: the validator does not know the keyword "${keyword}"`);
    }
  }
  return problems;
}
