import type { WebhookTargetPolicy } from './webhookTarget';

/** Webhook settings, read once: `WEBHOOK_SIGNING_SECRET`, `WEBHOOK_ALLOWED_HOSTS` (comma-separated). */
export interface WebhookSettings {
  signingSecret: string | undefined;
  target: WebhookTargetPolicy;
}

let cached: WebhookSettings | undefined;

export function webhookPolicy(env: NodeJS.ProcessEnv = process.env): WebhookSettings {
  cached ??= {
    signingSecret: env['WEBHOOK_SIGNING_SECRET'] || undefined,
    target: {
      allowedHosts: (env['WEBHOOK_ALLOWED_HOSTS'] ?? '')
        .split(',')
        .map((host) => host.trim().toLowerCase())
        .filter(Boolean),
      allowPrivateNetworks: env['WEBHOOK_ALLOW_PRIVATE_NETWORKS'] === 'true',
    },
  };
  return cached;
}
