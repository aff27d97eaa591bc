/**
 * Work done at the page's next frame: asked for many times in between (a burst of websocket messages), done once.
 */

// A tab in the background gets no frames: its work is done after this long instead (its timers slowed down by the
// browser), so that its title still tells the batch's progress.
const NO_FRAME_WAIT_MS = 100;

/**
 * `work` made into a function that asks for it: it runs once at the next frame however often it was asked for
 * meanwhile (asked for while it runs, at the frame after).
 * @param {() => void} work
 * @returns {() => void}
 */
export function oncePerFrame(work) {
  let pending = false;
  const run = () => {
    pending = false;
    work();
  };
  return () => {
    if (pending) return;
    pending = true;
    atNextFrame(run);
  };
}

/** Call `callback` once, at the next frame, or after NO_FRAME_WAIT_MS if no frame comes by then. */
function atNextFrame(callback) {
  let frame = 0;
  let timer = 0;
  const once = () => {
    cancelAnimationFrame(frame);
    clearTimeout(timer);
    callback();
  };
  frame = requestAnimationFrame(once);
  timer = setTimeout(once, NO_FRAME_WAIT_MS);
}
