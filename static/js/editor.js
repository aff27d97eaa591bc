/**
 * Fix a cutout by hand: erase and restore brushes over the cutout, on a working
 * copy of the mask at most WORKING_SIDE pixels long (a 12-megapixel photo stays
 * responsive); Save sends that mask to POST /api/v1/items/<id>/mask, and the
 * server scales it to full size and composes the result with the batch's options.
 *
 * Everything works from the keyboard as well: every control is a stop of Tab, Escape is Cancel, and on the picture
 * the arrow keys move a brush shown as a ring, which Space paints with (held down while they move it: a line).
 */

import { cardsFirstLink, focusLost } from "./focus.js";
import { pageHeaders } from "./http.js";
import { formatNumber, gettext, interpolate } from "./i18n.js";

// The server's removal.cutout.results.MASK_WORKING_SIDE: it takes no smaller mask than this copy.
const WORKING_SIDE = JSON.parse(document.getElementById("upload-limits").textContent).mask_working_side;
const UNDO_STEPS = 12;

const dialog = document.getElementById("editor");
const view = document.getElementById("editor-canvas");
const title = document.getElementById("editor-title");
const status = document.getElementById("editor-status");
const position = document.getElementById("editor-position");
const sizeInput = document.getElementById("editor-size");
const softInput = document.getElementById("editor-soft");
const undoButton = document.getElementById("editor-undo");
const redoButton = document.getElementById("editor-redo");
const saveButton = document.getElementById("editor-save");
const originalButton = document.getElementById("editor-original");
const revertButton = document.getElementById("editor-revert");
const fineButton = document.getElementById("editor-fine");
const saveNextButton = document.getElementById("editor-save-next");
const sendButtons = [saveButton, revertButton, fineButton, saveNextButton];

const session = {
  item: null,
  onSaved: null,
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
  showOriginal: false,
  backdrop: null,
  openerCard: null, // the card whose control had the focus when the editor opened (its Edit, its badge), if any
};

const tool = () => document.querySelector("input[name=editor-tool]:checked").value;

function canvas(width, height) {
  const made = document.createElement("canvas");
  made.width = width;
  made.height = height;
  return made;
}

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
 * @param {(item: object) => void} onSaved called with the item JSON the server answers
 * @param {{next: (item: object) => object | null, position: (item: object, walked: Set<string>) => {at: number,
 *   count: number}, looksFine: (item: object) => Promise<object>} | null} review
 *   for a cutout that needs a look: the next one that does, where it stands among them, and how to mark one fine
 *   (triage.js); the editor then says "3 of 17", offers "Looks fine" and "Save and next", and goes on to the next
 *   flagged cutout without closing
 */
export async function openEditor(item, backdrop, onSaved, review = null) {
  Object.assign(session, { item, onSaved, review, backdrop, undo: [], redo: [], showOriginal: false, stroke: null });
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
  try {
    // A browser that cannot show the upload itself (HEIC, TIFF) gets the server's upright WebP of it.
    const photo = loadImage(item.original).catch(() => loadImage(item.original_display));
    const [shown, mask] = await Promise.all([photo, loadImage(`${item.mask}?r=${item.revision}`)]);
    prepare(shown, mask);
  } catch (error) {
    status.textContent = interpolate(gettext("The editor could not open this image: %(reason)s"), {
      reason: error.message,
    });
    return;
  }
  dialog.dataset.openMs = String(Math.round(performance.now() - started));
  status.textContent = "";
  saveButton.disabled = saveNextButton.disabled = false;
  updateHistoryButtons();
  dialog.dataset.ready = "true";
}

