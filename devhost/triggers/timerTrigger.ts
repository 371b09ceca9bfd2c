import { StartupError } from '../config/errors';
import type { ListenerFactory } from './listener';

/** Placeholder until the timer trigger lands. */
export const createTimerListeners: ListenerFactory = (functions) => {
  if (functions.length > 0)
    throw new StartupError(`timer triggers are not implemented yet (function "${functions[0]?.name ?? ''}")`);
  return [];
};
