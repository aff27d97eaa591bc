/**
 * The upload page: drop or pick images (or folders of them), upload them into one batch, follow each
 * item live over the websocket, and offer the finished cutouts as one zip.
 *
 * The first file creates the batch (POST /api/v1/batches); later files go to
 * /api/v1/batches/<id>/files, one file per request and two requests at a time,
 * so every row shows its own upload progress and its own error. A row is keyed
 * by its item id once the server has accepted the file; websocket events then
 * update it, keeping per item only the state with the highest revision.
 *
 * The settings panel's options go with the upload that creates the batch and
 * then apply to all of it; the panel shows the batch's settings from then on.
 * Once every item is finished, the same uploads can be run again with other
 * settings (POST /api/v1/batches/<id>/rerun), which opens the new batch's page.
 */

import {
  backdropColor,
  checkOptions,
  loadModels,
  optionFields,
  optionsChanged,
  resultLabel,
  setEditable,
  showOptions,
} from "./batch-options.js";
import { deleteAfterAsking, deleteBatchAfterAsking } from "./deleting.js";
import { asBatchName, showBatchName, showProgress } from "./batch-name.js";
import { followBatch } from "./batch-socket.js";
import { openCompare } from "./compare.js";
import { followWalk, openEditor } from "./editor.js";
import { cardsFirstLink, focusLost } from "./focus.js";
import { filesOfDrop, imagesOfFolder } from "./folders.js";
import { oncePerFrame } from "./frames.js";
import {
  limitLastsLong,
  NetworkError,
  postFile,
  postForm,
  randomKey,
  refusalText,
  sendForm,
  sleep,
} from "./http.js";
import { formatNumber, gettext, interpolate, ngettext } from "./i18n.js";
import {
  flaggedPosition,
  markFine,
  nextFlagged,
  renderFlag,
  setReviewBelow,
  setupTriage,
  triageFacts,
  updateTriage,
  wireCard,
} from "./triage.js";
import {
  cardWaits,
  drawHoldingPlace,
  isWaiting,
  keepPlace,
  makeWaitingCards,
  stopWaiting,
  waitingIds,
} from "./waiting-cards.js";

const PARALLEL_UPLOADS = 2;

const root = document.getElementById("uploader");
const limits = JSON.parse(document.getElementById("upload-limits").textContent);
const apiBatches = root.dataset.apiBatches;
const ui = {
  input: document.getElementById("file-input"),
  folderInput: document.getElementById("folder-input"),
  dropzone: document.getElementById("dropzone"),
  list: document.getElementById("items"),
  rowTemplate: document.getElementById("item-template"),
  overall: document.getElementById("overall"),
  overallBar: document.getElementById("overall-bar"),
  overallSaid: document.getElementById("overall-said"),
  zip: document.getElementById("download-zip"),
  batchLink: document.getElementById("batch-link"),
  newBatch: document.getElementById("new-batch"),
  deleteBatch: document.getElementById("delete-batch"),
  renameBatch: document.getElementById("rename-batch"),
  notice: document.getElementById("notice"),
  leftOut: document.getElementById("left-out"),
  options: document.getElementById("batch-options"),
  optionsNote: document.getElementById("options-note"),
  rerunActions: document.getElementById("rerun-actions"),
  editOptions: document.getElementById("options-edit"),
  rerun: document.getElementById("rerun"),
  rerunError: document.getElementById("rerun-error"),
  rerunHint: document.getElementById("rerun-hint"),
};

