// The dashboard: plain DOM, no framework, nothing loaded from outside the app. Every value from the API is put on
// the page with textContent, never as markup, so a blob name or message body cannot run as script.
'use strict';

const KEY_STORAGE = 'background-jobs-admin-key';
const REFRESH_MS = 2000;
const state = { selectedJob: null, filterType: '', filterStatus: '' };

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === 'class') node.className = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function notice(text) {
  document.getElementById('notice').textContent = text;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers['x-functions-key'] = key;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(`/api/${path}`, { method: options.method || 'GET', headers, body: options.body });
  const text = await response.text();
  const body = text ? JSON.parse(text) : undefined;
  if (response.status === 401) {
    notice('This action needs the admin key: keys are enforced on this host. Enter the master key above.');
    throw new Error('unauthorised');
  }
  return { status: response.status, body, headers: response.headers };
}

function age(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'compensating', 'compensated', 'cancelled'];
const SVG_NS = 'http://www.w3.org/2000/svg';

function svgEl(tag, attributes, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A table with nothing to show says so, instead of an empty box. */
function emptyRow(columns, text) {
  return el('tr', { class: 'empty-row' }, el('td', { colspan: String(columns), class: 'empty' }, text));
}

function statusCell(status) {
  return el('td', { class: `status-${status}`, 'data-status': status }, status);
}

async function refreshJobs() {
  const query = new URLSearchParams({ limit: '25' });
  if (state.filterType) query.set('type', state.filterType);
  if (state.filterStatus) query.set('status', state.filterStatus);
  const rows = document.getElementById('job-rows');
  let body;
  try {
    ({ body } = await api(`jobs?${query}`));
  } catch {
    // Listing jobs is an operator's view: it needs the admin key wherever keys are enforced.
    rows.replaceChildren(emptyRow(6, 'The job list needs the admin key on this host.'));
    return;
  }
  if (body.jobs.length === 0) {
    const filtered = state.filterType || state.filterStatus;
    rows.replaceChildren(emptyRow(6, filtered ? 'No job matches these filters.' : 'No jobs yet: start one below.'));
  } else
    rows.replaceChildren(
      ...body.jobs.map((job) =>
        el(
          'tr',
          { 'data-job': job.id },
          el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => showJob(job.id) }, job.id)),
          el('td', { class: 'label' }, job.label || ''),
          el('td', {}, job.type),
          statusCell(job.status),
          el(
            'td',
            {},
            el('progress', {
              max: '100',
              value: String(job.progress.percent),
              'aria-label': `${job.progress.percent}%`,
            }),
            ` ${job.progress.step}`,
          ),
          el('td', {}, age(job.createdAt)),
        ),
      ),
    );
  if (state.selectedJob) await showJob(state.selectedJob, false);
}

/**
 * Where the preview loads a thumbnail from: the version the job links (`?v=`, which the app serves immutable, so the
 * browser does not ask again on every refresh of the detail), but on this page's own origin, as a relative path: the
 * job's `url` is absolute under PUBLIC_BASE_URL, which may name another origin than the one the page came from, and
 * the page's Content-Security-Policy loads images from its own origin only.
 */
function previewSrc(thumbnail) {
  const path = `/api/thumbnails/${thumbnail.path.split('/').slice(1).map(encodeURIComponent).join('/')}`;
  let version = null;
  try {
    version = new URL(thumbnail.url, window.location.href).searchParams.get('v');
  } catch {
    // A url that does not parse names no version: show the current one.
  }
  return version ? `${path}?v=${encodeURIComponent(version)}` : path;
}

function resultView(job) {
  const result = job.result || {};
  const parts = [];
  if (Array.isArray(result.thumbnails)) {
    parts.push(
      el(
        'div',
        { class: 'thumbs' },
        ...result.thumbnails.map((t) =>
          el('img', {
            src: previewSrc(t),
            alt: `${t.width}px thumbnail of ${result.source ? result.source.name : ''}`,
            width: String(Math.min(128, t.width)),
          }),
        ),
      ),
    );
  }
  if (result.report) {
    parts.push(
      el(
        'p',
        {},
        'Report: ',
        el('a', { href: `/api/reports/daily/${result.date}.json` }, 'JSON'),
        ' · ',
        el('a', { href: `/api/reports/daily/${result.date}.csv` }, 'CSV'),
      ),
    );
  }
  parts.push(el('pre', {}, JSON.stringify(result, null, 2)));
  return parts;
}

