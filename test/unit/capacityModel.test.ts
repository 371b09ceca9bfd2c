import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { capacityReport, idleRates, namePattern, resourceOf, TARGETS } from '../../bench/capacityModel';
import { classifyRequest, type StorageRequest } from '../../bench/storageRequests';

const rules = { prefix: 'p1', partitionLabels: { inventory: '{sku}' } };
const JOB_A = 'ord_AAAAAAAAAAAAAAAAAAAAAA';
const JOB_B = 'ord_BBBBBBBBBBBBBBBBBBB-_B';

function table(partition: string, units = 1, name = 'p1jobs'): StorageRequest {
  return { service: 'table', name, part: partition, units, emptyReceive: false, op: 'get' };
}

describe('storage requests by resource', () => {
  it('names the partition of point operations, inserts, queries and entity group transactions', () => {
    const point = classifyRequest(
      'table',
      'GET',
      `/devstoreaccount1/p1jobs(PartitionKey='${JOB_A}',RowKey='status')`,
      '',
      '{}',
    );
    assert.deepEqual([point.name, point.part, point.units, point.op], ['p1jobs', JOB_A, 1, 'get']);

    const insert = classifyRequest(
      'table',
      'POST',
      '/devstoreaccount1/p1jobs',
      '{"PartitionKey":"idx-all","RowKey":"1"}',
      '',
    );
    assert.deepEqual([insert.part, insert.op], ['idx-all', 'insert']);

    const query = classifyRequest(
      'table',
      'GET',
      `/devstoreaccount1/p1sales()?$filter=${encodeURIComponent("PartitionKey eq '2026-01-02-s03'")}`,
      '',
      JSON.stringify({ value: [{}, {}, {}] }),
    );
    assert.deepEqual([query.part, query.units, query.op], ['2026-01-02-s03', 3, 'query']);

    const batchBody = [
      '--changeset_1',
      'Content-Type: application/http',
      '',
      "PATCH http://127.0.0.1:1/devstoreaccount1/p1inventory(PartitionKey='MUG-1',RowKey='stock') HTTP/1.1",
      '',
      '--changeset_1',
      'POST http://127.0.0.1:1/devstoreaccount1/p1inventory HTTP/1.1',
      '',
      '{"PartitionKey":"MUG-1","RowKey":"res-x"}',
    ].join('\r\n');
    const batch = classifyRequest('table', 'POST', '/devstoreaccount1/$batch', batchBody, '');
    assert.deepEqual([batch.name, batch.part, batch.units, batch.op], ['p1inventory', 'MUG-1', 2, 'batch']);
  });

  it('counts the messages a receive got, and marks an empty receive as polling', () => {
    const got = classifyRequest(
      'queue',
      'GET',
      '/devstoreaccount1/p1-order-reserve/messages?numofmessages=32',
      '',
      '<QueueMessagesList><QueueMessage></QueueMessage><QueueMessage></QueueMessage></QueueMessagesList>',
    );
    assert.deepEqual([got.name, got.units, got.emptyReceive, got.op], ['p1-order-reserve', 2, false, 'receive']);
    const empty = classifyRequest(
      'queue',
      'GET',
      '/devstoreaccount1/p1-order-reserve/messages',
      '',
      '<QueueMessagesList />',
    );
    assert.equal(empty.emptyReceive, true);
    const sent = classifyRequest('queue', 'POST', '/devstoreaccount1/p1-order-reserve/messages', '<QueueMessage/>', '');
    assert.deepEqual([sent.units, sent.emptyReceive, sent.op], [1, false, 'send']);
  });

  it('groups partitions by pattern: jobs, days, shards, data-keyed tables', () => {
    assert.equal(namePattern(JOB_A), '{job}');
    assert.equal(namePattern(`${JOB_B}.2`), '{job}');
    assert.equal(namePattern('2026-11-25-s07'), '{day}-s{n}');
    assert.equal(namePattern(`${JOB_B}-confirmation.eml`), '{job}-confirmation.eml');
    assert.equal(namePattern('nightly_20261125'), 'nightly_{day}');
    assert.equal(namePattern('idx-status-running'), 'idx-status-running');
    assert.equal(resourceOf(table('MUG-1', 1, 'p1inventory'), rules).label, 'table inventory / {sku}');
    const queue = resourceOf(
      { service: 'queue', name: 'p1-order-email', part: '', units: 1, emptyReceive: false, op: 'send' },
      rules,
    );
    assert.deepEqual([queue.label, queue.target], ['queue order-email', TARGETS.queueMessagesPerSecond]);
  });
});

describe('capacity report', () => {
  it('binds on the busiest shared partition; a partition per job never binds; the account limit alongside', () => {
    const requests: StorageRequest[] = [];
    for (const job of [JOB_A, JOB_B]) {
      requests.push(table(job), table(job), table(job));
      requests.push(table('idx-all'), table('idx-all'), table('idx-all'), table('idx-all'));
    }
    requests.push({ service: 'queue', name: 'p1-order-email', part: '', units: 1, emptyReceive: true, op: 'receive' });
    const idle = idleRates([], 1, rules);
    const report = capacityReport({ unit: 'order', units: 2, seconds: 1, requests }, idle, rules);
    assert.equal(report.requestsPerUnit, 7, 'the empty receive is polling, not work');
    assert.equal(report.accountCeiling, TARGETS.accountRequestsPerSecond / 7);
    assert.equal(report.binding?.label, 'table jobs / idx-all');
    assert.equal(report.binding?.ceiling, TARGETS.partitionEntitiesPerSecond / 4);
    const perJob = report.resources.find((r) => r.label === 'table jobs / {job}');
    assert.equal(perJob?.perUnit, true);
    assert.equal(perJob?.ceiling, Infinity);
  });

  it('subtracts the idle rate of each resource for the phase duration', () => {
    const idle = idleRates([table('lease'), table('lease')], 2, rules); // 1 request/s
    const phase = [table('lease'), table('lease'), table('lease'), table('lease'), table('idx-all')];
    const report = capacityReport({ unit: 'order', units: 1, seconds: 3, requests: phase }, idle, rules);
    assert.equal(report.requestsPerUnit, 2, '4 lease requests minus 3 s × 1/s, plus the index write');
  });
});
