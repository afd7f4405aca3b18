// Two replicas of the real server behind Debian's nginx running the shipped deploy/nginx/ternary.conf,
// all on 127.0.0.1. One replica is SIGKILLed while streams run through nginx: streams it had begun are
// cut (and say so), requests it had not answered are retried on the survivor, new requests succeed, and
// every client finishes within a bound. Then the survivor is drained with SIGTERM.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureFixtures } from "../scripts/fixtures.ts";
import { freePort, nginxTest, readAccessLog, requireNginx, startNginx, writeNginxFiles, type RunningNginx } from "./support/nginx.ts";
import { rawRequest, sseData, type RawResult } from "./support/raw-http.ts";
import { startServer, type RunningServer } from "./support/server-process.ts";

// Each replica decodes PARALLEL sequences at once; the kill comes while every replica runs PARALLEL long
// streams and has one more waiting in its queue.
const PARALLEL = 2;
const LONG_TOKENS = 300;
const CLIENT_TIMEOUT_MS = 60_000;
/** --shutdown-timeout: seconds a replica lets running requests go on after SIGTERM. */
const DRAIN_S = 1;

let dir: string;
let replicas: RunningServer[] = [];
let nginx: RunningNginx | null = null;

beforeAll(async () => {
  requireNginx();
  const fx = ensureFixtures();
  const args = [
    "--engine", "llama", "--model", fx.paths.bitnet.tq2_0, "--ctx", "2048", "--parallel", String(PARALLEL),
    "--threads", "1", "--queue", "32", "--shutdown-timeout", String(DRAIN_S),
  ];
  replicas = await Promise.all([startServer(args), startServer(args)]);
  dir = mkdtempSync(join(tmpdir(), "ternary-nginx-"));
  const port = await freePort();
  const files = writeNginxFiles(dir, replicas.map((r) => new URL(r.url).host), port);
  const checked = nginxTest(files);
  if (checked.code !== 0) throw new Error(`nginx -t rejected the rendered deploy/nginx/ternary.conf:\n${checked.output}`);
  nginx = await startNginx(files, port);
});

