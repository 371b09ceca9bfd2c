import { PermanentJobError } from '../jobs/jobErrors';

/** Why an upload cannot be thumbnailed. Every one of these is permanent: retrying the same bytes cannot help. */
export type ThumbnailErrorCode =
  | 'EMPTY_BLOB'
  | 'BLOB_TOO_LARGE'
  | 'NOT_AN_IMAGE'
  | 'UNSUPPORTED_IMAGE_FORMAT'
  | 'CORRUPT_IMAGE'
  | 'TOO_MANY_PIXELS'
  | 'IMAGE_TIMEOUT';

/** A permanent failure of the thumbnail job, with a stable code for the job's status record. */
export class ThumbnailError extends PermanentJobError {
  override readonly name = 'ThumbnailError';
  constructor(
    override readonly code: ThumbnailErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}
