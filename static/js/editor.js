/**
 * Fix a cutout by hand: erase and restore brushes over the cutout, on a working
 * copy of the mask at most WORKING_SIDE pixels long (a 12-megapixel photo stays
 * responsive); Save sends that mask to POST /api/v1/items/<id>/mask, and the
 * server scales it to full size and composes the result with the batch's options.
 *
 * Everything works from the keyboard as well: every control is a stop of Tab, Escape is Cancel, and on the picture
 * the arrow keys move a brush shown as a ring, which Space paints with (held down while they move it: a line).
 *
 * This module opens and closes the editor; the work is its neighbours': editor-view.js draws the picture,
 * editor-mask.js paints the mask and keeps its undo history, editor-brush.js paints with the pointer and the
 * keyboard, editor-walk.js walks through the cutouts that need a look, editor-save.js sends the result, and
 * editor-state.js holds what they share.
 */

import { wireBrush } from "./editor-brush.js";
import { restoreDraft, updateHistoryButtons, wireHistory } from "./editor-mask.js";
import { wireSaving } from "./editor-save.js";
import { session, stillOpen, ui } from "./editor-state.js";
import { prepare, wireView } from "./editor-view.js";
import { showReviewButtons } from "./editor-walk.js";
import { cardsFirstLink, focusLost } from "./focus.js";
import { gettext, interpolate } from "./i18n.js";

const { dialog, view, title, status, saveButton, originalButton, revertButton, saveNextButton } = ui;

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(gettext("the image could not be loaded")));
    image.src = url;
  });
}

/**
 * Open the editor on a finished item.
 * @param {object} item item JSON (original, original_display, mask, filename, width, height)
 * @param {string | null} backdrop the batch's background colour as CSS, or null for a checkerboard
 * @param {{saved: (item: object) => void, failed: (item: object, note: string, untilCleared: boolean) => void,
 *   failureCleared: (item: object) => void}} news what the page hears: the item JSON the server answers a request
 *   with; a request that failed after the editor had left its cutout, in words for the cutout's card (a hand edit not
 *   saved, which the editor keeps for the cutout's next opening: its note `untilCleared`, not gone with a change of the
 *   item); and that such a failure is past (the edit back in the editor, or a later request of the cutout's answered)
 * @param {{next: (item: object) => object | null, position: (item: object, walked: Set<string>) => {at: number,
 *   count: number}, looksFine: (item: object) => Promise<object>} | null} review
 *   for a cutout that needs a look: the next one that does, where it stands among them, and how to mark one fine
 *   (triage.js); the editor then says "3 of 17", offers "Looks fine" and "Save and next", and goes on to the next
 *   flagged cutout without closing
 */
export async function openEditor(item, backdrop, news, review = null) {
  Object.assign(session, { item, news, review, backdrop, undo: [], redo: [], showOriginal: false, stroke: null });
  Object.assign(session, { changes: 0, sentChanges: null });
  session.cursor = null; // the keyboard's brush starts in the middle of each photo
  session.pointers.clear();
  dialog.dataset.ready = "false";
  title.textContent = interpolate(gettext("Edit %(filename)s"), { filename: item.filename });
  status.textContent = gettext("Loading…");
  saveButton.disabled = true;
  revertButton.hidden = !item.edited;
  revertButton.disabled = false;
  showReviewButtons();
  originalButton.setAttribute("aria-pressed", "false");
  view.classList.toggle("checkerboard", !backdrop);
  view.style.background = backdrop ?? "";
  if (!dialog.open) {
    // The card, not its control: a badge no longer needed is taken out of it (card-parts.js).
    session.openerCard = document.activeElement?.closest(".item") ?? null;
    dialog.showModal();
  }
  const started = performance.now();
  // Closed or opened on another cutout while its pictures were on their way, the editor is no longer this one's: they
  // were drawn under the other cutout's name, and saved as its mask.
  const opening = ++session.opening;
  let resumed = false; // a hand edit whose save failed is back on the mask
  try {
    item = await afterItsSave(item, opening);
    if (!item) return;
    // A browser that cannot show the upload itself (HEIC, TIFF) gets the server's upright WebP of it.
    const photo = loadImage(item.original).catch(() => loadImage(item.original_display));
    const draft = session.drafts.get(item.id);
    const [shown, mask, unsaved] = await Promise.all([
      photo,
      loadImage(`${item.mask}?r=${item.revision}`),
      draft && createImageBitmap(draft),
    ]);
    if (!stillOpen(opening)) return;
    prepare(shown, mask);
    if (unsaved) resumeDraft(item, unsaved);
    resumed = Boolean(unsaved);
  } catch (error) {
    if (!stillOpen(opening)) return;
    status.textContent = interpolate(gettext("The editor could not open this image: %(reason)s"), {
      reason: error.message,
    });
    return;
  }
  dialog.dataset.openMs = String(Math.round(performance.now() - started));
  status.textContent = resumed ? gettext("Your hand edit that was not saved is back: Save to try again.") : "";
  saveButton.disabled = saveNextButton.disabled = false;
  updateHistoryButtons();
  dialog.dataset.ready = "true";
}

