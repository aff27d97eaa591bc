/**
 * What the hand editor sends: Save POSTs the edited mask to /api/v1/items/<id>/mask (the server scales it to full
 * size and composes the result with the batch's options), "Revert to the model's cutout" DELETEs it, "Looks fine"
 * marks the cutout reviewed; "Save and next" and "Looks fine, next" then go on to the next cutout that needs a look.
 */

import { session, stillOpen, ui } from "./editor-state.js";
import { focusLost } from "./focus.js";
import { pageHeaders } from "./http.js";
import { gettext, interpolate } from "./i18n.js";

const { dialog, status, saveButton, revertButton, fineButton, saveNextButton } = ui;
const sendButtons = [saveButton, revertButton, fineButton, saveNextButton];

/**
 * Send the mask (or, with no body, DELETE it: back to the model's cutout), or mark the cutout fine: `request` is
 * given the item. The item JSON goes to the page (news.saved). Then the editor closes, or with `thenNext` opens on the
 * next cutout that needs a look (`openNext`); unless it was closed while the request was out, or opened on another
 * cutout, whose strokes the answer leaves alone. Every stroke painted until pressed is the request's to answer for (a
 * save sends them, a Revert or "Looks fine" lets them go): Cancel closes the editor unasked while no other is painted.
 * A refusal is said in `failure`'s words, in the editor or, once it has left the cutout, on the cutout's card.
 * `mask` is a save's edited mask (a PNG, as it was when pressed): failed once the editor had left its cutout, it is
 * kept for the cutout's next opening, the card saying so; saved under changes made since, the editor stays on them.
 * Resolves, once all that is done, with the item JSON the server answered, or null where it refused.
 */
async function send(request, openNext, { thenNext = false, mask = null, failure = notSaved } = {}) {
  const { opening, item, news } = session;
  const pressed = document.activeElement;
  session.sentChanges = session.changes;
  for (const button of sendButtons) button.disabled = true;
  status.textContent = gettext("Saving…");
  const started = performance.now();
  let saved;
  try {
    saved = await request(item);
    if (mask) session.drafts.delete(item.id); // an older unsaved edit is past
    if (!session.drafts.has(item.id)) news.failureCleared(item); // and so is a failure its card tells
    news.saved(saved);
    if (!stillOpen(opening)) return saved;
    dialog.dataset.saveMs = String(Math.round(performance.now() - started));
  } catch (error) {
    if (stillOpen(opening)) showRefusal(failure(error.message), pressed);
    else if (mask) keepUnsaved(item, news, await mask, error.message);
    else news.failed(item, failure(error.message));
    return null;
  }
  if (mask && session.changes !== session.sentChanges) {
    showChangedSince(saved, pressed);
    return saved;
  }
  const next = thenNext && session.review ? session.review.next(item) : null;
  if (!next) {
    dialog.close();
    return saved;
  }
  await openNext(next);
  // The pressed button let go of the focus while disabled, and a keyboard had none in the dialog: it takes it back
  // on the next cutout ("Looks fine, next" again), else the brush's tool does ("Looks fine" gone).
  if (focusLost() && dialog.open) {
    const again = pressed instanceof HTMLButtonElement && !pressed.hidden && !pressed.disabled;
    (again ? pressed : document.querySelector("input[name=editor-tool]:checked")).focus();
  }
  return saved;
}

/** The buttons back, the editor staying; disabled while the request was out, the pressed one let go of the focus. */
function enableSending(pressed) {
  for (const button of sendButtons) button.disabled = false;
  if (focusLost()) pressed.focus();
}

/** A request refused while the editor is still on its cutout: said there, the strokes unsaved still. */
function showRefusal(refusal, pressed) {
  session.sentChanges = null;
  status.textContent = refusal;
  enableSending(pressed);
}

/** A save's refusal, in the editor. */
const notSaved = (reason) => interpolate(gettext("Not saved: %(reason)s"), { reason });

/** A Revert's refusal, in the editor or on the cutout's card. */
const notReverted = (reason) => interpolate(gettext("Could not revert to the model’s cutout: %(reason)s"), { reason });

/** A "Looks fine" refused: its request's own words already ("Could not mark it fine: …", triage.markFine). */
const notMarkedFine = (refusal) => refusal;

/** Saved, but not the changes made while the save was out (strokes, undo): the editor stays on them, as saved. */
function showChangedSince(saved, pressed) {
  session.item = saved;
  revertButton.hidden = !saved.edited;
  session.sentChanges = null;
  status.textContent = gettext("Saved, except the changes made since: Save again to keep them.");
  enableSending(pressed);
}

/** A save failed once the editor had left its cutout: its mask is kept for the next opening, and the card told. */
function keepUnsaved(item, news, mask, reason) {
  session.drafts.set(item.id, mask);
  const note = gettext("Your hand edit was not saved: %(reason)s. Edit opens it again.");
  news.failed(item, interpolate(note, { reason }), true); // Edit gives it back: the note stays till then
}

/** The mask request: the edited mask POSTed, or with no body a DELETE (back to the model's cutout). */
async function maskRequest(item, method, body) {
  const reply = await fetch(item.mask, {
    method,
    body,
    headers: pageHeaders(),
  });
  const answer = await reply.json();
  if (!reply.ok) throw new Error(answer.error ?? interpolate(gettext("the server answered %(status)s"), { status: reply.status }));
  return answer;
}

/** The working mask as a PNG, as it is now: the strokes painted later are not in it. */
function editedMask() {
  return new Promise((resolve) => session.mask.toBlob(resolve, "image/png"));
}

/**
 * Send a request that changes the cutout's mask (a save, a Revert): until it is handled, the cutout's next opening
 * waits for it (session.saving). Opened at once, the editor showed the mask from before the request, and a save from
 * there put that mask back: over the strokes saved, or over the model's cutout a Revert had gone back to.
 */
function sendMaskChange(request, openNext, options) {
  const { item } = session;
  const handled = send(request, openNext, options);
  session.saving.set(item.id, handled);
  const forget = () => {
    if (session.saving.get(item.id) === handled) session.saving.delete(item.id);
  };
  handled.then(forget, forget);
}

/** Save (and "Save and next"): the mask as it is when pressed, with the strokes painted until then. */
function saveMask(openNext, options = {}) {
  const mask = editedMask();
  const request = async (sent) => {
    const form = new FormData();
    form.append("mask", await mask, "mask.png");
    return maskRequest(sent, "POST", form);
  };
  sendMaskChange(request, openNext, { ...options, mask });
}

/**
 * Wire Save, "Save and next", "Revert to the model's cutout" and "Looks fine".
 * @param {(item: object) => Promise<void>} openNext opens the editor on the next cutout that needs a look
 */
export function wireSaving(openNext) {
  saveButton.addEventListener("click", () => saveMask(openNext));
  saveNextButton.addEventListener("click", () => saveMask(openNext, { thenNext: true }));
  revertButton.addEventListener("click", () => {
    // Every hand edit of the cutout goes, the saved ones too: asked first, as Remove is.
    const question = gettext("Revert to the model’s cutout? Every hand edit of this cutout, saved or not, is lost.");
    const revert = (item) => maskRequest(item, "DELETE", null);
    if (window.confirm(question)) sendMaskChange(revert, openNext, { failure: notReverted });
  });
  // Marked fine, the cutout is as it was saved: the strokes painted go, as they go with the editor when it moves on.
  const markFine = (item) => session.review.looksFine(item);
  fineButton.addEventListener("click", () => send(markFine, openNext, { thenNext: true, failure: notMarkedFine }));
}
