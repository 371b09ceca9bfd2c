import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { BindingExpressionError, resolveBindingExpression } from '../../devhost/bindings/expressions';
import { expandConnectionString, resolveConnection } from '../../devhost/config/connections';
import { parseTimeSpanMs } from '../../devhost/config/duration';
import { StartupError } from '../../devhost/config/errors';
import { applyHostJsonOverrides } from '../../devhost/config/hostJsonOverrides';
import { loadHostOptions, parseHostOptions } from '../../devhost/config/hostOptions';
import { computeHostId } from '../../devhost/core/hostId';
import { RandomizedExponentialBackoff } from '../../devhost/core/retryPolicy';
import { isAuthorized, keysEqual, levelOfKey } from '../../devhost/http/keys';
import { RouteTemplate } from '../../devhost/http/routeTemplate';

describe('host.json parsing', () => {
  it('fills in the host defaults (Development polling of 2 s, 16/8 batching on 1 core)', () => {
    const options = parseHostOptions({ version: '2.0' }, 1);
    assert.deepEqual(options.queues, {
      batchSize: 16,
      newBatchThreshold: 8,
      maxPollingIntervalMs: 2000,
      visibilityTimeoutMs: 0,
      maxDequeueCount: 5,
      messageEncoding: 'base64',
    });
    assert.equal(options.functionTimeoutMs, 30 * 60_000);
    assert.equal(options.routePrefix, 'api');
    assert.deepEqual(options.blobs, { maxDegreeOfParallelism: 8, poisonBlobThreshold: 5 });
    assert.equal(parseHostOptions({ version: '2.0' }, 4).queues.newBatchThreshold, 32);
  });

  it('reads settings and refuses bad ones naming the setting', () => {
    const options = parseHostOptions({
      version: '2.0',
      functionTimeout: '-1',
      extensions: {
        http: { routePrefix: '' },
        queues: { maxPollingInterval: '00:00:00.500', messageEncoding: 'none' },
      },
    });
    assert.equal(options.functionTimeoutMs, undefined);
    assert.equal(options.routePrefix, '');
    assert.equal(options.queues.maxPollingIntervalMs, 500);
    assert.equal(options.queues.messageEncoding, 'none');
    assert.throws(() => parseHostOptions({ version: '1.0' }), /"version" must be "2.0"/);
    assert.throws(
      () => parseHostOptions({ version: '2.0', extensions: { queues: { batchSize: 33 } } }),
      /batchSize must be an integer from 1 to 32/,
    );
    assert.throws(
      () => parseHostOptions({ version: '2.0', extensions: { queues: { maxPollingInterval: '00:00:00.050' } } }),
      /maxPollingInterval must be at least/,
    );
    assert.throws(
      () => parseHostOptions({ version: '2.0', extensions: { queues: { messageEncoding: 'utf8' } } }),
      StartupError,
    );
    assert.throws(
      () => parseHostOptions({ version: '2.0', retry: { strategy: 'fixedDelay' } }),
      /maxRetryCount is required/,
    );
  });

  it('parses .NET TimeSpan durations', () => {
    assert.equal(parseTimeSpanMs('00:00:30', 'x'), 30_000);
    assert.equal(parseTimeSpanMs('1.02:03:04', 'x'), ((24 + 2) * 3600 + 3 * 60 + 4) * 1000);
    assert.equal(parseTimeSpanMs('00:00:00.25', 'x'), 250);
    assert.throws(() => parseTimeSpanMs('00:61:00', 'x'), /out of range/);
    assert.throws(() => parseTimeSpanMs('5 minutes', 'x'), /is not a duration/);
  });
});

describe('connections', () => {
  it('resolves AzureWebJobs<name> before <name>, and empty to Storage', () => {
    const env = { AzureWebJobsStorage: 'A=1', AzureWebJobsOther: 'B=2', Other: 'C=3', Plain: 'D=4' };
    const keyOf = (connection: unknown) => resolveConnection(connection, env, 'f').key;
    assert.equal(keyOf(undefined), 'A=1');
    assert.equal(keyOf(''), 'A=1');
    assert.equal(keyOf('Other'), 'B=2');
    assert.equal(keyOf('Plain'), 'D=4');
    assert.throws(
      () => resolveConnection('Missing', env, 'Function "x"'),
      /Function "x": connection setting "AzureWebJobsMissing" or "Missing" is missing/,
    );
  });

  it('expands UseDevelopmentStorage=true to the Azurite endpoints', () => {
    const expanded = expandConnectionString('UseDevelopmentStorage=true');
    assert.match(expanded, /QueueEndpoint=http:\/\/127\.0\.0\.1:10001\/devstoreaccount1/);
    assert.equal(expandConnectionString('AccountName=x'), 'AccountName=x');
  });
});

