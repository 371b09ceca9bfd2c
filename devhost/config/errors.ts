/**
 * A problem with the app or its settings that stops devhost at start. The CLI prints its message as one line and
 * exits non-zero, so the message must name the file, setting or function at fault.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
