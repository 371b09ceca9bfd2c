import type { Job } from '../jobs/jobTypes';
import { UPLOAD_JOB_PREFIX } from '../thumbnails/thumbnailJob';

const MAX_LABEL_CHARS = 120;

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/**
 * What a person recognises a job by in a list: the file name of a thumbnail, the customer of an order, the date of
 * a nightly report. Read from the job's private data, so only listings behind the admin key show it; an unknown
 * type or shape gives an empty label rather than a guess.
 */
export function jobLabel(job: Job): string {
  const data = job.data;
  let label: string | undefined;
  switch (job.type) {
    case 'thumbnail': {
      // Upload jobs keep their blob under `{jobId}/`: the person knows the file by the name after it.
      label = text(data['name'])?.replace(UPLOAD_JOB_PREFIX, '');
      break;
    }
    case 'order': {
      const customer = data['customer'] as { name?: unknown } | undefined;
      const lines = Array.isArray(data['lines']) ? (data['lines'] as { quantity?: unknown }[]) : [];
      const items = lines.reduce((sum, line) => sum + (typeof line.quantity === 'number' ? line.quantity : 0), 0);
      const name = text(customer?.name);
      label = name && items > 0 ? `${name}, ${items} item${items === 1 ? '' : 's'}` : name;
      break;
    }
    case 'nightly': {
      const date = text(data['date']);
      label = date ? `report for ${date}` : undefined;
      break;
    }
    default:
      label = text(data['label']);
  }
  return (label ?? '').slice(0, MAX_LABEL_CHARS);
}
