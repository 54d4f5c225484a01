// What every part of the page builds with: elements, safe Markdown, forms.
import { ApiError } from "./api.js";
import DOMPurify from "./vendor/purify.es.js";
import { marked } from "./vendor/marked.esm.js";

export const $ = (selector) => document.querySelector(selector);

// Markdown from users and from the AI is sanitised before it becomes HTML:
// nothing in it runs (<script>, <img onerror>), nothing restyles or overlays
// the page or asks for a password (<style>, style=, forms and their
// controls), and nothing is fetched from elsewhere (a remote image is a
// beacon): images come from data: or this origin only. The page's
// Content-Security-Policy says the same again.
const POLICY = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "option", "iframe"],
  FORBID_ATTR: ["style", "srcset", "background"],
};
const FETCHED = ["src", "poster"];

function fromHere(url) {
  try {
    const parsed = new URL(url, window.location.href);
    return parsed.protocol === "data:" || parsed.origin === window.location.origin;
  } catch {
    return false;
  }
}

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  for (const name of FETCHED) {
    if (node.hasAttribute?.(name) && !fromHere(node.getAttribute(name))) node.removeAttribute(name);
  }
});

export function markdown(text) {
  const box = document.createElement("div");
  box.className = "markdown";
  box.innerHTML = DOMPurify.sanitize(marked.parse(text || ""), POLICY);
  return box;
}

// The text so far, rendered as safely as the final result.
export function streamingBox(text) {
  const box = markdown(text);
  box.classList.add("streaming");
  return box;
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

// Runs a form's request with a busy button (the one pressed, or its first)
// and its error shown in the form.
export async function submitting(form, action, pressed) {
  const button = pressed || form.querySelector("button[type=submit]");
  const error = form.querySelector(".error");
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "Working…";
  error.textContent = "";
  try {
    await action(Object.fromEntries(new FormData(form)));
  } catch (failure) {
    error.textContent = failure instanceof ApiError ? failure.message : String(failure);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}
