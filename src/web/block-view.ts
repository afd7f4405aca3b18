// The diffusion view of one reply: each resolved sub-block as a row of its tokens, every token coloured
// by the step that committed it, with a legend, so several tokens committed by one pass stand out.
import type { DlmBlock } from "./api.ts";

/** Distinct step colours (styles.css `.step-c0` …); later steps reuse them, the label still tells. */
const PALETTE = 10;

/** Text of a token made visible: newlines and tabs as symbols, an empty piece as ∅. */
function visible(text: string): string {
  if (text === "") return "∅";
  return text.replaceAll("\n", "↵").replaceAll("\t", "⇥");
}

export class BlockView {
  readonly root: HTMLDetailsElement;
  private readonly summary: HTMLElement;
  private readonly legend: HTMLOListElement;
  private readonly list: HTMLOListElement;
  private tokens = 0;
  private steps = 0;
  private blocks = 0;
  private maxStep = -1;

  constructor() {
    this.root = document.createElement("details");
    this.root.className = "blocks";
    this.root.open = true;
    this.summary = document.createElement("summary");
    this.legend = document.createElement("ol");
    this.legend.className = "legend";
    this.legend.setAttribute("aria-label", "Step colours");
    this.list = document.createElement("ol");
    this.list.className = "block-list";
    this.root.append(this.summary, this.legend, this.list);
    this.update();
  }

  add(b: DlmBlock): void {
    const row = document.createElement("li");
    row.className = "block";
    row.dataset.block = String(b.block);
    row.dataset.steps = String(b.steps);
    const label = document.createElement("span");
    label.className = "block-label";
    label.textContent = `#${b.block + 1}`;
    label.title = `sub-block ${b.block + 1}: ${b.pieces.length} tokens in ${b.steps} step${b.steps === 1 ? "" : "s"}`;
    row.append(label);
    for (const p of b.pieces) {
      const t = document.createElement("span");
      t.className = `tok step-c${p.step % PALETTE}`;
      t.dataset.step = String(p.step + 1);
      t.title = `step ${p.step + 1}`;
      t.textContent = visible(p.text);
      row.append(t);
      if (p.step > this.maxStep) this.growLegend(p.step);
    }
    this.list.append(row);
    this.blocks++;
    this.tokens += b.pieces.length;
    this.steps += b.steps;
    this.update();
  }

  private growLegend(step: number): void {
    for (let s = this.maxStep + 1; s <= step; s++) {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = `swatch step-c${s % PALETTE}`;
      sw.setAttribute("aria-hidden", "true");
      li.append(sw, `step ${s + 1}`);
      this.legend.append(li);
    }
    this.maxStep = step;
  }

  private update(): void {
    const per = this.steps > 0 ? (this.tokens / this.steps).toFixed(2) : "–";
    this.summary.textContent =
      this.blocks === 0
        ? "Diffusion blocks: waiting for the first sub-block…"
        : `Diffusion blocks: ${this.blocks} sub-block${this.blocks === 1 ? "" : "s"}, ${this.tokens} tokens in ${this.steps} steps (${per} tokens/step)`;
  }
}