async function showJob(id, scroll = true) {
  state.selectedJob = id;
  const [{ status, body: job }, { body: events }] = await Promise.all([
    api(`jobs/${encodeURIComponent(id)}`),
    api(`jobs/${encodeURIComponent(id)}/events`),
  ]);
  const detail = document.getElementById('job-detail');
  if (status !== 200) {
    state.selectedJob = null;
    detail.hidden = true;
    notice(`No job ${id}.`);
    return;
  }
  detail.hidden = false;
  const steps =
    job.type === 'order'
      ? events.events.filter((e) => e.kind === 'step-done' || e.kind === 'step-undone').map((e) => e.message)
      : [];
  const parts = [
    el('h3', {}, `${job.type} ${job.id}`),
    el(
      'p',
      {},
      'Status: ',
      el('strong', { 'data-detail-status': job.status }, job.status),
      ` · attempts ${job.attempts}`,
    ),
    job.error ? el('p', { class: 'status-failed' }, `Error ${job.error.code}: ${job.error.message}`) : null,
    steps.length ? el('p', {}, `Steps: ${steps.join(' → ')}`) : null,
    ...resultView(job),
    el('h4', {}, 'Timeline'),
    el('ol', {}, ...events.events.map((e) => el('li', {}, `${e.at.slice(11, 19)} ${e.kind}: ${e.message}`))),
  ];
  detail.replaceChildren(...parts.filter((part) => part !== null));
  if (scroll) detail.scrollIntoView({ block: 'nearest' });
}

async function refreshQueues() {
  const { body } = await api('queues');
  const queueRows = document.getElementById('queue-rows');
  if (body.queues.length === 0) queueRows.replaceChildren(emptyRow(3, 'No queues yet.'));
  else
    queueRows.replaceChildren(
      ...body.queues.map((q) =>
        el(
          'tr',
          { 'data-queue': q.queue },
          el('td', {}, q.queue),
          el('td', {}, q.depth),
          el('td', {}, q.poison === undefined ? '' : q.poison),
        ),
      ),
    );
}

async function refreshDeadLetters() {
  const list = document.getElementById('dl-list');
  let response;
  try {
    response = await api('deadletters?state=open&limit=50');
  } catch {
    list.replaceChildren(el('p', {}, 'Dead letters need the admin key on this host.'));
    return;
  }
  if (response.body.deadLetters.length === 0) {
    list.replaceChildren(el('p', {}, 'No open dead letters.'));
    return;
  }
  list.replaceChildren(
    ...response.body.deadLetters.map((d) =>
      el(
        'article',
        { 'data-deadletter': d.id },
        el('h3', {}, d.source.kind === 'blob' ? `${d.source.container}/${d.source.blobName}` : d.source.queue),
        el('p', {}, `${d.error.code}: ${d.error.message} · delivered ${d.dequeueCount}× · ${d.deadLetteredAt}`),
        el('pre', {}, d.body),
        el('button', { type: 'button', onclick: () => act(d.id, 'replay') }, 'Replay'),
        ' ',
        el('button', { type: 'button', onclick: () => act(d.id, 'discard') }, 'Discard'),
      ),
    ),
  );
}

async function act(id, action) {
  const response =
    action === 'replay'
      ? await api(`deadletters/${encodeURIComponent(id)}/replay`, { method: 'POST', json: {} })
      : await api(`deadletters/${encodeURIComponent(id)}`, { method: 'DELETE' });
  notice(
    response.status < 300
      ? `Dead letter ${action === 'replay' ? 'replayed' : 'discarded'}.`
      : `${response.body.title}: ${response.body.detail}`,
  );
  await refreshDeadLetters();
}

