/**
 * The settings panel of the upload page: the output options of a batch
 * (removal/cutout/options.py), sent as form fields with the upload that creates the
 * batch or with a re-run, and shown from a batch's stored `options` JSON.
 */

import { formatNumber, gettext, interpolate } from "./i18n.js";

const form = document.getElementById("batch-options");
/** Each option's default, values and pattern, from its declaration (removal/cutout/options.py OPTIONS). */
const declared = JSON.parse(document.getElementById("option-choices").textContent);
const field = {
  all: document.getElementById("options-fields"),
  format: document.getElementById("opt-format"),
  formatHint: document.getElementById("opt-format-hint"),
  transparent: document.getElementById("opt-transparent"),
  bgColor: document.getElementById("opt-bg-color"),
  crop: document.getElementById("opt-crop"),
  cropMargin: document.getElementById("opt-crop-margin"),
  mask: document.getElementById("opt-mask"),
  size: document.getElementById("opt-size"),
  sizeCustom: document.getElementById("opt-size-custom"),
  width: document.getElementById("opt-width"),
  height: document.getElementById("opt-height"),
  model: document.getElementById("opt-model"),
  quality: document.getElementById("opt-quality"),
  measured: document.getElementById("opt-measured"),
  extra: document.getElementById("options-extra"),
};

/** The model the panel should show once the installed list has arrived. */
let wantedModel = null;

/** Enable and show the fields that depend on others, after any change. */
function syncDependents() {
  field.bgColor.disabled = field.transparent.checked;
  field.cropMargin.disabled = !field.crop.checked;
  const custom = field.size.value === "custom";
  field.sizeCustom.hidden = !custom;
  field.width.required = field.height.required = custom;
  field.formatHint.hidden = !(field.format.value === "jpg" && field.transparent.checked);
}

/** Fill the model list from GET /api/v1/models ({"models": [...], "default": "u2netp"}). */
export async function loadModels(url) {
  let installed = { models: [], default: "" };
  try {
    const reply = await fetch(url, { headers: { Accept: "application/json" } });
    if (reply.ok) installed = await reply.json();
  } catch {
    // Offline: the server's default model is used when none is sent.
  }
  const names = installed.models.length ? installed.models : [installed.default].filter(Boolean);
  field.model.replaceChildren(
    ...names.map((name) => new Option(name === installed.default ? interpolate(gettext("%(name)s (default)"), { name }) : name, name)),
  );
  selectModel(wantedModel ?? installed.default);
  // A batch's settings shown before the list arrived had no model selected yet (none stored: the default).
  if (field.all.disabled) shown.fields = fieldsKey();
  measured = installed.measured ?? {};
  showMeasured();
}

/** What `make quality` measured on real photos ({"photos", "models": {name: {preset: figures}}}). */
let measured = {};

/** The selected model and preset's measured quality and speed, when the server has them. */
function showMeasured() {
  const figures = measured.models?.[field.model.value]?.[field.quality.value];
  field.measured.hidden = !figures;
  if (!figures) {
    field.measured.textContent = "";
    return;
  }
  field.measured.textContent = interpolate(
    gettext(
      "Measured on %(photos)s real photos: IoU %(iou)s, alpha error %(mae)s/255, background left %(residue)s %, %(ms)s ms per photo on the benchmark machine.",
    ),
    {
      photos: formatNumber(measured.photos),
      iou: formatNumber(figures.iou, 3),
      mae: formatNumber(figures.mae, 1),
      residue: formatNumber(figures.residue, 1),
      ms: formatNumber(Math.round(figures.ms_per_image)),
    },
  );
}

function selectModel(name) {
  if (!name) return;
  if (![...field.model.options].some((option) => option.value === name)) field.model.add(new Option(name, name));
  field.model.value = name;
}

