import { z } from 'zod';

/** Longest period one export may cover, in UTC days (a month): bounds the file, the run time and the block count. */
export const MAX_EXPORT_DAYS = 31;

const DAY_MS = 24 * 60 * 60 * 1000;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

export const EXPORT_FORMATS = ['csv', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** A real calendar date `YYYY-MM-DD` (2026-02-30 is not one). */
export function isCalendarDate(text: string): boolean {
  if (!DATE.test(text)) return false;
  const parsed = new Date(`${text}T00:00:00.000Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === text;
}

/** The UTC days from `from` to `to`, both included, in order. */
export function daysOf(from: string, to: string): string[] {
  const days: string[] = [];
  for (let at = Date.parse(`${from}T00:00:00.000Z`); at <= Date.parse(`${to}T00:00:00.000Z`); at += DAY_MS) {
    days.push(new Date(at).toISOString().slice(0, 10));
  }
  return days;
}

const date = z
  .string({ message: 'is required: a UTC date YYYY-MM-DD' })
  .refine(isCalendarDate, 'must be a UTC date YYYY-MM-DD');

/**
 * `POST /api/exports`: the orders that finished (succeeded, failed, compensated or cancelled) on the UTC days from
 * `from` to `to`, both included. `now` decides what "the future" is (tests pass a fixed clock).
 */
export function exportRequestSchema(now: () => Date = () => new Date()) {
  return z
    .object({
      from: date,
      to: date,
      format: z.enum(EXPORT_FORMATS, { message: `must be one of ${EXPORT_FORMATS.join(', ')}` }),
    })
    .strict()
    .superRefine((value, ctx) => {
      const today = now().toISOString().slice(0, 10);
      if (value.to > today)
        ctx.addIssue({ code: 'custom', path: ['to'], message: `must not be after today (${today})` });
      if (value.from > value.to) {
        ctx.addIssue({ code: 'custom', path: ['from'], message: 'must not be after to' });
        return;
      }
      const days = (Date.parse(value.to) - Date.parse(value.from)) / DAY_MS + 1;
      if (days > MAX_EXPORT_DAYS) {
        ctx.addIssue({
          code: 'custom',
          path: ['to'],
          message: `the period is ${days} days; at most ${MAX_EXPORT_DAYS} days can be exported at once`,
        });
      }
    });
}

export type ExportRequest = z.infer<ReturnType<typeof exportRequestSchema>>;
