import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ConfigError, parseAppConfig } from '../../shared/config/appConfig';
import { assertWebhookTargetAllowed } from '../../shared/notify/webhookTarget';

const STORAGE = { AzureWebJobsStorage: 'UseDevelopmentStorage=true' };
const SECRET = 'a-webhook-signing-secret-32chars';

/** The ConfigError's message for these settings, failing the test if they parse. */
function configProblem(env: NodeJS.ProcessEnv): string {
  try {
    parseAppConfig({ ...STORAGE, ...env });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, 'CONFIG_INVALID');
    return error.message;
  }
  assert.fail(`settings parsed: ${JSON.stringify(env)}`);
}

describe('webhook settings are validated with the app settings at start', () => {
  it('defaults to webhooks off: no secret, no allowed hosts, no private networks', () => {
    assert.deepEqual(parseAppConfig(STORAGE).webhooks, {
      signingSecret: undefined,
      target: { allowedHosts: [], allowPrivateNetworks: false },
    });
    assert.equal(parseAppConfig({ ...STORAGE, WEBHOOK_SIGNING_SECRET: '' }).webhooks.signingSecret, undefined);
  });

  it('parses every WEBHOOK_* setting', () => {
    const { webhooks } = parseAppConfig({
      ...STORAGE,
      WEBHOOK_SIGNING_SECRET: SECRET,
      WEBHOOK_ALLOWED_HOSTS: ' LocalHost , 127.0.0.1,[::1],hooks.example.com., ',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    assert.deepEqual(webhooks, {
      signingSecret: SECRET,
      target: { allowedHosts: ['localhost', '127.0.0.1', '[::1]', 'hooks.example.com.'], allowPrivateNetworks: true },
    });
  });

  it('refuses a short signing secret, naming the setting and the minimum', () => {
    assert.match(
      configProblem({ WEBHOOK_SIGNING_SECRET: 'x' }),
      /WEBHOOK_SIGNING_SECRET must be at least 32 characters/,
    );
    assert.match(configProblem({ WEBHOOK_SIGNING_SECRET: SECRET.slice(1) }), /WEBHOOK_SIGNING_SECRET/);
  });

  it('refuses a host with a port or a scheme, saying what to write instead', () => {
    assert.match(
      configProblem({ WEBHOOK_ALLOWED_HOSTS: 'localhost:3000' }),
      /WEBHOOK_ALLOWED_HOSTS "localhost:3000" has a port: write the host name only \(localhost\)/,
    );
    assert.match(
      configProblem({ WEBHOOK_ALLOWED_HOSTS: 'hooks.example.com,http://localhost:3000/hook' }),
      /WEBHOOK_ALLOWED_HOSTS "http:\/\/localhost:3000\/hook" is a URL: write the host name only \(localhost\)/,
    );
    assert.match(
      configProblem({ WEBHOOK_ALLOWED_HOSTS: '[::1]:8080' }),
      /WEBHOOK_ALLOWED_HOSTS "\[::1\]:8080" has a port: write the host name only \(\[::1\]\)/,
    );
    assert.match(
      configProblem({ WEBHOOK_ALLOWED_HOSTS: 'hooks.example.com/path' }),
      /WEBHOOK_ALLOWED_HOSTS "hooks.example.com\/path" is not a host name or IP address/,
    );
  });

  it('reads WEBHOOK_ALLOW_PRIVATE_NETWORKS like the other booleans: any case, anything else stops the app', () => {
    for (const [text, expected] of [
      ['TRUE', true],
      ['True', true],
      [' false ', false],
    ] as const) {
      assert.equal(
        parseAppConfig({ ...STORAGE, WEBHOOK_ALLOW_PRIVATE_NETWORKS: text }).webhooks.target.allowPrivateNetworks,
        expected,
      );
    }
    assert.match(
      configProblem({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'yes' }),
      /WEBHOOK_ALLOW_PRIVATE_NETWORKS must be true or false/,
    );
    assert.equal(parseAppConfig({ ...STORAGE, SEED_DEMO_CATALOGUE: 'FALSE' }).orders.seedDemoCatalogue, false);
    assert.match(configProblem({ SEED_DEMO_CATALOGUE: 'no' }), /SEED_DEMO_CATALOGUE must be true or false/);
  });

  it('names every bad webhook setting in one error', () => {
    const message = configProblem({
      WEBHOOK_SIGNING_SECRET: 'short',
      WEBHOOK_ALLOWED_HOSTS: 'localhost:3000',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'on',
    });
    assert.match(message, /^Invalid app settings: /);
    for (const name of ['WEBHOOK_SIGNING_SECRET', 'WEBHOOK_ALLOWED_HOSTS', 'WEBHOOK_ALLOW_PRIVATE_NETWORKS']) {
      assert.match(message, new RegExp(name));
    }
  });

  it('gives the target policy hosts it can match: an allowed localhost takes http on any port', async () => {
    const { target } = parseAppConfig({ ...STORAGE, WEBHOOK_ALLOWED_HOSTS: 'LOCALHOST' }).webhooks;
    const vetted = await assertWebhookTargetAllowed('http://localhost:3000/hook', target, () =>
      Promise.resolve(['127.0.0.1']),
    );
    assert.equal(vetted.explicitlyAllowed, true);
    assert.equal(vetted.address, '127.0.0.1');
  });

  it('with private networks allowed, a public name resolving to 10/8 is accepted (and refused without)', async () => {
    const resolve = () => Promise.resolve(['10.1.2.3']);
    const allowed = parseAppConfig({ ...STORAGE, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'TRUE' }).webhooks.target;
    assert.equal(
      (await assertWebhookTargetAllowed('https://hooks.example.com/', allowed, resolve)).address,
      '10.1.2.3',
    );
    const refused = parseAppConfig(STORAGE).webhooks.target;
    await assert.rejects(assertWebhookTargetAllowed('https://hooks.example.com/', refused, resolve), {
      code: 'WEBHOOK_TARGET_REFUSED',
    });
  });
});
