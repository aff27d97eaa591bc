/**
 * What the hand editor's modules share: the dialog's elements, the tool chosen, and the session (the cutout open,
 * its working copies, the view of them, the brush, the undo history). editor.js opens and closes the editor;
 * editor-view.js draws the picture, editor-mask.js paints the mask and keeps its history, editor-brush.js turns the
 * pointer and the keyboard into strokes, editor-walk.js shows the walk through the flagged cutouts, and
 * editor-save.js sends the result.
 */

export const ui = {
  dialog: document.getElementById("editor"),
  view: document.getElementById("editor-canvas"),
  title: document.getElementById("editor-title"),
  status: document.getElementById("editor-status"),
  position: document.getElementById("editor-position"),
  sizeInput: document.getElementById("editor-size"),
  softInput: document.getElementById("editor-soft"),
  undoButton: document.getElementById("editor-undo"),
  redoButton: document.getElementById("editor-redo"),
  saveButton: document.getElementById("editor-save"),
  originalButton: document.getElementById("editor-original"),
  revertButton: document.getElementById("editor-revert"),
  fineButton: document.getElementById("editor-fine"),
  saveNextButton: document.getElementById("editor-save-next"),
};

export const session = {
  opening: 0, // how many times the editor was opened: what comes back for an earlier opening is not the open cutout's
  item: null,
  news: null, // {saved, failed, failureCleared}: what the page hears of the cutout's requests (openEditor)
  review: null, // {next, position, looksFine} while going through the flagged cutouts (openEditor)
  inWalk: false, // the cutout shown is one of a walk through the flagged ones (it needed a look when it opened)
  walked: new Set(), // ids of the flagged cutouts shown since the editor opened: their places in the count stay
  photo: null, // canvas: the original at working size
  mask: null, // canvas: black, its alpha the mask
  cutout: null, // canvas: photo shown through the mask
  zoom: 1,
  panX: 0,
  panY: 0,
  pointers: new Map(), // pointerId -> {x, y} in view pixels
  stroke: null, // {last: [x, y], byKeys} while painting
  cursor: null, // [x, y] in working-copy pixels: where the keyboard's brush is (moveCursor)
  cursorShown: false, // the keyboard's brush ring is drawn: the picture has the keyboard's focus
  pinch: null, // {distance, midX, midY} while two fingers are down
  undo: [],
  redo: [],
  changes: 0, // how many times the mask changed since the editor opened: strokes, undone and redone
  sentChanges: null, // `changes` when the request now out was pressed (Save, Revert, "Looks fine"): its, if equal
  drafts: new Map(), // item id -> the mask (a PNG Blob) whose save failed after the editor had left it: opened again
  saving: new Map(), // item id -> its mask's save or Revert now out, resolved once handled: the item JSON, or null
  showOriginal: false,
  backdrop: null,
  openerCard: null, // the card whose control had the focus when the editor opened (its Edit, its badge), if any
};

/** Whether the editor is open still on the cutout it was opened on as `opening` (session.opening then). */
export const stillOpen = (opening) => opening === session.opening && ui.dialog.open;

/** The brush's tool chosen: "erase", "restore" or "pan". */
export const tool = () => document.querySelector("input[name=editor-tool]:checked").value;
