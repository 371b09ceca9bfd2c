import {
  type BlobSASSignatureValues,
  type BlobServiceClient,
  type BlockBlobClient,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
  type UserDelegationKey,
} from '@azure/storage-blob';

/** The SAS fields a caller chooses; the container and blob come from the client. */
export type BlobSasValues = Omit<BlobSASSignatureValues, 'containerName' | 'blobName' | 'snapshotTime' | 'versionId'>;

/** A user delegation key is asked for this long and reused while it covers a new SAS (at most 7 days allowed). */
const DELEGATION_KEY_LIFETIME_MS = 6 * 60 * 60 * 1000;

interface CachedKey {
  key: UserDelegationKey;
  startsOn: Date;
  expiresOn: Date;
}

const delegationKeys = new WeakMap<BlobServiceClient, Promise<CachedKey>>();

async function delegationKeyCovering(
  service: BlobServiceClient,
  startsOn: Date,
  expiresOn: Date,
): Promise<UserDelegationKey> {
  const cached = await delegationKeys.get(service)?.catch(() => undefined);
  if (cached && cached.startsOn <= startsOn && cached.expiresOn >= expiresOn) return cached.key;
  const keyStartsOn = new Date(startsOn.getTime());
  const keyExpiresOn = new Date(Math.max(expiresOn.getTime(), Date.now() + DELEGATION_KEY_LIFETIME_MS));
  const pending = service
    .getUserDelegationKey(keyStartsOn, keyExpiresOn)
    .then((key) => ({ key, startsOn: keyStartsOn, expiresOn: keyExpiresOn }));
  delegationKeys.set(service, pending);
  return (await pending).key;
}

/**
 * A SAS URL for one blob. With an account key (connection string) it is a service SAS signed with the key; with an
 * identity-based connection (no key, shared-key access possibly disabled on the account) it is a user delegation
 * SAS, signed with a key the identity obtains from the blob service (needs "Storage Blob Delegator" or a data role
 * that includes `generateUserDelegationKey`). Same scope either way: the values the caller gives, for this blob.
 */
export async function blobSasUrl(
  blob: BlockBlobClient,
  service: BlobServiceClient,
  values: BlobSasValues,
): Promise<string> {
  if (blob.credential instanceof StorageSharedKeyCredential) return blob.generateSasUrl(values);
  const startsOn = values.startsOn ?? new Date();
  const expiresOn = values.expiresOn;
  if (!expiresOn) throw new Error('a user delegation SAS needs an expiry');
  const key = await delegationKeyCovering(service, startsOn, expiresOn);
  const query = generateBlobSASQueryParameters(
    {
      // Signed in the service version that issued the key, which that service is sure to verify (a newer SDK's
      // default version adds fields to the string to sign that an older service does not know).
      version: key.signedVersion,
      ...values,
      startsOn,
      expiresOn,
      containerName: blob.containerName,
      blobName: blob.name,
    },
    key,
    blob.accountName,
  ).toString();
  return `${blob.url}${blob.url.includes('?') ? '&' : '?'}${query}`;
}
