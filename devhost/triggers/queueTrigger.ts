import { StartupError } from '../config/errors';
import type { ListenerFactory } from './listener';

/** Placeholder until the queue trigger lands. */
export const createQueueListeners: ListenerFactory = (functions) => {
  if (functions.length > 0)
    throw new StartupError(`queue triggers are not implemented yet (function "${functions[0]?.name ?? ''}")`);
  return [];
};
