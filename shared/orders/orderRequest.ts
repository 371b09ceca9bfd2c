import { z } from 'zod';

/** Queue names follow Azure's rules: 3–63 lower-case letters, digits and single dashes. */
export const queueNameSchema = z
  .string()
  .regex(
    /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/,
    'must be a valid queue name (3-63 lower-case letters, digits and single dashes)',
  );

/** C0 and C1 controls (CR, LF, tab, NUL, DEL, …) and the Unicode line and paragraph separators. */
const CONTROL_CHARACTERS = /[\p{Cc}\u2028\u2029]/u;

/**
 * Free text that ends up in emails and documents: trimmed, bounded, and free of control characters, so a CR/LF in a
 * name cannot add lines (or headers) to the confirmation email.
 */
export function plainText(min: number, max: number) {
  return z
    .string()
    .trim()
    .min(min, min === 1 ? 'is required' : `must be at least ${min} characters`)
    .max(max, `must be at most ${max} characters`)
    .refine((text) => !CONTROL_CHARACTERS.test(text), 'must not contain control characters such as line breaks');
}

/** Luhn check: catches mistyped card numbers before they reach the gateway. */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/** The longest delay a queue message can wait before it becomes visible. */
export const MAX_NOT_BEFORE_MS = 7 * 24 * 60 * 60 * 1000;

export const orderRequestSchema = z
  .object({
    customer: z
      .object({
        name: plainText(1, 200),
        email: z.email('must be an email address').max(254),
      })
      .strict(),
    items: z
      .array(
        z
          .object({
            sku: z.string().regex(/^[A-Z0-9][A-Z0-9-]{0,31}$/, 'must be an upper-case SKU such as SKU-1'),
            quantity: z.number().int('must be a whole number').min(1).max(1000),
          })
          .strict(),
      )
      .min(1, 'must contain at least one item')
      .max(50)
      .refine((items) => new Set(items.map((i) => i.sku)).size === items.length, 'must not list a SKU twice'),
    payment: z
      .object({
        cardNumber: z
          .string()
          .regex(/^\d{12,19}$/, 'must be 12 to 19 digits')
          .refine(passesLuhn, 'is not a valid card number'),
      })
      .strict(),
    shippingAddress: z
      .object({
        line1: plainText(1, 200),
        city: plainText(1, 100),
        postalCode: plainText(2, 20),
        country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 two-letter country code'),
      })
      .strict(),
    priority: z.enum(['normal', 'high']).optional(),
    replyTo: queueNameSchema.optional(),
    callbackUrl: z
      .url({ protocol: /^https?$/, message: 'must be an http(s) URL' })
      .max(2000)
      .optional(),
    notBefore: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time' }).optional(),
  })
  .strict();

export type OrderRequest = z.infer<typeof orderRequestSchema>;
