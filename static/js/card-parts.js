/**
 * The parts of a batch page's card that most cards never show: a badge ("reused", "needs a look"), the upload's bar,
 * an error, a button for a state the card is not in. The page's template marks each with data-part; they are taken
 * out of it once, and put in a card only while it shows them. A card held each of them hidden: at 1,000 cards, 61
 * nodes a card, 61,000 in all, for the browser to keep, match styles against and clone.
 */

const template = document.getElementById("item-template").content.firstElementChild;

/** A selector for an element of the template among its siblings: its classes. */
const byClasses = (element) => `:scope > ${[...element.classList].map((name) => `.${CSS.escape(name)}`).join("")}`;

/**
 * part name -> the part (to clone), a selector for its parent in a card, and selectors for the siblings that follow it
 * in the template, nearest first: a part made later goes before the first of those the card has.
 * @type {Map<string, {part: HTMLElement, parent: string, following: string[]}>}
 */
const parts = new Map(
  [...template.querySelectorAll("[data-part]")].map((part) => {
    const following = [];
    for (let sibling = part.nextElementSibling; sibling; sibling = sibling.nextElementSibling) {
      following.push(byClasses(sibling));
    }
    return [part.dataset.part, { part, parent: `.${CSS.escape(part.parentElement.classList[0])}`, following }];
  }),
);
for (const { part } of parts.values()) part.remove();

/** A new card from the template, without its parts. */
export function cardFromTemplate() {
  return template.cloneNode(true);
}

/**
 * A card's part `name`, shown: made if the card does not have it.
 * @returns {HTMLElement}
 */
export function showPart(row, name) {
  const shown = cardPart(row, name);
  if (shown) return shown;
  const { part, parent, following } = parts.get(name);
  const made = part.cloneNode(true);
  // Each card has the same buttons ("Edit", "Remove"…): a screen reader names the photo each one acts on.
  if (made.matches("button, a")) made.setAttribute("aria-describedby", row.querySelector(".filename").id);
  const into = row.querySelector(parent);
  const before = following.map((selector) => into.querySelector(selector)).find(Boolean) ?? null;
  into.insertBefore(made, before);
  return made;
}

/** A card's part `name`, if it has it, else null. */
export function cardPart(row, name) {
  return row.querySelector(`[data-part="${name}"]`);
}

/** A card's part `name` shown if `shown`, else taken out; the part when shown, else null. */
export function togglePart(row, name, shown) {
  if (shown) return showPart(row, name);
  cardPart(row, name)?.remove();
  return null;
}