function drawChart(days) {
  const svg = document.getElementById('revenue-chart');
  document.getElementById('revenue-empty').hidden = days.length > 0;
  svg.classList.toggle('hidden', days.length === 0);
  const max = Math.max(1, ...days.map((d) => d.revenueCents));
  const width = 600 / Math.max(1, days.length);
  const noRevenue = days.length > 0 && days.every((d) => d.revenueCents === 0);
  svg.replaceChildren(
    ...(noRevenue
      ? [
          svgEl(
            'text',
            { x: 300, y: 70, 'text-anchor': 'middle', 'font-size': 14, class: 'empty' },
            `No revenue in ${days.length === 1 ? 'this report' : `these ${days.length} reports`} yet`,
          ),
        ]
      : []),
    ...days.flatMap((d, i) => {
      // A day without revenue still gets a sliver, so the day is visibly there and not a gap.
      const height = Math.max(1, Math.round((d.revenueCents / max) * 120));
      const bar = svgEl('rect', {
        x: i * width + 4,
        y: 130 - height,
        width: Math.max(2, width - 8),
        height,
        fill: '#0969da',
      });
      bar.append(svgEl('title', {}, `${d.date}: ${(d.revenueCents / 100).toFixed(2)} revenue, ${d.orders} orders`));
      const label = svgEl('text', { x: i * width + 4, y: 150, 'font-size': 10 }, `${d.date.slice(5)} (${d.orders})`);
      return [bar, label];
    }),
  );
}

/** Succeeded and failed per minute as stacked bars, with a scale: like Hangfire's realtime graph. */
function drawThroughput(minutes) {
  const svg = document.getElementById('throughput-chart');
  const finished = minutes.some((m) => m.succeeded + m.failed > 0);
  document.getElementById('throughput-empty').hidden = finished;
  svg.classList.toggle('hidden', !finished);
  if (!finished) {
    svg.replaceChildren();
    return;
  }
  const left = 36;
  const top = 10;
  const plotHeight = 130;
  const plotWidth = 600 - left - 4;
  const max = Math.max(1, ...minutes.map((m) => m.succeeded + m.failed));
  const step = plotWidth / minutes.length;
  const y = (value) => top + plotHeight - (value / max) * plotHeight;
  const parts = [
    svgEl('line', { x1: left, y1: top + plotHeight, x2: 600, y2: top + plotHeight, stroke: '#8c959f' }),
    svgEl('text', { x: left - 4, y: top + 8, 'font-size': 10, 'text-anchor': 'end' }, String(max)),
    svgEl('text', { x: left - 4, y: top + plotHeight, 'font-size': 10, 'text-anchor': 'end' }, '0'),
  ];
  minutes.forEach((m, i) => {
    const x = left + i * step + 1;
    const barWidth = Math.max(1, step - 2);
    const time = m.minute.slice(11, 16);
    if (m.succeeded > 0) {
      const bar = svgEl('rect', {
        x,
        y: y(m.succeeded),
        width: barWidth,
        height: plotHeight - (y(m.succeeded) - top),
        class: 'bar-succeeded',
        'data-minute': m.minute,
      });
      bar.append(svgEl('title', {}, `${time} UTC: ${m.succeeded} succeeded`));
      parts.push(bar);
    }
    if (m.failed > 0) {
      const bar = svgEl('rect', {
        x,
        y: y(m.succeeded + m.failed),
        width: barWidth,
        height: y(m.succeeded) - y(m.succeeded + m.failed),
        class: 'bar-failed',
        'data-minute': m.minute,
      });
      bar.append(svgEl('title', {}, `${time} UTC: ${m.failed} failed`));
      parts.push(bar);
    }
    if (i % 10 === 0 || i === minutes.length - 1) {
      const last = i === minutes.length - 1;
      parts.push(
        svgEl(
          'text',
          { x: last ? 600 : x, y: top + plotHeight + 16, 'font-size': 10, 'text-anchor': last ? 'end' : 'start' },
          time,
        ),
      );
    }
  });
  svg.replaceChildren(...parts);
}

async function refreshSummary() {
  const rows = document.getElementById('summary-rows');
  let response;
  try {
    response = await api('stats/jobs');
  } catch (error) {
    if (error.message !== 'unauthorised') throw error;
    rows.replaceChildren(emptyRow(8, 'The summary needs the admin key on this host.'));
    return;
  }
  const summary = response.body;
  document.getElementById('last-hour-succeeded').textContent = String(summary.lastHour.succeeded);
  document.getElementById('last-hour-failed').textContent = String(summary.lastHour.failed);
  drawThroughput(summary.throughput);
  document.getElementById('summary-caption').textContent =
    `Jobs created in the last ${summary.windowHours} hours, by type and status` +
    (summary.truncated ? ` (the newest ${summary.scanned} only: at least this many)` : '');
  const types = Object.keys(summary.counts).sort();
  if (types.length === 0) {
    rows.replaceChildren(emptyRow(8, `No jobs in the last ${summary.windowHours} hours.`));
    return;
  }
  rows.replaceChildren(
    ...types.map((type) =>
      el(
        'tr',
        { 'data-summary-type': type },
        el('th', { scope: 'row' }, type),
        ...STATUSES.map((status) => {
          const count = summary.counts[type][status] || 0;
          return el('td', { 'data-count': status, class: count ? `status-${status}` : 'zero' }, count);
        }),
      ),
    ),
  );
}

