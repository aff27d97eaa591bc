/**
 * The upload page: drop or pick images (or folders of them), upload them into one batch, follow each
 * item live over the websocket, and offer the finished cutouts as one zip.
 *
 * This module wires the page; the work is its neighbours': uploads.js sends the files, batch-follow.js follows
 * the batch's websocket, card-items.js keeps a card per item (keyed by its item id once the server has accepted
 * the file, keeping per item only the state with the highest revision), cards.js draws one, card-actions.js
 * answers its controls, summary.js counts them all, and rerun.js runs the same uploads again with other settings
 * (POST /api/v1/batches/<id>/rerun) once every item is finished.
 */

import { loadModels } from "./batch-options.js";
import { apiBatches, root, state, ui } from "./batch-page.js";
import { useBatch } from "./batch-follow.js";
import { mergeItem } from "./card-items.js";
import { wireCardActions } from "./card-actions.js";
import { deleteBatchAfterAsking } from "./deleting.js";
import { focusLost } from "./focus.js";
import { filesOfDrop, imagesOfFolder } from "./folders.js";
import { gettext, interpolate } from "./i18n.js";
import { rerun, updateRerun, updateRerunButton } from "./rerun.js";
import { showNotice, updateSummary } from "./summary.js";
import { setupTriage } from "./triage.js";
import { addFiles, addFound } from "./uploads.js";
import { keepPlace } from "./waiting-cards.js";

/** After a confirmation, the batch and its files go (DELETE /api/v1/batches/<id>); the list of batches says so. */
async function deleteBatch() {
  if (!state.batch) return;
  state.deleting = ui.deleteBatch.disabled = true;
  const refusal = await deleteBatchAfterAsking(`${apiBatches}/${state.batch.id}`, state.items.size);
  if (refusal === null) {
    location.assign(`${root.dataset.batchPages}?deleted=1`);
    return;
  }
  if (refusal) showNotice(refusal);
  state.deleting = false;
  updateSummary();
  // Disabled while its request was out, the button let go of the focus: it takes it back.
  if (focusLost()) ui.deleteBatch.focus();
}

ui.input.addEventListener("change", () => {
  addFiles([...ui.input.files]);
  ui.input.value = ""; // so that picking the same file again is noticed
});
// A browser with no folder choosing at all offers no button for it (a phone's, which has the attribute but cannot use
// it, is left out by site.css: .for-folders).
if (!("webkitdirectory" in ui.folderInput)) {
  for (const folderControl of root.querySelectorAll(".for-folders")) folderControl.hidden = true;
}
ui.folderInput.addEventListener("change", () => {
  addFound(imagesOfFolder([...ui.folderInput.files].map((file) => [file.webkitRelativePath, file])));
  ui.folderInput.value = "";
});

// Files dropped anywhere on the page are taken, rather than opened by the browser.
document.addEventListener("dragover", (event) => {
  event.preventDefault();
  ui.dropzone.classList.add("dragging");
});
document.addEventListener("dragleave", (event) => {
  if (!event.relatedTarget) ui.dropzone.classList.remove("dragging");
});
document.addEventListener("drop", (event) => {
  event.preventDefault();
  ui.dropzone.classList.remove("dragging");
  if (!event.dataTransfer?.files.length) return;
  filesOfDrop(event.dataTransfer).then(
    addFound,
    (error) => showNotice(interpolate(gettext("The dropped folder could not be read: %(reason)s"), { reason: error })),
  );
});

ui.options.addEventListener("submit", (event) => {
  event.preventDefault(); // Enter in a field submits: only a re-run is a submission
  if (!ui.rerunActions.hidden) rerun();
});
// A setting changed (or changed back): the re-run button follows, as each value is typed.
for (const type of ["input", "change"]) ui.options.addEventListener(type, updateRerunButton);
ui.deleteBatch.addEventListener("click", deleteBatch);
ui.editOptions.addEventListener("click", () => {
  state.editingOptions = true;
  updateRerun();
  ui.options.querySelector("select, input").focus();
});

window.addEventListener("beforeunload", (event) => {
  if (state.active || state.queue.length) event.preventDefault();
});

wireCardActions();
setupTriage({
  apiBatches,
  list: ui.list,
  batchId: () => state.batch?.id ?? null,
  items: () => state.items,
  onImproved: (batch) => batch.items.forEach((item) => mergeItem(item)),
  onViewChange: updateSummary,
});
loadModels(root.dataset.apiModels);
keepPlace(ui.list);
if (root.dataset.batchId) {
  const { batchId: id, batchName: name, batchZip: zip, batchWs: ws } = root.dataset;
  useBatch({ id, name, zip, ws });
}
updateSummary();
// Files or a folder picked while this script was still loading.
for (const input of [ui.input, ui.folderInput]) {
  if (input.files.length) input.dispatchEvent(new Event("change"));
}
