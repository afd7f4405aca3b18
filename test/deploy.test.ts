// The deployment files, checked without a cluster or a container engine: the Kubernetes manifests
// against the Kubernetes API schemas (kubernetes-models' validators, plus its types for unknown fields),
// the Containerfile through a Dockerfile linter and our own image rules, the nginx file through `nginx -t`,
// and the numbers that must agree across them (ports, drain times, body limit, memory for the model).
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { validate as lintDockerfile, ValidationSeverity } from "dockerfile-utils";
import { BITNET_2B_SHAPE, bitnetTensors, fixtureTensorType } from "../scripts/fixtures.ts";
import { parseServeArgs, serveHelp } from "../src/cli.ts";
import { tensorByteSize } from "../src/gguf/types.ts";
import { Metrics } from "../src/server/metrics.ts";
import { nginxTest, requireNginx, SHIPPED_CONF, writeNginxFiles } from "./support/nginx.ts";

const ROOT = join(import.meta.dir, "..");
const K8S = join(ROOT, "deploy", "k8s");
const CONTAINERFILE = join(ROOT, "deploy", "Containerfile");
const GiB = 1024 ** 3;

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: any };

function loadManifests(): { file: string; doc: Manifest }[] {
  const out: { file: string; doc: Manifest }[] = [];
  for (const file of readdirSync(K8S).filter((f) => f.endsWith(".yaml")).sort()) {
    const parsed = Bun.YAML.parse(readFileSync(join(K8S, file), "utf8"));
    for (const doc of (Array.isArray(parsed) ? parsed : [parsed]).filter(Boolean)) out.push({ file, doc });
  }
  return out;
}

