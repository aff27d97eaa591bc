/**
 * What paints in the hand editor, on its canvas. The pointer: a mouse, a pen or a finger paints with the tool
 * chosen; the Pan tool, the middle or right button and two fingers pan (two fingers pinch to zoom too), and the
 * wheel zooms. The keyboard: painting is a path, but a keyboard can draw one too; the arrow keys move a brush shown
 * as a ring, which Space paints with (held down while they move it: a line).
 */

import { paintTo, remember, swapHistory } from "./editor-mask.js";
import { session, tool, ui } from "./editor-state.js";
import { render, toMask, toView, viewPoint, zoomAt } from "./editor-view.js";

const { dialog, view, sizeInput } = ui;

const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

function pinchState() {
  const [a, b] = [...session.pointers.values()];
  return { distance: Math.hypot(a.x - b.x, a.y - b.y) || 1, midX: (a.x + b.x) / 2, midY: (a.y + b.y) / 2 };
}

function pointerDown(event) {
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
}

function pointerMove(event) {
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
}

function pointerEnd(event) {
  session.pointers.delete(event.pointerId);
  if (session.pointers.size < 2) session.pinch = null;
  if (session.pointers.size === 0) session.stroke = null;
}

function wheel(event) {
  event.preventDefault();
  if (!session.mask) return;
  const [x, y] = viewPoint(event);
  zoomAt(x, y, Math.exp(-event.deltaY / 300));
  render();
}

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

function keyDown(event) {
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
}

/** Wire the canvas to the pointer and the keyboard. */
export function wireBrush() {
  view.addEventListener("pointerdown", pointerDown);
  view.addEventListener("pointermove", pointerMove);
  view.addEventListener("pointerup", pointerEnd);
  view.addEventListener("pointercancel", pointerEnd);
  view.addEventListener("contextmenu", (event) => event.preventDefault());
  view.addEventListener("wheel", wheel, { passive: false });
  view.addEventListener("keydown", keyDown);
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
}
