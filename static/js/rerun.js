/**
 * The settings panel once the batch exists: it shows (and locks) the batch's settings, and, once every item is
 * finished, lets them be changed to run the same uploads again with others (POST /api/v1/batches/<id>/rerun), which
 * opens the new batch's page.
 */

import { checkOptions, optionFields, optionsChanged, setEditable, showOptions } from "./batch-options.js";
import { apiBatches, FINISHED, root, state, ui } from "./batch-page.js";
import { focusLost } from "./focus.js";
import { postForm, refusalText } from "./http.js";
import { gettext, interpolate } from "./i18n.js";

const NOTES = {
  new: gettext(
    "Sent with the first image: they apply to the whole batch, and images added later join it with the same settings.",
  ),
  batch: gettext("This batch’s settings: images added to it are processed with them."),
  finished: gettext(
    "This batch’s settings. To process the same images again with other settings, change them and re-run: a new batch, nothing is uploaded again.",
  ),
};

/** The panel shows (and locks) the batch's options, unless it is open for a re-run. */
export function showBatchOptions(options) {
  state.batchOptions = options ?? {};
  if (!state.editingOptions) showOptions(state.batchOptions);
}

/** Every item of the batch is done or failed, and nothing is still on its way up. */
function batchFinished() {
  if (!state.batch || state.active || state.queue.length || !state.items.size) return false;
  return [...state.items.values()].every((item) => FINISHED.includes(item.status));
}

export function updateRerun() {
  const finished = batchFinished();
  if (!finished && state.editingOptions) {
    state.editingOptions = false; // more images joined: the batch's settings hold again
    showOptions(state.batchOptions);
  }
  if (state.batch) setEditable(state.editingOptions);
  ui.rerunActions.hidden = !finished;
  ui.editOptions.hidden = state.editingOptions;
  ui.optionsNote.textContent = NOTES[state.batch ? (finished ? "finished" : "batch") : "new"];
  updateRerunButton();
}

/**
 * Re-run only once a setting differs from the batch's (or the batch has one the panel cannot hold, which a re-run from
 * here leaves out): with the same ones it made a new batch of the same cutouts, a copy, which the hint beside the
 * button says while it is off.
 */
export function updateRerunButton() {
  if (state.rerunning) return;
  ui.rerun.disabled = !optionsChanged();
  ui.rerunHint.hidden = !ui.rerun.disabled;
}

export async function rerun() {
  if (!batchFinished() || ui.rerun.disabled || !checkOptions()) return;
  state.rerunning = ui.rerun.disabled = true;
  ui.rerunError.hidden = true;
  try {
    const reply = await postForm(`${apiBatches}/${state.batch.id}/rerun`, optionFields());
    if (reply.status === 201) {
      location.assign(`${root.dataset.batchPages}${reply.body.id}/`);
      return;
    }
    ui.rerunError.textContent = interpolate(gettext("Could not re-run: %(reason)s"), { reason: refusalText(reply) });
  } catch (error) {
    ui.rerunError.textContent = interpolate(gettext("Could not re-run: %(reason)s"), { reason: error.message });
  }
  ui.rerunError.hidden = false;
  state.rerunning = false;
  updateRerunButton();
  // Disabled while its request was out, the button let go of the focus: it takes it back.
  if (focusLost()) ui.rerun.focus();
}
