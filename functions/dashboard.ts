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
import { THUMBNAIL_VERSION_PARAMETER, thumbnailUrl } from '../shared/http/apiRoutes';
import { json, notFound, validationProblem } from '../shared/http/problem';
import { readThumbnail } from '../shared/thumbnails/serveThumbnail';
import { thumbnailServices } from '../shared/thumbnails/thumbnailServices';

const { names, storage } = appServices();
const csp = dashboardCsp(storage.blobs.url);
const thumbnailContainers = thumbnailServices();
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

/** The caching and validators of a thumbnail answered with content (`200`) or the `304` standing for it. */
function contentHeaders(reply: { cacheControl: string; etag?: string }): Record<string, string> {
  const headers: Record<string, string> = { 'cache-control': reply.cacheControl, 'x-content-type-options': 'nosniff' };
  if (reply.etag !== undefined) headers['etag'] = reply.etag;
  return headers;
}

app.http('thumbnailImage', {
  route: 'thumbnails/{width:int}/{*name}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async (request): Promise<HttpResponseInit> => {
    const width = request.params['width'] ?? '';
    const name = request.params['name'] ?? '';
    const read = await readThumbnail(thumbnailContainers, width, name, {
      version: request.query.get(THUMBNAIL_VERSION_PARAMETER),
      ifNoneMatch: request.headers.get('if-none-match'),
    });
    switch (read.kind) {
      case 'redirect':
        return {
          status: 307,
          headers: {
            location: thumbnailUrl(width, name, read.reply.version),
            'cache-control': read.reply.cacheControl,
          },
        };
      case 'not-modified':
        // A 304 carries the validators and caching of the 200 it stands for, and no body (nor its content type).
        return { status: 304, headers: contentHeaders(read.reply) };
      case 'image':
        return {
          status: 200,
          headers: { 'content-type': read.contentType, ...contentHeaders(read.reply) },
          body: read.body,
        };
      case 'orphaned':
        return notFound('no such thumbnail: its upload was deleted');
      case 'stale':
        return notFound("no such thumbnail of the upload's current version");
      case 'missing':
        return notFound('no such thumbnail');
      default: {
        const never: never = read;
        throw new Error(`unknown thumbnail read ${JSON.stringify(never)}`);
      }
    }
  },
});
