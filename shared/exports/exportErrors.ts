/** Why an export cannot be written. Permanent: running it again would fail the same way. */
export type ExportErrorCode = 'EXPORT_TOO_LARGE' | 'EXPORT_INVALID';

/** A permanent failure of the export job, with a stable code for the job's status record. */
export class ExportError extends Error {
  override readonly name = 'ExportError';
  constructor(
    readonly code: ExportErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