/** The working copies: the photo and the mask (as alpha) at the same size, at most WORKING_SIDE long. */
function prepare(photo, mask) {
  const scale = Math.min(1, WORKING_SIDE / Math.max(session.item.width, session.item.height));
  const width = Math.max(1, Math.round(session.item.width * scale));
  const height = Math.max(1, Math.round(session.item.height * scale));
  session.photo = canvas(width, height);
  session.photo.getContext("2d").drawImage(photo, 0, 0, width, height);
  session.mask = canvas(width, height);
  const maskContext = session.mask.getContext("2d", { willReadFrequently: true });
  maskContext.drawImage(mask, 0, 0, width, height);
  const pixels = maskContext.getImageData(0, 0, width, height);
  const rgba = pixels.data;
  for (let index = 0; index < rgba.length; index += 4) {
    // The mask's grey becomes the alpha: the canvas composes the cutout with it as its mask.
    rgba[index + 3] = rgba[index];
    rgba[index] = rgba[index + 1] = rgba[index + 2] = 0;
  }
  maskContext.putImageData(pixels, 0, 0);
  session.cutout = canvas(width, height);
  fitView();
}

function fitView() {
  const box = view.getBoundingClientRect(); // its CSS box, the stage's inside (with the stage's border, 2 px too many)
  view.width = Math.max(1, Math.round(box.width));
  view.height = Math.max(1, Math.round(box.height));
  session.zoom = Math.min(view.width / session.mask.width, view.height / session.mask.height);
  session.panX = (view.width - session.mask.width * session.zoom) / 2;
  session.panY = (view.height - session.mask.height * session.zoom) / 2;
  render();
}

function render() {
  if (!session.mask) return;
  const cutout = session.cutout.getContext("2d");
  cutout.globalCompositeOperation = "copy";
  cutout.drawImage(session.photo, 0, 0);
  if (!session.showOriginal) {
    cutout.globalCompositeOperation = "destination-in";
    cutout.drawImage(session.mask, 0, 0);
  }
  const context = view.getContext("2d");
  context.setTransform(1, 0, 0, 1, 0, 0);
  context.clearRect(0, 0, view.width, view.height);
  context.setTransform(session.zoom, 0, 0, session.zoom, session.panX, session.panY);
  context.drawImage(session.cutout, 0, 0);
  if (session.cursorShown && session.cursor) drawBrushRing(context);
}

/** The keyboard's brush, as a ring of its size (dark inside light, seen on any photo). */
function drawBrushRing(context) {
  const [x, y] = toView(...session.cursor);
  context.setTransform(1, 0, 0, 1, 0, 0);
  for (const [colour, width] of [["#fff", 4], ["#000", 1.5]]) {
    context.strokeStyle = colour;
    context.lineWidth = width;
    context.beginPath();
    context.arc(x, y, Math.max(2, Number(sizeInput.value) / 2), 0, Math.PI * 2);
    context.stroke();
  }
}

/** A view pixel as a working-copy pixel. */
function toMask(x, y) {
  return [(x - session.panX) / session.zoom, (y - session.panY) / session.zoom];
}

/** A working-copy pixel as a view pixel. */
function toView(x, y) {
  return [x * session.zoom + session.panX, y * session.zoom + session.panY];
}

function viewPoint(event) {
  const box = view.getBoundingClientRect();
  return [((event.clientX - box.left) * view.width) / box.width, ((event.clientY - box.top) * view.height) / box.height];
}

/** One dab of the brush at a working-copy point: erase lowers the mask, restore raises it. */
function dab(context, x, y, radius, soft) {
  if (soft) {
    const gradient = context.createRadialGradient(x, y, 0, x, y, radius);
    gradient.addColorStop(0, "rgba(0,0,0,1)");
    gradient.addColorStop(0.4, "rgba(0,0,0,0.8)");
    gradient.addColorStop(1, "rgba(0,0,0,0)");
    context.fillStyle = gradient;
  } else {
    context.fillStyle = "#000";
  }
  context.beginPath();
  context.arc(x, y, radius, 0, Math.PI * 2);
  context.fill();
}

function paintTo(x, y) {
  const context = session.mask.getContext("2d", { willReadFrequently: true });
  context.globalCompositeOperation = tool() === "erase" ? "destination-out" : "source-over";
  // The brush size is in screen pixels, so it feels the same at any zoom.
  const radius = Math.max(0.5, Number(sizeInput.value) / 2 / session.zoom);
  const soft = softInput.checked;
  const [lastX, lastY] = session.stroke.last;
  const steps = Math.max(1, Math.ceil(Math.hypot(x - lastX, y - lastY) / Math.max(1, radius / 4)));
  for (let step = 1; step <= steps; step += 1) {
    dab(context, lastX + ((x - lastX) * step) / steps, lastY + ((y - lastY) * step) / steps, radius, soft);
  }
  session.stroke.last = [x, y];
  render();
}