const manifests = loadManifests();
const one = (kind: string) => {
  const found = manifests.filter((m) => m.doc.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind} in deploy/k8s, found ${found.length}`);
  return found[0].doc;
};

/** kubernetes-models lays its classes out as <group>/<version>/<Kind> ("v1" for the core group). */
const modelPath = (m: Manifest) => `kubernetes-models/${m.apiVersion}/${m.kind}`;

describe("Kubernetes manifests", () => {
  test("every object validates against the Kubernetes API schema of its kind", async () => {
    expect(manifests.map((m) => m.doc.kind).sort()).toEqual(["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"]);
    for (const { file, doc } of manifests) {
      const mod = await import(modelPath(doc)).catch(() => null);
      if (!mod) throw new Error(`${file}: no schema for ${doc.apiVersion} ${doc.kind}`);
      const Model = mod[doc.kind];
      // Throws a ValidationError naming every path that breaks the schema.
      expect(() => new Model(doc).validate(), `${file} ${doc.kind}`).not.toThrow();
    }
  });

  test("the schema check catches wrong types and missing required fields", async () => {
    const { Deployment } = await import("kubernetes-models/apps/v1/Deployment");
    const bad = structuredClone(one("Deployment"));
    bad.spec.template.spec.containers[0].ports[0].containerPort = "thirty thousand";
    delete bad.spec.selector;
    expect(() => new Deployment(bad).validate()).toThrow(/containerPort must be integer/);
    expect(() => new Deployment(bad).validate()).toThrow(/must have required property selector/);
  });

  // The schema validators accept fields they do not know (as the API server does, dropping them); a
  // misspelt probe would pass unnoticed. Typed as the API's own TypeScript interfaces, an object literal
  // may not carry unknown fields: tsc fails on every one (kubeconform's -strict, without the network).
  test("no object has a field unknown to its API version (strict)", () => {
    const dir = join(ROOT, "test", "artifacts");
    mkdirSync(dir, { recursive: true });
    const work = mkdtempSync(join(dir, "k8s-strict-"));
    try {
      const canary = structuredClone(one("Deployment"));
      canary.spec.template.spec.containers[0].readinesProbe = canary.spec.template.spec.containers[0].readinessProbe;
      const docs = [...manifests, { file: "canary (misspelt readinessProbe)", doc: canary }];
      const lines = docs.flatMap(({ file, doc }, i) => [
        `import type { I${doc.kind} as T${i} } from "${modelPath(doc)}";`,
        `// ${file}`,
        `export const doc${i}: T${i} = ${JSON.stringify(doc, null, 2)};`,
      ]);
      writeFileSync(join(work, "manifests.ts"), lines.join("\n") + "\n");
      writeFileSync(
        join(work, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: { strict: true, noEmit: true, target: "ESNext", module: "Preserve", moduleResolution: "bundler", skipLibCheck: true, types: [] },
          files: ["manifests.ts"],
        }),
      );
      const r = Bun.spawnSync([join(ROOT, "node_modules", ".bin", "tsc"), "-p", join(work, "tsconfig.json")], { stdout: "pipe", stderr: "pipe" });
      const errors = (r.stdout.toString() + r.stderr.toString()).split("\n").filter((l) => l.includes("error"));
      // Exactly one error, the canary's: the shipped manifests have none, and the check does catch one.
      expect(errors.length, errors.join("\n")).toBe(1);
      expect(errors[0]).toContain(`'"readinesProbe"' does not exist in type 'IContainer'`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  test("names, labels and ports agree across the objects", () => {
    const dep = one("Deployment");
    const labels = dep.spec.template.metadata.labels;
    const matches = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
    expect(matches(dep.spec.selector.matchLabels)).toBe(true);
    expect(matches(one("Service").spec.selector)).toBe(true);
    expect(matches(one("PodDisruptionBudget").spec.selector.matchLabels)).toBe(true);
    const hpa = one("HorizontalPodAutoscaler");
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: dep.metadata.name });
    expect(dep.spec.replicas).toBeUndefined(); // the HPA owns the count
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2); // with the PDB's maxUnavailable 1, one always serves
    expect(one("PodDisruptionBudget").spec.maxUnavailable).toBe(1);

    const c = dep.spec.template.spec.containers[0];
    const cm = one("ConfigMap");
    expect(c.envFrom[0].configMapRef.name).toBe(cm.metadata.name);
    const port = c.ports.find((p: { name: string }) => p.name === "http");
    expect(port.containerPort).toBe(Number(cm.data.TERNARY_PORT));
    expect(cm.data.TERNARY_HOST).toBe("0.0.0.0"); // reachable by the kubelet and the Service
    expect(one("Service").spec.ports[0].targetPort).toBe("http");
    expect(dep.spec.template.metadata.annotations["prometheus.io/port"]).toBe(cm.data.TERNARY_PORT);
  });

  test("probes: liveness on /health, readiness and start-up on /ready", () => {
    const c = one("Deployment").spec.template.spec.containers[0];
    expect(c.livenessProbe.httpGet).toEqual({ path: "/health", port: "http" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/ready", port: "http" });
    expect(c.startupProbe.httpGet).toEqual({ path: "/ready", port: "http" });
    // Minutes for a model to load before the container counts as failed.
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBeGreaterThanOrEqual(180);
  });

  test("the grace period covers preStop and the server's drain", () => {
    const spec = one("Deployment").spec.template.spec;
    const preStop = spec.containers[0].lifecycle.preStop.exec.command;
    expect(preStop[0]).toBe("sleep");
    const drain = Number(one("ConfigMap").data.TERNARY_SHUTDOWN_TIMEOUT);
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(Number(preStop[1]) + drain + 5);
  });

  test("the HPA scales on the queue-depth gauge the server exports, with CPU as a fallback", () => {
    const metrics = one("HorizontalPodAutoscaler").spec.metrics;
    const pods = metrics.find((m: { type: string }) => m.type === "Pods");
    expect(pods.pods.metric.name).toBe("ternary_queue_depth");
    const exported = new Metrics(() => ({ queued: 0, active: 0, capacity: 1, ready: true })).render();
    expect(exported).toContain("# TYPE ternary_queue_depth gauge");
    expect(metrics.some((m: { type: string; resource?: { name: string } }) => m.type === "Resource" && m.resource?.name === "cpu")).toBe(true);
  });

  test("the ConfigMap holds only real TERNARY_* options, with values the server accepts", () => {
    const data: Record<string, string> = one("ConfigMap").data;
    const help = serveHelp();
    for (const k of Object.keys(data)) expect({ k, known: help.includes(`(${k})`) }).toEqual({ k, known: true });
    const cfg = parseServeArgs([], data); // throws on any value the CLI would refuse
    expect(cfg.model).toBe("/models/model.gguf");
  });

  test("resources match the model: weights + KV cache + runtime fit the memory; one core per thread", () => {
    const dep = one("Deployment");
    const c = dep.spec.template.spec.containers[0];
    const cfg = parseServeArgs([], one("ConfigMap").data);
    // The reference model, BitNet b1.58 2B4T, in TQ2_0 (token embeddings F16), as deployment.yaml's comment.
    const s = BITNET_2B_SHAPE;
    const nVocab = 128256;
    const weights = bitnetTensors(s, nVocab).reduce((a, t) => a + tensorByteSize(fixtureTensorType(t.role, "tq2_0", true), t.shape), 0);
    const headDim = s.nEmbd / s.nHeads;
    // K and V, per layer, per position of every sequence, F16.
    const kv = 2 * s.nLayers * cfg.ctx * s.nKvHeads * headDim * 2 * cfg.parallel;
    const compute = 0.5 * GiB;
    const runtime = 0.3 * GiB;
    const comment = readFileSync(join(K8S, "deployment.yaml"), "utf8");
    expect(comment).toContain(`= ${kv.toLocaleString("en-US")} B`); // the arithmetic shown is today's
    expect(weights / 1e9).toBeCloseTo(1.2, 1);

    const bytes = (q: string) => {
      const m = q.match(/^(\d+(?:\.\d+)?)(Ki|Mi|Gi)?$/);
      if (!m) throw new Error(`quantity ${q}`);
      return Number(m[1]) * ({ Ki: 1024, Mi: 1024 ** 2, Gi: GiB } as Record<string, number>)[m[2] ?? ""] || Number(m[1]);
    };
    const need = weights + kv + compute + runtime;
    expect(bytes(c.resources.requests.memory)).toBeGreaterThanOrEqual(need);
    expect(bytes(c.resources.limits.memory)).toBe(bytes(c.resources.requests.memory)); // Guaranteed QoS
    expect(bytes(c.resources.limits.memory)).toBeLessThan(need * 1.5); // and not wildly over
    expect(Number(c.resources.requests.cpu)).toBe(cfg.threads);
    expect(Number(c.resources.limits.cpu)).toBe(cfg.threads);
  });

  test("the pod runs unprivileged with a read-only root", () => {
    const spec = one("Deployment").spec.template.spec;
    expect(spec.securityContext.runAsNonRoot).toBe(true);
    expect(spec.securityContext.runAsUser).toBeGreaterThan(0);
    const sc = spec.containers[0].securityContext;
    expect(sc).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    const mounts = spec.containers[0].volumeMounts.map((m: { mountPath: string }) => m.mountPath);
    expect(mounts).toContain("/tmp");
    expect(mounts).toContain("/models");
  });
});

