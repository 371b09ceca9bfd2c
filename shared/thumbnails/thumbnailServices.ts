import { appServices } from '../appServices';
import { type ThumbnailJobServices } from './thumbnailJob';
import { currentUploadEtag } from './uploadVersions';

/** The thumbnail job's services on the app's storage, built once per process (clients are reused by every run). */
let built: ThumbnailJobServices | undefined;

export function thumbnailServices(): ThumbnailJobServices {
  if (built) return built;
  const { names, storage, runtime, deadLetters, config } = appServices();
  const uploads = storage.blobs.getContainerClient(names.containers.uploads);
  built = {
    runtime,
    deadLetters,
    uploads,
    thumbnails: storage.blobs.getContainerClient(names.containers.thumbnails),
    currentUploadEtag: (name) => currentUploadEtag(uploads, name),
    widths: config.thumbnails.widths,
    format: config.thumbnails.format,
    maxPixels: config.thumbnails.maxPixels,
    maxBytes: config.uploads.maxBytes,
    readJobFirst: config.thumbnails.blobSource !== 'EventGrid',
  };
  return built;
}