function remember() {
  const context = session.mask.getContext("2d", { willReadFrequently: true });
  session.undo.push(context.getImageData(0, 0, session.mask.width, session.mask.height));
  if (session.undo.length > UNDO_STEPS) session.undo.shift();
  session.redo = [];
  updateHistoryButtons();
}

function swapHistory(from, to) {
  const snapshot = from.pop();
  if (!snapshot) return;
  const context = session.mask.getContext("2d", { willReadFrequently: true });
  to.push(context.getImageData(0, 0, session.mask.width, session.mask.height));
  context.putImageData(snapshot, 0, 0);
  updateHistoryButtons();
  render();
}

function updateHistoryButtons() {
  const focused = document.activeElement;
  undoButton.disabled = session.undo.length === 0;
  redoButton.disabled = session.redo.length === 0;
  // A focused button that is disabled drops the focus to the page, out of the dialog, where Ctrl+Z no longer reaches
  // the editor: the canvas keeps it instead.
  if (focused instanceof HTMLButtonElement && focused.disabled) view.focus();
}

function zoomAt(x, y, factor) {
  const zoom = Math.min(64, Math.max(0.02, session.zoom * factor));
  session.panX = x - ((x - session.panX) * zoom) / session.zoom;
  session.panY = y - ((y - session.panY) * zoom) / session.zoom;
  session.zoom = zoom;
}

function pinchState() {
  const [a, b] = [...session.pointers.values()];
  return { distance: Math.hypot(a.x - b.x, a.y - b.y) || 1, midX: (a.x + b.x) / 2, midY: (a.y + b.y) / 2 };
}

view.addEventListener("pointerdown", (event) => {
  if (!session.mask || dialog.dataset.ready !== "true") return;
  session.cursorShown = false; // the pointer paints: the keyboard's ring is not where it would
  render();
  view.setPointerCapture(event.pointerId);
  const [x, y] = viewPoint(event);
  session.pointers.set(event.pointerId, { x, y });
  if (session.pointers.size === 2) {
    // A second finger turns the gesture into pinch and pan; the first finger's dab is undone.
    if (session.stroke) swapHistory(session.undo, []);
    session.stroke = null;
    session.pinch = pinchState();
    return;
  }
  const panning = tool() === "pan" || event.button === 1 || event.button === 2;
  if (panning) {
    session.pinch = { distance: 0, midX: x, midY: y };
    return;
  }
  remember();
  session.stroke = { last: toMask(x, y) };
  paintTo(...toMask(x, y));
});

view.addEventListener("pointermove", (event) => {
  if (!session.pointers.has(event.pointerId)) return;
  const [x, y] = viewPoint(event);
  session.pointers.set(event.pointerId, { x, y });
  if (session.pinch && session.pointers.size === 2) {
    const now = pinchState();
    session.panX += now.midX - session.pinch.midX;
    session.panY += now.midY - session.pinch.midY;
    zoomAt(now.midX, now.midY, now.distance / session.pinch.distance);
    session.pinch = now;
    render();
  } else if (session.pinch) {
    session.panX += x - session.pinch.midX;
    session.panY += y - session.pinch.midY;
    session.pinch = { distance: 0, midX: x, midY: y };
    render();
  } else if (session.stroke) {
    // Coalesced events keep a fast pen stroke smooth.
    for (const sample of event.getCoalescedEvents?.() ?? [event]) paintTo(...toMask(...viewPoint(sample)));
  }
});

function pointerEnd(event) {
  session.pointers.delete(event.pointerId);
  if (session.pointers.size < 2) session.pinch = null;
  if (session.pointers.size === 0) session.stroke = null;
}
view.addEventListener("pointerup", pointerEnd);
view.addEventListener("pointercancel", pointerEnd);
view.addEventListener("contextmenu", (event) => event.preventDefault());
view.addEventListener(
  "wheel",
  (event) => {
    event.preventDefault();
    if (!session.mask) return;
    const [x, y] = viewPoint(event);
    zoomAt(x, y, Math.exp(-event.deltaY / 300));
    render();
  },
  { passive: false },
);