describe('binding expressions', () => {
  const data = { name: 'photo.jpg', Order: { Id: 'o-1' }, DequeueCount: 2 };
  it('resolves names case-insensitively, dotted paths, settings and built-ins', () => {
    assert.equal(resolveBindingExpression('out/{Name}', data, {}), 'out/photo.jpg');
    assert.equal(resolveBindingExpression('{order.id}-{dequeueCount}', data, {}), 'o-1-2');
    assert.equal(resolveBindingExpression('%C%/{name}', data, { C: 'box' }), 'box/photo.jpg');
    assert.match(resolveBindingExpression('{rand-guid}', data, {}), /^[0-9a-f-]{36}$/);
    assert.equal(resolveBindingExpression('{{literal}}', data, {}), '{literal}');
  });
  it('names what is missing', () => {
    assert.throws(() => resolveBindingExpression('{nope}', data, {}), BindingExpressionError);
    assert.throws(() => resolveBindingExpression('%NOPE%', data, {}), /app setting "NOPE"/);
  });
});

describe('route templates', () => {
  it('matches literals case-insensitively and captures parameters', () => {
    const route = new RouteTemplate('orders/{id}/items/{item:int}', 't');
    assert.deepEqual(route.match('Orders/abc/items/7'), { id: 'abc', item: '7' });
    assert.equal(route.match('orders/abc/items/x'), undefined);
    assert.equal(route.match('orders/abc'), undefined);
  });
  it('supports optional, default and catch-all parameters', () => {
    assert.deepEqual(new RouteTemplate('jobs/{id?}', 't').match('jobs'), {});
    assert.deepEqual(new RouteTemplate('page/{n=1}', 't').match('page'), { n: '1' });
    assert.deepEqual(new RouteTemplate('files/{*path}', 't').match('files/a/b%20c.txt'), { path: 'a/b c.txt' });
  });
  it('ranks literal routes ahead of parameter routes', () => {
    const literal = new RouteTemplate('jobs/stats', 't');
    const param = new RouteTemplate('jobs/{id}', 't');
    assert.ok(literal.precedence > param.precedence);
  });
});

describe('keys', () => {
  const keys = { master: 'm'.repeat(40), function: { default: 'f'.repeat(40) }, fromSettings: true };
  it('grants admin for the master key and function for a function key', () => {
    assert.equal(levelOfKey('m'.repeat(40), keys), 'admin');
    assert.equal(levelOfKey('f'.repeat(40), keys), 'function');
    assert.equal(levelOfKey('nope', keys), undefined);
    assert.equal(levelOfKey(undefined, keys), undefined);
  });
  it('applies the host rule: admin satisfies all, otherwise the level must match', () => {
    assert.ok(isAuthorized('anonymous', undefined));
    assert.ok(isAuthorized('function', 'admin'));
    assert.ok(isAuthorized('function', 'function'));
    assert.ok(!isAuthorized('admin', 'function'));
    assert.ok(!isAuthorized('function', undefined));
  });
  it('compares keys of different lengths without throwing', () => {
    assert.equal(keysEqual('short', 'a much longer key'), false);
    assert.equal(keysEqual('same', 'same'), true);
  });
});

describe('host id and backoff', () => {
  it('derives a stable host id from the app path, at most 32 lower-case characters', () => {
    const id = computeHostId('/some/app', {});
    assert.equal(id, computeHostId('/some/app', {}));
    assert.notEqual(id, computeHostId('/other/app', {}));
    assert.ok(id.length <= 32 && id === id.toLowerCase());
    assert.equal(computeHostId('/x', { AzureFunctionsWebHost__hostid: 'My-Host' }), 'my-host');
  });

  it('backs off 100 ms, ~200, ~300, ~500 … up to the maximum, and resets after success', () => {
    const backoff = new RandomizedExponentialBackoff(100, 2000, 100, () => 0.5);
    const delays = Array.from({ length: 8 }, () => backoff.next(false));
    assert.deepEqual(delays, [100, 200, 300, 500, 900, 1700, 2000, 2000]);
    assert.equal(backoff.next(true), 100);
    assert.equal(backoff.next(false), 200);
  });
});