/**
 * The item as its mask's save or Revert now out leaves it (the item JSON answered; as it was where the request failed,
 * a save's strokes then kept as a draft), once answered; null where the editor was closed or moved on meanwhile.
 */
async function afterItsSave(item, opening) {
  const saving = session.saving.get(item.id);
  if (!saving) return item;
  status.textContent = gettext("Waiting for the save of this cutout…");
  const saved = (await saving) ?? item;
  if (!stillOpen(opening)) return null;
  session.item = saved;
  revertButton.hidden = !saved.edited;
  status.textContent = gettext("Loading…");
  return saved;
}

/** A hand edit whose save failed after the editor had left its cutout, on the mask again: its card's note goes. */
function resumeDraft(item, draft) {
  session.drafts.delete(item.id);
  restoreDraft(draft);
  session.news.failureCleared(item);
}

/**
 * Whether the editor may close: nothing painted since it opened, or all of it answered for by the request now out (a
 * save sends it; a Revert or "Looks fine", pressed over it, lets it go; a failure is told on the cutout's card), or
 * the user agrees to lose it.
 */
function mayDiscard() {
  const unsent = session.undo.length > 0 && session.sentChanges !== session.changes;
  return !unsent || window.confirm(gettext("Discard the changes you have not saved?"));
}

/** Cancel: the editor closes, unless there are strokes the user keeps when asked. */
function cancel() {
  if (mayDiscard()) dialog.close();
}

document.getElementById("editor-cancel").addEventListener("click", cancel);
dialog.addEventListener("cancel", (event) => {
  if (!mayDiscard()) event.preventDefault(); // a close request other than Escape (Android's back)
});
dialog.addEventListener("close", () => {
  // The browser gives the focus back to what had it when the editor opened; a badge gone since (the cutout no longer
  // needs a look) cannot take it, the focus stays in the closed dialog or falls to the page, and a keyboard was back
  // at the top of the page: its card's first link takes it.
  if (focusLost() || dialog.contains(document.activeElement)) {
    cardsFirstLink(session.openerCard)?.focus();
  }
  session.openerCard = null;
  dialog.dataset.ready = "false";
  session.mask = session.photo = session.cutout = null;
  session.undo = session.redo = [];
  session.walked.clear();
});
dialog.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    // Escape is Cancel, asked the same. Left to the dialog, it asked too, but Chromium lets a page keep a dialog open
    // against Escape only once per click or key between: pressed again after "keep them", it closed the editor and
    // the strokes were lost, though the answer had been to keep them.
    event.preventDefault();
    cancel();
  }
});

wireView();
wireHistory();
wireBrush();
wireSaving((next) => openEditor(next, session.backdrop, session.news, session.review));
