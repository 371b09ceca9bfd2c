import {
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  type TokenCredential,
  WorkloadIdentityCredential,
} from '@azure/identity';

import type { IdentitySettings } from '../config/connections';
import { StartupError } from '../config/errors';

/**
 * The credential for an identity-based connection, chosen as the host's `ClientFactory.CreateCredential` chooses it:
 * `credential=managedidentity` → ManagedIdentityCredential (by resource id or client id, else system-assigned);
 * `credential=workloadidentity` → WorkloadIdentityCredential; tenantId + clientId + clientSecret →
 * ClientSecretCredential (local development only); anything else → DefaultAzureCredential, with `clientId` as the
 * managed identity it tries.
 */
export function storageCredential(identity: IdentitySettings, setting: string): TokenCredential {
  const kind = identity.credential?.toLowerCase();
  switch (kind) {
    case 'managedidentity':
      if (identity.managedIdentityResourceId) {
        return new ManagedIdentityCredential({ resourceId: identity.managedIdentityResourceId });
      }
      return identity.clientId
        ? new ManagedIdentityCredential({ clientId: identity.clientId })
        : new ManagedIdentityCredential();
    case 'workloadidentity':
      return new WorkloadIdentityCredential({
        ...(identity.clientId ? { clientId: identity.clientId } : {}),
        ...(identity.tenantId ? { tenantId: identity.tenantId } : {}),
      });
    case undefined:
      break;
    default:
      throw new StartupError(
        `Setting "${setting}__credential" is "${identity.credential ?? ''}"; supported: managedidentity, workloadidentity (or leave it unset for DefaultAzureCredential)`,
      );
  }
  if (identity.tenantId && identity.clientId && identity.clientSecret) {
    return new ClientSecretCredential(identity.tenantId, identity.clientId, identity.clientSecret);
  }
  if (identity.managedIdentityResourceId) {
    return new DefaultAzureCredential({ managedIdentityResourceId: identity.managedIdentityResourceId });
  }
  return new DefaultAzureCredential(identity.clientId ? { managedIdentityClientId: identity.clientId } : {});
}