// ─── Containerfile ──────────────────────────────────────────────────────────────────────────────

/** Every optional rule of the linter, raised to an error. */
const STRICT = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

const lint = (text: string) => lintDockerfile(text, STRICT).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);

interface Stage {
  name: string | null;
  base: string;
  instructions: Instruction[];
}

/** The stages in order, with `${ARG}` in FROM resolved from the global ARG defaults. */
function stages(text: string, overrides: Record<string, string> = {}): Stage[] {
  const df = DockerfileParser.parse(text);
  const args: Record<string, string> = {};
  for (const a of df.getInitialARGs()) {
    const p = a.getProperty();
    if (p) args[p.getName()] = p.getValue() ?? "";
  }
  Object.assign(args, overrides);
  const out: Stage[] = [];
  for (const ins of df.getInstructions()) {
    if (ins.getKeyword() === "FROM") {
      const from = ins as unknown as { getImage(): string; getBuildStage(): string | null };
      const base = from.getImage().replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args[a ?? b] ?? "");
      out.push({ name: from.getBuildStage(), base, instructions: [] });
    } else if (out.length > 0) out.at(-1)!.instructions.push(ins);
  }
  return out;
}

/** The chain of stages the image is built from, final stage first. */
function lineage(all: Stage[]): Stage[] {
  const chain = [all.at(-1)!];
  for (;;) {
    const parent = all.find((s) => s.name === chain.at(-1)!.base);
    if (!parent) return chain;
    chain.push(parent);
  }
}

/** An instruction's text after its keyword, flags included, continuation lines joined. */
const args = (i: Instruction) => i.toString().slice(i.getInstruction().length).trim();
const of = (chain: Stage[], keyword: string) => chain.flatMap((s) => s.instructions.filter((i) => i.getKeyword() === keyword));

