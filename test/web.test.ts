// The chat page in a real browser (Debian's chromium driven by playwright-core) against the real
// server on the tiny fixture: model facts, a streamed reply, Stop cancelling the generation, the
// block-diffusion view, and the API-key prompt. Screenshots of each stage go to test/artifacts/.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { ensureFixtures } from "../scripts/fixtures.ts";
import { startServer, type RunningServer } from "./support/server-process.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = join(import.meta.dir, "artifacts");
const API_KEY = "web-test-key-0123";

const fx = ensureFixtures();
const serverArgs = ["--engine", "llama", "--model", fx.paths.bitnet.tq2_0, "--mask-token-id", "128002", "--ctx", "4096", "--threads", "1", "--parallel", "2"];

let userDataDir = "";
let browser: BrowserContext;
let server: RunningServer | null = null;
/** Every URL the browser asked for: all must be on the server's own origin. */
const requested: string[] = [];
/** Uncaught errors and console errors of the page (a 401 the page answers with the key form is expected). */
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the web test needs Debian's chromium (apt-get install -y chromium)`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  userDataDir = mkdtempSync(join(tmpdir(), "ternary-web-"));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
  });
  browser.on("request", (r) => requested.push(r.url()));
  browser.on("page", (p) => {
    p.on("pageerror", (e) => pageErrors.push(String(e)));
    p.on("console", (m) => {
      if (m.type() === "error" && !/status of 401/.test(m.text())) pageErrors.push(m.text());
    });
  });
});

