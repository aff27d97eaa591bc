/**
 * The hand editor's picture: the working copies of the photo and the mask, at most WORKING_SIDE pixels long (a
 * 12-megapixel photo stays responsive), and the view of them on the canvas: its zoom and pan, fitted to the canvas's
 * box, the photo drawn through the mask (or whole, with "Show original") and the keyboard's brush as a ring; with the
 * toolbar's zoom buttons, Fit and "Show original".
 */

import { session, ui } from "./editor-state.js";

// The server's removal.cutout.results.MASK_WORKING_SIDE: it takes no smaller mask than this copy.
const WORKING_SIDE = JSON.parse(document.getElementById("upload-limits").textContent).mask_working_side;

const { dialog, view, sizeInput, originalButton } = ui;

function canvas(width, height) {
  const made = document.createElement("canvas");
  made.width = width;
  made.height = height;
  return made;
}

/** The working copies: the photo and the mask (as alpha) at the same size, at most WORKING_SIDE long. */
export function prepare(photo, mask) {
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

export function render() {
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
export function toMask(x, y) {
  return [(x - session.panX) / session.zoom, (y - session.panY) / session.zoom];
}

/** A working-copy pixel as a view pixel. */
export function toView(x, y) {
  return [x * session.zoom + session.panX, y * session.zoom + session.panY];
}

/** Where a pointer event is, in view pixels. */
export function viewPoint(event) {
  const box = view.getBoundingClientRect();
  return [((event.clientX - box.left) * view.width) / box.width, ((event.clientY - box.top) * view.height) / box.height];
}

/** Zoom by `factor` about the view pixel `x`, `y` (it stays where it is on the screen); drawn by the caller. */
export function zoomAt(x, y, factor) {
  const zoom = Math.min(64, Math.max(0.02, session.zoom * factor));
  session.panX = x - ((x - session.panX) * zoom) / session.zoom;
  session.panY = y - ((y - session.panY) * zoom) / session.zoom;
  session.zoom = zoom;
}

/** Zoom in or out by `factor`, about the keyboard's brush once it has been used, else about the middle of the view. */
function zoomBy(factor) {
  if (!session.mask) return;
  const [x, y] = session.cursor ? toView(...session.cursor) : [view.width / 2, view.height / 2];
  zoomAt(x, y, factor);
  render();
}

/** Wire the toolbar's view controls, and keep the canvas fitted to its box. */
export function wireView() {
  document.getElementById("editor-fit").addEventListener("click", fitView);
  document.getElementById("editor-zoom-in").addEventListener("click", () => zoomBy(1.5));
  document.getElementById("editor-zoom-out").addEventListener("click", () => zoomBy(1 / 1.5));
  originalButton.addEventListener("click", () => {
    session.showOriginal = !session.showOriginal;
    originalButton.setAttribute("aria-pressed", String(session.showOriginal));
    render();
  });
  // The canvas's pixels are fitted to its box whenever the box changes: the window's size, a phone turned, and the
  // dialog's own lines (its status, "Loading…" while the first fit was made, then empty: the box grew 15 px and the
  // photo was stretched that much, until the window was resized).
  new ResizeObserver(() => {
    if (dialog.open && session.mask) fitView();
  }).observe(view);
}
