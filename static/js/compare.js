/**
 * The before/after view: an item's original with its cutout stacked on top, and a slider whose thumb is
 * the line between them: the original left of it ("Before"), the cutout right of it ("After").
 */

import { gettext, interpolate } from "./i18n.js";

const dialog = document.getElementById("compare");
const stage = document.getElementById("compare-stage");
const before = document.getElementById("compare-before");
const after = document.getElementById("compare-after");
const slider = document.getElementById("compare-slider");
const title = document.getElementById("compare-title");

/** The line between the original (left) and the cutout (right), `percent` of the width from the left. */
function clipCutout(percent) {
  after.style.clipPath = `inset(0 0 0 ${percent}%)`;
}

/**
 * @param {object} item item JSON (original, original_display, result, filename, width, height)
 * @param {string | null} backdrop the batch's background colour as CSS, or null for a checkerboard
 */
export function openCompare(item, backdrop) {
  title.textContent = interpolate(gettext("%(filename)s: before / after"), { filename: item.filename });
  // A browser that cannot show the upload itself (HEIC, TIFF) shows the server's upright WebP of it instead.
  before.onerror = () => {
    before.onerror = null;
    before.src = item.original_display;
  };
  before.src = item.original;
  before.alt = interpolate(gettext("%(name)s, as uploaded"), { name: item.filename });
  after.src = `${item.result}?r=${item.revision}`;
  after.alt = interpolate(gettext("%(name)s, background removed"), { name: item.filename });
  // Both images are fitted into a box of the original's proportions; a cropped
  // cutout is centred in it rather than lined up with the original.
  stage.style.setProperty("--ratio", String(item.width / item.height || 1));
  after.classList.toggle("checkerboard", !backdrop);
  after.style.background = backdrop ?? "";
  slider.value = "50";
  clipCutout(50);
  dialog.showModal();
  slider.focus();
}

slider.addEventListener("input", () => clipCutout(Number(slider.value)));
document.getElementById("compare-close").addEventListener("click", () => dialog.close());
// A click on the backdrop (outside the dialog's box) closes it, as Escape does.
dialog.addEventListener("click", (event) => {
  if (event.target === dialog) dialog.close();
});
