// What every part of the page builds with: elements, safe Markdown, forms.
import { ApiError } from "./api.js";
import DOMPurify from "./vendor/purify.es.js";
import { marked } from "./vendor/marked.esm.js";

export const $ = (selector) => document.querySelector(selector);

// Markdown from users and from the AI is sanitised before it becomes HTML,
// so <script> or <img onerror> in it does nothing.
export function markdown(text) {
  const box = document.createElement("div");
  box.className = "markdown";
  box.innerHTML = DOMPurify.sanitize(marked.parse(text || ""));
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

// Runs a form's request with a busy button and its error shown in the form.
export async function submitting(form, action) {
  const button = form.querySelector("button[type=submit]");
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
