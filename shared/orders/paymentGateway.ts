import { createHash, randomBytes } from 'node:crypto';

import type { TableClient } from '@azure/data-tables';

import { PermanentJobError } from '../jobs/jobErrors';
import { ensureTable, statusOf } from '../storage/tableErrors';

/** Sandbox test cards, as payment providers publish them. */
export const TEST_CARDS = {
  succeeds: '4242424242424242',
  declined: '4000000000000002',
  transientOnce: '4000000000000119',
} as const;

/** Permanent: the card was declined; retrying the same card cannot help. */
export class PaymentDeclinedError extends PermanentJobError {
  override readonly name = 'PaymentDeclinedError';
  constructor(message: string) {
    super('PAYMENT_DECLINED', message);
  }
}

/** Transient: the provider did not answer; the queue retries the step. */
export class PaymentUnavailableError extends Error {
  override readonly name = 'PaymentUnavailableError';
  readonly code = 'PAYMENT_UNAVAILABLE';
}

/** A card as the order keeps it: a token the gateway issued, and the last four digits. Never the number. */
export interface CardToken {
  token: string;
  last4: string;
}

type SandboxBehaviour = 'ok' | 'declined' | 'transient';

const BEHAVIOUR_BY_CARD: Record<string, SandboxBehaviour> = {
  [TEST_CARDS.succeeds]: 'ok',
  [TEST_CARDS.declined]: 'declined',
  [TEST_CARDS.transientOnce]: 'transient',
};

/**
 * Tokenizes a card at the edge, as a provider's client-side SDK would, so no card number is ever stored or queued.
 * The sandbox encodes its test behaviour in the token; any other valid number behaves like the success card.
 */
export function tokenizeCard(cardNumber: string): CardToken {
  const behaviour = BEHAVIOUR_BY_CARD[cardNumber] ?? 'ok';
  return { token: `tok_${behaviour}_${randomBytes(12).toString('base64url')}`, last4: cardNumber.slice(-4) };
}

function behaviourOf(token: string): SandboxBehaviour {
  const kind = token.split('_')[1];
  return kind === 'declined' || kind === 'transient' ? kind : 'ok';
}

export interface Charge {
  orderId: string;
  chargeId: string;
  amountCents: number;
  cardLast4: string;
  chargedAt: string;
}

/** What a real provider client would implement; the order steps depend only on this. */
export interface PaymentGateway {
  /** Charges once per order: a second call with the same order id returns the first charge (an idempotency key). */
  charge(orderId: string, amountCents: number, card: CardToken): Promise<Charge>;
  /** Refunds the order's charge once; no-op without a charge. Returns whether a refund exists now. */
  refund(orderId: string, reason: string): Promise<boolean>;
}

/**
 * The sandbox gateway: a ledger table keyed by order id. The charge entity is written insert-if-absent, exactly as a
 * provider's idempotency key behaves, so retries and duplicate deliveries never charge twice. Card numbers are
 * never stored, only their last four digits.
 */
export class SandboxPaymentGateway implements PaymentGateway {
  constructor(private readonly ledger: TableClient) {}

  async ensureTable(): Promise<void> {
    await ensureTable(this.ledger);
  }

  async charge(orderId: string, amountCents: number, card: CardToken): Promise<Charge> {
    // Insert-if-absent, like a provider's idempotency key: a repeat finds the first charge through the conflict.
    const behaviour = behaviourOf(card.token);
    if (behaviour === 'declined') throw new PaymentDeclinedError('the card was declined');
    if (behaviour === 'transient') {
      // Fails the first time for each order, then succeeds: the marker row makes "once" survive restarts.
      try {
        await this.ledger.createEntity({
          partitionKey: orderId,
          rowKey: 'transient-failure',
          at: new Date().toISOString(),
        });
        throw new PaymentUnavailableError('the payment provider is temporarily unavailable');
      } catch (error) {
        if (error instanceof PaymentUnavailableError) throw error;
        if (statusOf(error) !== 409) throw error;
      }
    }
    const charge: Charge = {
      orderId,
      chargeId: `ch_${createHash('sha256').update(orderId).digest('hex').slice(0, 24)}`,
      amountCents,
      cardLast4: card.last4,
      chargedAt: new Date().toISOString(),
    };
    try {
      await this.ledger.createEntity({ partitionKey: orderId, rowKey: 'charge', ...charge });
      return charge;
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      return (await this.#get(orderId, 'charge')) as unknown as Charge;
    }
  }

  async refund(orderId: string, reason: string): Promise<boolean> {
    const charge = await this.#get(orderId, 'charge');
    if (!charge) return false;
    try {
      await this.ledger.createEntity({
        partitionKey: orderId,
        rowKey: 'refund',
        amountCents: Number(charge['amountCents']),
        reason: reason.slice(0, 500),
        refundedAt: new Date().toISOString(),
      });
    } catch (error) {
      if (statusOf(error) !== 409) throw error; // refunded before: once is enough
    }
    return true;
  }

  /** The ledger rows of an order (charge, refund), for tests and reports. */
  async entriesOf(orderId: string): Promise<{ charge?: Record<string, unknown>; refund?: Record<string, unknown> }> {
    const [charge, refund] = await Promise.all([this.#get(orderId, 'charge'), this.#get(orderId, 'refund')]);
    return { ...(charge ? { charge } : {}), ...(refund ? { refund } : {}) };
  }

  async #get(orderId: string, row: string): Promise<Record<string, unknown> | undefined> {
    try {
      return await this.ledger.getEntity<Record<string, unknown>>(orderId, row);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }
}
