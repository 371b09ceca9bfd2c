import { app, type HttpResponseInit } from '@azure/functions';

import { appServices } from '../shared/appServices';
import { dashboardAsset, dashboardCsp } from '../shared/dashboard/dashboardAssets';
import { healthReport } from '../shared/health/healthReport';
import { json, notFound, validationProblem } from '../shared/http/problem';
import { BLOB_TRIGGER_POISON_QUEUE } from '../shared/storage/resourceNames';
import { storageClients, withTablesOf } from '../shared/storage/storageClients';
import { isOrphanedThumbnail } from '../shared/thumbnails/staleThumbnails';
import { currentUploadEtag } from '../shared/thumbnails/uploadVersions';

const { names, storage } = appServices();
const csp = dashboardCsp(storage.blobs.url);

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
  handler: async () => {
    const services = appServices();
    const report = await healthReport(
      withTablesOf(services.storage, storageClients(services.config.jobsStorageConnection)),
      names.tables.jobs,
      [
        ...names.triggerQueues.map((queue) => ({ queue, poisonQueue: `${queue}-poison` })),
        { queue: BLOB_TRIGGER_POISON_QUEUE },
      ],
      services.config.health,
    );
    return json(200, { queues: report.queues });
  },
});

app.http('dailyReports', {
  route: 'reports/daily',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async (request) => {
    const days = Number(request.query.get('days') ?? '14');
    if (!Number.isInteger(days) || days < 1 || days > 366) {
      return validationProblem([{ field: 'days', message: 'must be a whole number from 1 to 366' }]);
    }
    const container = appServices().storage.blobs.getContainerClient(names.containers.reports);
    const reportNames: string[] = [];
    try {
      for await (const blob of container.listBlobsFlat({ prefix: 'daily/' })) {
        if (blob.name.endsWith('.json')) reportNames.push(blob.name);
      }
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    const recent = reportNames.sort().slice(-days);
    const reports = await Promise.all(
      recent.map(async (name) => {
        const doc = JSON.parse((await container.getBlobClient(name).downloadToBuffer()).toString('utf8')) as {
          date: string;
          orders: number;
          succeeded: number;
          revenueCents: number;
        };
        return { date: doc.date, orders: doc.orders, succeeded: doc.succeeded, revenueCents: doc.revenueCents };
      }),
    );
    return json(200, { days: reports });
  },
});

app.http('dailyReportFile', {
  route: 'reports/daily/{file}',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async (request) => {
    const file = request.params['file'] ?? '';
    const match = /^(\d{4}-\d{2}-\d{2})\.(json|csv)$/.exec(file);
    if (!match) return notFound(`no report ${JSON.stringify(file.slice(0, 50))}`);
    const blob = appServices()
      .storage.blobs.getContainerClient(names.containers.reports)
      .getBlobClient(`daily/${file}`);
    try {
      const body = await blob.downloadToBuffer();
      return {
        status: 200,
        headers: { 'content-type': match[2] === 'json' ? 'application/json' : 'text/csv; charset=utf-8' },
        body,
      };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return notFound(`no report for ${match[1] ?? ''}`);
      throw error;
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
