import {
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  type TokenCredential,
  WorkloadIdentityCredential,
} from '@azure/identity';

import type { IdentitySettings } from './storageConnection';

/**
 * The credential for an identity-based connection, by the host's rules (`ClientFactory.CreateCredential`):
 * `credential=managedidentity` → ManagedIdentityCredential (resource id, client id, else system-assigned);
 * `workloadidentity` → WorkloadIdentityCredential; tenantId + clientId + clientSecret → ClientSecretCredential
 * (local development only); otherwise DefaultAzureCredential, trying `clientId` as its managed identity.
 * The credential value was validated with the settings (storageConnection.ts).
 */
export function storageCredential(identity: IdentitySettings): TokenCredential {
  switch (identity.credential?.toLowerCase() ?? 'default') {
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
    default:
      break;
  }
  if (identity.tenantId && identity.clientId && identity.clientSecret) {
    return new ClientSecretCredential(identity.tenantId, identity.clientId, identity.clientSecret);
  }
  if (identity.managedIdentityResourceId) {
    return new DefaultAzureCredential({ managedIdentityResourceId: identity.managedIdentityResourceId });
  }
  return new DefaultAzureCredential(identity.clientId ? { managedIdentityClientId: identity.clientId } : {});
}