describe("Containerfile", () => {
  const text = readFileSync(CONTAINERFILE, "utf8");

  test("passes the Dockerfile linter with every rule as an error", () => {
    expect(lint(text)).toEqual([]);
    // The linter is really looking: a misspelt flag and a relative WORKDIR are caught.
    expect(lint(text + "\nWORKDIR relative\nHEALTHCHECK --intervall=5s CMD true\n").length).toBeGreaterThanOrEqual(2);
  });

  for (const source of ["mounted", "baked"]) {
    test(`the ${source}-model image: slim base, only the executable, non-root, health check, port, exec-form entrypoint`, () => {
      const all = stages(text, { MODEL_SOURCE: source });
      // Every base from a registry carries a version tag (never `latest`); the others are our stages.
      for (const s of all) {
        if (all.some((o) => o.name === s.base)) continue;
        expect({ base: s.base, tagged: /^[\w./-]+:[\w.-]+$/.test(s.base) && !s.base.endsWith(":latest") }).toEqual({ base: s.base, tagged: true });
      }
      const chain = lineage(all);
      const root = chain.at(-1)!;
      expect(root.base).toMatch(/^debian:[\w.-]+-slim$/);
      expect(chain.some((s) => s.name === "build")).toBe(false); // the build stage stays out of the image

      const copies = of(chain, "COPY").map(args);
      const fromBuild = copies.filter((c) => c.includes("--from="));
      expect(fromBuild).toEqual(["--from=build /src/dist/ternary-serve /usr/local/bin/ternary-serve"]);
      if (source === "baked") expect(copies).toContain("${MODEL_FILE} /models/model.gguf");
      else expect(copies.filter((c) => c.includes("/models"))).toEqual([]);
      expect(of(chain, "ADD")).toEqual([]);

      const user = of(chain, "USER").map(args).at(-1);
      expect(user).toBeDefined();
      expect(user!.split(":")[0]).not.toMatch(/^(0|root)$/);
      expect(of(chain, "EXPOSE").map(args)).toEqual(["30000"]);
      expect(of(chain, "HEALTHCHECK").map(args).at(-1)).toContain("/health");
      expect(of(chain, "ENTRYPOINT").map(args).at(-1)).toBe('["/usr/local/bin/ternary-serve", "serve"]');
    });
  }

  test("apt-get installs stay small and leave no package lists behind", () => {
    for (const s of stages(text)) {
      for (const run of s.instructions.filter((i) => i.getKeyword() === "RUN").map(args)) {
        if (!run.includes("apt-get install")) continue;
        expect(run).toContain("--no-install-recommends");
        expect(run).toMatch(/apt-get install -y/);
        expect(run).toContain("apt-get update");
        expect(run).toContain("rm -rf /var/lib/apt/lists/*");
      }
    }
  });

  test("its TERNARY_* settings are real options with valid values, listening on every interface", () => {
    const env: Record<string, string> = {};
    for (const s of lineage(stages(text))) {
      for (const e of s.instructions.filter((i) => i.getKeyword() === "ENV")) {
        for (const p of (e as unknown as { getProperties(): { getName(): string; getValue(): string | null }[] }).getProperties()) env[p.getName()] = p.getValue() ?? "";
      }
    }
    const help = serveHelp();
    for (const k of Object.keys(env).filter((k) => k.startsWith("TERNARY_"))) expect({ k, known: help.includes(`(${k})`) }).toEqual({ k, known: true });
    const cfg = parseServeArgs([], env);
    expect(cfg.host).toBe("0.0.0.0");
    expect(cfg.port).toBe(30000);
    expect(cfg["shutdown-timeout"]).toBe(Number(one("ConfigMap").data.TERNARY_SHUTDOWN_TIMEOUT));
  });
});

// ─── nginx ──────────────────────────────────────────────────────────────────────────────────────

describe("nginx configuration", () => {
  test("nginx -t accepts the shipped file (addresses, port and log dir substituted)", () => {
    requireNginx();
    const dir = mkdtempSync(join(tmpdir(), "ternary-nginx-t-"));
    try {
      const files = writeNginxFiles(dir, ["127.0.0.1:30001", "127.0.0.1:30002"], 8080);
      const r = nginxTest(files);
      expect(r.output).toContain("test is successful");
      expect(r.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("its body limit is the server's, and it retries only what nginx can retry safely", () => {
    const conf = readFileSync(SHIPPED_CONF, "utf8").replace(/#.*$/gm, "");
    const directive = (name: string) => conf.match(new RegExp(`^\\s*${name}\\s+([^;]+);`, "m"))?.[1].trim();
    const size = directive("client_max_body_size")!;
    const m = size.match(/^(\d+)([km]?)$/)!;
    const limit = Number(m[1]) * ({ "": 1, k: 1024, m: 1024 ** 2 } as Record<string, number>)[m[2]];
    expect(limit).toBe(parseServeArgs([], {})["body-limit"]);
    expect(limit).toBe(Number(one("ConfigMap").data.TERNARY_BODY_LIMIT));
    expect(directive("proxy_next_upstream")!.split(/\s+/).sort()).toEqual(["error", "http_502", "http_503", "non_idempotent", "timeout"]);
    expect(directive("proxy_buffering")).toBe("off");
    expect(directive("proxy_cache")).toBe("off");
    expect(directive("proxy_request_buffering")).toBe("on"); // the body must be kept to be resent
    expect(conf).not.toMatch(/proxy_ignore_headers[^;]*X-Accel-Buffering/i);
    expect(conf).toMatch(/^\s*least_conn;/m);
    // The read timeout outlasts a request's longest silence: its wait in the queue.
    expect(parseFloat(directive("proxy_read_timeout")!)).toBeGreaterThan(parseServeArgs([], {})["queue-timeout"]);
  });
});
