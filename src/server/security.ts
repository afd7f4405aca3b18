// Request guards: API-key authentication (Bearer or x-api-key, constant-time), CORS with an explicit
// allow-list, and a Host-header check against DNS rebinding when the server is bound to loopback.
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { ApiError } from "./errors.ts";

export interface SecurityOptions {
  /** Accepted API keys; empty: no authentication. */
  apiKeys: string[];
  /** Origins allowed to call from a browser; empty: CORS off. `*` allows any. */
  corsOrigins: string[];
  /** Host names accepted in the Host header; null: any (the server is not on loopback). */
  allowedHosts: string[] | null;
}

/** Paths that stay open whatever the key: probes must work without credentials. */
const OPEN_PATHS = new Set(["/health", "/ready"]);

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Constant time in the key's content; comparing digests also hides the length. */
export function keyMatches(given: string, keys: Buffer[]): boolean {
  const g = digest(given);
  let ok = false;
  for (const k of keys) ok = timingSafeEqual(g, k) || ok;
  return ok;
}

export function authMiddleware(apiKeys: string[]): MiddlewareHandler {
  const keys = apiKeys.map(digest);
  return async (c, next) => {
    if (keys.length === 0 || OPEN_PATHS.has(c.req.path) || c.req.method === "OPTIONS") return next();
    const auth = c.req.header("authorization");
    const given = auth?.match(/^Bearer\s+(.+)$/i)?.[1] ?? c.req.header("x-api-key");
    if (!given) throw new ApiError(401, "an API key is required: send Authorization: Bearer <key> or x-api-key", "authentication_error", null, "missing_api_key");
    if (!keyMatches(given.trim(), keys)) throw new ApiError(401, "the API key is not valid", "authentication_error", null, "invalid_api_key");
    return next();
  };
}

export function corsMiddleware(origins: string[]): MiddlewareHandler {
  const any = origins.includes("*");
  const allowed = new Set(origins);
  return async (c, next) => {
    const origin = c.req.header("origin");
    const ok = origins.length > 0 && origin !== undefined && (any || allowed.has(origin));
    if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method")) {
      if (!ok) return c.body(null, 403);
      return c.body(null, 204, {
        "access-control-allow-origin": any ? "*" : origin!,
        "access-control-allow-methods": "GET, POST, OPTIONS",
        "access-control-allow-headers": c.req.header("access-control-request-headers") ?? "authorization, content-type",
        "access-control-max-age": "600",
        vary: "Origin",
      });
    }
    await next();
    if (ok) {
      c.res.headers.set("access-control-allow-origin", any ? "*" : origin!);
      c.res.headers.append("vary", "Origin");
      c.res.headers.set("access-control-expose-headers", "x-request-id");
    }
  };
}

/**
 * A page on another site can make a browser send requests to 127.0.0.1 under its own DNS name (DNS
 * rebinding). On loopback, only Host names that really are this machine are served.
 */
export function hostMiddleware(allowedHosts: string[] | null): MiddlewareHandler {
  const hosts = allowedHosts ? new Set(allowedHosts.map((h) => h.toLowerCase())) : null;
  return async (c, next) => {
    if (!hosts) return next();
    const host = (c.req.header("host") ?? "").toLowerCase();
    const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d+$/, "");
    if (!hosts.has(name)) throw new ApiError(403, `the Host '${host}' is not served here (DNS rebinding protection; see --allowed-hosts)`, "invalid_request_error", null, "host_not_allowed");
    return next();
  };
}

/** Host names accepted by default when bound to a loopback address; null when not on loopback. */
export function defaultAllowedHosts(bind: string, extra: string[]): string[] | null {
  const loopback = bind === "localhost" || bind === "::1" || bind === "[::1]" || /^127\./.test(bind);
  if (!loopback) return null;
  return ["localhost", "127.0.0.1", "[::1]", bind, ...extra];
}
