// The landing page's "after" while a worker is still making the sample cutout: the photo shows faded with a note
// (a browser without JavaScript stops there, and a reload shows the cutout); here the cutout is asked for again when
// its 503 says (Retry-After), and shown once it comes.
const MOST_TRIES = 60;
const waiting = document.querySelector("#sample-cutout[data-cutout]");

async function showWhenMade(tries) {
  let reply = null;
  try {
    reply = await fetch(waiting.dataset.cutout);
  } catch {
    // no answer (server restarting): as a 503 without Retry-After
  }
  if (reply?.ok) {
    waiting.src = URL.createObjectURL(await reply.blob());
    waiting.alt = waiting.dataset.alt;
    waiting.classList.remove("sample-waiting");
    const caption = document.getElementById("sample-caption");
    caption.textContent = caption.dataset.done;
  } else if (tries < MOST_TRIES) {
    const seconds = Number(reply?.headers.get("Retry-After")) || 5;
    setTimeout(() => showWhenMade(tries + 1), seconds * 1000);
  }
}

if (waiting) showWhenMade(1);