const state = {
  /** @type {{id: string, zip: string, ws: string} | null} set once the batch exists */
  batch: null,
  /** the batch's options JSON (removal/cutout/options.py), once known */
  batchOptions: null,
  /** true while the settings panel is open for a re-run */
  editingOptions: false,
  /** the files added last made into cards, in turns (addFiles) */
  adding: Promise.resolve(),
  /** true while the request that creates the batch is in flight */
  creating: false,
  /** what to call the batch the first upload makes: the folder it came from, or "" */
  newBatchName: "",
  /** the creating request's Idempotency-Key: sent again with it (its reply lost), it gets the batch it made */
  creationKey: randomKey(),
  /** @type {{file: File, row: HTMLElement}[]} files waiting for their upload */
  queue: [],
  /** uploads in flight */
  active: 0,
  /** true while the server cannot be reached: the queue waits for it rather than refuse file after file */
  offline: false,
  /** true while the page's user is logged out (in another tab): the queue waits for them to log in again */
  loggedOut: false,
  /** @type {Map<string, object>} item id -> the item JSON with the highest revision seen */
  items: new Map(),
  /** @type {Map<string, HTMLElement>} item id -> its row */
  rows: new Map(),
  /** places given so far: each card's place in upload order */
  rowCount: 0,
  /** true while the request that re-runs the batch is in flight */
  rerunning: false,
  /** true while the request that deletes the batch is in flight */
  deleting: false,
  /** @type {Set<string>} ids of items deleted: a late event about one is not shown again */
  removed: new Set(),
};

// --- rows -------------------------------------------------------------------

/** How the editor goes from one flagged cutout to the next (openEditor's `review`): the same for every card. */
const flaggedWalk = {
  next: nextFlagged,
  position: flaggedPosition,
  looksFine: markFine,
};

/** A new row at the end of the list, at `order` among the cards (upload order). */
function addRow(filename, order = state.rowCount++) {
  const row = newRow(filename, order);
  ui.list.append(row);
  return row;
}

