import { createHash } from 'node:crypto';

import type { TableClient } from '@azure/data-tables';

import { ensureTable, statusOf } from '../storage/tableErrors';

/** Sandbox rule: the carrier never answers for this postal code, so the shipment step fails every time. */
export const UNREACHABLE_POSTAL_CODE = '00000';

/** Transient: the carrier did not answer; the queue retries the step. */
export class CarrierUnavailableError extends Error {
  override readonly name = 'CarrierUnavailableError';
  readonly code = 'CARRIER_UNAVAILABLE';
}

export interface Shipment {
  orderId: string;
  trackingNumber: string;
  carrier: string;
  createdAt: string;
  state: 'created' | 'voided';
}

/** What a real carrier client would implement. */
export interface ShippingService {
  /** Creates the order's shipment once; a repeat returns the same shipment. */
  createShipment(orderId: string, address: Record<string, string>): Promise<Shipment>;
  /** Voids the shipment (before it leaves the warehouse); no-op without one. */
  voidShipment(orderId: string): Promise<void>;
  get(orderId: string): Promise<Shipment | undefined>;
}

/** The sandbox carrier: one shipment entity per order, written insert-if-absent; tracking numbers derive from it. */
export class SandboxShippingService implements ShippingService {
  constructor(private readonly table: TableClient) {}

  async ensureTable(): Promise<void> {
    await ensureTable(this.table);
  }

  async createShipment(orderId: string, address: Record<string, string>): Promise<Shipment> {
    // Insert-if-absent: a repeat finds the first shipment through the conflict, without a read up front.
    if (address['postalCode'] === UNREACHABLE_POSTAL_CODE) {
      throw new CarrierUnavailableError('the carrier did not answer');
    }
    const shipment: Shipment = {
      orderId,
      trackingNumber: `SBX${createHash('sha256').update(orderId).digest('hex').slice(0, 12).toUpperCase()}`,
      carrier: 'sandbox-post',
      createdAt: new Date().toISOString(),
      state: 'created',
    };
    try {
      await this.table.createEntity({
        partitionKey: orderId,
        rowKey: 'shipment',
        ...shipment,
        country: address['country'] ?? '',
      });
      return shipment;
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      return (await this.get(orderId)) ?? shipment;
    }
  }

  async voidShipment(orderId: string): Promise<void> {
    const existing = await this.get(orderId);
    if (!existing || existing.state === 'voided') return;
    await this.table.updateEntity({ partitionKey: orderId, rowKey: 'shipment', state: 'voided' }, 'Merge');
  }

  async get(orderId: string): Promise<Shipment | undefined> {
    try {
      const row = await this.table.getEntity<Record<string, unknown>>(orderId, 'shipment');
      return {
        orderId,
        trackingNumber: String(row['trackingNumber']),
        carrier: String(row['carrier']),
        createdAt: String(row['createdAt']),
        state: row['state'] === 'voided' ? 'voided' : 'created',
      };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }
}
