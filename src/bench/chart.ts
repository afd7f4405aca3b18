// A small SVG bar chart (no dependencies): tokens/s per engine, grouped by benchmark phase.

export interface Bar {
  group: string; // e.g. "pp512 2T"
  series: string; // e.g. "native"
  value: number;
}

const COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2"];

function esc(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

export function barChart(title: string, unit: string, bars: Bar[]): string {
  const groups = [...new Set(bars.map((b) => b.group))];
  const series = [...new Set(bars.map((b) => b.series))];
  const max = Math.max(1e-9, ...bars.map((b) => b.value));
  const barW = 18;
  const gap = 24;
  const groupW = series.length * barW + gap;
  const left = 60;
  const top = 40;
  const h = 260;
  const width = left + groups.length * groupW + 160;
  const height = top + h + 60;
  const y = (v: number) => top + h - (v / max) * h;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<line x1="${left}" y1="${top + h}" x2="${width - 150}" y2="${top + h}" stroke="#333"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v >= 100 ? v.toFixed(0) : v.toFixed(1)}</text>`);
    parts.push(`<line x1="${left}" y1="${y(v)}" x2="${width - 150}" y2="${y(v)}" stroke="#ddd"/>`);
  }
  parts.push(`<text x="14" y="${top + h / 2}" transform="rotate(-90 14 ${top + h / 2})" text-anchor="middle">${esc(unit)}</text>`);
  groups.forEach((g, gi) => {
    const x0 = left + gap / 2 + gi * groupW;
    series.forEach((s, si) => {
      const b = bars.find((x) => x.group === g && x.series === s);
      if (!b) return;
      const x = x0 + si * barW;
      parts.push(`<rect x="${x}" y="${y(b.value)}" width="${barW - 2}" height="${top + h - y(b.value)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(`${s} ${g}: ${b.value.toFixed(1)} ${unit}`)}</title></rect>`);
    });
    parts.push(`<text x="${x0 + (series.length * barW) / 2}" y="${top + h + 16}" text-anchor="middle">${esc(g)}</text>`);
  });
  series.forEach((s, si) => {
    const ly = top + 10 + si * 18;
    parts.push(`<rect x="${width - 140}" y="${ly - 9}" width="12" height="12" fill="${COLORS[si % COLORS.length]}"/>`);
    parts.push(`<text x="${width - 122}" y="${ly + 1}">${esc(s)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}
