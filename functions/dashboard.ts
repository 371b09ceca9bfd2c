import { app, type HttpResponseInit } from '@azure/functions';

import { appServices } from '../shared/appServices';
import {
  containerReportBlobs,
  MAX_REPORT_DAYS,
  readReportFile,
  recentDailyRevenue,
  reportDays,
} from '../shared/batch/dailyReportFiles';
import { dashboardAsset, dashboardCsp } from '../shared/dashboard/dashboardAssets';
import { queueDepths } from '../shared/health/queueDepths';
import { json, notFound, validationProblem } from '../shared/http/problem';
import { isOrphanedThumbnail } from '../shared/thumbnails/staleThumbnails';
import { currentUploadEtag } from '../shared/thumbnails/uploadVersions';

const { names, storage } = appServices();
const csp = dashboardCsp(storage.blobs.url);
const reportBlobs = () =>
  containerReportBlobs(appServices().storage.blobs.getContainerClient(names.containers.reports));

async function asset(name: string): Promise<HttpResponseInit> {
  const found = await dashboardAsset(name);
  if (!found) return notFound(`no dashboard file ${JSON.stringify(name.slice(0, 50))}`);
  return {
    status: 200,
    headers: {
      'content-type': found.contentType,
      'content-security-policy': csp,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-cache',
    },
    body: found.body,
  };
}

app.http('dashboard', {
  route: 'dashboard',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: () => asset('index.html'),
});

app.http('dashboardAsset', {
  route: 'dashboard/{file}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: (request) => asset(request.params['file'] ?? ''),
});

app.http('queueDepths', {
  route: 'queues',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async () => json(200, { queues: await queueDepths(appServices()) }),
});

app.http('dailyReports', {
  route: 'reports/daily',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async (request) => {
    const days = reportDays(request.query.get('days'));
    if (days === undefined) {
      return validationProblem([{ field: 'days', message: `must be a whole number from 1 to ${MAX_REPORT_DAYS}` }]);
    }
    return json(200, { days: await recentDailyRevenue(reportBlobs(), days) });
  },
});

app.http('dailyReportFile', {
  route: 'reports/daily/{file}',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async (request) => {
    const file = request.params['file'] ?? '';
    const report = await readReportFile(reportBlobs(), file);
    switch (report.outcome) {
      case 'found':
        return {
          status: 200,
          headers: { 'content-type': report.format === 'json' ? 'application/json' : 'text/csv; charset=utf-8' },
          body: report.body,
        };
      case 'not-a-report':
        return notFound(`no report ${JSON.stringify(file.slice(0, 50))}`);
      case 'missing':
        return notFound(`no report for ${report.date}`);
      default: {
        const never: never = report;
        throw new Error(`unknown report outcome ${JSON.stringify(never)}`);
      }
    }
  },
});

app.http('thumbnailImage', {
  route: 'thumbnails/{width:int}/{*name}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async (request) => {
    const width = request.params['width'] ?? '';
    const name = request.params['name'] ?? '';
    // The name stays inside the thumbnails container: no empty segments, no `..`, no backslashes.
    if (!name || name.split('/').some((part) => part === '' || part === '.' || part === '..') || name.includes('\\')) {
      return notFound('no such thumbnail');
    }
    const blobs = appServices().storage.blobs;
    const blob = blobs.getContainerClient(names.containers.thumbnails).getBlobClient(`${width}/${name}`);
    const uploads = blobs.getContainerClient(names.containers.uploads);
    try {
      const download = await blob.getProperties();
      if (await isOrphanedThumbnail(download.metadata, (upload) => currentUploadEtag(uploads, upload))) {
        // Its upload was deleted: never pass it off as current; remove it (if it changed meanwhile, leave it).
        await blob.deleteIfExists({ conditions: { ifMatch: download.etag ?? '*' } }).catch(() => undefined);
        return notFound('no such thumbnail: its upload was deleted');
      }
      const body = await blob.downloadToBuffer();
      return {
        status: 200,
        headers: {
          'content-type': download.contentType ?? 'application/octet-stream',
          'cache-control': download.cacheControl ?? 'no-cache',
          'x-content-type-options': 'nosniff',
        },
        body,
      };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return notFound('no such thumbnail');
      throw error;
    }
  },
});
