import { randomUUID } from 'node:crypto';

/** Raised when a binding expression names data the trigger did not provide. */
export class BindingExpressionError extends Error {
  override readonly name = 'BindingExpressionError';
}

/** Binding data: trigger metadata, path captures, route parameters and promoted JSON properties. */
export type BindingData = Record<string, unknown>;

function lookup(data: BindingData, dotted: string): unknown {
  const [head, ...rest] = dotted.split('.');
  // The host's binding data dictionary is case-insensitive.
  const key = Object.keys(data).find((k) => k.toLowerCase() === (head ?? '').toLowerCase());
  let value: unknown = key === undefined ? undefined : data[key];
  for (const part of rest) {
    if (value === null || typeof value !== 'object') return undefined;
    const obj = value as Record<string, unknown>;
    const match = Object.keys(obj).find((k) => k.toLowerCase() === part.toLowerCase());
    value = match === undefined ? undefined : obj[match];
  }
  return value;
}

function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

/**
 * Resolves `%Setting%` (app settings) and `{expression}` tokens as the host does for binding configuration:
 * `{rand-guid}`, `{DateTime}` (UTC, ISO), `{name}` and dotted `{a.b}` from the binding data. `{{` and `}}` are literal
 * braces. An unknown `{token}` throws, naming it.
 */
export function resolveBindingExpression(
  template: string,
  data: BindingData,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const withSettings = template.replace(/%([^%]+)%/g, (_match, setting: string) => {
    const value = env[setting];
    if (value === undefined)
      throw new BindingExpressionError(`app setting "${setting}" used in "${template}" is not set`);
    return value;
  });
  return withSettings.replace(/\{\{|\}\}|\{([^{}]+)\}/g, (match, expression: string | undefined) => {
    if (match === '{{') return '{';
    if (match === '}}') return '}';
    const expr = (expression ?? '').trim();
    if (expr.toLowerCase() === 'rand-guid') return randomUUID();
    if (expr.toLowerCase() === 'datetime') return new Date().toISOString();
    const value = lookup(data, expr);
    if (value === undefined || value === null) {
      throw new BindingExpressionError(
        `binding expression "{${expr}}" in "${template}" has no value in the trigger data`,
      );
    }
    return stringify(value);
  });
}

/** Resolves only `%Setting%` tokens (trigger settings such as queue names and schedules). */
export function resolveAppSettings(template: string, env: NodeJS.ProcessEnv = process.env): string {
  return template.replace(/%([^%]+)%/g, (_match, setting: string) => {
    const value = env[setting];
    if (value === undefined)
      throw new BindingExpressionError(`app setting "${setting}" used in "${template}" is not set`);
    return value;
  });
}