// --- the keyboard's brush: painting is a path, but a keyboard can draw one too ------------------------------------

const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

/** Where the keyboard's brush starts: the middle of the photo. */
function showCursor() {
  session.cursor ??= [session.mask.width / 2, session.mask.height / 2];
  session.cursorShown = true;
}

/** The brush moved by the keyboard, `dx` and `dy` in working-copy pixels: kept on the photo, and the view follows it. */
function moveCursor(dx, dy) {
  const [x, y] = session.cursor;
  const clamp = (value, most) => Math.min(most, Math.max(0, value));
  session.cursor = [clamp(x + dx, session.mask.width), clamp(y + dy, session.mask.height)];
  const margin = Math.min(Number(sizeInput.value), view.width / 4, view.height / 4);
  const [viewX, viewY] = toView(...session.cursor);
  session.panX += Math.max(0, margin - viewX) - Math.max(0, viewX - (view.width - margin));
  session.panY += Math.max(0, margin - viewY) - Math.max(0, viewY - (view.height - margin));
  if (session.stroke?.byKeys) paintTo(...session.cursor);
  else render();
}

view.addEventListener("keydown", (event) => {
  if (!session.mask || dialog.dataset.ready !== "true" || event.ctrlKey || event.metaKey || event.altKey) return;
  const arrow = ARROWS[event.key];
  if (!arrow && event.key !== " ") return;
  event.preventDefault(); // not the dialog's scrolling
  showCursor();
  if (arrow) {
    // In screen pixels, as the brush's size: a quarter of the brush a step, the whole brush with Shift.
    const step = (Number(sizeInput.value) * (event.shiftKey ? 1 : 0.25)) / session.zoom;
    moveCursor(arrow[0] * step, arrow[1] * step);
  } else if (!event.repeat && tool() !== "pan" && !session.stroke) {
    remember();
    session.stroke = { last: session.cursor, byKeys: true };
    paintTo(...session.cursor);
  }
});
view.addEventListener("keyup", (event) => {
  if (event.key === " " && session.stroke?.byKeys) session.stroke = null;
});
view.addEventListener("focus", () => {
  if (!session.mask || !view.matches(":focus-visible")) return; // a click's focus: the pointer paints
  showCursor();
  moveCursor(0, 0); // in view, wherever a zoom since has left it
});
view.addEventListener("blur", () => {
  if (session.stroke?.byKeys) session.stroke = null;
  session.cursorShown = false;
  render();
});

/** Zoom in or out by `factor`, about the keyboard's brush once it has been used, else about the middle of the view. */
function zoomBy(factor) {
  if (!session.mask) return;
  const [x, y] = session.cursor ? toView(...session.cursor) : [view.width / 2, view.height / 2];
  zoomAt(x, y, factor);
  render();
}

undoButton.addEventListener("click", () => swapHistory(session.undo, session.redo));
redoButton.addEventListener("click", () => swapHistory(session.redo, session.undo));
document.getElementById("editor-fit").addEventListener("click", fitView);
document.getElementById("editor-zoom-in").addEventListener("click", () => zoomBy(1.5));
document.getElementById("editor-zoom-out").addEventListener("click", () => zoomBy(1 / 1.5));
originalButton.addEventListener("click", () => {
  session.showOriginal = !session.showOriginal;
  originalButton.setAttribute("aria-pressed", String(session.showOriginal));
  render();
});
/** Whether the editor may close: nothing painted since it opened, or the user agrees to lose it. */
function mayDiscard() {
  return session.undo.length === 0 || window.confirm(gettext("Discard the changes you have not saved?"));
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
    return;
  }
  const key = event.key.toLowerCase();
  if ((event.ctrlKey || event.metaKey) && key === "z") {
    event.preventDefault();
    swapHistory(...(event.shiftKey ? [session.redo, session.undo] : [session.undo, session.redo]));
  }
});

/**
 * Where the cutout stands among those that need a look, "Looks fine" and "Save and next", for a cutout that needs a
 * look; "next" only when another one does too.
 */
