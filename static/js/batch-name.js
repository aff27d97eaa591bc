/**
 * The batch's name: the page's heading and title say it, and its owner renames the batch here
 * (PATCH /api/v1/batches/<id>). A batch without one is "Batch" and the start of its id, as before.
 */

import { focusLost } from "./focus.js";
import { NetworkError, sendForm, refusalText } from "./http.js";
import { formatNumber, gettext, interpolate } from "./i18n.js";

const ui = {
  heading: document.querySelector("#batch-heading"),
  rename: document.querySelector("#rename-batch"),
  form: document.querySelector("#rename-form"),
  input: document.querySelector("#rename-input"),
  cancel: document.querySelector("#rename-cancel"),
  error: document.querySelector("#rename-error"),
};

// Where batches are (PATCH <API_BATCHES>/<id> renames one), as the upload page says (templates/removal/home.html).
const API_BATCHES = document.getElementById("uploader")?.dataset.apiBatches;
// The site's name, after the page's own in its title (base.html).
const SITE_NAME = document.title.split("·").pop().trim();

// The longest name the server takes (its BATCH_NAME_LENGTH), in characters (code points) as it counts them. Not the
// field's maxlength, which counts UTF-16 units: a name of 60 emoji, which the server takes, stopped at 50.
const NAME_CHARS = Number(ui.input?.dataset.maxChars);

/** @type {{id: string, name: string} | null} */
let shown = null;
// What the tab's title says of the batch's progress, before its name: "37/400" while it runs, "✓" once it has
// finished while the tab was in the background (until it is looked at).
let progress = "";

/**
 * `text` as a batch's name the server takes: a control character or a line or paragraph separator as a space (a tab
 * pasted with a spreadsheet's cell, which the field keeps, unlike a line break; the API refuses them, in English, its
 * words for programs), white space at each end taken off, and no longer than the name's field allows (the server's
 * BATCH_NAME_LENGTH), in characters as the server counts them: cut in UTF-16 units, an emoji's half was left, which the
 * server kept as "�".
 */
export function asBatchName(text) {
  return Array.from(text.replace(/[\p{Cc}\p{Zl}\p{Zp}]/gu, " ").trim()).slice(0, NAME_CHARS).join("");
}

/**
 * The field kept to NAME_CHARS characters as maxlength keeps a field to its length: of what was typed or pasted, what
 * goes past it is left out (the characters just before the caret), and the caret stays after what was kept. Not while
 * an input method composes a character (its keys are not characters yet).
 */
function keepToNameLength(event) {
  if (event.isComposing) return;
  const chars = Array.from(ui.input.value);
  const excess = chars.length - NAME_CHARS;
  if (excess <= 0) return;
  const caret = Array.from(ui.input.value.slice(0, ui.input.selectionEnd ?? ui.input.value.length)).length;
  const cutAt = Math.max(caret - excess, 0);
  const kept = [...chars.slice(0, cutAt), ...chars.slice(cutAt + excess)].slice(0, NAME_CHARS);
  ui.input.value = kept.join("");
  const caretUnits = kept.slice(0, cutAt).join("").length;
  ui.input.setSelectionRange(caretUnits, caretUnits);
}

/** The heading and the title of the page of batch `id`, named `name` ("" for none). */
export function showBatchName(id, name) {
  shown = { id, name };
  const unnamed = [`${gettext("Batch")} `, Object.assign(document.createElement("small"), { className: "muted", textContent: `${id.slice(0, 8)}…` })];
  ui.heading.replaceChildren(...(name ? [name] : unnamed));
  showTitle();
  ui.rename.hidden = !ui.form.hidden;
}

/** The tab's title says how far the batch is: `finished` of `total`, so that a tab left in the background tells. */
export function showProgress(finished, total) {
  const before = progress;
  if (finished < total) progress = `${formatNumber(finished)}/${formatNumber(total)}`;
  else progress = before && document.hidden ? "✓" : before === "✓" ? "✓" : "";
  showTitle();
}

function showTitle() {
  if (!shown) return;
  document.title = `${progress ? `${progress} ` : ""}${shown.name || gettext("Batch")} · ${SITE_NAME}`;
}

function startRenaming() {
  ui.input.value = shown.name;
  ui.error.hidden = true;
  ui.form.hidden = false;
  ui.rename.hidden = true;
  ui.input.focus();
  ui.input.select();
}

function stopRenaming() {
  ui.form.hidden = true;
  ui.rename.hidden = false;
  ui.rename.focus();
}

async function rename(event) {
  event.preventDefault();
  const submit = ui.form.querySelector("[type=submit]");
  submit.disabled = true;
  let reason;
  try {
    const reply = await sendForm("PATCH", `${API_BATCHES}/${shown.id}`, [["name", asBatchName(ui.input.value)]]);
    if (reply.status === 200) {
      showBatchName(shown.id, reply.body.name);
      stopRenaming();
    } else {
      reason = refusalText(reply);
    }
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    reason = error.message;
  } finally {
    submit.disabled = false;
  }
  if (reason === undefined) return;
  ui.error.textContent = interpolate(gettext("Could not rename the batch: %(reason)s"), { reason });
  ui.error.hidden = false;
  if (focusLost()) ui.input.focus();
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden || progress !== "✓") return;
  progress = ""; // seen
  showTitle();
});
ui.rename?.addEventListener("click", startRenaming);
ui.cancel?.addEventListener("click", stopRenaming);
ui.form?.addEventListener("submit", rename);
ui.input?.addEventListener("input", keepToNameLength);
ui.input?.addEventListener("compositionend", keepToNameLength);
ui.form?.addEventListener("keydown", (event) => {
  if (event.key === "Escape") stopRenaming();
});
