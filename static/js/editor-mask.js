/**
 * The hand editor's changes to the working mask: a stroke of the erase or restore brush painted on it (hard or soft,
 * its size in screen pixels), and their undo history, the last UNDO_STEPS of them, with the Undo and Redo buttons,
 * Ctrl+Z and Ctrl+Shift+Z.
 */

import { session, tool, ui } from "./editor-state.js";
import { render } from "./editor-view.js";

const UNDO_STEPS = 12;

const { dialog, view, sizeInput, softInput, undoButton, redoButton } = ui;

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

/** The stroke (session.stroke) goes on to the working-copy point `x`, `y`, painted from where it was. */
export function paintTo(x, y) {
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

/** The mask as it is, kept to undo the stroke about to start. */
export function remember() {
  const context = session.mask.getContext("2d", { willReadFrequently: true });
  session.undo.push(context.getImageData(0, 0, session.mask.width, session.mask.height));
  if (session.undo.length > UNDO_STEPS) session.undo.shift();
  session.redo = [];
  session.changes += 1;
  updateHistoryButtons();
}

/** A mask whose save failed after the editor left it, painted over the one loaded: one step, which Undo takes back. */
export function restoreDraft(draft) {
  remember();
  const context = session.mask.getContext("2d", { willReadFrequently: true });
  context.globalCompositeOperation = "copy";
  context.drawImage(draft, 0, 0, session.mask.width, session.mask.height);
  context.globalCompositeOperation = "source-over";
  render();
}

/** The mask goes back to the last snapshot of `from` (undo or redo); the mask as it was goes onto `to`. */
export function swapHistory(from, to) {
  const snapshot = from.pop();
  if (!snapshot) return;
  const context = session.mask.getContext("2d", { willReadFrequently: true });
  to.push(context.getImageData(0, 0, session.mask.width, session.mask.height));
  context.putImageData(snapshot, 0, 0);
  session.changes += 1;
  updateHistoryButtons();
  render();
}

export function updateHistoryButtons() {
  const focused = document.activeElement;
  undoButton.disabled = session.undo.length === 0;
  redoButton.disabled = session.redo.length === 0;
  // A focused button that is disabled drops the focus to the page, out of the dialog, where Ctrl+Z no longer reaches
  // the editor: the canvas keeps it instead.
  if (focused instanceof HTMLButtonElement && focused.disabled) view.focus();
}

/** Wire Undo and Redo: their buttons, and Ctrl+Z and Ctrl+Shift+Z anywhere in the editor. */
export function wireHistory() {
  undoButton.addEventListener("click", () => swapHistory(session.undo, session.redo));
  redoButton.addEventListener("click", () => swapHistory(session.redo, session.undo));
  dialog.addEventListener("keydown", (event) => {
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === "z") {
      event.preventDefault();
      swapHistory(...(event.shiftKey ? [session.redo, session.undo] : [session.undo, session.redo]));
    }
  });
}