afterAll(async () => {
  await browser?.close();
  if (server) await server.stop();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = text.match(new RegExp(`^${name} ([0-9.e+-]+)$`, "m"));
  if (!m) throw new Error(`metric ${name} missing`);
  return Number(m[1]);
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
const last = (page: Page) => page.locator(".msg.assistant").last();

/** Sets a settings field the way a user does: type, then leave the field (a change event). */
async function setField(page: Page, label: string, value: string): Promise<void> {
  const f = page.getByLabel(label, { exact: true });
  await f.fill(value);
  await f.press("Tab");
}

/** Types a message and sends it with Enter; resolves once the reply has finished. */
async function sendAndFinish(page: Page, text: string): Promise<void> {
  const before = await page.locator(".msg.assistant").count();
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByLabel("Message", { exact: true }).press("Enter");
  await page.locator(".msg.assistant").nth(before).waitFor();
  await last(page).locator('[data-figure="finish"]').waitFor({ timeout: 60_000 });
}

describe("the chat page", () => {
  let page: Page;

  test("loads from the server and shows the model's facts", async () => {
    server = await startServer(serverArgs);
    page = await browser.newPage();
    await page.goto(`${server.url}/`);
    expect(await page.title()).toContain("ternary-serve");
    await page.locator('[data-fact="arch"]').waitFor();
    expect(await page.locator('[data-fact="engine"]').textContent()).toBe("llama");
    expect(await page.locator('[data-fact="arch"]').textContent()).toBe("bitnet");
    expect(await page.locator('[data-fact="format"]').textContent()).toBe("tq2_0");
    expect(await page.locator('[data-fact="n_ctx"]').textContent()).toBe("4096 tokens");
    expect(await page.locator("#model-name").textContent()).toBe("tiny-bitnet-tq2_0");
    await shot(page, "01-loaded");
  }, 90_000);

  test("streams a reply that grows token by token, with its figures", async () => {
    // Greedy decoding keeps the conversation, and so the DLM stage below, deterministic.
    await setField(page, "Temperature", "0");
    await setField(page, "Max tokens", "48");
    // Record every length the reply's text passes through while it streams.
    await page.evaluate(() => {
      const w = window as unknown as { lengths: number[] };
      w.lengths = [];
      new MutationObserver(() => {
        const c = document.querySelector(".msg.assistant:last-child .content");
        if (c) w.lengths.push(c.textContent!.length);
      }).observe(document.getElementById("log")!, { subtree: true, childList: true, characterData: true });
    });
    // Shift+Enter is a new line, not a send.
    const box = page.getByLabel("Message", { exact: true });
    await box.fill("Hello there,");
    await box.press("Shift+Enter");
    await box.pressSequentially("who are you?");
    expect(await box.inputValue()).toBe("Hello there,\nwho are you?");
    expect(await page.locator(".msg").count()).toBe(0);
    await box.press("Enter");
    await page.locator(".msg.assistant").first().locator('[data-figure="finish"]').waitFor({ timeout: 60_000 });
    const lengths: number[] = await page.evaluate(() => (window as unknown as { lengths: number[] }).lengths);
    const distinct = new Set(lengths.filter((n) => n > 0));
    expect(distinct.size).toBeGreaterThan(1);
    const reply = last(page);
    expect((await reply.locator(".content").textContent())!.length).toBeGreaterThan(0);
    expect(await reply.locator('[data-figure="tokens"]').textContent()).toMatch(/^\d+ tokens$/);
    expect(await reply.locator('[data-figure="tps"]').textContent()).toMatch(/^[\d.]+ tokens\/s$/);
    expect(await reply.locator('[data-figure="ttft"]').textContent()).toMatch(/^first token \d+ ms$/);
    expect(await reply.locator('[data-figure="finish"]').textContent()).toMatch(/finished|max tokens/);
    expect(await page.locator(".msg.user .content").first().textContent()).toBe("Hello there,\nwho are you?");
    await shot(page, "02-reply");
  }, 90_000);

  test("Stop cancels a long generation on the server", async () => {
    await setField(page, "Max tokens", "4000");
    await page.getByLabel("Message", { exact: true }).fill("Tell me a very long story.");
    await page.getByRole("button", { name: "Send" }).click();
    const reply = last(page);
    // A few tokens in, so the stop lands mid-generation.
    await page.waitForFunction(() => parseInt(document.querySelector('.msg.assistant:last-child [data-figure="tokens"]')?.textContent ?? "0") >= 5, null, { timeout: 30_000 });
    expect(await metric(server!.url, "ternary_busy_sequences")).toBe(1);
    await shot(page, "03-streaming");
    await page.getByRole("button", { name: "Stop" }).click();
    await reply.locator('[data-figure="finish"]').filter({ hasText: "stopped by you" }).waitFor({ timeout: 10_000 });
    let busy = 1;
    for (let i = 0; i < 100 && busy > 0; i++) {
      busy = await metric(server!.url, "ternary_busy_sequences");
      if (busy > 0) await Bun.sleep(50);
    }
    expect(busy).toBe(0);
    const tokens = Number((await reply.locator('[data-figure="tokens"]').textContent())!.split(" ")[0]);
    expect(tokens).toBeGreaterThan(0);
    expect(tokens).toBeLessThan(4000);
    expect(await page.getByRole("button", { name: "Send" }).isEnabled()).toBe(true);
    await shot(page, "04-stopped");
  }, 90_000);

  test("with block diffusion, each block's tokens are coloured by the step that committed them", async () => {
    await page.getByRole("button", { name: "New chat" }).click();
    expect(await page.locator(".msg").count()).toBe(0);
    await page.getByLabel("Block diffusion (several tokens per pass)").check();
    // The fixture's random weights are never confident: a tiny θ lets several tokens through per step.
    await setField(page, "DLM threshold θ", "0.0015");
    await setField(page, "Max tokens", "48");
    await sendAndFinish(page, "Hi");
    const reply = last(page);
    const blocks = reply.locator(".block");
    expect(await blocks.count()).toBeGreaterThan(0);
    const steps: string[][] = await blocks.evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll(".tok")].map((t) => (t as HTMLElement).dataset.step!)));
    expect(steps.flat().length).toBeGreaterThan(1);
    expect(steps.flat().every((s) => Number(s) >= 1)).toBe(true);
    // Parallelism shows: some step of some block committed more than one token.
    const most = Math.max(...steps.map((b) => Math.max(...[...new Set(b)].map((s) => b.filter((x) => x === s).length))));
    expect(most).toBeGreaterThan(1);
    // Each token's colour is its step's legend swatch.
    expect(await reply.locator(".legend li").count()).toBeGreaterThanOrEqual(1);
    const colours = await reply.locator('.tok[data-step="1"]').first().evaluate((t) => getComputedStyle(t).backgroundColor);
    const swatch = await reply.locator(".legend .swatch").first().evaluate((t) => getComputedStyle(t).backgroundColor);
    expect(colours).toBe(swatch);
    expect(await reply.locator('[data-figure="tpp"]').textContent()).toMatch(/^[\d.]+ tokens\/pass$/);
    await shot(page, "05-dlm");
  }, 90_000);

  test("keeps the conversation across a reload and fits a narrow screen", async () => {
    const before = await page.locator(".msg").count();
    await page.reload();
    await page.locator('[data-fact="arch"]').waitFor();
    expect(await page.locator(".msg").count()).toBe(before);
    expect(await page.locator(".block .tok").count()).toBeGreaterThan(0);
    expect(await page.getByLabel("Block diffusion (several tokens per pass)").isChecked()).toBe(true);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    // The media query's change event arrives asynchronously after the resize: wait for it (bounded).
    await page.waitForFunction(() => !(document.getElementById("settings-panel") as HTMLDetailsElement).open, null, { timeout: 5000 });
    expect(await page.locator("#settings-panel").evaluate((d) => (d as HTMLDetailsElement).open)).toBe(false);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, "06-narrow.png") });
    await page.close();
    // Nothing else: every request the page made went to the server itself.
    const origin = new URL(server!.url).origin;
    expect(requested.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith("data:"))).toEqual([]);
    expect(await server!.stop()).toBe(0);
    server = null;
  }, 90_000);

  test("asks for the API key once, keeps it for the session, and then works", async () => {
    server = await startServer([...serverArgs, "--api-key", API_KEY]);
    page = await browser.newPage();
    await page.goto(`${server.url}/`);
    const keyField = page.getByLabel("API key", { exact: true });
    await keyField.waitFor();
    await shot(page, "07-key-asked");
    await keyField.fill("not-the-key");
    await keyField.press("Enter");
    await page.locator("#key-reason").filter({ hasText: "not accepted" }).waitFor();
    await keyField.fill(API_KEY);
    await page.getByRole("button", { name: "Use key" }).click();
    await page.locator('[data-fact="arch"]').waitFor();
    expect(await page.locator("#key-form").isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem("ternary-serve.api-key"))).toBe(API_KEY);
    await setField(page, "Max tokens", "16");
    await page.getByLabel("Autoregressive (one token per pass)").check();
    await sendAndFinish(page, "Hello with a key");
    expect(await last(page).locator('[data-figure="finish"]').textContent()).toMatch(/finished|max tokens/);
    expect(await last(page).locator(".error").count()).toBe(0);
    await shot(page, "08-key-accepted");
    const origin = new URL(server.url).origin;
    expect(requested.filter((u) => !u.startsWith("http://127.0.0.1") && !u.startsWith("data:"))).toEqual([]);
    expect(requested.some((u) => u.startsWith(`${origin}/`))).toBe(true);
    expect(pageErrors).toEqual([]);
  }, 90_000);
});
