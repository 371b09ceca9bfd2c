import type { StorageRestClient } from './restClient';

/** A message as Get Messages returns it. */
export interface ReceivedQueueMessage {
  messageId: string;
  popReceipt: string;
  dequeueCount: number;
  insertedOn: Date | undefined;
  expiresOn: Date | undefined;
  nextVisibleOn: Date | undefined;
  /** The text exactly as stored (base64 when the app encodes its messages). */
  messageText: string;
}

/** The queue operations the host's listeners and its blob trigger queue make. */
export interface HostQueue {
  readonly name: string;
  exists(options?: { abortSignal?: AbortSignal }): Promise<boolean>;
  createIfNotExists(): Promise<void>;
  sendMessage(text: string): Promise<void>;
  receiveMessages(options: {
    numberOfMessages: number;
    visibilityTimeoutSeconds: number;
    abortSignal?: AbortSignal;
  }): Promise<ReceivedQueueMessage[]>;
  /** Changes only the visibility; returns the new pop receipt. */
  updateVisibility(messageId: string, popReceipt: string, visibilityTimeoutSeconds: number): Promise<string>;
  deleteMessage(messageId: string, popReceipt: string): Promise<void>;
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c);
}

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (entity, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(parseInt(name.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[name] ?? entity;
  });
}

function element(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  if (match) return unescapeXml(match[1] ?? '');
  return new RegExp(`<${name}\\s*/>`).test(xml) ? '' : undefined;
}

function dateOf(text: string | undefined): Date | undefined {
  if (!text) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Reads a Get Messages response (`<QueueMessagesList>`). */
export function parseReceivedMessages(xml: string): ReceivedQueueMessage[] {
  const messages: ReceivedQueueMessage[] = [];
  for (const match of xml.matchAll(/<QueueMessage>([\s\S]*?)<\/QueueMessage>/g)) {
    const body = match[1] ?? '';
    const messageId = element(body, 'MessageId');
    const popReceipt = element(body, 'PopReceipt');
    if (!messageId || !popReceipt) continue;
    messages.push({
      messageId,
      popReceipt,
      dequeueCount: Number(element(body, 'DequeueCount') ?? 0),
      insertedOn: dateOf(element(body, 'InsertionTime')),
      expiresOn: dateOf(element(body, 'ExpirationTime')),
      nextVisibleOn: dateOf(element(body, 'TimeNextVisible')),
      messageText: element(body, 'MessageText') ?? '',
    });
  }
  return messages;
}

/**
 * Sends a message, creating the queue only when the send finds it missing: the WebJobs SDK's
 * `AddMessageAndCreateIfNotExistsAsync`, which the host's queue output binding and blob trigger queue writer use. One
 * request per message once the queue exists, where creating first would cost two.
 */
export async function sendCreatingQueue(queue: HostQueue, text: string): Promise<void> {
  try {
    await queue.sendMessage(text);
    return;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  await queue.createIfNotExists();
  await queue.sendMessage(text);
}

/** One queue over the storage REST API ({@link StorageRestClient}). */
export class RestQueue implements HostQueue {
  readonly #path: string;

  constructor(
    private readonly client: StorageRestClient,
    readonly name: string,
  ) {
    this.#path = `/${encodeURIComponent(name)}`;
  }

  async exists(options: { abortSignal?: AbortSignal } = {}): Promise<boolean> {
    try {
      await this.client.send({
        method: 'GET',
        path: this.#path,
        query: { comp: 'metadata' },
        ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
      });
      return true;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return false;
      throw error;
    }
  }

  async createIfNotExists(): Promise<void> {
    try {
      await this.client.send({ method: 'PUT', path: this.#path });
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 409) throw error;
    }
  }

  async sendMessage(text: string): Promise<void> {
    await this.client.send({
      method: 'POST',
      path: `${this.#path}/messages`,
      contentType: 'application/xml',
      body: `<?xml version="1.0" encoding="utf-8"?><QueueMessage><MessageText>${escapeXml(text)}</MessageText></QueueMessage>`,
    });
  }

  async receiveMessages(options: {
    numberOfMessages: number;
    visibilityTimeoutSeconds: number;
    abortSignal?: AbortSignal;
  }): Promise<ReceivedQueueMessage[]> {
    const response = await this.client.send({
      method: 'GET',
      path: `${this.#path}/messages`,
      query: {
        numofmessages: String(options.numberOfMessages),
        visibilitytimeout: String(options.visibilityTimeoutSeconds),
      },
      ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
    });
    return parseReceivedMessages(response.body);
  }

  async updateVisibility(messageId: string, popReceipt: string, visibilityTimeoutSeconds: number): Promise<string> {
    const response = await this.client.send({
      method: 'PUT',
      path: `${this.#path}/messages/${encodeURIComponent(messageId)}`,
      query: { popreceipt: popReceipt, visibilitytimeout: String(visibilityTimeoutSeconds) },
    });
    const renewed = response.headers['x-ms-popreceipt'];
    return typeof renewed === 'string' ? renewed : popReceipt;
  }

  async deleteMessage(messageId: string, popReceipt: string): Promise<void> {
    await this.client.send({
      method: 'DELETE',
      path: `${this.#path}/messages/${encodeURIComponent(messageId)}`,
      query: { popreceipt: popReceipt },
    });
  }
}
