/**
 * The files added to the batch page, sent: a card for each (those the server would refuse, refused at once), then
 * the uploads. The first file creates the batch (POST /api/v1/batches) with the settings panel's options; later
 * files go to /api/v1/batches/<id>/files, one file per request and two requests at a time, so every card shows its
 * own upload progress and its own error. Uploads wait, rather than fail file after file, while the server cannot be
 * reached or the page's user is logged out.
 */

import { checkOptions, optionFields, setEditable } from "./batch-options.js";
import { apiBatches, limits, root, state, ui } from "./batch-page.js";
import { asBatchName } from "./batch-name.js";
import { useBatch } from "./batch-follow.js";
import { addRow, mergeItem, redraw, showUnclaimedItems } from "./card-items.js";
import { cardPart } from "./card-parts.js";
import { refuse, setStatus, showUploadBar } from "./cards.js";
import { limitLastsLong, NetworkError, postFile, refusalText, sendForm, sleep } from "./http.js";
import { formatNumber, gettext, interpolate, ngettext } from "./i18n.js";
import { cardStates, showNotice } from "./summary.js";
import { waitingIds } from "./waiting-cards.js";

const PARALLEL_UPLOADS = 2;

/** A quick local answer for files the server would refuse anyway; the server has the last word. */
function localRefusal(file) {
  if (file.size === 0) return gettext("the file is empty");
  if (file.size > limits.max_upload_bytes) {
    // Decimal megabytes, worded as the server words the same refusal; the limit as the page's line of limits writes
    // it (0.18 MB), the size with as many decimals as tell it from the limit: both rounded to one, a file of 0.201 MB
    // over a limit of 0.18 read "the file is 0.2 MB; the limit is 0.2 MB".
    const size = file.size / 1e6;
    const limit = limits.max_upload_bytes / 1e6;
    let digits = 1;
    while (digits < 3 && Number(size.toFixed(digits)) <= limit) digits += 1;
    return interpolate(gettext("the file is %(size)s MB; the limit is %(limit)s MB per file"), {
      size: formatNumber(size, digits),
      limit: formatNumber(limit, Math.min(3, String(limit).split(".")[1]?.length ?? 0)),
    });
  }
  return null;
}

/** What tells a file the batch holds from another: its name as the server keeps it, and its size. */
const heldKey = (name, bytes) => `${name.slice(0, limits.max_filename_chars)}\n${bytes}`;

/** The server's refusal of a file past MAX_ITEMS_PER_BATCH, in the same words. */
function batchFull() {
  return interpolate(gettext("the batch is full (%(limit)s files at most); start a new batch"), {
    limit: formatNumber(limits.max_items_per_batch),
  });
}

// Files made into cards at a time, the page answering between two such turns: a thousand files added at once held
// it for more than a second (their sizes and object URLs are each a call to the browser's file store).
const CARDS_AT_A_TIME = 25;

/**
 * Add a row per file and queue the acceptable ones for upload, after any files added before have their rows.
 * @param {File[]} files
 * @param {number} skipped files of dropped or chosen folders left out (hidden, or not images by name)
 * @returns {Promise<void>} settled once every file has its row
 */
export function addFiles(files, skipped = 0) {
  const turn = state.adding.then(() => addFilesInTurns(files, skipped));
  state.adding = turn.catch(() => {}); // an error is the caller's (and the console's): later files still get rows
  return turn;
}

async function addFilesInTurns(files, skipped) {
  // The settings go with the first upload: they must be valid before it starts.
  if (!state.batch && !state.creating && !checkOptions()) {
    showNotice(gettext("Check the settings above, then add the images again."));
    return;
  }
  showNotice(null);
  const held = heldFiles();
  let already = 0;
  // Files past the batch's room are refused here, as the server would refuse each once it had come up whole.
  let inBatch = cardStates().filter((card) => card.status !== "rejected").length;
  for (let start = 0; start < files.length; start += CARDS_AT_A_TIME) {
    if (start) await sleep(0);
    for (const file of files.slice(start, start + CARDS_AT_A_TIME)) {
      if (held.has(heldKey(file.name, file.size))) {
        already += 1;
        continue;
      }
      const row = addRow(file.name);
      row.dataset.bytes = String(file.size);
      const refusal = localRefusal(file) ?? (inBatch >= limits.max_items_per_batch ? batchFull() : null);
      if (refusal) {
        refuse(row, refusal);
        continue;
      }
      inBatch += 1;
      row.querySelector(".before img").src = URL.createObjectURL(file);
      setStatus(row, "pending");
      showUploadBar(row);
      state.queue.push({ file, row });
    }
    redraw();
    startUploads();
  }
  showLeftOut(skipped, already);
}

