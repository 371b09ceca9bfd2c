import { app, type HttpRequest } from '@azure/functions';
import { z } from 'zod';

import { jobStatusUrl, RETRY_AFTER_SECONDS } from '../shared/http/apiRoutes';
import { json, notFound, problem, validationProblem } from '../shared/http/problem';
import { fieldProblems, parseJsonBody } from '../shared/http/requestBody';
import { isValidJobId, JobStore } from '../shared/jobs/jobStore';
import { isTerminal } from '../shared/jobs/jobTypes';
import { webhookPolicy } from '../shared/notify/webhookPolicy';
import { assertWebhookTargetAllowed } from '../shared/notify/webhookTarget';
import { bodyFingerprint, IdempotencyKeys } from '../shared/orders/idempotencyKeys';
import { MAX_NOT_BEFORE_MS, orderRequestSchema } from '../shared/orders/orderRequest';
import { tokenizeCard } from '../shared/orders/paymentGateway';
import { orderServices } from '../shared/orderServices';
import { ORDER_JOB_TYPE, type OrderData, orderDataSchema, type StepMessage } from '../shared/workflow/orderModel';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

function accepted(request: HttpRequest, jobId: string, status: number = 202) {
  const statusUrl = jobStatusUrl(request, jobId);
  return json(status, { jobId, statusUrl }, { location: statusUrl, 'retry-after': String(RETRY_AFTER_SECONDS) });
}

app.http('createOrder', {
  route: 'orders',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: async (request) => {
    const parsed = await parseJsonBody(request, orderRequestSchema);
    if (!parsed.ok) return parsed.response;
    const order = parsed.value;
    const idempotencyKey = request.headers.get('idempotency-key') ?? undefined;
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      return validationProblem([{ field: 'Idempotency-Key', message: 'must be 1-200 visible ASCII characters' }]);
    }
    let delayMs = 0;
    if (order.notBefore) {
      delayMs = Math.max(0, Date.parse(order.notBefore) - Date.now());
      if (delayMs > MAX_NOT_BEFORE_MS) {
        return validationProblem([
          { field: 'notBefore', message: 'must be at most 7 days ahead (the longest a queue message can wait)' },
        ]);
      }
    }
    const services = orderServices();
    await services.ready();
    if (order.callbackUrl) {
      const policy = webhookPolicy();
      if (!policy.signingSecret) {
        return validationProblem([
          { field: 'callbackUrl', message: 'webhooks are not configured on this deployment (WEBHOOK_SIGNING_SECRET)' },
        ]);
      }
      try {
        await assertWebhookTargetAllowed(order.callbackUrl, policy.target);
      } catch (error) {
        return validationProblem([{ field: 'callbackUrl', message: (error as Error).message }]);
      }
    }
    // Price every line from the catalogue; an unknown SKU is a request the server understands but cannot fulfil.
    const lines: OrderData['lines'] = [];
    const unknown: string[] = [];
    for (const item of order.items) {
      const catalogued = await services.inventory.getItem(item.sku);
      if (!catalogued) unknown.push(item.sku);
      else
        lines.push({
          sku: item.sku,
          name: catalogued.name,
          quantity: item.quantity,
          priceCents: catalogued.priceCents,
        });
    }
    if (unknown.length > 0) {
      return problem(422, 'unknown-sku', 'Unknown SKU', `not in the catalogue: ${unknown.join(', ')}`, {
        errors: order.items
          .map((item, index) => ({ field: `items[${index}].sku`, message: `unknown SKU ${item.sku}` }))
          .filter((entry) => unknown.some((sku) => entry.message.endsWith(` ${sku}`))),
      });
    }

    let jobId = JobStore.newJobId('ord');
    if (idempotencyKey !== undefined) {
      const keys = new IdempotencyKeys(services.app.storage.table(services.app.names.tables.idempotency));
      await keys.ensureTable();
      const claim = await keys.claim(idempotencyKey, bodyFingerprint(order), jobId);
      if (claim.kind === 'mismatch') {
        return problem(
          409,
          'idempotency-key-reused',
          'Idempotency key reused',
          'this Idempotency-Key was used with a different request body',
        );
      }
      jobId = claim.jobId;
      // A repeat whose job exists gets the same answer; one whose first attempt crashed before creating it goes on.
      if (claim.kind === 'repeat' && (await services.jobs.get(jobId))) return accepted(request, jobId);
    }

    const priority = order.priority ?? 'normal';
    const data: OrderData = {
      customer: order.customer,
      lines,
      totalCents: lines.reduce((sum, line) => sum + line.priceCents * line.quantity, 0),
      card: tokenizeCard(order.payment.cardNumber),
      address: order.shippingAddress,
      priority,
      ...(order.notBefore ? { notBefore: order.notBefore } : {}),
      done: [],
      undone: [],
      redrives: 0,
      generation: 0,
    };
    const { created } = await services.jobs.create({
      id: jobId,
      type: ORDER_JOB_TYPE,
      data: data,
      correlation: {
        ...(order.replyTo ? { replyTo: order.replyTo } : {}),
        ...(order.callbackUrl ? { callbackUrl: order.callbackUrl } : {}),
        ...(idempotencyKey ? { idempotencyKey } : {}),
      },
      progress: {
        step: 'queued',
        index: 0,
        total: 4,
        percent: 0,
        message: delayMs > 0 ? `starts at ${order.notBefore ?? ''}` : 'queued',
      },
      event: `order of ${lines.length} line(s), ${priority} priority`,
    });
    if (created) {
      const message: StepMessage = { jobId, step: 'reserve', cause: 'start' };
      const queue = priority === 'high' ? services.queues.reserveHigh : services.queues.step.reserve;
      await services.sender.send(queue, message, { delaySeconds: delayMs / 1000 });
    }
    return accepted(request, jobId);
  },
});

