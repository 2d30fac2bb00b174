/**
 * Text widths of DejaVu Sans, for Vega's layout. Without a canvas (there is none in Node here)
 * Vega guesses every glyph at 0.8 em, about 40% too wide for this font: titles and legends reserve
 * space they never use and labels are cut short. These are the fonts' own advance widths (the hmtx
 * tables of DejaVuSans.ttf and DejaVuSans-Bold.ttf 2.37, in thousandths of an em). The charts name
 * DejaVu Sans first, resvg renders the PNGs with it, and browsers without it fall back to Verdana,
 * whose widths are close.
 */
import * as vega from 'vega';

const CHARS =
  ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~−×–—…·≤≥→←±°µσΣαβ≈≠∞▷áéíóúäöüß§√∆';
const REGULAR = [
  318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636, 636,
  636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863,
  748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635,
  615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636,
  337, 636, 838, 838, 838, 500, 1000, 1000, 318, 838, 838, 838, 838, 838, 500, 636, 634, 632, 659, 638, 838, 838, 833,
  769, 613, 615, 278, 612, 634, 613, 612, 634, 630, 500, 637, 669,
];
const BOLD = [
  348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696, 696, 696, 696,
  696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775, 637, 995,
  837, 850, 733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716,
  678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712,
  365, 712, 838, 838, 838, 500, 1000, 1000, 380, 838, 838, 838, 838, 838, 500, 736, 779, 683, 687, 716, 838, 838, 833,
  769, 675, 678, 343, 687, 712, 675, 687, 712, 719, 500, 667, 697,
];

const regular = new Map<string, number>();
const bold = new Map<string, number>();
[...CHARS].forEach((ch, i) => {
  regular.set(ch, REGULAR[i]!);
  bold.set(ch, BOLD[i]!);
});
/** Glyphs outside the table: a little over an average lowercase letter, to err on the wide side. */
const FALLBACK = { regular: 620, bold: 700 };

/** Width in pixels of `text` set in DejaVu Sans at `fontSize` px. */
export function measureText(text: string, fontSize: number, isBold = false): number {
  const table = isBold ? bold : regular;
  const fallback = isBold ? FALLBACK.bold : FALLBACK.regular;
  let units = 0;
  for (const ch of text) units += table.get(ch) ?? fallback;
  return (units * fontSize) / 1000;
}

interface TextItem {
  fontSize?: number | string;
  fontWeight?: number | string;
  limit?: number;
}

const isBoldWeight = (w: number | string | undefined) =>
  w === 'bold' || w === 'bolder' || (w !== undefined && Number(w) >= 600);

let installed = false;

/**
 * Makes Vega measure text with these widths, process-wide and idempotent. Vega's truncation,
 * legend and title layout all go through `textMetrics.width`, the hook vl-convert uses too.
 */
export function useDejaVuTextMetrics(): void {
  if (installed) return;
  installed = true;
  // Exported by vega (from vega-scenegraph) but missing from its type declarations.
  const metrics = (vega as unknown as { textMetrics: { width: (item: TextItem, text: unknown) => number } })
    .textMetrics;
  metrics.width = (item: TextItem, text: unknown) => {
    const size = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
    const value = text == null ? '' : String(text).trim();
    if (size <= 0 || value === '') return 0;
    const full = measureText(value, size, isBoldWeight(item.fontWeight));
    // Vega probes prefixes through this same function when it truncates; a text over the limit
    // ends up drawn cut to the limit, so that is its width.
    return item.limit && item.limit > 0 ? Math.min(full, item.limit) : full;
  };
}
