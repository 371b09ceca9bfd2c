import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { z } from 'zod';

import { CANCEL_TOKEN_HEADER, cancelTokenMatches, newCancelToken } from '../shared/access/cancelToken';
import { jobStatusUrl, RETRY_AFTER_SECONDS } from '../shared/http/apiRoutes';
import { json, notFound, problem, validationProblem } from '../shared/http/problem';
import { fieldProblems, parseJsonBody } from '../shared/http/requestBody';
import { isValidJobId, JobStore } from '../shared/jobs/jobStore';
import { isTerminal } from '../shared/jobs/jobTypes';
import { webhookPolicy } from '../shared/notify/webhookPolicy';
import { assertWebhookTargetAllowed, WEBHOOK_TARGET_REFUSED_MESSAGE } from '../shared/notify/webhookTarget';
import { bodyFingerprint, IdempotencyKeys } from '../shared/orders/idempotencyKeys';
import { MAX_NOT_BEFORE_MS, orderRequestSchema, plainText } from '../shared/orders/orderRequest';
import { tokenizeCard } from '../shared/orders/paymentGateway';
import { replyQueueProblem } from '../shared/orders/replyQueue';
import { orderServices } from '../shared/orderServices';
import { ORDER_JOB_TYPE, type OrderData, orderDataSchema, type StepMessage } from '../shared/workflow/orderModel';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

/** The 202 for a started order; the cancel token goes only to its creator (a repeat with the same Idempotency-Key). */
function accepted(jobId: string, cancelToken: string | undefined) {
  const statusUrl = jobStatusUrl(jobId);
  return json(
    202,
    { jobId, statusUrl, ...(cancelToken ? { cancelToken } : {}) },
    { location: statusUrl, 'retry-after': String(RETRY_AFTER_SECONDS) },
  );
}

app.http('createOrder', {
  route: 'orders',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: async (request, context) => {
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
    const replyQueueRefusal = order.replyTo
      ? replyQueueProblem(order.replyTo, services.app.config.replyQueuePrefix, services.app.names)
      : undefined;
    if (replyQueueRefusal) return validationProblem([{ field: 'replyTo', message: replyQueueRefusal }]);
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
        // What a name resolves to is the deployment's business: the caller learns only that it is refused.
        context.warn(`callbackUrl refused: ${(error as Error).message}`);
        return validationProblem([{ field: 'callbackUrl', message: WEBHOOK_TARGET_REFUSED_MESSAGE }]);
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
      if (claim.kind === 'repeat') {
        const existing = await services.jobs.get(jobId);
        if (existing) return accepted(jobId, existing.correlation.cancelToken);
      }
    }
    const cancelToken = newCancelToken();

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
    const { created, job } = await services.jobs.create({
      id: jobId,
      type: ORDER_JOB_TYPE,
      data: data,
      correlation: {
        ...(order.replyTo ? { replyTo: order.replyTo } : {}),
        ...(order.callbackUrl ? { callbackUrl: order.callbackUrl } : {}),
        ...(idempotencyKey ? { idempotencyKey } : {}),
        cancelToken,
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
    return accepted(jobId, job.correlation.cancelToken);
  },
});

/**
 * Cancels an order that has not shipped. The caller proves it created the order with the cancel token from the 202
 * (`cancelJob`), or is an operator with the admin key (`cancelJobAsAdmin`, a route of its own because the host, not
 * the app, checks keys).
 */
function cancelHandler(requireCancelToken: boolean) {
  return async (request: HttpRequest): Promise<HttpResponseInit> => {
    const id = request.params['id'] ?? '';
    if (!isValidJobId(id)) return notFound(`no job ${JSON.stringify(id.slice(0, 100))}`);
    const services = orderServices();
    await services.ready();
    const job = await services.jobs.get(id);
    if (!job) return notFound(`no job ${id}`);
    if (
      requireCancelToken &&
      !cancelTokenMatches(job.correlation.cancelToken, request.headers.get(CANCEL_TOKEN_HEADER))
    ) {
      return problem(
        403,
        'cancel-token-required',
        'Cancel token required',
        `send the cancelToken returned when the order was created, in the ${CANCEL_TOKEN_HEADER} header`,
      );
    }
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
      { jobId: id, status: updated.status, statusUrl: jobStatusUrl(id) },
      { location: jobStatusUrl(id) },
    );
  };
}

app.http('cancelJob', {
  route: 'jobs/{id}/cancel',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: cancelHandler(true),
});

app.http('cancelJobAsAdmin', {
  route: 'manage/jobs/{id}/cancel',
  methods: ['POST'],
  authLevel: 'admin',
  handler: cancelHandler(false),
});

const inventoryBody = z
  .object({
    stock: z.number().int().min(0).max(1_000_000),
    name: plainText(1, 200).optional(),
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
