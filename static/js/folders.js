/**
 * Whole folders, dropped or chosen: their image files, found by name as the CLI finds them in a folder
 * (client/bgsite_client/folder.py: the same image suffixes, no hidden file), in name order. Unlike the CLI,
 * the page leaves videos out of a folder: a phone's export holds a Live Photo's clip beside each photo. Files
 * dropped or chosen one by one are taken as they are (the server says why one is refused); in a folder, what
 * is left out (a .DS_Store, a clip, a sidecar) is counted, so a folder of 400 photos does not come back with
 * a refusal per stray file.
 */

const IMAGE_NAME = /\.(jpe?g|png|webp|gif|bmp|tiff?|heic|heif|avif)$/i;

const byPath = new Intl.Collator(undefined, { numeric: true });

/** @typedef {{files: File[], skipped: number, folder: string}} Found folder: the one folder they came from, or "" */

/**
 * Of files that came out of folders, each with its path there, the images, in path order.
 * @param {[string, File][]} found [path, file] pairs
 * @returns {Found}
 */
export function imagesOfFolder(found) {
  const hidden = (path) => path.split("/").some((part) => part.startsWith("."));
  const images = found.filter(([path, file]) => !hidden(path) && IMAGE_NAME.test(file.name));
  images.sort(([a], [b]) => byPath.compare(a, b));
  const tops = new Set(found.map(([path]) => (path.includes("/") ? path.split("/")[0] : "")));
  const folder = tops.size === 1 ? [...tops][0] : "";
  return { files: images.map(([, file]) => file), skipped: found.length - images.length, folder };
}

/**
 * The files of a drop: each dropped file as it is, each dropped folder's images (imagesOfFolder).
 * Must be called in the drop event itself: its items are readable only then.
 * @returns {Promise<Found>}
 */
export async function filesOfDrop(dataTransfer) {
  const entries = [...dataTransfer.items].map((item) => item.webkitGetAsEntry?.() ?? null);
  if (!entries.some((entry) => entry?.isDirectory)) return { files: [...dataTransfer.files], skipped: 0, folder: "" };
  const loose = [];
  const inFolders = [];
  for (const entry of entries.filter(Boolean)) {
    if (entry.isDirectory) inFolders.push(...(await filesUnder(entry)));
    else loose.push(await fileOf(entry));
  }
  const found = imagesOfFolder(inFolders);
  return { files: [...loose, ...found.files], skipped: found.skipped, folder: loose.length ? "" : found.folder };
}

/** [path, file] for every file under a directory entry, at any depth. */
async function filesUnder(directory) {
  const found = [];
  for (const entry of await entriesOf(directory)) {
    if (entry.isDirectory) found.push(...(await filesUnder(entry)));
    else found.push([entry.fullPath.replace(/^\//, ""), await fileOf(entry)]);
  }
  return found;
}

/** Every entry of a directory: readEntries gives them a hundred at a time, then nothing. */
async function entriesOf(directory) {
  const reader = directory.createReader();
  const entries = [];
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) return entries;
    entries.push(...batch);
  }
}

function fileOf(entry) {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}