async function refreshNightly() {
  const [{ body: runs }, { body: reports }] = await Promise.all([
    api('jobs?type=nightly&limit=10'),
    api('reports/daily?days=14'),
  ]);
  drawChart(reports.days);
  const nightlyRows = document.getElementById('nightly-rows');
  if (runs.jobs.length === 0) nightlyRows.replaceChildren(emptyRow(4, 'No nightly run yet.'));
  else
    nightlyRows.replaceChildren(
      ...runs.jobs.map((job) =>
        el(
          'tr',
          { 'data-run': job.id },
          el('td', {}, el('button', { type: 'button', onclick: () => showJob(job.id) }, job.id)),
          statusCell(job.status),
          el('td', {}, job.result && job.result.durationMs !== undefined ? `${job.result.durationMs} ms` : ''),
          el(
            'td',
            {},
            job.result && job.result.date
              ? el('a', { href: `/api/reports/daily/${job.result.date}.json` }, job.result.date)
              : '',
          ),
        ),
      ),
    );
}

async function refreshAll() {
  const results = await Promise.allSettled([
    refreshSummary(),
    refreshJobs(),
    refreshQueues(),
    refreshDeadLetters(),
    refreshNightly(),
  ]);
  const failed = results.find((r) => r.status === 'rejected' && r.reason.message !== 'unauthorised');
  if (failed) notice(`Could not refresh: ${failed.reason.message}`);
}

document.getElementById('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const key = document.getElementById('admin-key').value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  notice(key ? 'Admin key set for this tab.' : 'Admin key cleared.');
  void refreshAll();
});

document.getElementById('job-search').addEventListener('submit', (event) => {
  event.preventDefault();
  const id = document.getElementById('search-id').value.trim();
  if (id) void showJob(id);
});

document.getElementById('job-filter').addEventListener('change', () => {
  state.filterType = document.getElementById('filter-type').value;
  state.filterStatus = document.getElementById('filter-status').value;
  void refreshJobs();
});

document.getElementById('nightly-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const date = document.getElementById('nightly-date').value;
  const force = document.getElementById('nightly-force').checked;
  const response = await api('batch/nightly/run', {
    method: 'POST',
    json: Object.assign(date ? { date } : {}, force ? { force } : {}),
  });
  notice(
    response.status === 202
      ? `Nightly batch ${response.body.jobId} started.`
      : `${response.body.title}: ${response.body.detail}`,
  );
  if (response.status === 202) await showJob(response.body.jobId);
});

document.getElementById('order-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await api('orders', {
    method: 'POST',
    json: {
      customer: { name: form.get('name'), email: form.get('email') },
      items: [{ sku: form.get('sku'), quantity: Number(form.get('quantity')) }],
      payment: { cardNumber: form.get('card') },
      shippingAddress: { line1: '1 Dashboard Way', city: 'Localhost', postalCode: '10000', country: 'GB' },
      priority: form.get('priority'),
    },
  });
  if (response.status === 202) {
    notice(`Order ${response.body.jobId} accepted.`);
    await showJob(response.body.jobId);
  } else {
    notice(`${response.body.title}: ${response.body.detail || ''}`);
  }
});

document.getElementById('upload-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = new FormData(event.target).get('file');
  const created = await api('uploads', { method: 'POST', json: { fileName: file.name, contentType: file.type } });
  if (created.status !== 201) {
    notice(`${created.body.title}: ${created.body.detail || ''}`);
    return;
  }
  const put = await fetch(created.body.upload.url, { method: 'PUT', headers: created.body.upload.headers, body: file });
  notice(put.ok ? `Uploaded ${file.name}: job ${created.body.jobId}.` : `Upload failed with ${put.status}.`);
  await showJob(created.body.jobId);
});

void refreshAll();
setInterval(() => void refreshAll(), REFRESH_MS);