app.http('cancelJob', {
  route: 'jobs/{id}/cancel',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: async (request) => {
    const id = request.params['id'] ?? '';
    if (!isValidJobId(id)) return notFound(`no job ${JSON.stringify(id.slice(0, 100))}`);
    const services = orderServices();
    await services.ready();
    const job = await services.jobs.get(id);
    if (!job) return notFound(`no job ${id}`);
    if (job.type !== ORDER_JOB_TYPE)
      return problem(409, 'not-cancellable', 'Not cancellable', `${job.type} jobs cannot be cancelled`);
    let refusal: string | undefined;
    const updated = await services.jobs.update(id, (current) => {
      const data = orderDataSchema.parse(current.data);
      if (isTerminal(current.status)) refusal = `the order is already ${current.status}`;
      else if (data.done.includes('shipment')) refusal = 'the order has shipped';
      else if (data.cancelRequested) return undefined;
      if (refusal) return undefined;
      return {
        data: { cancelRequested: true },
        event: { kind: 'cancel-requested', message: 'cancellation requested' },
      };
    });
    if (refusal) return problem(409, 'not-cancellable', 'Not cancellable', refusal);
    await services.sender.send(services.queues.compensate, {
      jobId: id,
      reason: { code: 'CANCELLED', message: 'cancelled by the caller' },
      cancellation: true,
    });
    return json(
      202,
      { jobId: id, status: updated.status, statusUrl: jobStatusUrl(request, id) },
      { location: jobStatusUrl(request, id) },
    );
  },
});

const inventoryBody = z
  .object({
    stock: z.number().int().min(0).max(1_000_000),
    name: z.string().trim().min(1).max(200).optional(),
    priceCents: z.number().int().min(0).max(100_000_000).optional(),
  })
  .strict();
const skuParam = z.string().regex(/^[A-Z0-9][A-Z0-9-]{0,31}$/, 'must be an upper-case SKU such as SKU-1');

app.http('putInventory', {
  route: 'inventory/{sku}',
  methods: ['PUT'],
  authLevel: 'admin',
  handler: async (request) => {
    const sku = skuParam.safeParse(request.params['sku'] ?? '');
    if (!sku.success) return validationProblem(fieldProblems(sku.error.issues).map((p) => ({ ...p, field: 'sku' })));
    const body = await parseJsonBody(request, inventoryBody);
    if (!body.ok) return body.response;
    const services = orderServices();
    await services.ready();
    const existing = await services.inventory.getItem(sku.data);
    await services.inventory.setItem({
      sku: sku.data,
      stock: body.value.stock,
      name: body.value.name ?? existing?.name ?? sku.data,
      priceCents: body.value.priceCents ?? existing?.priceCents ?? 1000,
    });
    return json(200, await services.inventory.getItem(sku.data));
  },
});

app.http('getInventory', {
  route: 'inventory/{sku}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async (request) => {
    const sku = request.params['sku'] ?? '';
    const services = orderServices();
    await services.ready();
    const item = skuParam.safeParse(sku).success ? await services.inventory.getItem(sku) : undefined;
    return item ? json(200, item) : notFound(`no SKU ${JSON.stringify(sku.slice(0, 50))}`);
  },
});
