/**
 * A card of the batch page: made from the page's template (#item-template), and drawn as its item's state, its
 * upload's or its refusal say; the parts it does not show are left out of it (card-parts.js). What the card's controls do is card-actions.js's (one listener on the list for them
 * all); which cards the list holds, card-items.js's.
 */

import { backdropColor, resultLabel } from "./batch-options.js";
import { FINISHED, state } from "./batch-page.js";
import { formatNumber, gettext, interpolate } from "./i18n.js";
import { cardFromTemplate, showPart, togglePart } from "./card-parts.js";
import { renderFlag, triageFacts } from "./triage.js";

/** A new card, not in the list yet, at `order` among the cards (upload order). */
export function newRow(filename, order) {
  const row = cardFromTemplate();
  row.dataset.filename = filename;
  row.dataset.order = String(order);
  const name = row.querySelector(".filename");
  name.textContent = filename;
  name.title = filename; // the whole name, where two lines cut it short
  // Each card has the same buttons ("Edit", "Remove"…): each is described by this name (card-parts.js).
  name.id = `item-name-${row.dataset.order}`;
  row.querySelector(".before img").alt = interpolate(gettext("%(name)s, as uploaded"), { name: filename });
  row.querySelector(".after img").alt = interpolate(gettext("%(name)s, background removed"), { name: filename });
  return row;
}

const STATUS_LABELS = {
  pending: gettext("pending"),
  uploading: gettext("uploading"),
  queued: gettext("queued"),
  processing: gettext("processing"),
  done: gettext("done"),
  failed: gettext("failed"),
  rejected: gettext("rejected"),
};

/** @param {string} status pending|uploading|queued|processing|done|failed|rejected */
export function setStatus(row, status, label = STATUS_LABELS[status] ?? status) {
  row.dataset.status = status;
  const badge = row.querySelector(".badge.status");
  badge.className = `badge status ${status}`;
  badge.textContent = label;
}

/** The bar of a file's upload on its card, named for a screen reader after the file. */
export function showUploadBar(row) {
  const bar = showPart(row, "upload-progress");
  bar.setAttribute("aria-label", interpolate(gettext("Upload of %(name)s"), { name: row.dataset.filename }));
  return bar;
}

/** A card's error, if `text`; with `alert`, a screen reader says it at once (a failure of the user's own request). */
export function showError(row, text, alert = false) {
  const error = togglePart(row, "error", Boolean(text));
  if (!error) return;
  if (alert) error.setAttribute("role", "alert");
  else error.removeAttribute("role");
  if (error.textContent !== text) error.textContent = text; // the same again is not said again
}

/**
 * An item's card says which request of the editor's failed once the editor had left the cutout (a save, whose edit
 * the editor keeps: Edit gives it back; a Revert; "Looks fine"), in the editor's words, then the item's own error.
 */
function showItemError(row, item) {
  const failure = state.editorFailures.get(item.id)?.note;
  showError(row, [failure, item.error].filter(Boolean).join(" "), Boolean(failure));
}

/** A file that never became an item: refused by the server or by the quick local check. */
export function refuse(row, text) {
  setStatus(row, "rejected");
  const before = row.querySelector(".before");
  if (!before.querySelector("img").getAttribute("src")) before.classList.add("no-preview"); // refused unread
  togglePart(row, "upload-progress", false);
  showPart(row, "remove"); // so that a batch's refused files can be cleared away
  showError(row, text);
}

/**
 * A card's photo: a file dropped here shows from the browser's own copy until its cutout is done, unless the
 * browser cannot show it (HEIC, TIFF; "…" until then); then, as after a reload, the server's thumbnail. Its
 * worker keeps that thumbnail from the photo it decodes anyway; asked for earlier, the server would decode each
 * photo a second time beside the workers (a batch of eight 12 MP HEICs took 7.5 s instead of 5.6). Kept on the
 * card, the dropped copies held the whole photos: 400 of them, scrolled through, took Chromium's memory 400 MB
 * above the same cards with thumbnails.
 */
function renderOriginal(row, item) {
  const before = row.querySelector(".before img");
  const figure = before.closest("figure");
  const dropped = before.src.startsWith("blob:");
  const unshown = figure.classList.contains("no-preview") && dropped;
  const thumbnailKept = dropped && item.status === "done";
  if (before.getAttribute("src") && !unshown && !thumbnailKept && !before.hidden) return;
  const processed = FINISHED.includes(item.status);
  figure.classList.remove("no-preview");
  before.hidden = !processed;
  if (!processed) return;
  releaseDropped(row);
  before.src = item.original_thumbnail ?? item.original;
}

/** The browser's copy of a dropped photo is let go once its card no longer shows it. */
export function releaseDropped(row) {
  const before = row.querySelector(".before img");
  if (before.src.startsWith("blob:")) URL.revokeObjectURL(before.src);
}

/** Show an item's state on its row. */
export function renderItem(row, item) {
  row.dataset.itemId = item.id;
  row.dataset.bytes = String(item.original_bytes);
  setStatus(row, item.status);
  togglePart(row, "upload-progress", false);
  showItemError(row, item);

  // The cards show thumbnails (a 12 MP photo and its cutout in about 20 KB, not 10 MB); compare and edit
  // open the full images.
  renderOriginal(row, item);
  renderResult(row, item);
  showPart(row, "remove");
  togglePart(row, "edit", Boolean(item.mask));
  togglePart(row, "reused", Boolean(item.cached && item.result));
  renderFlag(row, item);

  const facts = [`${item.width}×${item.height}`];
  // A reused cutout took no processing here: its badge says so, rather than "0.0 s".
  if (item.processing_ms != null && !item.cached) {
    facts.push(interpolate(gettext("%(seconds)s s"), { seconds: formatNumber(item.processing_ms / 1000, 1) }));
  }
  facts.push(...triageFacts(item));
  row.querySelector(".meta").textContent = facts.join(" · ");
}

/** An item's cutout on its card, and the links to it (compare, download), once it has one. */
function renderResult(row, item) {
  const after = row.querySelector(".after img");
  after.hidden = !item.result;
  row.dataset.hasCutout = String(Boolean(item.result));
  togglePart(row, "compare", Boolean(item.result));
  const download = togglePart(row, "download", Boolean(item.result));
  if (!item.result) return;
  // An edit keeps the result's address; the revision makes the browser fetch the new one.
  const shown = `${item.result_thumbnail ?? item.result}?r=${item.revision}`;
  if (after.getAttribute("src") !== shown) after.src = shown;
  after.style.background = backdropColor(state.batchOptions) ?? "";
  download.href = `${item.result}?download=1`;
  download.textContent = interpolate(gettext("Download %(format)s"), { format: resultLabel(state.batchOptions) });
}