/**
 * The files the batch holds already, by name and size (heldKey), which are left out of files added: the folder
 * dropped again after a reload (or a closed tab) cut its uploads short brings only the files that are missing, not a
 * second copy of the others. One that failed is tried again, as `bgsite remove` run again tries its failures.
 */
function heldFiles() {
  const made = [...ui.list.children]
    .filter((row) => !["rejected", "failed"].includes(row.dataset.status))
    .map((row) => heldKey(row.dataset.filename, row.dataset.bytes));
  const waiting = [...waitingIds()]
    .map((id) => state.items.get(id))
    .filter((item) => item && item.status !== "failed")
    .map((item) => heldKey(item.filename, String(item.original_bytes)));
  return new Set([...made, ...waiting]);
}

/** Say what was left out of the files added: `skipped` of dropped folders, `already` held by the batch (apart from
 * the notice, which the websocket's state takes over). */
function showLeftOut(skipped, already) {
  const leftOut = ngettext(
    "%(count)s file of the folder was left out: hidden, or not an image by its name.",
    "%(count)s files of the folder were left out: hidden, or not images by their names.",
    skipped,
  );
  const alreadyText = ngettext(
    "%(count)s file is in this batch already: left out.",
    "%(count)s files are in this batch already: left out.",
    already,
  );
  ui.leftOut.textContent = [
    skipped ? interpolate(leftOut, { count: formatNumber(skipped) }) : "",
    already ? interpolate(alreadyText, { count: formatNumber(already) }) : "",
  ].filter(Boolean).join(" ");
  ui.leftOut.hidden = !skipped && !already;
}

/** Start queued uploads: the first one alone (it creates the batch), then two at a time. */
function startUploads() {
  while (!state.offline && !state.loggedOut && state.queue.length && state.active < PARALLEL_UPLOADS) {
    if (!state.batch && state.creating) return;
    if (!state.batch) {
      state.creating = true;
      setEditable(false); // these are the settings being sent
    }
    upload(state.queue.shift());
  }
}

// A 429 is the account's own limit (its requests a minute, or its images waiting), not a busy server: said so.
const WAITING = {
  429: gettext("your limit is reached for now, retry in %(seconds)s s"),
  503: gettext("server busy, retry in %(seconds)s s"),
};

async function upload({ file, row }) {
  const creating = !state.batch;
  const url = creating ? apiBatches : `${apiBatches}/${state.batch.id}/files`;
  // Its place among the batch's files: the server lists the batch in this order, whichever upload of the two in
  // flight arrives first.
  const named = creating && state.newBatchName ? [["name", state.newBatchName]] : [];
  const fields = [...(creating ? optionFields() : []), ...named, ["file_position", row.dataset.order]];
  const progress = showUploadBar(row);
  state.active += 1;
  setStatus(row, "uploading");
  try {
    const reply = await postFile(
      url,
      file,
      (fraction) => {
        progress.value = fraction;
        setStatus(row, "uploading", interpolate(gettext("uploading %(percent)s%"), { percent: Math.round(fraction * 100) }));
      },
      (seconds, status) => setStatus(row, "uploading", interpolate(WAITING[status] ?? WAITING[503], { seconds })),
      fields,
      creating ? { "Idempotency-Key": state.creationKey } : {},
    );
    const accepted = reply.status === 201 ? reply.body.items[0] : null;
    if (reply.status === 401) {
      waitForLogin({ file, row }, refusalText(reply));
    } else if (accepted) {
      if (creating) useBatch(reply.body);
      mergeItem(accepted, row);
    } else if (limitLastsLong(reply)) {
      stopUploads(row, refusalText(reply));
    } else {
      refuse(row, refusalText(reply));
    }
  } catch (error) {
    if (error instanceof NetworkError && !(await serverAnswers())) {
      // The connection is lost, not this file: it goes back in line, and the line waits for the server.
      backInLine({ file, row }, gettext("waiting for the connection"));
      waitForServer();
      return;
    }
    const reason =
      error instanceof NetworkError
        ? interpolate(gettext("network error: %(reason)s (tried twice)"), { reason: error.message })
        : String(error);
    refuse(row, interpolate(gettext("%(reason)s. Check your connection and add the file again."), { reason }));
  } finally {
    state.active -= 1;
    if (creating) {
      state.creating = false;
      if (!state.batch) setEditable(true); // refused: the next file creates the batch, perhaps with other settings
    }
    if (!state.active) showUnclaimedItems();
    redraw();
    startUploads();
  }
}

