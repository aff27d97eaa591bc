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
 * given the item. The item JSON goes to onSaved. Then the editor closes, or with `thenNext` opens on the next cutout
 * that needs a look (`openNext`); unless it was closed while the request was out, or opened on another cutout, whose
 * strokes the answer leaves alone.
 */
async function send(request, openNext, { thenNext = false } = {}) {
  const { opening, item, onSaved } = session;
  const pressed = document.activeElement;
  for (const button of sendButtons) button.disabled = true;
  status.textContent = gettext("Saving…");
  const started = performance.now();
  try {
    onSaved(await request(item));
    if (!stillOpen(opening)) return;
    dialog.dataset.saveMs = String(Math.round(performance.now() - started));
  } catch (error) {
    if (!stillOpen(opening)) return;
    status.textContent = interpolate(gettext("Not saved: %(reason)s"), { reason: error.message });
    for (const button of sendButtons) button.disabled = false;
    if (focusLost()) pressed.focus(); // disabled while the request was out, the button had let go of it
    return;
  }
  const next = thenNext && session.review ? session.review.next(item) : null;
  if (!next) {
    dialog.close();
    return;
  }
  await openNext(next);
  // The pressed button let go of the focus while disabled, and a keyboard had none in the dialog: it takes it back
  // on the next cutout ("Looks fine, next" again), else the brush's tool does ("Looks fine" gone).
  if (focusLost() && dialog.open) {
    const again = pressed instanceof HTMLButtonElement && !pressed.hidden && !pressed.disabled;
    (again ? pressed : document.querySelector("input[name=editor-tool]:checked")).focus();
  }
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

async function editedMask() {
  const blob = await new Promise((resolve) => session.mask.toBlob(resolve, "image/png"));
  const form = new FormData();
  form.append("mask", blob, "mask.png");
  return form;
}

/**
 * Wire Save, "Save and next", "Revert to the model's cutout" and "Looks fine".
 * @param {(item: object) => Promise<void>} openNext opens the editor on the next cutout that needs a look
 */
export function wireSaving(openNext) {
  const saveMask = async (item) => maskRequest(item, "POST", await editedMask());
  saveButton.addEventListener("click", () => send(saveMask, openNext));
  saveNextButton.addEventListener("click", () => send(saveMask, openNext, { thenNext: true }));
  revertButton.addEventListener("click", () => {
    // Every hand edit of the cutout goes, the saved ones too: asked first, as Remove is.
    const question = gettext("Revert to the model’s cutout? Every hand edit of this cutout, saved or not, is lost.");
    if (window.confirm(question)) send((item) => maskRequest(item, "DELETE", null), openNext);
  });
  const markFine = (item) => session.review.looksFine(item);
  fineButton.addEventListener("click", () => send(markFine, openNext, { thenNext: true }));
}
