import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';

import { CANCEL_TOKEN_HEADER } from '../shared/access/cancelToken';
import { jobStatusUrl, RETRY_AFTER_SECONDS } from '../shared/http/apiRoutes';
import { idempotencyKeyReused, json, notFound, problem, validationProblem } from '../shared/http/problem';
import { fieldProblems, parseJsonBody } from '../shared/http/requestBody';
import { isValidJobId } from '../shared/jobs/jobStore';
import {
  findInventoryItem,
  inventoryUpdateSchema,
  skuSchema,
  updateInventoryItem,
} from '../shared/orders/inventoryRequests';
import { orderRequestSchema } from '../shared/orders/orderRequest';
import { orderServices } from '../shared/orderServices';
import { cancelOrder } from '../shared/workflow/cancelOrder';
import { startOrder } from '../shared/workflow/startOrder';
import { startOrderServices } from '../shared/workflow/startOrderServices';

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
    const services = orderServices();
    await services.ready();
    const started = await startOrder(
      startOrderServices(services, (line) => context.warn(line)),
      parsed.value,
      request.headers.get('idempotency-key') ?? undefined,
    );
    switch (started.outcome) {
      case 'accepted':
        return accepted(started.jobId, started.cancelToken);
      case 'invalid':
        return validationProblem(started.errors);
      case 'unknown-sku':
        return problem(422, 'unknown-sku', 'Unknown SKU', `not in the catalogue: ${started.skus.join(', ')}`, {
          errors: started.errors,
        });
      case 'idempotency-key-reused':
        return idempotencyKeyReused();
      default: {
        const never: never = started;
        throw new Error(`unknown outcome ${JSON.stringify(never)}`);
      }
    }
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
    const cancelled = await cancelOrder(
      services,
      id,
      requireCancelToken
        ? { kind: 'cancel-token', presented: request.headers.get(CANCEL_TOKEN_HEADER) }
        : { kind: 'operator' },
    );
    switch (cancelled.outcome) {
      case 'not-found':
        return notFound(`no job ${id}`);
      case 'forbidden':
        return problem(
          403,
          'cancel-token-required',
          'Cancel token required',
          `send the cancelToken returned when the order was created, in the ${CANCEL_TOKEN_HEADER} header`,
        );
      case 'refused':
        return problem(409, 'not-cancellable', 'Not cancellable', cancelled.reason);
      case 'accepted': {
        const statusUrl = jobStatusUrl(id);
        return json(202, { jobId: id, status: cancelled.job.status, statusUrl }, { location: statusUrl });
      }
      default: {
        const never: never = cancelled;
        throw new Error(`unknown outcome ${JSON.stringify(never)}`);
      }
    }
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

app.http('putInventory', {
  route: 'inventory/{sku}',
  methods: ['PUT'],
  authLevel: 'admin',
  handler: async (request) => {
    const sku = skuSchema.safeParse(request.params['sku'] ?? '');
    if (!sku.success) return validationProblem(fieldProblems(sku.error.issues).map((p) => ({ ...p, field: 'sku' })));
    const body = await parseJsonBody(request, inventoryUpdateSchema);
    if (!body.ok) return body.response;
    const services = orderServices();
    await services.ready();
    return json(200, await updateInventoryItem(services.inventory, sku.data, body.value));
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
    const item = await findInventoryItem(services.inventory, sku);
    return item ? json(200, item) : notFound(`no SKU ${JSON.stringify(sku.slice(0, 50))}`);
  },
});