/** A new row, not in the list yet. */
function newRow(filename, order) {
  const row = ui.rowTemplate.content.firstElementChild.cloneNode(true);
  row.dataset.filename = filename;
  row.dataset.order = String(order);
  const name = row.querySelector(".filename");
  name.textContent = filename;
  name.title = filename; // the whole name, where two lines cut it short
  // Each card has the same buttons ("Edit", "Remove"…): a screen reader names the photo each one acts on.
  name.id = `item-name-${row.dataset.order}`;
  for (const control of row.querySelectorAll(".item-links > *, .badge.needs-look")) {
    control.setAttribute("aria-describedby", name.id);
  }
  const uploadName = interpolate(gettext("Upload of %(name)s"), { name: filename });
  row.querySelector(".upload-progress").setAttribute("aria-label", uploadName);
  row.querySelector(".before img").alt = interpolate(gettext("%(name)s, as uploaded"), { name: filename });
  row.querySelector(".after img").alt = interpolate(gettext("%(name)s, background removed"), { name: filename });
  const compare = () => {
    const item = state.items.get(row.dataset.itemId);
    if (item?.result) openCompare(item, backdropColor(state.batchOptions));
  };
  row.querySelector(".thumbs").addEventListener("click", compare);
  row.querySelector(".compare-open").addEventListener("click", compare);
  const edit = () => {
    const item = state.items.get(row.dataset.itemId);
    if (item?.mask) openEditor(item, backdropColor(state.batchOptions), (saved) => takeItem(saved), flaggedWalk);
    else compare(); // no kept mask to edit (an animation): the cutout itself, to judge
  };
  row.querySelector(".edit-open").addEventListener("click", edit);
  row.querySelector(".item-remove").addEventListener("click", () => removeItem(row));
  wireCard(row, { onEdit: edit, item: () => state.items.get(row.dataset.itemId), onReviewed: takeItem });
  for (const img of row.querySelectorAll("img")) {
    // Browsers cannot show every format we accept (HEIC, TIFF), nor non-images. A dropped photo's row shown
    // already is rendered again now (renderOriginal: "…", then the server's thumbnail once it is processed),
    // not at the item's next event.
    img.addEventListener("error", () => {
      img.closest("figure").classList.add("no-preview");
      const item = state.items.get(row.dataset.itemId);
      if (item) renderItem(row, item);
    });
  }
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

/** An item's statuses once its worker is through with it. */
const FINISHED = ["done", "failed"];

/** @param {string} status pending|uploading|queued|processing|done|failed|rejected */
function setStatus(row, status, label = STATUS_LABELS[status] ?? status) {
  row.dataset.status = status;
  const badge = row.querySelector(".badge.status");
  badge.className = `badge status ${status}`;
  badge.textContent = label;
}

function showError(row, text) {
  const error = row.querySelector(".error");
  error.textContent = text ?? "";
  error.hidden = !text;
}

/** A file that never became an item: refused by the server or by the quick local check. */
function refuse(row, text) {
  setStatus(row, "rejected");
  const before = row.querySelector(".before");
  if (!before.querySelector("img").getAttribute("src")) before.classList.add("no-preview"); // refused unread
  row.querySelector(".upload-progress").hidden = true;
  row.querySelector(".item-remove").hidden = false; // so that a batch's refused files can be cleared away
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
function releaseDropped(row) {
  const before = row.querySelector(".before img");
  if (before.src.startsWith("blob:")) URL.revokeObjectURL(before.src);
}

/** Show an item's state on its row. */
function renderItem(row, item) {
  row.dataset.itemId = item.id;
  row.dataset.bytes = String(item.original_bytes);
  setStatus(row, item.status);
  row.querySelector(".upload-progress").hidden = true;
  showError(row, item.error);

  // The cards show thumbnails (a 12 MP photo and its cutout in about 20 KB, not 10 MB); compare and edit
  // open the full images.
  renderOriginal(row, item);
  const after = row.querySelector(".after img");
  const download = row.querySelector(".item-download");
  const compare = row.querySelector(".compare-open");
  if (item.result) {
    // An edit keeps the result's address; the revision makes the browser fetch the new one.
    const shown = `${item.result_thumbnail ?? item.result}?r=${item.revision}`;
    if (after.getAttribute("src") !== shown) after.src = shown;
    after.style.background = backdropColor(state.batchOptions) ?? "";
    download.href = `${item.result}?download=1`;
    download.textContent = interpolate(gettext("Download %(format)s"), { format: resultLabel(state.batchOptions) });
  }
  after.hidden = download.hidden = compare.hidden = !item.result;
  row.dataset.hasCutout = String(Boolean(item.result));
  row.querySelector(".item-remove").hidden = false;
  row.querySelector(".edit-open").hidden = !item.mask;
  row.querySelector(".badge.reused").hidden = !(item.cached && item.result);
  renderFlag(row, item);

  const facts = [`${item.width}×${item.height}`];
  // A reused cutout took no processing here: its badge says so, rather than "0.0 s".
  if (item.processing_ms != null && !item.cached) {
    facts.push(interpolate(gettext("%(seconds)s s"), { seconds: formatNumber(item.processing_ms / 1000, 1) }));
  }
  facts.push(...triageFacts(item));
  row.querySelector(".meta").textContent = facts.join(" · ");
}

/**
 * Take in an item's state from an upload reply or a websocket event.
 * Events can arrive out of order, so a lower revision than the one known is ignored.
 * @param {object} item item JSON
 * @param {HTMLElement | null} uploadRow the row of the upload this item came from, if any
 */
function mergeItem(item, uploadRow = null) {
  if (state.removed.has(item.id)) return;
  const known = state.items.get(item.id);
  const newest = known && known.revision > item.revision ? known : item;
  state.items.set(item.id, newest);

  const row = uploadRow ?? state.rows.get(item.id);
  if (row) {
    stopWaiting(item.id);
    state.rows.set(item.id, row);
    // A snapshot after a reconnection brings every item again, mostly as the cards show them: 1,000 cards drawn again
    // held the page 0.5-1 s (Chromium, 2 loaded cores).
    if (uploadRow || !known || !sameItem(known, newest)) renderItem(row, newest);
    return;
  }
  // The websocket often announces an item before its upload's reply arrives;
  // wait for that reply rather than show the file twice (see showUnclaimedItems).
  if (state.active) return;
  // Its card is made at the next frame, in its place (a snapshot's thousand items, a frame's worth at a time).
  if (!isWaiting(item.id)) cardWaits(item.id, state.rowCount++);
  redraw();
}

/** The card of an item waiting for one (waiting-cards.js), drawn; null if it has one. */
function waitingItemCard(id, order) {
  if (state.rows.has(id)) return null;
  const item = state.items.get(id);
  const row = newRow(item.filename, order);
  state.rows.set(id, row);
  renderItem(row, item);
  return row;
}

/** Whether two item JSONs say the same: their fields are plain values. */
function sameItem(one, other) {
  const keys = Object.keys(one);
  return keys.length === Object.keys(other).length && keys.every((key) => one[key] === other[key]);
}

/** An item its owner deleted, here or elsewhere: its row goes, for good. */
function dropItem(id) {
  state.removed.add(id);
  state.items.delete(id);
  stopWaiting(id);
  const row = state.rows.get(id);
  if (row) releaseDropped(row);
  row?.remove();
  state.rows.delete(id);
}

/** After a confirmation, one item goes (DELETE /api/v1/items/<id>, the address its links start with). */
async function removeItem(row) {
  const item = state.items.get(row.dataset.itemId);
  if (!item) {
    // A file refused before it became an item: nothing of it is stored, only its card goes, unasked.
    if (row.dataset.status === "rejected") takeCardAway(row, shownCardBeside(row));
    return;
  }
  const button = row.querySelector(".item-remove");
  button.disabled = true;
  const question = interpolate(gettext("Remove %(name)s from this batch? Its upload and cutout are deleted for good."), {
    name: row.dataset.filename,
  });
  const itemUrl = item.original.replace(/\/original$/, "");
  const neighbour = shownCardBeside(row); // now: the websocket's news of the removal may take the row out first
  const refusal = await deleteAfterAsking(itemUrl, question, gettext("Could not remove it: %(reason)s"));
  if (refusal === null) {
    dropItem(item.id);
    takeCardAway(row, neighbour);
    return;
  }
  if (refusal) showError(row, refusal);
  button.disabled = false;
  button.focus(); // disabled while the question was asked, it had let go of the focus
}

/** After a card was removed: the summary, and the keyboard among the cards, on the one that took its place. */
function takeCardAway(row, neighbour) {
  releaseDropped(row);
  row.remove();
  updateSummary();
  const control = neighbour?.isConnected && cardsFirstLink(neighbour);
  (control || ui.input).focus();
}

/** The card shown after `row`, else the one before it (a filter hides some), else null. */
function shownCardBeside(row) {
  for (const step of ["nextElementSibling", "previousElementSibling"]) {
    let card = row[step];
    while (card?.hidden) card = card[step];
    if (card) return card;
  }
  return null;
}

/** An item's new state from a reply of this page (an edit, "Looks fine", an improve), then the summary. */
function takeItem(item) {
  mergeItem(item);
  updateSummary();
}

/** Rows for the items no upload of this page claimed: added from another tab or program. */
function showUnclaimedItems() {
  for (const item of state.items.values()) {
    if (!state.rows.has(item.id)) mergeItem(item);
  }
}

// --- summary ------------------------------------------------------------------

/** The cards still to be made, then the summary (counts, filter, order) of them all. */
function drawPage() {
  drawHoldingPlace(ui.list, () => {
    makeWaitingCards(ui.list, state.items, waitingItemCard);
    updateSummary();
  });
  if (isWaiting()) redraw();
}

/**
 * drawPage at the next frame, once however often it is asked for meanwhile: each websocket message recounted and
 * re-sorted every card (6 ms at 320 cards, growing with the batch), so that a burst of them held the page.
 */
const redraw = oncePerFrame(drawPage);

/**
 * Each card's status and whether it holds a cutout (done, or being improved): the cards made, then those still to be
 * made (makeWaitingCards), which are counted at once.
 * @returns {{status: string, hasCutout: boolean}[]}
 */
function cardStates() {
  const made = [...ui.list.children].map((row) => ({
    status: row.dataset.status,
    hasCutout: row.dataset.hasCutout === "true",
  }));
  const waiting = [...waitingIds()]
    .map((id) => state.items.get(id))
    .filter(Boolean)
    .map((item) => ({ status: item.status, hasCutout: Boolean(item.result) }));
  return [...made, ...waiting];
}

function updateSummary() {
  const cards = cardStates();
  const count = (...statuses) => cards.filter((card) => statuses.includes(card.status)).length;
  const done = count("done");
  const failed = count("failed", "rejected");
  const zipped = cards.filter((card) => card.hasCutout).length;
  const uploading = count("pending", "uploading");

  let text = cards.length
    ? [
        interpolate(ngettext("%(done)s of %(total)s done", "%(done)s of %(total)s done", done), {
          done: formatNumber(done),
          total: formatNumber(cards.length),
        }),
        interpolate(ngettext("%(count)s failed", "%(count)s failed", failed), { count: formatNumber(failed) }),
      ].join(", ")
    : gettext("No images yet.");
  if (uploading) {
    const still = ngettext("%(count)s still uploading", "%(count)s still uploading", uploading);
    text += " · " + interpolate(still, { count: formatNumber(uploading) });
  }
  // Cards being improved keep their cutout but are not done: said, or "done" would seem to go backwards.
  const improving = cards.filter((card) => card.hasCutout && !FINISHED.includes(card.status)).length;
  if (improving) {
    const again = ngettext("%(count)s being improved", "%(count)s being improved", improving);
    text += " · " + interpolate(again, { count: formatNumber(improving) });
  }
  ui.overall.textContent = text;
  ui.overallBar.max = cards.length || 1;
  ui.overallBar.value = done + failed;

  const unfinished = cards.length - done - failed;
  if (state.batch) showProgress(done + failed, cards.length);
  updateZipLink(zipped, unfinished);
  ui.deleteBatch.disabled = Boolean(uploading) || state.deleting; // files on their way up would be refused
  updateRerun();
  updateTriage(Boolean(state.batch), failed);
  followWalk(); // after the cards are ordered: the walk's count reads their order
  if (cards.length || spoken.text) sayCount(text, unfinished === 0); // not the empty page's "No images yet."
}

/** The zip's link: `zipped` cutouts in it; while `unfinished` cards are still on their way, it says it holds those
 * done so far. */
function updateZipLink(zipped, unfinished) {
  ui.zip.textContent = unfinished && zipped
    ? interpolate(ngettext("Download the %(count)s done so far (zip)", "Download the %(count)s done so far (zip)", zipped), {
        count: formatNumber(zipped),
      })
    : gettext("Download all (zip)");
  if (state.batch && zipped > 0) {
    ui.zip.href = state.batch.zip;
    ui.zip.removeAttribute("aria-disabled");
  } else {
    ui.zip.removeAttribute("href");
    ui.zip.setAttribute("aria-disabled", "true");
  }
}

/** How often at most the count is said while the batch goes on; said at each change, a batch of hundreds of photos
 * queued up thousands of announcements, and a screen reader read out old counts long after. */
const SAY_EVERY_MS = 10_000;
const spoken = { text: "", at: -Infinity, timer: 0 };

/**
 * Say the count in the live region: now if the batch has stopped (nothing on its way) or the last words are old
 * enough, else once SAY_EVERY_MS have passed since them, with the newest count then. The same words are not said
 * twice.
 */
function sayCount(text, stopped) {
  clearTimeout(spoken.timer);
  if (text === spoken.text) return;
  const wait = stopped ? 0 : spoken.at + SAY_EVERY_MS - performance.now();
  if (wait > 0) {
    spoken.timer = setTimeout(() => sayCount(text, true), wait);
    return;
  }
  ui.overallSaid.textContent = spoken.text = text;
  spoken.at = performance.now();
}

function showNotice(text) {
  // The same words again are not written again: a live region reads them out each time (at every reconnection try).
  if (ui.notice.textContent !== (text ?? "")) ui.notice.textContent = text ?? "";
  ui.notice.hidden = !text;
}

// --- settings and re-run ----------------------------------------------------------

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
function showBatchOptions(options) {
  state.batchOptions = options ?? {};
  if (!state.editingOptions) showOptions(state.batchOptions);
}

/** Every item of the batch is done or failed, and nothing is still on its way up. */
function batchFinished() {
  if (!state.batch || state.active || state.queue.length || !state.items.size) return false;
  return [...state.items.values()].every((item) => FINISHED.includes(item.status));
}

function updateRerun() {
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
function updateRerunButton() {
  if (state.rerunning) return;
  ui.rerun.disabled = !optionsChanged();
  ui.rerunHint.hidden = !ui.rerun.disabled;
}

async function rerun() {
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

// --- the batch and its websocket ----------------------------------------------

/** Start following a batch: address bar, links, live updates. */
function useBatch(batch) {
  state.batch = { id: batch.id, zip: batch.zip, ws: batch.ws };
  if (batch.options) showBatchOptions(batch.options);
  const page = `${root.dataset.batchPages}${batch.id}/`;
  if (location.pathname !== page) {
    history.replaceState(null, "", page);
    // The page becomes the batch's page, as its address now says: its title, heading and menu as they are there.
    document.querySelector('.nav a[aria-current="page"]')?.removeAttribute("aria-current");
    // The messages of the page it was (a sign-up's welcome) were said once, to that page: a reload would not show
    // them, and they do not stay on the batch's.
    document.querySelector("main > .messages")?.remove();
  }
  showBatchName(batch.id, batch.name);
  ui.batchLink.href = page;
  ui.batchLink.hidden = ui.newBatch.hidden = ui.deleteBatch.hidden = ui.renameBatch.hidden = false;
  followBatch(batch.ws, {
    statusUrl: `${apiBatches}/${batch.id}`,
    onMessage: onSocketMessage,
    onState: onSocketState,
  });
}

function onSocketMessage(message) {
  if (message.event === "snapshot") {
    state.batch.zip = message.batch.zip;
    showBatchName(state.batch.id, message.batch.name);
    showBatchOptions(message.batch.options);
    setReviewBelow(message.batch.review_below);
    // An item missing from it is not dropped: the snapshot may be older than an upload's reply. One deleted
    // while the page was not listening stays until a reload (Remove on it finds it gone and drops it).
    for (const item of message.batch.items) mergeItem(item);
  } else if (message.event === "item") {
    mergeItem(message.item);
  } else if (message.event === "removed") {
    dropItem(message.item_id);
  } else if (message.event === "renamed") {
    showBatchName(state.batch.id, message.name);
  } else if (message.event === "deleted") {
    showNotice(gettext("This batch does not exist (any more)."));
  }
  redraw();
}

function onSocketState(socketState) {
  if (socketState === "unauthenticated" && state.loggedOut) return; // the uploads' notice says it, and what waits
  const notices = {
    open: null,
    reconnecting: gettext("Live updates were interrupted; reconnecting…"),
    unauthenticated: gettext("You are logged out: log in again to follow this batch."),
    "not-found": gettext("This batch does not exist (any more)."),
  };
  showNotice(notices[socketState]);
}

// --- uploads --------------------------------------------------------------------

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
function addFiles(files, skipped = 0) {
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
  const progress = row.querySelector(".upload-progress");
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
    (card) => card.dataset.status === "rejected" && card.querySelector(".error").textContent === reason,
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
  upload.row.querySelector(".upload-progress").value = 0;
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

// --- wiring -----------------------------------------------------------------------

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

/** What a drop or a chosen folder brought (folders.js): its files, and how many it left out. A new batch made of
 * one folder is named after it. */
async function addFound({ files, skipped, folder }) {
  if (!state.batch && !state.creating && !state.queue.length) {
    state.newBatchName = asBatchName(folder);
  }
  await addFiles(files, skipped);
  if (files.length || skipped) return;
  ui.leftOut.textContent = gettext("The folder holds no files.");
  ui.leftOut.hidden = false;
}

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
