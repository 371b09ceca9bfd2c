import { after, before } from 'node:test';

import { type RunningAzurite, startAzurite } from '../../devhost/azurite';

/**
 * Gives the calling test file an Azurite of its own, for tests that read an account-wide queue: every blob trigger
 * on an account shares `webjobs-blobtrigger-poison`, and the real app, running in another test file at the same time,
 * takes and hides the messages of containers it does not own (see shared/deadletters/blobPoison.ts), so a peek for a
 * test's own message could miss it. Call once at the top level of the file: each test file runs in its own process,
 * so the connection string set here is seen by `testConnectionString()` and the devhosts this file starts, and no
 * other file.
 */
export function useOwnAzurite(): void {
  let azurite: RunningAzurite | undefined;
  before(async () => {
    azurite = await startAzurite();
    process.env['TEST_STORAGE_CONNECTION_STRING'] = azurite.connectionString;
  });
  after(async () => {
    await azurite?.stop();
  });
}
