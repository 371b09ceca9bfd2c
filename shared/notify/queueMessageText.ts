/**
 * Queue message text as the Functions queue trigger expects it by default (`messageEncoding: base64`): the UTF-8
 * bytes of the JSON, base64-encoded. A storage queue message holds at most 64 KiB of text.
 */

/** The largest message text a storage queue accepts, in bytes. */
export const MAX_QUEUE_MESSAGE_TEXT_BYTES = 64 * 1024;

/** Base64 of the JSON of `value`. */
export function base64JsonMessage(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
}

/** True when `text` fits in one queue message. */
export function fitsInQueueMessage(text: string): boolean {
  return Buffer.byteLength(text, 'utf8') <= MAX_QUEUE_MESSAGE_TEXT_BYTES;
}

/**
 * The stored (base64) text of a message the Functions library handed to a handler: a string as its UTF-8 bytes, a
 * Buffer as is, anything else (a parsed JSON body) as its JSON. This is what a poison queue should receive so the
 * message can be replayed exactly as it arrived.
 */
export function base64OfReceivedMessage(message: unknown): string {
  if (Buffer.isBuffer(message)) return message.toString('base64');
  const text = typeof message === 'string' ? message : (JSON.stringify(message) ?? 'null');
  return Buffer.from(text, 'utf8').toString('base64');
}