/** The panel's values as [name, value] form fields, as the batch API takes them. */
export function optionFields() {
  const fields = [
    ["format", field.format.value],
    ["crop", field.crop.checked ? "true" : "false"],
    ["channels", field.mask.checked ? "alpha" : "rgba"],
  ];
  if (!field.transparent.checked) fields.push(["bg_color", field.bgColor.value]);
  if (field.crop.checked) fields.push(["crop_margin", field.cropMargin.value.trim() || "0"]);
  const size = field.size.value === "custom" ? `${field.width.value}x${field.height.value}` : field.size.value;
  fields.push(["size", size]);
  if (field.model.value) fields.push(["model", field.model.value]);
  fields.push(["quality", field.quality.value]);
  return fields;
}

/**
 * What the panel last showed of a batch's own settings (showOptions, loadModels), as optionsChanged reads: its values,
 * and whether the batch had settings the panel cannot hold (which a re-run from here leaves out).
 */
const shown = { fields: null, extras: false };

const fieldsKey = () => JSON.stringify(optionFields());

/** Whether a re-run with the panel's values would make something new: a value changed, or the batch's extras left out. */
export function optionsChanged() {
  return shown.extras || fieldsKey() !== shown.fields;
}

/** True when the values can be sent; otherwise the browser points at the bad field. */
export function checkOptions() {
  return form.reportValidity();
}

/** Lock the panel (a batch's settings cannot change) or open it for editing (before a re-run). */
export function setEditable(editable) {
  field.all.disabled = !editable;
  form.classList.remove("folded"); // a phone folds them while locked, and shows them while they may change
}

/**
 * Show a batch's stored options (Options.to_json in removal/cutout/options.py).
 * An empty object means the defaults.
 */
export function showOptions(stored) {
  const options = stored ?? {};
  field.format.value = options.format ?? declared.format.default;
  field.transparent.checked = !options.bg_color;
  if (options.bg_color) field.bgColor.value = hexColor(options.bg_color);
  field.crop.checked = Boolean(options.crop);
  field.cropMargin.value = options.crop_margin_sides
    ? options.crop_margin_sides.join(" ")
    : `${options.crop_margin ?? declared.crop_margin.default}${options.crop_margin_percent ? "%" : "px"}`;
  field.mask.checked = options.channels === "alpha";
  if (options.size_bound) {
    field.size.value = "custom";
    [field.width.value, field.height.value] = options.size_bound;
  } else {
    field.size.value = options.size_preview ? "preview" : declared.size.default;
  }
  wantedModel = options.model || null;
  selectModel(wantedModel);
  field.quality.value = options.quality ?? declared.quality.default;
  showMeasured();

  // What the panel cannot set (API-only options), and so a re-run does not carry over.
  const extras = [];
  if (options.alpha_matting) extras.push(gettext("alpha matting"));
  if (options.bg_image_sha256) extras.push(gettext("a background image"));
  field.extra.textContent = extras.length
    ? interpolate(
        gettext("This batch also used %(extras)s (set through the API); a re-run from here leaves them out."),
        { extras: extras.join(gettext(" and ")) },
      )
    : "";
  field.extra.hidden = !extras.length;
  syncDependents();
  Object.assign(shown, { fields: fieldsKey(), extras: extras.length > 0 });
}

/**
 * What a cutout of a batch with these options lies on: the chosen background
 * colour as CSS, or null for transparency (shown on a checkerboard).
 */
export function backdropColor(stored) {
  const color = stored?.bg_color;
  if (!color) return null;
  const [red, green, blue, alpha = 255] = color;
  return `rgb(${red} ${green} ${blue} / ${(alpha / 255).toFixed(3)})`;
}

/** The file type of a batch's results, as a label: PNG, WEBP, JPG. */
export function resultLabel(stored) {
  return (stored?.format ?? "png").toUpperCase();
}

function hexColor([red, green, blue]) {
  return `#${[red, green, blue].map((part) => part.toString(16).padStart(2, "0")).join("")}`;
}

// On a phone a new batch's settings are folded (site.css) until this button opens them.
document.getElementById("options-show").addEventListener("click", () => {
  form.classList.remove("folded");
  field.format.focus();
});

form.addEventListener("change", () => {
  syncDependents();
  showMeasured();
});
syncDependents();