/**
 * The account's limit is reached for longer than the page waits (the daily quota): the file and those still in line
 * are refused with its reason, unsent, and the notice says how many were not taken. Sent one by one, each of hundreds
 * of photos went up whole to be refused alike, with nothing said above the cards.
 */
function stopUploads(row, reason) {
  refuse(row, reason);
  for (const waiting of state.queue.splice(0)) refuse(waiting.row, reason);
  const notTaken = [...ui.list.children].filter(
    (card) => card.dataset.status === "rejected" && cardPart(card, "error")?.textContent === reason,
  ).length;
  const stopped = ngettext(
    "Uploads stopped: %(reason)s. %(count)s file was not taken; add it again later.",
    "Uploads stopped: %(reason)s. %(count)s files were not taken; add them again later.",
    notTaken,
  );
  showNotice(interpolate(stopped, { reason, count: formatNumber(notTaken) }));
}

/** An upload goes back in line, in its place, saying what it waits for. */
function backInLine(upload, waitingFor) {
  state.queue.push(upload);
  state.queue.sort((a, b) => Number(a.row.dataset.order) - Number(b.row.dataset.order));
  setStatus(upload.row, "pending", waitingFor);
  showUploadBar(upload.row).value = 0;
}

/**
 * The page's user was logged out in another tab (or another user logged in there): the upload and those still in
 * line wait, the notice says why, and they go on once the page's user is logged in again, asked after 2, 4… (at most
 * 5) seconds. Refused one by one, a batch's files still in line had all been lost, each with a word about API keys.
 */
async function waitForLogin(upload, reason) {
  backInLine(upload, gettext("waiting for you to log in"));
  showNotice(interpolate(gettext("Uploads wait: %(reason)s."), { reason }));
  if (state.loggedOut) return;
  state.loggedOut = true;
  const asked = state.batch ? `${apiBatches}/${state.batch.id}` : apiBatches;
  await askingUntil(() => answers200(asked), { first: 2, most: 5 });
  state.loggedOut = false;
  showNotice(null);
  startUploads();
}

/** Until `ask()` says yes, asking again after `first`, twice that… (at most `most`) seconds. */
async function askingUntil(ask, { first, most }) {
  for (let delay = first; !(await ask()); delay = Math.min(delay * 2, most)) await sleep(delay);
}

/** Whether a GET of `url`, as the page's user, is answered 200. */
async function answers200(url) {
  try {
    return (await sendForm("GET", url)).status === 200;
  } catch {
    return false;
  }
}

/** Whether the server answers at all (any HTTP status): a failed upload then was the file's failing, not the link's. */
async function serverAnswers() {
  try {
    await fetch(root.dataset.health, { cache: "no-store", signal: AbortSignal.timeout(5000) });
    return true;
  } catch {
    return false;
  }
}

/**
 * While the server cannot be reached, the uploads wait, asking again after 1, 2, 4… (at most 10) seconds; then they go
 * on. A lost connection in a batch of hundreds had refused every file still in line, two a second, to be found and
 * added again by hand.
 */
async function waitForServer() {
  if (state.offline) return;
  state.offline = true;
  await askingUntil(serverAnswers, { first: 1, most: 10 });
  state.offline = false;
  startUploads();
}

/** What a drop or a chosen folder brought (folders.js): its files, and how many it left out. A new batch made of
 * one folder is named after it. */
export async function addFound({ files, skipped, folder }) {
  if (!state.batch && !state.creating && !state.queue.length) {
    state.newBatchName = asBatchName(folder);
  }
  await addFiles(files, skipped);
  if (files.length || skipped) return;
  ui.leftOut.textContent = gettext("The folder holds no files.");
  ui.leftOut.hidden = false;
}
