import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { BlobServiceClient, BlobServiceProperties, CorsRule } from '@azure/storage-blob';

import { ensureUploadCors } from '../../shared/storage/uploadCors';

/** An in-memory blob service's properties: just the CORS rules, and how often they were written. */
function fakeService(cors: CorsRule[]) {
  const state = { cors, writes: 0 };
  const service = {
    getProperties: () => Promise.resolve({ cors: [...state.cors] }),
    setProperties: (properties: BlobServiceProperties) => {
      state.cors = properties.cors ?? [];
      state.writes++;
      return Promise.resolve({});
    },
  } as unknown as Pick<BlobServiceClient, 'getProperties' | 'setProperties'>;
  return { service, state };
}

const rule = (origin: string): CorsRule => ({
  allowedOrigins: origin,
  allowedMethods: 'GET',
  allowedHeaders: '*',
  exposedHeaders: '',
  maxAgeInSeconds: 60,
});

describe('upload CORS set-up', () => {
  it('adds the uploads rule beside existing ones, once, and writes nothing without origins', async () => {
    const { service, state } = fakeService([rule('https://other.example')]);
    await ensureUploadCors(service, []);
    assert.equal(state.writes, 0);
    await ensureUploadCors(service, ['https://app.example', 'https://admin.example']);
    await ensureUploadCors(service, ['https://app.example', 'https://admin.example']);
    assert.equal(state.writes, 1);
    assert.deepEqual(
      state.cors.map((r) => r.allowedOrigins),
      ['https://other.example', 'https://app.example,https://admin.example'],
    );
    assert.match(state.cors[1]?.allowedMethods ?? '', /PUT/);
  });

  it('keeps the newest four rules of others when the service is full (five rules at most)', async () => {
    const { service, state } = fakeService(['a', 'b', 'c', 'd', 'e'].map((o) => rule(`https://${o}.example`)));
    await ensureUploadCors(service, ['https://app.example']);
    assert.deepEqual(
      state.cors.map((r) => r.allowedOrigins),
      ['https://b.example', 'https://c.example', 'https://d.example', 'https://e.example', 'https://app.example'],
    );
  });
});