function showReviewButtons() {
  session.inWalk = Boolean(session.review && session.item.needs_review);
  if (session.inWalk) session.walked.add(session.item.id);
  fineButton.hidden = !session.inWalk;
  fineButton.disabled = false;
  saveNextButton.disabled = true; // until the cutout is loaded, as Save
  showWalkPlace();
}

/**
 * The walk's count and its "next" buttons, from the page's cards as they are now: cutouts marked fine or made again
 * (in another tab, by a program) or removed since the cutout was opened leave the count, new flagged ones join it.
 */
function showWalkPlace() {
  const place = session.inWalk ? session.review.position(session.item, session.walked) : null;
  // at is 0 once the cutout shown is itself gone (removed elsewhere): no place to say.
  const counted = place?.at && { at: formatNumber(place.at), count: formatNumber(place.count) };
  position.hidden = !counted;
  position.textContent = counted ? interpolate(gettext("Needs a look: %(at)s of %(count)s"), counted) : "";
  const next = session.inWalk ? session.review.next(session.item) : null;
  fineButton.textContent = next ? gettext("Looks fine, next") : gettext("Looks fine");
  saveNextButton.hidden = !next;
  saveButton.classList.toggle("primary", !next); // the walk's own button is the one to press
}

/** The page's cards changed (an item's news, a removal): an open walk's count follows them. */
export function followWalk() {
  if (dialog.open && session.inWalk) showWalkPlace();
}

/**
 * Send the mask (or, with no body, DELETE it: back to the model's cutout), or mark the cutout fine; the item JSON
 * goes to onSaved. Then the editor closes, or with `thenNext` opens on the next cutout that needs a look.
 */
async function send(request, { thenNext = false } = {}) {
  const pressed = document.activeElement;
  for (const button of sendButtons) button.disabled = true;
  status.textContent = gettext("Saving…");
  const started = performance.now();
  try {
    session.onSaved(await request());
    dialog.dataset.saveMs = String(Math.round(performance.now() - started));
  } catch (error) {
    status.textContent = interpolate(gettext("Not saved: %(reason)s"), { reason: error.message });
    for (const button of sendButtons) button.disabled = false;
    if (focusLost()) pressed.focus(); // disabled while the request was out, the button had let go of it
    return;
  }
  const next = thenNext && session.review ? session.review.next(session.item) : null;
  if (!next) {
    dialog.close();
    return;
  }
  await openEditor(next, session.backdrop, session.onSaved, session.review);
  // The pressed button let go of the focus while disabled, and a keyboard had none in the dialog: it takes it back
  // on the next cutout ("Looks fine, next" again), else the brush's tool does ("Looks fine" gone).
  if (focusLost() && dialog.open) {
    const again = pressed instanceof HTMLButtonElement && !pressed.hidden && !pressed.disabled;
    (again ? pressed : document.querySelector("input[name=editor-tool]:checked")).focus();
  }
}

/** The mask request: the edited mask POSTed, or with no body a DELETE (back to the model's cutout). */
async function maskRequest(method, body) {
  const reply = await fetch(session.item.mask, {
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

saveButton.addEventListener("click", () => send(async () => maskRequest("POST", await editedMask())));
saveNextButton.addEventListener("click", () =>
  send(async () => maskRequest("POST", await editedMask()), { thenNext: true }),
);
revertButton.addEventListener("click", () => {
  // Every hand edit of the cutout goes, the saved ones too: asked first, as Remove is.
  const question = gettext("Revert to the model’s cutout? Every hand edit of this cutout, saved or not, is lost.");
  if (window.confirm(question)) send(() => maskRequest("DELETE", null));
});
fineButton.addEventListener("click", () => send(() => session.review.looksFine(session.item), { thenNext: true }));

// The canvas's pixels are fitted to its box whenever the box changes: the window's size, a phone turned, and the
// dialog's own lines (its status, "Loading…" while the first fit was made, then empty: the box grew 15 px and the
// photo was stretched that much, until the window was resized).
new ResizeObserver(() => {
  if (dialog.open && session.mask) fitView();
}).observe(view);
