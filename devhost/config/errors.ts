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

/**
 * A host.json value devhost cannot take, kept apart from its message so the value can be blamed on where it came
 * from: the file, or the `AzureFunctionsJobHost__…` app setting that set it (or made the section it is missing from).
 */
export class HostJsonError extends StartupError {
  /** The value is required and absent (rather than present and invalid). */
  readonly missing: boolean;

  /**
   * @param path the value's host.json path, in host.json's spelling (`extensions.queues.batchSize`)
   * @param problem what is wrong, to follow the path (`must be an integer from 1 to 32, got "lots"`)
   * @param options `missing`: the value is required and absent; `quoted`: the message quotes the path (`"version"`)
   */
  constructor(
    readonly path: string,
    readonly problem: string,
    options: { missing?: boolean; quoted?: boolean } = {},
  ) {
    super(`host.json: ${options.quoted ? `"${path}"` : path} ${problem}`);
    this.missing = options.missing ?? false;
  }
}
