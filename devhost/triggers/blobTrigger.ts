import { StartupError } from '../config/errors';
import type { ListenerFactory } from './listener';

/** Placeholder until the blob trigger lands. */
export const createBlobListeners: ListenerFactory = (functions) => {
  if (functions.length > 0)
    throw new StartupError(`blob triggers are not implemented yet (function "${functions[0]?.name ?? ''}")`);
  return [];
};
