// The Hono application: middleware (request ids, body limits), the routes, and the one error handler
// that renders every failure in OpenAI's shape. Built around an EngineClient so tests need no port.
import { Hono } from "hono";
import type { EngineClient } from "../engine/engine-host.ts";
import { ApiError, toApiError } from "./errors.ts";
import type { ServerDefaults } from "./respond.ts";
import { chatRoutes } from "./routes/chat.ts";
import { completionRoutes } from "./routes/completions.ts";
import type { Metrics } from "./metrics.ts";
import { modelRoutes } from "./routes/models.ts";
import { tokenizeRoutes } from "./routes/tokenize.ts";
import { authMiddleware, corsMiddleware, hostMiddleware, type SecurityOptions } from "./security.ts";

export interface AppOptions {
  client: EngineClient;
  modelId: string;
  defaults: ServerDefaults;
  /** Largest accepted request body, bytes. */
  bodyLimit: number;
  metrics?: Metrics | null;
  security?: SecurityOptions;
  /** Waiting requests beyond which /ready reports saturation (the queue limit). */
  queueLimit?: number;
  /** True once shutdown began: /ready fails so load balancers stop sending work. */
  draining?: () => boolean;
}

export type AppEnv = { Variables: { requestId: string } };

export function createApp(o: AppOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use(async (c, next) => {
    const given = c.req.header("x-request-id");
    const id = given && /^[\w.:-]{1,128}$/.test(given) ? given : crypto.randomUUID();
    c.set("requestId", id);
    await next();
    c.res.headers.set("x-request-id", id);
    o.metrics?.requests.inc({ route: c.req.routePath, status: String(c.res.status) });
  });
  const sec = o.security ?? { apiKeys: [], corsOrigins: [], allowedHosts: null };
  app.use(hostMiddleware(sec.allowedHosts));
  app.use(corsMiddleware(sec.corsOrigins));
  app.use(authMiddleware(sec.apiKeys));
  app.use(async (c, next) => {
    if (c.req.method === "POST" && o.draining?.()) {
      throw new ApiError(503, "the server is shutting down; retry on another replica", "service_unavailable", null, "shutting_down", { "retry-after": "1" });
    }
    return next();
  });

  // Liveness: the process serves HTTP. Readiness: the model is loaded, the queue has room and the
  // server is not draining, so a load balancer should send it work.
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/ready", (c) => {
    const s = o.client.stats;
    const status = !o.client.info ? "loading" : o.draining?.() ? "draining" : o.queueLimit !== undefined && s.queued >= o.queueLimit ? "saturated" : "ready";
    return c.json({ status, model: o.modelId, queued: s.queued, active: s.active }, status === "ready" ? 200 : 503);
  });
  if (o.metrics) {
    const m = o.metrics;
    app.get("/metrics", (c) => c.text(m.render(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }));
  }

  modelRoutes(app, o);
  tokenizeRoutes(app, o);
  chatRoutes(app, o);
  completionRoutes(app, o);

  app.notFound((c) => {
    const e = new ApiError(404, `no route for ${c.req.method} ${c.req.path}`, "not_found_error", null, "not_found");
    return c.json(e.toJSON(), 404);
  });
  app.onError((err, c) => {
    const e = toApiError(err);
    if (e.status >= 500) console.error(`[server] ${c.get("requestId") ?? "-"} ${c.req.method} ${c.req.path}: ${e.message}`);
    for (const [k, v] of Object.entries(e.headers)) c.header(k, v);
    const requestId = c.get("requestId");
    if (requestId) c.header("x-request-id", requestId);
    return c.json(e.toJSON(), e.status as 400);
  });
  return app;
}

/**
 * Reads a JSON body whatever its declared content type (curl's `-d` sends form-urlencoded), enforcing
 * the size limit, and returns it unvalidated.
 */
export async function readJson(req: Request, limit: number): Promise<unknown> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > limit) throw new ApiError(413, `the request body is ${declared} bytes; the limit is ${limit}`, "invalid_request_error", null, "body_too_large");
  // Read incrementally so a chunked upload without a length stops at the limit, not at the end.
  const parts: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        throw new ApiError(413, `the request body is over the limit of ${limit} bytes`, "invalid_request_error", null, "body_too_large");
      }
      parts.push(value);
    }
  }
  const buf = Buffer.concat(parts);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(buf);
  } catch {
    throw new ApiError(400, "the request body is not valid UTF-8", "invalid_request_error", null, "invalid_json");
  }
  if (text.trim() === "") throw new ApiError(400, "the request body is empty; expected a JSON object", "invalid_request_error", null, "invalid_json");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `the request body is not valid JSON: ${(e as Error).message}`, "invalid_request_error", null, "invalid_json");
  }
}

/** Checks the request's `model` against the loaded one (absent is fine: curl users often omit it). */
export function checkModel(requested: string | null | undefined, modelId: string): void {
  if (requested != null && requested !== modelId) {
    throw new ApiError(404, `the model '${requested}' does not exist; this server serves '${modelId}'`, "not_found_error", "model", "model_not_found");
  }
}
