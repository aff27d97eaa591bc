/**
 * What the batch page's modules share: its elements, the limits the server gave it, and the state of the batch it
 * shows (its items, their cards, the uploads on their way). upload.js wires them; cards.js draws a card,
 * card-items.js keeps the cards in step with the items, uploads.js sends the files, batch-follow.js follows the
 * batch's websocket, summary.js and rerun.js show the batch as a whole.
 */

import { randomKey } from "./http.js";

export const root = document.getElementById("uploader");
export const limits = JSON.parse(document.getElementById("upload-limits").textContent);
export const apiBatches = root.dataset.apiBatches;

export const ui = {
  input: document.getElementById("file-input"),
  folderInput: document.getElementById("folder-input"),
  dropzone: document.getElementById("dropzone"),
  list: document.getElementById("items"),
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

export const state = {
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
  /**
   * @type {Map<string, {note: string, untilCleared: boolean}>} item id -> what its card says of the editor's request
   * of it that failed once the editor had left it (a hand edit not saved, which the editor keeps until it says
   * otherwise: `untilCleared`; a Revert; "Looks fine")
   */
  editorFailures: new Map(),
};

/** An item's statuses once its worker is through with it. */
export const FINISHED = ["done", "failed"];