describe('host.json keys', () => {
  it('are read without case, as the host reads host.json through .NET configuration', () => {
    const options = parseHostOptions(
      {
        Version: '2.0',
        FunctionTimeout: '00:02:00',
        Extensions: { Queues: { BatchSize: 4, MAXDEQUEUECOUNT: 2 }, HTTP: { RoutePrefix: 'x' } },
      },
      1,
    );
    assert.equal(options.functionTimeoutMs, 2 * 60_000);
    assert.equal(options.queues.batchSize, 4);
    assert.equal(options.queues.maxDequeueCount, 2);
    assert.equal(options.routePrefix, 'x');
  });

  it('take the later of two keys that differ only in case', () => {
    const options = parseHostOptions({ version: '2.0', extensions: { queues: { batchSize: 4, BATCHSIZE: 6 } } }, 1);
    assert.equal(options.queues.batchSize, 6);
  });

  it('are all read without case, in the file and from app settings, whatever option is added', () => {
    // Every option away from its default, so a key read with its case would show: the first check makes sure a new
    // option gets a value here.
    const everyOption = {
      version: '2.0',
      functionTimeout: '00:07:00',
      functions: ['a'],
      extensions: {
        http: { routePrefix: 'p' },
        queues: {
          batchSize: 3,
          newBatchThreshold: 2,
          maxPollingInterval: '00:00:05',
          visibilityTimeout: '00:00:04',
          maxDequeueCount: 9,
          messageEncoding: 'none',
        },
        blobs: { maxDegreeOfParallelism: 3, poisonBlobThreshold: 7 },
      },
      singleton: { listenerLockPeriod: '00:00:20', listenerLockRecoveryPollingInterval: '00:00:03' },
      retry: {
        strategy: 'fixedDelay',
        maxRetryCount: 4,
        delayInterval: '00:00:06',
        minimumInterval: '00:00:01',
        maximumInterval: '00:00:09',
      },
      logging: { logLevel: { default: 'warning' } },
    };
    const leaves = (value: unknown, path = ''): [string, unknown][] =>
      typeof value === 'object' && value !== null && !Array.isArray(value) && path !== '.logLevels'
        ? Object.entries(value).flatMap(([key, child]) => leaves(child, `${path}.${key}`))
        : [[path, value]];
    const expected = parseHostOptions(everyOption, 1);
    const defaults = new Map(leaves(parseHostOptions({ version: '2.0' }, 1)));
    for (const [option, value] of leaves(expected)) {
      assert.notDeepEqual(value, defaults.get(option), `everyOption sets ${option} away from its default`);
    }

    const upper = (value: unknown, path = ''): unknown =>
      typeof value === 'object' && value !== null && !Array.isArray(value) && !path.endsWith('.logLevel')
        ? Object.fromEntries(
            Object.entries(value).map(([key, child]) => [key.toUpperCase(), upper(child, `${path}.${key}`)]),
          )
        : value;
    assert.deepEqual(parseHostOptions(upper(everyOption), 1), expected, 'host.json keys in upper case');

    const settings: NodeJS.ProcessEnv = {};
    const collect = (value: unknown, path: string[]): void => {
      if (typeof value === 'object' && value !== null) {
        for (const [key, child] of Object.entries(value)) collect(child, [...path, key]);
      } else {
        // Categories keep their spelling: they are names, not keys devhost reads.
        const keys = path.map((key, i) => (path[i - 1] === 'logLevel' ? key : key.toUpperCase()));
        settings[['AZUREFUNCTIONSJOBHOST', ...keys].join('__')] = String(value);
      }
    };
    collect(everyOption, []);
    const fromSettings = applyHostJsonOverrides({ version: '2.0' }, settings).doc;
    assert.deepEqual(parseHostOptions(fromSettings, 1), expected, 'app settings in upper case');
  });

  it('let an app setting override whichever spelling of a key the file has, the later of two included', () => {
    const { doc: effective } = applyHostJsonOverrides(
      { version: '2.0', extensions: { queues: { batchSize: 4, BATCHSIZE: 6 } } },
      { AzureFunctionsJobHost__extensions__queues__batchSize: '8' },
    );
    assert.equal(parseHostOptions(effective, 1).queues.batchSize, 8);
  });
});

