/**
 * Where the keyboard's focus is. A focused button disabled while its request is out, or removed with its row, lets go
 * of the focus: it falls to the page, and a keyboard user is back at its top unless something takes it back.
 */

/** Whether the page holds no focus (it fell to the body). */
export const focusLost = () => document.activeElement === document.body || document.activeElement === null;

/** Where a card's focus goes when the control that had it is gone: its first link shown (Download, Edit). */
export const cardsFirstLink = (card) => card?.querySelector(".item-links > :not([hidden])");
