/**
 * Words and numbers for the scripts, in the page's language. The strings come from
 * Django's JavaScript catalog (/jsi18n/, loaded by base.html before the modules);
 * write each one as a literal `gettext("...")` call, so that `makemessages -d djangojs`
 * finds it (docs/translations.md).
 */

const catalog = globalThis.django;
const locale = document.documentElement.lang || undefined;

/** The translation of `text`, or `text` itself when there is none (or no catalog). */
export function gettext(text) {
  return catalog ? catalog.gettext(text) : text;
}

/** The singular or the plural form for `count`, translated. */
export function ngettext(singular, plural, count) {
  if (catalog) return catalog.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}

/** `text` with each %(name)s replaced by values[name]. */
export function interpolate(text, values) {
  return text.replace(/%\((\w+)\)s/g, (_, name) => String(values[name]));
}

/**
 * A number written as the page's language writes it (decimal comma in German, French, Spanish), with the separators
 * the server writes the page's own numbers with (Django's formats, in the catalog): Intl's Spanish wrote "1000" and
 * "21.000" where the server's "1 000 imágenes por lote" stood beside them.
 */
export function formatNumber(value, fractionDigits = 0) {
  if (!catalog?.get_format) return numberFormat(locale, fractionDigits).format(value);
  const [whole, fraction] = numberFormat("en-US", fractionDigits, false).format(value).split(".");
  const grouping = Number(catalog.get_format("NUMBER_GROUPING"));
  const grouped =
    grouping > 0
      ? whole.replace(new RegExp(`\\B(?=(\\d{${grouping}})+$)`, "g"), catalog.get_format("THOUSAND_SEPARATOR"))
      : whole;
  return fraction ? grouped + catalog.get_format("DECIMAL_SEPARATOR") + fraction : grouped;
}

/**
 * An Intl.NumberFormat, made once for its arguments: made at each call, they took half a second of a batch page's
 * thousand cards (each card's processing time).
 */
const numberFormats = new Map();
function numberFormat(locales, fractionDigits, useGrouping = undefined) {
  const key = `${locales} ${fractionDigits} ${useGrouping}`;
  if (!numberFormats.has(key)) {
    const options = { minimumFractionDigits: fractionDigits, maximumFractionDigits: fractionDigits, useGrouping };
    numberFormats.set(key, new Intl.NumberFormat(locales, options));
  }
  return numberFormats.get(key);
}
