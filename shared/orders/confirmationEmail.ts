import type { TableClient } from '@azure/data-tables';
import type { ContainerClient } from '@azure/storage-blob';
import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';

export interface ConfirmationEmail {
  orderId: string;
  to: { name: string; email: string };
  lines: { sku: string; name: string; quantity: number; priceCents: number }[];
  totalCents: number;
  trackingNumber: string;
}

export interface EmailOptions {
  /** `SMTP_URL`: send over SMTP; without it, messages are written as `.eml` files to the outbox container. */
  smtpUrl: string | undefined;
  from: string;
  outbox: ContainerClient;
  records: TableClient;
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

function money(cents: number): string {
  return `${(cents / 100).toFixed(2)} EUR`;
}

/** The message itself: names the order, its items and the tracking number. */
export function renderConfirmation(email: ConfirmationEmail, from: string): SendMailOptions {
  const lines = email.lines.map((l) => `  ${l.quantity} × ${l.name} (${l.sku})  ${money(l.priceCents * l.quantity)}`);
  return {
    from,
    to: { name: email.to.name, address: email.to.email },
    subject: `Your order ${email.orderId} is on its way`,
    // A stable Message-ID: if a crash makes us send twice, mail systems and the receiver can tell it is one message.
    messageId: `<order-${email.orderId}@background-jobs.local>`,
    text: [
      `Hello ${email.to.name},`,
      '',
      `thank you for order ${email.orderId}:`,
      ...lines,
      `Total: ${money(email.totalCents)}`,
      '',
      `Tracking number: ${email.trackingNumber}`,
    ].join('\n'),
  };
}

/**
 * Sends the confirmation once per order. A record row is claimed before sending and marked after; a retry that finds
 * the row marked sent does nothing. Only a crash between sending and marking can send twice, and then with the same
 * Message-ID. Without SMTP the outbox blob name is fixed per order, so rewriting it is harmless.
 */
export class ConfirmationSender {
  readonly #transport: Transporter;
  readonly #options: EmailOptions;

  constructor(options: EmailOptions) {
    this.#options = options;
    this.#transport = options.smtpUrl
      ? nodemailer.createTransport(options.smtpUrl)
      : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  }

  async ensureStorage(): Promise<void> {
    await this.#options.outbox.createIfNotExists();
    try {
      await this.#options.records.createTable();
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
    }
  }

  async send(email: ConfirmationEmail): Promise<'sent' | 'already-sent'> {
    const { records } = this.#options;
    try {
      // Claim first (insert-if-absent); only a repeat pays for the read that tells whether the first one finished.
      await records.createEntity({
        partitionKey: email.orderId,
        rowKey: 'confirmation',
        state: 'sending',
        claimedAt: new Date().toISOString(),
      });
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      const row = await records.getEntity<{ state: string }>(email.orderId, 'confirmation');
      if (row.state === 'sent') return 'already-sent';
    }
    const message = renderConfirmation(email, this.#options.from);
    const info = (await this.#transport.sendMail(message)) as { message?: Buffer; messageId?: string };
    let location = 'smtp';
    if (!this.#options.smtpUrl) {
      const name = `${email.orderId}-confirmation.eml`;
      const body = info.message ?? Buffer.alloc(0);
      await this.#options.outbox
        .getBlockBlobClient(name)
        .uploadData(body, { blobHTTPHeaders: { blobContentType: 'message/rfc822' } });
      location = `${this.#options.outbox.containerName}/${name}`;
    }
    await records.upsertEntity(
      {
        partitionKey: email.orderId,
        rowKey: 'confirmation',
        state: 'sent',
        sentAt: new Date().toISOString(),
        location,
        to: email.to.email.replace(/^(.).*@/, '$1***@'),
      },
      'Merge',
    );
    return 'sent';
  }
}