describe('host.json logging.logLevel', () => {
  it('reads the level of each category without case', () => {
    const options = parseHostOptions(
      { version: '2.0', logging: { logLevel: { default: 'warning', 'Function.hello': 'NONE' } } },
      1,
    );
    assert.deepEqual(options.logLevels, { default: 'warning', 'Function.hello': 'none' });
  });

  it('stops the start on a level .NET does not know, naming the category', () => {
    assert.throws(
      () => parseHostOptions({ version: '2.0', logging: { logLevel: { Function: 'Verbose' } } }, 1),
      /^StartupError: host\.json: logging\.logLevel\.Function must be one of Trace, Debug, Information, Warning, Error, Critical, None, got "Verbose"$/,
    );
  });
});

describe('host.json overrides from AzureFunctionsJobHost__ app settings', () => {
  const doc = {
    version: '2.0',
    extensions: { queues: { batchSize: 16, maxPollingInterval: '00:00:02' }, http: { routePrefix: 'api' } },
  };

  it('sets nested values over the file, matching keys without case, with "__" or ":" between keys', () => {
    const { doc: effective, overrides } = applyHostJsonOverrides(doc, {
      AzureFunctionsJobHost__extensions__queues__batchSize: '8',
      'AzureFunctionsJobHost:Extensions:HTTP:RoutePrefix': 'custom',
      AZUREFUNCTIONSJOBHOST__extensions__blobs__maxdegreeofparallelism: '4',
      AzureFunctionsJobHost__functionTimeout: '00:05:00',
      Unrelated__extensions__queues__batchSize: '1',
    });
    const options = parseHostOptions(effective, 1);
    assert.equal(options.queues.batchSize, 8);
    assert.equal(options.queues.maxPollingIntervalMs, 2_000, 'values no setting names stay as the file has them');
    assert.equal(options.routePrefix, 'custom');
    assert.equal(options.blobs.maxDegreeOfParallelism, 4, 'a key not in the file is read whatever its case');
    assert.equal(options.functionTimeoutMs, 5 * 60_000);
    // A key the file has keeps the file's spelling; a new one the setting's.
    assert.deepEqual(overrides.map((o) => o.path).sort(), [
      'extensions.blobs.maxdegreeofparallelism',
      'extensions.http.routePrefix',
      'extensions.queues.batchSize',
      'functionTimeout',
    ]);
    assert.equal(doc.extensions.queues.batchSize, 16, 'the parsed file is not changed');
  });

  it('addresses array elements by index', () => {
    const { doc: effective } = applyHostJsonOverrides(
      { version: '2.0' },
      { AzureFunctionsJobHost__functions__0: 'first', AzureFunctionsJobHost__functions__1: 'second' },
    );
    assert.deepEqual(parseHostOptions(effective, 1).functions, ['first', 'second']);
  });

  it('keeps every array element: indexes from 10 up, and indexes past the end, close up in index order', () => {
    const env: NodeJS.ProcessEnv = {};
    for (let i = 0; i < 12; i++) env[`AzureFunctionsJobHost__functions__${i}`] = `f${i}`;
    const many = applyHostJsonOverrides({ version: '2.0' }, env).doc;
    assert.deepEqual(
      parseHostOptions(many, 1).functions,
      Array.from({ length: 12 }, (_, i) => `f${i}`),
    );
    const { doc: gapped, overrides } = applyHostJsonOverrides(
      { version: '2.0', functions: ['a', 'b'] },
      { AzureFunctionsJobHost__functions__5: 'after', AzureFunctionsJobHost__functions__0: 'replaced' },
    );
    assert.deepEqual(parseHostOptions(gapped, 1).functions, ['replaced', 'b', 'after']);
    assert.equal(overrides.length, 2);
  });

  it('leaves a plain value as it is under a key set below it, and lands deeper keys inside shallower ones', () => {
    const { doc: effective, overrides } = applyHostJsonOverrides(
      { version: '2.0', functionTimeout: '00:01:00', extensions: { queues: { maxDequeueCount: 3 } } },
      {
        AzureFunctionsJobHost__functionTimeout__minutes: '5',
        AZUREFUNCTIONSJOBHOST__EXTENSIONS__QUEUES__BATCHSIZE: '8',
        AzureFunctionsJobHost__extensions__queues__maxDequeueCount: '7',
      },
    );
    const options = parseHostOptions(effective, 1);
    assert.equal(options.functionTimeoutMs, 60_000, 'the host binds functionTimeout from its value');
    assert.equal(options.queues.batchSize, 8);
    assert.equal(options.queues.maxDequeueCount, 7);
    assert.deepEqual(overrides.map((o) => o.setting).sort(), [
      'AZUREFUNCTIONSJOBHOST__EXTENSIONS__QUEUES__BATCHSIZE',
      'AzureFunctionsJobHost__extensions__queues__maxDequeueCount',
    ]);
  });

  it('binds enum values without case and integers with a sign, as the host converts strings', () => {
    const { doc: effective } = applyHostJsonOverrides(
      { version: '2.0' },
      {
        AzureFunctionsJobHost__retry__strategy: 'FixedDelay',
        AzureFunctionsJobHost__retry__maxRetryCount: '+3',
        AzureFunctionsJobHost__retry__delayInterval: '00:00:02',
        AzureFunctionsJobHost__extensions__queues__messageEncoding: 'None',
      },
    );
    const options = parseHostOptions(effective, 1);
    assert.deepEqual(
      [options.retry?.strategy, options.retry?.maxRetryCount, options.queues.messageEncoding],
      ['fixedDelay', 3, 'none'],
    );
    assert.throws(
      () => parseHostOptions({ version: '2.0', extensions: { queues: { messageEncoding: 'utf8' } } }, 1),
      /messageEncoding must be "base64" or "none", got "utf8"/,
    );
  });

  it('never writes to an object prototype, whatever the keys', () => {
    const { doc: effective } = applyHostJsonOverrides(
      { version: '2.0' },
      {
        AzureFunctionsJobHost__constructor__prototype__polluted: 'yes',
        'AzureFunctionsJobHost:__proto__:polluted': 'yes',
        AzureFunctionsJobHost__extensions__hasOwnProperty__polluted: 'yes',
      },
    );
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.equal(Object.getPrototypeOf(effective), Object.prototype);
    assert.equal(parseHostOptions(effective, 1).queues.batchSize, 16);
  });

  it('names the app setting when the value it sets is invalid', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'devhost-overrides-'));
    try {
      await writeFile(path.join(dir, 'host.json'), JSON.stringify(doc));
      await assert.rejects(
        loadHostOptions(dir, { AzureFunctionsJobHost__extensions__queues__batchSize: 'lots' }),
        (error: Error) =>
          error instanceof StartupError &&
          error.message ===
            'app setting AzureFunctionsJobHost__extensions__queues__batchSize must be an integer from 1 to 32, got "lots"',
      );
      await assert.rejects(loadHostOptions(dir, { AzureFunctionsJobHost__functions: 'one' }), {
        message: 'app setting AzureFunctionsJobHost__functions must be an array of function names',
      });
      const options = await loadHostOptions(dir, { AzureFunctionsJobHost__extensions__queues__batchSize: '4' });
      assert.equal(options.queues.batchSize, 4);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the app settings that made a section when a value the section needs is missing', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'devhost-overrides-'));
    try {
      await writeFile(path.join(dir, 'host.json'), JSON.stringify(doc));
      await assert.rejects(loadHostOptions(dir, { AzureFunctionsJobHost__retry__strategy: 'fixedDelay' }), {
        message: 'app setting AzureFunctionsJobHost__retry__strategy: retry.maxRetryCount is required',
      });
      await assert.rejects(
        loadHostOptions(dir, {
          AzureFunctionsJobHost__Retry__Strategy: 'fixedDelay',
          AzureFunctionsJobHost__retry__delayInterval: '00:00:02',
        }),
        {
          message:
            'app settings AzureFunctionsJobHost__Retry__Strategy, AzureFunctionsJobHost__retry__delayInterval: retry.maxRetryCount is required',
        },
      );
      // A section the file has is the file's to complete, whatever the settings add to it.
      await writeFile(path.join(dir, 'host.json'), JSON.stringify({ ...doc, retry: { strategy: 'fixedDelay' } }));
      await assert.rejects(loadHostOptions(dir, { AzureFunctionsJobHost__retry__delayInterval: '00:00:02' }), {
        message: 'host.json: retry.maxRetryCount is required',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
