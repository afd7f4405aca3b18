// One message in the conversation log: its text, and for replies the live figures (tokens/s, time to
// first token, tokens per forward pass) and, with block diffusion, the block view.
import type { DlmBlock } from "./api.ts";
import { BlockView } from "./block-view.ts";
import type { Message, ReplyStats } from "./store.ts";

const FINISH_TEXT: Record<string, string> = {
  stop: "finished",
  length: "stopped at max tokens",
  stopped: "stopped by you",
  error: "failed",
};

export class MessageView {
  readonly li: HTMLLIElement;
  private readonly content: HTMLDivElement;
  private figures: HTMLParagraphElement | null = null;
  private error: HTMLParagraphElement | null = null;
  private blocks: BlockView | null = null;

  constructor(m: Message) {
    this.li = document.createElement("li");
    this.li.className = `msg ${m.role}`;
    const who = document.createElement("p");
    who.className = "who";
    who.textContent = m.role === "user" ? "You" : "Model";
    this.content = document.createElement("div");
    this.content.className = "content";
    this.li.append(who, this.content);
    if (m.role === "assistant") {
      // Announced when the reply is complete (aria-busy holds the announcements while it streams).
      this.content.setAttribute("aria-live", "polite");
      this.figures = document.createElement("p");
      this.figures.className = "figures";
      this.li.append(this.figures);
      for (const b of m.blocks ?? []) this.addBlock(b);
    }
    this.setText(m.content);
    if (m.stats) this.setFigures(m.stats, m.finish ?? null);
    if (m.error) this.setError(m.error);
  }

  setText(text: string): void {
    this.content.textContent = text;
  }

  setStreaming(on: boolean): void {
    this.li.classList.toggle("streaming", on);
    this.content.setAttribute("aria-busy", String(on));
  }

  addBlock(b: DlmBlock): void {
    if (!this.blocks) {
      this.blocks = new BlockView();
      this.li.append(this.blocks.root);
    }
    this.blocks.add(b);
  }

  setFigures(s: ReplyStats, finish: string | null): void {
    if (!this.figures) return;
    const parts: [string, string][] = [
      ["tps", s.tokensPerS === null ? "– tokens/s" : `${s.tokensPerS.toFixed(1)} tokens/s`],
      ["ttft", s.ttftMs === null ? "first token –" : `first token ${Math.round(s.ttftMs)} ms`],
    ];
    if (s.mode === "dlm") parts.push(["tpp", s.tokensPerPass === null ? "– tokens/pass" : `${s.tokensPerPass.toFixed(2)} tokens/pass`]);
    parts.push(["tokens", `${s.tokens} token${s.tokens === 1 ? "" : "s"}`], ["mode", s.mode === "dlm" ? "block diffusion" : "autoregressive"]);
    if (finish) parts.push(["finish", FINISH_TEXT[finish] ?? finish]);
    this.figures.replaceChildren();
    parts.forEach(([key, text], i) => {
      if (i > 0) this.figures!.append(" · ");
      const span = document.createElement("span");
      span.dataset.figure = key;
      span.textContent = text;
      this.figures!.append(span);
    });
  }

  setError(message: string): void {
    if (!this.error) {
      this.error = document.createElement("p");
      this.error.className = "error";
      this.error.setAttribute("role", "alert");
      this.li.append(this.error);
    }
    this.error.textContent = message;
  }
}