afterAll(async () => {
  await nginx?.stop();
  for (const r of replicas) {
    if (r.proc.exitCode === null && r.proc.signalCode === null) expect(await r.stop()).toBe(0);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = text.match(new RegExp(`^${name} ([0-9.e+-]+)$`, "m"));
  if (!m) throw new Error(`metric ${name} missing at ${url}`);
  return Number(m[1]);
}

/**
 * The access log once it has a line for each of `rids`: nginx writes a request's line when it frees
 * the request, which can be just after the client saw the connection close.
 */
async function accessLog(rids: string[]) {
  let log = readAccessLog(nginx!.files.accessLog);
  for (let i = 0; i < 100 && rids.some((rid) => !log.has(rid)); i++) {
    await Bun.sleep(20);
    log = readAccessLog(nginx!.files.accessLog);
  }
  for (const rid of rids) if (!log.has(rid)) throw new Error(`no access-log line for ${rid}`);
  return log;
}

function completion(rid: string, maxTokens: number, stream: boolean) {
  return rawRequest({
    port: Number(new URL(nginx!.url).port),
    method: "POST",
    path: "/v1/completions",
    headers: { "x-request-id": rid },
    body: JSON.stringify({ prompt: `Story ${rid}: once upon a time`, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream }),
    timeoutMs: CLIENT_TIMEOUT_MS,
  });
}

/** A stream that ran to its end: every frame parses, the last chunk says why it stopped, then [DONE]. */
function expectCompleteStream(r: RawResult) {
  expect(r.status).toBe(200);
  expect(r.complete).toBe(true);
  const data = sseData(r.body);
  expect(data.at(-1)).toBe("[DONE]");
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  expect(chunks.at(-1).choices[0].finish_reason).toBe("length");
}

test("a replica killed mid-run: begun streams are cut visibly, unanswered and new requests succeed on the survivor, nothing hangs", async () => {
  const [victim, survivor] = replicas;
  const victimAddr = new URL(victim.url).host;
  const survivorAddr = new URL(survivor.url).host;
  const t0 = performance.now();

  // Phase 1: 3 long streams per replica. least_conn alternates, so each replica ends up generating
  // PARALLEL of them with one waiting in its queue (its response header not sent yet).
  const first = Array.from({ length: 2 * (PARALLEL + 1) }, (_, i) => `s${i}`);
  const running = new Map<string, ReturnType<typeof completion>>();
  for (const rid of first) {
    running.set(rid, completion(rid, LONG_TOKENS, true));
    await Bun.sleep(30);
  }
  let shape = "";
  for (let i = 0; i < 500; i++) {
    const s = await Promise.all(replicas.map(async (r) => [await gauge(r.url, "ternary_busy_sequences"), await gauge(r.url, "ternary_queue_depth")]));
    shape = JSON.stringify(s);
    if (s.every(([busy, queued]) => busy === PARALLEL && queued === 1)) break;
    await Bun.sleep(20);
  }
  expect(shape).toBe(JSON.stringify([[PARALLEL, 1], [PARALLEL, 1]]));

  victim.proc.kill("SIGKILL");
  await victim.proc.exited;
  const killedAt = performance.now() - t0;
  const begun = new Set([...running].filter(([, r]) => r.progress.headerAt !== null).map(([rid]) => rid));
  expect(begun.size).toBe(2 * PARALLEL);

  // Phase 2: new requests right after the kill, streaming and not.
  const fresh = Array.from({ length: 6 }, (_, i) => `n${i}`);
  const freshStreams = new Set(fresh.slice(0, 4));
  for (const rid of fresh) running.set(rid, completion(rid, 8, freshStreams.has(rid)));

  const results = new Map<string, RawResult>();
  await Promise.all([...running].map(async ([rid, r]) => results.set(rid, await r.done)));
  const elapsed = performance.now() - t0;

  // Nothing hangs: every client saw its connection end before its own timeout.
  for (const [rid, r] of results) expect({ rid, end: r.end }).not.toEqual({ rid, end: "timeout" });
  expect(elapsed).toBeLessThan(CLIENT_TIMEOUT_MS);

  const log = await accessLog([...results.keys()]);
  const route = (rid: string) => log.get(rid)!;

  // Streams the victim had begun: nginx had already sent the 200 header and some tokens, so it cannot
  // retry. It closes the client connection without the terminating zero-length chunk: no `[DONE]`, a
  // body that a client can tell is incomplete (curl: exit 18; fetch: ECONNRESET).
  const cut = first.filter((rid) => route(rid).upstreams.join() === victimAddr);
  expect(cut.length).toBe(PARALLEL);
  for (const rid of cut) {
    const r = results.get(rid)!;
    expect(begun.has(rid)).toBe(true);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toStartWith("text/event-stream");
    expect(r.complete).toBe(false);
    expect(r.end).toBe("fin"); // nginx closes the connection; it does not reset it
    const data = sseData(r.body);
    expect(data.length).toBeGreaterThan(1); // it was streaming tokens when the replica died
    expect(data).not.toContain("[DONE]");
    for (const d of data) expect(JSON.parse(d).choices[0].finish_reason ?? null).toBeNull();
    expect(route(rid).status).toBe(200); // the status line the client got before the cut
  }

  // The stream waiting in the victim's queue had received nothing: nginx resent it to the survivor
  // (non_idempotent), where it ran to the end. Its client never noticed.
  const retried = first.filter((rid) => route(rid).upstreams.length > 1);
  expect(retried.length).toBe(1);
  for (const rid of retried) {
    expect(begun.has(rid)).toBe(false);
    expect(route(rid).upstreams).toEqual([victimAddr, survivorAddr]);
    expect(route(rid).upstreamStatus).toEqual(["502", "200"]);
    expectCompleteStream(results.get(rid)!);
  }

  // The survivor's own streams were untouched.
  for (const rid of first.filter((rid) => route(rid).upstreams.join() === survivorAddr)) expectCompleteStream(results.get(rid)!);

  // Every request sent after the kill succeeded, answered by the survivor (directly, or after nginx
  // tried the dead replica first).
  for (const rid of fresh) {
    const r = results.get(rid)!;
    expect({ rid, status: r.status }).toEqual({ rid, status: 200 });
    expect(route(rid).upstreams.at(-1)).toBe(survivorAddr);
    if (freshStreams.has(rid)) expectCompleteStream(r);
    else {
      expect(r.complete).toBe(true);
      expect(JSON.parse(r.body).choices[0].finish_reason).toBe("length");
    }
    expect(r.headers["x-request-id"]).toBe(rid);
  }

  // nginx's own account of it.
  const errors = readFileSync(nginx!.files.errorLog, "utf8");
  expect(errors).toContain("upstream prematurely closed connection while reading upstream"); // the cut streams
  expect(errors).toContain("upstream prematurely closed connection while reading response header from upstream"); // the retried one
  expect(errors).toContain("upstream server temporarily disabled");

  // The survivor is idle again.
  expect(await gauge(survivor.url, "ternary_busy_sequences")).toBe(0);
  expect(await gauge(survivor.url, "ternary_queue_depth")).toBe(0);

  // Phase 3: once fail_timeout (10 s in the shipped file, counted in whole seconds by nginx, so up to
  // 12 s) has passed, nginx gives the dead replica one request again; the refused connection is retried
  // on the survivor, so that client succeeds too. Probes go one at a time (both replicas then look
  // equally loaded and least_conn alternates) until one shows the retry.
  const failTimeoutMs = 10_000;
  await Bun.sleep(Math.max(0, killedAt + failTimeoutMs - (performance.now() - t0)));
  let probed: string | null = null;
  for (let i = 0; i < 40 && !probed && performance.now() - t0 < killedAt + failTimeoutMs + 6_000; i++) {
    const rid = `p${i}`;
    const r = await completion(rid, 2, false).done;
    expect({ rid, status: r.status, complete: r.complete }).toEqual({ rid, status: 200, complete: true });
    const e = (await accessLog([rid])).get(rid)!;
    if (e.upstreams.length > 1) {
      probed = rid;
      expect(e.upstreams).toEqual([victimAddr, survivorAddr]);
      expect(e.upstreamStatus).toEqual(["502", "200"]);
    } else {
      expect(e.upstreams).toEqual([survivorAddr]);
    }
    await Bun.sleep(100);
  }
  expect(probed).not.toBeNull();
  expect(readFileSync(nginx!.files.errorLog, "utf8")).toContain("connect() failed (111: Connection refused) while connecting to upstream");

  const newRetried = fresh.filter((rid) => route(rid).upstreams.length > 1).length;
  console.error(
    `[scale-out] killed ${victimAddr} at ${(killedAt / 1000).toFixed(2)} s: ${cut.length} streams cut, ${retried.length} queued stream ` +
      `retried, ${fresh.length} new requests ok (${newRetried} via retry); all clients done in ${(elapsed / 1000).toFixed(2)} s; ` +
      `after fail_timeout ${probed} was retried off the dead replica`,
  );
});

test("SIGTERM drains the last replica: its stream ends with an error event and [DONE], then nginx answers 502 in OpenAI's shape", async () => {
  const live = replicas.filter((r) => r.proc.exitCode === null && r.proc.signalCode === null);
  expect(live.length).toBeGreaterThan(0);
  // Long enough to outlast the drain (ignore_eos: it runs to max_tokens).
  const stream = completion("drain", 2000, true);
  for (let i = 0; i < 500 && stream.progress.headerAt === null; i++) await Bun.sleep(10);
  expect(stream.progress.headerAt).not.toBeNull();

  const t0 = performance.now();
  for (const r of live) r.proc.kill("SIGTERM");
  const codes = await Promise.all(live.map((r) => Promise.race([r.proc.exited, Bun.sleep((DRAIN_S + 10) * 1000).then(() => "hung")])));
  expect(codes.every((c) => c === 0)).toBe(true);
  expect(performance.now() - t0).toBeLessThan((DRAIN_S + 5) * 1000);

  // The stream was cancelled by the drain, and says so: an error frame, then [DONE], then a proper end
  // of the chunked body (through nginx, unlike a crash).
  const r = await stream.done;
  expect(r.complete).toBe(true);
  const data = sseData(r.body);
  expect(data.at(-1)).toBe("[DONE]");
  expect(JSON.parse(data.at(-2)!).error.code).toBe("shutting_down");

  // No replica left: nginx's own error, in the replicas' error shape.
  const after = await completion("none-left", 2, false).done;
  expect(after.status).toBe(502);
  expect(after.headers["content-type"]).toStartWith("application/json");
  expect(JSON.parse(after.body).error.code).toBe("no_replica");
});
